"""`python -m experiment_manager demo` trains real models and tracks them as versions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests._util import SPEC_KEYS, load_history_file, run_python

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
EPOCHS = 15  # the demo's default
RUNS = 4


def _table(stdout: str) -> tuple[list[str], list[list[str]]]:
    """Return the header and rows of the results table printed by the demo."""
    lines = stdout.splitlines()
    headers = [i for i, line in enumerate(lines) if line.split()[:1] == ["version"]]
    assert len(headers) == 1, stdout
    start = headers[0]
    header = lines[start].split()
    assert set(lines[start + 1].replace(" ", "")) == {"-"}, lines[start + 1]
    rows: list[list[str]] = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return header, rows


@pytest.mark.slow
def test_demo_runs_and_records_four_versions(tmp_path: Path) -> None:
    log_dir = tmp_path / "demo logs"  # a space in the path must not matter
    started = time.monotonic()
    result = run_python(
        ["-m", "experiment_manager", "--log-dir", str(log_dir), "demo"], cwd=tmp_path, timeout=60
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 30, f"the demo took {elapsed:.1f} s"

    document = load_history_file(log_dir, "demo_logreg")
    assert document["experiment_id"] == "demo_logreg"
    versions = document["versions"]
    assert [v["version"] for v in versions] == list(range(1, RUNS + 1))
    settings = set()
    for version in versions:
        assert set(SPEC_KEYS) <= set(version)
        assert version["config_name"] == "demo_logreg"
        settings.add(
            (
                version["hyperparameters"]["learning_rate"],
                version["hyperparameters"]["batch_size"],
            )
        )
        for name in METRICS:
            values = version["metrics"][name]
            assert len(values) == EPOCHS, name
            assert all(type(v) is float for v in values), name
        assert all(0.0 <= v <= 1.0 for v in version["metrics"]["val_accuracy"])
        # Training learns: the final accuracy beats chance and the loss went down.
        assert version["metrics"]["accuracy"][-1] > 0.6
        assert version["metrics"]["loss"][-1] < version["metrics"]["loss"][0]
        checkpoints = version["checkpoints"]
        assert len(checkpoints) >= 1
        for checkpoint in checkpoints:
            path = Path(checkpoint)
            if not path.is_absolute():
                path = tmp_path / path
            assert path.is_file(), checkpoint
            assert path.stat().st_size > 0
    assert len(settings) == RUNS  # each version is a different setting

    header, rows = _table(result.stdout)
    assert header[0] == "version"
    assert len(rows) == RUNS
    assert [row[0] for row in rows] == [str(n) for n in range(1, RUNS + 1)]
    column = {name: header.index(name) for name in ("val_accuracy", "checkpoints")}
    for row, version in zip(rows, versions, strict=True):
        assert len(row) == len(header)
        assert row[column["val_accuracy"]] == f"{version['metrics']['val_accuracy'][-1]:.4f}"
        assert row[column["checkpoints"]] == str(len(version["checkpoints"]))


def test_demo_runs_add_versions_to_an_existing_history(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    args = ["-m", "experiment_manager", "--log-dir", str(log_dir), "demo", "--epochs", "2"]
    for _ in range(2):
        result = run_python(args, cwd=tmp_path, timeout=60)
        assert result.returncode == 0, result.stderr
    versions = load_history_file(log_dir, "demo_logreg")["versions"]
    assert [v["version"] for v in versions] == list(range(1, 2 * RUNS + 1))
    assert all(len(v["metrics"]["loss"]) == 2 for v in versions)
    _, rows = _table(result.stdout)
    assert [row[0] for row in rows] == [str(n) for n in range(RUNS + 1, 2 * RUNS + 1)]


def test_a_demo_version_is_reproduced_by_its_recorded_hyperparameters(tmp_path: Path) -> None:
    from experiment_manager import ExperimentManager
    from experiment_manager._demo import run_demo

    log_dir = tmp_path / "logs"
    run_demo(log_dir, epochs=3, settings=[(0.1, 0.0, 32)])
    run_demo(log_dir, epochs=3, settings=[(0.1, 0.0, 32)])  # again: version 2, same run
    first, second = ExperimentManager(log_dir).read_history("demo_logreg")
    assert (first["version"], second["version"]) == (1, 2)
    assert first["hyperparameters"] == second["hyperparameters"]
    assert first["hyperparameters"]["shuffle_seed"] == 1
    assert first["metrics"] == second["metrics"]
