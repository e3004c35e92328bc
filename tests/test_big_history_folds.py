"""How big histories are folded: spaced by the fold's own cost, copied by the kernel, safe.

Like ``test_big_history.py``, these tests make every history "big" (``DIRECT_BYTES =
0``) so the lazy path runs on small data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.doctor import doctor
from experiment_manager.stores import _atomic, _layout, files
from experiment_manager.stores.files import FileStore
from tests._util import assert_same, strict_loads, write_script


def _versions_folder(log_dir: Path, experiment_id: str) -> Path:
    return log_dir / ".expm" / "versions" / experiment_id


def _fill(manager: ExperimentManager, count: int, experiment_id: str = "exp") -> None:
    for number in range(count):
        manager.start_experiment("exp", {"n": number}, {}, experiment_id=experiment_id)
        manager.log_metrics({"loss": [1.0 / (number + 1)]})
        manager.end_experiment()


def _set_fold_seconds(log_dir: Path, experiment_id: str, seconds: float) -> None:
    """What a fold of that cost by another process leaves in the layout's header."""
    history = log_dir / f"{experiment_id}.json"
    identity = _atomic.file_identity(os.stat(history))
    path = log_dir / ".expm" / "layout" / f"{experiment_id}.bin"
    layout = _layout.decode(path.read_bytes(), identity)
    assert layout is not None
    layout.fold_seconds = seconds
    path.write_bytes(layout.encode(identity))


def test_a_fold_records_its_cost_in_the_layout(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "DIRECT_BYTES", 0)
    monkeypatch.setattr(files, "REFRESH_SECONDS", 3600.0)
    manager = ExperimentManager(log_dir, capture_environment=False)
    _fill(manager, 3)
    manager.store.flush("exp")
    history = log_dir / "exp.json"
    layout = _layout.decode(
        (log_dir / ".expm" / "layout" / "exp.bin").read_bytes(),
        _atomic.file_identity(os.stat(history)),
    )
    assert layout is not None
    assert 0 < layout.fold_seconds < 60  # the whole fold, derived files included
    assert [v["version"] for v in json.loads(history.read_bytes())["versions"]] == [1, 2, 3]


def test_folds_are_spaced_by_the_last_folds_cost_whichever_process_made_it(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "DIRECT_BYTES", 0)
    monkeypatch.setattr(files, "REFRESH_SECONDS", 0.05)
    first = ExperimentManager(log_dir, capture_environment=False)
    _fill(first, 2)
    first.store.flush("exp")
    # Another process's fold took 100 s: while versions run, this history is folded
    # again 2,000 s later at the earliest, however old it is and whoever writes.
    _set_fold_seconds(log_dir, "exp", 100.0)
    history = log_dir / "exp.json"
    before = _atomic.file_identity(os.stat(history))
    time.sleep(0.2)  # older than REFRESH_SECONDS
    holder = ExperimentManager(log_dir, capture_environment=False)
    holder.start_experiment("exp", {"n": "held"}, {}, experiment_id="exp")  # version 3 runs
    writer = ExperimentManager(log_dir, capture_environment=False)
    _fill(writer, 2)
    time.sleep(1.0)  # the version-end timer and the stale check have both fired
    assert _atomic.file_identity(os.stat(history)) == before
    assert len(list(_versions_folder(log_dir, "exp").iterdir())) == 3
    assert [h["version"] for h in writer.read_history("exp")] == [1, 2, 3, 4, 5]
    # The last running version ends: the history takes everything soon after, due or not.
    holder.end_experiment()
    for _ in range(600):  # up to 30 s on a loaded machine
        if not list(_versions_folder(log_dir, "exp").iterdir()):
            break
        time.sleep(0.05)
    document = json.loads(history.read_bytes())
    assert [v["version"] for v in document["versions"]] == [1, 2, 3, 4, 5]
    assert document["versions"][2]["status"] == "finished"
    # A cheap fold: the next write folds (a thread of the writer, 0.05 s later).
    _set_fold_seconds(log_dir, "exp", 0.0)
    again = ExperimentManager(log_dir, capture_environment=False)
    _fill(again, 1)
    for _ in range(600):
        if not list(_versions_folder(log_dir, "exp").iterdir()):
            break
        time.sleep(0.05)
    document = json.loads(history.read_bytes())
    assert [v["version"] for v in document["versions"]] == [1, 2, 3, 4, 5, 6]


def test_the_history_holds_everything_soon_after_the_last_running_version_ends(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even when folds are spaced far apart, a long-lived process that ends the
    experiment's last running version leaves a history json.load reads in full."""
    monkeypatch.setattr(files, "DIRECT_BYTES", 0)
    monkeypatch.setattr(files, "REFRESH_SECONDS", 0.05)
    manager = ExperimentManager(log_dir, capture_environment=False)
    _fill(manager, 1)
    manager.store.flush("exp")
    _set_fold_seconds(log_dir, "exp", 100.0)  # not due again for 2,000 s
    manager.start_experiment("exp", {"n": 1}, {}, experiment_id="exp")
    manager.log_metrics({"loss": [0.5, 0.25]})
    manager.end_experiment()
    for _ in range(600):  # up to 30 s on a loaded machine
        if not list(_versions_folder(log_dir, "exp").iterdir()):
            break
        time.sleep(0.05)
    document = json.loads((log_dir / "exp.json").read_bytes())
    assert [v["version"] for v in document["versions"]] == [1, 2]
    assert document["versions"][1]["metrics"]["loss"] == [0.5, 0.25]
    assert document["versions"][1]["status"] == "finished"


def test_a_damaged_fold_cost_is_ignored() -> None:
    identity = [1, 2, 3, 4]
    for seconds in ("slow", -1, 1e12, None):
        header: dict[str, object] = {"format": 1, "source": identity, "versions": 0}
        header.update(running=[], fold_seconds=seconds, crc32=0)  # no records: CRC 0
        data = json.dumps(header).encode() + b"\n"
        layout = _layout.decode(data, identity)
        assert layout is not None
        assert layout.fold_seconds == 0.0


def test_a_version_file_replaced_while_folding_is_left_to_win(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "DIRECT_BYTES", 0)
    monkeypatch.setattr(files, "REFRESH_SECONDS", 3600.0)
    manager = ExperimentManager(log_dir, capture_environment=False)
    _fill(manager, 3)
    manager.store.flush("exp")
    manager.start_experiment("exp", {"n": 3}, {}, experiment_id="exp")
    manager.log_metrics({"loss": [0.5]})
    expected = manager.read_history("exp")
    original = files._read_document
    gone: list[str] = []

    def replaced(path: Path) -> tuple[bytes, os.stat_result] | None:
        # As if the version's writer replaced this revision by the next one just now.
        if path.parent.name == "exp" and path.parent.parent.name == "versions" and not gone:
            gone.append(path.name)
            return None
        return original(path)

    monkeypatch.setattr(files, "_read_document", replaced)
    reads: list[int] = []
    read_fd = files._read_fd

    def counted(fd: int) -> bytes:
        reads.append(fd)
        return read_fd(fd)

    monkeypatch.setattr(files, "_read_fd", counted)
    store = manager.store
    assert isinstance(store, FileStore)
    store._fold("exp", wait=True)
    assert gone == ["4.2.json"]
    assert reads == []  # the history's bytes were copied, never read into the process
    assert (_versions_folder(log_dir, "exp") / "4.2.json").exists()  # left, still newer
    document = json.loads((log_dir / "exp.json").read_bytes())
    assert [v["version"] for v in document["versions"]] == [1, 2, 3]
    assert_same(ExperimentManager(log_dir).read_history("exp"), expected)
    monkeypatch.setattr(files, "_read_document", original)
    manager.end_experiment()
    manager.store.flush("exp")
    document = json.loads((log_dir / "exp.json").read_bytes())
    assert document["versions"][3]["metrics"]["loss"] == [0.5]
    assert document["versions"][3]["status"] == "finished"


def test_a_reader_waits_for_the_layout_of_a_history_just_folded(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "DIRECT_BYTES", 0)
    monkeypatch.setattr(files, "REFRESH_SECONDS", 3600.0)
    manager = ExperimentManager(log_dir, capture_environment=False)
    _fill(manager, 4)
    manager.store.flush("exp")
    _fill(manager, 1)
    folder = manager.store
    assert isinstance(folder, FileStore)
    renamed, go_on = threading.Event(), threading.Event()
    write_layout = FileStore._write_layout

    def slow_layout(self: FileStore, *args: object) -> None:
        if self is folder and not renamed.is_set():
            renamed.set()  # the history is renamed; its layout is not written yet
            go_on.wait(30)
        write_layout(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(FileStore, "_write_layout", slow_layout)
    fold = threading.Thread(target=folder.flush, args=("exp",))
    fold.start()
    assert renamed.wait(30)
    reads: list[int] = []
    read_fd = files._read_fd

    def counted(fd: int) -> bytes:
        # Only this folder's reads: other tests' stores may still fold in threads.
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(log_dir)):
            reads.append(fd)
        return read_fd(fd)

    monkeypatch.setattr(files, "_read_fd", counted)
    reader = FileStore(log_dir)  # another store: nothing of the folder's is shared
    got: list[dict[str, object]] = []
    read = threading.Thread(target=lambda: got.append(reader.load_version("exp", 2)))
    read.start()
    read.join(0.5)
    assert read.is_alive()  # waits for the folder's lock, not reading the history
    go_on.set()
    read.join(30)
    fold.join(30)
    assert len(got) == 1
    assert got[0]["hyperparameters"] == {"n": 1}
    assert reads == []  # one version's bytes, never the whole history


def test_a_copy_without_the_kernel_gives_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source"
    data = os.urandom(3 * (1 << 20) + 17)
    source.write_bytes(data)
    fd = os.open(source, os.O_RDONLY)
    try:
        parts: list[bytes | tuple[int, int]] = [b"head", (5, len(data) - 3), b"tail", (0, 1)]
        expected = b"head" + data[5:-3] + b"tail" + data[:1]
        for kernel in (True, False):
            monkeypatch.setattr(_atomic, "_KERNEL_COPY", [kernel])
            target = tmp_path / f"copy-{kernel}"
            _atomic.write_atomic(target, _atomic.Pieces(parts, fd))
            assert target.read_bytes() == expected
        with pytest.raises(OSError, match="ends before"):  # a source cut short
            _atomic.write_atomic(tmp_path / "short", _atomic.Pieces([(0, len(data) + 1)], fd))
        assert not (tmp_path / "short").exists()
    finally:
        os.close(fd)


FOLDER = """\
import sys

from experiment_manager import ExperimentManager
from experiment_manager.stores import files

files.DIRECT_BYTES = 0
files.REFRESH_SECONDS = 3600.0
manager = ExperimentManager(sys.argv[1], capture_environment=False)
blob = "x" * 20000  # a history of a few MB: each fold takes a while to copy
for number in range(int(sys.argv[2]), 100000):
    manager.start_experiment("exp", {"n": number}, {"blob": blob}, experiment_id="exp")
    manager.log_metrics({"loss": [float(number)]})
    manager.end_experiment()
    print(f"ended {number + 1}", flush=True)
    manager.store.flush("exp")  # fold after every version: a kill lands in one
"""


@pytest.mark.slow
def test_kill_9_during_folds_loses_nothing_and_leaves_a_strict_history(tmp_path: Path) -> None:
    script = write_script(tmp_path, "folder.py", FOLDER)
    log_dir = tmp_path / "logs"
    acknowledged: set[int] = set()  # versions whose end returned
    stored = 0
    for delay in (0.4, 0.9, 0.25, 1.3, 0.6):
        writer = subprocess.Popen(
            [sys.executable, str(script), str(log_dir), str(stored)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        for _ in range(3):  # a few versions in, then at a moment in a fold or not
            acknowledged.add(int(writer.stdout.readline().split()[1]))
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        acknowledged.update(int(line.split()[1]) for line in writer.stdout)
        writer.stdout.close()
        history = ExperimentManager(log_dir).read_history("exp")
        assert [h["version"] for h in history] == list(range(1, len(history) + 1))
        for record in history:  # every version whose end returned, with its calls
            if record["version"] in acknowledged:
                assert record["status"] == "finished"
                assert record["metrics"]["loss"] == [float(record["version"] - 1)]
        assert acknowledged <= {h["version"] for h in history}
        # The history file on its own is always a whole, strict document.
        document = strict_loads((log_dir / "exp.json").read_bytes())
        numbers = [v["version"] for v in document["versions"]]
        assert numbers == list(range(1, len(numbers) + 1))
        stored = len(history)
    assert doctor(log_dir).healthy  # folds what the last kill left in version files
    document = strict_loads((log_dir / "exp.json").read_bytes())
    assert len(document["versions"]) == stored
    assert list(_versions_folder(log_dir, "exp").iterdir()) == []
    assert [e["experiment_id"] for e in ExperimentManager(log_dir).list_experiments()] == ["exp"]


def test_a_long_versions_writes_start_from_what_another_writer_changed(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer keeps the record it wrote for its next change; a change made in between
    by another writer (another store) is never lost, nor one made by hand."""
    monkeypatch.setattr(files, "DIRECT_BYTES", 0)
    writer = ExperimentManager(log_dir, capture_environment=False)
    other = ExperimentManager(log_dir, capture_environment=False)
    writer.start_experiment("exp", {}, {}, experiment_id="exp")
    writer.log_metrics({"loss": [1.0, 2.0]})
    other.set_note("exp", 1, "from another writer")
    writer.log_metrics({"loss": [3.0]})
    (version_file,) = _versions_folder(log_dir, "exp").iterdir()
    # Same name, other bytes (a hand edit): read again, and checked.
    stored = json.loads(version_file.read_bytes())
    stored["hyperparameters"] = {"edited": True}
    version_file.write_bytes(json.dumps(stored).encode())
    writer.log_metrics({"loss": [4.0]})
    writer.end_experiment()
    (record,) = writer.read_history("exp")
    assert record["metrics"]["loss"] == [1.0, 2.0, 3.0, 4.0]
    assert record["note"] == "from another writer"
    assert record["hyperparameters"] == {"edited": True}


def test_a_fold_set_for_later_does_not_hold_back_the_one_after_the_last_version_ends(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "DIRECT_BYTES", 0)
    manager = ExperimentManager(log_dir, capture_environment=False)
    _fill(manager, 1)
    store = manager.store
    assert isinstance(store, FileStore)
    store.flush("exp")
    manager.start_experiment("exp", {"n": 1}, {}, experiment_id="exp")
    manager.log_metrics({"loss": [1.0]})
    store._fold_soon("exp", 120.0)  # a due time far ahead, as a costly history gets
    manager.end_experiment()
    for _ in range(600):  # up to 30 s on a loaded machine; REFRESH_SECONDS is 2
        if not list(_versions_folder(log_dir, "exp").iterdir()):
            break
        time.sleep(0.05)
    document = json.loads((log_dir / "exp.json").read_bytes())
    assert [v["status"] for v in document["versions"]] == ["finished", "finished"]
