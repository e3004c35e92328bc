"""A query's conditions as SQL over the ``facts`` column, to narrow a search on the server.

The SQL is a *necessary* condition: every version the query matches passes it, and
the query itself is then applied in Python to what passes, so the result is exactly
what a search over every summary gives. Conditions with no exact SQL form (``not``,
``!=``, ``contains``, nested keys, ...) are left to Python: in an ``and`` they drop
out, and an ``or`` with one of them is not narrowed at all.

Every literal and key travels as a parameter; only fixed SQL text is spliced.
"""

from __future__ import annotations

from typing import Any, Final

from experiment_manager.query._ast import BoolOp, Comparison, FieldRef, Membership, Node

__all__ = ["necessary"]

Condition = tuple[str, list[Any]]

#: Beyond this, an integer is not exactly a float8, so a comparison is left to Python.
_EXACT: Final = 2**53
_ORDERING: Final = ("<", "<=", ">", ">=", "=")
#: Roots read as ``facts -> root -> key`` (one key); non-finite numbers are tagged
#: objects there, so an object may hold a number.
_NESTED: Final = ("hyperparameters", "metadata")
#: Top-level string fields of a summary that ``=`` and ``in`` may test on the server.
_TEXT: Final = ("status", "config_name", "name")


def necessary(node: Node) -> Condition | None:
    """SQL that every summary matching ``node`` satisfies, or None when nothing narrows.

    Args:
        node: The root of a parsed query (``Query.node``).

    Returns:
        ``(sql, params)`` to AND into a ``WHERE`` on ``expm_versions``, or None.

    Example:
        >>> from experiment_manager.query import parse_query
        >>> sql, params = necessary(parse_query("metrics.loss.min < 0.5").node)
        >>> params
        ['loss', 'min', 'loss', 'min', 0.5, 'loss', 'min']
        >>> necessary(parse_query("not status = 'failed'").node) is None
        True
    """
    if isinstance(node, BoolOp):
        parts = [necessary(operand) for operand in node.operands]
        known = [part for part in parts if part is not None]
        if node.op == "or" and len(known) < len(parts):
            return None
        if not known:
            return None
        return _joined(" AND " if node.op == "and" else " OR ", known)
    if isinstance(node, Comparison):
        return _comparison(node.field, node.op, node.value)
    if isinstance(node, Membership):
        parts = [_comparison(node.field, "=", value) for value in node.values]
        if not parts or any(part is None for part in parts):
            return None
        return _joined(" OR ", [part for part in parts if part is not None])
    return None


def _joined(joiner: str, parts: list[Condition]) -> Condition:
    """Conditions joined by ``AND`` or ``OR``, their parameters in order."""
    return (
        "(" + joiner.join(sql for sql, _ in parts) + ")",
        [param for _, params in parts for param in params],
    )


def _comparison(ref: FieldRef, op: str, literal: Any) -> Condition | None:
    if op not in _ORDERING or literal is None or isinstance(literal, bool):
        return None
    if isinstance(literal, str):
        return _text(ref, literal) if op == "=" else None
    if isinstance(literal, int) and abs(literal) >= _EXACT:
        return None
    if not isinstance(literal, (int, float)):
        return None
    value = float(literal)
    if ref.root == "version" and not ref.keys:
        return f"(version {op} %s)", [value]
    if ref.root == "metrics" and ref.aggregate is not None and len(ref.keys) == 1:
        # Non-finite aggregates are stored as strings ("NaN", "Infinity"): Python decides.
        path = "facts -> 'metric_summaries' -> %s -> %s"
        return _number(path, [ref.keys[0], ref.aggregate], op, value, maybe="string")
    if ref.root in _NESTED and len(ref.keys) == 1:
        return _number("facts -> %s -> %s", [ref.root, ref.keys[0]], op, value, maybe="object")
    if ref.root == "duration" and not ref.keys:
        return _number("facts -> 'duration'", [], op, value, maybe=None)
    return None


def _number(path: str, keys: list[Any], op: str, value: float, *, maybe: str | None) -> Condition:
    """True where the value at ``path`` is a number satisfying ``op value``.

    Also true where it is of type ``maybe`` (which may decode to a number), and
    where an integer is too big for float8 to compare it exactly.
    """
    exact = f"(({path})::float8 {op} %s OR abs(({path})::float8) >= {float(_EXACT)!r})"
    other = f" WHEN '{maybe}' THEN true" if maybe else ""
    sql = f"(CASE jsonb_typeof({path}) WHEN 'number' THEN {exact}{other} ELSE false END)"
    return sql, [*keys, *keys, value, *keys]


def _text(ref: FieldRef, literal: str) -> Condition | None:
    if ref.root in _TEXT and not ref.keys:
        return "(jsonb_typeof(facts -> %s) = 'string' AND facts ->> %s = %s)", [
            ref.root,
            ref.root,
            literal,
        ]
    if ref.root in _NESTED and len(ref.keys) == 1:
        return (
            "(jsonb_typeof(facts -> %s -> %s) = 'string' AND facts -> %s ->> %s = %s)",
            [ref.root, ref.keys[0], ref.root, ref.keys[0], literal],
        )
    return None
