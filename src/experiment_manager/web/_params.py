"""Query and path parameters: text in, checked values out; pure.

Every function raises :class:`~experiment_manager.errors.InvalidArgumentError` (the
API answers 400) for text it cannot accept, except :func:`version_number`, whose
failures mean "no such version" (:class:`~experiment_manager.web._responses.RequestError`,
404).
"""

from __future__ import annotations

import math
import re

from experiment_manager import _ranges
from experiment_manager.errors import InvalidArgumentError
from experiment_manager.web._responses import RequestError

__all__ = [
    "TRUE",
    "choice",
    "flag",
    "integer",
    "is_version",
    "number",
    "required",
    "version_list",
    "version_number",
]

#: The texts a yes/no parameter reads as yes; as no: these and the empty text.
TRUE = ("1", "true", "yes")
_FALSE = ("", "0", "false", "no")
_VERSION = re.compile(r"[1-9][0-9]{0,17}")
#: A version list longer than this is refused (it would name more than any history has).
MAX_VERSIONS = 10_000


def required(name: str, text: str | None) -> str:
    """Return a parameter that must be present and non-empty.

    Args:
        name: The parameter's name.
        text: Its text, or None when absent.

    Returns:
        The text.

    Raises:
        InvalidArgumentError: It is missing or empty.

    Example:
        >>> required("metric", "loss")
        'loss'
    """
    if not text:
        raise InvalidArgumentError(name, text, "is required")
    return text


def integer(
    name: str, text: str | None, default: int, low: int = 0, high: int | None = None
) -> int:
    """Parse a decimal integer parameter within ``[low, high]``.

    Args:
        name: The parameter's name.
        text: Its text, or None when absent.
        default: The value when absent or empty.
        low: The smallest value accepted.
        high: The largest value accepted (None: no limit).

    Returns:
        The number.

    Raises:
        InvalidArgumentError: Not a decimal integer, or out of range.

    Example:
        >>> integer("limit", "20", 0), integer("limit", None, 7)
        (20, 7)
    """
    if text is None or text == "":
        return default
    if re.fullmatch(r"-?[0-9]{1,19}", text) is None:
        raise InvalidArgumentError(name, text, "must be a decimal integer")
    value = int(text)
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f" and <= {high}"
        raise InvalidArgumentError(name, text, f"must be >= {low}{upper}")
    return value


def number(name: str, text: str | None) -> float | None:
    """Parse a finite number parameter (such as a range bound).

    Args:
        name: The parameter's name.
        text: Its text, or None when absent.

    Returns:
        The number, or None when absent or empty.

    Raises:
        InvalidArgumentError: Not a finite number.

    Example:
        >>> number("start", "1e3"), number("end", "")
        (1000.0, None)
    """
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgumentError(name, text, "must be a number") from None
    if not math.isfinite(value):
        raise InvalidArgumentError(name, text, "must be a finite number")
    return value


def flag(name: str, text: str | None) -> bool:
    """Return a yes/no parameter (no when absent or empty).

    Args:
        name: The parameter's name.
        text: Its text, or None when absent.

    Returns:
        True for 1, true or yes (any case); False for 0, false, no or nothing.

    Raises:
        InvalidArgumentError: Any other text.

    Example:
        >>> flag("all", "Yes"), flag("all", None)
        (True, False)
    """
    value = (text or "").lower()
    if value not in TRUE + _FALSE:
        raise InvalidArgumentError(name, value, "must be 1 or 0")
    return value in TRUE


def choice(name: str, text: str | None, options: tuple[str, ...]) -> str:
    """Return one of ``options`` (the first when absent or empty).

    Args:
        name: The parameter's name.
        text: Its text, or None when absent.
        options: The accepted values, default first.

    Returns:
        The value.

    Raises:
        InvalidArgumentError: Not one of the options.

    Example:
        >>> choice("x", None, ("step", "time")), choice("x", "time", ("step", "time"))
        ('step', 'time')
    """
    if text is None or text == "":
        return options[0]
    if text not in options:
        raise InvalidArgumentError(name, text, f"must be one of {', '.join(options)}")
    return text


def version_list(name: str, text: str | None) -> list[int] | None:
    """Parse a version list as the CLI reads one: ``3``, ``1-6``, ``1,3,5-7``.

    Ranges are inclusive; the order given is kept, without repeats (see
    :func:`experiment_manager._ranges.parse_versions`).

    Args:
        name: The parameter's name.
        text: Its text, or None when absent.

    Returns:
        The versions, or None when absent or empty.

    Raises:
        InvalidArgumentError: A part is not a version or a range of them (naming the
            part), a range runs backwards, or the list names too many versions.

    Example:
        >>> version_list("versions", "3, 1,3"), version_list("versions", "1-3,5")
        ([3, 1], [1, 2, 3, 5])
    """
    if text is None or text.strip() == "":
        return None
    versions = _ranges.parse_versions(text, argument=name)
    if len(versions) > MAX_VERSIONS:
        raise InvalidArgumentError(name, text, f"names more than {MAX_VERSIONS} versions")
    return versions


def is_version(text: str) -> bool:
    """Whether ``text`` is a version number as URLs write it (1, 2, ..., no sign or zeros).

    Args:
        text: A URL path segment.

    Returns:
        True for a positive decimal integer without leading zeros.

    Example:
        >>> is_version("3"), is_version("03"), is_version("..")
        (True, False, False)
    """
    return _VERSION.fullmatch(text) is not None


def version_number(experiment_id: str, text: str) -> int:
    """Parse the version of a URL path; anything but a positive integer names nothing.

    Args:
        experiment_id: The experiment (for the error).
        text: The path segment.

    Returns:
        The version.

    Raises:
        RequestError: The text is not a positive decimal integer (404).

    Example:
        >>> version_number("exp", "12")
        12
    """
    if not is_version(text):
        raise RequestError(
            404, "ExperimentNotFoundError", f"no experiment {experiment_id!r} version {text!r}"
        )
    return int(text)
