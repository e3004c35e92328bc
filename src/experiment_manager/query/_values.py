"""Value helpers of the query language: kinds, aggregates and nested-key lookup.

The bottom layer of :mod:`experiment_manager.query`; it knows nothing of fields, syntax
or records as a whole, only of the plain values found inside them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from experiment_manager._serialize import PLAIN_NUMBERS

#: The aggregates a ``metrics.<name>.<agg>`` field may end with.
AGGREGATES: Final = ("last", "min", "max", "mean", "count")


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


def _usable(values: Sequence[Any], plain: bool | None = None) -> Sequence[Any]:
    """Return the numbers among ``values``, NaN left out.

    The common case, plain ints and floats without NaN, is checked in C-level passes
    and returns ``values`` itself, without copying a long metric. ``plain`` says
    whether ``values`` holds only ints and floats when the caller knows it already
    (None: look).
    """
    if plain is None:
        plain = set(map(type, values)) <= PLAIN_NUMBERS
    if plain:
        if not any(map(math.isnan, values)):
            return values
        return [v for v in values if not math.isnan(v)]
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
