"""docs/importers.md: every example runs as written, on sources the real tools wrote.

The shell blocks' ``expm`` lines run in order (the ``pip install`` line is the only
other one), the Python block as it stands, in a folder holding what the examples name:
``mlruns/`` and ``mlflow.db`` written by MLflow, ``runs/`` by torch and tensorboardX,
``wandb/`` by wandb. The JSON block's keys are those an import writes.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from experiment_manager import ExperimentManager
from experiment_manager.cli import main
from tests._import_sources import require, write_source

DOC = Path(__file__).resolve().parent.parent / "docs" / "importers.md"
BLOCKS: list[tuple[str, str]] = re.findall(
    r"```(\w+)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S
)


def block(kind: str, containing: str) -> str:
    [found] = [text for k, text in BLOCKS if k == kind and containing in text]
    return found


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with mlruns/, mlflow.db, runs/ and wandb/, as the examples name them."""
    require("mlflow", "tensorboardX", "torch", "tensorboard", "wandb")
    root = tmp_path_factory.mktemp("docs-sources")
    work = root / "work"
    write_source(
        "mlflow_writer.py",
        (work / "mlruns").as_uri(),
        root / "artifacts-file",
        root / "file.json",
        env={"MLFLOW_ALLOW_FILE_STORE": "true"},
    )
    write_source(
        "mlflow_writer.py",
        f"sqlite:///{work / 'mlflow.db'}",
        root / "artifacts-db",
        root / "db.json",
    )
    write_source("tensorboard_writer.py", work / "runs", root / "tb.json")
    write_source("wandb_writer.py", work, root / "wandb.json")  # makes work/wandb/
    return work


@pytest.fixture
def workdir(sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    shutil.copytree(sources, work, symlinks=True)
    monkeypatch.chdir(work)
    monkeypatch.delenv("EXPM_LOG_DIR", raising=False)
    return work


def run_shell(text: str) -> list[str]:
    """Run a block's ``expm`` lines in order; return each one's stdout."""
    outputs = []
    for line in text.splitlines():
        command = line.split("  #")[0].strip()
        if not command or command.startswith("pip install"):
            continue
        words = shlex.split(command)
        assert words[0] == "expm", line
        result = CliRunner().invoke(main, words[1:], catch_exceptions=False)
        assert result.exit_code == 0, (line, result.output)
        outputs.append(result.stdout)
    return outputs


def test_every_block_is_covered() -> None:
    assert [kind for kind, _ in BLOCKS] == ["bash", "python", "json", "bash"]


def test_the_command_examples(workdir: Path) -> None:
    outputs = run_shell(block("bash", "pip install"))
    assert len(outputs) == 7
    logs = ExperimentManager(workdir / "experiments" / "logs").store
    assert logs.experiment_ids() == [
        "Vision-baseline",
        "baseline",
        "other-exp-2",
        "runs",
        "vision-sweep",
    ]
    # The file store's and the database's runs are both there (their run ids differ).
    assert logs.latest_version("Vision-baseline") == 8
    assert "Would import 0 run(s)" in outputs[4]  # --dry-run after the import: all there
    assert json.loads(outputs[5])["ok"] is True
    assert len(json.loads(outputs[5])["imported"]) == 5
    team = ExperimentManager(workdir / "team_logs").store
    assert team.experiment_ids() == ["vision-sweep"]
    assert [v["config_name"] for v in team.read_history("vision-sweep")] == ["good", "broken"]


def test_the_python_example(workdir: Path) -> None:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block("python", "import_mlflow"), str(DOC), "exec"), {})
    assert printed.getvalue() == "5 imported, 0 already there\n"
    store = ExperimentManager(workdir / "experiments" / "logs").store
    assert store.experiment_ids() == ["Vision-baseline", "other-exp-2"]  # the dry run wrote none


def test_the_imported_from_keys(workdir: Path) -> None:
    documented = json.loads("{" + block("json", "imported_from") + "}")["imported_from"]
    run_shell("expm import mlflow mlruns/")
    [version, *_] = ExperimentManager(workdir / "experiments" / "logs").read_history(
        "Vision-baseline"
    )
    assert list(version["imported_from"]) == list(documented)
    assert version["imported_from"]["source"] == str(workdir / "mlruns")


def test_the_trash_and_gc_example(workdir: Path) -> None:
    manager = ExperimentManager(workdir / "experiments" / "logs")
    text = block("bash", "expm gc --now")
    lines = [line for line in text.splitlines() if line.strip()]
    run_shell(lines[0])
    assert manager.store.latest_version("Vision-baseline") == 4  # v1 … v4
    run_id = manager.get_version("Vision-baseline", 2)["imported_from"]["run_id"]
    run_shell(lines[1])
    assert run_shell(lines[0])[0].startswith("Imported 0 run(s)")  # the next import skips it
    run_shell(lines[2])
    assert manager.store.load_version("Vision-baseline", 2).get("purged_at")  # a tombstone
    run_shell(lines[3])
    assert manager.get_version("Vision-baseline", 5)["imported_from"]["run_id"] == run_id
