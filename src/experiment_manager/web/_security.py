"""The dashboard's outermost layer: Host check, read-only methods, security headers.

* **Host** (DNS-rebinding defence): a request whose ``Host`` header is not one of the
  allowed names answers 400, so a web page on another site whose name was made to
  resolve to 127.0.0.1 cannot read the API. By default the loopback names
  ``127.0.0.1``, ``localhost`` and ``[::1]`` (any port) are allowed; ``expm ui``
  allows exactly those with its port, plus the ``--host`` it binds.
* **Read-only**: only ``GET`` and ``HEAD``; every other method (``OPTIONS`` included,
  so no CORS preflight can succeed) answers 405. No CORS header is ever sent. With
  ``allow_edits`` (``expm ui --allow-edits``), ``POST`` also reaches the app, whose
  only POST routes are the edit endpoints, each with its own same-origin and CSRF
  checks (:mod:`._edits`).
* **Headers** on every response, errors included: :data:`SECURITY_HEADERS`.
* WebSocket connections are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from experiment_manager.web._responses import StrictJSONResponse, error_body

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DEFAULT_ALLOWED_HOSTS",
    "SECURITY_HEADERS",
    "HostRule",
    "SecurityMiddleware",
    "parse_host",
]

#: Scripts, styles, images, fonts and data only from the dashboard itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

#: Sent with every response (names in lower case, as ASGI wants them).
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
)

#: Allowed when ``create_app`` is given no list: the loopback names, on any port.
DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "[::1]")

_ALLOWED_METHODS = ("GET", "HEAD")
_EDIT_METHODS = ("GET", "HEAD", "POST")
_NAME = re.compile(r"[a-z0-9_.-]+|\[[0-9a-f:.]+\]")
_REPLACED = frozenset(name.encode() for name, _ in SECURITY_HEADERS)


@dataclass(frozen=True)
class HostRule:
    """An allowed host name, on one port or any.

    Attributes:
        name: Lower-case host name or address (IPv6 in brackets).
        port: The port, or None for any.
    """

    name: str
    port: int | None

    @classmethod
    def parse(cls, text: str) -> HostRule:
        """Parse ``name``, ``name:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address.

        Args:
            text: The allowed host as given.

        Returns:
            The rule.

        Raises:
            ValueError: The text is not a host name with an optional port.

        Example:
            >>> HostRule.parse("::1"), HostRule.parse("LocalHost:8765")
            (HostRule(name='[::1]', port=None), HostRule(name='localhost', port=8765))
        """
        candidate = text.strip().lower()
        if candidate.count(":") >= 2 and not candidate.startswith("["):
            candidate = f"[{candidate}]"
        parsed = parse_host(candidate)
        if parsed is None:
            raise ValueError(f"not a host name with an optional port: {text!r}")
        return cls(*parsed)

    def allows(self, name: str, port: int | None) -> bool:
        """Whether a request to ``name:port`` matches (no port means 80).

        Args:
            name: The requested host name, lower case.
            port: The requested port, None when the header has none.

        Returns:
            True when allowed.
        """
        return name == self.name and (self.port is None or self.port == (port or 80))


def parse_host(text: str) -> tuple[str, int | None] | None:
    """Split a ``Host`` header into a lower-case name and a port.

    Args:
        text: The header's value.

    Returns:
        ``(name, port)`` (port None when absent), or None when the value is not a
        host name or bracketed IPv6 address with an optional decimal port.

    Example:
        >>> parse_host("[::1]:8765"), parse_host("LOCALHOST"), parse_host("a b")
        (('[::1]', 8765), ('localhost', None), None)
    """
    value = text.lower()
    name, port_text = value, ""
    if value.startswith("["):
        close = value.find("]")
        if close < 0:
            return None
        name, rest = value[: close + 1], value[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                return None
            port_text = rest[1:]
    elif ":" in value:
        name, port_text = value.split(":", 1)
    if _NAME.fullmatch(name) is None:
        return None
    if not port_text:
        return (name, None) if not value.endswith(":") else None
    if not port_text.isdigit() or not port_text.isascii() or not 0 < int(port_text) < 65536:
        return None
    return name, int(port_text)


class SecurityMiddleware:
    """Wrap an ASGI app with the Host check, the method check and the headers.

    Args:
        app: The application.
        allowed_hosts: Host names (``name`` or ``name:port``) requests may name;
            :data:`DEFAULT_ALLOWED_HOSTS` when None.
        allow_edits: Let ``POST`` through too (to the edit endpoints).
    """

    def __init__(
        self, app: ASGIApp, allowed_hosts: Iterable[str] | None = None, allow_edits: bool = False
    ) -> None:
        self.app = app
        names = DEFAULT_ALLOWED_HOSTS if allowed_hosts is None else allowed_hosts
        self.rules: Sequence[HostRule] = tuple(HostRule.parse(name) for name in names)
        self.methods = _EDIT_METHODS if allow_edits else _ALLOWED_METHODS

    def host_allowed(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        """Whether the request has exactly one ``Host`` header, naming an allowed host.

        Args:
            headers: The request's raw headers.

        Returns:
            True when allowed.
        """
        hosts = [value for key, value in headers if key.lower() == b"host"]
        if len(hosts) != 1:
            return False
        parsed = parse_host(hosts[0].decode("latin-1"))
        return parsed is not None and any(rule.allows(*parsed) for rule in self.rules)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then run the app with the headers added to its answer."""
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (key, value)
                    for key, value in message.get("headers", [])
                    if key.lower() not in _REPLACED
                    and not key.lower().startswith(b"access-control-")
                ]
                kept += [(key.encode(), value.encode()) for key, value in SECURITY_HEADERS]
                message = {**message, "headers": kept}
            await send(message)

        if not self.host_allowed(scope.get("headers", [])):
            body = error_body("InvalidHost", "the Host header names a host this server is not")
            await StrictJSONResponse(body, 400)(scope, receive, send_with_headers)
            return
        if scope["method"] not in self.methods:
            if self.methods is _ALLOWED_METHODS:
                message = "the dashboard is read-only: GET and HEAD only (expm ui --allow-edits)"
            else:
                message = "GET and HEAD only, and POST to the edit endpoints"
            body = error_body("MethodNotAllowed", message)
            response = StrictJSONResponse(body, 405, headers={"Allow": ", ".join(self.methods)})
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
