"""doctor(): fold crashed runs, delete what is safe, report the rest, never touch corrupt files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.doctor import DoctorReport, doctor
from experiment_manager.errors import InvalidArgumentError
from experiment_manager.stores import _columns
from tests._runner import Plan, Runners
from tests._util import assert_same, load_history_file, tree

POINTS = 6

#: A runner version streams POINTS points of "loss" and "acc" (see tests._runner); a line
#: "end" on its stdin ends it cleanly, SIGKILL leaves it running in the history (crashed).
RUN = Plan(POINTS, acc="tenths")


def new_manager(log_dir: Path) -> ExperimentManager:
    return ExperimentManager(log_dir, capture_environment=False)


def journal(log_dir: Path, experiment_id: str, version: int, segment: int) -> Path:
    return log_dir / ".expm" / "journals" / experiment_id / f"{version}.{segment}.jsonl"


def iso(wall_time: float) -> str:
    return datetime.fromtimestamp(wall_time, timezone.utc).isoformat(timespec="microseconds")


def streamed_losses() -> list[float]:
    return [1.0 / (i + 1) for i in range(POINTS)]


def crash(runners: Runners, log_dir: Path, experiment_id: str) -> int:
    runner = runners(log_dir, experiment_id, RUN)
    version = runner.ready()
    runner.kill()
    return version


def finished_with_leftover_journal(log_dir: Path, experiment_id: str) -> Path:
    """A version ended cleanly, whose folded journal a killed writer failed to delete."""
    manager = new_manager(log_dir)
    manager.start_experiment("cfg", {}, {}, experiment_id)
    manager.log({"loss": 0.5})
    manager.log({"loss": 0.25})
    path = journal(log_dir, experiment_id, 1, 0)
    data = path.read_bytes()
    manager.end_experiment()
    assert not path.exists()
    path.write_bytes(data)
    return path


# -- crashed versions -----------------------------------------------------------------


def test_a_crashed_version_is_folded(tmp_path: Path, runners: Runners) -> None:
    log_dir = tmp_path / "logs"
    version = crash(runners, log_dir, "crashy")
    path = journal(log_dir, "crashy", version, 0)
    raw = load_history_file(log_dir, "crashy")["versions"][0]
    assert raw["status"] == "running"
    assert "loss" not in raw["metrics"]  # the points are only in the journal
    assert path.exists()
    before = new_manager(log_dir).read_history("crashy")
    assert before[0]["status"] == "crashed"  # readers already say so

    report = doctor(log_dir)
    assert report.crashed == [{"experiment_id": "crashy", "version": version, "points": 2 * POINTS}]
    assert report.healthy
    assert report.corrupt == []
    assert report.kept == []
    assert not path.exists()
    # Plain json.load of the history now holds every point and the status.
    with (log_dir / "crashy.json").open(encoding="utf-8") as handle:
        stored = json.load(handle)["versions"][0]
    assert stored["status"] == "crashed"
    assert stored["metrics"]["loss"] == streamed_losses()
    assert stored["metrics"]["acc"] == [i / 10 for i in range(POINTS)]
    assert stored["metrics"]["static"] == [1.0, 2.0]
    assert stored["steps"]["loss"] == [10 * i for i in range(POINTS)]
    assert stored["ended_at"] == iso(max(stored["timestamps"]["loss"]))
    # Readers saw the same version before, only without an end time.
    after = new_manager(log_dir).read_history("crashy")
    assert before[0]["ended_at"] is None
    assert after[0]["ended_at"] == stored["ended_at"]
    assert_same([{**r, "ended_at": None} for r in after], before)

    again = doctor(log_dir)
    assert again.crashed == []
    assert again.removed == []
    assert again.healthy
    assert_same(new_manager(log_dir).read_history("crashy"), after)


@pytest.mark.timeout(120)
def test_a_live_run_is_never_folded(tmp_path: Path, runners: Runners) -> None:
    log_dir = tmp_path / "logs"
    runner = runners(log_dir, "live", RUN)
    path = journal(log_dir, "live", runner.ready(), 0)
    history_bytes = (log_dir / "live.json").read_bytes()
    journal_bytes = path.read_bytes()
    for dry_run in (True, False):
        report = doctor(log_dir, dry_run=dry_run)
        assert report.crashed == []
        assert report.removed == []
        assert report.kept == []
        assert (log_dir / "live.json").read_bytes() == history_bytes
        assert path.read_bytes() == journal_bytes
    assert load_history_file(log_dir, "live")["versions"][0]["status"] == "running"
    runner.end()  # the run is unharmed and ends normally
    record = new_manager(log_dir).read_history("live")[0]
    assert record["status"] == "finished"
    assert record["metrics"]["loss"] == streamed_losses()


def test_a_crashed_version_with_a_corrupt_journal_is_reported_not_folded(
    tmp_path: Path, runners: Runners
) -> None:
    log_dir = tmp_path / "logs"
    version = crash(runners, log_dir, "crashy")
    path = journal(log_dir, "crashy", version, 0)
    with path.open("ab") as handle:
        handle.write(b'{"m": not a point}\n{"m":{"loss":5.0},"s":99,"t":2.0}\n')
    journal_bytes = path.read_bytes()
    history_bytes = (log_dir / "crashy.json").read_bytes()
    for dry_run in (True, False):
        report = doctor(log_dir, dry_run=dry_run)
        assert report.crashed == []
        assert [Path(entry["path"]) for entry in report.corrupt] == [path]
        assert f"line {POINTS + 1}" in report.corrupt[0]["reason"]
        assert not report.healthy
        assert path.read_bytes() == journal_bytes
        assert (log_dir / "crashy.json").read_bytes() == history_bytes


# -- journals -------------------------------------------------------------------------


def test_a_folded_leftover_journal_is_deleted(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    leftover = finished_with_leftover_journal(log_dir, "exp")
    stored = load_history_file(log_dir, "exp")["versions"][0]
    assert stored["_journal_segment"] == 1  # the leftover is of an older segment
    history_bytes = (log_dir / "exp.json").read_bytes()
    before = new_manager(log_dir).read_history("exp")
    assert before[0]["metrics"] == {"loss": [0.5, 0.25]}

    report = doctor(log_dir)
    assert report.removed == [str(leftover)]
    assert report.crashed == []
    assert report.healthy
    assert not leftover.exists()
    assert (log_dir / "exp.json").read_bytes() == history_bytes
    assert_same(new_manager(log_dir).read_history("exp"), before)  # nothing counted twice


def test_journals_that_cannot_be_placed_are_kept_and_reported(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    manager.start_experiment("cfg", {}, {}, "exp")
    manager.end_experiment()
    point = b'{"m":{"loss":0.5},"s":0,"t":1.0}\n'
    orphan = journal(log_dir, "ghost", 1, 0)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(point)
    no_version = journal(log_dir, "exp", 9, 0)
    no_version.parent.mkdir(parents=True, exist_ok=True)
    no_version.write_bytes(point)
    ahead = journal(log_dir, "exp", 1, 5)
    ahead.write_bytes(point)
    strange = no_version.parent / "notes.txt"
    strange.write_bytes(b"hello")

    report = doctor(log_dir)
    kept = {Path(entry["path"]): entry["reason"] for entry in report.kept}
    assert set(kept) == {orphan, no_version, ahead, strange}
    assert "orphan" in kept[orphan]
    assert "no history" in kept[orphan]
    assert "no version 9" in kept[no_version]
    assert "ahead" in kept[ahead]
    assert "not a journal file name" in kept[strange]
    assert not report.healthy
    assert report.removed == []
    for path in kept:
        assert path.exists()
    assert orphan.read_bytes() == point


# -- temp files -----------------------------------------------------------------------


def test_a_stale_history_temp_file_is_removed(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    manager.start_experiment("cfg", {"lr": 0.1}, {}, "exp")
    manager.end_experiment()
    history_bytes = (log_dir / "exp.json").read_bytes()
    temp = log_dir / ".exp.json.tmp"
    temp.write_bytes(b'{"format": 1, "experiment_id": "exp", "vers')  # a killed writer's
    report = doctor(log_dir)
    assert report.removed == [str(temp)]
    assert report.healthy
    assert not temp.exists()
    assert (log_dir / "exp.json").read_bytes() == history_bytes


def test_index_temp_files_older_than_a_minute_are_removed(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    manager.start_experiment("cfg", {}, {}, "x")
    manager.end_experiment()
    folder = log_dir / ".expm" / "index"
    index_bytes = (folder / "x.json").read_bytes()
    stale = folder / ".x.json.123.abcd.tmp"
    fresh = folder / ".x.json.456.ef01.tmp"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"being written")
    old = time.time() - 120
    os.utime(stale, (old, old))
    borderline = folder / ".x.json.789.2345.tmp"
    borderline.write_bytes(b"thirty seconds old")
    recent = time.time() - 30
    os.utime(borderline, (recent, recent))

    report = doctor(log_dir)
    assert report.removed == [str(stale)]
    assert not stale.exists()
    assert fresh.read_bytes() == b"being written"
    assert borderline.exists()
    assert (folder / "x.json").read_bytes() == index_bytes
    assert report.healthy


# -- corrupt histories ----------------------------------------------------------------


def test_a_corrupt_history_is_reported_and_never_touched(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    manager.start_experiment("cfg", {}, {}, "good")
    manager.end_experiment()
    corrupt = {
        "broken": b'{"format": 1, "experiment_id": "broken", "versions": [',
        "empty": b"",
        "wrong_id": b'{"format": 1, "experiment_id": "someone_else", "versions": []}',
        "future": b'{"format": 99, "experiment_id": "future", "versions": []}',
    }
    for name, data in corrupt.items():
        (log_dir / f"{name}.json").write_bytes(data)
    # A journal beside a corrupt history is neither placed nor deleted.
    beside = journal(log_dir, "broken", 1, 0)
    beside.parent.mkdir(parents=True)
    beside.write_bytes(b'{"m":{"loss":0.5},"s":0,"t":1.0}\n')
    progress: list[tuple[int, int]] = []

    report = doctor(log_dir, progress=lambda done, total: progress.append((done, total)))
    assert report.histories == 5
    assert progress == [(i, 5) for i in range(1, 6)]
    reported = {Path(entry["path"]).name: entry["reason"] for entry in report.corrupt}
    assert set(reported) == {f"{name}.json" for name in corrupt}
    assert "empty" in reported["empty.json"]
    assert "someone_else" in reported["wrong_id.json"]
    assert "99" in reported["future.json"]
    assert not report.healthy
    for name, data in corrupt.items():
        assert (log_dir / f"{name}.json").read_bytes() == data
    assert beside.exists()
    assert report.removed == []
    assert not [n for n in os.listdir(log_dir) if n.endswith(".tmp")]


# -- dry runs -------------------------------------------------------------------------


def _everything_to_repair(log_dir: Path, runners: Runners) -> None:
    crash(runners, log_dir, "crashy")
    finished_with_leftover_journal(log_dir, "leftover")
    (log_dir / ".leftover.json.tmp").write_bytes(b"half")
    orphan = journal(log_dir, "ghost", 1, 0)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b'{"m":{"x":1},"s":0,"t":1.0}\n')
    (log_dir / "corrupt.json").write_bytes(b"not json at all")
    folder = log_dir / ".expm" / "index"
    stale = folder / ".crashy.json.1.aaaa.tmp"
    stale.write_bytes(b"old")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    (folder / ".crashy.json.2.bbbb.tmp").write_bytes(b"new")


def _report_without_mode(report: DoctorReport) -> dict[str, Any]:
    data = report.to_dict()
    data.pop("dry_run")
    return data


@pytest.mark.timeout(120)
def test_a_dry_run_changes_nothing_and_reports_what_a_real_run_does(
    tmp_path: Path, runners: Runners
) -> None:
    log_dir = tmp_path / "logs"
    _everything_to_repair(log_dir, runners)
    before = tree(log_dir)
    times_before = {p: os.stat(log_dir / p).st_mtime_ns for p in before}

    dry = doctor(log_dir, dry_run=True)
    assert tree(log_dir) == before
    assert {p: os.stat(log_dir / p).st_mtime_ns for p in before} == times_before
    assert dry.dry_run
    again = doctor(log_dir, dry_run=True)
    assert again.to_dict() == dry.to_dict()

    real = doctor(log_dir)
    assert not real.dry_run
    assert _report_without_mode(real) == _report_without_mode(dry)
    # And the real run did change the tree, as reported.
    after = tree(log_dir)
    assert after != before
    for removed in real.removed:
        assert not Path(removed).exists()
    assert real.crashed == [{"experiment_id": "crashy", "version": 1, "points": 2 * POINTS}]
    assert {Path(p).name for p in real.removed} == {
        "1.0.jsonl",
        ".leftover.json.tmp",
        ".crashy.json.1.aaaa.tmp",
    }
    assert [Path(e["path"]).name for e in real.corrupt] == ["corrupt.json"]
    assert [Path(e["path"]).parent.name for e in real.kept] == ["ghost"]
    assert after["corrupt.json"] == before["corrupt.json"]
    assert after[".expm/index/.crashy.json.2.bbbb.tmp"] == b"new"
    assert load_history_file(log_dir, "crashy")["versions"][0]["status"] == "crashed"

    settled = doctor(log_dir)  # only what needs a person is left
    assert settled.crashed == []
    assert settled.removed == []
    assert settled.corrupt == real.corrupt
    assert settled.kept == real.kept


# -- arguments ------------------------------------------------------------------------


def test_a_missing_folder_or_a_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError):
        doctor(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(InvalidArgumentError):
        doctor(tmp_path / "file", dry_run=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    report = doctor(str(empty))
    assert report.to_dict() == {
        "log_dir": str(empty),
        "dry_run": False,
        "healthy": True,
        "histories": 0,
        "corrupt": [],
        "foreign": [],
        "checkpoints": [],
        "crashed": [],
        "removed": [],
        "kept": [],
    }
    assert tree(empty) == {}


def test_columns_temp_files_older_than_a_minute_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_columns, "MIN_BYTES_PER_VERSION", 0)  # keep files for a short one
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    manager.start_experiment("cfg", {}, {}, "x")
    manager.log_metrics({"loss": [0.5]})
    manager.end_experiment()
    folder = log_dir / ".expm" / "columns" / "x"
    [columns] = folder.glob("1.*.bin")
    columns_bytes = columns.read_bytes()
    stale, fresh = folder / f".{columns.name}.1.ab.tmp", folder / f".{columns.name}.2.cd.tmp"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"being written")
    old = time.time() - 120
    os.utime(stale, (old, old))

    assert doctor(log_dir, dry_run=True).removed == [str(stale)]
    assert stale.exists()
    report = doctor(log_dir)
    assert report.removed == [str(stale)]
    assert not stale.exists()
    assert fresh.read_bytes() == b"being written"
    assert columns.read_bytes() == columns_bytes


def test_expm_doctor_names_a_missing_and_a_changed_checkpoint(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    kept = tmp_path / "kept.pt"
    gone = tmp_path / "gone.pt"
    edited = tmp_path / "edited.pt"
    for path in (kept, gone, edited):
        path.write_bytes(b"weights-1")
    with manager.experiment("cfg", {}, experiment_id="exp"):
        for step, path in enumerate((kept, gone, edited)):
            manager.add_checkpoint(path, step=step, sha256=True)
    recorded = manager.read_history("exp")[0]["checkpoint_details"]
    assert all(detail["sha256"] for detail in recorded)  # hashed before the run ended
    assert _doctor_cli(log_dir).stdout.rstrip().splitlines()[-1] == "Healthy."
    gone.unlink()
    edited.write_bytes(b"weights-2")  # same size, new bytes (and a new mtime)
    os.utime(edited, (time.time() + 5, time.time() + 5))
    done = _doctor_cli(log_dir)
    # Checkpoints are the user's files, outside the log folder: reported, and the exit
    # code stays the documented 0 (only corrupt or unplaceable files make it 3).
    assert done.returncode == 0, done.stderr
    assert "Checkpoints missing or changed since they were added:" in done.stdout
    assert f"exp v1: {gone} (missing)" in done.stdout
    assert f"exp v1: {edited} (changed)" in done.stdout
    assert str(kept) not in done.stdout
    verdict = done.stdout.rstrip().splitlines()[-1]
    assert verdict == "Histories healthy; 2 checkpoint(s) missing or changed."
    assert "Healthy." not in done.stdout
    assert "Traceback" not in done.stderr
    as_json = _doctor_cli(log_dir, "--json")
    assert as_json.returncode == 0, as_json.stderr
    body = json.loads(as_json.stdout)
    assert body["healthy"] is True  # the histories are; the checkpoints are listed
    found = body["checkpoints"]
    assert sorted((Path(item["path"]).name, item["status"]) for item in found) == [
        ("edited.pt", "changed"),
        ("gone.pt", "missing"),
    ]
    assert {(item["experiment_id"], item["version"]) for item in found} == {("exp", 1)}


def _doctor_cli(log_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``expm --log-dir LOG_DIR doctor ARGS`` as a real process, importing this tree."""
    source = str(Path(__file__).resolve().parent.parent / "src")
    pythonpath = os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, "-m", "experiment_manager", "--log-dir", str(log_dir), "doctor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=log_dir.parent,
        env={**os.environ, "PYTHONPATH": pythonpath},
        check=False,
    )
