"""Storage faults and hostile folder contents: an error means "not stored", never half.

Faults are injected for real: a file-size limit (``RLIMIT_FSIZE``, what a full disk
looks like to a writer) in a writer process, and paths replaced by a directory, a FIFO,
a socket or a symbolic link.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from experiment_manager import ExperimentManager, StorageError
from experiment_manager.cli import main as cli_main
from experiment_manager.doctor import doctor
from experiment_manager.errors import CorruptHistoryError
from experiment_manager.stores import files
from tests._util import write_script

warnings.filterwarnings("ignore", message=".*httpx.*")  # TestClient's deprecation note
from starlette.testclient import TestClient  # noqa: E402

from experiment_manager.web import create_app  # noqa: E402

FULL_DISK = """\
import json
import resource
import signal
import sys

from experiment_manager import ExperimentManager, StorageError

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails: EFBIG
log_dir = sys.argv[1]
manager = ExperimentManager(log_dir, capture_environment=False)
manager.start_experiment("exp", {}, {}, experiment_id="exp")
journal = f"{log_dir}/.expm/journals/exp/1.0.jsonl"
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))
acknowledged, refused = [], 0
for step in range(100_000):
    try:
        manager.log({"loss": step / 7, "acc": 1 - step / 7e5}, step=step)
    except StorageError as error:
        refused += 1
        if refused == 3:  # refused again and again, never glued to a torn line
            message = str(error)
            break
    else:
        acknowledged.append(step)
with open(journal, "rb") as handle:
    whole_lines = handle.read().endswith(b"\\n")
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space is freed
for step in range(100_000, 100_005):
    manager.log({"loss": 0.5, "acc": 0.5}, step=step)
    acknowledged.append(step)
manager.end_experiment()
print(json.dumps({"acknowledged": acknowledged, "message": message, "whole": whole_lines}))
"""


def test_a_full_disk_never_tears_the_journal(tmp_path: Path) -> None:
    script = write_script(tmp_path, "full_disk.py", FULL_DISK)
    log_dir = tmp_path / "logs"
    done = subprocess.run(
        [sys.executable, str(script), str(log_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    acknowledged = result["acknowledged"]
    assert len(acknowledged) > 100  # some points fitted before the limit
    assert result["whole"]  # the refused writes left no half line
    assert "1.0.jsonl" in result["message"]  # the error names the journal
    [record] = ExperimentManager(log_dir).read_history("exp")
    assert record["status"] == "finished"
    # Every acknowledged point, once, in order; none of the refused ones.
    assert record["steps"]["loss"] == acknowledged
    assert record["steps"]["acc"] == acknowledged
    assert record["metrics"]["loss"][: len(acknowledged) - 5] == [
        step / 7 for step in acknowledged[:-5]
    ]


def test_a_derived_file_that_cannot_be_written_never_fails_the_call(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    index = log_dir / ".expm" / "index" / "exp.json"
    index.unlink()
    index.mkdir()  # the index's path made a directory
    (index / "keep").write_text("x")
    manager.log_metrics({"loss": [0.5]})  # stored: must not raise
    manager.log_metrics({"loss": [0.25]})
    manager.end_experiment()
    assert manager.read_history("exp")[0]["metrics"] == {"loss": [0.5, 0.25]}
    assert manager.list_versions("exp")[0]["metric_summaries"]["loss"]["last"] == 0.25
    assert manager.version_table("exp").last == {"loss": [0.25]}


def test_a_journal_folder_that_is_a_file_fails_the_start_with_nothing_written(
    log_dir: Path,
) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    manager.end_experiment()
    folder = log_dir / ".expm" / "journals" / "exp"
    folder.mkdir(parents=True, exist_ok=True)
    folder.rmdir()
    folder.write_text("not a folder")
    with pytest.raises(StorageError) as caught:
        manager.start_experiment("exp", {}, {}, experiment_id="exp")
    assert isinstance(caught.value, OSError)
    assert "journals" in str(caught.value)
    assert manager.active_experiment is None
    assert [h["version"] for h in manager.read_history("exp")] == [1]  # no version 2
    folder.unlink()
    assert manager.start_experiment("exp", {}, {}, experiment_id="exp").version == 2


@pytest.mark.parametrize("lazy", [False, True], ids=["history", "version_file"])
def test_a_failed_rename_leaves_no_temp_file(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch, lazy: bool
) -> None:
    if lazy:  # writes go to version files
        monkeypatch.setattr(files, "DIRECT_BYTES", 0)
        monkeypatch.setattr(files, "REFRESH_SECONDS", 3600.0)
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("exp", {}, {}, experiment_id="exp")

    def full(source: object, target: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(StorageError) as caught:
        manager.log_metrics({"loss": [0.5]})
    assert "No space left" in str(caught.value)
    monkeypatch.undo()
    temps = [p for p in log_dir.rglob("*") if p.name.endswith(".tmp")]
    assert temps == []
    assert manager.read_history("exp")[0]["metrics"] == {}  # not stored
    manager.log_metrics({"loss": [0.25]})  # and the run goes on
    assert manager.read_history("exp")[0]["metrics"] == {"loss": [0.25]}


def test_a_version_file_replaced_by_a_directory_is_reported(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "DIRECT_BYTES", 0)
    monkeypatch.setattr(files, "REFRESH_SECONDS", 3600.0)
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    manager.end_experiment()
    folder = log_dir / ".expm" / "versions" / "exp"
    (folder / "1.2.json").unlink()
    (folder / "1.2.json").mkdir()
    with pytest.raises(CorruptHistoryError) as caught:
        manager.read_history("exp")
    assert caught.value.path == folder / "1.2.json"
    assert "directory" in caught.value.reason


def test_a_lock_path_made_a_directory_is_a_typed_error(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    manager.end_experiment()
    lock = log_dir / ".expm" / "locks" / "exp.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    with pytest.raises(StorageError) as caught:
        manager.start_experiment("exp", {}, {}, experiment_id="exp")
    assert str(lock) in str(caught.value)
    assert manager.read_history("exp")[0]["status"] == "finished"  # reads still work


def test_an_internal_folder_that_is_a_file_is_a_typed_error(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("exp", {"lr": 0.1}, {}, experiment_id="exp")
    manager.end_experiment()
    internal = log_dir / ".expm"
    os.rename(internal, log_dir / "moved")
    internal.write_text("not a folder")
    other = ExperimentManager(log_dir, capture_environment=False)
    assert other.read_history("exp")[0]["hyperparameters"] == {"lr": 0.1}
    assert other.version_table("exp").version == [1]
    with pytest.raises(StorageError):
        other.start_experiment("exp", {}, {}, experiment_id="exp")
    assert [h["version"] for h in other.read_history("exp")] == [1]


def _hostile(log_dir: Path, kind: str) -> None:
    path = log_dir / "bad.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.close()  # the socket file stays
    elif kind == "symlink":
        target = log_dir.parent / "elsewhere.json"
        target.write_bytes((log_dir / "good.json").read_bytes().replace(b'"good"', b'"bad"'))
        path.symlink_to(target)
    elif kind == "dangling":
        path.symlink_to(log_dir.parent / "nowhere.json")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["fifo", "directory", "socket", "symlink", "dangling"])
def test_a_hostile_entry_is_one_error_and_the_rest_are_listed(log_dir: Path, kind: str) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("good", {}, {}, experiment_id="good")
    manager.log_metrics({"loss": [0.5]})
    manager.end_experiment()
    _hostile(log_dir, kind)
    listing = manager.list_experiments()
    assert [e["experiment_id"] for e in listing] == ["bad", "good"]
    assert listing[1]["versions"] == 1
    assert "bad.json" in listing[0]["error"]
    with pytest.raises(CorruptHistoryError):
        manager.read_history("bad")
    with pytest.raises(CorruptHistoryError):
        manager.start_experiment("bad", {}, {}, experiment_id="bad")
    report = doctor(log_dir)
    assert [c["path"] for c in report.corrupt] == [str(log_dir / "bad.json")]
    result = CliRunner().invoke(cli_main, ["--log-dir", str(log_dir), "ls"])
    assert "good" in result.output
    assert "corrupt" in result.output
    assert result.exit_code == 3
    client = TestClient(create_app(log_dir, allowed_hosts=["testserver"]))
    answer = client.get("/api/experiments")
    assert answer.status_code == 200
    entries = {e["experiment_id"]: e for e in answer.json()["experiments"]}
    assert entries["good"]["versions"] == 1
    assert "error" in entries["bad"]
    assert str(log_dir) not in answer.text  # named relative to the log folder
    assert (log_dir / "bad.json").is_symlink() or (log_dir / "bad.json").exists()


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the whole files the store reads from now on."""
    reads: list[int] = []
    original = files._read_fd

    def counted(fd: int) -> bytes:
        data = original(fd)
        reads.append(len(data))
        return data

    monkeypatch.setattr(files, "_read_fd", counted)
    return reads


def test_a_damaged_history_is_not_read_again_until_it_changes(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("good", {}, {}, experiment_id="good")
    manager.end_experiment()
    junk = log_dir / "junk.json"
    junk.write_bytes(b"{" + b"x" * 20_000_000)
    reads = _count_reads(monkeypatch)
    first = manager.list_experiments()
    assert "error" in first[1]
    big_reads = len([n for n in reads if n > 1_000_000])
    started = time.perf_counter()
    for _ in range(5):
        assert manager.list_experiments() == first
    assert len([n for n in reads if n > 1_000_000]) == big_reads  # not read again
    assert time.perf_counter() - started < 5
    junk.write_bytes(b'{"format": 2}')  # changed: read again, and judged afresh
    assert "holds experiment None" in manager.list_experiments()[1]["error"]


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("out_of_range", lambda d: d.replace(b"[0.5,0.25]", b"[0.5,1e400]")),
        ("invalid_utf8", lambda d: d.replace(b'"good run"', b'"good \xff run"')),
        ("checkpoint_not_a_path", lambda d: d.replace(b'"checkpoints":[]', b'"checkpoints":[1]')),
    ],
)
def test_the_direct_metric_read_steps_aside_where_the_full_read_refuses(
    log_dir: Path, name: str, damage: object
) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("good run", {}, {}, experiment_id="good")
    manager.log_metrics({"loss": [0.5, 0.25]})
    manager.end_experiment()
    assert manager.store.read_metric("good", "loss", "index") is not None
    path = log_dir / "good.json"
    data = path.read_bytes()
    assert callable(damage)
    damaged = damage(data)
    assert damaged != data, name
    path.write_bytes(damaged)
    with pytest.raises(CorruptHistoryError):
        manager.read_history("good")
    assert manager.store.read_metric("good", "loss", "index") is None


def test_an_error_message_with_a_lone_surrogate_still_ends_the_run(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    manager.end_experiment("failed", ValueError("bad \ud800 value"))
    [record] = manager.read_history("exp")
    assert record["status"] == "failed"
    assert record["error"] == {"type": "ValueError", "message": "bad \\ud800 value"}


def test_a_junk_history_is_turned_away_without_being_read(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("good", {}, {}, experiment_id="good")
    manager.end_experiment()
    with (log_dir / "junk.json").open("wb") as handle:  # 256 MiB, mostly a hole
        handle.write(b"\x00junk")
        handle.truncate(256 * 2**20)
    reads = _count_reads(monkeypatch)
    listing = manager.list_experiments()
    assert [e["experiment_id"] for e in listing] == ["good", "junk"]
    assert "not a JSON object" in listing[1]["error"]
    assert all(size < 2**20 for size in reads)  # refused from its first bytes
    with pytest.raises(CorruptHistoryError):
        manager.read_history("junk")
