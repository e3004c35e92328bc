"""Dashboard API speed: full-resolution curves and many experiments, in-process.

Builds two log folders with the library's own calls and times the JSON API through
Starlette's in-process client (the HTTP stack is left out; the socket adds little):

1. one experiment of ``--versions`` versions x ``--points`` streamed points of one
   metric (``log()`` in a loop, so every point has a step and a time, and one spike
   per version):
   * ``series`` for every version at ``buckets=1000``, first call (the metric read
     straight from the history file, cache cold; the library's full ``read_history``
     is timed alone too, for comparison) and again (cache warm);
   * a zoomed ``series`` call (``start``/``end`` over a tenth of the steps, cached);
   * ``series`` at full resolution (``buckets=0``), for scale.
2. ``--experiments`` experiments x ``--runs`` versions: ``/api/experiments``.

The folders are built in ``/dev/shm`` when it exists (the reads measured are from the
page cache either way; building there skips the fsyncs), or under ``--keep DIR``.

Targets (docs/dashboard.md): cold series well under 1 s, zoomed under 300 ms.

Run: ``python benchmarks/bench_web_api.py [--versions 20] [--points 100000]
[--experiments 1000] [--runs 10] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _curves import log_curves
from experiment_manager import ExperimentManager

warnings.filterwarnings("ignore", message=".*httpx.*")  # TestClient's deprecation note

from starlette.testclient import TestClient  # noqa: E402

from experiment_manager.web import create_app  # noqa: E402


def build_curves(folder: Path, versions: int, points: int) -> None:
    log_curves(ExperimentManager(folder, capture_environment=False), versions, points)


def build_one(folder: Path, number: int, runs: int) -> None:
    manager = ExperimentManager(folder, capture_environment=False)
    for run in range(runs):
        manager.start_experiment("many", {"lr": 0.1 * run}, {}, experiment_id=f"exp{number:04d}")
        manager.log_metrics({"loss": [0.5, 0.4, 0.3], "acc": [0.7, 0.8]})
        manager.end_experiment()


def build_many(folder: Path, experiments: int, runs: int) -> None:
    # Each write is atomic and fsynced; threads let those waits overlap.
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda number: build_one(folder, number, runs), range(experiments)))


def timed(call: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls, in milliseconds."""
    best = math.inf
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def get(client: TestClient, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return json.loads(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the log folders here")
    args = parser.parse_args()

    # Reads are measured, not writes: build on tmpfs when there is one (fsync is free).
    shm = Path("/dev/shm")
    scratch = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_web_", dir=scratch))
    curves, many = root / "curves", root / "many"
    try:
        if not (curves / "curves.json").exists():
            started = time.perf_counter()
            build_curves(curves, args.versions, args.points)
            print(
                f"built {args.versions} x {args.points:,} points in "
                f"{time.perf_counter() - started:.1f} s"
            )
        if not many.exists():
            started = time.perf_counter()
            build_many(many, args.experiments, args.runs)
            print(
                f"built {args.experiments:,} experiments x {args.runs} versions in "
                f"{time.perf_counter() - started:.1f} s"
            )

        reader = ExperimentManager(curves, capture_environment=False)
        parse = timed(lambda: reader.read_history("curves"))
        client = TestClient(create_app(curves, allowed_hosts=["testserver"]))
        versions = ",".join(str(v) for v in range(1, args.versions + 1))
        url = f"/api/experiments/curves/series?metric=loss&versions={versions}&buckets=1000"
        cold = timed(lambda: get(client, url))
        warm = timed(lambda: get(client, url), repeat=5)
        lo, hi = args.points * 4 // 10, args.points * 5 // 10
        zoom_url = f"{url}&start={lo}&end={hi}"
        zoom = timed(lambda: get(client, zoom_url), repeat=5)
        full = timed(lambda: get(client, url.replace("buckets=1000", "buckets=0")))
        data = get(client, url)
        sizes = [len(s["x"]) for s in data["series"]]
        print(
            f"series, {args.versions} versions x {args.points:,} points, buckets=1000 "
            f"({statistics.mean(sizes):.0f} points kept per version):"
        )
        print(f"  first call (read + cache):  {cold:8.1f} ms   target < 1000 ms")
        print(f"    (a full read_history of the same file alone takes {parse:.0f} ms)")
        print(f"  cached call:                {warm:8.1f} ms")
        print(f"  zoomed call (cached):       {zoom:8.1f} ms   target <  300 ms")
        print(f"  full resolution buckets=0:  {full:8.1f} ms")

        client = TestClient(create_app(many, allowed_hosts=["testserver"]))
        listing = timed(lambda: get(client, "/api/experiments"), repeat=3)
        count = len(get(client, "/api/experiments")["experiments"])
        print(f"/api/experiments, {count:,} experiments x {args.runs} versions: {listing:8.1f} ms")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
