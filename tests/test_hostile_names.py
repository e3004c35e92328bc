"""Hostile names, values and folders: each gives the library's typed error, naming the
path or field and saying what to do, with nothing half-written."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize(
    ("hyperparameters", "metadata", "named"),
    [
        ({"weights": "x" * (2 << 20), "lr": 0.1}, {}, "hyperparameters['weights']"),
        (
            {"model": {"depth": 3, "weights": [0.5] * 400_000}},
            {},
            "hyperparameters['model']['weights']",
        ),
        ({"layers": [1, "x" * (2 << 20)]}, {}, "hyperparameters['layers'][1]"),
        ({}, {"blob": "y" * (2 << 20), "owner": "me"}, "metadata['blob']"),
        ({}, {"notes": ["y" * 1000] * 2000}, "metadata['notes']"),  # no one note is too big
        ({"a": "x" * 600_000, "b": "y" * 700_000}, {}, "hyperparameters['b']"),  # the biggest
        # A huge key is named by its start only: the error stays one readable line.
        ({"k" * (2 << 20): 1}, {}, "hyperparameters['" + "k" * 76 + "...]"),
    ],
)
def test_a_value_over_the_size_limit_is_named_by_field_and_key(
    log_dir: Path, hyperparameters: dict[str, Any], metadata: dict[str, Any], named: str
) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    with pytest.raises(InvalidArgumentError) as caught:
        manager.start_experiment("cfg", hyperparameters, metadata, experiment_id="exp")
    assert caught.value.argument == named
    assert str(caught.value).startswith(f"invalid {named} '")
    assert "more than the limit of 1,048,576 bytes" in str(caught.value)
    assert not list(log_dir.glob("*.json"))
    if hyperparameters:  # update_hyperparameters names the key the same way
        manager.start_experiment("cfg", {}, {}, experiment_id="exp")
        with pytest.raises(InvalidArgumentError) as again:
            manager.update_hyperparameters(hyperparameters)
        assert again.value.argument == named
        manager.end_experiment()
        assert manager.read_history("exp")[0]["hyperparameters"] == {}


def test_a_long_exception_message_is_stored_bounded_and_propagates_unchanged(
    log_dir: Path,
) -> None:
    from experiment_manager._serialize import MAX_ERROR_CHARS

    manager = ExperimentManager(log_dir, capture_environment=False)
    message = "HEAD-" + "x" * 1_000_000 + "\udcff-TAIL"
    raised = ValueError(message)
    with pytest.raises(ValueError) as caught, manager.experiment("cfg", {}, experiment_id="exp"):
        raise raised
    assert caught.value is raised
    assert str(caught.value) == message
    (record,) = manager.read_history("exp")
    assert record["status"] == "failed"
    assert record["error"]["type"] == "ValueError"
    stored = record["error"]["message"]
    assert len(stored) == MAX_ERROR_CHARS
    assert stored.startswith("HEAD-xxx")
    assert stored.endswith("xxx\\udcff-TAIL")  # escaped, as a short message is
    assert "characters cut ...]" in stored
    escaped = len(message) + len("\\udcff") - 1
    assert f" of {escaped:,} characters cut ...] " in stored
    # A long type name is kept whole; end_experiment with a text is bounded too.
    long_type = type("E" + "r" * 300, (Exception,), {})
    manager.start_experiment("cfg", {}, {}, experiment_id="exp")
    manager.end_experiment("failed", long_type("boom"))
    manager.start_experiment("cfg", {}, {}, experiment_id="exp")
    manager.end_experiment("failed", "y" * 20_000)
    second, third = manager.read_history("exp")[1:]
    assert second["error"] == {"type": "E" + "r" * 300, "message": "boom"}
    assert len(third["error"]["message"]) == MAX_ERROR_CHARS


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


# Two of these start at the same instant, one starting exp<i>, the other EXP<i>.
_TWIN_STARTER = """\
import json
import sys
import time

from experiment_manager import ExperimentIdCollisionError, ExperimentManager

log_dir, spelling, start, attempts = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
manager = ExperimentManager(log_dir, capture_environment=False)
results = []
for attempt in range(attempts):
    experiment_id = f"{spelling}{attempt}"
    while time.time() < start + attempt * 0.25:
        pass  # a busy wait: both processes go within microseconds of each other
    try:
        with manager.experiment("cfg", {}, experiment_id=experiment_id):
            pass
    except ExperimentIdCollisionError as error:
        results.append(error.existing)
    else:
        results.append(None)
print(json.dumps(results))
"""


def _start_twins_together(location: str, tmp_path: Path, attempts: int) -> list[list[str | None]]:
    import json
    import sys
    import time

    from tests._util import write_script

    script = write_script(tmp_path / "scripts", "twins.py", _TWIN_STARTER)
    start = time.time() + 3.0  # after both have imported the library
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), location, spelling, repr(start), str(attempts)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for spelling in ("exp", "EXP")
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    return results


@pytest.mark.parametrize("backend", ["folder", "postgres"])
def test_two_processes_starting_case_twins_at_once_one_is_refused(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    location = str(tmp_path / "logs")
    if backend == "postgres":
        location = request.getfixturevalue("postgres_uri")
    attempts = 8
    lower, upper = _start_twins_together(location, tmp_path, attempts)
    ids = ExperimentManager(location, capture_environment=False).store.experiment_ids()
    for attempt in range(attempts):
        first, second = lower[attempt], upper[attempt]
        # Exactly one of the two started; the other was refused naming it.
        assert (first is None) != (second is None), (attempt, first, second)
        winner = f"exp{attempt}" if first is None else f"EXP{attempt}"
        assert (first or second) == winner
        assert [i for i in ids if i.lower() == f"exp{attempt}"] == [winner]


def _refs(*experiments: str) -> list[Any]:
    """Runs of another tool, one per experiment name, each with one point."""
    from experiment_manager.importers._common import RunData, RunRef, Series

    refs = []
    for number, experiment in enumerate(experiments):
        run_id = f"run{number}"

        def load(run_id: str = run_id, experiment: str = experiment) -> RunData:
            run = RunData(
                run_id, f"/src/{run_id}", experiment, run_id, 1.7e9, 1.7e9 + 1, "finished"
            )
            run.metrics["loss"] = Series([0.5], [0], [1.7e9])
            return run

        refs.append(RunRef(run_id, f"/src/{run_id}", experiment, 1.7e9 + number, load))
    return refs


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_import_reports_runs_bound_for_a_case_twin_and_imports_the_rest(
    log_dir: Path, dry_run: bool
) -> None:
    from experiment_manager.importers._common import run_import

    manager = ExperimentManager(log_dir, capture_environment=False)
    with manager.experiment("cfg", {}, experiment_id="cafe"):
        pass
    # NFC and NFD spellings slug to one id ("Cafe"), the twin of "cafe"; "Other" and
    # "other" are twins made by the import itself: the first one made wins.
    refs = _refs("Caf\u00e9", "Cafe\u0301", "Other", "other", "cafe")
    report = run_import(
        "mlflow",
        Path("/src"),
        refs,
        [],
        manager.store,
        experiment_id=None,
        dry_run=dry_run,
        progress=None,
    )
    imported = {(item["run_id"], item["experiment_id"]) for item in report.imported}
    assert imported == {("run2", "Other"), ("run4", "cafe")}
    failed = {item["run_id"]: item["reason"] for item in report.failed}
    assert sorted(failed) == ["run0", "run1", "run3"]
    assert "invalid experiment id 'Cafe': experiment 'cafe' exists" in failed["run0"]
    assert "experiment 'cafe' exists" in failed["run1"]
    assert "invalid experiment id 'other': experiment 'Other' exists" in failed["run3"]
    assert not report.ok
    expected = ["cafe"] if dry_run else ["Other", "cafe"]
    assert manager.store.experiment_ids() == expected


def test_an_import_into_an_explicit_case_twin_is_refused_before_reading(
    log_dir: Path, tmp_path: Path
) -> None:
    from experiment_manager.importers import import_tensorboard

    manager = ExperimentManager(log_dir, capture_environment=False)
    with manager.experiment("cfg", {}, experiment_id="exp"):
        pass
    (tmp_path / "tb").mkdir()
    for dry_run in (False, True):
        with pytest.raises(ExperimentIdCollisionError) as caught:
            import_tensorboard(tmp_path / "tb", log_dir, experiment_id="EXP", dry_run=dry_run)
        assert caught.value.existing == "exp"
    assert manager.store.experiment_ids() == ["exp"]


def test_an_import_whose_id_a_twin_took_meanwhile_reports_its_runs(log_dir: Path) -> None:
    from experiment_manager.importers._common import run_import
    from experiment_manager.stores.files import FileStore

    store = FileStore(log_dir)
    other = FileStore(log_dir)  # another process, as far as the store can tell

    def progress(done: int, total: int) -> None:
        if done == 1:  # after the check, before the runs are stored
            other.create_version("EXP", {"status": "finished"})

    report = run_import(
        "mlflow",
        Path("/src"),
        _refs("exp", "exp"),
        [],
        store,
        experiment_id=None,
        dry_run=False,
        progress=progress,
    )
    assert report.imported == []
    assert [item["run_id"] for item in report.failed] == ["run0", "run1"]
    assert all("experiment 'EXP' exists" in item["reason"] for item in report.failed)
    assert store.experiment_ids() == ["EXP"]
