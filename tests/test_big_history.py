"""Big histories: every write costs one version, the history document is rewritten lazily.

A history of at least ``DIRECT_BYTES`` keeps each write in a version file until it is
folded into the document. These tests make every history "big" (``DIRECT_BYTES = 0``)
so the lazy path runs on small data, and check the promises: every returned call is
visible at once to every reader in any process, a kill -9 loses none of them, and once
the last version has ended (and its process exited) ``json.load`` of the history holds
everything.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.doctor import doctor
from experiment_manager.errors import ExperimentNotFoundError
from experiment_manager.stores import _atomic, files
from tests._util import assert_same, write_script


@pytest.fixture
def lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every history counts as big, and nothing is folded by time alone during a test."""
    monkeypatch.setattr(files, "DIRECT_BYTES", 0)
    monkeypatch.setattr(files, "REFRESH_SECONDS", 3600.0)


def _versions_folder(log_dir: Path, experiment_id: str) -> Path:
    return log_dir / ".expm" / "versions" / experiment_id


def _fill(manager: ExperimentManager, count: int) -> None:
    for number in range(count):
        manager.start_experiment("exp", {"n": number}, {}, experiment_id="exp")
        manager.log_metrics({"loss": [1.0 / (number + 1)]})
        manager.log({"acc": number / 10}, step=number)
        manager.add_checkpoint(f"ckpt-{number}.pt", step=number)
        manager.end_experiment()


def test_writes_go_to_version_files_and_readers_see_them(log_dir: Path, lazy: None) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    _fill(manager, 3)
    assert not (log_dir / "exp.json").exists()  # nothing folded yet
    assert sorted(p.name for p in _versions_folder(log_dir, "exp").iterdir()) == [
        "1.4.json",  # start, log_metrics, add_checkpoint, end (log() goes to the journal)
        "2.4.json",
        "3.4.json",
    ]
    other = ExperimentManager(log_dir, capture_environment=False)  # a second reader
    history = other.read_history("exp")
    assert [h["version"] for h in history] == [1, 2, 3]
    assert [h["metrics"] for h in history] == [
        {"loss": [1.0], "acc": [0.0]},
        {"loss": [0.5], "acc": [0.1]},
        {"loss": [1 / 3], "acc": [0.2]},
    ]
    assert [h["checkpoints"] for h in history] == [["ckpt-0.pt"], ["ckpt-1.pt"], ["ckpt-2.pt"]]
    assert all("_revision" not in h for h in history)
    assert other.list_experiments()[0]["experiment_id"] == "exp"
    assert [s["metric_summaries"]["loss"]["last"] for s in other.list_versions("exp")] == [
        1.0,
        0.5,
        1 / 3,
    ]
    assert other.version_table("exp").version == [1, 2, 3]
    assert_same(other.get_version("exp", 2), history[1])
    # Folding changes nothing a reader sees, and empties the version files.
    manager.store.flush("exp")
    assert list(_versions_folder(log_dir, "exp").iterdir()) == []
    assert_same(other.read_history("exp"), history)
    document = json.loads((log_dir / "exp.json").read_bytes())
    assert document["format"] == 2
    assert [v["version"] for v in document["versions"]] == [1, 2, 3]


def test_a_write_to_a_big_history_does_not_rewrite_it(log_dir: Path, lazy: None) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    _fill(manager, 2)
    manager.store.flush("exp")
    before = os.stat(log_dir / "exp.json")
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    manager.log_metrics({"loss": [0.25]})
    manager.add_checkpoint("late.pt")
    after = os.stat(log_dir / "exp.json")
    assert _atomic.file_identity(after) == _atomic.file_identity(before)
    assert manager.get_version("exp", 3)["metrics"] == {"loss": [0.25]}
    assert manager.read_history("exp")[-1]["checkpoints"] == ["late.pt"]


def test_one_version_is_read_without_reading_the_history(
    log_dir: Path, lazy: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    _fill(manager, 5)
    manager.store.flush("exp")
    expected = manager.read_history("exp")[2]
    reads: list[int] = []
    original = files._read_fd

    def counted(fd: int) -> bytes:
        reads.append(fd)
        return original(fd)

    monkeypatch.setattr(files, "_read_fd", counted)
    assert_same(manager.get_version("exp", 3), expected)
    assert reads == []  # only the version's own bytes were read
    with pytest.raises(ExperimentNotFoundError):
        manager.get_version("exp", 9)


def test_a_lost_layout_or_a_hand_edit_is_read_correctly(log_dir: Path, lazy: None) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    _fill(manager, 3)
    manager.store.flush("exp")
    layout = log_dir / ".expm" / "layout" / "exp.bin"
    data = bytearray(layout.read_bytes())
    data[-20] ^= 0xFF  # a damaged record: fails its CRC, so it is not used
    layout.write_bytes(bytes(data))
    assert manager.get_version("exp", 2)["hyperparameters"] == {"n": 1}
    layout.unlink()  # derived data
    assert manager.get_version("exp", 2)["hyperparameters"] == {"n": 1}
    path = log_dir / "exp.json"
    document = json.loads(path.read_bytes())
    document["versions"][1]["hyperparameters"] = {"n": "edited"}
    path.write_text(json.dumps(document, indent=2))  # by hand, another layout of bytes
    assert manager.get_version("exp", 2)["hyperparameters"] == {"n": "edited"}
    assert manager.start_experiment("exp", {}, {}, experiment_id="exp").version == 4
    manager.end_experiment()
    assert manager.get_version("exp", 2)["hyperparameters"] == {"n": "edited"}
    assert [h["version"] for h in manager.read_history("exp")] == [1, 2, 3, 4]


WRITER = """\
import sys

from experiment_manager import ExperimentManager
from experiment_manager.stores import files

files.DIRECT_BYTES = 0
files.REFRESH_SECONDS = float(sys.argv[2])
manager = ExperimentManager(sys.argv[1], capture_environment=False)
for number in range(int(sys.argv[3])):
    manager.start_experiment("exp", {"n": number}, {}, experiment_id="exp")
    manager.log_metrics({"loss": [float(number)]})
    manager.add_checkpoint(f"c{number}.pt")
    manager.end_experiment()
    print(f"ended {number + 1}", flush=True)
if sys.argv[4] == "wait":
    sys.stdin.readline()
"""


def test_the_history_holds_everything_once_the_last_writer_exits(tmp_path: Path) -> None:
    script = write_script(tmp_path, "writer.py", WRITER)
    log_dir = tmp_path / "logs"
    done = subprocess.run(
        [sys.executable, str(script), str(log_dir), "3600", "4", "exit"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.split()[-1] == "4"
    # Folded at exit: plain json.load sees every call, and no version file is left.
    document = json.loads((log_dir / "exp.json").read_bytes())
    assert [v["metrics"]["loss"] for v in document["versions"]] == [[0.0], [1.0], [2.0], [3.0]]
    assert [v["status"] for v in document["versions"]] == ["finished"] * 4
    assert list(_versions_folder(log_dir, "exp").iterdir()) == []


def test_a_live_process_folds_a_few_seconds_after_its_last_version_ends(tmp_path: Path) -> None:
    script = write_script(tmp_path, "writer.py", WRITER)
    log_dir = tmp_path / "logs"
    writer = subprocess.Popen(
        [sys.executable, str(script), str(log_dir), "0.5", "2", "wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdin is not None
        assert writer.stdout.readline() == "ended 1\n"
        assert writer.stdout.readline() == "ended 2\n"
        for _ in range(100):
            path = log_dir / "exp.json"
            if path.exists() and len(json.loads(path.read_bytes())["versions"]) == 2:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        document = json.loads((log_dir / "exp.json").read_bytes())
        assert [v["status"] for v in document["versions"]] == ["finished", "finished"]
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.wait(timeout=60) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


def test_kill_9_loses_no_returned_call_and_the_next_writer_folds(tmp_path: Path) -> None:
    script = write_script(tmp_path, "writer.py", WRITER)
    log_dir = tmp_path / "logs"
    writer = subprocess.Popen(
        [sys.executable, str(script), str(log_dir), "3600", "1000", "exit"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    ended = 0
    while ended < 5:
        ended = int(writer.stdout.readline().split()[1])
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    writer.stdout.close()
    history = ExperimentManager(log_dir).read_history("exp")
    # Every version whose end returned is there, finished, with its calls.
    for record in history[:ended]:
        assert record["status"] == "finished"
        assert record["metrics"] == {"loss": [float(record["version"] - 1)]}
        assert record["checkpoints"] == [f"c{record['version'] - 1}.pt"]
    assert len(history) >= ended
    assert [h["version"] for h in history] == list(range(1, len(history) + 1))
    # The killed process never folded: doctor does (and ends a crashed run honestly).
    report = doctor(log_dir)
    assert report.healthy
    document = json.loads((log_dir / "exp.json").read_bytes())
    assert len(document["versions"]) == len(history)
    assert list(_versions_folder(log_dir, "exp").iterdir()) == []
    statuses = {v["status"] for v in document["versions"][ended:]}
    assert statuses <= {"finished", "crashed"}


SWEEP = """\
import sys

from experiment_manager import ExperimentManager
from experiment_manager.stores import files

files.DIRECT_BYTES = 0
files.REFRESH_SECONDS = 0.01  # fold all the time, racing the other writers' folds
log_dir, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
manager = ExperimentManager(log_dir, capture_environment=False)
for number in range(count):
    record = manager.start_experiment("sweep", {"worker": worker, "n": number}, {})
    manager.log_metrics({"value": [worker * 1000 + number]})
    manager.add_checkpoint(f"w{worker}-{number}.pt")
    manager.end_experiment()
"""


@pytest.mark.slow
def test_writers_folding_at_once_keep_every_version_once(tmp_path: Path) -> None:
    script = write_script(tmp_path, "sweep.py", SWEEP)
    log_dir = tmp_path / "logs"
    workers, count = 4, 15
    processes = [
        subprocess.Popen([sys.executable, str(script), str(log_dir), str(w), str(count)])
        for w in range(workers)
    ]
    seen: set[int] = set()
    reader = ExperimentManager(log_dir)
    while any(p.poll() is None for p in processes):
        try:
            history = reader.read_history("sweep")
        except ExperimentNotFoundError:
            continue
        numbers = [h["version"] for h in history]
        assert numbers == list(range(1, len(numbers) + 1))  # gap-free at every moment
        assert seen <= set(numbers)  # nothing a reader saw ever goes missing
        seen = set(numbers)
    assert [p.wait(timeout=120) for p in processes] == [0] * workers
    expected = {w * 1000 + n for w in range(workers) for n in range(count)}
    document = json.loads((log_dir / "sweep.json").read_bytes())
    for history in (reader.read_history("sweep"), document["versions"]):
        assert [h["version"] for h in history] == list(range(1, workers * count + 1))
        assert sorted(v for h in history for v in h["metrics"]["value"]) == sorted(expected)
        assert {h["status"] for h in history} == {"finished"}
    assert list(_versions_folder(log_dir, "sweep").iterdir()) == []


FORKED = """\
import json
import multiprocessing
import sys

from experiment_manager import ExperimentManager
from experiment_manager.stores import files

files.DIRECT_BYTES = 0
files.REFRESH_SECONDS = 3600.0


def work(log_dir):
    manager = ExperimentManager(log_dir, capture_environment=False)
    for number in range(3):
        manager.start_experiment("forked", {"n": number}, {})
        manager.end_experiment()


if __name__ == "__main__":
    child = multiprocessing.get_context(sys.argv[2]).Process(target=work, args=(sys.argv[1],))
    child.start()
    child.join()
    with open(f"{sys.argv[1]}/forked.json", "rb") as handle:
        print(len(json.load(handle)["versions"]))
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_a_multiprocessing_worker_folds_when_it_ends(tmp_path: Path, method: str) -> None:
    script = write_script(tmp_path, "forked.py", FORKED)
    log_dir = tmp_path / "logs"
    done = subprocess.run(
        [sys.executable, str(script), str(log_dir), method],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.split() == ["3"]  # json.load holds the worker's versions
    assert list(_versions_folder(log_dir, "forked").iterdir()) == []


def test_a_leftover_version_file_older_than_the_history_is_not_read(
    log_dir: Path, lazy: None
) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    folder = _versions_folder(log_dir, "exp")
    stale = (folder / "1.1.json").read_bytes()  # revision 1: no metrics yet
    manager.log_metrics({"loss": [0.5]})
    manager.store.flush("exp")  # the history holds revision 2
    # What a writer killed between rewriting the history and removing the file it
    # folded leaves behind: a version file no newer than the history's record.
    (folder / "1.1.json").write_bytes(stale)
    assert manager.get_version("exp", 1)["metrics"] == {"loss": [0.5]}
    manager.log_metrics({"loss": [0.25]})  # builds on the history's record, not the leftover
    assert manager.get_version("exp", 1)["metrics"] == {"loss": [0.5, 0.25]}
    manager.end_experiment()
    manager.store.flush("exp")
    assert manager.read_history("exp")[0]["metrics"] == {"loss": [0.5, 0.25]}
    document = json.loads((log_dir / "exp.json").read_bytes())
    assert document["versions"][0]["metrics"] == {"loss": [0.5, 0.25]}
    assert list(folder.iterdir()) == []  # the leftover went with the fold


FULL_FOLD = """\
import json
import resource
import signal
import sys

from experiment_manager import ExperimentManager, StorageError
from experiment_manager.stores import files

files.DIRECT_BYTES = 0
files.REFRESH_SECONDS = 3600.0
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
manager = ExperimentManager(sys.argv[1], capture_environment=False)
for number in range(3):
    manager.start_experiment("exp", {"n": number}, {"blob": "x" * 5000}, experiment_id="exp")
    manager.end_experiment()
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
try:
    manager.store.flush("exp")
    outcome = "no error"
except StorageError as error:
    outcome = "StorageError " + str(error)
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
print(json.dumps([outcome, len(manager.read_history("exp"))]))
"""


def test_a_fold_the_disk_refuses_is_a_typed_error_and_loses_nothing(tmp_path: Path) -> None:
    script = write_script(tmp_path, "full_fold.py", FULL_FOLD)
    log_dir = tmp_path / "logs"
    done = subprocess.run(
        [sys.executable, str(script), str(log_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    outcome, versions = json.loads(done.stdout)
    assert outcome.startswith("StorageError")
    assert versions == 3
    # The process folded at exit, once the limit was lifted.
    document = json.loads((log_dir / "exp.json").read_bytes())
    assert [v["version"] for v in document["versions"]] == [1, 2, 3]


@pytest.mark.parametrize("big", [False, True], ids=["small", "big"])
def test_a_run_leaves_no_lock_file_behind(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch, big: bool
) -> None:
    if big:
        monkeypatch.setattr(files, "DIRECT_BYTES", 0)
    manager = ExperimentManager(log_dir, capture_environment=False)
    with manager.experiment("exp", {}, experiment_id="exp"):
        manager.log({"loss": 0.5})
        manager.add_checkpoint("a.pt")
        assert (log_dir / ".expm" / "live" / "exp" / "1.lock").exists()  # held while it runs
    manager.store.flush()
    locks = [p for p in (log_dir / ".expm").rglob("*.lock")]
    assert locks == []
    assert manager.read_history("exp")[0]["status"] == "finished"
