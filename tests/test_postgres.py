"""The PostgreSQL store's own guarantees, on a real server (see tests/_postgres.py).

What every backend shares is in the contract suites (``each_store``,
tests/test_store_contract.py); here: choosing the store by URI, hidden passwords,
typed connection errors, migrations, and what ``log()`` promises when processes are
killed and the server is slow or restarts.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from experiment_manager import (
    ExperimentManager,
    InvalidMetricError,
    StoreConnectionError,
    UnsupportedSchemaError,
)
from experiment_manager.cli import main
from experiment_manager.stores import open_store
from experiment_manager.stores.postgres import PostgresStore, _schema
from tests._postgres import Databases, with_database
from tests._util import assert_same

pytestmark = pytest.mark.slow

PASSWORD = "expm-test"


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _expect(process: subprocess.Popen[str], word: str) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith(word):
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"expected {word!r}, got {line!r}; stderr: {err}")
    return line


def _reader(uri: str, experiment_id: str, spool: Path) -> list[dict[str, Any]]:
    """``read_history`` in another process that has no access to this host's journals."""
    script = """
        import json, sys
        from experiment_manager import ExperimentManager
        history = ExperimentManager(sys.argv[1]).read_history(sys.argv[2])
        print(json.dumps([{k: v[k] for k in ("version", "status", "metrics", "steps")}
                          for v in history]))
    """
    process = _run(script, uri, experiment_id, env={"EXPM_SPOOL_DIR": str(spool)})
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    result: list[dict[str, Any]] = json.loads(out)
    return result


# -- choosing the store, hiding the password ---------------------------------------


def test_a_postgresql_uri_opens_the_database_and_no_password_is_shown(
    postgres_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PASSWORD in postgres_uri
    for uri in (postgres_uri, postgres_uri.replace("postgresql://", "postgres://", 1)):
        assert isinstance(open_store(uri), PostgresStore)
    monkeypatch.setattr(sys, "argv", ["train.py", f"--log-dir={postgres_uri}"])
    manager = ExperimentManager(postgres_uri)
    record = manager.start_experiment("exp", {"lr": 0.1}, {})
    manager.log({"loss": 0.5})
    manager.end_experiment()
    shown = [repr(manager), str(manager.log_dir), repr(manager.store)]
    history = manager.read_history("exp")
    shown.append(json.dumps(history))
    assert all(PASSWORD not in text for text in shown), shown
    assert "***" in str(manager.log_dir)
    assert history[0]["environment"]["argv"][1].startswith("--log-dir=postgresql://expm:***@")
    assert record.version == 1
    assert history[0]["metrics"] == {"loss": [0.5]}


def test_every_cli_command_takes_the_uri_from_the_option_or_the_environment(
    postgres_uri: str,
) -> None:
    manager = ExperimentManager(postgres_uri)
    manager.start_experiment("cli_exp", {"lr": 0.01}, {})
    manager.log_metrics({"loss": [3, 2, 1]})
    manager.end_experiment()
    runner = CliRunner()
    by_option = runner.invoke(main, ["--log-dir", postgres_uri, "ls"])
    by_env = runner.invoke(main, ["history", "cli_exp"], env={"EXPM_LOG_DIR": postgres_uri})
    search = runner.invoke(
        main, ["--log-dir", postgres_uri, "search", "-e", "cli_exp", "metrics.loss.min < 2"]
    )
    show = runner.invoke(main, ["--log-dir", postgres_uri, "show", "cli_exp@1", "--json"])
    doctor = runner.invoke(main, ["--log-dir", postgres_uri, "doctor"])
    for result in (by_option, by_env, search, show, doctor):
        assert result.exit_code == 0, result.output
        assert PASSWORD not in result.output
    assert "cli_exp" in by_option.output
    assert "1 finished" in by_option.output
    assert json.loads(show.output)["metric_summaries"]["loss"]["min"] == 1
    assert "expm:***@" in doctor.output


def _silent_server() -> tuple[socket.socket, int]:
    """A port that accepts connections and never answers (a server that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    return server, server.getsockname()[1]


def test_bad_uris_refused_connections_and_wrong_passwords_fail_fast_with_typed_errors(
    postgres_uri: str,
) -> None:
    silent, port = _silent_server()
    wrong_password = postgres_uri.replace(PASSWORD, "not-the-password")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    cases = {
        "password": (wrong_password, "user name and password"),
        "refused": (f"postgresql://expm:{PASSWORD}@127.0.0.1:{closed_port}/x", "host and port"),
        "missing database": (with_database(postgres_uri, "no_such_db"), "database name"),
        "silent server": (f"postgresql://expm:{PASSWORD}@127.0.0.1:{port}/x", "host and port"),
    }
    try:
        for name, (uri, hint) in cases.items():
            started = time.monotonic()
            with pytest.raises(StoreConnectionError) as caught:
                ExperimentManager(uri)
            elapsed = time.monotonic() - started
            assert elapsed < 15, (name, elapsed)  # a bounded wait, never a hang
            message = str(caught.value)
            assert PASSWORD not in message, message
            assert "not-the-password" not in message, message
            assert hint in caught.value.hint, (name, caught.value.hint)
            assert caught.value.__cause__ is None
            assert caught.value.__suppress_context__
    finally:
        silent.close()
    result = CliRunner().invoke(main, ["--log-dir", wrong_password, "ls"])
    assert result.exit_code == 4
    assert "not-the-password" not in result.output
    assert "expm:***@" in result.output
    assert len(result.output.strip().splitlines()) == 1


# -- the schema --------------------------------------------------------------------


def test_many_processes_starting_on_an_empty_database_make_one_schema(
    postgres_uri: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    script = """
        import os, sys, time
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.001)
        from experiment_manager import ExperimentManager
        manager = ExperimentManager(sys.argv[1])
        record = manager.start_experiment("race", {}, {})
        manager.end_experiment()
        print("version", record.version, flush=True)
    """
    processes = [_run(script, postgres_uri, str(go)) for _ in range(8)]
    time.sleep(1.0)  # every process is waiting at the line
    go.touch()
    versions = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        versions.append(int(out.split()[1]))
    assert sorted(versions) == list(range(1, 9))
    import psycopg

    with psycopg.connect(postgres_uri) as connection:
        rows: list[tuple[str, str]] = connection.execute(
            "SELECT key, value FROM expm_meta ORDER BY key"
        ).fetchall()
    assert dict(rows)["schema"] == str(_schema.SCHEMA_VERSION)
    assert [key for key, _ in rows] == ["schema", "store"]


def test_a_schema_newer_than_the_library_is_refused_and_left_alone(postgres_uri: str) -> None:
    import psycopg

    manager = ExperimentManager(postgres_uri)
    manager.start_experiment("kept", {}, {})
    manager.end_experiment()
    with psycopg.connect(postgres_uri, autocommit=True) as connection:
        connection.execute("UPDATE expm_meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(UnsupportedSchemaError) as caught:
        ExperimentManager(postgres_uri)
    assert caught.value.found == 99
    assert caught.value.supported == _schema.SCHEMA_VERSION
    assert PASSWORD not in str(caught.value)
    result = CliRunner().invoke(main, ["--log-dir", postgres_uri, "ls"])
    assert result.exit_code == 4
    assert "newer" in result.output
    with psycopg.connect(postgres_uri, autocommit=True) as connection:
        assert connection.execute("SELECT count(*) FROM expm_versions").fetchone() == (1,)
        connection.execute(
            "UPDATE expm_meta SET value = %s WHERE key = 'schema'", (str(_schema.SCHEMA_VERSION),)
        )
    assert ExperimentManager(postgres_uri).read_history("kept")[0]["status"] == "finished"


def test_a_database_of_schema_1_is_migrated_with_its_versions_listed_the_same(
    postgres_uri: str,
) -> None:
    import psycopg

    manager = ExperimentManager(postgres_uri, capture_environment=False)
    for lr in (0.1, 0.01, 0.001):
        manager.start_experiment("cfg", {"lr": lr}, {}, experiment_id="old")
        manager.log_metrics({"loss": [lr, lr / 2]})
        manager.end_experiment("failed" if lr == 0.01 else "finished")
    manager.archive("old", 3)
    before = manager.list_experiments(include_archived=True)
    found = manager.search("metrics.loss.min < 0.02", experiment_id="old")
    # Back to what migration 1 made: no derived columns, no segments table, schema 1.
    with psycopg.connect(postgres_uri, autocommit=True) as connection:
        connection.execute(
            "ALTER TABLE expm_versions DROP COLUMN facts, DROP COLUMN hidden, DROP COLUMN created,"
            " DROP COLUMN activity, DROP COLUMN config, DROP COLUMN metric_names"
        )
        for function in ("text", "truthy", "hidden", "activity", "metric_names"):
            connection.execute(f"DROP FUNCTION expm_{function}(json)")
        connection.execute("DROP TABLE expm_segments")
        connection.execute("DROP FUNCTION expm_ship_closed, expm_add_points")
        connection.execute("UPDATE expm_meta SET value = '1' WHERE key = 'schema'")
    again = ExperimentManager(postgres_uri, capture_environment=False)
    with psycopg.connect(postgres_uri, autocommit=True) as connection:
        schema = connection.execute("SELECT value FROM expm_meta WHERE key = 'schema'").fetchone()
        hidden = connection.execute(
            "SELECT version, hidden FROM expm_versions ORDER BY 1"
        ).fetchall()
    assert schema == (str(_schema.SCHEMA_VERSION),)
    assert hidden == [(1, 0), (2, 0), (3, 1)]
    assert again.list_experiments(include_archived=True) == before
    assert again.list_experiments()[0]["versions"] == 2  # the archived one hidden
    assert [r["version"] for r in again.search("metrics.loss.min < 0.02", experiment_id="old")] == [
        r["version"] for r in found
    ]


# -- log(): no round trip, nothing lost --------------------------------------------


WRITER = """
    import sys
    from experiment_manager import ExperimentManager
    manager = ExperimentManager(sys.argv[1], capture_environment=False)
    manager.start_experiment("stream", {}, {})
    for i in range(int(sys.argv[2])):
        manager.log({"loss": 1.0 / (i + 1), "step_int": i}, step=i)
    print("logged", flush=True)
    sys.stdin.readline()
"""


def test_kill_9_right_after_log_returns_loses_no_point(postgres_uri: str, tmp_path: Path) -> None:
    points = 5000
    writer = _run(WRITER, postgres_uri, str(points))
    _expect(writer, "logged")
    writer.send_signal(signal.SIGKILL)  # at once: most points are not shipped yet
    writer.wait(timeout=30)
    # This host (the same journals) sees every point at once, and the run as crashed.
    history = ExperimentManager(postgres_uri).read_history("stream")
    assert history[0]["status"] == "crashed"
    assert history[0]["metrics"]["step_int"] == list(range(points))
    # Opening the store shipped the rest: another host sees every point too.
    elsewhere = _reader(postgres_uri, "stream", tmp_path / "other_host")
    assert elsewhere[0]["status"] == "crashed"
    assert elsewhere[0]["metrics"]["step_int"] == list(range(points))
    assert elsewhere[0]["steps"]["loss"] == list(range(points))


STALLED_WRITER = """
    import sys
    from experiment_manager import ExperimentManager
    manager = ExperimentManager(sys.argv[1], capture_environment=False)
    manager.start_experiment("left", {}, {})
    manager.log({"loss": -1.0}, step=0)
    manager.flush()  # the version's first point is in; the rest waits for the lock
    print("started", flush=True)
    sys.stdin.readline()
    for i in range(int(sys.argv[2])):
        manager.log({"loss": float(i)}, step=i + 1)
    print("logged", flush=True)
    sys.stdin.readline()
"""

ENDED_ELSEWHERE = {
    "doctor": """
        import sys
        from experiment_manager.doctor import doctor
        report = doctor(sys.argv[1])
        assert [c["version"] for c in report.crashed] == [1], report.crashed
    """,
    "resume": """
        import sys
        from experiment_manager import ExperimentManager
        manager = ExperimentManager(sys.argv[1], capture_environment=False)
        manager.resume_experiment("left", 1)
        manager.log({"loss": 1e6}, step=10**6)
        manager.end_experiment()
    """,
}


@pytest.mark.parametrize("how", sorted(ENDED_ELSEWHERE))
def test_a_tail_left_on_a_killed_writers_host_goes_in_after_another_host_ended_it(
    postgres_uri: str, tmp_path: Path, how: str
) -> None:
    """Host A's writer is killed with points only in its local journal; host B ends
    (doctor) or resumes the version; when A opens the store again, those points go in."""
    import psycopg

    points = 3000
    host_a = {"EXPM_SPOOL_DIR": str(tmp_path / "host_a")}
    writer = _run(STALLED_WRITER, postgres_uri, str(points), env=host_a)
    _expect(writer, "started")
    blocker = psycopg.connect(postgres_uri)
    blocker.execute("LOCK TABLE expm_points IN ACCESS EXCLUSIVE MODE")  # nothing ships
    try:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
        _expect(writer, "logged")
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        blocker.rollback()
        blocker.close()
    ender = _run(ENDED_ELSEWHERE[how], postgres_uri, env={"EXPM_SPOOL_DIR": str(tmp_path / "b")})
    _, err = ender.communicate(timeout=120)
    assert ender.returncode == 0, err
    before = _reader(postgres_uri, "left", tmp_path / "c")
    # A batch the server had received may have gone in; the rest is only on host A.
    assert len(before[0]["metrics"]["loss"]) < points
    # Host A opens the store again (any process there): the tail goes in.
    again = _reader(postgres_uri, "left", tmp_path / "host_a")
    expected = [-1.0, *map(float, range(points))]
    for history in (again, _reader(postgres_uri, "left", tmp_path / "d")):
        loss = history[0]["metrics"]["loss"]
        assert sorted(loss) == sorted(expected + ([1e6] if how == "resume" else []))
        steps = history[0]["steps"]["loss"]
        assert sorted(zip(steps, loss, strict=True)) == sorted(
            [(0, -1.0), *((i + 1, float(i)) for i in range(points))]
            + ([(10**6, 1e6)] if how == "resume" else [])
        )
    listed = ExperimentManager(postgres_uri).list_versions("left")
    assert listed[0]["metric_summaries"]["loss"]["count"] == len(expected) + (how == "resume")
    assert not list((tmp_path / "host_a").rglob("*.jsonl")) or not any(
        p.stat().st_size for p in (tmp_path / "host_a").rglob("*.jsonl")
    )
    # A second opening on host A adds nothing twice.
    assert _reader(postgres_uri, "left", tmp_path / "host_a")[0]["metrics"]["loss"] == loss


def test_log_does_not_wait_for_the_server_and_flush_waits_for_the_commit(
    postgres_uri: str, tmp_path: Path
) -> None:
    import psycopg

    manager = ExperimentManager(postgres_uri, capture_environment=False)
    manager.start_experiment("stalled", {}, {})
    manager.log({"loss": 0.0}, step=0)
    manager.flush()
    blocker = psycopg.connect(postgres_uri)
    blocker.execute("LOCK TABLE expm_points IN ACCESS EXCLUSIVE MODE")  # every insert waits
    try:
        started = time.monotonic()
        for i in range(1, 2001):
            manager.log({"loss": float(i)}, step=i)
        logging_took = time.monotonic() - started
        time.sleep(0.3)  # the shipper is now stuck behind the lock
        flushed = threading.Event()

        def flush() -> None:
            manager.flush()
            flushed.set()

        flusher = threading.Thread(target=flush)
        flusher.start()
        time.sleep(0.5)
        assert not flushed.is_set()  # flush waits for the commit
    finally:
        blocker.rollback()
        blocker.close()
    flusher.join(timeout=30)
    assert flushed.is_set()
    assert logging_took < 5.0  # no call waited on the locked table
    elsewhere = _reader(postgres_uri, "stalled", tmp_path / "other_host")
    assert elsewhere[0]["status"] == "running"
    assert elsewhere[0]["metrics"]["loss"] == [float(i) for i in range(2001)]
    manager.end_experiment()


def test_a_killed_writer_reads_as_crashed_from_another_process_at_once(
    postgres_uri: str, tmp_path: Path
) -> None:
    writer = _run(WRITER, postgres_uri, "10")
    _expect(writer, "logged")
    assert _reader(postgres_uri, "stream", tmp_path / "h2")[0]["status"] == "running"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _reader(postgres_uri, "stream", tmp_path / "h2")[0]["status"] != "crashed":
        assert time.monotonic() < deadline, "the killed writer's lock was not freed"
        time.sleep(0.2)


# -- data stored as data -----------------------------------------------------------


def test_hostile_names_and_non_finite_values_round_trip_exactly(
    postgres_uri: str, tmp_path: Path
) -> None:
    names = ["'; DROP TABLE expm_points; --", 'a"b\\c', "名前/ß", "emoji 🎉", "%s %(x)s"]
    values: list[Any] = [math.nan, math.inf, -math.inf, 0.1, -0.0, 1.0, 2**63 + 5, -(2**63), 1e308]
    histories = []
    for log_dir in (str(tmp_path / "files"), postgres_uri):
        manager = ExperimentManager(log_dir, capture_environment=False)
        manager.start_experiment("x=1@a+b.c-d", {"q": "'--"}, {"n": math.nan})
        for name in names:
            manager.log_metrics({name: values})
            manager.log({name: 7.5}, step=3)
        manager.end_experiment()
        history = manager.read_history("x=1@a+b.c-d")
        for version in history:
            for key in ("created_at", "ended_at", "duration", "timestamps"):
                version.pop(key, None)
        histories.append(history)
    files, database = histories
    # json tells 1.0 from 1 and -0.0 from 0.0, and writes NaN and the infinities
    assert json.dumps(database, sort_keys=True) == json.dumps(files, sort_keys=True)
    stored = database[0]["metrics"][names[0]]
    assert math.isnan(stored[0])
    assert stored[1:3] == [math.inf, -math.inf]
    assert type(stored[5]) is float
    assert type(stored[6]) is int
    assert stored[6] == 2**63 + 5
    assert math.copysign(1.0, stored[4]) == -1.0


def test_a_metric_name_postgresql_cannot_store_is_refused_and_nothing_is_written(
    postgres_uri: str,
) -> None:
    manager = ExperimentManager(postgres_uri, capture_environment=False)
    manager.start_experiment("zero_char", {}, {})
    with pytest.raises(InvalidMetricError):
        manager.log({"a\x00b": 1.0})
    with pytest.raises(InvalidMetricError):
        manager.log_metrics({"a\x00b": [1.0]})
    manager.log({"ok": 1.0})
    manager.end_experiment()
    assert manager.read_history("zero_char")[0]["metrics"] == {"ok": [1.0]}


def test_databases_fixture_makes_distinct_empty_databases(postgres_databases: Databases) -> None:
    first, second = postgres_databases.new(), postgres_databases.new()
    writer = ExperimentManager(first)
    writer.start_experiment("only_here", {}, {})
    writer.end_experiment()
    assert ExperimentManager(second).list_experiments() == []


# -- a server restart ----------------------------------------------------------------

RESTARTED_WRITER = """
    import json, os, sys, time
    from experiment_manager import ExperimentManager, StoreConnectionError
    manager = ExperimentManager(sys.argv[1], capture_environment=False)
    manager.start_experiment("restart", {}, {})
    stop, step, acked, failed = sys.argv[2], 0, [], 0
    print("started", flush=True)
    while not os.path.exists(stop):
        manager.log({"x": step}, step=step)
        step += 1
        if step % 100 == 0:
            try:
                manager.log_metrics({"bulk": [step]})
                acked.append(step)
            except StoreConnectionError:
                failed += 1
        time.sleep(0.001)
    deadline = time.monotonic() + 60
    while True:  # flush waits until the server took every point
        try:
            manager.flush()
            break
        except StoreConnectionError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    manager.end_experiment()
    print(json.dumps({"steps": step, "acked": acked, "failed": failed}), flush=True)
"""


def _pg_ctl(data: str, *args: str) -> None:
    log = os.path.join(os.path.dirname(data), "server.log")
    command = ["/usr/lib/postgresql/15/bin/pg_ctl", "-D", data, "-l", log, *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    # The server's output goes to its log: a pipe would be held open by the server.
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=120)


def test_a_server_restart_while_logging_loses_no_acknowledged_point(
    postgres_uri: str, tmp_path: Path
) -> None:
    data = os.environ.get("EXPM_TEST_POSTGRES_DATA")
    if not data:
        if os.environ.get("CI"):
            pytest.fail("EXPM_TEST_POSTGRES_DATA is not set: CI must give the server's data folder")
        pytest.skip("set EXPM_TEST_POSTGRES_DATA to the test server's data folder to restart it")
    stop = tmp_path / "stop"
    writer = _run(RESTARTED_WRITER, postgres_uri, str(stop))
    _expect(writer, "started")
    time.sleep(1.5)
    _pg_ctl(data, "-m", "fast", "-w", "restart")
    time.sleep(3.0)  # the writer keeps logging, reconnects, takes its lock again
    stop.touch()
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    result = json.loads(out.splitlines()[-1])
    history = ExperimentManager(postgres_uri).read_history("restart")
    assert [v["version"] for v in history] == [1]  # not duplicated
    assert history[0]["status"] == "finished"
    assert history[0]["metrics"]["x"] == list(range(result["steps"]))  # every point, once
    bulk = history[0]["metrics"].get("bulk", [])
    assert len(bulk) == len(set(bulk))
    assert set(result["acked"]) <= set(bulk)  # each acknowledged call is stored
    assert len(result["acked"]) > 10


def test_the_documented_example_runs(postgres_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "postgres.md").read_text()
    block = doc.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("EXPM_DATABASE", postgres_uri)
    printed: list[str] = []
    exec(
        compile(block, "docs/postgres.md", "exec"), {"print": lambda *a: printed.append(str(a[0]))}
    )
    assert printed[0] == "finished"
    assert "expm:***@" in printed[1]
    assert PASSWORD not in printed[1]


def test_the_dashboard_reads_the_database(postgres_uri: str) -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*httpx.*")
    from starlette.testclient import TestClient

    from experiment_manager.web import create_app

    manager = ExperimentManager(postgres_uri, capture_environment=False)
    for lr in (0.1, 0.2):
        manager.start_experiment("web", {"lr": lr}, {})
        for step in range(50):
            manager.log({"loss": lr / (step + 1)}, step=step)
        manager.end_experiment()
    client = TestClient(create_app(postgres_uri, allowed_hosts=["testserver"]))
    listing = client.get("/api/experiments").json()
    assert [e["experiment_id"] for e in listing["experiments"]] == ["web"]
    table = client.get("/api/experiments/web").json()
    assert table["total"] == 2
    series = client.get("/api/experiments/web/series", params={"metric": "loss"}).json()
    assert PASSWORD not in json.dumps([listing, table, series])
    assert len(series["series"]) == 2


def test_charts_reduced_in_sql_are_the_points_the_dashboard_reduces(
    postgres_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import random
    import warnings

    warnings.filterwarnings("ignore", message=".*httpx.*")
    from starlette.testclient import TestClient

    from experiment_manager.web import create_app

    rng = random.Random(7)
    clients = {}
    for name, log_dir in (("files", str(tmp_path / "files")), ("sql", postgres_uri)):
        manager = ExperimentManager(log_dir, capture_environment=False)
        rng.seed(7)
        for _ in range(3):
            manager.start_experiment("long", {}, {})
            manager.log_metrics({"loss": [rng.choice([1.0, 2.0]) for _ in range(30)]})  # no step
            for i in range(600):
                value = rng.choice([math.nan, math.inf, -math.inf, 0.0, -0.0, 5.0, rng.random()])
                # steps out of order and repeated, as after a resume
                manager.log({"loss": value, "acc": i % 13}, step=rng.randrange(400))
            manager.log_metrics({"acc": [math.nan] * 40})
            manager.end_experiment()
        clients[name] = TestClient(create_app(log_dir, allowed_hosts=["testserver"]))
    cases = [
        {"metric": "loss", "buckets": "7"},
        {"metric": "loss", "buckets": "50", "x": "time"},
        {"metric": "loss", "buckets": "3", "x": "index"},
        {"metric": "acc", "buckets": "5", "start": "100", "end": "250.5"},
        {"metric": "acc", "buckets": "4", "x": "time"},
        {"metric": "acc", "buckets": "0", "start": "10", "end": "20"},
        {"metric": "loss", "buckets": "1000"},
        {"metric": "missing", "buckets": "4"},
        {"metric": "loss", "buckets": "2", "start": "5", "end": "5"},
    ]
    get = clients["sql"].get
    from experiment_manager.stores.postgres import _series

    calls: list[int] = []
    real = _series.reduce_series

    def counted(*args: Any) -> dict[str, Any]:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(_series, "reduce_series", counted)
    reduced_in_sql = [get("/api/experiments/long/series", params=p) for p in cases]
    assert len(calls) == 3 * len(cases)  # every version of every case, in SQL
    monkeypatch.undo()
    # The same database, now reduced by the dashboard itself from the columns it reads.
    monkeypatch.setattr(PostgresStore, "read_series", lambda *args: None)
    reduced_here = [get("/api/experiments/long/series", params=p) for p in cases]
    monkeypatch.undo()
    for params, got, expected in zip(cases, reduced_in_sql, reduced_here, strict=True):
        assert got.status_code == 200
        assert got.text == expected.text, params
        if params.get("x") != "time":  # times differ between the two stores' runs
            from_files = clients["files"].get("/api/experiments/long/series", params=params)
            assert got.text == from_files.text, params
    reduced = clients["sql"].get("/api/experiments/long/series", params=cases[0]).json()
    assert not reduced["series"][0]["exact"]
    assert len(reduced["series"][0]["x"]) <= 14


def _bits(values: list[Any]) -> list[Any]:
    import struct

    return [struct.pack(">d", v) if isinstance(v, float) else (type(v), v) for v in values]


def test_bulk_points_keep_every_value_step_and_time_exactly(
    postgres_uri: str, tmp_path: Path
) -> None:
    """log_metrics' fast path (packed float rows) and its general one (exact ints, steps
    of their own) store what the folder store stores, bit for bit."""
    calls: list[tuple[dict[str, Any], Any]] = [
        ({"loss": [0.5, -0.0, float("nan"), float("inf"), -float("inf"), 5e-324]}, None),
        ({"loss": [1.0, 2.0], "count": [3, 2**62, -(2**53) - 1]}, None),  # ints stay ints
        ({"mixed": [1, 0.25]}, None),
        ({"far": [0.1, 0.2]}, {"far": [2**62, 2**62 + 7]}),
        ({"loss": [9.0] * 1500, "acc": [0.75] * 1500}, 10),
    ]
    histories = []
    for log_dir in (postgres_uri, str(tmp_path / "folder")):
        manager = ExperimentManager(log_dir, capture_environment=False, system_metrics=False)
        manager.start_experiment("bulk", {}, {})
        for metrics, steps in calls:
            manager.log_metrics(metrics, steps=steps)
        manager.log({"loss": 0.125})  # streamed after bulk points: numbered after them
        running = manager.read_history("bulk")[0]
        manager.end_experiment()
        ended = manager.read_history("bulk")[0]
        histories.append((running, ended))
    (pg_running, pg_ended), (folder_running, folder_ended) = histories
    for pg, folder in ((pg_running, folder_running), (pg_ended, folder_ended)):
        assert sorted(pg["metrics"]) == sorted(folder["metrics"])
        for name in folder["metrics"]:
            assert _bits(pg["metrics"][name]) == _bits(folder["metrics"][name]), name
            assert pg["steps"][name] == folder["steps"][name], name
            assert len(pg["timestamps"][name]) == len(folder["timestamps"][name]), name
    assert pg_ended["steps"]["far"] == [2**62, 2**62 + 7]
    assert len(pg_ended["metrics"]["loss"]) == 6 + 2 + 1500 + 1


def _whole_summary(store: PostgresStore, experiment_id: str, version: int) -> dict[str, Any]:
    from experiment_manager.stores import _index
    from experiment_manager.stores._codec import decode_summary

    return decode_summary(_index.summarize(store.read_version(experiment_id, version)))


def _journal_tail(store: PostgresStore, experiment_id: str, version: int) -> bytes:
    """The points of this host's journal that the server does not have yet."""
    pk = store._pk(experiment_id)
    with store._pool.connection() as connection:
        row = connection.execute(
            "SELECT segment, shipped FROM expm_versions WHERE experiment = %s AND version = %s",
            (pk, version),
        ).fetchone()
    assert row is not None
    return store.read_journal(experiment_id, version, row[0], row[1])


def test_a_running_versions_summary_from_sql_equals_the_summary_of_its_points(
    postgres_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listings summarise a running version with aggregates taken in SQL: exactly what
    summarising every point gives, shipped points and this host's journal alike."""
    import random

    from experiment_manager.stores._codec import decode_summary
    from experiment_manager.stores.postgres import _spool

    rng = random.Random(7)
    writer = ExperimentManager(postgres_uri, capture_environment=False, system_metrics=False)
    store = writer.store
    assert isinstance(store, PostgresStore)
    # Ties (the first minimum and maximum win), -0.0 beside 0.0, a sum that fsum rounds
    # otherwise than a running float sum, big steps, a metric with no value yet.
    ties = [0.0, -0.0, 1.0, 1.0, -0.0, 0.1, 0.2, 0.3]
    writer.start_experiment("c", {"lr": 0.1}, {}, experiment_id="sql")
    writer.log_metrics({"ties": ties, "loss": [rng.random() for _ in range(3000)], "empty": []})
    writer.log_metrics({"far": [1e280, -1e280, 0.5]}, steps={"far": [5, 9, 2**40]})
    # Exponents across the whole range the SQL sum scales, values at and beside powers of
    # two (where floor(log2) is off by one), and sums that cancel to a few low bits.
    wide = [rng.uniform(-1, 1) * 2.0 ** rng.randint(-880, 950) for _ in range(2000)]
    edges = [math.nextafter(2.0**k, d) for k in range(-890, 950, 7) for d in (0, math.inf)]
    edges += [2.0**k for k in range(-890, 950, 3)]
    cancel = [x for v in edges[:300] for x in (v, -v)] + [2.0**-880, 3.0]
    # Each pair sums to its low bit alone: a value scaled inexactly shows in the mean.
    pairs = [x for k in range(-880, 950, 37) for x in (math.nextafter(2.0**k, 0), -(2.0**k))]
    writer.log_metrics({"wide": wide, "edges": edges, "cancel": cancel, "pairs": pairs})
    writer.flush()
    # Then points left in this host's journal (nothing ships for an hour), merged in
    # after the server's.
    monkeypatch.setattr(_spool, "SHIP_INTERVAL", 3600.0)
    time.sleep(0.3)  # the shipper's wait now lasts the hour
    for step in range(40):
        writer.log({"loss": rng.choice([-5.0, 0.25, 7.5]), "journal_only": step / 3})
    assert _journal_tail(store, "sql", 1)  # the journal holds points the server has not
    fast = store._summary_in_sql("sql", 1)
    assert fast is not None  # plain floats: the SQL path answers
    whole = _whole_summary(store, "sql", 1)
    assert_same(decode_summary(fast), whole)
    assert_same(store.summaries_of("sql", [1])[0], whole)
    assert whole["metric_summaries"]["ties"]["argmax_step"] == 2
    assert whole["metric_summaries"]["empty"]["count"] == 0
    writer.end_experiment()
    # What the SQL path leaves to the whole read: exact ints, NaN, infinities, an
    # overflowing sum; listings still give the summary of every point.
    left: list[dict[str, list[Any]]] = [
        {"ints": [3, 2**60]},
        {"nan": [float("nan"), 0.5]},
        {"inf": [float("inf")]},
        {"huge": [1.7e308, 1.7e308]},
        {"large": [2.0**960, 0.5]},  # fsum of many such could overflow
        {"tiny": [2.0**-900, 0.5]},  # 2**scale would overflow float8
        {"zero": [0.0, -0.0]},  # the sign of a zero sum is fsum's to choose
        {"cancels": [1.5, -1.5]},
    ]
    for number, extra in enumerate(left, start=2):
        writer.start_experiment("c", {}, {}, experiment_id="sql")
        writer.log_metrics({"loss": [0.5, 0.25], **extra})
        writer.flush()
        assert store._summary_in_sql("sql", number) is None, extra
        assert_same(store.summaries_of("sql", [number])[0], _whole_summary(store, "sql", number))
        writer.end_experiment()


def test_points_are_stored_with_their_times_bit_for_bit(postgres_uri: str) -> None:
    """The packed COPY rows carry each value, step and time exactly (times chosen here)."""
    store = open_store(postgres_uri)
    store.create_version("t", {"status": "running"})
    times = [0.0, -0.0, 5e-324, 1.7976931348623157e308, 1700000000.123456, 2.5]
    values = [float("nan"), float("inf"), -float("inf"), -0.0, 0.1, 1e-300]
    steps = [0, 1, 2**62, 2**63 - 1, 7, 8]
    store.append("t", 1, metrics={"m": values}, steps={"m": steps}, timestamps={"m": times})
    stored = store.read_version("t", 1)
    from experiment_manager._serialize import decode_metric_values

    assert _bits(decode_metric_values(stored["metrics"]["m"])) == _bits(values)
    assert stored["steps"]["m"] == steps
    assert _bits(stored["timestamps"]["m"]) == _bits(times)


def test_the_store_works_without_numpy(postgres_uri: str, tmp_path: Path) -> None:
    """The postgres extra does not bring numpy: points then go in by the general insert."""
    script = textwrap.dedent(
        """
        import sys

        class NoNumpy:  # as on an install without it (not a None entry: psycopg looks)
            def find_spec(self, name, path=None, target=None):
                if name == "numpy" or name.startswith("numpy."):
                    raise ImportError("no numpy here")

        sys.meta_path.insert(0, NoNumpy())
        from experiment_manager import ExperimentManager
        manager = ExperimentManager(sys.argv[1], capture_environment=False, system_metrics=False)
        manager.start_experiment("c", {}, {}, experiment_id="nonumpy")
        manager.log_metrics({"loss": [0.5, 0.25, 0.125]})
        manager.log({"loss": 0.0625})
        manager.end_experiment()
        print(manager.read_history("nonumpy")[0]["metrics"]["loss"])
        assert "numpy" not in sys.modules
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, postgres_uri],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "EXPM_SPOOL_DIR": str(tmp_path / "spool")},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0.5, 0.25, 0.125, 0.0625]"
