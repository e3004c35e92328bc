"""Strict JSON responses and the API's error shape.

Every JSON body is RFC 8259: non-finite floats are written as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``, exactly as the export module and the history files
write them (the conversion is the export module's, reused). Mapping keys that are not
strings (``compare`` keys its metrics by version number) are written as strings, as
``json.dumps`` would. Errors are
``{"error": {"type": ..., "message": ...}}`` (plus ``position`` for a query that
does not parse), with the status code :func:`status_for` picks. Messages name files
relative to the log folder (``broken.json``), never by the server's absolute path.
"""

from __future__ import annotations

import math
import os
from typing import Any

import orjson
from starlette.responses import Response

from experiment_manager._paths import relative_to_log_dir
from experiment_manager._serialize import strict_json
from experiment_manager.errors import (
    CorruptHistoryError,
    ExperimentManagerError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    InvalidExperimentIdError,
    QuerySyntaxError,
)

__all__ = [
    "RequestError",
    "StrictJSONResponse",
    "error_body",
    "error_response",
    "prepared_json",
    "status_for",
    "strict_numbers",
]

#: Library errors and the HTTP status they answer with; the first match wins.
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (InvalidExperimentIdError, 404),  # an unsafe id names nothing we could have
    (ExperimentNotFoundError, 404),
    (CorruptHistoryError, 422),
    (QuerySyntaxError, 400),
    (InvalidArgumentError, 400),
)


def _encode(content: Any) -> bytes:
    # Callers pass strict data: orjson would write a NaN left behind as null, not fail.
    return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class RequestError(Exception):
    """A request the web layer itself refuses (not a library error).

    Args:
        status: The HTTP status.
        kind: The error type shown to the client.
        message: What went wrong.

    Example:
        >>> RequestError(404, "NotFound", "no such page").status
        404
    """

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


class StrictJSONResponse(Response):
    """A JSON response whose body is strict JSON (NaN/Infinity as strings).

    Example:
        >>> StrictJSONResponse({"loss": [float("nan"), 0.5]}).body
        b'{"loss":["NaN",0.5]}'
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as strict JSON.

        Args:
            content: Plain data (dicts, lists, numbers, strings, None).

        Returns:
            The UTF-8 bytes.
        """
        return _encode(strict_json(content))


def strict_numbers(values: list[Any]) -> list[Any]:
    """A list of numbers in strict-JSON form, fast: itself when every number is finite.

    Long metric lists are made strict here, once, so that :func:`prepared_json` can
    encode a response holding them without walking every value again.

    Args:
        values: Ints and floats.

    Returns:
        ``values`` itself when all are finite, else a copy with NaN and infinities
        as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

    Example:
        >>> strict_numbers([1, 2.5]), strict_numbers([1, float("-inf")])
        ([1, 2.5], [1, '-Infinity'])
    """
    try:
        if math.isfinite(sum(values)):  # any NaN or infinity makes the sum non-finite
            return values
    except TypeError:  # not only numbers: let the general conversion decide
        pass
    result: list[Any] = strict_json(values)
    return result


def prepared_json(content: Any, headers: dict[str, str] | None = None) -> Response:
    """Encode data whose numbers the caller already made strict (see :func:`strict_numbers`).

    Args:
        content: Plain data with no non-finite float anywhere (the caller's promise;
            used for large point lists, where walking every value again would cost
            more than computing them).
        headers: Extra response headers.

    Returns:
        The JSON response.

    Example:
        >>> prepared_json({"y": strict_numbers([float("nan")])}).body
        b'{"y":["NaN"]}'
    """
    return Response(_encode(content), media_type="application/json", headers=headers)


def status_for(error: Exception) -> int | None:
    """The status code of a library error, or None for an unexpected error.

    Args:
        error: What a call raised.

    Returns:
        404, 422 or 400; None when the error is not one the API expects.

    Example:
        >>> status_for(ExperimentNotFoundError("exp", 3))
        404
        >>> status_for(RuntimeError("bug")) is None
        True
    """
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return None


def error_body(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    """The API's error document.

    Args:
        kind: The error type (an exception class name, or ``NotFound``, ...).
        message: What went wrong.
        **extra: More fields (such as ``position``).

    Returns:
        ``{"error": {"type": kind, "message": message, **extra}}``.

    Example:
        >>> error_body("NotFound", "no such page")
        {'error': {'type': 'NotFound', 'message': 'no such page'}}
    """
    return {"error": {"type": kind, "message": message, **extra}}


def error_response(
    error: ExperimentManagerError | RequestError,
    log_dir: str | os.PathLike[str] | None = None,
) -> StrictJSONResponse:
    """The response for a refused request or an expected library error.

    Args:
        error: A :class:`RequestError`, or a library error (see :func:`status_for`).
        log_dir: The folder the app serves; files in the message (a corrupt
            history's path) are named relative to it, so the answer does not reveal
            where the server keeps its data.

    Returns:
        The JSON error response.

    Example:
        >>> error_response(QuerySyntaxError("a <", 3, "expected a value")).status_code
        400
    """
    if isinstance(error, RequestError):
        return StrictJSONResponse(error_body(error.kind, error.message), error.status)
    extra: dict[str, Any] = {}
    if isinstance(error, QuerySyntaxError):
        extra["position"] = error.position
    message = str(error) if log_dir is None else relative_to_log_dir(str(error), log_dir)
    body = error_body(type(error).__name__, message, **extra)
    return StrictJSONResponse(body, status_code=status_for(error) or 500)
