"""Fixtures shared by the test modules (a module may define its own of the same name)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager, stores
from experiment_manager.stores import files
from experiment_manager.stores.memory import MemoryStore
from tests._postgres import Databases, server_uri
from tests._runner import Runners

# Keras runs on torch in the tests (as installed by the test extra), whichever test
# module imports it first.
os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture
def manager(log_dir: Path) -> Iterator[ExperimentManager]:
    """A manager on ``log_dir``; a version it left active is ended after the test."""
    manager = ExperimentManager(log_dir)
    yield manager
    if manager.active_experiment is not None:
        manager.end_experiment()


@pytest.fixture
def runners(tmp_path: Path) -> Iterator[Runners]:
    """Starts versions in other processes (see :mod:`tests._runner`); closes them after."""
    started = Runners(tmp_path / "scripts")
    yield started
    started.close()


@pytest.fixture(params=["small", "big"])
def each_history_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on a small history (rewritten by every call) and on a big one.

    A big history keeps each call in a version file, folded into the history later
    (see docs/storage-format.md); ``DIRECT_BYTES = 0`` makes every history big, and
    folding by time is put off, so the readers' merge is what the test sees.
    """
    if request.param == "big":
        monkeypatch.setattr(files, "DIRECT_BYTES", 0)
        monkeypatch.setattr(files, "REFRESH_SECONDS", 3600.0)
    return str(request.param)


@pytest.fixture
def postgres_databases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Databases]:
    """Fresh databases on the test server (see :mod:`tests._postgres`), dropped after.

    Each test's local journals go to its own folder.
    """
    made = Databases(server_uri())
    monkeypatch.setenv("EXPM_SPOOL_DIR", str(tmp_path / "spool"))
    yield made
    made.close()


@pytest.fixture
def postgres_uri(postgres_databases: Databases) -> str:
    """The URI of an empty database on the test server."""
    return postgres_databases.new()


@pytest.fixture(params=["small", "big", "memory", "postgres"])
def each_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on every backend a ``log_dir`` can name, through the public API.

    ``small`` and ``big`` are the folder store (see :func:`each_history_size`);
    ``memory`` makes every ``ExperimentManager(log_dir)`` of the test share one
    in-memory store per ``log_dir``, so the same calls run on the reference backend;
    ``postgres`` gives each ``log_dir`` of the test its own database on the test
    server (every manager on that ``log_dir`` connects to it, as other hosts would).
    """
    if request.param == "postgres":
        databases: Databases = request.getfixturevalue("postgres_databases")
        uris: dict[str, str] = request.getfixturevalue("_store_uris")
        real_open = stores.open_store

        def open_postgres(log_dir: object, *, lock_timeout: float = 60.0) -> stores.Store:
            key = str(log_dir)
            if key not in uris:
                uris[key] = databases.new()
            return real_open(uris[key], lock_timeout=lock_timeout)

        monkeypatch.setattr(stores, "open_store", open_postgres)
        return "postgres"
    if request.param == "big":
        monkeypatch.setattr(files, "DIRECT_BYTES", 0)
        monkeypatch.setattr(files, "REFRESH_SECONDS", 3600.0)
    elif request.param == "memory":
        made: dict[str, MemoryStore] = {}

        def open_store(log_dir: object, *, lock_timeout: float = 60.0) -> MemoryStore:
            return made.setdefault(str(log_dir), MemoryStore())

        monkeypatch.setattr(stores, "open_store", open_store)
    return str(request.param)


@pytest.fixture
def _store_uris() -> dict[str, str]:
    """The database ``each_store``'s ``postgres`` gave each ``log_dir`` of the test."""
    return {}


@pytest.fixture
def process_log_dir(
    each_store: str, _store_uris: dict[str, str], request: pytest.FixtureRequest
) -> Callable[[Path], str]:
    """What another process is given as ``log_dir`` to open the store this test's is.

    A folder is its own path; for ``postgres`` it is the URI of the database that
    ``ExperimentManager(log_dir)`` opens in this process (made now if it was not yet).
    The in-memory store lives in one process: a test asking for this on ``memory``
    fails, it must be marked ``across_processes`` (see :mod:`tests._util`).
    """
    if each_store == "memory":
        pytest.fail("the memory store cannot be reached by another process (across_processes)")

    def location(log_dir: Path) -> str:
        if each_store != "postgres":
            return str(log_dir)
        key = str(log_dir)
        if key not in _store_uris:
            databases: Databases = request.getfixturevalue("postgres_databases")
            _store_uris[key] = databases.new()
        return _store_uris[key]

    return location


# Modules that test system metrics themselves, where the library's default (sampling on)
# stays as users get it.
_SAMPLING_MODULES = ("test_system_metrics", "test_integration_", "test_docs_integrations")


@pytest.fixture(autouse=True)
def _no_sampler_left_behind(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Elsewhere, no sampler thread: tests that leave a version running (on purpose)
    would otherwise leave a sampling thread each for the rest of the session."""
    if not request.node.module.__name__.rsplit(".", 1)[-1].startswith(_SAMPLING_MODULES):
        monkeypatch.setenv("EXPM_SYSTEM_METRICS", "0")
