"""Streaming with log(): steps, exact values, validation, journals, folding, torn lines, fsync."""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from experiment_manager import ExperimentManager
from experiment_manager.errors import (
    InvalidArgumentError,
    InvalidMetricError,
    NoActiveExperimentError,
)
from tests._util import (
    across_processes,
    assert_same,
    files_only,
    history_path,
    run_python,
    strict_loads,
    write_script,
    written_through,
)

pytestmark = pytest.mark.usefixtures("each_store")

EXPERIMENT_ID = "stream"


# log_dir and manager: tests/conftest.py


def _start(manager: ExperimentManager) -> int:
    return manager.start_experiment("stream", {}, {}, experiment_id=EXPERIMENT_ID).version


def _version(manager: ExperimentManager, version: int = 1) -> dict[str, Any]:
    (record,) = [r for r in manager.read_history(EXPERIMENT_ID) if r["version"] == version]
    return record


def _journals(log_dir: Path, experiment_id: str = EXPERIMENT_ID) -> list[Path]:
    return sorted((log_dir / ".expm" / "journals" / experiment_id).glob("*.jsonl"))


def _journal_bytes(log_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in _journals(log_dir)}


READER = """\
import json
import sys

from experiment_manager import ExperimentManager

history = ExperimentManager(sys.argv[1]).read_history(sys.argv[2])
print(json.dumps(history))
"""


def _read_in_other_process(tmp_path: Path, location: str) -> list[dict[str, Any]]:
    """read_history in a fresh interpreter given ``location`` as its log_dir.

    Floats survive json.dumps/loads exactly.
    """
    script = write_script(tmp_path / "scripts", "reader.py", READER)
    done = run_python([str(script), location, EXPERIMENT_ID], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    history: list[dict[str, Any]] = json.loads(done.stdout)
    return history


# -- steps ----------------------------------------------------------------------------


def test_default_steps_count_from_zero_in_each_version(manager: ExperimentManager) -> None:
    _start(manager)
    assert [manager.log({"loss": 1.0 / (i + 1)}) for i in range(4)] == [0, 1, 2, 3]
    _start(manager)  # version 2 counts again from 0
    assert [manager.log({"loss": float(i)}) for i in range(3)] == [0, 1, 2]
    first, second = manager.read_history(EXPERIMENT_ID)
    assert first["steps"] == {"loss": [0, 1, 2, 3]}
    assert second["steps"] == {"loss": [0, 1, 2]}
    assert_same(first["metrics"]["loss"], [1.0, 0.5, 1.0 / 3, 0.25])
    assert_same(second["metrics"]["loss"], [0.0, 1.0, 2.0])


def test_explicit_steps_are_kept_as_given_and_the_next_default_follows_the_previous(
    manager: ExperimentManager,
) -> None:
    _start(manager)
    used = [
        manager.log({"loss": 0.1}, step=10),
        manager.log({"loss": 0.2}, step=3),  # back in time: kept as given
        manager.log({"loss": 0.3}),  # previous + 1
        manager.log({"loss": 0.4}, step=np.int64(100)),  # any integer type
        manager.log({"loss": 0.5}),
        manager.log({"loss": 0.6}, step=4),  # a step that was already used
        manager.log({"loss": 0.7}),
    ]
    assert used == [10, 3, 4, 100, 101, 4, 5]
    assert all(type(step) is int for step in used)
    record = _version(manager)
    assert record["steps"]["loss"] == used
    assert_same(record["metrics"]["loss"], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])


def test_log_metric_streams_one_value(manager: ExperimentManager) -> None:
    _start(manager)
    assert manager.log_metric("loss", 0.5) == 0
    assert manager.log_metric("loss", 0.25, step=7) == 7
    assert manager.log_metric("acc", np.float32(0.75)) == 8
    record = _version(manager)
    assert_same(record["metrics"], {"loss": [0.5, 0.25], "acc": [0.75]})
    assert record["steps"] == {"loss": [0, 7], "acc": [8]}


def test_several_metrics_in_one_call_share_the_step(manager: ExperimentManager) -> None:
    _start(manager)
    manager.log({"loss": 0.5, "acc": 0.1})
    manager.log({"acc": 0.2})
    manager.log({"loss": 0.4, "lr": 1e-3})
    record = _version(manager)
    assert_same(record["metrics"], {"loss": [0.5, 0.4], "acc": [0.1, 0.2], "lr": [1e-3]})
    assert record["steps"] == {"loss": [0, 2], "acc": [0, 1], "lr": [2]}
    assert list(record["metrics"]) == ["loss", "acc", "lr"]  # first-logged order


def test_timestamps_are_taken_when_log_is_called(manager: ExperimentManager) -> None:
    _start(manager)
    stamps = []
    for value in (0.3, 0.2, 0.1):
        before = time.time()
        manager.log({"loss": value})
        stamps.append((before, time.time()))
        time.sleep(0.01)
    logged = _version(manager)["timestamps"]["loss"]
    assert len(logged) == 3
    for value, (before, after) in zip(logged, stamps, strict=True):
        assert type(value) is float
        assert before <= value <= after
    assert logged == sorted(logged)


# -- values ---------------------------------------------------------------------------

EXACT_VALUES: list[tuple[Any, int | float]] = [
    (0.1, 0.1),
    (1.0 / 3.0, 1.0 / 3.0),
    (-0.0, -0.0),
    (5e-324, 5e-324),
    (1.7976931348623157e308, 1.7976931348623157e308),
    (-2.5e-300, -2.5e-300),
    (2.0**53 + 2.0, 2.0**53 + 2.0),
    (3, 3),
    (-7, -7),
    (2**63 - 1, 2**63 - 1),
    (-(2**63), -(2**63)),
    (2**64 - 1, 2**64 - 1),
    (float("nan"), float("nan")),
    (float("inf"), float("inf")),
    (float("-inf"), float("-inf")),
    (np.float32(0.1), float(np.float32(0.1))),
    (np.float64(1.0 / 7.0), 1.0 / 7.0),
    (np.float16(0.333), float(np.float16(0.333))),
    (np.float32("nan"), float("nan")),
    (np.float64("-inf"), float("-inf")),
    (np.int64(-5), -5),
    (np.int32(12), 12),
    (np.uint8(200), 200),
    (np.uint64(2**64 - 1), 2**64 - 1),
]


@across_processes
def test_values_read_back_exactly_while_running_from_another_process_and_after_end(
    manager: ExperimentManager,
    log_dir: Path,
    tmp_path: Path,
    process_log_dir: Callable[[Path], str],
) -> None:
    _start(manager)
    for value, _ in EXACT_VALUES:
        manager.log({"v": value})
    manager.log({name: value for name, (value, _) in zip("abcdefgh", EXACT_VALUES, strict=False)})
    expected = [converted for _, converted in EXACT_VALUES]
    expected_row = dict(zip("abcdefgh", expected, strict=False))

    live = _version(manager)
    assert_same(live["metrics"]["v"], expected)
    assert_same(
        {name: live["metrics"][name] for name in "abcdefgh"},
        {name: [value] for name, value in expected_row.items()},
    )

    other = _read_in_other_process(tmp_path, process_log_dir(log_dir))[0]
    assert_same(other["metrics"]["v"], expected)
    assert other["steps"]["v"] == list(range(len(EXACT_VALUES)))

    manager.end_experiment()
    ended = _version(manager)
    assert_same(ended["metrics"]["v"], expected)
    assert_same(
        {name: ended["metrics"][name] for name in "abcdefgh"},
        {name: [value] for name, value in expected_row.items()},
    )


# -- validation -----------------------------------------------------------------------

BAD_POINTS: list[tuple[dict[Any, Any], object]] = [
    ({"loss": "0.5"}, "loss"),
    ({"loss": None}, "loss"),
    ({"loss": True}, "loss"),
    ({"loss": False}, "loss"),
    ({"loss": np.bool_(True)}, "loss"),
    ({"loss": [0.5]}, "loss"),
    ({"loss": (0.5,)}, "loss"),
    ({"loss": {"value": 0.5}}, "loss"),
    ({"loss": {}}, "loss"),
    ({"loss": np.array([0.5, 0.6])}, "loss"),
    ({"loss": 1 + 2j}, "loss"),
    ({"loss": 2**64}, "loss"),
    ({"loss": -(2**63) - 1}, "loss"),
    ({"ok": 0.5, "loss": "bad"}, "loss"),
    ({"ok": 0.5, "loss": None, "also_ok": 1}, "loss"),
    ({"": 0.5}, ""),
    ({"ok": 0.5, "": 0.5}, ""),
    ({1: 0.5}, 1),
    ({b"loss": 0.5}, b"loss"),
    ({("a", "b"): 0.5}, ("a", "b")),
    ({None: 0.5}, None),
]


@written_through
@pytest.mark.parametrize(("point", "metric"), BAD_POINTS, ids=repr)
def test_bad_values_and_names_raise_a_typed_error_naming_the_metric_and_write_nothing(
    manager: ExperimentManager, log_dir: Path, point: dict[Any, Any], metric: object
) -> None:
    _start(manager)
    assert manager.log({"loss": 1.0}) == 0
    journals, history = _journal_bytes(log_dir), history_path(log_dir, EXPERIMENT_ID).read_bytes()
    assert journals  # the journal exists and holds the first point

    with pytest.raises(InvalidMetricError) as caught:
        manager.log(point)
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.metric == metric
    assert repr(metric) in str(caught.value)

    assert _journal_bytes(log_dir) == journals
    assert history_path(log_dir, EXPERIMENT_ID).read_bytes() == history
    assert manager.log({"loss": 2.0}) == 1  # the failed call used no step
    record = _version(manager)
    assert_same(record["metrics"], {"loss": [1.0, 2.0]})


@pytest.mark.parametrize(
    ("name", "value"), [("loss", "x"), ("loss", None), ("loss", True), ("", 1.0), (3, 1.0)]
)
def test_log_metric_rejects_bad_names_and_values(
    manager: ExperimentManager, log_dir: Path, name: Any, value: Any
) -> None:
    _start(manager)
    before = _journal_bytes(log_dir)
    with pytest.raises(InvalidMetricError) as caught:
        manager.log_metric(name, value)
    assert caught.value.metric == name
    assert _journal_bytes(log_dir) == before


@pytest.mark.parametrize("metrics", ["loss", None, [("loss", 0.5)], 0.5])
def test_log_needs_a_mapping(manager: ExperimentManager, log_dir: Path, metrics: Any) -> None:
    _start(manager)
    before = _journal_bytes(log_dir)
    with pytest.raises(InvalidArgumentError) as caught:
        manager.log(metrics)
    assert caught.value.argument == "metrics"
    assert isinstance(caught.value, TypeError)
    assert _journal_bytes(log_dir) == before


@pytest.mark.parametrize(
    "step",
    [
        -1,
        1.5,
        True,
        "3",
        np.int64(-2),
        2.0,
        "step",
        # log() documents InvalidArgumentError for a step it cannot take; a step beyond
        # 64 bits cannot be written to the journal, so it must be refused the same way
        # (not with the JSON encoder's bare TypeError), and leave the run usable.
        2**64,
        2**70,
    ],
)
def test_bad_steps_raise_invalid_argument_and_write_nothing(
    manager: ExperimentManager, log_dir: Path, step: Any
) -> None:
    _start(manager)
    manager.log({"loss": 1.0})
    before = _journal_bytes(log_dir)
    with pytest.raises(InvalidArgumentError) as caught:
        manager.log({"loss": 0.5}, step=step)
    assert caught.value.argument == "step"
    assert _journal_bytes(log_dir) == before
    assert manager.log({"loss": 2.0}) == 1


def test_log_and_flush_need_an_active_experiment(manager: ExperimentManager) -> None:
    with pytest.raises(NoActiveExperimentError):
        manager.log({"loss": 1.0})
    with pytest.raises(NoActiveExperimentError):
        manager.log_metric("loss", 1.0)
    with pytest.raises(NoActiveExperimentError):
        manager.flush()
    _start(manager)
    manager.log({"loss": 1.0})
    manager.end_experiment()
    with pytest.raises(RuntimeError):
        manager.log({"loss": 2.0})
    assert_same(_version(manager)["metrics"], {"loss": [1.0]})


# -- reading while live, mixing with log_metrics, folding --------------------------------


@across_processes
def test_another_process_reads_streamed_points_while_the_run_is_live(
    manager: ExperimentManager,
    log_dir: Path,
    tmp_path: Path,
    process_log_dir: Callable[[Path], str],
) -> None:
    _start(manager)
    before = time.time()
    manager.log({"loss": 0.9, "acc": 0.1})
    manager.log_metrics({"loss": [0.8, 0.7], "batch_only": [1, 2, 3]})
    manager.log({"loss": 0.6}, step=5)
    manager.log({"acc": float("nan")})
    manager.log_metrics({"loss": 0.5})
    manager.log({"loss": float("-inf")})
    after = time.time()

    record = _read_in_other_process(tmp_path, process_log_dir(log_dir))[0]
    assert record["status"] == "running"
    assert record["ended_at"] is None
    assert_same(
        record["metrics"],
        {
            "loss": [0.9, 0.8, 0.7, 0.6, 0.5, float("-inf")],
            "acc": [0.1, float("nan")],
            "batch_only": [1, 2, 3],
        },
    )
    # log_metrics' values take the next steps, and have their call's time.
    assert record["steps"] == {
        "loss": [0, 1, 2, 5, 7, 8],
        "acc": [0, 6],
        "batch_only": [1, 2, 3],
    }
    assert set(record["timestamps"]) == {"loss", "acc", "batch_only"}
    loss_times = record["timestamps"]["loss"]
    assert all(before <= t <= after for t in loss_times)
    assert len(record["timestamps"]["acc"]) == 2

    # The writer's own read agrees.
    mine = _version(manager)
    assert_same(mine["metrics"], record["metrics"])
    assert mine["steps"] == record["steps"]
    assert mine["status"] == "running"


@written_through
def test_end_folds_the_journal_into_the_history_file_and_removes_it(
    manager: ExperimentManager, log_dir: Path
) -> None:
    _start(manager)
    for i in range(200):
        manager.log({"loss": 1.0 / (i + 1), "step_sq": i * i})
    manager.log_metrics({"loss": [0.001]})
    manager.log({"loss": float("nan"), "edge": float("inf")})
    assert _journals(log_dir)  # the points are in a journal, not in the history
    on_disk = json.loads(history_path(log_dir, EXPERIMENT_ID).read_text(encoding="utf-8"))
    assert len(on_disk["versions"][0]["metrics"].get("loss", [])) < 202

    manager.end_experiment()

    assert _journals(log_dir) == []
    assert list((log_dir / ".expm").rglob("*.jsonl")) == []
    with history_path(log_dir, EXPERIMENT_ID).open(encoding="utf-8") as handle:
        document = json.load(handle)
    strict_loads(history_path(log_dir, EXPERIMENT_ID).read_text(encoding="utf-8"))
    (stored,) = document["versions"]
    assert stored["status"] == "finished"
    expected_loss: list[Any] = [1.0 / (i + 1) for i in range(200)] + [0.001, "NaN"]
    assert_same(stored["metrics"]["loss"], expected_loss)
    assert_same(stored["metrics"]["step_sq"], [i * i for i in range(200)])
    assert stored["metrics"]["edge"] == ["Infinity"]
    assert stored["steps"]["loss"] == [*range(200), 200, 201]  # log_metrics took 200
    assert stored["steps"]["step_sq"] == list(range(200))
    assert len(stored["timestamps"]["loss"]) == 202
    assert isinstance(stored["timestamps"]["loss"][200], float)
    # read_history after the end agrees with the file.
    record = _version(manager)
    assert_same(record["metrics"]["loss"], [*expected_loss[:201], float("nan")])


# -- torn journal lines -----------------------------------------------------------------

CRASHING_WRITER = """\
import os
import signal
import sys

from experiment_manager import ExperimentManager

manager = ExperimentManager(sys.argv[1])
manager.start_experiment("stream", {}, {}, experiment_id="stream")
for i in range(5):
    manager.log({"loss": i * 0.5})
os.kill(os.getpid(), signal.SIGKILL)
"""


@written_through
@pytest.mark.parametrize(
    "torn",
    [b'{"m":{"loss":9', b'{"m":{"loss":9.0},"s":5,"t":1.0}', b'{"m":{"lo'],
    ids=["cut-in-value", "complete-json-without-newline", "cut-in-name"],
)
def test_a_torn_last_journal_line_is_ignored_by_readers_and_cut_off_on_resume(
    log_dir: Path, tmp_path: Path, torn: bytes
) -> None:
    script = write_script(tmp_path / "scripts", "crash.py", CRASHING_WRITER)
    done = run_python([str(script), str(log_dir)], cwd=tmp_path)
    assert done.returncode == -signal.SIGKILL, done.stderr
    (journal,) = _journals(log_dir)
    complete = journal.read_bytes()
    assert complete.endswith(b"\n")
    with journal.open("ab") as handle:
        handle.write(torn)

    reader = ExperimentManager(log_dir)
    (record,) = reader.read_history(EXPERIMENT_ID)
    assert record["status"] == "crashed"
    assert_same(record["metrics"], {"loss": [0.0, 0.5, 1.0, 1.5, 2.0]})
    assert record["steps"] == {"loss": [0, 1, 2, 3, 4]}
    assert journal.read_bytes() == complete + torn  # reading changes nothing

    resumed = ExperimentManager(log_dir)
    resumed.resume_experiment(EXPERIMENT_ID)
    for path in _journals(log_dir):  # the torn tail is gone: only whole lines remain
        data = path.read_bytes()
        assert data == b"" or data.endswith(b"\n"), data[-60:]
        for line in data.splitlines():
            strict_loads(line)
    assert resumed.log({"loss": 3.0}) == 5
    (record,) = resumed.read_history(EXPERIMENT_ID)
    assert_same(record["metrics"], {"loss": [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]})
    assert record["steps"] == {"loss": [0, 1, 2, 3, 4, 5]}
    for path in _journals(log_dir):
        for line in path.read_bytes().splitlines():
            strict_loads(line)

    resumed.end_experiment()
    document = strict_loads(history_path(log_dir, EXPERIMENT_ID).read_text(encoding="utf-8"))
    assert_same(document["versions"][0]["metrics"], {"loss": [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]})
    assert _journals(log_dir) == []


# -- fsync ------------------------------------------------------------------------------


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the path of every file handed to os.fsync."""
    calls: list[str] = []
    real_fsync = os.fsync

    def counting_fsync(fd: Any) -> None:
        number = fd if isinstance(fd, int) else fd.fileno()
        calls.append(os.readlink(f"/proc/self/fd/{number}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    return calls


def _is_journal(path: str) -> bool:
    return f"/.expm/journals/{EXPERIMENT_ID}/" in path and path.endswith(".jsonl")


@files_only
@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_log_does_not_fsync_by_default_and_flush_does(log_dir: Path, fsyncs: list[str]) -> None:
    manager = ExperimentManager(log_dir)
    _start(manager)
    fsyncs.clear()
    for i in range(50):
        manager.log({"loss": float(i)})
    assert fsyncs == []
    manager.flush()
    assert len(fsyncs) >= 1
    assert all(_is_journal(path) for path in fsyncs), fsyncs
    manager.end_experiment()


@files_only
@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_fsync_every_log_syncs_the_journal_before_each_log_returns(
    log_dir: Path, fsyncs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = ExperimentManager(log_dir, fsync_every_log=True)
    _start(manager)
    fsyncs.clear()
    for i in range(30):
        count = len(fsyncs)
        manager.log({"loss": float(i)})
        new = fsyncs[count:]
        assert len(new) >= 1, f"log {i} returned without an fsync"
        assert any(_is_journal(path) for path in new), new
    manager.end_experiment()
    assert_same(_version(manager)["metrics"]["loss"], [float(i) for i in range(30)])


def test_flush_keeps_every_point(manager: ExperimentManager, log_dir: Path) -> None:
    _start(manager)
    for i in range(10):
        manager.log({"loss": math.sqrt(i)})
        manager.flush()
    assert_same(_version(manager)["metrics"]["loss"], [math.sqrt(i) for i in range(10)])
