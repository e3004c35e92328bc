"""How the dashboard is served: uvicorn, with limits on idle and slow connections.

``expm ui`` and :class:`~experiment_manager.web._background.BackgroundServer` both
build their server configuration here, so the limits are the same everywhere:

* :data:`KEEP_ALIVE_TIMEOUT`: a kept-alive connection that sends nothing after a
  response is closed (uvicorn's ``timeout_keep_alive``).
* :data:`REQUEST_HEAD_TIMEOUT`: a connection must deliver a complete request head
  (request line and headers) within this many seconds of being opened or of its
  previous response; one that sends nothing, or trickles bytes, is closed. uvicorn has
  no such timeout of its own: its keep-alive timer starts only after a response and
  stops at the first byte received.
* :data:`MAX_HEADER_BYTES`: a request head larger than this answers 400 (h11's
  ``max_incomplete_event_size``), so a slow client cannot make the server buffer more.
* :data:`MAX_WAITING_CONNECTIONS`: when more connections than this are open, the ones
  that have waited longest for a request head are closed at once, so a flood of idle
  sockets can neither use up the server's file descriptors nor lock out a new client.
* :data:`LIMIT_CONCURRENCY`: with this many connections or requests in progress,
  uvicorn answers 503 at once instead of queueing (``limit_concurrency``).
* :data:`BACKLOG`: connections the OS queues before they are accepted. asyncio also
  accepts up to this many in one go before any of them is handled (and shed), so it
  bounds how far past the cap the descriptors in use can go; uvicorn's default, 2048,
  would let one burst of idle sockets use up a limit of 256 and lock the server out.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "BACKLOG",
    "KEEP_ALIVE_TIMEOUT",
    "LIMIT_CONCURRENCY",
    "MAX_HEADER_BYTES",
    "MAX_WAITING_CONNECTIONS",
    "REQUEST_HEAD_TIMEOUT",
    "GuardedH11Protocol",
    "server_config",
]

KEEP_ALIVE_TIMEOUT = 5
REQUEST_HEAD_TIMEOUT = 5.0
MAX_HEADER_BYTES = 32 * 1024
# With BACKLOG, well below the 256 descriptors a process may have by default (macOS),
# leaving room for the listening socket, the event loop and the histories being read.
# A browser opens at most 6 connections to one host.
MAX_WAITING_CONNECTIONS = 64
LIMIT_CONCURRENCY = 2 * MAX_WAITING_CONNECTIONS
BACKLOG = 128


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head and idle shedding.

    See the module docstring for the rules. The deadline runs from the moment the
    connection waits for a request (opened, or its last response sent) and is not
    moved by bytes that do not complete a request head.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0

    @property
    def waiting_for_request(self) -> bool:
        """Whether the connection is between requests (or before its first one)."""
        return self._head_deadline is not None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start waiting for the first request head; shed the longest-waiting if too many.

        Args:
            transport: The new connection.
        """
        super().connection_made(transport)
        self._wait_for_head()
        self._shed_waiting()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline, then let uvicorn tidy up.

        Args:
            exc: The error that ended the connection, or None for a clean close.
        """
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        """Parse what was received; a request head that is complete ends the wait."""
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # uvicorn starts a new cycle for each request head
            self._cancel_head_deadline()

    def on_response_complete(self) -> None:
        """Wait for the next request head (uvicorn may parse a pipelined one at once)."""
        self._wait_for_head()
        super().on_response_complete()

    def _wait_for_head(self) -> None:
        self._cancel_head_deadline()
        self._waiting_since = self.loop.time()
        self._head_deadline = self.loop.call_later(REQUEST_HEAD_TIMEOUT, self._head_timed_out)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _shed_waiting(self) -> None:
        if len(self.connections) <= MAX_WAITING_CONNECTIONS:
            return
        open_ones = [c for c in self.connections if not c.transport.is_closing()]
        excess = len(open_ones) - MAX_WAITING_CONNECTIONS
        waiting = [
            c
            for c in open_ones
            if isinstance(c, GuardedH11Protocol) and c.waiting_for_request and c is not self
        ]
        waiting.sort(key=lambda connection: connection._waiting_since)
        for connection in waiting[:excess]:
            connection._cancel_head_deadline()
            connection.transport.close()


def server_config(app: Any, **options: Any) -> uvicorn.Config:
    """A uvicorn configuration for the dashboard, with the limits of this module.

    Args:
        app: The ASGI app.
        **options: More ``uvicorn.Config`` arguments (host, port, log level, ...).

    Returns:
        The configuration; serve it with ``uvicorn.Server(config)``.

    Example:
        >>> config = server_config(object(), log_level="warning")
        >>> config.timeout_keep_alive, config.limit_concurrency
        (5, 128)
    """
    return uvicorn.Config(
        app,
        http=GuardedH11Protocol,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        limit_concurrency=LIMIT_CONCURRENCY,
        backlog=BACKLOG,
        **options,
    )
