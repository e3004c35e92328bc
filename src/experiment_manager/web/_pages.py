"""The browser pages: static HTML shells, their assets, and the vendored chart library.

Pages hold no data: each is a fixed file of ``web/static/`` whose script fetches the
JSON API. A page URL's experiment id is checked like the library checks ids, and its
version must be a positive integer, so an unsafe URL answers 404 before any file is
touched. ``/static/{name}`` serves only names that are regular files directly in
``web/static/`` (compared with the folder's listing, never joined blindly), so no
encoding of ``..``, separators or NUL can reach another file. The chart
library (uPlot, from npm) is put into ``web/static/vendor/`` when the package is built
(see ``hatch_build.py``) and served from there the same way; it is never copied into
the repository and nothing is loaded from the internet.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from experiment_manager._naming import unsafe_reason
from experiment_manager.errors import ExperimentManagerError
from experiment_manager.web._params import is_version

__all__ = [
    "CONTENT_TYPES",
    "STATIC_DIR",
    "VENDOR_DIR",
    "experiment_page",
    "index_page",
    "static_file",
    "static_names",
    "vendor_file",
    "version_page",
]

#: The folder of the pages and their assets.
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Third-party files put into the package at build time.
VENDOR_DIR = STATIC_DIR / "vendor"

#: Content types by file suffix; anything else is served as bytes.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
_CACHE = {"Cache-Control": "no-cache"}


def _page(request: Request, path: Path, status_code: int = 200) -> Response:
    """A page shell; with edits allowed, carrying the server's edit token for its script."""
    token = getattr(request.app.state, "edit_token", None)
    if token is None or not path.is_file():
        return _file(path, status_code)
    # The token is URL-safe base64: nothing in it needs escaping in an attribute.
    meta = f'<meta name="expm-edit-token" content="{token}">'
    html = path.read_text(encoding="utf-8").replace("<head>", "<head>\n  " + meta, 1)
    headers = {"Cache-Control": "no-store"}  # the token is not to be kept anywhere
    return Response(html, status_code, headers, media_type=CONTENT_TYPES[".html"])


def _not_found(what: str) -> Response:
    return PlainTextResponse(f"Not Found: {what}", status_code=404)


def _file(path: Path, status_code: int = 200) -> Response:
    if not path.is_file():
        return _not_found("this page is not installed")
    media = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(path, status_code=status_code, media_type=media, headers=_CACHE)


def _known(request: Request, experiment_id: str, version: int | None = None) -> bool:
    """Whether the experiment (and version) has a record.

    A damaged history counts as known, so its page shows the error the API reports.
    """
    try:
        latest = request.app.state.manager.store.latest_version(experiment_id)
    except ExperimentManagerError:
        return True
    return latest is not None and (version is None or version <= latest)


def static_names(folder: Path = STATIC_DIR) -> frozenset[str]:
    """The names ``/static/{name}`` may serve: regular, non-hidden files of ``folder``.

    Args:
        folder: The static folder.

    Returns:
        The file names (symbolic links and sub-folders excluded).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "app.js").write_text("")
        >>> _ = (folder / ".swp").write_text("")
        >>> sorted(static_names(folder))
        ['app.js']
    """
    try:
        with os.scandir(folder) as entries:
            return frozenset(
                entry.name
                for entry in entries
                if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False)
            )
    except OSError:
        return frozenset()


def index_page(request: Request) -> Response:
    """``GET /``: the list of experiments."""
    return _file(STATIC_DIR / "index.html")


def compare_page(request: Request) -> Response:
    """``GET /compare?refs=a@1,b@2``: versions of any experiments overlaid and diffed."""
    return _file(STATIC_DIR / "compare.html")


def experiment_page(request: Request) -> Response:
    """``GET /experiments/{experiment_id}``: one experiment's versions and curves."""
    experiment_id = request.path_params["experiment_id"]
    if unsafe_reason(experiment_id) is not None:
        return _not_found("no such experiment")
    # An unknown experiment gets the same page (it says so) with the status that fits.
    status = 200 if _known(request, experiment_id) else 404
    return _page(request, STATIC_DIR / "experiment.html", status)


def version_page(request: Request) -> Response:
    """``GET /experiments/{experiment_id}/versions/{version}``: one version's record."""
    if unsafe_reason(request.path_params["experiment_id"]) is not None or not is_version(
        request.path_params["version"]
    ):
        return _not_found("no such version")
    known = _known(
        request, request.path_params["experiment_id"], int(request.path_params["version"])
    )
    return _page(request, STATIC_DIR / "version.html", 200 if known else 404)


def static_file(request: Request) -> Response:
    """``GET /static/{name}``: a file of ``web/static/``, by exact name only."""
    name = request.path_params["name"]
    if name not in static_names(STATIC_DIR):
        return _not_found("no such file")
    return _file(STATIC_DIR / name)


def vendor_file(request: Request) -> Response:
    """``GET /static/vendor/{name}``: a vendored third-party file, by exact name only."""
    name = request.path_params["name"]
    if name not in static_names(VENDOR_DIR):
        return _not_found(
            "no such file (the chart library is put into the package when it is built: "
            'reinstall with pip install "experiment-manager[ui]")'
        )
    return _file(VENDOR_DIR / name)
