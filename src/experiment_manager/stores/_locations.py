"""What a ``log_dir`` names: a folder, or a database URI; and how to show one safely.

A leaf module with no backend imports, so the factory, the manager and the CLI can
tell the two apart (and hide a password) without loading a database driver.
"""

from __future__ import annotations

import re

__all__ = ["DATABASE_SCHEMES", "is_database_uri", "redact", "redact_text"]

#: URI schemes that name a PostgreSQL server instead of a folder.
DATABASE_SCHEMES = ("postgresql", "postgres")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# A database URI anywhere in a text, up to the next blank or quote.
_URI_IN_TEXT = re.compile(r"(?i)postgres(?:ql)?://[^\s'\"]*")
_SECRET_PARAMETERS = frozenset(("password", "passfile", "sslpassword"))
_HIDDEN = "***"
# A secret parameter's value, in a URI that cannot be split into its parts.
_SECRET_IN_QUERY = re.compile(r"(?i)((?:^|[?&])(?:password|passfile|sslpassword)=)[^&#]*")


def is_database_uri(location: str) -> bool:
    """Whether a ``log_dir`` is a PostgreSQL URI rather than a folder path.

    Args:
        location: The ``log_dir`` as given.

    Returns:
        True for ``postgresql://...`` and ``postgres://...`` (any letter case).

    Example:
        >>> is_database_uri("postgresql://me@db/tracking"), is_database_uri("runs/logs")
        (True, False)
    """
    match = _SCHEME.match(location)
    return match is not None and match.group(1).lower() in DATABASE_SCHEMES


def redact(location: str) -> str:
    """A ``log_dir`` as it may be shown: a database URI's password replaced by ``***``.

    The password in the user part and ``password=`` (and similar) query parameters
    are hidden; a folder path is returned unchanged. In a URI too malformed to split,
    whatever lies between ``://`` and the last ``@`` is hidden, and so is the value of
    every ``password=`` (and similar) parameter.

    Args:
        location: A folder path or a database URI.

    Returns:
        Text safe for a log line, an error message or a ``repr``.

    Example:
        >>> redact("postgresql://me:s3cret@db:5432/tracking?password=x&sslmode=require")
        'postgresql://me:***@db:5432/tracking?password=***&sslmode=require'
        >>> redact("postgresql://me:s3cret@[::1/tracking")
        'postgresql://***@[::1/tracking'
    """
    if not is_database_uri(location):
        return location
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(location)
        netloc = parts.netloc
        if "@" in netloc:
            user, _, host = netloc.rpartition("@")
            if ":" in user:
                user = user.split(":", 1)[0] + ":" + _HIDDEN
            netloc = f"{user}@{host}"
        query = parts.query
        if query:
            pairs = [
                (key, _HIDDEN if key.lower() in _SECRET_PARAMETERS else value)
                for key, value in parse_qsl(query, keep_blank_values=True)
            ]
            query = urlencode(pairs, safe="*", quote_via=quote)
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return _redact_unsplittable(location)


def _redact_unsplittable(location: str) -> str:
    scheme, _, rest = location.partition("://")
    _, at, host = rest.rpartition("@")
    if at:
        rest = f"{_HIDDEN}@{host}"
    return scheme + "://" + _SECRET_IN_QUERY.sub(lambda m: m.group(1) + _HIDDEN, rest)


def redact_text(text: str) -> str:
    """Hide the password of every database URI inside ``text`` (a command line, a message).

    Args:
        text: Any text.

    Returns:
        The text with each ``postgresql://`` URI in it redacted as :func:`redact` does.

    Example:
        >>> redact_text("--log-dir=postgresql://me:s3cret@db/t")
        '--log-dir=postgresql://me:***@db/t'
    """
    if "://" not in text:
        return text
    return _URI_IN_TEXT.sub(lambda match: redact(match.group(0)), text)
