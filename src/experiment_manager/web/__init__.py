"""The local web dashboard (``expm ui``): a JSON API and the pages using it, read-only by default.

Needs the ``ui`` extra (``pip install "experiment-manager[ui]"``: starlette, uvicorn,
numpy, msgspec and pysimdjson; the chart library, uPlot, is put into the package when it is
built); nothing here is imported by ``import experiment_manager``.

Modules, one job each: ``_app`` (the factory and routes), ``_security`` (Host check,
read-only methods, security headers), ``_api`` (JSON endpoints), ``_pages`` (HTML
shells, static files, the vendored chart library), ``_params`` (query parameters),
``_responses`` (strict JSON, the error shape), ``_edits`` (the edit endpoints of
``--allow-edits``), ``_visibility`` (which versions are served), ``_prefetch``
(reading the first panels' curves ahead), ``_cache`` (parsed histories and
plotted metrics), the store's ``read_metric`` (one metric straight from a history file), ``_series``
(a metric as x/y points), ``_downsample`` (min/max per x bucket), ``_openapi`` (the
API's description) and ``_background`` (serving from a thread of the calling process).
See ``docs/dashboard.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from experiment_manager.web._app import Dashboard
    from experiment_manager.web._background import BackgroundServer

__all__ = ["create_app", "serve_in_background"]


def create_app(
    log_dir: str | os.PathLike[str],
    *,
    allowed_hosts: Sequence[str] | None = None,
    allow_edits: bool = False,
) -> Dashboard:
    """Build the dashboard's ASGI app over a log folder.

    Args:
        log_dir: The folder of the experiment histories (it need not exist yet).
        allowed_hosts: The host names requests may carry in their ``Host`` header,
            each ``name`` (any port) or ``name:port``; by default the loopback names
            ``127.0.0.1``, ``localhost`` and ``[::1]`` on any port. Anything else
            answers 400 (DNS-rebinding defence). Give ``["testserver"]`` to use
            Starlette's ``TestClient``.
        allow_edits: Serve the edit endpoints (names, tags and notes of versions,
            behind a same-origin check and a CSRF token; see ``docs/dashboard.md``).
            Off by default: the app is read-only.

    Returns:
        A Starlette application; serve it with uvicorn or call it in-process.

    Raises:
        ModuleNotFoundError: starlette is not installed.
        ValueError: An allowed host is not a host name with an optional port.

    Example:
        >>> import tempfile
        >>> app = create_app(tempfile.mkdtemp())
        >>> [route.path for route in app.routes][-3:]  # doctest: +NORMALIZE_WHITESPACE
        ['/api/experiments/{experiment_id}/series',
         '/api/experiments/{experiment_id}/versions/{version}',
         '/api/experiments/{experiment_id}/versions/{version}/points']
    """
    from experiment_manager.web._app import create_app as build

    return build(log_dir, allowed_hosts=allowed_hosts, allow_edits=allow_edits)


def serve_in_background(log_dir: str | os.PathLike[str]) -> BackgroundServer:
    """Serve the dashboard from a daemon thread, on a free port of 127.0.0.1.

    Use it as a context manager, from a notebook or a script that goes on working.

    Args:
        log_dir: The folder of the experiment histories.

    Returns:
        The server; ``with`` starts it, leaving the block stops it, and
        ``server.url("/")`` is the address to open.

    Raises:
        ModuleNotFoundError: starlette or uvicorn is not installed.

    Example:
        >>> import tempfile, urllib.request
        >>> with serve_in_background(tempfile.mkdtemp()) as server:
        ...     urllib.request.urlopen(server.url("/api/experiments")).status
        200
    """
    from experiment_manager.web._background import BackgroundServer

    return BackgroundServer(log_dir)
