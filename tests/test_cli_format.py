"""The CLI's pure formatting: safe text, tables, sparklines, strict JSON, argument parsing."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from experiment_manager.cli import _format
from experiment_manager.cli._common import parse_ref, parse_versions
from experiment_manager.cli._main import describe_error, query_error_text
from experiment_manager.errors import (
    CorruptHistoryError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    QuerySyntaxError,
)
from tests import _reference_table
from tests._util import assert_same, strict_loads

DANGEROUS = (
    [chr(c) for c in range(0x20)]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + ["\u061c", "\u200e", "\u200f", "\u2028", "\u2029"]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)


@pytest.mark.parametrize("char", DANGEROUS)
def test_safe_text_escapes_every_control_and_bidi_character(char: str) -> None:
    shown = _format.safe_text(f"a{char}b")
    assert char not in shown
    assert shown.startswith("a\\")
    assert shown.endswith("b")
    assert shown.isprintable()


def test_safe_text_keeps_ordinary_unicode() -> None:
    for text in ("Café", "实验 1", "résumé ✓", "emoji 👍🏽", "a\\b"):
        assert _format.safe_text(text) == text
    assert _format.safe_text(3.5) == "3.5"
    assert _format.safe_text("\udcff") == "\\udcff"  # undecodable argv bytes


@given(st.text())
def test_safe_text_output_never_holds_a_dangerous_character(text: str) -> None:
    shown = _format.safe_text(text)
    assert not any(char in shown for char in DANGEROUS)
    assert not any(0xD800 <= ord(char) <= 0xDFFF for char in shown)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats() | st.text(),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_json_text_is_strict_safe_and_exact(value: object) -> None:
    text = _format.json_text(value)
    assert not any(char in text for char in DANGEROUS if char not in "\n")
    assert_same(strict_loads(text), _format.to_jsonable(value))


def test_to_jsonable_matches_the_export_module() -> None:
    assert _format.to_jsonable([math.nan, math.inf, -math.inf, 1, 0.5, None, True]) == [
        "NaN",
        "Infinity",
        "-Infinity",
        1,
        0.5,
        None,
        True,
    ]
    assert _format.to_jsonable({1: {"a": (1, 2)}, None: 0}) == {"1": {"a": [1, 2]}, "null": 0}


def test_display_width_and_truncate() -> None:
    assert _format.display_width("abc") == 3
    assert _format.display_width("实验") == 4
    assert _format.display_width("e\u0301") == 1
    assert _format.truncate("abcdef", 4) == "abc…"
    assert _format.truncate("实验实验", 5) == "实验…"
    assert _format.truncate("abc", 3) == "abc"


def test_render_table_aligns_by_display_width() -> None:
    table = _format.render_table(
        ["NAME", "VALUE"],
        [["实验", "1"], ["a", "22"], [_format.Styled((("ok", {"fg": "green"}),)), "3"]],
        right=[1],
    )
    assert table.splitlines() == ["NAME  VALUE", "实验      1", "a        22", "ok        3"]


def test_render_table_styles_after_padding() -> None:
    def bracket(text: str, style: object) -> str:
        return f"[{text}]"

    table = _format.render_table(
        ["A", "B"], [[_format.Styled((("x", {"fg": "red"}),)), "y"]], stylist=bracket
    )
    assert table.splitlines() == ["[A]  [B]", "[x]  y"]


def test_numeric_columns() -> None:
    rows = [["a", "1.5", "3m 07s", "x"], ["b", "-", "0.42s", "1"], ["c", "nan", "2h 05m", "2"]]
    assert _format.numeric_columns(rows) == [1, 2]
    assert _format.numeric_columns([["-", "1"], ["-"]]) == [1]
    assert not _format.numeric_column(["-", "-"])
    assert not _format.numeric_column([_format.Styled((("1", {}),))])


def _bracket(text: str, style: object) -> str:
    return f"[{text}]"


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=60).map(_format.safe_text)
_CELLS = st.one_of(
    _TEXT,
    st.sampled_from(["-", "0.5", "1e-05", "-inf", "3m 07s", "12", "实验", "e\u0301", "x" * 60]),
    st.builds(lambda text: _format.Styled(((text, {"fg": "red"}), ("!", {}))), _TEXT),
)


@given(
    headers=st.lists(_TEXT, max_size=5),
    rows=st.lists(st.lists(_CELLS, max_size=5), max_size=6),
    right=st.sets(st.integers(0, 5)),
    stylist=st.sampled_from([None, _bracket]),
    max_width=st.integers(1, 50),
    indent=st.integers(0, 3),
)
def test_render_table_draws_what_the_row_by_row_renderer_drew(
    headers: list[str],
    rows: list[list[_format.Cell]],
    right: set[int],
    stylist: _format.Stylist | None,
    max_width: int,
    indent: int,
) -> None:
    options: dict[str, Any] = {
        "right": right,
        "stylist": stylist,
        "max_width": max_width,
        "indent": indent,
    }
    expected = _reference_table.render_table(headers, rows, **options)
    assert _format.render_table(headers, rows, **options) == expected
    if rows and rows[0] and len({len(row) for row in rows}) == 1:  # as columns too
        columns = [list(column) for column in zip(*rows, strict=True)]
        headers = headers[: len(columns)]
        expected = _reference_table.render_table(headers, rows, **options)
        assert _format.render_columns(headers, columns, **options) == expected
    assert _format.numeric_columns(rows) == _reference_table.numeric_columns(rows)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(["1.5", "-", "nan"]),
    st.lists(st.integers(), max_size=2),
)


@given(
    values=st.one_of(
        st.lists(_VALUES, max_size=8),
        st.lists(st.floats(), max_size=8),
        st.lists(st.integers(), max_size=8),
        st.lists(st.one_of(st.none(), st.floats(), st.integers()), max_size=8),
    ),
    digits=st.sampled_from([6, 3, None]),
)
def test_format_column_is_format_value_with_the_numeric_test(
    values: list[Any], digits: int | None
) -> None:
    cells, numeric = _format.format_column(values, digits)
    expected = [_format.format_value(value, digits) for value in values]
    assert cells == expected
    assert numeric == (_reference_table.numeric_columns([[cell] for cell in expected]) == [0])


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "-"),
        (True, "true"),
        (3, "3"),
        (0.1 + 0.2, "0.3"),
        (math.nan, "nan"),
        (-math.inf, "-inf"),
        ([1, math.nan], "[1, NaN]"),
        ({"a": "\x1b"}, '{"a": "\\u001b"}'),
        ("x\ny", "x\\ny"),
    ],
)
def test_format_value(value: object, shown: str) -> None:
    assert _format.format_value(value) == shown


def test_format_number_exact() -> None:
    assert _format.format_number(0.1, digits=None) == "0.1"
    assert float(_format.format_number(1 / 3, digits=None)) == 1 / 3


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (0.0123, "0.0123s"), (12.34, "12.3s"), (61, "1m 01s"), (3725, "1h 02m")],
)
def test_format_duration(seconds: float | None, shown: str) -> None:
    assert _format.format_duration(seconds) == shown


def test_format_time_is_local_and_tolerant() -> None:
    assert _format.format_time("not a time\x1b") == "not a time\\x1b"
    assert len(_format.format_time("2026-01-02T03:04:05.123+00:00")) == 19
    for text in ("0999-01-02T03:04:05+00:00", "2026-01-02", "2026-01-02T03:04:05.999999"):
        assert _format.format_time(text) == _reference_table.format_time(text)


def _outcome(function: Any, text: str) -> Any:
    try:
        return function(text)
    except (OverflowError, ValueError) as error:
        return type(error)


@given(
    moment=st.datetimes(
        timezones=st.one_of(
            st.none(),
            st.builds(
                timezone,
                st.integers(-1439, 1439).map(lambda minutes: timedelta(minutes=minutes)),
            ),
        )
    ),
    timespec=st.sampled_from(["seconds", "microseconds"]),
)
def test_format_time_writes_what_strftime_wrote(moment: datetime, timespec: str) -> None:
    text = moment.isoformat(timespec=timespec)
    assert _outcome(_format.format_time, text) == _outcome(_reference_table.format_time, text)


# -- sparklines -----------------------------------------------------------------------


def test_resample_keeps_single_spikes_up_and_down() -> None:
    values = [1.0] * 10_000
    values[1234] = 100.0
    values[8765] = -50.0
    points = _format.resample_minmax(values, 40)
    assert len(points) == 40
    assert max(p for p in points if p is not None) == 100.0
    assert min(p for p in points if p is not None) == -50.0
    line = _format.sparkline(points, -50.0, 100.0)
    assert line.count("█") == 1
    assert line.count("▁") == 1


def test_resample_keeps_the_order_within_a_bucket() -> None:
    assert _format.resample_minmax([5, 1, 9, 2], 2) == [1.0, 9.0]
    assert _format.resample_minmax([9, 2, 5, 1], 2) == [9.0, 1.0]


def test_resample_short_series_and_gaps() -> None:
    assert _format.resample_minmax([1, math.nan, 3], 10) == [1.0, None, 3.0]
    assert _format.resample_minmax([math.nan] * 8 + [1.0] * 8, 4) == [None, None, 1.0, 1.0]
    assert _format.resample_minmax([], 10) == []


def test_sparkline_scale() -> None:
    assert _format.sparkline([0.0, 1.0, 2.0, None], 0.0, 2.0) == "▁▅█ "
    assert _format.sparkline([5.0, 5.0], 5.0, 5.0) == "▄▄"
    assert _format.sparkline([-1e308, 1e308], -1e308, 1e308) == "▁█"


# -- errors and arguments -------------------------------------------------------------


def test_query_error_caret_accounts_for_escapes_and_wide_characters() -> None:
    text = query_error_text(QuerySyntaxError("hp.实验 = \x1b x", 9, "unexpected"))
    reason, query, caret = text.splitlines()
    assert reason == "unexpected at position 9"
    assert query == "  hp.实验 = \\x1b x"
    assert caret == "  " + " " * (3 + 4 + 3 + 4) + "^"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ExperimentNotFoundError("x"), 1),
        (CorruptHistoryError("x.json", "bad"), 3),
        (QuerySyntaxError("a", 0, "bad"), 2),
        (InvalidArgumentError("format", "x", "bad"), 1),
        (PermissionError(13, "Permission denied", "out.csv"), 1),
        (RuntimeError("bug"), 1),
    ],
)
def test_describe_error_exit_codes(error: Exception, code: int) -> None:
    message, exit_code = describe_error(error)
    assert exit_code == code
    assert message


def test_parse_ref() -> None:
    assert parse_ref("mnist") == ("mnist", None)
    assert parse_ref("mnist@12") == ("mnist", 12)
    assert parse_ref("mnist@latest") == ("mnist", None)
    assert parse_ref("a@b") == ("a@b", None)
    assert parse_ref("a@b@2") == ("a@b", 2)


def test_parse_versions() -> None:
    assert parse_versions("1,2,3") == [1, 2, 3]
    assert parse_versions(" 4 , 1-3, 2") == [4, 1, 2, 3]
    for bad in ("", "x", "0", "3-1", "1,,2", "-2"):
        with pytest.raises(click.BadParameter):
            parse_versions(bad)


def test_csv_text_escapes_and_keeps_numbers() -> None:
    text = _format.csv_text(
        [{"id": "a\x1b", "v": math.nan, "l": [1, "\u202e"]}, {"id": "b", "extra": None}]
    )
    assert text.splitlines() == [
        "id,v,l,extra",
        'a\\x1b,nan,"[1,""\\u202e""]",',
        "b,,,",
    ]
    assert json.loads('[1,"\\u202e"]') == [1, "\u202e"]
