"""The PostgreSQL store against the folder store and MLflow, on one server, in one run.

Every figure is measured in this run, on this machine, with the server on loopback;
each PostgreSQL part gets a fresh database, dropped at the end (``--keep`` keeps them).

1. **Streaming** ``log()``: 10 metrics x ``--steps`` steps, one call per step, through
   the folder store and the PostgreSQL store (best of ``--rounds`` alternating rounds).
   Printed: the loop itself (what training waits for; target: at most 2x the folder
   store), then ``flush()`` (until the server has committed every point) and
   ``end_experiment()`` apart.
2. **Bulk** ``log_metrics()``: ``--bulk-calls`` calls of 10 metrics x 1,000 values on
   one version, both stores (committed when each call returns). Target: at most 3x.
3. **MLflow** on the same server (its own database): ``mlflow.log_metric`` for each
   metric of each step, ``mlflow.log_metrics`` once per step, and
   ``MlflowClient.log_batch`` (1,000 values a call, MLflow's limit) for the bulk
   values, in a separate virtual environment made under ``--cache`` on first use
   (``pip install mlflow psycopg2-binary``). Printed per point beside ours. Target:
   ours at least 20x faster per point.
4. **Reads at scale**: one experiment of 10 metrics x 100 points per version, first
   ``--versions / 10`` versions (1 M points), then ``--versions`` (10 M). Loaded through
   the store interface (one version made by the real API, copied with new values,
   stored by ``add_versions`` in batches). Timed through the public surface:
   ``expm --log-dir URI ls`` and ``expm ... search`` with a metric condition as
   processes (beside ``python -c "import experiment_manager"``), the same search
   in-process (``ExperimentManager.search``), and the dashboard's
   ``/api/experiments/big/series`` for 20 versions through Starlette's in-process
   client, on a new app each time (cold) and again (warm). Target: each under 1 s at
   10 M points; the growth from 1 M to 10 M is printed.
5. **Many writers**: 8 processes x 25 versions (one bulk ``log_metrics`` each) on one
   id, released together: wall time, and the versions, which must be exactly 1..200;
   the same work on the folder store beside it.

The server: ``--uri``, else ``EXPM_TEST_POSTGRES_URI``, else a throwaway cluster
started with ``.ci/start-postgres`` (Debian's PostgreSQL 15) and stopped at the end.

Run: ``python benchmarks/bench_postgres.py [--uri URI] [--quick] [--parts 1 2 3 4 5]``
(about 10 minutes on 2 cores, most of it loading 10 M points; ``--quick``: about 2)
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from experiment_manager import ExperimentManager

METRICS = [f"metric_{i}" for i in range(10)]
SCALE_METRICS = [f"m{i}" for i in range(10)]
SCALE_POINTS = 100
CONTEXT = multiprocessing.get_context("spawn")
REPO = Path(__file__).resolve().parent.parent


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the server -------------------------------------------------------------------------


def with_database(uri: str, name: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


class Server:
    """A PostgreSQL server to measure on: given, or started here and stopped at the end."""

    def __init__(self, uri: str | None) -> None:
        self._folder: Path | None = None
        if uri is None:
            self._folder = Path(tempfile.mkdtemp(prefix="expm-bench-pg-"))
            self._folder.chmod(0o755)
            progress("starting a throwaway PostgreSQL server (.ci/start-postgres) ...")
            done = subprocess.run(
                [str(REPO / ".ci" / "start-postgres"), str(self._folder / "cluster")],
                capture_output=True,
                text=True,
                check=True,
            )
            uri = done.stdout.strip().splitlines()[-1]
        self.uri = uri
        self._made: list[str] = []

    def database(self, keep: bool = False) -> str:
        """A new empty database; its URI."""
        import psycopg

        name = f"expm_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.uri, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
        if not keep:
            self._made.append(name)
        else:
            progress(f"kept database {name}")
        return with_database(self.uri, name)

    def close(self) -> None:
        import psycopg

        with psycopg.connect(self.uri, autocommit=True) as connection:
            for name in self._made:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self._folder is not None:
            pg_ctl = "/usr/lib/postgresql/15/bin/pg_ctl"
            command = [pg_ctl, "-D", str(self._folder / "cluster" / "data"), "-m", "fast", "stop"]
            if os.geteuid() == 0:
                command = ["runuser", "-u", "postgres", "--", *command]
            subprocess.run(command, capture_output=True, check=False)
            shutil.rmtree(self._folder, ignore_errors=True)

    def describe(self) -> str:
        import psycopg

        with psycopg.connect(self.uri, autocommit=True) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            fsync = connection.execute("SHOW fsync").fetchone()
            commit = connection.execute("SHOW synchronous_commit").fetchone()
        host = urlsplit(self.uri).hostname
        assert row is not None
        assert fsync is not None
        assert commit is not None
        return f"PostgreSQL {row[0]} on {host}, fsync={fsync[0]}, synchronous_commit={commit[0]}"


def close(manager: ExperimentManager) -> None:
    """Close the store's connections (only the PostgreSQL store has any)."""
    closing = getattr(manager.store, "close", None)
    if closing is not None:
        closing()


@contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="expm-bench-") as tmp:
        yield Path(tmp)


# -- 1. streaming -----------------------------------------------------------------------


def make_points(steps: int) -> list[dict[str, float]]:
    rng = random.Random(0)
    return [{name: rng.random() for name in METRICS} for _ in range(steps)]


def stream(log_dir: str | Path, points: list[dict[str, float]]) -> tuple[float, float, float]:
    """Seconds of the log() loop, of flush() after it, and of end_experiment()."""
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("bench", {}, {})
    log = manager.log
    started = time.perf_counter()
    for point in points:
        log(point)
    looped = time.perf_counter()
    manager.flush()
    flushed = time.perf_counter()
    manager.end_experiment()
    ended = time.perf_counter()
    assert len(manager.read_history("bench")[0]["metrics"][METRICS[0]]) == len(points)
    close(manager)
    return looped - started, flushed - looped, ended - flushed


def part_stream(server: Server, args: argparse.Namespace) -> dict[str, float]:
    points = make_points(args.steps)
    files: list[tuple[float, float, float]] = []
    pg: list[tuple[float, float, float]] = []
    for round_number in range(args.rounds):
        with folder() as tmp:
            files.append(stream(tmp / "logs", points))
        pg.append(stream(server.database(), points))
        progress(f"part 1: round {round_number + 1}/{args.rounds} done")
    n = args.steps
    f_best = min(files, key=lambda t: t[0])
    p_best = min(pg, key=lambda t: t[0])
    print(f"\n1. log(): {n:,} steps x {len(METRICS)} metrics, one call per step")
    print(f"   {'':28s} {'loop us/step':>13s} {'flush ms':>9s} {'end ms':>8s}")
    for label, (loop, flush, end) in (("folder store", f_best), ("PostgreSQL store", p_best)):
        print(f"   {label:28s} {loop / n * 1e6:13.2f} {flush * 1e3:9.1f} {end * 1e3:8.1f}")
    ratio = p_best[0] / f_best[0]
    print(f"   ratio (loop): {ratio:.2f}x (target <= 2x) {'ok' if ratio <= 2 else 'MISSED'}")
    committed = (p_best[0] + p_best[1]) / n
    label = "PostgreSQL until every point is committed (loop + flush)"
    print(f"   {label}: {committed * 1e6:.2f} us/step")
    return {
        "log_point": p_best[0] / (n * len(METRICS)),
        "committed_point": committed / len(METRICS),
    }


# -- 2. bulk --------------------------------------------------------------------------------


def make_calls(count: int) -> list[dict[str, list[float]]]:
    rng = random.Random(1)
    return [{name: [rng.random() for _ in range(1000)] for name in METRICS} for _ in range(count)]


def bulk(log_dir: str | Path, calls: list[dict[str, list[float]]]) -> float:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("bench", {}, {})
    started = time.perf_counter()
    for call in calls:
        manager.log_metrics(call)
    elapsed = time.perf_counter() - started
    manager.end_experiment()
    assert len(manager.read_history("bench")[0]["metrics"][METRICS[0]]) == 1000 * len(calls)
    close(manager)
    return elapsed


def part_bulk(server: Server, args: argparse.Namespace) -> dict[str, float]:
    calls = make_calls(args.bulk_calls)
    files, pg = [], []
    for round_number in range(args.rounds):
        with folder() as tmp:
            files.append(bulk(tmp / "logs", calls))
        pg.append(bulk(server.database(), calls))
        progress(f"part 2: round {round_number + 1}/{args.rounds} done")
    n = args.bulk_calls
    f, p = min(files), min(pg)
    print(f"\n2. log_metrics(): {n} calls x {len(METRICS)} metrics x 1,000 values, one version")
    print(f"   folder store:     {f / n * 1e3:8.2f} ms/call")
    print(f"   PostgreSQL store: {p / n * 1e3:8.2f} ms/call (committed when it returns)")
    ratio = p / f
    print(f"   ratio: {ratio:.2f}x (target <= 3x) {'ok' if ratio <= 3 else 'MISSED'}")
    return {"bulk_point": p / (n * len(METRICS) * 1000)}


# -- 3. MLflow ------------------------------------------------------------------------------

MLFLOW_SCRIPT = """\
import json
import logging
import sys
import time

logging.disable(logging.WARNING)
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

uri = sys.argv[1]
per_metric_steps, per_step_steps, batches = (int(a) for a in sys.argv[2:5])
names = [f"metric_{i}" for i in range(10)]
mlflow.set_tracking_uri(uri)
started = time.perf_counter()
client = MlflowClient()
experiment = client.create_experiment("bench")
out = {"setup": time.perf_counter() - started, "version": mlflow.__version__}

with mlflow.start_run(experiment_id=experiment):
    started = time.perf_counter()
    for step in range(per_metric_steps):
        for i, name in enumerate(names):
            mlflow.log_metric(name, step * 0.001 + i, step=step)
    out["log_metric"] = [time.perf_counter() - started, per_metric_steps * len(names)]

with mlflow.start_run(experiment_id=experiment):
    started = time.perf_counter()
    for step in range(per_step_steps):
        mlflow.log_metrics({name: step * 0.001 + i for i, name in enumerate(names)}, step=step)
    out["log_metrics"] = [time.perf_counter() - started, per_step_steps * len(names)]

run = client.create_run(experiment)
now = int(time.time() * 1000)
started = time.perf_counter()
for b in range(batches):  # one metric's 1,000 values a call: MLflow's limit per batch
    name = names[b % len(names)]
    base = (b // len(names)) * 1000
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(name, (base + i) * 0.001, now, base + i) for i in range(1000)],
    )
out["log_batch"] = [time.perf_counter() - started, batches * 1000]
client.set_terminated(run.info.run_id)
print(json.dumps(out))
"""


def mlflow_python(cache: Path) -> Path | None:
    """The venv's python with mlflow and psycopg2, made on first use; None if it fails."""
    venv = cache / "mlflow-venv"
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import mlflow, psycopg2"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    progress(f"part 3: installing mlflow into {venv} (once) ...")
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "mlflow", "psycopg2-binary"],
            capture_output=True,
            text=True,
            check=False,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"\n3. MLflow: could not make a virtual environment ({error}); skipped")
        return None
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])
        print(f"\n3. MLflow: could not be installed (pip: {tail}); skipped")
        return None
    return python


def part_mlflow(server: Server, args: argparse.Namespace, ours: dict[str, float]) -> None:
    python = mlflow_python(args.cache)
    if python is None:
        return
    # SQLAlchemy 2.1 takes psycopg 3 for a bare postgresql://: name the driver installed.
    uri = server.database().replace("postgresql://", "postgresql+psycopg2://", 1)
    progress("part 3: MLflow on the same server ...")
    with folder() as tmp:
        done = subprocess.run(
            [str(python), "-c", MLFLOW_SCRIPT, uri, *map(str, args.mlflow)],
            capture_output=True,
            text=True,
            cwd=tmp,  # no git repository around: MLflow would read it at each run start
            check=False,
        )
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])
        print(f"\n3. MLflow: its run failed ({tail}); skipped")
        return
    result = json.loads(done.stdout.strip().splitlines()[-1])
    per = {
        key: result[key][0] / result[key][1] for key in ("log_metric", "log_metrics", "log_batch")
    }
    print(f"\n3. MLflow {result['version']} (its own client, SQL store on the same server)")
    print(f"   its schema made on first use: {result['setup']:.1f} s (not counted)")
    print(f"   {'':44s} {'us/point':>10s} {'ours faster':>12s}")

    def row(label: str, seconds: float, mine: float | None) -> None:
        if mine is None:
            print(f"   {label:44s} {seconds * 1e6:10.2f}")
        else:
            ratio = seconds / mine
            mark = "ok" if ratio >= 20 else "MISSED"
            print(f"   {label:44s} {seconds * 1e6:10.2f} {ratio:11.0f}x {mark}")

    log_point = ours.get("log_point")
    committed = ours.get("committed_point")
    bulk_point = ours.get("bulk_point")
    if log_point is not None:
        row("ours: log(), per point", log_point, None)
    if committed is not None:
        row("ours: log() until committed, per point", committed, None)
    n1, n2 = result["log_metric"][1], result["log_metrics"][1]
    row(f"mlflow.log_metric, each metric ({n1:,} points)", per["log_metric"], log_point)
    row(f"mlflow.log_metrics, each step ({n2:,} points)", per["log_metrics"], log_point)
    if committed is not None:
        row("  the same, against ours until committed", per["log_metrics"], committed)
    if bulk_point is not None:
        row("ours: log_metrics(), per point", bulk_point, None)
    n3 = result["log_batch"][1]
    row(f"MlflowClient.log_batch ({n3:,} points)", per["log_batch"], bulk_point)
    print("   target: ours at least 20x faster per point")


# -- 4. reads at scale ------------------------------------------------------------------


def template(uri: str) -> dict[str, Any]:
    """One version made through the real API (10 metrics x 100 steps by log()), stored."""
    manager = ExperimentManager(uri, capture_environment=False)
    manager.start_experiment("sweep", {"lr": 0.1, "seed": 0}, {}, experiment_id="template")
    for step in range(SCALE_POINTS):
        manager.log({name: 1 / (step + 1) for name in SCALE_METRICS})
    manager.end_experiment()
    record = manager.store.load("template")[-1]
    close(manager)
    return record


def add_versions(uri: str, base: dict[str, Any], first: int, last: int, batch: int) -> float:
    """Store versions ``first``..``last`` of ``big`` (copies of ``base``); seconds taken."""
    from experiment_manager.stores import open_store

    store = open_store(uri)
    rng = random.Random(first)
    started = time.perf_counter()
    number = first
    while number <= last:
        records = []
        for n in range(number, min(number + batch, last + 1)):
            record = dict(base)  # the store copies what it stores: share the rest
            record["hyperparameters"] = {"lr": 10 ** -(1 + n % 5), "seed": n, "width": 64 * (n % 8)}
            rate = 5 + n % 50
            record["metrics"] = {
                name: [math.exp(-i / rate) + rng.random() * 0.1 for i in range(SCALE_POINTS)]
                for name in SCALE_METRICS
            }
            records.append(record)
        got = store.add_versions("big", records)
        assert got == list(range(number, number + len(records))), got[:3]
        number += len(records)
        if (number - first) % (batch * 10) == 0 or number > last:
            done, total = number - first, last - first + 1
            rate_now = done / (time.perf_counter() - started)
            progress(f"part 4: {done:,}/{total:,} versions stored ({rate_now:,.0f}/s)")
    store_close = getattr(store, "close", None)
    if store_close is not None:
        store_close()
    return time.perf_counter() - started


def median_of(times: int, action: Callable[[], object]) -> float:
    """The median of ``times`` runs of ``action``, after one run not counted (warm-up)."""
    action()
    taken = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        taken.append(time.perf_counter() - started)
    return statistics.median(taken)


def run_quiet(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[1:3]} failed ({done.returncode}): {done.stderr[-500:]}")


SEARCH = "metrics.m0.min < 0.01 and hp.width >= 256"
SERIES = "/api/experiments/big/series?metric=m0&versions=" + ",".join(map(str, range(1, 21)))


def measure_reads(uri: str, repeat: int) -> dict[str, float]:
    warnings.filterwarnings("ignore", message=".*httpx.*")  # TestClient's deprecation note
    from starlette.testclient import TestClient

    from experiment_manager.web import create_app

    expm = str(Path(sys.executable).with_name("expm"))
    out: dict[str, float] = {}
    out["import"] = median_of(
        repeat, lambda: run_quiet([sys.executable, "-c", "import experiment_manager"])
    )
    out["ls"] = median_of(repeat, lambda: run_quiet([expm, "--log-dir", uri, "ls"]))
    out["search_cli"] = median_of(
        repeat, lambda: run_quiet([expm, "--log-dir", uri, "search", SEARCH, "-e", "big"])
    )
    manager = ExperimentManager(uri, capture_environment=False)
    found = manager.search(SEARCH, experiment_id="big")
    out["found"] = len(found)
    out["search"] = median_of(repeat, lambda: manager.search(SEARCH, experiment_id="big"))
    close(manager)

    def series_cold() -> None:
        app = create_app(uri, allowed_hosts=["testserver"])
        with TestClient(app) as client:
            response = client.get(SERIES)
            assert response.status_code == 200, response.text[:300]
            body = response.json()
            assert len(body["series"]) == 20
            assert body["series"][0]["total"] == SCALE_POINTS

    out["series_cold"] = median_of(repeat, series_cold)
    app = create_app(uri, allowed_hosts=["testserver"])
    with TestClient(app) as client:
        client.get(SERIES)
        out["series_warm"] = median_of(repeat, lambda: client.get(SERIES))
    import psycopg

    with psycopg.connect(uri) as connection:
        sizes = connection.execute(
            "SELECT sum(pg_total_relation_size(c.oid)), sum(pg_indexes_size(c.oid))"
            " FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE 'expm%%'"
        ).fetchone()
    assert sizes is not None
    out["bytes"], out["index_bytes"] = float(sizes[0]), float(sizes[1])
    return out


def part_scale(server: Server, args: argparse.Namespace) -> None:
    uri = server.database(keep=args.keep)
    small = args.versions // 10
    base = template(uri)
    points = SCALE_POINTS * len(SCALE_METRICS)
    load_small = add_versions(uri, base, 1, small, args.batch)
    at_small = measure_reads(uri, args.repeat)
    progress(f"part 4: reads at {small * points:,} points measured")
    load_big = add_versions(uri, base, small + 1, args.versions, args.batch)
    at_big = measure_reads(uri, args.repeat)
    m_small, m_big = small * points / 1e6, args.versions * points / 1e6
    loaded = (small * points + (args.versions - small) * points) / (load_small + load_big)
    print(
        f"\n4. reads at scale: experiment 'big', {len(SCALE_METRICS)} metrics x"
        f" {SCALE_POINTS} points per version"
    )
    print(f"   loaded through add_versions: {loaded:,.0f} points/s")
    head_small = f"{small:,} v ({m_small:g} M pts)"
    head_big = f"{args.versions:,} v ({m_big:g} M pts)"
    print(
        f"   {'median of ' + str(args.repeat):44s} {head_small:>20s} {head_big:>21s} {'growth':>7s}"
    )
    rows = [
        ("python -c 'import experiment_manager'", "import", False),
        ("expm --log-dir URI ls", "ls", True),
        ("expm --log-dir URI search QUERY -e big", "search_cli", True),
        ("ExperimentManager.search (in-process)", "search", True),
        ("dashboard series, 20 versions, cold app", "series_cold", True),
        ("dashboard series, 20 versions, warm", "series_warm", True),
    ]
    for label, key, judged in rows:
        a, b = at_small[key], at_big[key]
        mark = ("ok" if b < 1 else "MISSED") if judged else ""
        print(f"   {label:44s} {a * 1e3:17.0f} ms {b * 1e3:18.0f} ms {b / a:6.1f}x {mark}")
    for label, key in (("tables with indexes", "bytes"), ("of which indexes", "index_bytes")):
        a, b = at_small[key], at_big[key]
        per = b / (args.versions * points)
        print(
            f"   {'storage, ' + label:44s} {a / 2**20:14.0f} MiB {b / 2**20:15.0f} MiB"
            f" {b / a:6.1f}x  ({per:.1f} B/point)"
        )
    print(f"   QUERY: {SEARCH!r}")
    print(f"   search matched {at_small['found']:.0f} and {at_big['found']:.0f} versions")
    print("   target: each under 1 s at the larger size")


# -- 5. many writers ----------------------------------------------------------------------


def writer(log_dir: str, count: int, number: int, go: Any, results: Any) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    go.wait()
    versions = []
    for i in range(count):
        hyper = {f"h{k}": number * 1000 + i + k for k in range(10)}
        record = manager.start_experiment("many", hyper, {}, experiment_id="many")
        manager.log_metrics({"loss": [0.5] * 50, "acc": [0.1] * 50, "lr": [0.01] * 50})
        manager.end_experiment()
        versions.append(record.version)
    results.put(versions)


def writers(log_dir: str, processes: int, count: int) -> tuple[float, list[int]]:
    go = CONTEXT.Event()
    results = CONTEXT.Queue()
    workers = [
        CONTEXT.Process(target=writer, args=(log_dir, count, n, go, results))
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    time.sleep(3)  # every process has opened the store (imports on 2 cores included)
    started = time.perf_counter()
    go.set()
    got: list[int] = []
    for _ in workers:
        got += results.get(timeout=600)
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    return elapsed, sorted(got)


def part_writers(server: Server, args: argparse.Namespace) -> None:
    processes, count = 8, args.writer_versions
    expected = list(range(1, processes * count + 1))
    with folder() as tmp:
        f_time, f_got = writers(str(tmp / "logs"), processes, count)
    uri = server.database()
    p_time, p_got = writers(uri, processes, count)
    manager = ExperimentManager(uri, capture_environment=False)
    stored = [h["version"] for h in manager.read_history("many")]
    n = processes * count
    print(f"\n5. {processes} processes x {count} versions on one id, released together")
    print(f"   folder store:     {f_time:6.2f} s ({f_time / n * 1e3:.1f} ms/version)")
    print(f"   PostgreSQL store: {p_time:6.2f} s ({p_time / n * 1e3:.1f} ms/version)")
    print(f"   ratio: {p_time / f_time:.2f}x")
    ok = p_got == expected and stored == expected and f_got == expected
    print(f"   versions given and stored exactly 1..{n}: {'yes' if ok else 'NO'}")
    if not ok:
        missing = sorted(set(expected) - set(stored))
        print(f"   missing {missing[:10]}, duplicates {len(p_got) - len(set(p_got))}")


# -- main ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", help="a PostgreSQL server (default: EXPM_TEST_POSTGRES_URI)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one round")
    parser.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--cache", type=Path, help="where the MLflow venv is kept")
    parser.add_argument("--keep", action="store_true", help="keep part 4's database")
    args = parser.parse_args()
    quick = args.quick
    args.steps = 2_000 if quick else 10_000
    args.rounds = 1 if quick else 3
    args.bulk_calls = 5 if quick else 20
    args.versions = 1_000 if quick else 10_000
    args.batch = 100 if quick else 250
    args.repeat = 3
    args.writer_versions = 25
    # MLflow: steps of log_metric (10 calls each), steps of log_metrics, log_batch calls.
    args.mlflow = (50, 200, 10) if quick else (300, 1000, 30)
    if args.cache is None:
        cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        args.cache = Path(cache_home) / "experiment_manager" / "bench"
    args.cache.mkdir(parents=True, exist_ok=True)

    server = Server(args.uri or os.environ.get("EXPM_TEST_POSTGRES_URI"))
    spool = tempfile.mkdtemp(prefix="expm-bench-spool-")
    os.environ["EXPM_SPOOL_DIR"] = spool  # the local journals, for every process
    try:
        print(f"server: {server.describe()}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}")
        ours: dict[str, float] = {}
        if 1 in args.parts:
            ours.update(part_stream(server, args))
        if 2 in args.parts:
            ours.update(part_bulk(server, args))
        if 3 in args.parts:
            part_mlflow(server, args, ours)
        if 4 in args.parts:
            part_scale(server, args)
        if 5 in args.parts:
            part_writers(server, args)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
