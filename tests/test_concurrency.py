"""Many writers of one experiment: processes and threads never lose or share a version."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.stores import MemoryStore
from tests._util import load_history_file, write_script

PROCESSES = 8
ITERATIONS = 25
EXPERIMENT_ID = "shared_run"

WORKER = """\
import sys
import time
from pathlib import Path

from experiment_manager import ExperimentManager

log_dir, go_file, worker = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
manager = ExperimentManager(log_dir, lock_timeout=120)
print("ready", flush=True)
deadline = time.monotonic() + 60
while not go_file.exists():  # start all workers at once, for the most contention
    if time.monotonic() > deadline:
        sys.exit("never told to start")
    time.sleep(0.001)
for iteration in range(int(sys.argv[4])):
    record = manager.start_experiment(
        "shared_run", {"worker": worker, "iteration": iteration}, {"pid": worker}
    )
    manager.log_metrics({"value": [worker * 1000 + iteration, worker * 1000 + iteration + 0.5]})
    manager.log_metrics({"iteration": iteration})
    manager.add_checkpoint(f"ckpt/w{worker}/i{iteration}.npz")
    print(f"{worker} {iteration} {record.version}", flush=True)
"""


def _expected_metrics(worker: int, iteration: int) -> dict[str, list[float]]:
    return {
        "value": [worker * 1000 + iteration, worker * 1000 + iteration + 0.5],
        "iteration": [iteration],
    }


@pytest.mark.slow
def test_processes_writing_one_experiment_get_distinct_complete_versions(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    go_file = tmp_path / "go"
    script = write_script(tmp_path, "worker.py", WORKER)
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(log_dir), str(go_file), str(n), str(ITERATIONS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline() == "ready\n"
        go_file.touch()
        outputs = [worker.communicate(timeout=240) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr

    reported: dict[tuple[int, int], int] = {}
    for stdout, _ in outputs:
        for line in stdout.splitlines():
            worker_id, iteration, version = map(int, line.split())
            reported[(worker_id, iteration)] = version
    everyone = {(w, i) for w in range(PROCESSES) for i in range(ITERATIONS)}
    assert set(reported) == everyone
    total = PROCESSES * ITERATIONS
    assert sorted(reported.values()) == list(range(1, total + 1))

    history = ExperimentManager(log_dir).read_history(EXPERIMENT_ID)
    assert [entry["version"] for entry in history] == list(range(1, total + 1))
    owners: Counter[tuple[int, int]] = Counter()
    for entry in history:
        owner = (entry["hyperparameters"]["worker"], entry["hyperparameters"]["iteration"])
        owners[owner] += 1
        worker_id, iteration = owner
        assert reported[owner] == entry["version"], owner
        assert entry["metrics"] == _expected_metrics(worker_id, iteration), entry["version"]
        assert entry["checkpoints"] == [f"ckpt/w{worker_id}/i{iteration}.npz"]
        assert entry["metadata"]["pid"] == worker_id
    assert set(owners) == everyone
    assert set(owners.values()) == {1}
    # The file on disk is the same strict JSON document.
    document = load_history_file(log_dir, EXPERIMENT_ID)
    assert len(document["versions"]) == total
    assert not (log_dir / f".{EXPERIMENT_ID}.json.tmp").exists()


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads every few microseconds, so that races show up in a short run."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


def _run_threads(target: object, count: int) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(number: int) -> None:
        try:
            barrier.wait(timeout=30)
            target(number)  # type: ignore[operator]
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 240
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "threads hung"
    assert errors == [], errors


@pytest.mark.usefixtures("frequent_thread_switches")
@pytest.mark.parametrize("backend", ["file", "memory"])
def test_threads_sharing_one_manager(tmp_path: Path, backend: str) -> None:
    store = MemoryStore() if backend == "memory" else None
    manager = ExperimentManager(tmp_path / "logs", store=store)

    def work(thread: int) -> None:
        for iteration in range(ITERATIONS):
            manager.start_experiment("threads", {"thread": thread, "iteration": iteration}, {})
            manager.log_metrics({"value": thread * 1000 + iteration})
            manager.add_checkpoint(f"t{thread}/i{iteration}.ckpt")

    _run_threads(work, PROCESSES)

    history = manager.read_history("threads")
    total = PROCESSES * ITERATIONS
    assert [entry["version"] for entry in history] == list(range(1, total + 1))
    starters = Counter(
        (entry["hyperparameters"]["thread"], entry["hyperparameters"]["iteration"])
        for entry in history
    )
    everyone = {(t, i) for t in range(PROCESSES) for i in range(ITERATIONS)}
    assert set(starters) == everyone
    assert set(starters.values()) == {1}
    # One experiment is active per manager, so a value may land in another thread's
    # version; but every value and checkpoint is there exactly once.
    values = Counter(v for entry in history for v in entry["metrics"].get("value", []))
    assert values == Counter(t * 1000 + i for t, i in everyone)
    checkpoints = Counter(p for entry in history for p in entry["checkpoints"])
    assert checkpoints == Counter(f"t{t}/i{i}.ckpt" for t, i in everyone)
    if backend == "file":
        manager.end_experiment()
        manager.store.flush("threads")  # a big history's version files, folded now
        assert len(load_history_file(tmp_path / "logs", "threads")["versions"]) == total


@pytest.mark.usefixtures("frequent_thread_switches")
def test_threads_with_their_own_managers_keep_their_own_versions(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    started: dict[tuple[int, int], int] = {}
    lock = threading.Lock()

    def work(thread: int) -> None:
        manager = ExperimentManager(log_dir, lock_timeout=120)
        for iteration in range(ITERATIONS):
            record = manager.start_experiment("own", {"thread": thread}, {})
            manager.log_metrics({"value": [thread, iteration]})
            manager.add_checkpoint(f"t{thread}/i{iteration}.ckpt")
            with lock:
                started[(thread, iteration)] = record.version

    _run_threads(work, PROCESSES)

    total = PROCESSES * ITERATIONS
    assert sorted(started.values()) == list(range(1, total + 1))
    history = {e["version"]: e for e in ExperimentManager(log_dir).read_history("own")}
    assert sorted(history) == list(range(1, total + 1))
    for (thread, iteration), version in started.items():
        entry = history[version]
        assert entry["hyperparameters"] == {"thread": thread}
        assert entry["metrics"] == {"value": [thread, iteration]}
        assert entry["checkpoints"] == [f"t{thread}/i{iteration}.ckpt"]
