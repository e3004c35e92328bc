"""What the PostgreSQL store refuses and hides: passwords, U+0000, untyped driver errors.

On a real server (see tests/_postgres.py). Passwords must not reach CLI output, even
for a URI too malformed to parse; text PostgreSQL cannot hold is refused, naming the
field, before anything is written; every driver error leaves the store typed; psycopg
is loaded only for a database URI, and its absence is a typed error naming the extra.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from experiment_manager import (
    ExperimentManager,
    ExperimentManagerError,
    InvalidArgumentError,
    InvalidMetricError,
    SerializationError,
    StoreConnectionError,
)
from experiment_manager.cli import main
from experiment_manager.stores import open_store

pytestmark = pytest.mark.slow

PASSWORD = "expm-test"
NUL = "a\x00b"


def _python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _manager(uri: str) -> ExperimentManager:
    return ExperimentManager(uri, capture_environment=False)


# -- passwords in CLI output ---------------------------------------------------------


@pytest.mark.timeout(120)
def test_expm_ui_on_a_database_names_it_without_its_password_and_no_folder_note(
    postgres_uri: str,
) -> None:
    assert PASSWORD in postgres_uri
    manager = _manager(postgres_uri)
    manager.start_experiment("ui_exp", {"lr": 0.1}, {})
    manager.log({"loss": 0.5})
    manager.end_experiment()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "experiment_manager",
            "ui",
            "--log-dir",
            postgres_uri,
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        lines = []
        for _ in range(10):
            line = process.stderr.readline()
            lines.append(line)
            if line.startswith("Serving ") or not line:
                break
        serving = lines[-1]
        assert serving.startswith("Serving postgresql://expm:***@"), lines
        port = int(serving.split("http://127.0.0.1:", 1)[1].split("/", 1)[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/experiments") as answer:
            listing = json.loads(answer.read())
        process.terminate()
        _, rest = process.communicate(timeout=30)
    finally:
        process.kill()
    shown = "".join(lines) + rest
    assert PASSWORD not in shown, shown
    assert "does not exist" not in shown, shown  # a URI is not a folder
    assert "ui_exp" in json.dumps(listing)
    assert process.returncode == 0, shown


@pytest.mark.timeout(300)
def test_expm_demo_on_a_database_hides_the_password_and_writes_there(
    postgres_uri: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiment_manager",
            "--log-dir",
            postgres_uri,
            "demo",
            "--epochs=2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    shown = result.stdout + result.stderr
    assert result.returncode == 0, shown
    assert PASSWORD not in shown, shown
    assert "history in postgresql://expm:***@" in shown
    assert "History: postgresql://expm:***@" in shown
    # The database holds the runs; no folder was made from the URI's text.
    assert len(_manager(postgres_uri).read_history("demo_logreg")) == 4
    made = [p.name for p in tmp_path.iterdir()]
    assert "checkpoints" in made
    assert not any(name.startswith("postgres") for name in made), made


MALFORMED = (
    "postgresql://u:S3CRETpw@[::1/db",
    "postgresql://u:S3CRETpw@[::1/db?password=S3CRETpw",
    "postgres://u:S3CRET%40pw@[::1/db",
)


@pytest.mark.parametrize("uri", MALFORMED)
def test_a_malformed_uri_is_a_typed_error_without_its_password(uri: str) -> None:
    secret = "S3CRET"
    with pytest.raises(InvalidArgumentError) as caught:
        ExperimentManager(uri)
    message = str(caught.value)
    assert secret not in message, message
    assert "***" in message
    assert caught.value.__cause__ is None
    result = CliRunner().invoke(main, ["--log-dir", uri, "ls"])
    assert result.exit_code == 2, result.output  # a bad --log-dir is a usage error
    assert secret not in result.output, result.output
    assert "***@[::1" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_import_given_a_store_and_a_uri_names_the_uri_without_its_password() -> None:
    from experiment_manager.importers._common import open_target
    from experiment_manager.stores.memory import MemoryStore

    with pytest.raises(InvalidArgumentError) as caught:
        open_target("postgresql://u:S3CRETpw@db/t", MemoryStore())
    assert "S3CRET" not in str(caught.value)
    assert "postgresql://u:***@db/t" in str(caught.value)


# -- U+0000 --------------------------------------------------------------------------

STARTS: dict[str, tuple[dict[str, Any], str]] = {
    "hyperparameter": ({"hyperparameters": {"opt": {"name": NUL}}}, "hyperparameters.opt.name"),
    "hyperparameter key": ({"hyperparameters": {NUL: 1}}, "hyperparameters.a\\x00b"),
    "metadata": ({"metadata": {"tags": ["ok", NUL]}}, "metadata.tags[1]"),
    "config name": ({"config_name": NUL}, "config_name"),
}


@pytest.mark.parametrize("case", sorted(STARTS))
def test_a_start_with_u0000_is_refused_naming_the_field_and_nothing_is_written(
    postgres_uri: str, case: str
) -> None:
    given, field = STARTS[case]
    arguments: dict[str, Any] = {"config_name": "cfg", "hyperparameters": {}, "metadata": {}}
    arguments.update(given)
    manager = _manager(postgres_uri)
    with pytest.raises(SerializationError) as caught:
        manager.start_experiment(experiment_id="zero_char", **arguments)
    assert caught.value.key_path == field
    assert "U+0000" in str(caught.value)
    assert manager.active_experiment is None
    store = open_store(postgres_uri)
    assert store.experiment_ids() == []  # not even the experiment's row
    manager.start_experiment("cfg", {"lr": 0.1}, {}, experiment_id="zero_char")
    manager.end_experiment()
    assert [v["version"] for v in manager.read_history("zero_char")] == [1]


def test_a_version_name_with_u0000_is_refused_at_start(postgres_uri: str) -> None:
    manager = _manager(postgres_uri)
    with pytest.raises(InvalidArgumentError):
        manager.start_experiment("cfg", {}, {}, experiment_id="zero_char", name=NUL)
    assert open_store(postgres_uri).experiment_ids() == []


def test_updates_appends_and_curation_with_u0000_are_refused_and_change_nothing(
    postgres_uri: str, tmp_path: Path
) -> None:
    manager = _manager(postgres_uri)
    manager.start_experiment("cfg", {"lr": 0.1}, {}, experiment_id="zero_char")
    manager.log_metrics({"loss": [1.0, 2.0]})
    with pytest.raises(SerializationError) as caught:
        manager.update_hyperparameters({"schedule": {"kind": NUL}})
    assert caught.value.key_path == "hyperparameters.schedule.kind"
    checkpoint = tmp_path / "ok.pt"
    checkpoint.write_bytes(b"x")
    with pytest.raises((SerializationError, InvalidMetricError)) as raised:
        manager.add_checkpoint(checkpoint, metrics={NUL: 1.0})
    assert "U+0000" in str(raised.value)
    manager.end_experiment()  # the run ends normally: nothing unstorable got in
    before = manager.read_history("zero_char")
    attempts: list[Callable[[], object]] = [
        lambda: manager.set_name("zero_char", 1, NUL),
        lambda: manager.set_note("zero_char", 1, NUL),
        lambda: manager.add_tags("zero_char", 1, [NUL]),
    ]
    for attempt in attempts:
        with pytest.raises((SerializationError, InvalidArgumentError)):
            attempt()
    after = manager.read_history("zero_char")
    assert after == before
    assert after[0]["status"] == "finished"
    assert after[0]["hyperparameters"] == {"lr": 0.1}
    assert after[0]["checkpoints"] == []


def test_the_store_refuses_u0000_on_every_write_before_writing(postgres_uri: str) -> None:
    store = open_store(postgres_uri)
    record = {"config_name": "cfg", "hyperparameters": {}, "metadata": {"m": NUL}}
    with pytest.raises(SerializationError) as caught:
        store.add_versions("zero_char", [{"config_name": "cfg"}, record])
    assert caught.value.key_path == "metadata.m"
    with pytest.raises(SerializationError):
        store.create_version("zero_char", record)
    assert store.experiment_ids() == []
    store.create_version("zero_char", {"config_name": "cfg", "hyperparameters": {}, "metadata": {}})
    with pytest.raises(SerializationError) as caught:
        store.append("zero_char", 1, {"loss": [1.0]}, checkpoints=[f"ckpt{NUL}.pt"])
    assert caught.value.key_path == "checkpoints[0]"

    def change(stored: dict[str, Any]) -> None:
        stored["metadata"] = {"deep": [{"x": NUL}]}

    with pytest.raises(SerializationError) as caught:
        store.update_version("zero_char", 1, change)
    assert caught.value.key_path == "metadata.deep[0].x"
    stored = store.load_version("zero_char", 1)
    assert stored["metadata"] == {}
    assert stored.get("metrics") in (None, {})
    # A backslash before "u0000" is plain text, stored as it is.
    store.update_version("zero_char", 1, lambda s: s.update(metadata={"path": "C:\\u0000"}))
    assert store.load_version("zero_char", 1)["metadata"] == {"path": "C:\\u0000"}


# -- driver errors are typed ----------------------------------------------------------


def test_a_statement_the_server_refuses_is_a_typed_error_without_the_password(
    postgres_uri: str,
) -> None:
    manager = _manager(postgres_uri)
    manager.start_experiment("cfg", {}, {}, experiment_id="refused")
    manager.end_experiment()
    # A constraint the store does not know about: the server refuses the insert.
    with psycopg.connect(postgres_uri, autocommit=True) as connection:
        connection.execute(
            "ALTER TABLE expm_versions ADD CONSTRAINT audit_refuses"
            " CHECK (fields::text NOT LIKE '%refuse-me%')"
        )
    with pytest.raises(StoreConnectionError) as caught:
        manager.start_experiment("cfg", {}, {"why": "refuse-me"}, experiment_id="refused")
    message = str(caught.value)
    assert isinstance(caught.value, ExperimentManagerError)
    assert PASSWORD not in message
    assert "expm:***@" in message
    assert "audit_refuses" in message
    assert "refused a statement" in caught.value.hint
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    # The connection went back healthy: the next calls work.
    manager.start_experiment("cfg", {}, {}, experiment_id="refused")
    manager.end_experiment()
    assert [v["version"] for v in manager.read_history("refused")] == [1, 2]


# -- the driver: loaded only when needed, typed when missing; hints -----------------


def test_import_and_a_folder_store_do_not_load_psycopg(tmp_path: Path) -> None:
    result = _python(
        """
        import sys
        import experiment_manager
        from experiment_manager import ExperimentManager
        assert "psycopg" not in sys.modules, "import"
        manager = ExperimentManager(sys.argv[1], capture_environment=False)
        manager.start_experiment("cfg", {}, {})
        manager.log({"loss": 1.0})
        manager.end_experiment()
        manager.read_history("cfg")
        print(sorted(m for m in sys.modules if m.split(".")[0] == "psycopg"))
        """,
        str(tmp_path / "logs"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_psycopg_a_database_uri_names_the_postgres_extra(postgres_uri: str) -> None:
    result = _python(
        """
        import sys
        sys.modules["psycopg"] = None  # as if the extra were not installed
        from experiment_manager import ExperimentManager, MissingDependencyError
        try:
            ExperimentManager(sys.argv[1])
        except MissingDependencyError as error:
            print("raised", error)
        from experiment_manager.cli import main
        main(["--log-dir", sys.argv[1], "ls"])
        """,
        postgres_uri,
    )
    assert result.stdout.startswith("raised "), result.stdout + result.stderr
    assert "postgres" in result.stdout.split("raised ", 1)[1]
    assert "experiment-manager[postgres]" in result.stdout, result.stdout
    assert result.returncode == 4, result.stderr  # "store unavailable ... a missing extra"
    assert "experiment-manager[postgres]" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("uri", "hint"),
    [
        (f"postgresql://expm:{PASSWORD}@no-such-host.invalid/db", "host name"),
        (f"postgresql://expm:{PASSWORD}@127.0.0.1:notaport/db", "port in the URI"),
        (f"postgresql://expm:{PASSWORD}@127.0.0.1:99999/db", "port in the URI"),
    ],
)
def test_an_unknown_host_or_a_bad_port_gets_a_hint_naming_it(uri: str, hint: str) -> None:
    with pytest.raises(StoreConnectionError) as caught:
        ExperimentManager(uri)
    assert hint in caught.value.hint, caught.value.hint
    assert PASSWORD not in str(caught.value)
    result = CliRunner().invoke(main, ["--log-dir", uri, "ls"], env={"NO_COLOR": "1"})
    assert result.exit_code == 4
    assert hint in result.output
    assert PASSWORD not in result.output


def test_a_uri_given_as_bytes_is_refused_without_its_password() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        ExperimentManager(b"postgresql://user:S3CRETpw@127.0.0.1:1/db")  # type: ignore[arg-type]
    assert "S3CRETpw" not in str(caught.value)
    assert "***" in str(caught.value)
