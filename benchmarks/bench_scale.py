"""Big experiments: no call's cost may grow with the number of versions of an experiment.

1. **Sweep through the API**: ``--versions`` versions (3 metrics x 50 steps, one
   ``log()`` per step) of one experiment id, written by ``--writers`` processes that
   take version slots from a shared counter until it is reached. Printed: the total
   time and the wall time per version in each tenth of the run. Then the **cost per
   version at 100, 1,000 and 10,000 versions**: ``--batch`` versions written the same
   way on a copy of an experiment that already has that many versions (built once
   like part 2's, kept under ``--cache``), ``--reps`` times, each batch starting when
   the history is due to be folded, so that each holds at least one fold of the
   history at its size (at 10,000 versions folds are further apart than a batch
   lasts, so this charges the batch more than its share). The figure is the batch's
   wall time (first start to last end, across the writers) over its versions;
   every repetition is printed, and the folds each saw. Baseline: 100 versions.
   Target: 10,000 within 1.5x of 100 (medians of the repetitions).
2. **Calls at 10,000 versions** (about 70 MB of history): the median of
   ``start_experiment``, ``log_metrics``, ``add_checkpoint`` and ``end_experiment``
   (target: each under 20 ms), beside the same calls on a new id of the same folder,
   first back to back (``--repeat`` versions), then each call more than the store's
   refresh interval after the one before (``--paced`` versions), as in a training
   loop; ``expm show big@5000`` as a subprocess (target: under 150 ms) beside
   ``python -c "import experiment_manager"``, the package's bytecode compiled first as
   an install does; ``read_history`` of every version (1.3 s before the per-version
   store) beside ``orjson.loads`` of the history file.
3. **Many writers on one id**: 8 processes x 25 versions (10 hyperparameters, one bulk
   ``log_metrics`` of 3 metrics x 50 values each) on one id, against the same work with
   each process on its own id. Median of 3 rounds. Target: at most 1.5x.
4. **Bytes on disk per streamed point**: one version of 1,000 steps x 10 metrics through
   ``log()``, ended; every file under the log folder, by kind, over the 10,000 points,
   beside the same points as JSON lines (one step per line, its time once). Target: at
   most 30 bytes (58.6 before; dvclive 23.4).

The 10,000-version folder of part 2 is built once (one version through the real API,
copied with new numbers and values, stored with the store's bulk ``add_versions``: the
same file format) and kept under ``--cache``; each run measures a copy of it. Parts 1-3
run with ``capture_environment=False``: the ``git status`` each start would run costs
the same at any size, and only blurs what grows. Processes are started with 'spawn',
so each one exits as a program does (its deferred history rewrite included).

Run: ``python benchmarks/bench_scale.py [--cache DIR] [--versions 10000] [--parts 1 2 3 4]``
(about 8 minutes on 2 cores, most of it part 1)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import multiprocessing
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from experiment_manager import ExperimentManager
from experiment_manager.stores._atomic import file_identity
from experiment_manager.stores.files import REFRESH_SECONDS, FileStore

EXPERIMENT = "big"
METRICS = ("loss", "acc", "val_loss")
STEPS = 50
STREAM_METRICS = tuple(f"m{i}" for i in range(10))
STREAM_STEPS = 1000
CONTEXT = multiprocessing.get_context("spawn")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def hyperparameters(number: int) -> dict[str, Any]:
    """Ten hyperparameters, different for each version."""
    return {"lr": 10.0 ** -(number % 5 + 1), "seed": number, **{f"h{k}": k for k in range(8)}}


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.1f} ms"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:6.2f}x" if baseline > 0 else "   n/a"


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER TARGET"


# ---- 1. a sweep of one id through the API, by several writers ------------------------


def sweep_writer(log_dir: str, target: int, counter: Any, barrier: Any, out: Any) -> None:
    """Run versions until ``target`` slots are taken; send (version, start, end) rows."""
    manager = ExperimentManager(log_dir, capture_environment=False)
    barrier.wait()
    out.put(sweep_versions(manager, target, counter))


def batch_writer(
    log_dir: str, target: int, counter: Any, finished: Any, barrier: Any, out: Any
) -> None:
    """:func:`sweep_writer` that exits only once every writer has ended its versions.

    So no writer's exit (which folds the history) falls inside the timed batch.
    """
    manager = ExperimentManager(log_dir, capture_environment=False)
    barrier.wait()
    rows = sweep_versions(manager, target, counter)
    finished.wait()
    out.put(rows)


def sweep_versions(manager: ExperimentManager, target: int, counter: Any) -> list[Any]:
    """Versions of ``big`` until ``target`` slots are taken: (version, start, end) rows."""
    rows: list[tuple[int, float, float]] = []
    while True:
        with counter.get_lock():
            if counter.value >= target:
                break
            counter.value += 1
            slot = counter.value
        started = time.time()
        record = manager.start_experiment(
            "sweep", hyperparameters(slot), {}, experiment_id=EXPERIMENT
        )
        for step in range(STEPS):
            manager.log({"loss": 1 / (step + 1), "acc": step / STEPS, "val_loss": slot / target})
        manager.end_experiment()
        rows.append((record.version, started, time.time()))
    return rows


def run_processes(
    worker: Callable[..., None], argument_lists: Sequence[tuple[Any, ...]]
) -> tuple[float, list[Any]]:
    """Start one process per argument tuple, release them together, wait for every exit.

    Each worker gets ``barrier`` and ``out`` after its own arguments, waits at the
    barrier once set up (so interpreter start-up is not timed), and puts one result.

    Returns:
        Seconds from the release to the last exit (the exit's own work included),
        and the results.
    """
    barrier = CONTEXT.Barrier(len(argument_lists) + 1)
    out = CONTEXT.Queue()
    processes = [
        CONTEXT.Process(target=worker, args=(*arguments, barrier, out))
        for arguments in argument_lists
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    # Results first: a child cannot exit while the queue still holds its data.
    results = [out.get(timeout=3600) for _ in processes]
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"writer processes exited with {failed}")
    return elapsed, results


def check_history(log_dir: Path, experiment_id: str, count: int, values: int) -> list[str]:
    """What is wrong with the history document after every writer exited, if anything."""
    problems = []
    with (log_dir / f"{experiment_id}.json").open(encoding="utf-8") as file:
        versions = json.load(file)["versions"]
    numbers = [v["version"] for v in versions]
    if numbers != list(range(1, count + 1)):
        problems.append(f"json.load: versions {numbers[:3]}...{numbers[-3:]} ({len(numbers)})")
    for stored in versions:
        if stored["status"] != "finished" or any(
            len(stored["metrics"].get(name, [])) != values for name in METRICS
        ):
            problems.append(f"json.load: version {stored['version']} is {stored['status']}")
            break
    left = sorted(p.name for p in (log_dir / ".expm" / "versions" / experiment_id).glob("*"))
    if left:
        problems.append(f"{len(left)} version files not folded after exit: {left[:5]}")
    return problems


def part_sweep(folder: Path, versions: int, writers: int) -> None:
    progress(f"part 1: {versions:,} versions by {writers} writers ...")
    log_dir = folder / "sweep"
    counter = CONTEXT.Value("i", 0)
    total, results = run_processes(sweep_writer, [(str(log_dir), versions, counter)] * writers)
    rows = sorted((row for result in results for row in result), key=lambda row: row[2])
    numbers = sorted(row[0] for row in rows)
    print(f"1. sweep: {versions:,} versions x {len(METRICS)} metrics x {STEPS} steps (log()),")
    print(f"   one id, {writers} writer processes ({load()})")
    size = (log_dir / f"{EXPERIMENT}.json").stat().st_size
    print(f"   total {total:.1f} s, history {size / 1e6:.1f} MB")
    if versions >= 10:
        # Tenths of the run, from the versions' end times: how the pace changed.
        tenths = []
        previous = min(row[1] for row in rows)
        for tenth in range(1, 11):
            high = versions * tenth // 10
            low = versions * (tenth - 1) // 10
            tenths.append((rows[high - 1][2] - previous) / (high - low))
            previous = rows[high - 1][2]
        print(
            "   wall per version in each tenth of the run (ms): "
            + " ".join(f"{t * 1e3:.1f}" for t in tenths)
        )
        print(f"   last tenth / first tenth: {ratio(tenths[-1], tenths[0]).strip()}")
    problems = []
    if numbers != list(range(1, versions + 1)):
        problems.append(f"writers were given versions {numbers[:3]}...{numbers[-3:]}")
    problems += check_history(log_dir, EXPERIMENT, versions, STEPS)
    fine = "every version 1..N once, all in json.load"
    print(f"   check: {'; '.join(problems) if problems else fine}")


class FoldWatcher:
    """Notes each time a history file is replaced (each fold or rewrite), from a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        last = os.stat(self.path).st_ino
        while not self._stop.wait(0.005):
            with contextlib.suppress(FileNotFoundError):
                inode = os.stat(self.path).st_ino
                if inode != last:
                    self.times.append(time.time())
                    last = inode

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def due_in(log_dir: Path) -> float:
    """Seconds until the store would fold the history of ``big`` (its own rule)."""
    store = FileStore(log_dir)
    identity = file_identity(os.stat(log_dir / f"{EXPERIMENT}.json"))
    layout = store._read_layout(EXPERIMENT, identity, fresh=True)
    return store._due_in(EXPERIMENT, identity, layout)


def batch_costs(
    folder: Path, cache: Path, base: int, batch: int, writers: int, reps: int
) -> list[tuple[float, int, float]]:
    """Per repetition: seconds per version of a batch written on ``base`` versions.

    Each repetition copies the built experiment, writes one version on it through
    the API and folds it (so that the copy's layout is rewritten and the fold's cost
    is measured as the store measures it), waits until a fold is due, then times
    ``batch`` versions by ``writers`` processes, which exit (and fold at exit) only
    once all have ended their versions.

    Returns:
        Per repetition: wall seconds per version, folds of the history seen during
        the batch, and the fold's measured seconds the store spaces folds by.
    """
    source = build_big(cache, base) / "logs"
    out = []
    for rep in range(reps):
        log_dir = folder / f"batch-{base}-{rep}"
        shutil.copytree(source, log_dir)
        manager = ExperimentManager(log_dir, capture_environment=False)
        manager.start_experiment("sweep", hyperparameters(0), {}, experiment_id=EXPERIMENT)
        for step in range(STEPS):
            manager.log({"loss": 1 / (step + 1), "acc": step / STEPS, "val_loss": 0.5})
        manager.end_experiment()
        manager.store.flush(EXPERIMENT)
        layout = FileStore(log_dir)._read_layout(
            EXPERIMENT, file_identity(os.stat(log_dir / f"{EXPERIMENT}.json")), fresh=True
        )
        took = 0.0 if layout is None else layout.fold_seconds
        time.sleep(max(0.0, due_in(log_dir)) + 0.05)
        watcher = FoldWatcher(log_dir / f"{EXPERIMENT}.json")
        counter = CONTEXT.Value("i", 0)
        finished = CONTEXT.Barrier(writers)
        try:
            _, results = run_processes(
                batch_writer, [(str(log_dir), batch, counter, finished)] * writers
            )
        finally:
            watcher.stop()
        rows = [row for result in results for row in result]
        first, last = min(row[1] for row in rows), max(row[2] for row in rows)
        numbers = sorted(row[0] for row in rows)
        if numbers != list(range(base + 2, base + 2 + batch)):
            raise RuntimeError(f"batch on {base}: versions {numbers[:3]}...{numbers[-3:]}")
        folds = sum(first <= t <= last for t in watcher.times)
        out.append(((last - first) / batch, folds, took))
        shutil.rmtree(log_dir)
    return out


def part_batches(folder: Path, cache: Path, batch: int, writers: int, reps: int) -> None:
    bases = (100, 1000, 10_000)
    progress(f"part 1: batches of {batch} versions on {', '.join(map(str, bases))} ...")
    costs = {base: batch_costs(folder, cache, base, batch, writers, reps) for base in bases}
    print(
        f"   cost per version at N versions: {batch} versions by {writers} writers on a copy of"
        f" an experiment of N versions, starting when a fold is due; {reps} repetitions"
        f" ({load()})"
    )
    print(
        f"   {'N':>8}  {'per version (each repetition)':<34} {'median':>10} {'ratio':>7}"
        f"  {'folds seen':>10}  {'fold took':>10}"
    )
    medians = {}
    for base, runs in costs.items():
        medians[base] = statistics.median(cost for cost, _, _ in runs)
        each = ", ".join(f"{cost * 1e3:.1f}" for cost, _, _ in runs) + " ms"
        folds = ", ".join(str(count) for _, count, _ in runs)
        took = statistics.median(seconds for _, _, seconds in runs)
        print(
            f"   {base:>8,}  {each:<34} {ms(medians[base]):>10}"
            f" {ratio(medians[base], medians[bases[0]])}  {folds:>10}  {ms(took):>10}"
        )
    last = medians[bases[-1]] / medians[bases[0]]
    print(
        f"   version {bases[-1]:,} / version {bases[0]:,}: {last:.2f}x"
        f" (target <= 1.5x): {verdict(last <= 1.5)}"
    )


# ---- 2. single calls at 10,000 versions ----------------------------------------------


def template(folder: Path) -> dict[str, Any]:
    """One version made through the real API (3 metrics x 50 steps by log()), stored form."""
    manager = ExperimentManager(folder, capture_environment=False)
    manager.start_experiment("sweep", hyperparameters(1), {}, experiment_id="template")
    for step in range(STEPS):
        manager.log({"loss": 1 / (step + 1), "acc": step / STEPS, "val_loss": 0.5})
    manager.end_experiment()
    return manager.store.load("template")[-1]


def build_big(cache: Path, versions: int) -> Path:
    """``cache/scale-<versions>``: experiment ``big`` with ``versions`` versions, built once."""
    target = cache / f"scale-{versions}"
    done = target / "complete"
    if done.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    progress(f"part 2: building {versions:,} versions under {target} ...")
    base = template(target / "template")
    rng = random.Random(0)
    records = []
    for number in range(1, versions + 1):
        record = copy.deepcopy(base)
        record["hyperparameters"] = hyperparameters(number)
        record["metrics"] = {
            name: [math.exp(-i / 10) + rng.random() * 0.5 for i in range(STEPS)] for name in METRICS
        }
        records.append(record)
    FileStore(target / "logs").add_versions(EXPERIMENT, records)
    done.touch()
    return target


CALLS = ("start_experiment", "log_metrics", "add_checkpoint", "end_experiment")


def version_calls(
    manager: ExperimentManager, experiment_id: str, checkpoint: Path
) -> list[Callable[[], object]]:
    """The calls of one version, in order (see :data:`CALLS`)."""
    values = {name: [0.5] * STEPS for name in METRICS}
    return [
        lambda: manager.start_experiment(
            "sweep", hyperparameters(7), {}, experiment_id=experiment_id
        ),
        lambda: manager.log_metrics(values),
        lambda: manager.add_checkpoint(checkpoint, step=STEPS),
        manager.end_experiment,
    ]


def time_versions(
    runs: Sequence[tuple[ExperimentManager, str]], checkpoint: Path, count: int, pause: float
) -> list[list[list[float]]]:
    """``count`` versions on each (manager, id), call by call in turn.

    Interleaved, so that other load on the machine falls on every id alike. With a
    ``pause``, each round of calls waits that long first.

    Returns:
        Per run, per call of :data:`CALLS`, the seconds of each version.
    """
    times: list[list[list[float]]] = [[[] for _ in CALLS] for _ in runs]
    for _ in range(count):
        calls = [version_calls(manager, i, checkpoint) for manager, i in runs]
        for column in range(len(CALLS)):
            if pause:
                time.sleep(pause)
            for row, run_calls in enumerate(calls):
                started = time.perf_counter()
                run_calls[column]()
                times[row][column].append(time.perf_counter() - started)
    return times


def print_calls(big: list[list[float]], fresh: list[list[float]]) -> None:
    print(
        f"   {'call':<18} {'big id':>11} {'new id':>11} {'ratio':>7}  {'big p90':>11}"
        f" {'big max':>11}  target < 20 ms"
    )
    for label, samples, other in zip(CALLS, big, fresh, strict=True):
        ours = sorted(samples)
        middle, baseline = statistics.median(ours), statistics.median(other)
        p90 = ours[min(len(ours) - 1, math.ceil(0.9 * len(ours)) - 1)]
        print(
            f"   {label:<18} {ms(middle):>11} {ms(baseline):>11} {ratio(middle, baseline)}"
            f"  {ms(p90):>11} {ms(ours[-1]):>11}  {verdict(middle < 0.020)}"
        )


def subprocess_runs(commands: Sequence[list[str]], runs: int) -> list[tuple[float, bytes]]:
    """Median seconds of running each command to exit, and its last stdout.

    The commands take turns, so that other load on the machine falls on each alike.
    """
    times: list[list[float]] = [[] for _ in commands]
    outputs = [b""] * len(commands)
    for _ in range(runs):
        for number, argv in enumerate(commands):
            started = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, check=False)
            times[number].append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(f"{shlex.join(argv)} exited {done.returncode}: {done.stderr!r}")
            outputs[number] = done.stdout
    return [(statistics.median(t), o) for t, o in zip(times, outputs, strict=True)]


def part_calls(folder: Path, cache: Path, versions: int, repeat: int, paced: int) -> None:
    source = build_big(cache, versions) / "logs"
    log_dir = folder / "calls"
    shutil.copytree(source, log_dir)
    size = (log_dir / f"{EXPERIMENT}.json").stat().st_size
    manager = ExperimentManager(log_dir, capture_environment=False)
    other = ExperimentManager(log_dir, capture_environment=False)
    runs = [(manager, EXPERIMENT), (other, "fresh")]
    checkpoint = folder / "model.pt"
    checkpoint.write_bytes(b"\0" * 4096)
    # A copied history has a new inode and change time, so its layout no longer
    # describes it: the first write rewrites it once. Not what a call costs later.
    progress("part 2: first version on the copy (rewrites its layout) ...")
    first = time_versions(runs, checkpoint, 1, 0.0)[0]
    manager.store.flush(EXPERIMENT)
    progress(f"part 2: {repeat} versions on each id, back to back ...")
    big, fresh = time_versions(runs, checkpoint, repeat, 0.0)
    print(
        f"2. calls on an id of {versions:,} versions ({size / 1e6:.1f} MB of history)"
        f" against a new id in the same folder ({load()})"
    )
    print(
        f"   first version after copying the folder (one rewrite of the copied history):"
        f" {', '.join(f'{c} {t[0] * 1e3:.0f} ms' for c, t in zip(CALLS, first, strict=True))}"
    )
    print(f"   {repeat} versions back to back (median):")
    print_calls(big, fresh)
    if paced:
        # A training loop's calls are seconds or minutes apart, not milliseconds:
        # each one then comes after the history's refresh interval has passed.
        pause = REFRESH_SECONDS + 0.2
        progress(f"part 2: {paced} versions on each id, {pause:.1f} s between calls ...")
        manager.store.flush(EXPERIMENT)
        big, fresh = time_versions(runs, checkpoint, paced, pause)
        print(f"   {paced} versions, each call {pause:.1f} s after the one before (median):")
        print_calls(big, fresh)
    manager.store.flush(EXPERIMENT)
    launches = 7
    progress("part 2: expm show, read_history ...")
    # Bytecode as an install leaves it (bench_core.py does the same), so that an
    # editable checkout or PYTHONDONTWRITEBYTECODE does not time the compiler.
    import compileall

    import experiment_manager

    compileall.compile_dir(str(Path(experiment_manager.__file__).parent), quiet=1)
    expm = [sys.executable, "-m", "experiment_manager", "--log-dir", str(log_dir)]
    wanted = versions // 2
    (bare, _), (show, output) = subprocess_runs(
        [
            [sys.executable, "-c", "import experiment_manager"],
            [*expm, "show", f"{EXPERIMENT}@{wanted}", "--json"],
        ],
        launches,
    )
    shown = json.loads(output)
    correct = shown.get("version") == wanted
    print(
        f"   expm show {EXPERIMENT}@{wanted} (median of {launches} runs): {ms(show)}"
        f"  {verdict(show < 0.150)} (target < 150 ms){'' if correct else ' WRONG VERSION'}"
    )
    print(
        f"     python -c 'import experiment_manager':     {ms(bare)}"
        f"  ratio {ratio(show, bare).strip()}"
    )
    reads, parses = [], []
    history = log_dir / f"{EXPERIMENT}.json"
    count = 0
    for _ in range(3):
        started = time.perf_counter()
        count = len(manager.read_history(EXPERIMENT))
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        orjson.loads(history.read_bytes())
        parses.append(time.perf_counter() - started)
    read, parse = statistics.median(reads), statistics.median(parses)
    print(
        f"   read_history, all {count:,} versions (median of 3): {ms(read)}"
        f"  (1.3 s before the per-version store)"
    )
    print(
        f"     orjson.loads of the {size / 1e6:.0f} MB history file:  {ms(parse)}"
        f"  ratio {ratio(read, parse).strip()}"
    )
    expected = versions + 1 + repeat + paced
    if count != expected:
        print(f"   check: read_history gave {count} versions, not {expected}")


# ---- 3. many writers on one id, or each on its own -----------------------------------


def bulk_writer(log_dir: str, experiment_id: str, versions: int, barrier: Any, out: Any) -> None:
    """``versions`` versions of one bulk ``log_metrics`` each; send the version numbers."""
    manager = ExperimentManager(log_dir, capture_environment=False)
    values = {name: [i / STEPS for i in range(STEPS)] for name in METRICS}
    numbers = []
    barrier.wait()
    for number in range(versions):
        record = manager.start_experiment(
            "writers", hyperparameters(number), {}, experiment_id=experiment_id
        )
        manager.log_metrics(values)
        manager.end_experiment()
        numbers.append(record.version)
    out.put((experiment_id, numbers))


def part_writers(folder: Path, writers: int, versions: int, rounds: int) -> None:
    shared_times: list[float] = []
    own_times: list[float] = []
    problems = []
    for round_number in range(rounds):
        progress(f"part 3: round {round_number + 1}/{rounds} ...")
        modes = [("shared", True), ("own", False)]
        if round_number % 2:
            modes.reverse()  # neither mode always runs on a warmer disk cache
        for mode, one_id in modes:
            log_dir = folder / f"writers-{round_number}-{mode}"
            ids = ["sweep" if one_id else f"sweep-{w}" for w in range(writers)]
            elapsed, results = run_processes(
                bulk_writer, [(str(log_dir), i, versions) for i in ids]
            )
            (shared_times if one_id else own_times).append(elapsed)
            by_id: dict[str, list[int]] = {}
            for experiment_id, numbers in results:
                by_id.setdefault(experiment_id, []).extend(numbers)
            for experiment_id, numbers in by_id.items():
                if sorted(numbers) != list(range(1, len(numbers) + 1)):
                    problems.append(
                        f"{mode} round {round_number + 1}: {experiment_id} got"
                        f" versions {sorted(numbers)[:5]}..."
                    )
                problems += check_history(log_dir, experiment_id, len(numbers), STEPS)
    shared, own = statistics.median(shared_times), statistics.median(own_times)
    print(
        f"3. {writers} processes x {versions} versions (10 hyperparameters, one log_metrics of"
        f" {len(METRICS)} x {STEPS}), median of {rounds} ({load()})"
    )
    print(
        f"   one id for all:      {shared:7.2f} s  (rounds: "
        f"{', '.join(f'{t:.2f}' for t in shared_times)})"
    )
    print(
        f"   an id per process:   {own:7.2f} s  (rounds: "
        f"{', '.join(f'{t:.2f}' for t in own_times)})"
    )
    print(
        f"   ratio: {ratio(shared, own).strip()} (target <= 1.5x): {verdict(shared <= 1.5 * own)}"
    )
    fine = "versions 1..N once per id, all in json.load"
    print(f"   check: {'; '.join(problems) if problems else fine}")


# ---- 4. bytes on disk per streamed point ---------------------------------------------


def kind_of(log_dir: Path, path: Path) -> str:
    parts = path.relative_to(log_dir).parts
    if len(parts) == 1 and path.suffix == ".json":
        return "history"
    if parts[0] == ".expm" and len(parts) > 1 and parts[1] in ("index", "layout", "columns"):
        return parts[1]
    return "other"


def part_bytes(folder: Path) -> None:
    progress("part 4: bytes per streamed point ...")
    log_dir = folder / "bytes"
    rng = random.Random(4)
    points = [{name: rng.random() for name in STREAM_METRICS} for _ in range(STREAM_STEPS)]
    # The library's default environment capture: what a user's run stores.
    manager = ExperimentManager(log_dir)
    manager.start_experiment("stream", {"lr": 0.1, "batch": 32}, {})
    for point in points:
        manager.log(point)
    manager.end_experiment()
    files = sorted(p for p in log_dir.rglob("*") if p.is_file())
    kinds = {kind: [0, 0] for kind in ("history", "index", "layout", "columns", "other")}
    for path in files:
        entry = kinds[kind_of(log_dir, path)]
        entry[0] += path.stat().st_size
        entry[1] += 1
    total = sum(size for size, _ in kinds.values())
    count = STREAM_STEPS * len(STREAM_METRICS)
    baseline = b"".join(
        orjson.dumps({"s": s, "t": time.time(), "m": p}, option=orjson.OPT_APPEND_NEWLINE)
        for s, p in enumerate(points)
    )
    per_point = total / count
    print(
        f"4. bytes on disk: 1 version, {STREAM_STEPS:,} steps x {len(STREAM_METRICS)} metrics"
        f" by log(), ended ({count:,} points)"
    )
    print(
        f"   every file under the log folder: {total:,} bytes = {per_point:.1f} bytes/point"
        f"  {verdict(per_point <= 30)} (target <= 30; 58.6 before; dvclive 23.4)"
    )
    for kind, (size, number) in kinds.items():
        print(f"     {kind:<8} {size:>9,} bytes  {size / count:5.1f}/point  {number} files")
    others = [str(p.relative_to(log_dir)) for p in files if kind_of(log_dir, p) == "other"]
    print(f"     other files: {', '.join(others) if others else 'none'}")
    print(
        f"   baseline, the points as JSON lines (step, time once, values): {len(baseline):,}"
        f" bytes = {len(baseline) / count:.1f} bytes/point;"
        f" ratio {ratio(total, len(baseline)).strip()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="keeps part 2's built folder")
    parser.add_argument("--versions", type=int, default=10_000, help="versions of part 1")
    parser.add_argument("--writers", type=int, default=4, help="writer processes of part 1")
    parser.add_argument("--batch", type=int, default=200, help="versions per batch of part 1")
    parser.add_argument("--reps", type=int, default=3, help="batches per size in part 1")
    parser.add_argument("--big-versions", type=int, default=10_000, help="versions of part 2")
    parser.add_argument("--repeat", type=int, default=30, help="versions timed in part 2")
    parser.add_argument(
        "--paced", type=int, default=5, help="versions of part 2 with calls seconds apart"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of part 3")
    parser.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3, 4], choices=[1, 2, 3, 4])
    args = parser.parse_args()
    if args.versions < 1 or args.big_versions < 2:
        parser.error("--versions must be >= 1 and --big-versions >= 2")
    cache = args.cache or Path(tempfile.mkdtemp(prefix="expm-bench-"))
    cache.mkdir(parents=True, exist_ok=True)
    print(f"command: {shlex.join(['python', *sys.argv])}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {load()}, cache {cache}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=cache, prefix="run-") as tmp:
        folder = Path(tmp)
        if 1 in args.parts:
            part_sweep(folder, args.versions, args.writers)
            part_batches(folder, cache, args.batch, args.writers, args.reps)
        if 2 in args.parts:
            part_calls(folder, cache, args.big_versions, args.repeat, args.paced)
        if 3 in args.parts:
            part_writers(folder, writers=8, versions=25, rounds=args.rounds)
        if 4 in args.parts:
            part_bytes(folder)
    print(f"done in {time.perf_counter() - started:.0f} s ({load()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
