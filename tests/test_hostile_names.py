"""Hostile names, values and folders: each gives the library's typed error, naming the
path or field and saying what to do, with nothing half-written."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiment_manager import (
    ActiveRunEndedWarning,
    CorruptHistoryError,
    ExperimentIdCollisionError,
    ExperimentManager,
    InvalidArgumentError,
    InvalidExperimentIdError,
    InvalidMetricError,
    MissingCheckpointWarning,
    StorageError,
)


def test_ids_that_differ_only_by_case_are_refused_naming_the_existing_one(
    log_dir: Path,
) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    with manager.experiment("cfg", {}, experiment_id="exp"):
        pass
    for twin in ("Exp", "EXP", "eXp"):
        with pytest.raises(ExperimentIdCollisionError) as caught:
            manager.start_experiment("cfg", {}, {}, experiment_id=twin)
        assert caught.value.existing == "exp"
        assert caught.value.experiment_id == twin
        assert "use 'exp'" in str(caught.value)
        assert isinstance(caught.value, InvalidExperimentIdError)
    assert manager.active_experiment is None
    assert sorted(p.name for p in log_dir.glob("*.json")) == ["exp.json"]
    with manager.experiment("cfg", {}, experiment_id="exp"):  # the same id goes on
        pass
    assert [v["version"] for v in manager.read_history("exp")] == [1, 2]


@pytest.mark.parametrize("name", ["caf\u00e9", "cafe\u0301", "\u212bngstr\u00f6m"])
def test_ids_that_unicode_normalisation_could_merge_are_refused(log_dir: Path, name: str) -> None:
    # Ids are ASCII, so NFC and NFD spellings can never become two experiments.
    manager = ExperimentManager(log_dir, capture_environment=False)
    with pytest.raises(InvalidExperimentIdError):
        manager.start_experiment("cfg", {}, {}, experiment_id=name)
    assert not log_dir.exists() or not list(log_dir.glob("*.json"))


def test_a_history_that_is_a_symlink_says_what_to_do(log_dir: Path, tmp_path: Path) -> None:
    log_dir.mkdir()
    (tmp_path / "elsewhere.json").write_text("{}")
    (log_dir / "exp.json").symlink_to(tmp_path / "elsewhere.json")
    manager = ExperimentManager(log_dir, capture_environment=False)
    for call in (
        lambda: manager.read_history("exp"),
        lambda: manager.start_experiment("cfg", {}, {}, experiment_id="exp"),
    ):
        with pytest.raises(CorruptHistoryError) as caught:
            call()
        assert caught.value.path == log_dir / "exp.json"
        assert "symbolic link" in str(caught.value)
        assert "replace the link by the file it points to" in str(caught.value)
    assert (log_dir / "exp.json").is_symlink()


def test_a_log_dir_that_is_a_file_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "runs"
    path.write_text("not a folder")
    with pytest.raises(InvalidArgumentError, match="is a file, not a folder") as caught:
        ExperimentManager(path)
    assert caught.value.argument == "log_dir"
    assert caught.value.value == str(path)
    assert path.read_text() == "not a folder"


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A log folder this process cannot write to (immutable for root, 0555 otherwise)."""
    folder = tmp_path / "logs"
    manager = ExperimentManager(folder, capture_environment=False)
    with manager.experiment("cfg", {"lr": 0.1}, experiment_id="exp"):
        manager.log({"loss": 0.5})
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: no way to make a folder read-only")
        made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
        if made.returncode != 0:
            pytest.skip(f"this file system cannot make a folder immutable: {made.stderr!r}")
        try:
            yield folder
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)


def test_a_read_only_log_dir_is_readable_and_refuses_writes_typed(read_only_folder: Path) -> None:
    manager = ExperimentManager(read_only_folder, capture_environment=False)
    assert manager.list_experiments()[0]["versions"] == 1
    assert manager.read_history("exp")[0]["metrics"] == {"loss": [0.5]}
    for experiment_id in ("exp", "new"):
        with pytest.raises(StorageError) as caught:
            manager.start_experiment("cfg", {}, {}, experiment_id=experiment_id)
        assert str(read_only_folder) in str(caught.value.path)
        assert "read-only for this process" in str(caught.value)
        assert manager.active_experiment is None
    assert [v["version"] for v in manager.read_history("exp")] == [1]


def test_a_lone_surrogate_in_a_metric_name_is_the_same_typed_error_everywhere(
    log_dir: Path,
) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("cfg", {}, {}, experiment_id="exp")
    for call in (
        lambda: manager.log({"bad\udcff": 1.0}),
        lambda: manager.log_metric("bad\udcff", 1.0),
        lambda: manager.log_metrics({"bad\udcff": [1.0]}),
    ):
        with pytest.raises(InvalidMetricError):
            call()
    manager.end_experiment()
    assert manager.read_history("exp")[0]["metrics"] == {}


def test_an_undecodable_exception_message_propagates_and_the_version_fails(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    raised = OSError(2, "No such file", "data/\udcff.csv")
    with pytest.raises(OSError) as caught, manager.experiment("cfg", {}, experiment_id="exp"):
        raise raised
    assert caught.value is raised
    (record,) = manager.read_history("exp")
    assert record["status"] == "failed"
    assert record["error"]["type"] == "FileNotFoundError"
    assert "\\udcff" in record["error"]["message"]


def test_a_huge_hyperparameter_is_refused_before_anything_is_written(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    with pytest.raises(InvalidArgumentError, match="more than the limit of 1,048,576 bytes"):
        manager.start_experiment("cfg", {"blob": "x" * (2 << 20)}, {}, experiment_id="exp")
    with pytest.raises(InvalidArgumentError, match="invalid metadata"):
        manager.start_experiment("cfg", {}, {"notes": ["y" * 1000] * 2000}, experiment_id="exp")
    assert manager.active_experiment is None
    assert not list(log_dir.glob("*.json"))
    manager.start_experiment("cfg", {"lr": 0.1}, {}, experiment_id="exp")
    with pytest.raises(InvalidArgumentError, match="invalid hyperparameters"):
        manager.update_hyperparameters({"blob": "x" * (2 << 20)})
    manager.end_experiment()
    assert manager.read_history("exp")[0]["hyperparameters"] == {"lr": 0.1}


def test_starting_over_an_active_version_warns_once(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("cfg", {}, {}, experiment_id="a")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manager.start_experiment("cfg", {}, {}, experiment_id="b")
        manager.start_experiment("cfg", {}, {}, experiment_id="c")
    manager.end_experiment()
    ours = [w for w in caught if issubclass(w.category, ActiveRunEndedWarning)]
    assert len(ours) == 1
    assert "'a' version 1" in str(ours[0].message)
    assert ours[0].filename == __file__  # it points at the caller's line
    assert manager.read_history("a")[0]["status"] == "finished"  # the spec's rule kept


def test_a_checkpoint_that_does_not_exist_warns_once_and_doctor_reports_it(
    log_dir: Path, tmp_path: Path
) -> None:
    from experiment_manager.doctor import doctor

    manager = ExperimentManager(log_dir, capture_environment=False)
    present = tmp_path / "present.pt"
    present.write_bytes(b"weights")
    changed = tmp_path / "changed.pt"
    changed.write_bytes(b"weights")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with manager.experiment("cfg", {}, experiment_id="exp"):
            manager.add_checkpoint(present)
            manager.add_checkpoint(changed)
            manager.add_checkpoint(tmp_path / "missing.pt")
            manager.add_checkpoint(tmp_path / "missing-too.pt")
    ours = [w for w in caught if issubclass(w.category, MissingCheckpointWarning)]
    assert len(ours) == 1
    assert "missing.pt" in str(ours[0].message)
    changed.write_bytes(b"other weights, longer")
    report = doctor(log_dir)
    assert report.healthy
    assert sorted((Path(c["path"]).name, c["status"]) for c in report.checkpoints) == [
        ("changed.pt", "changed"),
        ("missing-too.pt", "missing"),
        ("missing.pt", "missing"),
    ]
