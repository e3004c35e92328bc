"""Connections to the server: bounded waits, keepalives, and errors that say what to check.

psycopg is imported here, on first use, so ``import experiment_manager`` never loads it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from experiment_manager.errors import (
    InvalidArgumentError,
    MissingDependencyError,
    StoreConnectionError,
)
from experiment_manager.stores._locations import redact, redact_text

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "CONNECT_TIMEOUT",
    "KEEPALIVE",
    "REFUSED_HINT",
    "Pool",
    "connect",
    "connection_error",
    "driver",
]

#: Seconds to wait for the server to answer a new connection.
CONNECT_TIMEOUT = 5
#: Client and server TCP keepalive settings: a peer that vanished (a host powered off,
#: its network cut) is noticed after about idle + interval x count = 11 s.
KEEPALIVE = {"idle": 5, "interval": 2, "count": 3}

# Seconds after which an idle connection is probed before it is lent again.
_PROBE_AFTER = 1.0

# First match wins: the specific ones come before the general ones.
_HINTS = (
    (
        "failed to resolve host",
        "check the host name in the URI, and that this machine's DNS resolves it",
    ),
    (
        "could not translate host name",
        "check the host name in the URI, and that this machine's DNS resolves it",
    ),
    ('for connection option "port"', "check the port in the URI: a number, such as 5432"),
    ("invalid port number", "check the port in the URI: a number from 1 to 65535"),
    ("password authentication failed", "check the user name and password in the URI"),
    ("no password supplied", "put the password in the URI or in ~/.pgpass"),
    ("does not exist", "check the database name in the URI, or create it"),
    ("connection refused", "check the host and port, and that the server is running"),
    ("timeout", "check the host and port, and that no firewall drops the connection"),
    ("server closed the connection", "the server restarted or went away: try again"),
    ("terminating connection", "the server restarted or went away: try again"),
)


def driver() -> Any:
    """Import psycopg, or say which extra installs it.

    Returns:
        The ``psycopg`` module.

    Raises:
        MissingDependencyError: psycopg is not installed.
    """
    try:
        import psycopg
    except ImportError:
        raise MissingDependencyError("a PostgreSQL store", "postgres") from None
    return psycopg


#: The hint for a statement the server refused on a working connection.
REFUSED_HINT = (
    "the server refused a statement: check the database's permissions, constraints "
    "and triggers, or run with --debug"
)


def connection_error(
    uri: str, error: BaseException, hint: str | None = None
) -> StoreConnectionError:
    """Turn a driver error into a :class:`StoreConnectionError` naming no password.

    Args:
        uri: The store's URI (with its password).
        error: What the driver raised.
        hint: What to check; by default chosen from the driver's message.

    Returns:
        The typed error (to raise ``from None``, so the driver's text with the
        connection string does not travel in the chain).

    Example:
        >>> error = OSError("failed to resolve host 'db.invalid'")
        >>> connection_error("postgresql://me:pw@db.invalid/t", error).hint
        "check the host name in the URI, and that this machine's DNS resolves it"
    """
    reason = _clean(uri, error) or type(error).__name__
    if hint is None:
        lowered = reason.lower()
        hint = next((h for key, h in _HINTS if key in lowered), "check the URI and the server")
    return StoreConnectionError(redact(uri), reason, hint)


def _passwords(uri: str) -> list[str]:
    """The secrets a URI holds, also when it is too malformed to split."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    found: list[str] = []
    try:
        parts = urlsplit(uri)
        if parts.password:
            found.append(unquote(parts.password))
        found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password" and v]
    except ValueError:
        # As redact does: what lies between "://" and the last "@" is secret.
        rest = uri.split("://", 1)[-1]
        user = rest.rpartition("@")[0]
        if ":" in user:
            found.append(user.split(":", 1)[1])
            found.append(unquote(user.split(":", 1)[1]))
    return sorted({p for p in found if p}, key=len, reverse=True)


def connect(
    uri: str, *, autocommit: bool = True, keepalive: bool = False
) -> psycopg.Connection[Any]:
    """Open a connection with a bounded wait and TCP keepalives on both ends.

    Args:
        uri: The store's URI.
        autocommit: Each statement commits on its own unless in a transaction block.
        keepalive: Also make the server probe this client, so that it ends the
            session (and frees its liveness lock) soon after this host vanishes.

    Returns:
        The connection.

    Raises:
        StoreConnectionError: The server cannot be reached or refused the login.
        InvalidArgumentError: The URI cannot be parsed.
        MissingDependencyError: psycopg is not installed.
    """
    pg = driver()
    try:
        connection = pg.connect(
            uri,
            autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="experiment_manager",
            keepalives=1,
            keepalives_idle=KEEPALIVE["idle"],
            keepalives_interval=KEEPALIVE["interval"],
            keepalives_count=KEEPALIVE["count"],
        )
    except pg.ProgrammingError as error:  # a conninfo that does not parse
        raise InvalidArgumentError("log_dir", redact(uri), _clean(uri, error)) from None
    except pg.Error as error:
        raise connection_error(uri, error) from None
    if keepalive:
        seconds = KEEPALIVE["idle"] + KEEPALIVE["interval"] * KEEPALIVE["count"]
        try:
            connection.execute(
                "SELECT set_config('tcp_keepalives_idle', %s, false),"
                " set_config('tcp_keepalives_interval', %s, false),"
                " set_config('tcp_keepalives_count', %s, false),"
                " set_config('tcp_user_timeout', %s, false)",
                (
                    str(KEEPALIVE["idle"]),
                    str(KEEPALIVE["interval"]),
                    str(KEEPALIVE["count"]),
                    str(seconds * 1000),
                ),
            )
        except pg.Error as error:
            connection.close()
            raise connection_error(uri, error) from None
    opened: psycopg.Connection[Any] = connection
    return opened


def _clean(uri: str, error: BaseException) -> str:
    """The driver's message on one line, with no password of ``uri`` in it."""
    text = " ".join(str(error).split())
    for secret in _passwords(uri):
        text = text.replace(secret, "***")
    return redact_text(text)


class Pool:
    """A few idle autocommit connections, shared by the threads of one process.

    A connection that failed is dropped, not returned; a forked child starts with
    none of its parent's.

    Args:
        uri: The store's URI.
        keep: At most this many idle connections are kept.
    """

    def __init__(self, uri: str, keep: int = 4) -> None:
        self._uri = uri
        self._keep = keep
        self._idle: list[tuple[psycopg.Connection[Any], float]] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Lend a connection for the block; errors of the driver become typed errors.

        Yields:
            An autocommit connection, not in a transaction.

        Raises:
            StoreConnectionError: The server cannot be reached, the connection broke
                during the block, or the server refused a statement (any error of
                the driver: none escapes untyped).
        """
        pg = driver()
        connection = self._take()
        try:
            yield connection
        except pg.OperationalError as error:
            _discard(connection)
            raise connection_error(self._uri, error) from None
        except pg.Error as error:
            if (
                connection.closed
                or connection.broken
                or (connection.info.transaction_status != pg.pq.TransactionStatus.IDLE)
            ):
                _discard(connection)
            else:
                self._give(connection)
            raise connection_error(self._uri, error, REFUSED_HINT) from None
        except BaseException:
            if connection.info.transaction_status != pg.pq.TransactionStatus.IDLE:
                _discard(connection)
            else:
                self._give(connection)
            raise
        else:
            if connection.info.transaction_status != pg.pq.TransactionStatus.IDLE:
                _discard(connection)
            else:
                self._give(connection)

    def _take(self) -> psycopg.Connection[Any]:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the sockets are the parent's
                self._idle = []
                self._pid = os.getpid()
            idle, self._idle = self._idle, []
        now = time.monotonic()
        while idle:
            connection, since = idle.pop()
            # One that sat idle may have lost its server (a restart): probe it first,
            # so a call never fails on a connection that was dead before it began.
            if (
                not connection.closed
                and not connection.broken
                and (now - since < _PROBE_AFTER or _alive(connection))
            ):
                with self._lock:
                    self._idle.extend(idle)
                return connection
            _discard(connection)
        return connect(self._uri)

    def _give(self, connection: psycopg.Connection[Any]) -> None:
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < self._keep and not connection.closed:
                self._idle.append((connection, time.monotonic()))
                return
        _discard(connection)

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
            mine = self._pid == os.getpid()
        if mine:
            for connection, _ in idle:
                _discard(connection)


def _alive(connection: psycopg.Connection[Any]) -> bool:
    try:
        connection.execute("SELECT 1")
    except Exception:
        return False
    return True


def _discard(connection: psycopg.Connection[Any]) -> None:
    # A broken socket may fail to close; it is gone anyway.
    with contextlib.suppress(Exception):
        connection.close()
