"""Editing names, tags and notes from the dashboard (``expm ui --allow-edits`` only).

Three JSON endpoints, each a thin wrapper over the manager's curation calls, so a
change made here is the same recorded, timestamped event (host and user of the server
process) as one made with ``expm rename``, ``expm tag``/``untag`` or ``expm note``:

* ``POST /api/experiments/{id}/versions/{v}/name`` with ``{"name": "baseline"}``
* ``POST /api/experiments/{id}/versions/{v}/tags`` with ``{"add": [...], "remove": [...]}``
* ``POST /api/experiments/{id}/versions/{v}/note`` with ``{"note": "text"}`` (null or
  ``""`` clears it)

Each answers ``{"experiment_id", "version", "name", "tags", "note"}`` after the change.
Without ``--allow-edits`` these routes do not exist and the security layer answers any
POST with 405. With it, a request must pass, in this order (the first failure answers):

1. **Same origin** (403 ``CrossOriginRequest``): an ``Origin`` header equal to
   ``http://`` + the request's ``Host`` (which the security layer already checked), and
   ``Sec-Fetch-Site: same-origin`` when the browser sends that header.
2. **CSRF token** (403 ``CsrfTokenMissing`` / ``CsrfTokenInvalid``): the header
   :data:`TOKEN_HEADER` must hold the server's token, a random value made when the
   app is created and handed to its own pages only (a ``<meta name="expm-edit-token">``
   in the HTML of the experiment and version pages), compared in constant time. Another
   site cannot read those pages (no CORS, the Host check), and a custom header makes a
   browser send a preflight first, which the server refuses.
3. **JSON only** (415 ``UnsupportedMediaType``): ``Content-Type: application/json``;
   form encodings and ``text/plain`` (what an HTML form can send) are refused.
4. **Size** (413 ``RequestTooLarge``): at most :data:`MAX_BODY_BYTES`.
5. **Shape** (400 ``InvalidJSON`` or ``InvalidArgumentError`` naming the bad value):
   one JSON object with only the keys of the endpoint.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from experiment_manager._naming import validate_experiment_id
from experiment_manager.errors import ExperimentManagerError, InvalidArgumentError
from experiment_manager.web import _params
from experiment_manager.web._responses import (
    RequestError,
    StrictJSONResponse,
    error_response,
    status_for,
)

if TYPE_CHECKING:
    from experiment_manager.manager import ExperimentManager

__all__ = [
    "MAX_BODY_BYTES",
    "TOKEN_HEADER",
    "TOKEN_META",
    "check_origin",
    "check_token",
    "edit_name",
    "edit_note",
    "edit_tags",
    "new_token",
]

#: The request header that carries the CSRF token.
TOKEN_HEADER = "x-expm-token"  # noqa: S105 (a header name, not a secret)
#: The name of the page's ``<meta>`` element holding the token.
TOKEN_META = "expm-edit-token"  # noqa: S105 (an element name)
#: The largest body accepted (a note may hold 100,000 characters, escaped).
MAX_BODY_BYTES = 1024 * 1024
_NO_STORE = {"Cache-Control": "no-store"}


def new_token() -> str:
    """A fresh CSRF token: 32 random bytes, URL-safe text.

    Returns:
        The token.

    Example:
        >>> len(new_token()) >= 43, new_token() != new_token()
        (True, True)
    """
    return secrets.token_urlsafe(32)


def check_origin(request: Request) -> None:
    """Refuse a request that does not come from a page of this server.

    Args:
        request: The request (its Host header was checked by the security layer).

    Raises:
        RequestError: 403 ``CrossOriginRequest``, naming the Origin or Sec-Fetch-Site seen.

    Example:
        >>> from starlette.requests import Request
        >>> scope = {"type": "http", "method": "POST", "path": "/", "headers": [
        ...     (b"host", b"127.0.0.1:8765"), (b"origin", b"http://127.0.0.1:8765")]}
        >>> check_origin(Request(scope))  # the same origin: nothing raised
    """
    host = request.headers.get("host", "").lower()
    origins = request.headers.getlist("origin")
    if len(origins) != 1:
        raise RequestError(
            403, "CrossOriginRequest", "an edit needs exactly one Origin header (this page's)"
        )
    if origins[0].lower() != f"http://{host}":
        raise RequestError(
            403,
            "CrossOriginRequest",
            f"Origin {origins[0][:100]!r} is not this server (http://{host[:100]})",
        )
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.lower() != "same-origin":
        raise RequestError(
            403, "CrossOriginRequest", f"Sec-Fetch-Site {site[:40]!r} is not same-origin"
        )


def check_token(request: Request, token: str) -> None:
    """Refuse a request without the server's CSRF token in :data:`TOKEN_HEADER`.

    Args:
        request: The request.
        token: The server's token.

    Raises:
        RequestError: 403 ``CsrfTokenMissing`` or ``CsrfTokenInvalid``.
    """
    sent = request.headers.getlist(TOKEN_HEADER)
    if not sent:
        raise RequestError(403, "CsrfTokenMissing", f"an edit needs the {TOKEN_HEADER} header")
    # Constant time: how much of a guess matched must not show in the answer's timing.
    if len(sent) != 1 or not hmac.compare_digest(
        sent[0].encode("utf-8", "surrogateescape"), token.encode()
    ):
        raise RequestError(403, "CsrfTokenInvalid", f"the {TOKEN_HEADER} header is not valid")


async def _json_body(request: Request) -> dict[str, Any]:
    """The request's body: one JSON object of at most :data:`MAX_BODY_BYTES`."""
    kind = request.headers.get("content-type", "")
    media = kind.split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise RequestError(
            415,
            "UnsupportedMediaType",
            f"Content-Type {kind[:80]!r} is not application/json (edits are JSON only)",
        )
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise RequestError(
            413, "RequestTooLarge", f"Content-Length {length[:20]} exceeds {MAX_BODY_BYTES} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:  # a chunked body states no length
            raise RequestError(413, "RequestTooLarge", f"the body exceeds {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    try:
        body = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as error:
        raise RequestError(400, "InvalidJSON", f"the body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise InvalidArgumentError("body", body, "must be a JSON object")
    return body


def _only(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise InvalidArgumentError(
                "body", key, f"is not a field of this edit (fields: {', '.join(allowed)})"
            )


def _state(manager: ExperimentManager, experiment_id: str, version: int) -> dict[str, Any]:
    for summary in manager.store.summaries(experiment_id):
        if summary["version"] == version:
            return {
                "experiment_id": experiment_id,
                "version": version,
                "name": summary.get("name"),
                "tags": list(summary.get("tags") or []),
                "note": summary.get("note"),
            }
    raise InvalidArgumentError("version", version, "disappeared during the edit")


Edit = Callable[["ExperimentManager", str, int, dict[str, Any]], None]


def _edit(fields: tuple[str, ...], apply: Edit) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint: the checks of the module docstring, then ``apply`` in a worker thread."""

    async def endpoint(request: Request) -> Response:
        manager: ExperimentManager = request.app.state.manager
        try:
            check_origin(request)
            check_token(request, request.app.state.edit_token)
            body = await _json_body(request)
            _only(body, fields)
            experiment_id = validate_experiment_id(request.path_params["experiment_id"])
            version = _params.version_number(experiment_id, request.path_params["version"])

            def run() -> dict[str, Any]:
                apply(manager, experiment_id, version, body)
                return _state(manager, experiment_id, version)

            state = await run_in_threadpool(run)
        except RequestError as refusal:
            return error_response(refusal)
        except ExperimentManagerError as error:
            if status_for(error) is None:
                raise
            return error_response(error, manager.log_dir)
        return StrictJSONResponse(state, headers=_NO_STORE)

    return endpoint


def _rename(manager: ExperimentManager, experiment_id: str, version: int, body: Any) -> None:
    if "name" not in body:
        raise InvalidArgumentError("name", None, "is required")
    manager.set_name(experiment_id, version, body["name"])


def _retag(manager: ExperimentManager, experiment_id: str, version: int, body: Any) -> None:
    add, remove = body.get("add"), body.get("remove")
    if not add and not remove:
        raise InvalidArgumentError("tags", body, "name tags to add or remove")
    for name, tags in (("add", add), ("remove", remove)):
        if tags is not None and not isinstance(tags, list):
            raise InvalidArgumentError(name, tags, "must be a list of tags")
    if add:
        manager.add_tags(experiment_id, version, add)
    if remove:
        manager.remove_tags(experiment_id, version, remove)


def _renote(manager: ExperimentManager, experiment_id: str, version: int, body: Any) -> None:
    if "note" not in body:
        raise InvalidArgumentError("note", None, "is required (null or an empty text clears it)")
    manager.set_note(experiment_id, version, body["note"])


#: ``POST /api/experiments/{id}/versions/{v}/name``: ``{"name": text}``.
edit_name = _edit(("name",), _rename)
#: ``POST /api/experiments/{id}/versions/{v}/tags``: ``{"add": [...], "remove": [...]}``.
edit_tags = _edit(("add", "remove"), _retag)
#: ``POST /api/experiments/{id}/versions/{v}/note``: ``{"note": text or null}``.
edit_note = _edit(("note",), _renote)
