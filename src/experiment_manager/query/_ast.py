"""The syntax tree of a parsed query: field references, comparisons and boolean nodes.

Every node evaluates itself against a record with ``matches``; :func:`_compare` holds
the comparison semantics shared by :class:`Comparison` and :class:`Membership`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from experiment_manager.query._values import _aggregate, _kind, _lookup_keys

#: A literal of the filter language.
Scalar: TypeAlias = int | float | str | bool | None

_NESTED_ROOTS: Final = {
    "hyperparameters": "hyperparameters",
    "params": "hyperparameters",
    "hp": "hyperparameters",
    "metadata": "metadata",
    "environment": "environment",
}
_SCALAR_ROOTS: Final = (
    "status",
    "version",
    "created_at",
    "ended_at",
    "config_name",
    "experiment_id",
    "duration",
    "checkpoints",
    "name",
    "tags",
    "note",
    "archived",
    "trashed_at",
    "purged_at",
)
_KNOWN_ROOTS: Final = (*_NESTED_ROOTS, "metrics", *_SCALAR_ROOTS)
_ORDERING: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _quote_key(key: str) -> str:
    if key and all(ch.isalnum() or ch in "_-" for ch in key):
        return key
    return "`" + key.replace("\\", "\\\\").replace("`", "\\`") + "`"


@dataclass(frozen=True)
class FieldRef:
    """A field of a record named in a query or an ``order_by``.

    Attributes:
        root: The canonical root: ``hyperparameters``, ``metadata``, ``environment``,
            ``metrics`` or a top-level key such as ``status``.
        keys: The keys below the root; for ``metrics`` the single metric name.
        aggregate: For ``metrics`` fields, one of :data:`AGGREGATES`; else None.
        position: Where the field starts in the text it was parsed from.

    Example:
        >>> from experiment_manager.query import parse_order_by
        >>> ref = parse_order_by("hp.opt.name")[0][0]
        >>> ref.root, ref.keys, str(ref)
        ('hyperparameters', ('opt', 'name'), 'hyperparameters.opt.name')
        >>> ref.lookup({"hyperparameters": {"opt": {"name": "sgd"}}})
        (True, 'sgd')
    """

    root: str
    keys: tuple[str, ...] = ()
    aggregate: str | None = None
    position: int = field(default=0, compare=False)

    def __str__(self) -> str:
        parts = [self.root, *(_quote_key(key) for key in self.keys)]
        if self.aggregate is not None:
            parts.append(self.aggregate)
        return ".".join(parts)

    def lookup(self, record: Mapping[str, Any]) -> tuple[bool, Any]:
        """Find this field's value in a record.

        Args:
            record: One record.

        Returns:
            ``(True, value)`` when the field is there (the value may be None), else
            ``(False, None)``.

        A record may carry precomputed ``metric_summaries`` (name to ``last``,
        ``min``, ``max``, ``mean``, ``count``) instead of the points; metric
        aggregates are then read from there.

        Example:
            >>> FieldRef("metrics", ("loss",), "min").lookup({"metrics": {"loss": [3, 1]}})
            (True, 1)
            >>> FieldRef("metrics", ("loss",), "max").lookup(
            ...     {"metric_summaries": {"loss": {"max": 3}}})
            (True, 3)
        """
        if self.root in _SCALAR_ROOTS:
            return (True, record[self.root]) if self.root in record else (False, None)
        container = record.get(self.root)
        summaries = record.get("metric_summaries")
        if self.aggregate is not None and isinstance(summaries, Mapping):
            summary = summaries.get(self.keys[0])
            if not isinstance(summary, Mapping) or summary.get(self.aggregate) is None:
                return False, None
            return True, summary[self.aggregate]
        if self.aggregate is not None:
            if not isinstance(container, Mapping):
                return False, None
            values = container.get(self.keys[0])
            if not isinstance(values, (list, tuple)):
                return False, None
            return _aggregate(values, self.aggregate)
        return _lookup_keys(container, self.keys) if container is not None else (False, None)


def _compare(op: str, found: bool, value: Any, literal: Scalar) -> bool:
    """Apply one comparison operator with the language's semantics."""
    if op == "contains":
        if not found:
            return False
        if isinstance(value, str):
            return isinstance(literal, str) and literal in value
        if isinstance(value, (list, tuple)):
            return any(_compare("=", True, item, literal) for item in value)
        if isinstance(value, Mapping):
            return isinstance(literal, str) and literal in value
        return False
    if literal is None:
        if op == "=":
            return not found or value is None
        if op == "!=":
            return found and value is not None
        return False
    if not found:
        return False
    kind = _kind(value)
    if kind is None or kind != _kind(literal):
        return False
    if op == "=":
        return bool(value == literal)
    if op == "!=":
        return bool(value != literal)
    if kind == "bool":
        return False
    return _ORDERING[op](value, literal)


@dataclass(frozen=True)
class Comparison:
    """``field <op> literal``, with op one of ``= != < <= > >= contains``.

    Example:
        >>> Comparison(FieldRef("version"), ">", 1).matches({"version": 2})
        True
    """

    field: FieldRef
    op: str
    value: Scalar

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return whether the record satisfies the comparison.

        Args:
            record: One record.

        Returns:
            The comparison's truth value (False when the field is missing).
        """
        found, value = self.field.lookup(record)
        return _compare(self.op, found, value, self.value)


@dataclass(frozen=True)
class Membership:
    """``field in (literal, ...)``: true when the field equals any of the literals.

    Example:
        >>> Membership(FieldRef("status"), ("failed", "crashed")).matches({"status": "failed"})
        True
    """

    field: FieldRef
    values: tuple[Scalar, ...]

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return whether the field equals one of the values.

        Args:
            record: One record.

        Returns:
            True when ``field = value`` holds for at least one value.
        """
        found, value = self.field.lookup(record)
        return any(_compare("=", found, value, literal) for literal in self.values)


@dataclass(frozen=True)
class BoolOp:
    """``and`` / ``or`` over two or more operands.

    Example:
        >>> yes = Comparison(FieldRef("version"), "=", 1)
        >>> BoolOp("or", (yes, Not(yes))).matches({})
        True
    """

    op: str
    operands: tuple[Node, ...]

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return the conjunction (``and``) or disjunction (``or``) of the operands.

        Args:
            record: One record.

        Returns:
            The combined truth value, evaluated left to right with short-circuit.
        """
        if self.op == "and":
            return all(operand.matches(record) for operand in self.operands)
        return any(operand.matches(record) for operand in self.operands)


@dataclass(frozen=True)
class Not:
    """``not operand``.

    Example:
        >>> Not(Comparison(FieldRef("status"), "=", "failed")).matches({})
        True
    """

    operand: Node

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return the negation of the operand.

        Args:
            record: One record.

        Returns:
            ``not operand.matches(record)``.
        """
        return not self.operand.matches(record)


#: A node of a parsed query.
Node: TypeAlias = Comparison | Membership | BoolOp | Not
