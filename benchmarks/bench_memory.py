"""Memory while streaming: log N points and print the process's resident memory.

Nothing may accumulate per point: the resident set must stay flat (a few MB at most)
from the first million points to the last.

Run: ``python benchmarks/bench_memory.py [--points 10000000]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from experiment_manager import ExperimentManager


def rss_mib() -> float:
    """Current resident set size of this process, in MiB (Linux /proc)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        manager = ExperimentManager(tmp, capture_environment=False)
        manager.start_experiment("memory", {}, {})
        log = manager.log
        warmup = min(100_000, args.points)
        for step in range(warmup):
            log({"loss": 1.0 / (step + 1)})
        baseline = rss_mib()
        print(f"after {warmup:>11,} points: {baseline:8.1f} MiB (baseline)")
        started = time.perf_counter()
        report_every = max(args.points // 10, 1)
        worst = baseline
        for step in range(warmup, args.points):
            log({"loss": 1.0 / (step + 1)})
            if (step + 1) % report_every == 0:
                now = rss_mib()
                worst = max(worst, now)
                print(f"after {step + 1:>11,} points: {now:8.1f} MiB", flush=True)
        elapsed = time.perf_counter() - started
        journal = sum(f.stat().st_size for f in Path(tmp, ".expm").rglob("*.jsonl"))
        print(
            f"logged {args.points:,} points in {elapsed:.1f} s; journal {journal / 2**20:.0f} MiB"
        )
        print(
            f"resident memory growth after warm-up: {worst - baseline:+.1f} MiB (target: a few MB)"
        )
        # Ending would fold every point into the history; not what is measured here.
        manager.end_experiment("killed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
