"""Filter, sort, summarise and compare experiment records; pure and store-independent.

A *record* is a plain dict holding one version of an experiment, as returned by
``read_history``. This module never reads or writes files: every function takes records
and returns records (the same dict objects, never copies) or plain data about them.

The filter language is small and SQL-like::

    hp.lr < 0.01 and metrics.loss.min <= 0.3
    status in ('failed', 'crashed') or not metadata.precision = 'float32'
    hyperparameters.`learning rate` > 0.1 and metrics."val acc".max >= 0.8

Fields:
    ``hyperparameters.<key>[.<key>...]`` (also ``params.`` and ``hp.``),
    ``metadata.<key>...``, ``environment.<key>...``,
    ``metrics.<name>.<agg>`` with agg one of last, min, max, mean, count,
    and ``status``, ``version``, ``created_at``, ``ended_at``, ``config_name``,
    ``experiment_id``, ``duration``, ``checkpoints``.

Semantics:
    A missing field makes a comparison false (so ``not (...)`` of it is true), except
    ``= null``, which matches a missing field or None. Numbers compare with numbers (a
    bool is not a number), strings with strings, bools only for (in)equality; comparing
    incompatible types is false, never an error. ``contains`` is a substring test on
    strings, membership on lists and key membership on dicts. NaN metric values are
    ignored by min, max and mean; count counts every value.

Example:
    >>> records = [
    ...     {"version": 1, "hyperparameters": {"lr": 0.1}, "metrics": {"loss": [0.9, 0.4]}},
    ...     {"version": 2, "hyperparameters": {"lr": 0.01}, "metrics": {"loss": [0.7, 0.2]}},
    ... ]
    >>> [r["version"] for r in search_records(records, "hp.lr < 1", "-metrics.loss.min")]
    [1, 2]
    >>> best_record(records, "loss")["version"]
    2
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias, TypedDict, TypeVar

from experiment_manager.errors import InvalidArgumentError, QuerySyntaxError

__all__ = [
    "AGGREGATES",
    "BoolOp",
    "Comparison",
    "FieldRef",
    "Membership",
    "MetricSummary",
    "Node",
    "Not",
    "Query",
    "RecordComparison",
    "best_record",
    "compare_records",
    "filter_records",
    "metric_summary",
    "parse_order_by",
    "parse_query",
    "search_records",
    "sort_records",
]

R = TypeVar("R", bound=Mapping[str, Any])

#: A literal of the filter language.
Scalar: TypeAlias = int | float | str | bool | None

#: The aggregates a ``metrics.<name>.<agg>`` field may end with.
AGGREGATES: Final = ("last", "min", "max", "mean", "count")

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
)
_KNOWN_ROOTS: Final = (*_NESTED_ROOTS, "metrics", *_SCALAR_ROOTS)
_KEYWORDS: Final = frozenset(
    {"and", "or", "not", "contains", "in", "true", "false", "null", "asc", "desc"}
)
_ORDERING: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ESCAPES: Final = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "n": "\n",
    "t": "\t",
    "r": "\r",
}
_QUOTES: Final = "'\"`"
_DIGITS: Final = "0123456789"
_MAX_DEPTH: Final = 100


# --------------------------------------------------------------------------- values


def _is_number(value: object) -> bool:
    """Return True for an int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _kind(value: object) -> str | None:
    """Return the comparison class of a value: number, string, bool, or None (other)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _mean(numbers: Sequence[float]) -> float:
    try:
        return math.fsum(numbers) / len(numbers)
    except ValueError:  # inf + -inf
        return math.nan
    except OverflowError:
        total = sum(
            float(n) if abs(n) < 1e308 else (math.inf if n > 0 else -math.inf) for n in numbers
        )
        return total / len(numbers)


def _usable(values: Sequence[Any]) -> list[Any]:
    """Return the numbers among ``values``, NaN left out (fast path for plain floats)."""
    fast = [v for v in values if (type(v) is float and not math.isnan(v)) or type(v) is int]
    if len(fast) == len(values):
        return fast
    return [v for v in values if _is_number(v) and not _is_nan(v)]


def _aggregate(values: Sequence[Any], agg: str) -> tuple[bool, Any]:
    """Return ``(found, value)`` of one aggregate over a metric's values."""
    if agg == "count":
        return True, len(values)
    if agg == "last":
        return (True, values[-1]) if values else (False, None)
    numbers = _usable(values)
    if not numbers:
        return False, None
    if agg == "min":
        return True, min(numbers)
    if agg == "max":
        return True, max(numbers)
    return True, _mean(numbers)


def _lookup_keys(value: Any, keys: Sequence[str]) -> tuple[bool, Any]:
    """Follow ``keys`` into nested dicts (and lists by index).

    A dict key that itself contains dots is found too: ``a.b.c`` tries ``a`` then
    ``b.c`` inside it, and also ``a.b`` then ``c``, and ``a.b.c`` as one key.
    """
    if not keys:
        return True, value
    if isinstance(value, Mapping):
        for split in range(1, len(keys) + 1):
            key = ".".join(keys[:split])
            if key in value:
                found, result = _lookup_keys(value[key], keys[split:])
                if found:
                    return True, result
        return False, None
    if isinstance(value, (list, tuple)) and keys[0].isascii() and keys[0].isdigit():
        index = int(keys[0])
        if index < len(value):
            return _lookup_keys(value[index], keys[1:])
    return False, None


def _quote_key(key: str) -> str:
    if key and all(ch.isalnum() or ch in "_-" for ch in key):
        return key
    return "`" + key.replace("\\", "\\\\").replace("`", "\\`") + "`"


# --------------------------------------------------------------------------- AST


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

        Example:
            >>> FieldRef("metrics", ("loss",), "min").lookup({"metrics": {"loss": [3, 1]}})
            (True, 1)
        """
        if self.root in _SCALAR_ROOTS:
            return (True, record[self.root]) if self.root in record else (False, None)
        container = record.get(self.root)
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


# --------------------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class _Token:
    kind: str  # FIELD KEYWORD NUMBER STRING OP LPAREN RPAREN COMMA SIGN EOF
    value: Any
    position: int


class _Lexer:
    """Turn query text into tokens; raises QuerySyntaxError on bad characters."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def error(self, position: int, reason: str) -> QuerySyntaxError:
        return QuerySyntaxError(self.text, position, reason)

    def tokens(self) -> list[_Token]:
        result: list[_Token] = []
        text = self.text
        while True:
            while self.i < len(text) and text[self.i].isspace():
                self.i += 1
            if self.i >= len(text):
                result.append(_Token("EOF", None, len(text)))
                return result
            result.append(self.next_token())

    def next_token(self) -> _Token:
        text, start = self.text, self.i
        ch = text[start]
        single = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}
        if ch in single:
            self.i += 1
            return _Token(single[ch], ch, start)
        if ch in "=!<>":
            two = text[start : start + 2]
            if two in ("==", "!=", "<=", ">="):
                self.i += 2
                return _Token("OP", "=" if two == "==" else two, start)
            if ch == "!":
                raise self.error(start, "expected '!=' ('!' alone is not an operator)")
            self.i += 1
            return _Token("OP", ch, start)
        if ch in "+-":
            if start + 1 < len(text) and text[start + 1] in _DIGITS:
                return self.number()
            self.i += 1
            return _Token("SIGN", ch, start)
        if ch in _DIGITS:
            return self.number()
        if ch in "'\"":
            return _Token("STRING", self.quoted(), start)
        if ch.isalpha() or ch in "_`":
            return self.field()
        raise self.error(start, f"unexpected character {ch!r}")

    def number(self) -> _Token:
        text, start = self.text, self.i
        i = start + 1 if text[start] in "+-" else start

        def digits(at: int) -> int:
            while at < len(text) and text[at] in _DIGITS:
                at += 1
            return at

        i = digits(i)
        is_float = False
        if i < len(text) and text[i] == ".":
            end = digits(i + 1)
            if end == i + 1:
                raise self.error(start, "invalid number: expected digits after '.'")
            i, is_float = end, True
        if i < len(text) and text[i] in "eE":
            j = i + 1
            if j < len(text) and text[j] in "+-":
                j += 1
            end = digits(j)
            if end == j:
                raise self.error(start, "invalid number: expected digits in the exponent")
            i, is_float = end, True
        if i < len(text) and (text[i].isalnum() or text[i] in "_.`'\""):
            raise self.error(start, "invalid number")
        self.i = i
        literal = text[start:i]
        try:
            value = float(literal) if is_float else int(literal)
        except ValueError:  # more digits than int() accepts
            raise self.error(start, "number out of range") from None
        if is_float and math.isinf(value):
            raise self.error(start, "number out of range")
        return _Token("NUMBER", value, start)

    def quoted(self) -> str:
        """Read a quoted string or key at ``self.i``; returns its unescaped content."""
        text, start = self.text, self.i
        quote = text[start]
        chars: list[str] = []
        i = start + 1
        while i < len(text):
            ch = text[i]
            if ch == quote:
                self.i = i + 1
                return "".join(chars)
            if ch == "\\":
                if i + 1 >= len(text):
                    break
                escape = text[i + 1]
                if escape in _ESCAPES:
                    chars.append(_ESCAPES[escape])
                    i += 2
                    continue
                hex_digits = text[i + 2 : i + 6]
                if (
                    escape == "u"
                    and len(hex_digits) == 4
                    and all(c in "0123456789abcdefABCDEF" for c in hex_digits)
                ):
                    chars.append(chr(int(hex_digits, 16)))
                    i += 6
                    continue
                raise self.error(i, f"unknown escape '\\{escape}'")
            chars.append(ch)
            i += 1
        raise self.error(start, f"unterminated {'key' if quote == '`' else 'string'}")

    def bare(self, first: Callable[[str], bool], rest: Callable[[str], bool]) -> str | None:
        text, start = self.text, self.i
        if start >= len(text) or not first(text[start]):
            return None
        i = start + 1
        while i < len(text) and rest(text[i]):
            i += 1
        self.i = i
        return text[start:i]

    def field(self) -> _Token:
        """Read ``root(.key)*``; a single bare word may instead be a keyword."""
        text, start = self.text, self.i
        if text[start] == "`":
            segments = [self.quoted()]
            quoted = True
        else:
            root = self.bare(lambda c: c.isalpha() or c == "_", lambda c: c.isalnum() or c == "_")
            assert root is not None
            segments, quoted = [root], False
        while self.i < len(text) and text[self.i] == ".":
            self.i += 1
            if self.i < len(text) and text[self.i] in _QUOTES:
                segments.append(self.quoted())
                continue
            key = self.bare(lambda c: c.isalnum() or c in "_-", lambda c: c.isalnum() or c in "_-")
            if key is None:
                raise self.error(self.i, "expected a key after '.'")
            segments.append(key)
        if len(segments) == 1 and not quoted and segments[0].lower() in _KEYWORDS:
            return _Token("KEYWORD", segments[0].lower(), start)
        return _Token("FIELD", tuple(segments), start)


# --------------------------------------------------------------------------- parser


def _describe(token: _Token) -> str:
    if token.kind == "EOF":
        return "end of query"
    if token.kind == "FIELD":
        return f"field {'.'.join(token.value)!r}"
    if token.kind == "STRING":
        return f"string {token.value!r}"
    return repr(token.value)


class _Parser:
    """Recursive-descent parser over the token list (see ``parse_query`` for the grammar)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _Lexer(text).tokens()
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "EOF":
            self.index += 1
        return token

    def is_keyword(self, *words: str) -> bool:
        return self.current.kind == "KEYWORD" and self.current.value in words

    def error(self, reason: str, token: _Token | None = None) -> QuerySyntaxError:
        token = token or self.current
        return QuerySyntaxError(self.text, token.position, reason)

    def unexpected(self, expected: str) -> QuerySyntaxError:
        return self.error(f"expected {expected}, found {_describe(self.current)}")

    def expect_end(self) -> None:
        if self.current.kind != "EOF":
            if self.current.kind == "RPAREN":
                raise self.error("unbalanced ')'")
            raise self.unexpected("'and', 'or' or end of query")

    def nest(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(f"query nested deeper than {_MAX_DEPTH} levels", token)

    # query = or_expr EOF
    def query(self) -> Node:
        if self.current.kind == "EOF":
            raise self.error("empty query")
        node = self.or_expr()
        self.expect_end()
        return node

    # or_expr = and_expr { "or" and_expr }
    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.is_keyword("or"):
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    # and_expr = not_expr { "and" not_expr }
    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.is_keyword("and"):
            self.advance()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    # not_expr = "not" not_expr | primary
    def not_expr(self) -> Node:
        if self.is_keyword("not"):
            self.nest(self.advance())
            node: Node = Not(self.not_expr())
            self.depth -= 1
            return node
        return self.primary()

    # primary = "(" or_expr ")" | comparison
    def primary(self) -> Node:
        if self.current.kind == "LPAREN":
            opening = self.advance()
            self.nest(opening)
            node = self.or_expr()
            if self.current.kind != "RPAREN":
                if self.current.kind == "EOF":
                    raise self.error("unbalanced '(': missing ')'", opening)
                raise self.unexpected("')', 'and' or 'or'")
            self.advance()
            self.depth -= 1
            return node
        return self.comparison()

    # comparison = field ( op literal | "contains" literal | "in" "(" literals ")" )
    def comparison(self) -> Node:
        ref = self.field()
        if self.current.kind == "OP":
            op = self.advance().value
            return Comparison(ref, op, self.literal())
        if self.is_keyword("contains"):
            self.advance()
            return Comparison(ref, "contains", self.literal())
        if self.is_keyword("in"):
            self.advance()
            if self.current.kind != "LPAREN":
                raise self.unexpected("'(' after 'in'")
            self.advance()
            values = [self.literal()]
            while self.current.kind == "COMMA":
                self.advance()
                if self.current.kind == "RPAREN":
                    break
                values.append(self.literal())
            if self.current.kind != "RPAREN":
                raise self.unexpected("',' or ')'")
            self.advance()
            return Membership(ref, tuple(values))
        raise self.unexpected("an operator (= != < <= > >= contains in)")

    def field(self) -> FieldRef:
        token = self.current
        if token.kind != "FIELD":
            raise self.unexpected("a field such as hp.lr or metrics.loss.min")
        self.advance()
        return _make_field(self.text, token)

    # literal = number | string | "true" | "false" | "null"
    def literal(self) -> Scalar:
        token = self.current
        if token.kind in ("NUMBER", "STRING"):
            self.advance()
            value: Scalar = token.value
            return value
        if token.kind == "KEYWORD" and token.value in ("true", "false", "null"):
            self.advance()
            return {"true": True, "false": False, "null": None}[token.value]
        if token.kind == "FIELD":
            raise self.error("expected a value; quote strings, e.g. 'finished'")
        raise self.unexpected("a value (number, 'string', true, false or null)")

    # order_by = order_item { "," order_item }
    # order_item = [ "-" | "+" ] field [ "asc" | "desc" ]
    def order_by(self) -> list[tuple[FieldRef, bool]]:
        if self.current.kind == "EOF":
            raise self.error("empty order_by")
        items: list[tuple[FieldRef, bool]] = []
        while True:
            sign = self.advance().value if self.current.kind == "SIGN" else None
            ref = self.field()
            descending = sign == "-"
            if self.is_keyword("asc", "desc"):
                if sign is not None:
                    raise self.error(f"both {sign!r} and {self.current.value!r} given")
                descending = self.advance().value == "desc"
            items.append((ref, descending))
            if self.current.kind != "COMMA":
                break
            self.advance()
        if self.current.kind != "EOF":
            raise self.unexpected("',', 'asc', 'desc' or end of order_by")
        return items


def _make_field(text: str, token: _Token) -> FieldRef:
    """Validate a FIELD token's segments and build the FieldRef."""
    root, *keys = token.value
    position = token.position
    if root in _SCALAR_ROOTS:
        if keys:
            raise QuerySyntaxError(text, position, f"field {root!r} has no sub-keys")
        return FieldRef(root, (), None, position)
    if root in _NESTED_ROOTS:
        if not keys:
            raise QuerySyntaxError(text, position, f"field {root!r} needs a key, e.g. {root}.<key>")
        return FieldRef(_NESTED_ROOTS[root], tuple(keys), None, position)
    if root == "metrics":
        if len(keys) < 2:
            raise QuerySyntaxError(
                text,
                position,
                "metrics fields need a name and an aggregate, e.g. metrics.loss.min",
            )
        if keys[-1] not in AGGREGATES:
            raise QuerySyntaxError(
                text,
                position,
                f"unknown aggregate {keys[-1]!r}; expected one of {', '.join(AGGREGATES)}",
            )
        return FieldRef("metrics", (".".join(keys[:-1]),), keys[-1], position)
    raise QuerySyntaxError(
        text, position, f"unknown field {root!r}; fields start with {', '.join(_KNOWN_ROOTS)}"
    )


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class Query:
    """A parsed filter; build one with :func:`parse_query`.

    Attributes:
        text: The query text it was parsed from.
        node: The root of its syntax tree.

    Example:
        >>> query = parse_query("status = 'failed' or duration > 60")
        >>> query.matches({"status": "failed"}), query.matches({"duration": 5.0})
        (True, False)
    """

    text: str
    node: Node = field(repr=False, compare=False)

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return whether a record satisfies the query.

        Args:
            record: One record (a dict such as those returned by ``read_history``).

        Returns:
            True when the record matches.

        Example:
            >>> parse_query("hp.lr < 0.1").matches({"hyperparameters": {"lr": 0.01}})
            True
        """
        return self.node.matches(record)


def parse_query(text: str) -> Query:
    """Parse a filter expression.

    Grammar (keywords are case-insensitive)::

        query      = or_expr ;
        or_expr    = and_expr { "or" and_expr } ;
        and_expr   = not_expr { "and" not_expr } ;
        not_expr   = "not" not_expr | primary ;
        primary    = "(" or_expr ")" | comparison ;
        comparison = field ( op literal | "contains" literal
                           | "in" "(" literal { "," literal } [ "," ] ")" ) ;
        op         = "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" ;
        literal    = number | string | "true" | "false" | "null" ;

    Args:
        text: The query, e.g. ``"hp.lr <= 0.01 and metrics.loss.min < 0.5"``.

    Returns:
        The parsed :class:`Query`.

    Raises:
        QuerySyntaxError: The text does not parse; ``position`` points at the
            offending token (for an unknown field or aggregate, at the field).
        InvalidArgumentError: ``text`` is not a string.

    Example:
        >>> parse_query("metrics.`val acc`.max >= 0.8").matches(
        ...     {"metrics": {"val acc": [0.7, 0.85]}})
        True
        >>> try:
        ...     parse_query("hp.lr > 0.1 and metrics.loss.median < 1")
        ... except QuerySyntaxError as error:
        ...     print(error.position)
        16
    """
    if not isinstance(text, str):
        raise InvalidArgumentError("query", text, "must be a string")
    return Query(text, _Parser(text).query())


def _as_query(query: str | Query | None) -> Query | None:
    if query is None or isinstance(query, Query):
        return query
    if isinstance(query, str):
        return parse_query(query)
    raise InvalidArgumentError("query", query, "must be a string, a Query or None")


def filter_records(records: Iterable[R], query: str | Query | None) -> list[R]:
    """Keep the records that match a query.

    Args:
        records: Records to filter.
        query: A query text, a parsed :class:`Query`, or None to keep everything.

    Returns:
        The matching records, in their original order (the same objects).

    Raises:
        QuerySyntaxError: ``query`` is a text that does not parse.
        InvalidArgumentError: ``query`` has the wrong type.

    Example:
        >>> records = [{"version": 1, "status": "failed"}, {"version": 2}]
        >>> filter_records(records, "not status = 'failed'")
        [{'version': 2}]
    """
    parsed = _as_query(query)
    if parsed is None:
        return list(records)
    return [record for record in records if parsed.matches(record)]


def parse_order_by(text: str) -> list[tuple[FieldRef, bool]]:
    """Parse a sort specification.

    Grammar::

        order_by   = order_item { "," order_item } ;
        order_item = [ "-" | "+" ] field [ "asc" | "desc" ] ;

    Args:
        text: For example ``"metrics.loss.min"``, ``"metrics.loss.min desc, version asc"``
            or ``"-version"`` (a leading minus sorts descending).

    Returns:
        ``(field, descending)`` pairs, most significant first.

    Raises:
        QuerySyntaxError: The text does not parse.
        InvalidArgumentError: ``text`` is not a string.

    Example:
        >>> [(str(f), desc) for f, desc in parse_order_by("metrics.loss.min, -version")]
        [('metrics.loss.min', False), ('version', True)]
    """
    if not isinstance(text, str):
        raise InvalidArgumentError("order_by", text, "must be a string")
    return _Parser(text).order_by()


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return 2, value
    if isinstance(value, (int, float)):
        return 0, value
    if isinstance(value, str):
        return 1, value
    return 3, repr(value)


def sort_records(records: Iterable[R], order_by: str | None) -> list[R]:
    """Sort records by one or more fields.

    Missing fields, None and NaN sort last whatever the direction; the sort is stable.
    Values of different types are grouped, in this order whatever the direction:
    numbers, then strings, then bools, then anything else (by ``repr``).

    Args:
        records: Records to sort.
        order_by: A sort specification (see :func:`parse_order_by`), or None to keep
            the order.

    Returns:
        A new list of the same record objects.

    Raises:
        QuerySyntaxError: ``order_by`` does not parse.
        InvalidArgumentError: ``order_by`` has the wrong type.

    Example:
        >>> records = [{"version": 1}, {"version": 3}, {}, {"version": 2}]
        >>> sort_records(records, "version desc")
        [{'version': 3}, {'version': 2}, {'version': 1}, {}]
    """
    result = list(records)
    if order_by is None:
        return result
    for ref, descending in reversed(parse_order_by(order_by)):
        present: list[tuple[tuple[int, Any], R]] = []
        missing: list[R] = []
        for record in result:
            found, value = ref.lookup(record)
            if not found or value is None or _is_nan(value):
                missing.append(record)
            else:
                present.append((_sort_key(value), record))
        present.sort(key=lambda pair: pair[0], reverse=descending)
        present.sort(key=lambda pair: pair[0][0])  # type groups keep their order
        result = [record for _, record in present] + missing
    return result


def search_records(
    records: Iterable[R],
    query: str | Query | None = None,
    order_by: str | None = None,
    limit: int | None = None,
) -> list[R]:
    """Filter, then sort, then cut records: the one call behind a search.

    Args:
        records: Records to search.
        query: A filter (see :func:`parse_query`), or None for all records.
        order_by: A sort specification (see :func:`parse_order_by`), or None.
        limit: The most records to return, or None for all.

    Returns:
        The selected records (the same objects).

    Raises:
        QuerySyntaxError: ``query`` or ``order_by`` does not parse.
        InvalidArgumentError: ``limit`` is not a non-negative int, or an argument has
            the wrong type.

    Example:
        >>> records = [{"version": v, "duration": d} for v, d in [(1, 9.0), (2, 3.0), (3, 5.0)]]
        >>> [r["version"] for r in search_records(records, "duration > 4", "duration", 1)]
        [3]
    """
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise InvalidArgumentError("limit", limit, "must be a non-negative int or None")
    parsed = _as_query(query)  # parse both before doing any work
    if order_by is not None:
        parse_order_by(order_by)
    result = sort_records(filter_records(records, parsed), order_by)
    return result if limit is None else result[:limit]


class MetricSummary(TypedDict):
    """The summary of one metric's values (see :func:`metric_summary`)."""

    last: Any
    min: float | None
    max: float | None
    mean: float | None
    count: int
    argmin_step: Any
    argmax_step: Any


def metric_summary(values: Sequence[Any], steps: Sequence[Any] | None = None) -> MetricSummary:
    """Summarise a metric's values.

    NaN (and any non-number) is ignored by min, max and mean; ``count`` counts every
    value; ``last`` is the last value as logged, NaN included. ``argmin_step`` /
    ``argmax_step`` give the step of the first minimum / maximum: ``steps[i]`` when
    ``steps`` is given and that entry is not None, else the index ``i``.

    Args:
        values: The metric's values in logging order.
        steps: The step of each value, parallel to ``values``, or None.

    Returns:
        A dict with ``last``, ``min``, ``max``, ``mean``, ``count``, ``argmin_step``
        and ``argmax_step``; the aggregates are None when there is no usable value.

    Example:
        >>> summary = metric_summary([0.5, float("nan"), 0.2, 0.4], steps=[10, 20, 30, None])
        >>> summary["min"], summary["argmin_step"], summary["max"], summary["argmax_step"]
        (0.2, 30, 0.5, 10)
        >>> summary["count"], summary["last"]
        (4, 0.4)
    """
    numbers = _usable(values)
    low = min(numbers) if numbers else None
    high = max(numbers) if numbers else None

    def index_of(best: Any) -> int | None:
        if best is None:
            return None
        return next(i for i, v in enumerate(values) if v == best and not isinstance(v, bool))

    def step_of(index: int | None) -> Any:
        if index is None:
            return None
        if steps is not None and index < len(steps) and steps[index] is not None:
            return steps[index]
        return index

    return MetricSummary(
        last=values[-1] if len(values) else None,
        min=low,
        max=high,
        mean=_mean(numbers) if numbers else None,
        count=len(values),
        argmin_step=step_of(index_of(low)),
        argmax_step=step_of(index_of(high)),
    )


def best_record(
    records: Iterable[R], metric: str, mode: str = "min", agg: str | None = None
) -> R | None:
    """Return the record with the best value of a metric.

    Args:
        records: Records to choose from.
        metric: The metric's name, e.g. ``"val acc"``.
        mode: ``"min"`` when lower is better, ``"max"`` when higher is better.
        agg: Which aggregate of the metric to rank by (one of :data:`AGGREGATES`);
            by default the metric's minimum for mode min and maximum for mode max.

    Returns:
        The best record (the first one on a tie), or None when no record has a
        usable (numeric, non-NaN) value.

    Raises:
        InvalidArgumentError: ``mode``, ``agg`` or ``metric`` is not valid.

    Example:
        >>> records = [{"version": 1, "metrics": {"acc": [0.9, 0.5]}},
        ...            {"version": 2, "metrics": {"acc": [0.8]}}]
        >>> best_record(records, "acc", mode="max")["version"]
        1
        >>> best_record(records, "acc", mode="max", agg="last")["version"]
        2
    """
    if mode not in ("min", "max"):
        raise InvalidArgumentError("mode", mode, "must be 'min' or 'max'")
    if agg is None:
        agg = mode
    if agg not in AGGREGATES:
        raise InvalidArgumentError("agg", agg, f"must be one of {', '.join(AGGREGATES)} or None")
    if not isinstance(metric, str):
        raise InvalidArgumentError("metric", metric, "must be a string")
    ref = FieldRef("metrics", (metric,), agg)
    better = operator.lt if mode == "min" else operator.gt
    best: R | None = None
    best_value: Any = None
    for record in records:
        found, value = ref.lookup(record)
        if not found or not _is_number(value) or _is_nan(value):
            continue
        if best is None or better(value, best_value):
            best, best_value = record, value
    return best


class RecordComparison(TypedDict):
    """What :func:`compare_records` returns."""

    experiment_id: Any
    versions: list[Any]
    hyperparameters: dict[str, list[Any]]
    metadata: dict[str, list[Any]]
    environment: dict[str, list[Any]]
    metrics: dict[Any, dict[str, MetricSummary]]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    if not isinstance(value, Mapping):
        return flat
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping) and item:
            flat.update(_flatten(item, name))
        else:
            flat[name] = item
    return flat


def _same(a: Any, b: Any) -> bool:
    """Equality that tells 1 from True and 1.0, and holds NaN equal to NaN."""
    if _is_nan(a) or _is_nan(b):
        return _is_nan(a) and _is_nan(b)
    if type(a) is not type(b) and not (_is_number(a) and _is_number(b)):
        return False
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _differences(sections: list[Any]) -> dict[str, list[Any]]:
    flats = [_flatten(section) for section in sections]
    keys = dict.fromkeys(key for flat in flats for key in flat)
    result: dict[str, list[Any]] = {}
    for key in keys:
        values = [flat.get(key) for flat in flats]
        if not all(_same(values[0], value) for value in values[1:]):
            result[key] = values
    return result


def compare_records(records: Iterable[Mapping[str, Any]]) -> RecordComparison:
    """Compare two or more versions of one experiment.

    Nested dicts are flattened to dotted keys (``opt.name``). A key missing from a
    record shows as None there, and counts as equal to None: only keys whose values
    differ are listed. NaN equals NaN; ``1`` differs from ``True``.

    Args:
        records: Two or more records of the same experiment, with distinct versions.

    Returns:
        A dict with ``experiment_id``; ``versions`` (in the given order);
        ``hyperparameters``, ``metadata`` and ``environment``, each mapping a key
        that differs to the list of every record's value (parallel to ``versions``);
        and ``metrics``: version -> metric name -> :func:`metric_summary` (using the
        record's ``steps`` when it has them).

    Raises:
        InvalidArgumentError: Fewer than two records, records of different
            experiments, or the same version twice.

    Example:
        >>> a = {"experiment_id": "m", "version": 1, "hyperparameters": {"lr": 0.1, "bs": 32},
        ...      "metadata": {}, "metrics": {"loss": [0.5, 0.3]}}
        >>> b = {"experiment_id": "m", "version": 2, "hyperparameters": {"lr": 0.01, "bs": 32},
        ...      "metadata": {}, "metrics": {"loss": [0.4]}}
        >>> diff = compare_records([a, b])
        >>> diff["hyperparameters"]
        {'lr': [0.1, 0.01]}
        >>> diff["metrics"][1]["loss"]["min"], diff["metrics"][2]["loss"]["min"]
        (0.3, 0.4)
    """
    items = list(records)
    if len(items) < 2:
        raise InvalidArgumentError("records", len(items), "need at least two records")
    experiment_ids = list(dict.fromkeys(record.get("experiment_id") for record in items))
    if len(experiment_ids) > 1:
        raise InvalidArgumentError(
            "records", experiment_ids, "all records must belong to one experiment"
        )
    versions = [record.get("version") for record in items]
    if len(set(map(repr, versions))) != len(versions):
        raise InvalidArgumentError("records", versions, "the same version appears twice")
    metrics: dict[Any, dict[str, MetricSummary]] = {}
    for record, version in zip(items, versions, strict=True):
        all_steps = record.get("steps")
        all_steps = all_steps if isinstance(all_steps, Mapping) else {}
        series = record.get("metrics")
        metrics[version] = {
            name: metric_summary(values, all_steps.get(name))
            for name, values in (series.items() if isinstance(series, Mapping) else ())
            if isinstance(values, (list, tuple))
        }
    return RecordComparison(
        experiment_id=experiment_ids[0],
        versions=versions,
        hyperparameters=_differences([record.get("hyperparameters") for record in items]),
        metadata=_differences([record.get("metadata") for record in items]),
        environment=_differences([record.get("environment") for record in items]),
        metrics=metrics,
    )
