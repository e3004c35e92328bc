"""Damaged history files are reported, never overwritten; leftovers of dead writers are harmless."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.errors import (
    CorruptHistoryError,
    LockTimeoutError,
    UnsupportedFormatError,
)
from tests._util import load_history_file, tree, write_script

VICTIM = "victim"


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """A log dir holding a healthy ``victim`` and a healthy ``bystander`` experiment."""
    log_dir = tmp_path / "logs"
    manager = ExperimentManager(log_dir)
    manager.start_experiment(VICTIM, {"lr": 0.1}, {})
    manager.log_metrics({"loss": [0.5, 0.25]})
    manager.add_checkpoint("a.ckpt")
    manager.start_experiment("bystander", {}, {})
    manager.log_metrics({"loss": 1.0})
    return log_dir


def _victim_path(log_dir: Path) -> Path:
    return log_dir / f"{VICTIM}.json"


def _document(good: bytes) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(good)
    return parsed


def _truncated(good: bytes) -> bytes:
    return good[: len(good) // 2]


def _flipped_byte(good: bytes) -> bytes:
    index = good.index(b":")
    return good[:index] + bytes([good[index] ^ 0x01]) + good[index + 1 :]  # ":" -> ";"


def _last_byte_dropped(good: bytes) -> bytes:
    return good[:-1]


def _with(**changes: object) -> Callable[[bytes], bytes]:
    def make(good: bytes) -> bytes:
        document = _document(good)
        document.update(changes)
        return json.dumps(document).encode()

    return make


def _nan_token(good: bytes) -> bytes:
    document = _document(good)
    document["versions"][0]["metrics"]["loss"][0] = float("nan")  # type: ignore[index]
    text = json.dumps(document)  # the standard library writes a bare NaN token
    assert "NaN" in text
    return text.encode()


def _infinity_token(good: bytes) -> bytes:
    document = _document(good)
    document["versions"][0]["hyperparameters"]["lr"] = float("inf")  # type: ignore[index]
    return json.dumps(document).encode()


def _version_entry(**fields: object) -> Callable[[bytes], bytes]:
    def make(good: bytes) -> bytes:
        document = _document(good)
        document["versions"][0].update(fields)  # type: ignore[index]
        return json.dumps(document).encode()

    return make


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated": _truncated,
    "last_byte_dropped": _last_byte_dropped,
    "flipped_byte": _flipped_byte,
    "empty": lambda good: b"",
    "whitespace_only": lambda good: b" \n\t\n",
    "nul_bytes": lambda good: b"\x00" * len(good),
    "not_utf8": lambda good: b"\xff\xfe" + good,
    "top_level_list": lambda good: b"[" + good + b"]",
    "top_level_number": lambda good: b"42",
    "top_level_string": lambda good: b'"victim"',
    "top_level_null": lambda good: b"null",
    "nan_token": _nan_token,
    "infinity_token": _infinity_token,
    "format_missing": lambda good: good.replace(b'"format":2,', b""),
    "format_zero": _with(format=0),
    "format_string": _with(format="1"),
    "experiment_id_mismatch": _with(experiment_id="someone_else"),
    "experiment_id_missing": lambda good: json.dumps(
        {k: v for k, v in _document(good).items() if k != "experiment_id"}
    ).encode(),
    "versions_not_a_list": _with(versions={"1": {}}),
    "version_not_an_object": _with(versions=[1, 2]),
    "version_number_missing": lambda good: good.replace(b'"version":1,', b""),
    "version_number_string": _version_entry(version="1"),
    "metrics_not_an_object": _version_entry(metrics=[1, 2]),
    "metric_values_not_a_list": _version_entry(metrics={"loss": 0.5}),
    "checkpoints_not_a_list": _version_entry(checkpoints="a.ckpt"),
    # A metric list holds only numbers and the names of non-finite values.
    "metric_value_unknown_string": _version_entry(metrics={"loss": [0.5, "abc"]}),
    "metric_value_object": _version_entry(metrics={"loss": [0.5, {"x": 1}]}),
    "checkpoint_not_a_string": _version_entry(checkpoints=["a.ckpt", {"path": 1}]),
}


def _snapshot_then_corrupt(log_dir: Path, name: str) -> bytes:
    path = _victim_path(log_dir)
    corrupt = CORRUPTIONS[name](path.read_bytes())
    path.write_bytes(corrupt)
    return corrupt


def _assert_names_file(error: CorruptHistoryError, path: Path) -> None:
    assert isinstance(error, ValueError)
    assert error.path == path
    assert str(path) in str(error)


def _assert_untouched(log_dir: Path, corrupt: bytes) -> None:
    assert _victim_path(log_dir).read_bytes() == corrupt
    assert not (log_dir / f".{VICTIM}.json.tmp").exists()
    assert not [p for p in log_dir.iterdir() if p.name.endswith(".tmp")]


def _assert_bystander_works(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, lock_timeout=5)
    assert manager.start_experiment("bystander", {}, {}).version == 2
    manager.log_metrics({"loss": 2.0})
    manager.add_checkpoint("b.ckpt")
    history = manager.read_history("bystander")
    assert [e["metrics"] for e in history] == [{"loss": [1.0]}, {"loss": [2.0]}]
    assert history[1]["checkpoints"] == ["b.ckpt"]
    assert manager.start_experiment("newcomer", {}, {}).version == 1


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_history_is_reported_on_read(log_dir: Path, corruption: str) -> None:
    corrupt = _snapshot_then_corrupt(log_dir, corruption)
    with pytest.raises(CorruptHistoryError) as caught:
        ExperimentManager(log_dir).read_history(VICTIM)
    _assert_names_file(caught.value, _victim_path(log_dir))
    _assert_untouched(log_dir, corrupt)
    _assert_bystander_works(log_dir)


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_history_is_never_overwritten_by_start(log_dir: Path, corruption: str) -> None:
    corrupt = _snapshot_then_corrupt(log_dir, corruption)
    manager = ExperimentManager(log_dir)
    for attempt in range(2):
        with pytest.raises(CorruptHistoryError) as caught:
            manager.start_experiment(VICTIM, {"attempt": attempt}, {})
        _assert_names_file(caught.value, _victim_path(log_dir))
        _assert_untouched(log_dir, corrupt)
    assert manager.active_experiment is None
    _assert_bystander_works(log_dir)


@pytest.mark.parametrize("corruption", ["truncated", "flipped_byte", "empty", "nan_token"])
def test_corrupt_history_is_never_overwritten_by_logging(log_dir: Path, corruption: str) -> None:
    manager = ExperimentManager(log_dir)
    manager.start_experiment(VICTIM, {}, {})
    good = _victim_path(log_dir).read_bytes()
    corrupt = _snapshot_then_corrupt(log_dir, corruption)
    with pytest.raises(CorruptHistoryError) as caught:
        manager.log_metrics({"loss": 0.1})
    _assert_names_file(caught.value, _victim_path(log_dir))
    with pytest.raises(CorruptHistoryError):
        manager.add_checkpoint("c.ckpt")
    _assert_untouched(log_dir, corrupt)
    _assert_bystander_works(log_dir)
    _victim_path(log_dir).write_bytes(good)  # let the manager end its run cleanly


def test_manager_whose_active_history_broke_can_start_another_experiment(
    log_dir: Path,
) -> None:
    manager = ExperimentManager(log_dir)
    manager.start_experiment(VICTIM, {}, {})
    corrupt = _snapshot_then_corrupt(log_dir, "truncated")
    # The broken file is the active run's, not the one being started: the new
    # experiment starts (at the first attempt), the failure to end the old run is
    # reported as a warning naming the file, and the broken file is left alone.
    with pytest.warns(RuntimeWarning, match=VICTIM):
        record = manager.start_experiment("bystander", {}, {})
    assert record.version == 2
    assert manager.active_experiment is record
    manager.log_metrics({"loss": 2.0})
    assert manager.read_history("bystander")[1]["metrics"] == {"loss": [2.0]}
    _assert_untouched(log_dir, corrupt)


def test_future_format_is_unsupported(log_dir: Path) -> None:
    path = _victim_path(log_dir)
    document = _document(path.read_bytes())
    document["format"] = 3
    document["something_new"] = {"only": "format 3 knows"}
    path.write_bytes(json.dumps(document).encode())
    manager = ExperimentManager(log_dir)
    for call in (
        lambda: manager.read_history(VICTIM),
        lambda: manager.start_experiment(VICTIM, {}, {}),
    ):
        with pytest.raises(UnsupportedFormatError) as caught:
            call()
        assert isinstance(caught.value, CorruptHistoryError)
        _assert_names_file(caught.value, path)
        assert caught.value.found == 3
    _assert_untouched(log_dir, json.dumps(document).encode())


# -- leftovers of killed writers ------------------------------------------------------------


@pytest.mark.parametrize(
    "junk", [b"", b"{", b'{"format":1,"experiment_id":"victim","versions":[]}']
)
def test_stale_temp_file_is_ignored_and_replaced(log_dir: Path, junk: bytes) -> None:
    temp = log_dir / f".{VICTIM}.json.tmp"
    temp.write_bytes(junk + b"x" * 100_000)
    manager = ExperimentManager(log_dir)
    [entry] = manager.read_history(VICTIM)
    assert entry["metrics"] == {"loss": [0.5, 0.25]}
    assert manager.start_experiment(VICTIM, {}, {}).version == 2
    manager.log_metrics({"loss": 0.125})
    assert not temp.exists()
    document = load_history_file(log_dir, VICTIM)
    assert [v["metrics"] for v in document["versions"]] == [
        {"loss": [0.5, 0.25]},
        {"loss": [0.125]},
    ]


def test_stale_temp_file_without_history_is_ignored(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    temp = log_dir / ".fresh.json.tmp"
    temp.write_bytes(b'{"format":1,"experiment_id":"fresh","versions":[{"version":7}]}')
    manager = ExperimentManager(log_dir)
    assert manager.read_history("fresh") == []
    assert manager.start_experiment("fresh", {}, {}).version == 1
    assert not temp.exists()
    assert [v["version"] for v in load_history_file(log_dir, "fresh")["versions"]] == [1]


@pytest.mark.parametrize("content", [b"", b"12345\n", b"\x00garbage"])
def test_left_over_lock_file_never_blocks_a_writer(log_dir: Path, content: bytes) -> None:
    lock = log_dir / ".expm" / "locks" / f"{VICTIM}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_bytes(content)
    fresh_lock = log_dir / ".expm" / "locks" / "fresh.lock"
    fresh_lock.write_bytes(content)
    manager = ExperimentManager(log_dir, lock_timeout=2)
    started = time.monotonic()
    assert manager.start_experiment(VICTIM, {}, {}).version == 2
    manager.log_metrics({"loss": 0.1})
    manager.add_checkpoint("b.ckpt")
    assert manager.start_experiment("fresh", {}, {}).version == 1
    assert time.monotonic() - started < 2
    assert manager.read_history(VICTIM)[1]["metrics"] == {"loss": [0.1]}


HOLDER = """\
import sys
import time
from pathlib import Path

from experiment_manager.stores import FileStore


def hold(stored):
    stored["metrics"]["loss"] = [999.0]
    print("holding", flush=True)
    time.sleep(120)


FileStore(Path(sys.argv[1]), lock_timeout=30).update_version(sys.argv[2], 1, hold)
"""


@pytest.mark.slow
def test_lock_of_a_killed_process_never_blocks_a_writer(tmp_path: Path, log_dir: Path) -> None:
    before = _victim_path(log_dir).read_bytes()
    script = write_script(tmp_path, "holder.py", HOLDER)
    holder = subprocess.Popen(
        [sys.executable, str(script), str(log_dir), VICTIM],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "holding\n"
        # While the holder lives, its lock really is held.
        with pytest.raises(LockTimeoutError) as caught:
            ExperimentManager(log_dir, lock_timeout=0.3).start_experiment(VICTIM, {}, {})
        assert isinstance(caught.value, TimeoutError)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        assert holder.stdout is not None
        holder.stdout.close()
    assert holder.returncode == -signal.SIGKILL
    # The killed transaction left the history as it was.
    assert _victim_path(log_dir).read_bytes() == before
    manager = ExperimentManager(log_dir, lock_timeout=5)
    started = time.monotonic()
    assert manager.start_experiment(VICTIM, {}, {}).version == 2
    manager.log_metrics({"loss": 0.1})
    assert time.monotonic() - started < 5
    assert [e["version"] for e in manager.read_history(VICTIM)] == [1, 2]


def test_unreadable_history_does_not_stop_other_experiments_listing(log_dir: Path) -> None:
    _snapshot_then_corrupt(log_dir, "truncated")
    before = tree(log_dir)
    manager = ExperimentManager(log_dir)
    assert len(manager.read_history("bystander")) == 1
    assert manager.read_history("unknown") == []
    assert tree(log_dir) == before
