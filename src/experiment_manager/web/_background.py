"""The dashboard served from a background thread of the calling process.

For notebooks, scripts and tests that want the dashboard next to their own work:
uvicorn runs the app in a daemon thread on a free port of 127.0.0.1, with the same
limits on idle and slow connections as ``expm ui`` (see :mod:`._serving`).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from types import TracebackType

from experiment_manager.web._app import create_app

__all__ = ["BackgroundServer"]

_START_TIMEOUT = 15.0


class BackgroundServer:
    """The dashboard under uvicorn in a daemon thread; a context manager.

    Args:
        log_dir: The folder of the experiment histories.
        allow_edits: Serve the edit endpoints too (as ``expm ui --allow-edits``).

    Example:
        >>> import tempfile, urllib.request
        >>> with BackgroundServer(tempfile.mkdtemp()) as server:
        ...     with urllib.request.urlopen(server.url("/api/experiments")) as answer:
        ...         print(answer.status)
        200
    """

    def __init__(self, log_dir: str | os.PathLike[str], *, allow_edits: bool = False) -> None:
        import uvicorn

        from experiment_manager.web._serving import server_config

        # proto=IPPROTO_TCP matters: asyncio turns Nagle's algorithm off only on
        # sockets that say they are TCP, and without that every answer on a kept-alive
        # connection waits ~40 ms for the client's delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        app = create_app(log_dir, allow_edits=allow_edits)
        config = server_config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> BackgroundServer:
        """Start serving; return once the server listens.

        Raises:
            RuntimeError: The server did not start within 15 s.
        """
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the dashboard server did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop serving and wait for the thread to end."""
        self._server.should_exit = True
        self._thread.join(timeout=_START_TIMEOUT)
        self._socket.close()

    def url(self, path: str = "/") -> str:
        """The address of ``path`` on this server.

        Args:
            path: A path starting with ``/``.

        Returns:
            ``http://127.0.0.1:<port><path>``.
        """
        return f"http://127.0.0.1:{self.port}{path}"
