"""Refuse text PostgreSQL cannot store: U+0000 in a string or a key.

PostgreSQL's ``text`` and ``jsonb`` have no code point zero, so a version holding one
would be accepted by a ``json`` column and then break the first write that derives a
``jsonb`` value from it (the summary of an ended version). It is refused before
anything is written, naming the field, as :class:`SerializationError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from experiment_manager import _serialize
from experiment_manager.errors import SerializationError

__all__ = ["REASON", "check_json", "check_value"]

#: Why such a value is refused.
REASON = "PostgreSQL cannot store U+0000 in a string"

# An escaped U+0000 in strict JSON: ``\u0000`` after an even number of other
# backslashes (``\\u0000`` is a backslash followed by the text "u0000").
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def check_json(data: bytes, root: str = "") -> None:
    """Refuse a value if its JSON ``data`` holds U+0000 anywhere.

    A byte search on the JSON already made; the JSON is read back only to name the
    field when one is found.

    Args:
        data: Strict JSON of the value (control characters escaped).
        root: The name of the value in the error (empty for a whole version).

    Raises:
        SerializationError: A string or a key in it holds U+0000; its ``key_path``
            names where.

    Example:
        >>> from experiment_manager import _serialize
        >>> check_json(_serialize.dumps({"a": "ok"}))
        >>> try:
        ...     check_json(_serialize.dumps({"a": {"b": "x" + chr(0)}}))
        ... except SerializationError as error:
        ...     print(error.key_path)
        a.b
    """
    if b"\\u0000" in data and _ESCAPED_NUL.search(data):
        value = _serialize.loads(data)
        check_value(value, root)
        raise SerializationError(root or "value", value, REASON)


def check_value(value: Any, root: str) -> None:
    """Refuse ``value`` if a string or a key in it holds U+0000.

    Args:
        value: A string, or dicts and lists of them (other values are left alone).
        root: The name of ``value`` in the error, such as ``checkpoints``.

    Raises:
        SerializationError: Naming the first such string's key path.

    Example:
        >>> check_value({"note": "fine", "tags": ["a"]}, "fields")
        >>> try:
        ...     check_value(["ok", "b" + chr(0)], "checkpoints")
        ... except SerializationError as error:
        ...     print(error.key_path)
        checkpoints[1]
    """
    found = _find(value, root)
    if found is not None:
        raise SerializationError(found[0], found[1], REASON)


def _find(value: Any, path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        return (path or "value", value) if "\x00" in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = str(key)
            where = f"{path}.{_shown(name)}" if path else _shown(name)
            if "\x00" in name:
                return where, name
            found = _find(item, where)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _shown(key: str) -> str:
    # The path is printed: a control character in it is shown escaped.
    return key.encode("unicode_escape").decode("ascii") if not key.isprintable() else key
