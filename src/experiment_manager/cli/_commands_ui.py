"""``expm ui``: serve the local web dashboard with uvicorn."""

from __future__ import annotations

import errno
import importlib.util
import ipaddress
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import click

from experiment_manager.cli import _format
from experiment_manager.cli._common import (
    EXIT_PORT_IN_USE,
    EXIT_STORE,
    EXIT_USAGE,
    CliError,
    echo_error,
)
from experiment_manager.stores import is_database_uri, redact

__all__ = ["EXIT_PORT_IN_USE", "MISSING_CHARTS", "MISSING_EXTRA", "bind", "is_loopback", "ui"]

#: Seconds open requests get to finish once the server is asked to stop.
_GRACE = 0.2

#: The signals that stop the server (uvicorn's own handlers take them while it runs).
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: Printed when the package was built without the chart library (see hatch_build.py).
MISSING_CHARTS = (
    "this installation has no chart library (uPlot), so the dashboard shows no curves: "
    "it is fetched from the npm registry when the package is built; reinstall with the "
    "registry reachable (or NPM_CONFIG_REGISTRY set to a mirror), or run `npm ci` in "
    'the clone first, then pip install ".[ui]" again'
)

#: The one line printed when the ``ui`` extra is not installed.
MISSING_EXTRA = 'the dashboard needs the "ui" extra: pip install "experiment-manager[ui]"'

_NEEDED = ("starlette", "uvicorn")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only.

    Args:
        host: A host name or IP address.

    Returns:
        True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
        (True, True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _allowed_hosts(host: str, port: int, extra: tuple[str, ...]) -> list[str]:
    names = ["127.0.0.1", "localhost", "[::1]", _url_host(host)]
    return [f"{name}:{port}" for name in dict.fromkeys(names)] + list(extra)


def _missing_modules() -> list[str]:
    missing = []
    for name in _NEEDED:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def bind(host: str, port: int) -> socket.socket:
    """Listen on ``host:port`` before anything is printed (port 0: a free one).

    Args:
        host: The address.
        port: The port, or 0 for one the system picks.

    Returns:
        The listening socket (``getsockname()[1]`` is the port).

    Raises:
        CliError: The port is in use (exit code 5), or the address cannot be bound.

    Example:
        >>> listener = bind("127.0.0.1", 0)
        >>> listener.getsockname()[1] > 0
        True
        >>> listener.close()
    """
    from experiment_manager.web._serving import BACKLOG

    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host.strip("[]"), port))
        listener.listen(BACKLOG)
    except OSError as error:
        listener.close()
        where = f"{_format.safe_text(host)}:{port}"
        if error.errno == errno.EADDRINUSE:
            raise CliError(
                f"port {port} on {_format.safe_text(host)} is already in use (another "
                "expm ui?): choose another with --port, or --port 0 for a free one",
                EXIT_PORT_IN_USE,
            ) from None
        raise CliError(f"cannot listen on {where}: {error.strerror or error}", EXIT_USAGE) from None
    listener.set_inheritable(True)
    return listener


class _StopRequest:
    """A signal handler: SIGINT or SIGTERM asks the server to stop, whenever it comes.

    Installed before "Serving" is printed and kept until the end, so a stop sent as soon
    as the port is announced, before uvicorn installs its own handlers, or after it puts
    this one back and raises the signal again, ends as cleanly as one while it serves: no
    exception is raised into whatever runs at that moment (an exception between
    ``asyncio.run``'s start and its first step leaves a "never awaited" warning).
    """

    def __init__(self) -> None:
        self.asked = False
        self.server: Any = None

    def __call__(self, signum: int, frame: Any) -> None:
        self.asked = True
        if self.server is not None:
            self.server.should_exit = True  # uvicorn checks it before serving, and each tick


def _serve(app: Any, listener: socket.socket, open_url: str | None, stop: _StopRequest) -> None:
    """Run uvicorn on the bound socket until Ctrl+C or SIGTERM; open a tab once it listens."""
    import uvicorn

    from experiment_manager.web._serving import server_config

    config = server_config(
        app,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        # Open requests (a live update waiting for news) get this long, then are cut.
        timeout_graceful_shutdown=_GRACE,
    )
    server = uvicorn.Server(config)
    stop.server = server
    if open_url is not None:
        import webbrowser

        def open_when_started() -> None:
            for _ in range(200):
                if server.started:
                    webbrowser.open(open_url)
                    return
                time.sleep(0.05)

        threading.Thread(target=open_when_started, daemon=True).start()
    try:
        if not stop.asked:
            server.run(sockets=[listener])
    finally:
        listener.close()


@click.command()
@click.option(
    "--log-dir",
    "log_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of the experiment histories, or a postgresql:// URI [default: expm's --log-dir].",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but a loopback address makes the dashboard "
    "reachable from the network (it has no login).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port; 0 picks a free one (printed). A port in use exits with 5.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
@click.option(
    "--allow-edits",
    is_flag=True,
    help="Let the dashboard rename versions, add and remove tags and set notes (each "
    "change a recorded event, as expm rename/tag/untag/note make). Edits are accepted "
    "only from the dashboard's own pages: same Origin (and Sec-Fetch-Site), a per-server "
    "CSRF token in a header, JSON bodies of at most 1 MiB. Off by default: read-only.",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME[:PORT]",
    help="Also accept requests for this host name (repeatable; e.g. the machine's "
    "name when --host 0.0.0.0). Other Host headers answer 400.",
)
@click.pass_context
def ui(
    ctx: click.Context,
    *,
    log_dir: str | None,
    host: str,
    port: int,
    open_browser: bool,
    allow_edits: bool,
    allow_hosts: tuple[str, ...],
) -> None:
    r"""Serve the web dashboard: experiments, curves, comparisons, live runs.

    A local web app over the histories in the log folder, at
    http://127.0.0.1:8765/ by default, read-only unless --allow-edits is given.
    Curves are served at full resolution or min/max-downsampled so that no spike is
    hidden; running versions update live. Every page has a JSON twin under /api
    (described at /api/openapi.json). Requests naming another host than the one
    served are refused (DNS-rebinding defence), only GET and HEAD are accepted (with
    --allow-edits also POST to the edit endpoints, from the dashboard's own pages
    only; see docs/dashboard.md), and the pages load nothing from the internet. A
    connection that sends no complete request within 5 s of opening or of its last
    answer is closed, and at most 64 waiting connections are kept open. The port is
    bound before anything is printed: a port in use exits with 5 (--port 0 picks a
    free one). Ctrl+C or SIGTERM stop it at once (exit 0).
    Needs the "ui" extra: pip install "experiment-manager[ui]".

    \b
    Example:
        expm ui
        expm ui --log-dir runs --port 9000 --open
        expm ui --allow-edits
    """
    missing = _missing_modules()
    if missing:
        raise CliError(MISSING_EXTRA, EXIT_STORE)  # as any missing extra (MissingDependencyError)
    from experiment_manager.web import create_app

    folder = log_dir if log_dir is not None else ctx.find_root().obj["log_dir"]
    if not is_loopback(host):
        echo_error(
            f"--host {_format.safe_text(host)} is not a loopback address: the dashboard "
            "becomes reachable from the network, without any login",
            prefix="warning",
        )
    listener = bind(host, port)
    try:
        port = listener.getsockname()[1]
        try:
            app = create_app(
                folder,
                allowed_hosts=_allowed_hosts(host, port, allow_hosts),
                allow_edits=allow_edits,
            )
        except ValueError as error:
            raise CliError(f"--allow-host: {error}", EXIT_USAGE) from None
    except BaseException:
        listener.close()
        raise
    url = f"http://{_url_host(host)}:{port}/"
    shown = _format.safe_text(redact(str(folder)))  # a database URI's password hidden
    if not is_database_uri(str(folder)) and not Path(folder).is_dir():
        click.echo(
            f"note: {shown} does not exist yet; it is shown once runs are logged there",
            err=True,
        )
    if not _charts_installed():
        echo_error(MISSING_CHARTS, prefix="warning")
    mode = "edits allowed" if allow_edits else "read-only"
    # Ctrl+C and SIGTERM are a stop that was asked for (exit 0), from before the port is
    # announced to the end.
    stop = _StopRequest()
    previous = {number: signal.signal(number, stop) for number in _STOP_SIGNALS}
    try:
        click.echo(f"Serving {shown} at {url}  ({mode}; Ctrl+C to stop)", err=True)
        _serve(app, listener, url if open_browser else None, stop)  # it closes the listener
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    click.echo("Stopped.", err=True)


def _charts_installed() -> bool:
    from experiment_manager.web._pages import VENDOR_DIR

    return (VENDOR_DIR / "uPlot.iife.min.js").is_file()
