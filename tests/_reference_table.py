"""The history table as it was drawn before the column renderer: the tests' oracle.

A row-by-row renderer, a regex test of every cell for numbers, and the history built
from ``list_versions``: ``expm history`` must print exactly this, byte for byte.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from experiment_manager.cli import _format
from experiment_manager.cli._common import status_cell

Stylist = Callable[[str, Mapping[str, Any]], str]

NUMBER = re.compile(r"-|[-+]?(?:nan|inf|\d[\d.]*(?:e[-+]?\d+)?[smh]?(?: \d+[sm])?)")


def _plain(text: str, style: Mapping[str, Any]) -> str:
    return text


def render_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[_format.Cell]],
    *,
    right: Iterable[int] = (),
    max_width: int = 48,
    stylist: Stylist | None = None,
    indent: int = 0,
) -> str:
    style = stylist or _plain
    aligned_right = set(right)
    table = [
        [_format.truncate(cell, max_width) if isinstance(cell, str) else cell for cell in row]
        for row in rows
    ]
    plain = [
        [cell.plain if isinstance(cell, _format.Styled) else cell for cell in row] for row in table
    ]
    measured = [[_format.display_width(text) for text in row] for row in plain]
    header_widths = [_format.display_width(header) for header in headers]
    widths = [
        max(column) for column in itertools.zip_longest(header_widths, *measured, fillvalue=0)
    ]

    def line(cells: Sequence[_format.Cell], cell_widths: Sequence[int], is_header: bool) -> str:
        out: list[str] = []
        for index, cell in enumerate(cells):
            gap = " " * (widths[index] - cell_widths[index])
            if isinstance(cell, _format.Styled):
                shown = "".join(style(text, part) for text, part in cell.parts)
            else:
                shown = style(cell, {"bold": True}) if is_header else cell
            out.append(gap + shown if index in aligned_right else shown + gap)
        return (" " * indent + "  ".join(out)).rstrip()

    lines = [line(list(headers), header_widths, True)]
    lines.extend(
        line(row, row_widths, False) for row, row_widths in zip(table, measured, strict=True)
    )
    return "\n".join(lines)


def numeric_columns(rows: Sequence[Sequence[_format.Cell]]) -> list[int]:
    if not rows:
        return []
    count = max(len(row) for row in rows)
    return [
        index
        for index in range(count)
        if all(
            isinstance(row[index], str) and NUMBER.fullmatch(str(row[index]))
            for row in rows
            if index < len(row)
        )
        and any(index < len(row) and row[index] != "-" for row in rows)
    ]


def format_time(value: Any) -> str:
    if not isinstance(value, str):
        return "-" if value is None else _format.safe_text(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return _format.safe_text(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif isinstance(value, (list, tuple, Mapping)):
        out[prefix] = _format.json_text(value, indent=None)
    else:
        out[prefix] = value
    return out


def _comparable(value: Any) -> Any:
    if isinstance(value, (list, tuple, dict)):
        return _format.json_text(value, indent=None)
    return (type(value).__name__, value)


def history(
    versions: Sequence[Mapping[str, Any]],
    params: Sequence[str] = (),
    metrics: Sequence[str] = (),
    stylist: Stylist | None = None,
) -> str:
    """The ``expm history`` table of the summaries ``list_versions`` returned."""
    flats = [flatten("", v.get("hyperparameters") or {}, {}) for v in versions]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    varying = [key for key in keys if len({_comparable(flat.get(key)) for flat in flats}) > 1]
    hp_keys = list(params) or (varying if varying and len(flats) > 1 else keys)
    names = list(metrics) or sorted({n for v in versions for n in v.get("metric_summaries") or {}})
    headers = ["VERSION", "STATUS", "CREATED", "DURATION"]
    headers += [_format.safe_text(key) for key in hp_keys]
    headers += [
        _format.safe_text(f"metrics.{name}" if name in hp_keys else name) + " (last)"
        for name in names
    ]
    rows: list[list[_format.Cell]] = []
    for version, flat in zip(versions, flats, strict=True):
        summaries = version.get("metric_summaries") or {}
        row: list[_format.Cell] = [
            str(version["version"]),
            status_cell(version.get("status")),
            format_time(version.get("created_at")),
            _format.format_duration(version.get("duration")),
        ]
        row += [_format.format_value(flat.get(key)) for key in hp_keys]
        row += [_format.format_value((summaries.get(name) or {}).get("last")) for name in names]
        rows.append(row)
    right = [0, *numeric_columns(rows)]
    return render_table(headers, rows, right=right, stylist=stylist)
