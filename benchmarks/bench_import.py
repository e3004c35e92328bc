"""Importing MLflow runs, against reading them back through MLflow itself.

100 runs x 5 metrics x 1,000 steps are written by MLflow (``MlflowClient.log_batch``)
into a file store and into a SQLite database, in a child process (so that what writing
them leaves in memory weighs on neither side). Then, in this one process, each source is
imported with ``import_mlflow`` into an empty log folder, and the same points are read
back with ``MlflowClient.get_metric_history`` (every metric of every run), which is the
baseline. Each is timed as the best of ``--repeats`` runs (5 by default; the import and
the baseline take turns), by the wall clock and in CPU time (the CPU time is steadier on
a busy machine); the folder written by the import before is removed outside the timing.
The target: an import under 10 s, at least 5x faster than the baseline. The load
average is printed with the figures.

Usage: ``python benchmarks/bench_import.py [--runs 100] [--metrics 5] [--steps 1000]``
(needs the test extra: mlflow).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from experiment_manager import ExperimentManager
from experiment_manager.importers import import_mlflow

T0 = 1_700_000_000_000
BATCH = 1000  # MLflow's limit of metrics per log_batch


def build(uri: str, runs: int, metrics: int, steps: int) -> list[str]:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("bench")
    ids = []
    for number in range(runs):
        run = client.create_run(experiment, start_time=T0 + number)
        points = [
            Metric(f"metric_{m}", (number + m + step) * 0.001, T0 + step * 10, step)
            for step in range(steps)
            for m in range(metrics)
        ]
        client.log_batch(run.info.run_id, params=[Param("lr", str(0.001 * (number + 1)))])
        for start in range(0, len(points), BATCH):
            client.log_batch(run.info.run_id, metrics=points[start : start + BATCH])
        client.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + steps * 10)
        ids.append(run.info.run_id)
    return ids


def build_elsewhere(uri: str, runs: int, metrics: int, steps: int, folder: Path) -> list[str]:
    """:func:`build` in a child process; the run ids it made."""
    out = folder / "ids.json"
    command = [sys.executable, __file__, "--write", uri, str(out)]
    command += ["--runs", str(runs), "--metrics", str(metrics), "--steps", str(steps)]
    subprocess.run(command, check=True)
    ids: list[str] = json.loads(out.read_text())
    return ids


def read_back(uri: str, ids: list[str], metrics: int) -> int:
    client = MlflowClient(tracking_uri=uri)
    count = 0
    for run_id in ids:
        for m in range(metrics):
            count += len(client.get_metric_history(run_id, f"metric_{m}"))
    return count


def alternate(
    repeats: int, *jobs: tuple[Callable[[], object], Callable[[], object]]
) -> list[tuple[float, float]]:
    """The best wall-clock and CPU seconds of each ``(work, before)`` job, ``before`` untimed.

    The jobs take turns, ``repeats`` rounds of one run each, so that a slow spell of a
    shared machine falls on both sides rather than on whichever ran during it.
    """
    walls: list[list[float]] = [[] for _ in jobs]
    cpus: list[list[float]] = [[] for _ in jobs]
    for _ in range(repeats):
        for number, (work, before) in enumerate(jobs):
            before()
            wall, cpu = time.perf_counter(), time.process_time()
            work()
            walls[number].append(time.perf_counter() - wall)
            cpus[number].append(time.process_time() - cpu)
    return [(min(w), min(c)) for w, c in zip(walls, cpus, strict=True)]


def measure(label: str, uri: str, source: Path, root: Path, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    ids = build_elsewhere(uri, args.runs, args.metrics, args.steps, root)
    built = time.perf_counter() - started
    expected = args.runs * args.metrics * args.steps
    logs = root / f"logs-{label.split(maxsplit=1)[0]}"

    def clear() -> None:
        shutil.rmtree(logs, ignore_errors=True)

    def one_import() -> None:
        report = import_mlflow(source, logs)
        assert report.ok, report.failed
        assert sum(item["points"] for item in report.imported) == expected

    def baseline() -> None:
        assert read_back(uri, ids, args.metrics) == expected

    load_before = os.getloadavg()[0]
    (imported, imported_cpu), (base, base_cpu) = alternate(
        args.repeats, (one_import, clear), (baseline, lambda: None)
    )
    load_after = os.getloadavg()[0]
    versions = ExperimentManager(logs).read_history("bench")
    assert len(versions) == args.runs
    assert sum(len(v) for version in versions for v in version["metrics"].values()) == expected

    print(f"\n{label}: {args.runs} runs x {args.metrics} metrics x {args.steps} steps")
    print(f"  written by MLflow (log_batch, a child): {built:8.2f} s")
    print(f"  best of {args.repeats}, wall clock (CPU time):")
    print(
        f"  import_mlflow into an empty folder:     {imported:8.2f} s ({imported_cpu:.2f} s)"
        "   target < 10 s"
    )
    print(f"  MlflowClient.get_metric_history:        {base:8.2f} s ({base_cpu:.2f} s)")
    print(
        f"  ratio baseline / import:                {base / imported:8.1f}x "
        f"({base_cpu / imported_cpu:.1f}x)   target >= 5x"
    )
    print(f"  load average (1 min) before / after:    {load_before:.2f} / {load_after:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--metrics", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5, help="best of how many runs")
    parser.add_argument("--only", choices=["file", "sqlite"], help="measure one store only")
    parser.add_argument("--write", nargs=2, metavar=("URI", "IDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:  # the child process that writes a source
        uri, out = args.write
        Path(out).write_text(json.dumps(build(uri, args.runs, args.metrics, args.steps)))
        return
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if args.only in (None, "file"):
            measure("file store (mlruns/)", (root / "mlruns").as_uri(), root / "mlruns", root, args)
        if args.only in (None, "sqlite"):
            db = root / "mlflow.db"
            measure("SQLite database (mlflow.db)", f"sqlite:///{db}", db, root, args)


if __name__ == "__main__":
    main()
