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

Then how promptly ``expm ui`` stops on SIGTERM (a service manager's stop, ``docker
stop``): ``expm ui --port 0`` on a small log folder is started, asked for a page once it
says where it serves, sent SIGTERM, and timed from the signal to its exit (median of
``--stops`` runs), with no connection open and with a kept-alive one open (as a
browser tab holds). The baseline, in the same run: ``python -m http.server --bind
127.0.0.1 0``, which dies of the signal at once. Both times, their ratio and the exit
codes are printed (``expm ui`` must exit 0; the baseline's -15 is death by the signal).
Target: under 0.5 s (it once took 1.8 s).

Run: ``python benchmarks/bench_cli.py [--cache DIR] [--stops 5] [--only-sigterm]``
"""

from __future__ import annotations

import argparse
import copy
import http.client
import random
import re
import signal
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


#: How each server says where it listens: (stream, pattern with the port as group 1).
_UI_SAYS = ("stderr", re.compile(r"^Serving .* at http://127\.0\.0\.1:(\d+)/"))
_HTTP_SERVER_SAYS = ("stdout", re.compile(r"port (\d+)"))


def small_log_dir(folder: Path) -> Path:
    """A few versions of one experiment, made through the real API."""
    log_dir = folder / "small"
    if not (log_dir / "exp.json").exists():
        manager = ExperimentManager(log_dir, capture_environment=False)
        for index in range(3):
            with manager.experiment("exp", {"lr": 0.1 * (index + 1)}, experiment_id="exp"):
                for step in range(100):
                    manager.log({"loss": 1 / (step + 1)}, step=step)
    return log_dir


def time_sigterm(
    argv: list[str], says: tuple[str, re.Pattern[str]], keep_alive: bool, cwd: str
) -> tuple[float, int]:
    """Start a server, fetch ``/`` once it says its port, SIGTERM it, time until it exits.

    Returns:
        Seconds from the signal to the exit, and the exit code.
    """
    stream_name, pattern = says
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd
    )
    connection = None
    try:
        stream = getattr(process, stream_name)
        port = None
        for _ in range(50):
            match = pattern.search(stream.readline())
            if match:
                port = int(match.group(1))
                break
        if port is None:
            raise RuntimeError(f"{argv} never said where it serves")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/")
        connection.getresponse().read()
        if not keep_alive:
            connection.close()
        started = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        took = time.perf_counter() - started
    finally:
        if connection is not None:
            connection.close()
        process.kill()
        process.communicate()
    return took, process.returncode


def bench_sigterm(cache: Path, stops: int) -> None:
    log_dir = small_log_dir(cache)
    ui = [sys.executable, "-m", "experiment_manager", "--log-dir", str(log_dir), "ui"]
    ui += ["--port", "0"]
    baseline = [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"]
    with tempfile.TemporaryDirectory() as empty:  # http.server serves its working folder
        cases = [
            ("python -m http.server (baseline)", baseline, _HTTP_SERVER_SAYS, False),
            ("expm ui --port 0", ui, _UI_SAYS, False),
            ("expm ui, a kept-alive connection open", ui, _UI_SAYS, True),
        ]
        results: dict[str, tuple[float, set[int]]] = {}
        for label, argv, says, keep_alive in cases:
            runs = []
            codes = set()
            for _ in range(stops):
                took, code = time_sigterm(argv, says, keep_alive, cwd=empty)
                runs.append(took)
                codes.add(code)
            results[label] = (statistics.median(runs), codes)
    base = results[cases[0][0]][0]
    print(f"SIGTERM to exit, median of {stops}:")
    for label, (seconds, codes) in results.items():
        exit_codes = ",".join(str(code) for code in sorted(codes))
        line = f"  {label:<40} {seconds * 1e3:8.1f} ms  exit {exit_codes}"
        if not label.endswith("(baseline)"):
            verdict = "ok" if seconds < 0.5 and codes == {0} else "SLOW OR UNCLEAN"
            line += f"  x{seconds / base:.0f} the baseline  {verdict}"
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--stops", type=int, default=5, help="SIGTERM runs per server")
    parser.add_argument(
        "--only-sigterm", action="store_true", help="only time expm ui's stop on SIGTERM"
    )
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="expm-bench-"))
    cache.mkdir(parents=True, exist_ok=True)
    if args.only_sigterm:
        bench_sigterm(cache, args.stops)
        return 0
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
    bench_sigterm(cache, args.stops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
