"""Version lists (``1-6``, ``1,3,5-7``) read the same way by the CLI and the dashboard."""

from __future__ import annotations

import pytest

from experiment_manager._ranges import MAX_RANGE, format_versions, is_version_list, parse_versions
from experiment_manager.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4", [4]),
        ("1-6", [1, 2, 3, 4, 5, 6]),
        ("1,3,5-7", [1, 3, 5, 6, 7]),
        (" 2 - 3 , 1 ", [2, 3, 1]),
        ("3,1-3", [3, 1, 2]),
        ("7-7", [7]),
    ],
)
def test_parses_lists_and_ranges(text: str, expected: list[int]) -> None:
    assert parse_versions(text) == expected
    assert is_version_list(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected a version"),
        ("a", "expected a version"),
        ("1,,2", "expected a version"),
        ("1-", "expected a version"),
        ("-3", "expected a version"),
        ("1.5", "expected a version"),
        ("0", "versions start at 1"),
        ("0-2", "versions start at 1"),
        ("6-1", "runs backwards"),
        (f"1-{MAX_RANGE + 1}", "at most"),
        ("1" * 12, "expected a version"),
    ],
)
def test_refuses_what_is_not_a_list(text: str, reason: str) -> None:
    with pytest.raises(InvalidArgumentError, match=reason) as caught:
        parse_versions(text, argument="--versions")
    assert caught.value.argument == "--versions"
    # The shape check accepts what only the values make wrong.
    shape_ok = reason in ("versions start at 1", "runs backwards", "at most")
    assert is_version_list(text) == shape_ok


def test_format_round_trips() -> None:
    for versions in ([1], [1, 2], [1, 2, 3], [1, 2, 3, 5, 7, 8, 9, 10], [4, 2, 9]):
        text = format_versions(versions)
        assert parse_versions(text) == sorted(set(versions))
    assert format_versions([1, 2, 3, 4, 6]) == "1-4,6"
