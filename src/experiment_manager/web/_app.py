"""The app factory: routes, error handlers and the security layer around them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from experiment_manager.web import _api, _api_refs, _edits, _pages
from experiment_manager.web._cache import HistoryCache
from experiment_manager.web._listing import VersionListings
from experiment_manager.web._prefetch import Prefetcher
from experiment_manager.web._responses import StrictJSONResponse, error_body
from experiment_manager.web._security import SecurityMiddleware

__all__ = ["EDIT_ROUTES", "ROUTES", "Dashboard", "create_app"]

#: Every read-only route: path, endpoint. All answer GET and HEAD only.
ROUTES: tuple[Route, ...] = tuple(
    Route(path, endpoint, methods=["GET"])
    for path, endpoint in (
        ("/", _pages.index_page),
        ("/experiments/{experiment_id}", _pages.experiment_page),
        ("/compare", _pages.compare_page),
        ("/experiments/{experiment_id}/versions/{version}", _pages.version_page),
        ("/static/vendor/{name}", _pages.vendor_file),
        ("/static/{name}", _pages.static_file),
        ("/api/experiments", _api.experiments),
        ("/api/search", _api.search),
        ("/api/compare", _api_refs.compare),
        ("/api/series", _api_refs.series),
        ("/api/openapi.json", _api.openapi),
        ("/api/experiments/{experiment_id}", _api.experiment),
        ("/api/experiments/{experiment_id}/compare", _api.compare),
        ("/api/experiments/{experiment_id}/panels", _api.panels),
        ("/api/experiments/{experiment_id}/panels/series", _api.panel_series),
        ("/api/experiments/{experiment_id}/hparams", _api.hparams),
        ("/api/experiments/{experiment_id}/groups", _api.groups),
        ("/api/experiments/{experiment_id}/series", _api.series),
        ("/api/experiments/{experiment_id}/versions/{version}", _api.version),
        ("/api/experiments/{experiment_id}/versions/{version}/points", _api.points),
    )
)

_VERSION_PATH = "/api/experiments/{experiment_id}/versions/{version}"

#: The edit endpoints (POST only), present with ``allow_edits`` only.
EDIT_ROUTES: tuple[Route, ...] = (
    Route(_VERSION_PATH + "/name", _edits.edit_name, methods=["POST"]),
    Route(_VERSION_PATH + "/tags", _edits.edit_tags, methods=["POST"]),
    Route(_VERSION_PATH + "/note", _edits.edit_note, methods=["POST"]),
)


def _is_api(request: Request) -> bool:
    return request.url.path == "/api" or request.url.path.startswith("/api/")


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = "NotFound" if exc.status_code == 404 else "HTTPError"
    message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
    if _is_api(request):
        return StrictJSONResponse(error_body(kind, message), exc.status_code)
    return PlainTextResponse(f"{exc.status_code} {exc.detail}", exc.status_code)


def _server_error(request: Request, exc: Exception) -> Response:
    body = error_body("InternalError", "the server failed; see its console for details")
    return StrictJSONResponse(body, 500)


class Dashboard(Starlette):
    """The Starlette app with :class:`SecurityMiddleware` outside everything else.

    Starlette puts its own error middleware outermost; wrapping the whole stack
    instead means even a 500 answer carries the security headers.

    Args:
        allowed_hosts: Passed to :class:`SecurityMiddleware`.
        allow_edits: Passed to :class:`SecurityMiddleware`.
        **kwargs: Passed to :class:`starlette.applications.Starlette`.
    """

    def __init__(
        self, allowed_hosts: Sequence[str] | None, allow_edits: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.allowed_hosts = allowed_hosts
        self.allow_edits = allow_edits
        SecurityMiddleware(self.router, allowed_hosts)  # reject bad names at creation

    def build_middleware_stack(self) -> ASGIApp:
        """The usual stack, wrapped in the security layer."""
        stack = super().build_middleware_stack()
        return SecurityMiddleware(stack, self.allowed_hosts, self.allow_edits)


def create_app(
    log_dir: str | os.PathLike[str],
    *,
    allowed_hosts: Sequence[str] | None = None,
    allow_edits: bool = False,
) -> Dashboard:
    """Build the dashboard app over a log folder (see :func:`experiment_manager.web.create_app`)."""
    from experiment_manager.manager import ExperimentManager

    routes = list(ROUTES) + (list(EDIT_ROUTES) if allow_edits else [])
    app = Dashboard(
        allowed_hosts,
        allow_edits,
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.router.redirect_slashes = False  # a URL names one thing; no redirects to guess with
    manager = ExperimentManager(log_dir, capture_environment=False)
    app.state.manager = manager
    app.state.allow_edits = allow_edits
    # Made per app, handed to its own pages only (see _edits).
    app.state.edit_token = _edits.new_token() if allow_edits else None
    app.state.cache = HistoryCache(manager)
    app.state.prefetcher = Prefetcher(app.state.cache)
    app.state.listings = VersionListings(manager)
    return app
