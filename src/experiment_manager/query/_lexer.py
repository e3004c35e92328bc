"""The tokenizer of the query language: turns query text into a list of tokens."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from experiment_manager.errors import QuerySyntaxError

_KEYWORDS: Final = frozenset(
    {"and", "or", "not", "contains", "in", "true", "false", "null", "asc", "desc"}
)
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
