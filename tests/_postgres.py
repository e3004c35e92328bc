"""A PostgreSQL server for the tests: a fresh database per use, dropped afterwards.

``.ci/run`` starts a throwaway server and sets ``EXPM_TEST_POSTGRES_URI``. Without it
the PostgreSQL tests fail in CI (``CI`` set) and are skipped elsewhere, saying why.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV = "EXPM_TEST_POSTGRES_URI"


def server_uri() -> str:
    """The test server's URI, or fail (CI) / skip (a developer's machine)."""
    uri = os.environ.get(ENV)
    if not uri:
        if os.environ.get("CI"):
            pytest.fail(f"{ENV} is not set: CI must start a PostgreSQL server (.ci/run)")
        pytest.skip(f"no PostgreSQL server: set {ENV} (see README, 'Running the tests')")
    return uri


def with_database(uri: str, name: str) -> str:
    """``uri`` naming another database on the same server."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


class Databases:
    """Creates fresh databases on the test server; drops them all on :meth:`close`."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.made: list[str] = []

    def new(self) -> str:
        """Create an empty database; return its URI."""
        import psycopg

        name = f"expm_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.server, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
        self.made.append(name)
        return with_database(self.server, name)

    def close(self) -> None:
        """Drop the databases; runs a test left active on them are not ended at exit."""
        import psycopg

        from experiment_manager import _process_hooks

        for manager in list(_process_hooks._managers):
            location = str(getattr(manager._store, "location", ""))
            if any(location.endswith("/" + name) for name in self.made):
                _process_hooks.unregister(manager)  # its database is about to go
        with psycopg.connect(self.server, autocommit=True) as connection:
            for name in self.made:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.clear()
