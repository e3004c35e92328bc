"""Version lists as people type them: ``3``, ``1-6``, ``1,3,5-7``.

A leaf module (it imports only the error hierarchy) so that the CLI and the dashboard
read a version list the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from experiment_manager.errors import InvalidArgumentError

__all__ = ["MAX_RANGE", "format_versions", "is_version_list", "parse_versions"]

#: The most versions one range may name, so ``1-999999999`` cannot allocate a huge list.
MAX_RANGE = 100_000

_ITEM = re.compile(r"\s*(\d{1,9})\s*(?:-\s*(\d{1,9})\s*)?")


def is_version_list(text: str) -> bool:
    """Whether ``text`` reads as a version list (``4``, ``1-6``, ``1,3,5-7``).

    Args:
        text: What the user typed.

    Returns:
        True when every comma-separated part is a number or a range of numbers.

    Example:
        >>> is_version_list("1,3,5-7"), is_version_list("mnist")
        (True, False)
    """
    return bool(text.strip()) and all(_ITEM.fullmatch(part) for part in text.split(","))


def parse_versions(text: str, *, argument: str = "versions") -> list[int]:
    """Parse a version list such as ``1,2,5-7`` (ranges inclusive).

    Args:
        text: Comma-separated versions and inclusive ranges; spaces are allowed.
        argument: The argument's name, used in the error.

    Returns:
        The versions in the order given, each once.

    Raises:
        InvalidArgumentError: A part is not a version (a whole number from 1) or a
            range of them, a range runs backwards, or names more than
            :data:`MAX_RANGE` versions.

    Example:
        >>> parse_versions("3,1-2,3")
        [3, 1, 2]
        >>> parse_versions("5-7")
        [5, 6, 7]
    """
    versions: dict[int, None] = {}
    for part in text.split(","):
        match = _ITEM.fullmatch(part)
        if match is None:
            raise InvalidArgumentError(
                argument, part.strip(), "expected a version number or a range such as 2-4"
            )
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if first < 1:
            raise InvalidArgumentError(argument, part.strip(), "versions start at 1")
        if last < first:
            raise InvalidArgumentError(argument, part.strip(), "the range runs backwards")
        if last - first >= MAX_RANGE:
            raise InvalidArgumentError(
                argument, part.strip(), f"a range may name at most {MAX_RANGE:,} versions"
            )
        versions.update(dict.fromkeys(range(first, last + 1)))
    return list(versions)


def format_versions(versions: Iterable[int]) -> str:
    """Write versions back as the shortest list: runs of three or more become ranges.

    Args:
        versions: Version numbers (sorted and deduplicated here).

    Returns:
        Text that :func:`parse_versions` reads back as the same sorted versions.

    Example:
        >>> format_versions([9, 1, 2, 3, 5, 6])
        '1-3,5,6,9'
        >>> format_versions([1, 2, 3, 5, 6, 7])
        '1-3,5-7'
    """
    ordered = sorted(set(versions))
    parts: list[str] = []
    index = 0
    while index < len(ordered):
        end = index
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        if end - index >= 2:
            parts.append(f"{ordered[index]}-{ordered[end]}")
        else:
            parts.extend(str(version) for version in ordered[index : end + 1])
        index = end + 1
    return ",".join(parts)
