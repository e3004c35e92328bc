"""The recursive-descent parser: query and ``order_by`` text to :class:`Query` / fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from experiment_manager.errors import InvalidArgumentError, QuerySyntaxError
from experiment_manager.query._ast import (
    _KNOWN_ROOTS,
    _NESTED_ROOTS,
    _SCALAR_ROOTS,
    BoolOp,
    Comparison,
    FieldRef,
    Membership,
    Node,
    Not,
    Scalar,
)
from experiment_manager.query._lexer import _Lexer, _Token
from experiment_manager.query._values import AGGREGATES

_MAX_DEPTH: Final = 100


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
                f"unknown aggregate {keys[-1]!r}{_did_you_mean(keys[-1], AGGREGATES)}; "
                f"expected one of {', '.join(AGGREGATES)}",
            )
        return FieldRef("metrics", (".".join(keys[:-1]),), keys[-1], position)
    raise QuerySyntaxError(
        text,
        position,
        f"unknown field {root!r}{_did_you_mean(root, _KNOWN_ROOTS)}; fields start with "
        f"{', '.join(_KNOWN_ROOTS)}",
    )


def _did_you_mean(word: str, known: Sequence[str]) -> str:
    """`` (did you mean 'status'?)`` for the closest known word, or nothing."""
    import difflib

    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
