"""Run lifecycle: statuses, ending, exit and signals, crash detection, resume, environment."""

from __future__ import annotations

import json
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

from experiment_manager import ExperimentManager
from experiment_manager.errors import (
    ExperimentNotFoundError,
    InvalidArgumentError,
    NoActiveExperimentError,
    RunActiveError,
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

EXPERIMENT_ID = "life"

pytestmark = [
    pytest.mark.usefixtures("each_store"),
    pytest.mark.skipif(
        not hasattr(signal, "SIGKILL") or sys.platform == "win32", reason="needs POSIX signals"
    ),
]


# log_dir and manager: tests/conftest.py


def _history(log_dir: Path, experiment_id: str = EXPERIMENT_ID) -> list[dict[str, Any]]:
    return ExperimentManager(log_dir).read_history(experiment_id)


def _status(log_dir: Path, version: int = 1) -> str:
    (record,) = [r for r in _history(log_dir) if r["version"] == version]
    status: str = record["status"]
    return status


def _journals(log_dir: Path) -> list[Path]:
    return sorted((log_dir / ".expm" / "journals").rglob("*.jsonl"))


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment


# -- subprocess helpers -------------------------------------------------------------------

#: A writer: starts (or resumes) a version, logs three points, says "ready <version>",
#: then does what its mode says.
WRITER = """\
import os
import signal
import sys
import time

from experiment_manager import ExperimentManager

log_dir, experiment_id, mode = sys.argv[1], sys.argv[2], sys.argv[3]
manager = ExperimentManager(log_dir, lock_timeout=5)
if mode == "own-handler":
    def handler(signum, frame):
        print("own handler", flush=True)
        sys.exit(7)
    signal.signal(signal.SIGTERM, handler)
record = manager.start_experiment("life", {"mode": mode}, {}, experiment_id=experiment_id)
for i in range(3):
    manager.log({"loss": 1.0 / (i + 1)})
print("ready", record.version, os.getpid(), flush=True)
if mode in ("sleep", "own-handler"):
    time.sleep(120)
elif mode == "raise":
    raise ValueError("diverged at step 3")
elif mode == "exit":
    pass
elif mode == "write-loop":
    # Keep the history's lock busy: every log_metrics rewrites a large history.
    manager.log_metrics({"big": list(range(100_000))})
    i = 0
    while True:
        manager.log_metrics({"x": i})
        i += 1
elif mode == "self-kill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


class Writer:
    """A writer subprocess; ``version`` and ``pid`` come from its ready line."""

    def __init__(self, script: Path, log_dir: str, mode: str, experiment_id: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(script), log_dir, experiment_id, mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.read_line(timeout=60)
        word, version, pid = line.split()
        assert word == "ready", line
        self.version, self.pid = int(version), int(pid)

    def read_line(self, timeout: float) -> str:
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        assert ready, "the writer said nothing in time"
        line = stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            assert self.process.stderr is not None
            raise AssertionError(
                f"writer exited {self.process.returncode}: {self.process.stderr.read()}"
            )
        return line.strip()

    def signal(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.wait()

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def writer_script(tmp_path: Path) -> Path:
    return write_script(tmp_path / "scripts", "writer.py", WRITER)


@pytest.fixture
def writers() -> Iterator[list[Writer]]:
    started: list[Writer] = []
    yield started
    for writer in started:
        if writer.process.poll() is None:
            writer.process.kill()
            writer.wait()


Spawn = Callable[..., Writer]


@pytest.fixture
def spawn(
    writer_script: Path,
    log_dir: Path,
    writers: list[Writer],
    process_log_dir: Callable[[Path], str],
) -> Spawn:
    """Starts a writer on the store that ``ExperimentManager(log_dir)`` opens here."""

    def start(mode: str, experiment_id: str = EXPERIMENT_ID) -> Writer:
        writer = Writer(writer_script, process_log_dir(log_dir), mode, experiment_id)
        writers.append(writer)
        return writer

    return start


# -- in-process statuses ----------------------------------------------------------------


@written_through
def test_a_started_version_reads_running(manager: ExperimentManager, log_dir: Path) -> None:
    record = manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID)
    assert record.status == "running"
    assert record.ended_at is None
    assert record.duration is None
    assert _status(log_dir) == "running"
    stored = strict_loads(history_path(log_dir, EXPERIMENT_ID).read_text(encoding="utf-8"))
    assert stored["versions"][0]["status"] == "running"


def test_end_experiment_records_finished_with_ended_at_and_duration(
    manager: ExperimentManager, log_dir: Path
) -> None:
    record = manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID)
    manager.log({"loss": 0.5})
    time.sleep(0.05)
    ended = manager.end_experiment()
    assert ended.status == "finished"
    assert ended.error is None
    assert manager.active_experiment is None
    assert record.status == "finished"  # the record handed out earlier follows
    (stored,) = _history(log_dir)
    assert stored["status"] == "finished"
    created, finished = _parse_time(stored["created_at"]), _parse_time(stored["ended_at"])
    assert stored["ended_at"] == ended.ended_at
    assert finished >= created
    assert stored["duration"] == pytest.approx((finished - created).total_seconds(), abs=1e-3)
    assert stored["duration"] >= 0.05
    assert stored["error"] is None
    with pytest.raises(NoActiveExperimentError):
        manager.end_experiment()


@pytest.mark.parametrize(
    ("status", "error", "expected_error"),
    [
        ("failed", ValueError("loss is nan"), {"type": "ValueError", "message": "loss is nan"}),
        ("failed", "out of memory", {"type": "Error", "message": "out of memory"}),
        ("killed", None, None),
        ("finished", None, None),
    ],
)
def test_end_experiment_with_a_status(
    manager: ExperimentManager,
    log_dir: Path,
    status: str,
    error: Any,
    expected_error: dict[str, str] | None,
) -> None:
    manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID)
    ended = manager.end_experiment(status, error)
    assert ended.status == status
    assert ended.error == expected_error
    (stored,) = _history(log_dir)
    assert stored["status"] == status
    assert stored["error"] == expected_error
    assert stored["ended_at"] is not None
    assert isinstance(stored["duration"], float)


@pytest.mark.parametrize("status", ["crashed", "running", "done", "", None])
def test_end_experiment_rejects_other_statuses_and_keeps_the_run(
    manager: ExperimentManager, log_dir: Path, status: Any
) -> None:
    manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID)
    with pytest.raises(InvalidArgumentError):
        manager.end_experiment(status)
    assert manager.active_experiment is not None
    assert _status(log_dir) == "running"
    manager.log({"loss": 1.0})  # still usable


def test_with_block_ends_finished(manager: ExperimentManager, log_dir: Path) -> None:
    with manager.experiment("life", {"lr": 0.1}, experiment_id=EXPERIMENT_ID) as record:
        manager.log({"loss": 0.5})
        assert _status(log_dir) == "running"
    assert record.status == "finished"
    assert manager.active_experiment is None
    (stored,) = _history(log_dir)
    assert stored["status"] == "finished"
    assert stored["error"] is None
    assert stored["ended_at"] is not None
    assert_same(stored["metrics"], {"loss": [0.5]})
    assert _journals(log_dir) == []


def _fail_inside(manager: ExperimentManager, error: BaseException) -> None:
    with manager.experiment("life", {}, experiment_id=EXPERIMENT_ID):
        manager.log({"loss": 0.25})
        raise error


def test_with_block_ends_failed_with_the_exception_and_reraises(
    manager: ExperimentManager, log_dir: Path
) -> None:
    with pytest.raises(RuntimeError, match="CUDA error: device-side assert"):
        _fail_inside(manager, RuntimeError("CUDA error: device-side assert"))
    (stored,) = _history(log_dir)
    assert stored["status"] == "failed"
    assert stored["error"] == {"type": "RuntimeError", "message": "CUDA error: device-side assert"}
    assert_same(stored["metrics"], {"loss": [0.25]})
    assert manager.active_experiment is None


def test_with_block_keyboard_interrupt_ends_killed_and_reraises(
    manager: ExperimentManager, log_dir: Path
) -> None:
    with pytest.raises(KeyboardInterrupt):
        _fail_inside(manager, KeyboardInterrupt())
    (stored,) = _history(log_dir)
    assert stored["status"] == "killed"
    assert stored["ended_at"] is not None
    assert manager.active_experiment is None


def test_with_block_that_ends_its_run_itself_is_not_ended_twice(
    manager: ExperimentManager, log_dir: Path
) -> None:
    with manager.experiment("life", {}, experiment_id=EXPERIMENT_ID):
        manager.end_experiment("killed")
    assert _status(log_dir) == "killed"


def test_starting_another_experiment_ends_the_previous_one_as_finished(
    manager: ExperimentManager, log_dir: Path
) -> None:
    first = manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID)
    manager.log({"loss": 0.5})
    manager.start_experiment("other", {}, {}, experiment_id="other")
    assert first.status == "finished"
    (stored,) = _history(log_dir)
    assert stored["status"] == "finished"
    assert stored["ended_at"] is not None
    assert_same(stored["metrics"], {"loss": [0.5]})
    assert _history(log_dir, "other")[0]["status"] == "running"
    # and again within the same id
    manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID)
    manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID)
    assert [r["status"] for r in _history(log_dir)] == ["finished", "finished", "running"]
    assert _history(log_dir, "other")[0]["status"] == "finished"


# -- process exit and signals --------------------------------------------------------------


@across_processes
def test_a_process_that_exits_normally_ends_its_run_finished(spawn: Spawn, log_dir: Path) -> None:
    writer = spawn("exit")
    assert writer.wait() == 0
    (stored,) = _history(log_dir)
    assert stored["status"] == "finished"
    assert stored["error"] is None
    assert stored["ended_at"] is not None
    assert_same(stored["metrics"], {"loss": [1.0, 0.5, 1.0 / 3]})


@files_only
def test_a_process_that_exits_normally_leaves_no_journal_and_a_finished_file(
    spawn: Spawn, log_dir: Path
) -> None:
    assert spawn("exit").wait() == 0
    assert _journals(log_dir) == []  # folded at exit
    file = strict_loads(history_path(log_dir, EXPERIMENT_ID).read_text(encoding="utf-8"))
    assert file["versions"][0]["status"] == "finished"


@across_processes
def test_a_process_dying_of_an_uncaught_exception_ends_its_run_failed(
    spawn: Spawn, log_dir: Path
) -> None:
    writer = spawn("raise")
    assert writer.wait() == 1
    (stored,) = _history(log_dir)
    assert stored["status"] == "failed"
    assert stored["error"] == {"type": "ValueError", "message": "diverged at step 3"}
    assert stored["ended_at"] is not None
    assert_same(stored["metrics"], {"loss": [1.0, 0.5, 1.0 / 3]})


@across_processes
def test_sigterm_ends_the_run_killed_and_the_process_still_dies_of_sigterm(
    spawn: Spawn, log_dir: Path
) -> None:
    writer = spawn("sleep")
    assert _status(log_dir) == "running"
    assert writer.signal(signal.SIGTERM) == -signal.SIGTERM
    (stored,) = _history(log_dir)
    assert stored["status"] == "killed"
    assert stored["ended_at"] is not None
    assert_same(stored["metrics"], {"loss": [1.0, 0.5, 1.0 / 3]})


@files_only
def test_sigterm_leaves_no_journal(spawn: Spawn, log_dir: Path) -> None:
    assert spawn("sleep").signal(signal.SIGTERM) == -signal.SIGTERM
    assert _journals(log_dir) == []


@across_processes
def test_a_program_with_its_own_sigterm_handler_keeps_it(spawn: Spawn, log_dir: Path) -> None:
    writer = spawn("own-handler")
    writer.process.send_signal(signal.SIGTERM)
    assert writer.read_line(timeout=30) == "own handler"
    assert writer.wait() == 7
    assert _status(log_dir) == "finished"  # sys.exit(7) in the handler, then atexit


@across_processes
def test_sigterm_while_the_history_is_being_written_still_ends_the_run_killed(
    spawn: Spawn, log_dir: Path
) -> None:
    """SIGTERM can arrive while log_metrics holds the history's lock.

    The handler must still record ``killed`` and let the process die promptly;
    it must not wait for the lock its own interrupted frame holds.
    """
    writer = spawn("write-loop")
    time.sleep(0.5)  # let it get into its loop of history rewrites
    started = time.monotonic()
    assert writer.signal(signal.SIGTERM) == -signal.SIGTERM
    elapsed = time.monotonic() - started
    history = _history(log_dir)
    assert history[0]["status"] == "killed", (history[0]["status"], f"{elapsed:.1f} s")
    assert elapsed < 4.0


@across_processes
def test_sigkill_reads_crashed_for_any_later_reader(spawn: Spawn, log_dir: Path) -> None:
    writer = spawn("sleep")
    assert writer.signal(signal.SIGKILL) == -signal.SIGKILL
    for _ in range(3):
        (stored,) = _history(log_dir)
        assert stored["status"] == "crashed"
        assert stored["ended_at"] is None
        assert_same(stored["metrics"], {"loss": [1.0, 0.5, 1.0 / 3]})


@files_only
def test_a_sigkilled_run_still_says_running_in_its_file(spawn: Spawn, log_dir: Path) -> None:
    assert spawn("sleep").signal(signal.SIGKILL) == -signal.SIGKILL
    assert _status(log_dir) == "crashed"
    # "crashed" is what readers see; the file still says running (nobody ended it).
    file = strict_loads(history_path(log_dir, EXPERIMENT_ID).read_text(encoding="utf-8"))
    assert file["versions"][0]["status"] == "running"


@across_processes
def test_a_process_that_kills_itself_reads_crashed(
    writer_script: Path, log_dir: Path, tmp_path: Path, process_log_dir: Callable[[Path], str]
) -> None:
    arguments = [str(writer_script), process_log_dir(log_dir), EXPERIMENT_ID, "self-kill"]
    done = run_python(arguments, cwd=tmp_path)
    assert done.returncode == -signal.SIGKILL, done.stderr
    (stored,) = _history(log_dir)
    assert stored["status"] == "crashed"
    assert_same(stored["metrics"], {"loss": [1.0, 0.5, 1.0 / 3]})


@across_processes
@pytest.mark.parametrize("killed_first", ["older", "newer"])
def test_a_live_run_reads_running_and_a_killed_one_crashed_in_either_order(
    spawn: Spawn, log_dir: Path, killed_first: str
) -> None:
    older, newer = spawn("sleep"), spawn("sleep")
    assert (older.version, newer.version) == (1, 2)
    for _ in range(20):
        assert [r["status"] for r in _history(log_dir)] == ["running", "running"]
    victim, survivor = (older, newer) if killed_first == "older" else (newer, older)
    assert victim.signal(signal.SIGKILL) == -signal.SIGKILL
    for _ in range(20):
        assert _status(log_dir, victim.version) == "crashed"
        assert _status(log_dir, survivor.version) == "running"
    assert survivor.process.poll() is None
    assert survivor.signal(signal.SIGKILL) == -signal.SIGKILL
    assert [r["status"] for r in _history(log_dir)] == ["crashed", "crashed"]


READER_LOOP = """\
import json
import sys
import time
from collections import Counter

from experiment_manager import ExperimentManager

manager = ExperimentManager(sys.argv[1])
seen = Counter()
deadline = time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    for record in manager.read_history(sys.argv[2]):
        seen[record["status"]] += 1
print(json.dumps(seen))
"""


@across_processes
def test_concurrent_readers_of_a_crashed_run_all_read_crashed(
    spawn: Spawn, log_dir: Path, tmp_path: Path, process_log_dir: Callable[[Path], str]
) -> None:
    """Readers must not take each other's liveness probe for a live writer."""
    writer = spawn("sleep")
    assert writer.signal(signal.SIGKILL) == -signal.SIGKILL
    script = write_script(tmp_path / "scripts", "reader_loop.py", READER_LOOP)
    readers = [
        subprocess.Popen(
            [sys.executable, str(script), process_log_dir(log_dir), EXPERIMENT_ID, "2.0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [reader.communicate(timeout=60)[0] for reader in readers]
    for reader, output in zip(readers, outputs, strict=True):
        assert reader.returncode == 0
        seen = json.loads(output)
        assert seen.get("crashed", 0) > 0
        assert set(seen) == {"crashed"}, seen


ENDING_WRITER = """\
import sys

from experiment_manager import ExperimentManager

manager = ExperimentManager(sys.argv[1], capture_environment=False)
for version in range(int(sys.argv[2])):
    manager.start_experiment("life", {}, {}, experiment_id="life")
    for i in range(int(sys.argv[3])):
        manager.log({"loss": i * 0.5})
    manager.end_experiment()
"""


@across_processes
def test_a_run_that_ends_cleanly_never_reads_crashed_or_short_while_it_ends(
    log_dir: Path, tmp_path: Path, process_log_dir: Callable[[Path], str]
) -> None:
    """A reader racing with end_experiment sees running or finished, never a crash."""
    versions, points = 25, 5000
    script = write_script(tmp_path / "scripts", "ending.py", ENDING_WRITER)
    process = subprocess.Popen(
        [sys.executable, str(script), process_log_dir(log_dir), str(versions), str(points)]
    )
    reader = ExperimentManager(log_dir)
    wrong: list[tuple[int, str, int]] = []
    reads = 0
    try:
        while process.poll() is None:
            try:
                history = reader.read_history(EXPERIMENT_ID)
            except ExperimentNotFoundError:  # the writer has not started its first version
                continue
            for record in history:
                count = len(record["metrics"].get("loss", []))
                if record["status"] not in ("running", "finished") or (
                    record["status"] == "finished" and count != points
                ):
                    wrong.append((record["version"], record["status"], count))
            reads += 1
    finally:
        assert process.wait(timeout=120) == 0
    assert reads > 10
    assert wrong == [], f"{len(wrong)} wrong reads in {reads}, e.g. {wrong[:5]}"
    assert [r["status"] for r in reader.read_history(EXPERIMENT_ID)] == ["finished"] * versions


# -- resume ----------------------------------------------------------------------------------

CRASH_AFTER_STEPS = """\
import os
import signal
import sys

from experiment_manager import ExperimentManager

manager = ExperimentManager(sys.argv[1])
manager.start_experiment("life", {"lr": 0.1}, {}, experiment_id="life")
for i in range(5):
    manager.log({"loss": 1.0 - i / 10})
manager.log({"acc": 0.5}, step=7)
os.kill(os.getpid(), signal.SIGKILL)
"""

RESUMER = """\
import json
import os
import sys

from experiment_manager import ExperimentManager

manager = ExperimentManager(sys.argv[1])
version = None if sys.argv[2] == "latest" else int(sys.argv[2])
record = manager.resume_experiment("life", version=version)
status = record.status
steps = [manager.log({"loss": 0.25}), manager.log({"loss": 0.125}, step=3)]
steps.append(manager.log({"loss": 0.0625}))
manager.end_experiment()
print(json.dumps({"pid": os.getpid(), "version": record.version,
                  "status": status, "resumed": record.resumed, "steps": steps}))
"""


def _crash_a_run(tmp_path: Path, log_dir: Path, location: str) -> None:
    """Crash a version of ``log_dir``'s store in a child given ``location`` as its log_dir."""
    script = write_script(tmp_path / "scripts", "crash.py", CRASH_AFTER_STEPS)
    done = run_python([str(script), location], cwd=tmp_path)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert _status(log_dir) == "crashed"


def _resume_in_new_process(tmp_path: Path, location: str, version: str) -> dict[str, Any]:
    script = write_script(tmp_path / "scripts", "resume.py", RESUMER)
    done = run_python([str(script), location, version], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@across_processes
@pytest.mark.parametrize("version", ["latest", "1"])
def test_resume_in_a_new_process_continues_after_the_last_step(
    tmp_path: Path,
    log_dir: Path,
    version: str,
    each_store: str,
    process_log_dir: Callable[[Path], str],
) -> None:
    _crash_a_run(tmp_path, log_dir, process_log_dir(log_dir))
    before = time.time()
    result = _resume_in_new_process(tmp_path, process_log_dir(log_dir), version)
    assert result["version"] == 1
    assert result["status"] == "running"
    assert result["steps"] == [8, 3, 4]  # after the largest step (7); explicit 3 as given
    (entry,) = result["resumed"]
    assert entry["from_status"] == "crashed"
    assert entry["pid"] == result["pid"]
    assert entry["hostname"] == socket.gethostname()
    assert _parse_time(entry["at"]).timestamp() >= before - 1

    (stored,) = _history(log_dir)
    assert stored["status"] == "finished"
    assert stored["resumed"] == result["resumed"]
    # The re-logged step 3 is appended: both values are kept, in logging order.
    assert_same(stored["metrics"]["loss"], [1.0, 0.9, 0.8, 0.7, 0.6, 0.25, 0.125, 0.0625])
    assert stored["steps"]["loss"] == [0, 1, 2, 3, 4, 8, 3, 4]
    assert stored["steps"]["acc"] == [7]
    times = stored["timestamps"]["loss"]
    assert times[6] > times[3]  # the two values of step 3 told apart by their time
    assert stored["hyperparameters"] == {"lr": 0.1}
    if each_store in ("small", "big"):
        assert _journals(log_dir) == []  # the resumed run's journal was folded at its end


@across_processes
def test_resume_records_each_resume_with_its_previous_status(
    manager: ExperimentManager,
    tmp_path: Path,
    log_dir: Path,
    process_log_dir: Callable[[Path], str],
) -> None:
    _crash_a_run(tmp_path, log_dir, process_log_dir(log_dir))
    manager.resume_experiment(EXPERIMENT_ID)
    manager.end_experiment("failed", "nan loss")
    manager.resume_experiment(EXPERIMENT_ID)
    manager.end_experiment()
    record = manager.resume_experiment(EXPERIMENT_ID)
    assert [entry["from_status"] for entry in record.resumed] == ["crashed", "failed", "finished"]
    assert all(entry["pid"] == os.getpid() for entry in record.resumed)
    assert record.status == "running"
    assert _status(log_dir) == "running"
    (stored,) = _history(log_dir)
    assert stored["ended_at"] is None
    assert stored["error"] is None
    manager.end_experiment()


def test_resume_picks_the_latest_version_by_default(
    manager: ExperimentManager, log_dir: Path
) -> None:
    for _ in range(3):
        manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID)
        manager.log({"loss": 1.0})
    manager.end_experiment()
    assert manager.resume_experiment(EXPERIMENT_ID).version == 3
    assert manager.log({"loss": 0.5}) == 1
    assert manager.resume_experiment(EXPERIMENT_ID, version=1).version == 1  # ends v3
    assert manager.log({"loss": 0.5}) == 1
    manager.end_experiment()
    assert [r["status"] for r in _history(log_dir)] == ["finished"] * 3
    assert [len(r["resumed"]) for r in _history(log_dir)] == [1, 0, 1]


@pytest.mark.parametrize(("experiment_id", "version"), [("nope", None), ("life", 9)])
def test_resume_of_an_unknown_experiment_or_version_raises(
    manager: ExperimentManager, experiment_id: str, version: int | None
) -> None:
    manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID)
    manager.end_experiment()
    with pytest.raises(ExperimentNotFoundError):
        manager.resume_experiment(experiment_id, version=version)
    assert manager.active_experiment is None


@across_processes
def test_resume_is_refused_while_another_live_process_runs_the_version(
    spawn: Spawn, log_dir: Path, each_store: str
) -> None:
    writer = spawn("sleep")
    on_folder = each_store in ("small", "big")
    before_bytes = history_path(log_dir, EXPERIMENT_ID).read_bytes() if on_folder else b""
    other = ExperimentManager(log_dir)
    before = other.read_history(EXPERIMENT_ID)
    for version in (None, 1):
        with pytest.raises(RunActiveError) as caught:
            other.resume_experiment(EXPERIMENT_ID, version=version)
        assert isinstance(caught.value, RuntimeError)
        assert caught.value.experiment_id == EXPERIMENT_ID
        assert caught.value.version == 1
    assert other.active_experiment is None
    if on_folder:  # a refused resume writes nothing at all
        assert history_path(log_dir, EXPERIMENT_ID).read_bytes() == before_bytes
    assert_same(other.read_history(EXPERIMENT_ID), before)
    assert _status(log_dir) == "running"

    assert writer.signal(signal.SIGKILL) == -signal.SIGKILL
    record = other.resume_experiment(EXPERIMENT_ID)
    assert record.resumed[-1]["from_status"] == "crashed"
    assert other.log({"loss": 0.1}) == 3
    other.end_experiment()
    assert_same(_history(log_dir)[0]["metrics"], {"loss": [1.0, 0.5, 1.0 / 3, 0.1]})


def test_resume_is_refused_for_a_version_another_manager_of_this_process_runs(
    manager: ExperimentManager, log_dir: Path
) -> None:
    manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID)
    with pytest.raises(RunActiveError):
        ExperimentManager(log_dir).resume_experiment(EXPERIMENT_ID)
    assert manager.log({"loss": 1.0}) == 0


FORKING_RESUMER = """\
import os
import sys

from experiment_manager import ExperimentManager
from experiment_manager.errors import RunActiveError

refused = resumed = 0
for attempt in range(int(sys.argv[2])):
    pid = os.fork()
    if pid == 0:
        try:
            ExperimentManager(sys.argv[1]).resume_experiment("life")
        except RunActiveError:
            os._exit(3)
        os._exit(0)  # dies holding the version: it is crashed again
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 3:
        refused += 1
    elif code == 0:
        resumed += 1
    else:
        raise SystemExit(f"child exited {code}")
print(refused, resumed)
"""


@across_processes
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_resume_is_not_refused_because_another_process_is_reading(
    tmp_path: Path, log_dir: Path, process_log_dir: Callable[[Path], str]
) -> None:
    """Only a process running the version may make resume fail, never a reader."""
    location = process_log_dir(log_dir)
    _crash_a_run(tmp_path, log_dir, location)
    reader_script = write_script(tmp_path / "scripts", "reader_loop.py", READER_LOOP)
    resumer = write_script(tmp_path / "scripts", "forking.py", FORKING_RESUMER)
    reader = subprocess.Popen(
        [sys.executable, str(reader_script), location, EXPERIMENT_ID, "60"],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)  # the reader is polling
        done = run_python([str(resumer), location, "60"], cwd=tmp_path, timeout=120)
    finally:
        reader.kill()
        reader.wait()
    assert done.returncode == 0, done.stderr
    refused, resumed = map(int, done.stdout.split())
    assert (refused, resumed) == (0, 60)


# -- environment -------------------------------------------------------------------------------

ENV_SCRIPT = """\
import json
import os
import sys

if "--numpy" in sys.argv:
    import numpy

from experiment_manager import ExperimentManager

manager = ExperimentManager(sys.argv[1])
record = manager.start_experiment("life", {}, {}, experiment_id="life")
manager.end_experiment()
print(json.dumps({"pid": os.getpid(), "environment": record.environment}))
"""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("needs git")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "checkout", "-q", "-b", "experiments")
    (repo / "train.py").write_text(ENV_SCRIPT, encoding="utf-8")
    (repo / "README").write_text("v1\n", encoding="utf-8")
    _git(repo, "add", "train.py", "README")
    _git(repo, "commit", "-q", "-m", "first")
    return repo


def test_environment_records_the_git_state_of_the_working_directory(
    repo: Path, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    manager = ExperimentManager(log_dir)
    clean = manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID).environment
    (repo / "README").write_text("v2\n", encoding="utf-8")  # a tracked file changes
    dirty = manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID).environment
    _git(repo, "commit", "-q", "-am", "second")
    committed = manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID).environment
    (repo / "untracked.txt").write_text("x", encoding="utf-8")
    untracked = manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID).environment
    manager.end_experiment()
    head = _git(repo, "rev-parse", "HEAD")
    first = _git(repo, "rev-parse", "HEAD~1")
    assert clean is not None
    assert dirty is not None
    assert committed is not None
    assert untracked is not None
    assert clean["git"] == {"commit": first, "branch": "experiments", "dirty": False}
    assert dirty["git"] == {"commit": first, "branch": "experiments", "dirty": True}
    assert committed["git"] == {"commit": head, "branch": "experiments", "dirty": False}
    assert untracked["git"]["commit"] == head
    assert clean["pid"] == os.getpid()
    assert clean["hostname"] == socket.gethostname()
    assert clean["python"] == platform.python_version()
    assert clean["argv"] == sys.argv
    assert Path(clean["cwd"]) == repo
    assert clean["libraries"]["numpy"] == np.__version__
    stored = _history(log_dir)
    assert [r["environment"]["git"]["dirty"] for r in stored] == [False, True, False, False]
    assert stored[0]["environment"] == clean


def test_environment_outside_a_git_repository_has_no_git(
    tmp_path: Path, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    manager = ExperimentManager(log_dir)
    environment = manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID).environment
    manager.end_experiment()
    assert environment is not None
    assert environment["git"] is None


@across_processes
@pytest.mark.parametrize("with_numpy", [True, False])
def test_environment_of_a_script_run_from_its_repository(
    repo: Path, log_dir: Path, with_numpy: bool, process_log_dir: Callable[[Path], str]
) -> None:
    location = process_log_dir(log_dir)
    args = ["train.py", location, "--lr", "0.1", *(["--numpy"] if with_numpy else [])]
    done = run_python(args, cwd=repo)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    environment = result["environment"]
    # A database URI on the command line is recorded without its password.
    password = urlsplit(location).password if "://" in location else None
    shown = location.replace(f":{password}@", ":***@") if password else location
    assert environment["argv"] == [args[0], shown, *args[2:]]
    assert environment["pid"] == result["pid"]
    assert environment["pid"] != os.getpid()
    assert environment["python"] == platform.python_version()
    assert environment["hostname"] == socket.gethostname()
    assert Path(environment["cwd"]) == repo
    assert environment["git"] == {
        "commit": _git(repo, "rev-parse", "HEAD"),
        "branch": "experiments",
        "dirty": False,
    }
    if with_numpy:
        assert environment["libraries"]["numpy"] == np.__version__
    else:
        assert "numpy" not in environment["libraries"]  # never imported on our behalf
    assert _history(log_dir)[0]["environment"] == environment


@written_through
def test_capture_environment_false_records_none(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    record = manager.start_experiment("life", {}, {}, experiment_id=EXPERIMENT_ID)
    assert record.environment is None
    manager.end_experiment()
    (stored,) = _history(log_dir)
    assert stored["environment"] is None
    file = strict_loads(history_path(log_dir, EXPERIMENT_ID).read_text(encoding="utf-8"))
    assert file["versions"][0]["environment"] is None


def test_a_forked_child_releasing_its_copy_leaves_the_run_alive(tmp_path: Path) -> None:
    from experiment_manager.stores import _liveness

    path = tmp_path / "live" / "1.lock"
    owner = _liveness.take_owner(path)
    assert owner is not None
    child = os.fork()
    if child == 0:  # the child lets go of its inherited copy, as its exit would
        owner.release()
        os._exit(0)
    os.waitpid(child, 0)
    assert path.exists()
    assert _liveness.owner_alive(path)
    assert _liveness.take_owner(path) is None  # still one owner
    owner.release()
    assert not path.exists()
    assert not _liveness.owner_alive(path)
