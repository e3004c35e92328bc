"""Streaming cost: ``log()`` and the spec's bulk ``log_metrics`` against raw baselines.

``log()``: the baseline does the least work that gives the same guarantee (a point is
in the OS when the call returns): orjson-encode the step's dict and ``os.write`` it to
an ``O_APPEND`` file descriptor.

``log_metrics()``: its guarantee is stronger (the history file itself is current and
durable when the call returns: the specification's contract, DESIGN.md section 3), so
two baselines are printed: the append-only one above (the cost of a journal), and the
least work with that guarantee: keep the history document in memory, add the call's
values with their steps and times (one steps and one times list for the metrics of a
call, as the history shares them), orjson-encode it, write a temp file, fsync, rename,
fsync the folder.

Everything runs in this process, on the same disk, in alternating rounds; the best
round of each is compared.

``log()`` with the system metrics sampler, two ways, each against the same loop
without a sampler, in turning order:

* the rounds above, with a sampler every 0.05 s (200 times the default rate, so that
  a sub-second loop takes several samples and their cost shows);
* at the default interval (10 s), a loop that lasts ``--sampler-seconds`` (25 s: two
  samples land in it) of training steps: a fixed piece of pure-Python work (it holds
  the GIL, as the sampler thread does) then ``log()``. It prints, per step, the time
  inside ``log()``, the whole step's time and the process's CPU time (all threads, so
  the sampler's own work too; the figure the machine's other load disturbs least),
  with and without the sampler.

Each variant prints how many samples the sampler actually took during its loop.

Run: ``python benchmarks/bench_streaming.py [--steps 100000] [--rounds 3]
[--sampler-seconds 25] [--sampler-rounds 2]``
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

from experiment_manager import ExperimentManager

METRICS = [f"metric_{i}" for i in range(10)]


def make_points(steps: int) -> list[dict[str, float]]:
    rng = random.Random(0)
    return [{name: rng.random() for name in METRICS} for _ in range(steps)]


def raw_baseline(folder: Path, points: list[dict[str, float]]) -> float:
    fd = os.open(folder / "raw.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    started = time.perf_counter()
    for step, point in enumerate(points):
        os.write(fd, orjson.dumps({"s": step, "m": point}, option=orjson.OPT_APPEND_NEWLINE))
    elapsed = time.perf_counter() - started
    os.close(fd)
    return elapsed


def samples_taken(manager: ExperimentManager) -> int:
    """How many samples the sampler wrote into the version just ended."""
    [entry] = manager.read_history("bench")
    return len(entry["metrics"].get("system/cpu_percent", []))


def ours(
    folder: Path,
    points: list[dict[str, float]],
    sampling: float | bool = False,
    samples: list[int] | None = None,
) -> float:
    manager = ExperimentManager(
        folder / f"logs_{sampling}", capture_environment=False, system_metrics=sampling
    )
    manager.start_experiment("bench", {}, {})
    log = manager.log
    started = time.perf_counter()
    for point in points:
        log(point)
    elapsed = time.perf_counter() - started
    manager.end_experiment()
    if samples is not None:
        samples.append(samples_taken(manager))
    return elapsed


def training_step_work() -> int:
    """A fixed piece of pure-Python work standing in for a training step's compute."""
    total = 0
    for i in range(3000):  # a fraction of a millisecond: a small model's step
        total += i * i
    return total


Timed = tuple[int, float, float, float, int]


def timed_training(
    folder: Path, points: list[dict[str, float]], seconds: float, sampling: float | bool
) -> Timed:
    """Train for ``seconds``: (steps, seconds inside log(), in all, process CPU, samples).

    The process CPU time (all threads, the sampler's too) is the figure other work on
    the machine disturbs least; wall-clock times move with the machine's load.
    """
    manager = ExperimentManager(
        folder / f"timed_{sampling}", capture_environment=False, system_metrics=sampling
    )
    manager.start_experiment("bench", {}, {})
    log = manager.log
    clock = time.perf_counter
    in_log = 0.0
    steps = 0
    started = clock()
    deadline = started + seconds
    count = len(points)
    cpu_started = time.process_time()
    while True:
        training_step_work()
        before = clock()
        log(points[steps % count])
        after = clock()
        in_log += after - before
        steps += 1
        if after >= deadline:
            break
    elapsed = clock() - started
    cpu = time.process_time() - cpu_started
    manager.end_experiment()
    return steps, in_log, elapsed, cpu, samples_taken(manager)


def bulk_raw(folder: Path, calls: list[dict[str, list[float]]]) -> float:
    fd = os.open(folder / "raw_bulk.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    started = time.perf_counter()
    for call in calls:
        os.write(fd, orjson.dumps(call, option=orjson.OPT_APPEND_NEWLINE))
    elapsed = time.perf_counter() - started
    os.close(fd)
    return elapsed


def bulk_atomic_rewrite(folder: Path, calls: list[dict[str, list[float]]]) -> float:
    """The least work with log_metrics' guarantee, storing what it stores.

    Each value has a step and a time (the call's), and metrics given together share
    one steps list and one times list, as the history stores them.
    """
    target = folder / "raw_history.json"
    metrics: dict[str, list[float]] = {}
    steps: list[int] = []
    times: list[float] = []
    document = {"metrics": metrics, "steps": steps, "times": times}
    started = time.perf_counter()
    for call in calls:
        for name, values in call.items():
            metrics.setdefault(name, []).extend(values)
        count = max(map(len, call.values()))
        steps.extend(range(len(steps), len(steps) + count))
        times.extend([time.time()] * count)
        tmp = folder / ".raw_history.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, orjson.dumps(document))
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, target)
        dir_fd = os.open(folder, os.O_RDONLY)
        os.fsync(dir_fd)
        os.close(dir_fd)
    return time.perf_counter() - started


def bulk_ours(folder: Path, calls: list[dict[str, list[float]]]) -> float:
    manager = ExperimentManager(folder / "logs_bulk", capture_environment=False)
    manager.start_experiment("bench", {}, {})
    started = time.perf_counter()
    for call in calls:
        manager.log_metrics(call)
    elapsed = time.perf_counter() - started
    manager.end_experiment()
    return elapsed


def timed_sampler(points: list[dict[str, float]], seconds: float, rounds: int) -> None:
    """The default interval's cost: loops long enough for it to sample, with and without."""
    results: dict[bool, list[Timed]] = {False: [], True: []}
    for round_number in range(rounds):
        with tempfile.TemporaryDirectory(dir=Path.cwd(), ignore_cleanup_errors=True) as tmp:
            order = [False, True] if round_number % 2 == 0 else [True, False]
            for sampling in order:
                results[sampling].append(timed_training(Path(tmp), points, seconds, sampling))
        print(f"timed round {round_number + 1}/{rounds} done", file=sys.stderr)

    def best(runs: list[Timed]) -> tuple[float, float, float]:
        # per step, the least of the rounds: time inside log(), whole step, process CPU
        return (
            min(r[1] / r[0] for r in runs),
            min(r[2] / r[0] for r in runs),
            min(r[3] / r[0] for r in runs),
        )

    off_log, off_step, off_cpu = best(results[False])
    on_log, on_step, on_cpu = best(results[True])
    print(
        f"training loop of {seconds:g} s (pure-Python work + log()), {rounds} round(s),"
        " sampler at the default interval (10 s)"
    )
    print(
        f"  steps per loop without / with the sampler: {[r[0] for r in results[False]]} /"
        f" {[r[0] for r in results[True]]}"
    )
    print(f"  samples taken per loop with the sampler: {[r[4] for r in results[True]]}")
    print(
        f"  without the sampler: log() {off_log * 1e6:7.2f} us/step,"
        f" whole step {off_step * 1e6:7.2f} us, process CPU {off_cpu * 1e6:7.2f} us"
    )
    print(
        f"  with the sampler:    log() {on_log * 1e6:7.2f} us/step,"
        f" whole step {on_step * 1e6:7.2f} us, process CPU {on_cpu * 1e6:7.2f} us"
    )
    print(
        f"  ratio with / without: log() {on_log / off_log:.3f}x,"
        f" whole step {on_step / off_step:.3f}x, process CPU {on_cpu / off_cpu:.3f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--bulk-calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--sampler-seconds",
        type=float,
        default=25.0,
        help="length of each timed loop at the default sampling interval (0: skip)",
    )
    parser.add_argument("--sampler-rounds", type=int, default=2)
    args = parser.parse_args()
    points = make_points(args.steps)
    rng = random.Random(1)
    calls = [
        {name: [rng.random() for _ in range(1000)] for name in METRICS}
        for _ in range(args.bulk_calls)
    ]
    raw_times, bulk_raw_times, bulk_our_times = [], [], []
    our_times: list[float] = []
    fast = 0.05
    sampled_times: dict[float, list[float]] = {fast: []}
    fast_samples: list[int] = []
    try:
        import psutil  # noqa: F401
    except ImportError:
        sampled_times = {}  # without the system extra nothing is sampled
    bulk_rewrite_times = []
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    folders: list[Path] = []
    for round_number in range(args.rounds):
        with tempfile.TemporaryDirectory(dir=Path.cwd(), ignore_cleanup_errors=True) as tmp:
            # (a history's last rewrite may land while the folder is removed)
            folder = Path(tmp)
            folders.append(folder)
            raw_times.append(raw_baseline(folder, points))
            # without and with the sampler, in an order that turns each round, so
            # that no variant always runs first (or last) on a warm disk cache
            variants: list[tuple[list[float], float | bool]] = [(our_times, False)]
            variants += [(times, interval) for interval, times in sampled_times.items()]
            turn = round_number % len(variants)
            for times, sampling in variants[turn:] + variants[:turn]:
                counted = fast_samples if sampling else None
                times.append(ours(folder, points, sampling, counted))
            bulk_raw_times.append(bulk_raw(folder, calls))
            bulk_rewrite_times.append(bulk_atomic_rewrite(folder, calls))
            bulk_our_times.append(bulk_ours(folder, calls))
        print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    raw, our = min(raw_times), min(our_times)
    n = args.steps
    print(f"log(): {n} steps x {len(METRICS)} metrics")
    print(f"  raw baseline (orjson + os.write, O_APPEND): {raw / n * 1e6:7.2f} us/step")
    print(f"  ExperimentManager.log():                     {our / n * 1e6:7.2f} us/step")
    print(f"  ratio: {our / raw:.2f}x (target <= 2x)")
    if not sampled_times:
        print("  with the system metrics sampler: skipped (psutil is not installed)")
    for interval, times in sampled_times.items():
        sampled = min(times)
        print(
            f"  log() with the sampler every {interval:g} s:  {sampled / n * 1e6:7.2f} us/step"
            f"  ({sampled / our:.2f}x log() without it; samples per loop: {fast_samples},"
            f" loops of {min(times):.2f}-{max(times):.2f} s)"
        )
    if sampled_times and args.sampler_seconds > 0:
        timed_sampler(points, args.sampler_seconds, args.sampler_rounds)
    braw, bour = min(bulk_raw_times), min(bulk_our_times)
    brewrite = min(bulk_rewrite_times)
    calls_n = args.bulk_calls
    print(f"log_metrics(): {calls_n} calls x {len(METRICS)} metrics x 1000 values, one version")
    print(f"  append-only baseline (orjson + os.write):     {braw / calls_n * 1e3:8.3f} ms/call")
    print(f"  atomic-rewrite baseline (same guarantee):    {brewrite / calls_n * 1e3:8.3f} ms/call")
    print(f"  ExperimentManager.log_metrics():              {bour / calls_n * 1e3:8.3f} ms/call")
    print(f"  ratio vs atomic rewrite: {bour / brewrite:.2f}x (target <= 2x)")
    print(f"  ratio vs append-only:    {bour / braw:.2f}x (the price of a current history file)")
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS growth over the run: {(rss_after - rss_before) / 1024:.1f} MiB")
    for folder in folders:  # what a late rewrite left behind
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
