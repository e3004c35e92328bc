"""Core costs: import time, and how read_history / start_experiment grow with history size.

1. ``python -c "import experiment_manager"`` against ``python -c pass``: median of N
   runs of each, interleaved, in this same run (target: at most 2x). The package's
   bytecode is compiled first, as ``pip install`` does, so that an editable checkout
   (or PYTHONDONTWRITEBYTECODE) does not measure the compiler instead.
2. For experiments of 10, 100 and 1,000 versions x 10 metrics x 100 values (built with
   the specification's API): the time of one ``read_history`` and of one more
   ``start_experiment`` (targets: well under a second at 1,000 versions).

Run: ``python benchmarks/bench_core.py [--runs 10] [--sizes 10 100 1000]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from experiment_manager import ExperimentManager

METRICS = [f"metric_{i}" for i in range(10)]


def time_command(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def import_cost(runs: int) -> None:
    import compileall

    import experiment_manager

    compileall.compile_dir(str(Path(experiment_manager.__file__).parent), quiet=1)
    bare, ours = [], []
    for _ in range(runs):
        bare.append(time_command("pass"))
        ours.append(time_command("import experiment_manager"))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"import (median of {runs}):")
    print(f"  python -c pass:                       {b * 1e3:7.1f} ms")
    print(f"  python -c 'import experiment_manager': {o * 1e3:7.1f} ms")
    print(f"  ratio: {o / b:.2f}x (target <= 2x)")


def build(folder: Path, versions: int) -> ExperimentManager:
    manager = ExperimentManager(folder, capture_environment=False)
    values = [i / 100 for i in range(100)]
    for version in range(versions):
        manager.start_experiment("scale", {"lr": 0.001 * (version + 1), "seed": version}, {})
        manager.log_metrics({name: values for name in METRICS})
        manager.add_checkpoint(f"checkpoints/v{version + 1}.pt")
        if (version + 1) % 100 == 0:
            print(f"  built {version + 1}/{versions} versions", file=sys.stderr)
    manager.end_experiment()
    return manager


def scaling(sizes: list[int]) -> None:
    print("history size (versions x 10 metrics x 100 values):")
    header = ("versions", "file MiB", "read_history ms", "start_experiment ms")
    print("  {:>8}  {:>8}  {:>15}  {:>19}".format(*header))
    for versions in sizes:
        with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
            folder = Path(tmp)
            manager = build(folder, versions)
            size = (folder / "scale.json").stat().st_size / 2**20
            reader = ExperimentManager(folder, capture_environment=False)
            reads = []
            for _ in range(3):
                started = time.perf_counter()
                history = reader.read_history("scale")
                reads.append(time.perf_counter() - started)
            assert len(history) == versions
            fresh = ExperimentManager(folder, capture_environment=False)
            started = time.perf_counter()
            fresh.start_experiment("scale", {"lr": 1.0}, {})
            start_cost = time.perf_counter() - started
            fresh.end_experiment()
            del manager
            read_ms, start_ms = min(reads) * 1e3, start_cost * 1e3
            print(f"  {versions:>8}  {size:>8.1f}  {read_ms:>15.1f}  {start_ms:>19.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args()
    import_cost(args.runs)
    scaling(args.sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
