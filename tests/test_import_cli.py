"""``expm import``: the command over the importers (in-process and as a real process)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from experiment_manager import ExperimentManager
from experiment_manager.cli import main
from tests._import_sources import require, write_source


@pytest.fixture(scope="module")
def mlruns(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("mlflow")
    root = tmp_path_factory.mktemp("cli-mlflow")
    write_source(
        "mlflow_writer.py",
        (root / "mlruns").as_uri(),
        root / "artifacts",
        root / "expected.json",
        env={"MLFLOW_ALLOW_FILE_STORE": "true"},
    )
    return root / "mlruns"


def expm(*args: str | Path) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_import_json_then_again(mlruns: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    result = expm("--log-dir", logs, "import", "mlflow", mlruns, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert len(report["imported"]) == 5
    assert ExperimentManager(logs).store.experiment_ids() == ["Vision-baseline", "other-exp-2"]
    again = expm("--log-dir", logs, "import", "mlflow", mlruns)
    assert again.exit_code == 0
    assert "Imported 0 run(s)" in again.stdout
    assert "5 already imported" in again.stdout


def test_dry_run_and_experiment_id(mlruns: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    result = expm(
        "--log-dir", logs, "import", "mlflow", mlruns, "--experiment-id", "mine", "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert "Would import 5 run(s)" in result.stdout
    assert "mine v1  other-run" in result.stdout  # start-time order across experiments
    assert not logs.exists()
    bad = expm("--log-dir", logs, "import", "mlflow", mlruns, "--experiment-id", "../x")
    assert bad.exit_code == 1
    assert "invalid experiment id" in bad.stderr


def test_damaged_run_exits_3_and_names_it(mlruns: Path, tmp_path: Path) -> None:
    source = tmp_path / "mlruns"
    shutil.copytree(mlruns, source)
    run_dir = next(  # a live run (a deleted one is not imported anyway)
        p.parent
        for p in sorted(source.glob("*/*/meta.yaml"))
        if "run_id:" in p.read_text() and "lifecycle_stage: active" in p.read_text()
    )
    (run_dir / "meta.yaml").write_text("{: nope")
    result = expm("--log-dir", tmp_path / "logs", "import", "mlflow", source)
    assert result.exit_code == 3
    assert str(run_dir) in result.stdout
    assert "Imported 4 run(s)" in result.stdout


def test_bad_source_is_a_usage_error(tmp_path: Path) -> None:
    missing = expm("--log-dir", tmp_path, "import", "mlflow", tmp_path / "nothing")
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    other = expm("--log-dir", tmp_path, "import", "neptune", tmp_path)
    assert other.exit_code == 2
    junk = tmp_path / "file.txt"
    junk.write_text("x")
    refused = expm("--log-dir", tmp_path / "logs", "import", "mlflow", junk)
    assert refused.exit_code == 1
    assert "neither an mlruns/ folder nor an MLflow SQLite database" in refused.stderr


def test_progress_goes_to_stderr_in_a_real_process(mlruns: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiment_manager",
            "--log-dir",
            str(tmp_path / "logs"),
            "import",
            "mlflow",
            str(mlruns),
            "--progress",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Importing mlflow runs: 5/5" in result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_runs_bound_for_a_case_twin_are_reported_and_the_rest_imported(
    mlruns: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    with ExperimentManager(logs, capture_environment=False).experiment(
        "cfg", {}, experiment_id="vision-baseline"
    ):
        pass
    result = expm("--log-dir", logs, "import", "mlflow", mlruns, "--json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert {item["experiment_id"] for item in report["imported"]} == {"other-exp-2"}
    assert report["failed"]
    for item in report["failed"]:
        assert "invalid experiment id 'Vision-baseline'" in item["reason"]
        assert "use 'vision-baseline'" in item["reason"]
    assert len(report["imported"]) + len(report["failed"]) == 5
    assert ExperimentManager(logs).store.experiment_ids() == ["other-exp-2", "vision-baseline"]
    explicit = expm("--log-dir", logs, "import", "mlflow", mlruns, "--experiment-id", "OTHER-exp-2")
    assert explicit.exit_code == 1
    assert "experiment 'other-exp-2' exists" in explicit.stderr
    assert len(ExperimentManager(logs).read_history("other-exp-2")) == len(report["imported"])
