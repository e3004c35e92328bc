"""Comparing versions across experiments: ``compare_versions`` and ``expm diff A@1 B@2``."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from experiment_manager import ExperimentManager
from experiment_manager.cli import main
from experiment_manager.errors import ExperimentNotFoundError, InvalidArgumentError
from tests._util import run_python, write_script

# Each version started by its own process, so their pids and command lines differ.
START = """\
import sys
from experiment_manager import ExperimentManager

log_dir, experiment_id, lr = sys.argv[1], sys.argv[2], float(sys.argv[3])
manager = ExperimentManager(log_dir)
with manager.experiment("cfg-" + experiment_id, {"lr": lr, "bs": 32}, {}, experiment_id):
    manager.log({"loss": lr}, step=0)
    manager.log({"loss": lr / 2}, step=1)
"""


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compare")
    script = write_script(root, "start.py", START)
    for experiment_id, lr in (("mlp", 0.1), ("mlp", 0.2), ("mlp", 0.3), ("sgd", 0.5)):
        done = run_python([str(script), str(root / "logs"), experiment_id, str(lr)], root)
        assert done.returncode == 0, done.stderr
    ExperimentManager(root / "logs").set_name("sgd", 1, "plain-sgd")
    return root / "logs"


def run(logs: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--log-dir", str(logs), *args])
    return result.exit_code, result.stdout, result.stderr


def test_versions_of_two_experiments_are_compared(logs: Path) -> None:
    manager = ExperimentManager(logs)
    found = manager.compare_versions([("mlp", 1), ("sgd", 1)])
    assert found["refs"] == ["mlp@1", "sgd@1"]
    assert found["hyperparameters"] == {"lr": [0.1, 0.5]}
    assert found["run"]["config_name"] == ["cfg-mlp", "cfg-sgd"]
    assert found["run"]["name"] == ["cfg-mlp", "plain-sgd"]
    assert found["run"]["status"] == ["finished", "finished"]
    assert found["metrics"]["sgd@1"]["loss"]["min"] == 0.25
    # pid and argv always differ between two processes: hidden, and named.
    assert "pid" not in found["environment"]
    assert "argv" not in found["environment"]
    assert set(found["hidden"]) == {"environment.pid", "environment.argv"}
    everything = manager.compare_versions([("mlp", 1), ("sgd", 1)], all_fields=True)
    assert "pid" in everything["environment"]
    assert everything["hidden"] == []
    with pytest.raises(ExperimentNotFoundError):
        manager.compare_versions([("mlp", 1), ("sgd", 9)])
    with pytest.raises(InvalidArgumentError):
        manager.compare_versions([("mlp", 1), ("mlp", 1)])
    with pytest.raises(InvalidArgumentError):
        manager.compare_versions([("mlp", 1)])


def test_expm_diff_across_experiments(logs: Path) -> None:
    code, out, err = run(logs, "diff", "mlp@1", "sgd@1")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["HYPERPARAMETERS", "mlp@1", "sgd@1"]
    assert lines[1].split() == ["lr", "0.1", "0.5"]
    assert "environment.pid, environment.argv also differ" in out
    run_rows = out.split("RUN")[1].splitlines()
    assert run_rows[0].split() == ["mlp@1", "sgd@1"]
    assert run_rows[1].split() == ["config_name", "cfg-mlp", "cfg-sgd"]
    assert run_rows[2].split() == ["name", "cfg-mlp", "plain-sgd"]
    assert run_rows[3].split() == ["status", "finished", "finished"]
    assert "pid" in run(logs, "diff", "mlp@1", "sgd@1", "--all-fields")[1]
    # Mixed: an id, its versions as a range, and another experiment's version.
    code, out, _ = run(logs, "diff", "mlp", "1-2", "sgd@1")
    assert out.splitlines()[0].split() == ["HYPERPARAMETERS", "mlp@1", "mlp@2", "sgd@1"]
    body = json.loads(run(logs, "diff", "mlp@2", "sgd@1", "--json")[1])
    assert body["refs"] == ["mlp@2", "sgd@1"]
    rows = list(csv.DictReader(io.StringIO(run(logs, "diff", "mlp@2", "sgd@1", "--csv")[1])))
    assert {"section": "run", "key": "name", "mlp@2": "cfg-mlp", "sgd@1": "plain-sgd"} in rows


def test_expm_diff_of_one_experiment_hides_pid_and_takes_ranges(logs: Path) -> None:
    code, out, _ = run(logs, "diff", "mlp", "1-3")
    assert code == 0
    assert out.splitlines()[0].split() == ["HYPERPARAMETERS", "v1", "v2", "v3"]
    assert "pid  " not in out
    assert "environment.pid" in out  # named as hidden
    body = json.loads(run(logs, "diff", "mlp", "1,3", "--json")[1])
    assert body == json.loads(
        json.dumps(ExperimentManager(logs).compare("mlp", [1, 3]), default=str)
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["mlp@1"], 2, "at least two"),
        (["mlp@1", "mlp", "1"], 2, "twice"),
        (["mlp@1", "sgd@4"], 1, "version 4"),
        (["mlp", "1", "nope@1"], 1, "nope"),
        (["mlp", "1-999999"], 2, ""),
    ],
)
def test_expm_diff_errors(logs: Path, args: list[str], code: int, message: str) -> None:
    got, _, err = run(logs, "diff", *args)
    assert got == code, err
    assert message in err


def test_the_experiment_diff_api_hides_pid_and_argv_unless_asked(logs: Path) -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*httpx.*")
    from starlette.testclient import TestClient

    from experiment_manager.web import create_app

    client = TestClient(create_app(logs, allowed_hosts=["testserver"]))
    shown = client.get("/api/experiments/mlp/compare?versions=1-3").json()
    assert shown["versions"] == [1, 2, 3]
    assert shown["hyperparameters"] == {"lr": [0.1, 0.2, 0.3]}
    assert "pid" not in shown["environment"]
    assert "argv" not in shown["environment"]
    assert shown["hidden"] == ["environment.pid", "environment.argv"]
    everything = client.get("/api/experiments/mlp/compare?versions=1-3&all_fields=1").json()
    assert len(set(everything["environment"]["pid"])) == 3  # three processes
    assert len(everything["environment"]["argv"]) == 3
    assert everything["hidden"] == []
    # The same as the library's own comparison, with what it hides named.
    library = ExperimentManager(logs).compare("mlp", [1, 2, 3])
    assert everything["environment"] == json.loads(json.dumps(library["environment"]))


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four versions of "exp" with lr 0.1 .. 0.4."""
    log_dir = tmp_path_factory.mktemp("ranges") / "logs"
    manager = ExperimentManager(log_dir, capture_environment=False)
    for index in range(4):
        with manager.experiment("cfg", {"lr": (index + 1) / 10}, experiment_id="exp"):
            manager.log({"loss": 1 / (index + 1)}, step=0)
    return log_dir


def expm(log_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m experiment_manager --log-dir LOG_DIR ARGS`` as a real process (this tree's)."""
    source = str(Path(__file__).resolve().parent.parent / "src")
    pythonpath = os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, "-m", "experiment_manager", "--log-dir", str(log_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=log_dir,
        env={**os.environ, "PYTHONPATH": pythonpath},
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "columns", "rates"),
    [
        (["exp", "1-3"], ["v1", "v2", "v3"], ["0.1", "0.2", "0.3"]),
        (["exp@1-2,4"], ["v1", "v2", "v4"], ["0.1", "0.2", "0.4"]),
        (["exp", "2,4-4", "1"], ["v2", "v4", "v1"], ["0.2", "0.4", "0.1"]),
    ],
)
def test_expm_diff_reads_version_ranges_in_a_subprocess(
    four: Path, args: list[str], columns: list[str], rates: list[str]
) -> None:
    done = expm(four, "diff", *args)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["HYPERPARAMETERS", *columns]
    assert lines[1].split() == ["lr", *rates]
    versions = [int(column[1:]) for column in columns]
    body = json.loads(expm(four, "diff", *args, "--json").stdout)
    assert body == json.loads(
        json.dumps(ExperimentManager(four).compare("exp", versions), default=str)
    )


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        # A malformed range is a usage error (exit 2) naming it and what is wrong.
        (["exp", "3-1"], 2, ["'3-1'", "the range runs backwards"]),
        (["exp@0-2"], 2, ["'0-2'", "versions start at 1"]),
        (["exp", "1-200000"], 2, ["'1-200000'", "at most 100,000 versions"]),
        # A well-formed range naming a version that does not exist: not found (exit 1).
        (["exp", "3-6"], 1, ["error: no experiment 'exp' version 5"]),
        (["exp@2-9"], 1, ["error: no experiment 'exp' version 5"]),
    ],
)
def test_expm_diff_refuses_bad_ranges_with_the_documented_exit_code(
    four: Path, args: list[str], code: int, words: list[str]
) -> None:
    done = expm(four, "diff", *args)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stdout == ""
    for word in words:
        assert word in done.stderr
    assert "Traceback" not in done.stderr
