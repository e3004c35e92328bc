"""Look-and-compare speed: ``expm ls``, ``expm history`` and ``expm search`` on big log dirs.

Two log dirs are built (and kept under ``--cache`` for later runs):

* ``many``: 1,000 experiments x 10 versions, 10 metrics x 100 values each;
* ``big``: one experiment with 10,000 versions x 10 metrics x 100 values.

Building them through ``start_experiment`` would rewrite a growing history 10,000
times, so one version is made through the real API and its stored form is copied with
new numbers and values, then written with the store's bulk ``add_versions`` (the same
file format as the API). Each command then runs as a real subprocess, timed
from start to exit (median of 3), beside ``python -c "import experiment_manager"``.
Target: each command under 1 s.

Run: ``python benchmarks/bench_cli.py [--cache DIR]``
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from experiment_manager import ExperimentManager
from experiment_manager.stores.files import FileStore

METRICS = [f"m{i}" for i in range(10)]


def template(folder: Path) -> dict[str, Any]:
    """One version made through the real API, in stored form."""
    manager = ExperimentManager(folder / "template")
    manager.start_experiment("template", {"lr": 0.1, "batch_size": 32}, {"precision": "fp32"})
    manager.log_metrics({name: [0.0] * 100 for name in METRICS})
    manager.end_experiment()
    return FileStore(folder / "template").load("template")[-1]


def versions_like(
    base: dict[str, Any], experiment_id: str, count: int, rng: random.Random
) -> list[dict[str, Any]]:
    out = []
    for number in range(1, count + 1):
        version = copy.deepcopy(base)
        version["experiment_id"] = experiment_id
        version["config_name"] = experiment_id
        version["version"] = number
        version["hyperparameters"] = {"lr": rng.choice([0.1, 0.01, 0.001]), "seed": number}
        version["metrics"] = {name: [rng.random() for _ in range(100)] for name in METRICS}
        out.append(version)
    return out


def build(cache: Path) -> tuple[Path, Path]:
    many, big = cache / "many", cache / "big"
    rng = random.Random(0)
    if not (big / "big.json").exists():
        base = template(cache)
        print("building big: 10,000 versions ...", file=sys.stderr)
        FileStore(big).add_versions("big", versions_like(base, "big", 10_000, rng))
    if not (many / "exp-0999.json").exists():
        base = template(cache)
        store = FileStore(many)
        for index in range(1000):
            name = f"exp-{index:04d}"
            store.add_versions(name, versions_like(base, name, 10, rng))
            if (index + 1) % 200 == 0:
                print(f"building many: {index + 1}/1000 experiments", file=sys.stderr)
    return many, big


def timed(argv: list[str]) -> float:
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, check=False)
        runs.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"{argv} failed: {done.stderr.decode()}")
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="expm-bench-"))
    cache.mkdir(parents=True, exist_ok=True)
    many, big = build(cache)
    expm = [sys.executable, "-m", "experiment_manager"]
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("import experiment_manager", [sys.executable, "-c", "import experiment_manager"]),
        ("expm ls (1,000 x 10)", [*expm, "--log-dir", str(many), "ls"]),
        ("expm history (10,000 versions)", [*expm, "--log-dir", str(big), "history", "big"]),
        (
            "expm search over 10,000 versions",
            [*expm, "--log-dir", str(big), "search", "metrics.m0.min < 0.01 and hp.lr = 0.1"],
        ),
        (
            "expm search, all 1,000 experiments",
            [*expm, "--log-dir", str(many), "search", "metrics.m3.max > 0.999"],
        ),
    ]
    for _, argv in cases[2:]:
        # Warms the disk cache, and rebuilds indexes left by an older format once.
        subprocess.run(argv, capture_output=True, check=False)
    print(f"log dirs: {cache}")
    for label, argv in cases:
        seconds = timed(argv)
        verdict = (
            ""
            if label.startswith(("python", "import"))
            else ("  ok" if seconds < 1 else "  OVER 1 s")
        )
        print(f"  {label:<36} {seconds * 1e3:8.0f} ms{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
