"""Text for the terminal: safe text, values, aligned tables, sparklines, strict JSON, CSV.

Pure functions (no click, no I/O), so every piece of output can be tested alone.
Everything a user stored (ids, names, keys, values, paths, messages) reaches the
terminal through :func:`safe_text`, which turns control characters, C1 codes and
bidirectional overrides into visible escapes: a stored name cannot colour, move the
cursor, retitle the window or reorder the text around it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from experiment_manager._serialize import strict_json as to_jsonable

__all__ = [
    "BLOCKS",
    "Styled",
    "csv_text",
    "display_width",
    "flatten",
    "format_column",
    "format_duration",
    "format_number",
    "format_time",
    "format_value",
    "json_text",
    "numeric_column",
    "numeric_columns",
    "render_columns",
    "render_pairs",
    "render_table",
    "resample_by_x",
    "resample_minmax",
    "safe_text",
    "sparkline",
    "step_stride",
    "to_jsonable",
    "truncate",
]

#: The eight block characters of a sparkline, lowest first.
BLOCKS = "▁▂▃▄▅▆▇█"

# C0 controls (ESC, BEL, BS, CR, LF, TAB, ...), DEL, C1 controls (CSI, OSC, ...), the
# Arabic letter mark, LRM/RLM, line/paragraph separators, the bidi embeddings,
# overrides and isolates, and lone surrogates (from undecodable command-line bytes).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
# In JSON text C0 controls are already escaped by the encoder; the rest is not.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: object) -> str:
    r"""Return ``value`` as text that cannot drive a terminal.

    Control characters (C0 including newline and tab, DEL, C1), bidirectional
    formatting characters and lone surrogates are replaced by visible escapes such
    as ``\x1b``, ``\n`` and ``\u202e``; everything else, accented and CJK text included, is
    kept as it is.

    Args:
        value: A string, or anything with a ``str``.

    Returns:
        The neutralised text, always one line.

    Example:
        >>> safe_text("\x1b[31mred\u202e")
        '\\x1b[31mred\\u202e'
    """
    text = value if isinstance(value, str) else str(value)
    if text.isascii() and text.isprintable():
        return text  # nothing to neutralise: no controls, no bidi characters
    return _UNSAFE.sub(_escape, text)


def display_width(text: str) -> int:
    """Return how many terminal columns ``text`` takes (wide CJK = 2, combining = 0).

    Args:
        text: Text already passed through :func:`safe_text`.

    Returns:
        The number of columns.

    Example:
        >>> display_width("abc"), display_width("实验")
        (3, 4)
    """
    if text.isascii():
        return len(text)
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def truncate(text: str, width: int) -> str:
    """Cut ``text`` to at most ``width`` columns, ending with ``…`` when cut.

    Args:
        text: Safe text.
        width: The most columns allowed (at least 1).

    Returns:
        The text, shortened if needed.

    Example:
        >>> truncate("hyperparameter", 6)
        'hyper…'
    """
    if display_width(text) <= width:
        return text
    out: list[str] = []
    used = 0
    for char in text:
        size = display_width(char)
        if used + size > width - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + "…"


def format_number(value: float | int, digits: int | None = 6) -> str:
    """Format a number compactly: ints as they are, floats to ``digits`` significant digits.

    Args:
        value: An int or float (NaN and infinities included).
        digits: Significant digits for floats; None for the shortest text that reads
            back as the same float.

    Returns:
        ``"nan"``, ``"inf"`` and ``"-inf"`` for non-finite floats.

    Example:
        >>> format_number(0.123456789), format_number(3), format_number(float("nan"))
        ('0.123457', '3', 'nan')
        >>> format_number(0.1 + 0.2, digits=None)
        '0.30000000000000004'
    """
    if type(value) is float and digits is not None and math.isfinite(value):
        return f"{value:.{digits}g}"  # the common case, first
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(float(value)) if digits is None else f"{value:.{digits}g}"


def json_text(value: Any, *, indent: int | None = 2) -> str:
    r"""Encode ``value`` as strict JSON (RFC 8259) that is also safe on a terminal.

    See :func:`to_jsonable` (the library's ``strict_json``) for NaN and infinities.
    Characters that JSON allows raw but a terminal would act on (DEL, C1 controls,
    bidi overrides) are written as ``\uXXXX`` escapes, so the text parses to exactly
    the same data.

    Args:
        value: Plain data.
        indent: Indentation, or None for one compact line (as the export module writes).

    Returns:
        The JSON text, without a trailing newline.

    Example:
        >>> json_text({"lr": float("inf"), "name": "a\u202eb"}, indent=None)
        '{"lr":"Infinity","name":"a\\u202eb"}'
    """
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(
        to_jsonable(value),
        ensure_ascii=False,
        allow_nan=False,
        indent=indent,
        separators=separators,
    )
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    """Flatten nested mappings into dotted keys, as the export module's wide rows do.

    Lists and empty mappings are kept as one strict JSON text each.

    Args:
        prefix: The key of ``value`` (empty for the top level).
        value: The value to flatten.
        out: Where the flat keys go.

    Returns:
        ``out``.

    Example:
        >>> flatten("", {"opt": {"lr": 0.1, "betas": [0.9, 0.99]}}, {})
        {'opt.lr': 0.1, 'opt.betas': '[0.9,0.99]'}
    """
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(item, (list, tuple, Mapping)):
                flatten(name, item, out)
            else:
                out[name] = item  # the common case, without a call
    elif isinstance(value, (list, tuple, Mapping)):
        out[prefix] = json_text(value, indent=None)
    else:
        out[prefix] = value
    return out


def format_value(value: Any, digits: int | None = 6) -> str:
    """Format a stored value for a table cell, safely.

    Args:
        value: None, a bool, number, string, list or dict.
        digits: Significant digits for floats (None: exact, see :func:`format_number`).

    Returns:
        ``-`` for None, ``true``/``false``, compact numbers, safe strings, and
        compact JSON for lists and dicts.

    Example:
        >>> format_value(None), format_value(True), format_value([1, float("nan")])
        ('-', 'true', '[1, NaN]')
    """
    kind = type(value)
    if kind is float or kind is int:
        return format_number(value, digits)
    if kind is str:
        return safe_text(value)
    if value is None:
        return "-"
    if isinstance(value, (bool, int, float)):
        return format_number(value, digits)
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, (list, tuple, Mapping)):
        return safe_text(json.dumps(value, ensure_ascii=False, allow_nan=True, default=str))
    return safe_text(value)


def format_time(value: Any) -> str:
    """Format an ISO 8601 time as local ``YYYY-MM-DD HH:MM:SS``.

    Args:
        value: An ISO 8601 string with a UTC offset, or None.

    Returns:
        The local time; ``-`` for None; the safe text itself if it does not parse.

    Example:
        >>> format_time(None)
        '-'
    """
    if not isinstance(value, str):
        return "-" if value is None else safe_text(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return safe_text(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    if moment.year < 1000:  # strftime does not pad such years to four digits everywhere
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.isoformat(" ", "seconds")[:19]  # the same text, twice as fast


def format_duration(seconds: Any) -> str:
    """Format a duration in seconds: ``0.42s``, ``12.5s``, ``3m 07s``, ``2h 05m``.

    Args:
        seconds: A number of seconds, or None.

    Returns:
        The duration; ``-`` for None.

    Example:
        >>> format_duration(0.4231), format_duration(187), format_duration(7500)
        ('0.423s', '3m 07s', '2h 05m')
    """
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "-"
    if not math.isfinite(seconds):
        return format_number(seconds)
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds < 10 else f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


class Styled(NamedTuple):
    """A table cell made of parts, each with ``click.style`` keyword arguments.

    Example:
        >>> Styled((("failed", {"fg": "red"}), (" 2", {}))).plain
        'failed 2'
    """

    parts: tuple[tuple[str, Mapping[str, Any]], ...]

    @property
    def plain(self) -> str:
        """The cell's text without styles."""
        return "".join(text for text, _ in self.parts)


Cell = str | Styled
Stylist = Callable[[str, Mapping[str, Any]], str]


def _plain_style(text: str, style: Mapping[str, Any]) -> str:
    return text


def _render_cell(cell: Cell, stylist: Stylist) -> str:
    if isinstance(cell, Styled):
        return "".join(stylist(text, style) for text, style in cell.parts)
    return cell


def render_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    right: Iterable[int] = (),
    max_width: int = 48,
    stylist: Stylist | None = None,
    indent: int = 0,
) -> str:
    """Render an aligned table with a header line.

    Args:
        headers: Column titles (safe text).
        rows: Cells, already safe text (see :func:`format_value`) or :class:`Styled`.
        right: Indexes of columns to align right (numbers).
        max_width: Plain cells longer than this many columns are cut with ``…``.
        stylist: ``stylist(text, style)`` applies a style (``click.style``); None
            leaves text plain. Headers are styled bold.
        indent: Spaces before every line.

    Returns:
        The table, lines joined by newlines, no trailing newline or spaces.

    Example:
        >>> print(render_table(["id", "n"], [["a", "10"], ["bb", "2"]], right=[1]))
        id   n
        a   10
        bb   2
    """
    table = [list(row) for row in rows]
    count = max([len(headers), *map(len, table)])
    if not count:
        return "\n" * len(table)  # an empty line per row
    # A short row is a row whose last cells are empty: they only add trailing spaces,
    # which every line loses.
    columns = [[row[i] if i < len(row) else "" for row in table] for i in range(count)]
    return render_columns(
        headers, columns, right=right, max_width=max_width, stylist=stylist, indent=indent
    )


def render_columns(
    headers: Sequence[str],
    columns: Sequence[Sequence[Cell]],
    *,
    right: Iterable[int] = (),
    max_width: int = 48,
    stylist: Stylist | None = None,
    indent: int = 0,
) -> str:
    """Render an aligned table given column by column (as :func:`render_table` does rows).

    Columns of plain ASCII text, the usual case, are cut and padded with ``str``
    methods in one pass each, so a table of 10,000 rows takes milliseconds.

    Args:
        headers: Column titles (safe text); missing ones are empty.
        columns: The cells of each column, all of the same length.
        right: Indexes of columns to align right (numbers).
        max_width: Plain cells longer than this many columns are cut with ``…``.
        stylist: Applies a style (see :func:`render_table`); None leaves text plain.
        indent: Spaces before every line.

    Returns:
        The table, lines joined by newlines, no trailing newline or spaces.

    Example:
        >>> print(render_columns(["id", "n"], [["a", "bb"], ["10", "2"]], right=[1]))
        id   n
        a   10
        bb   2
    """
    style = stylist or _plain_style
    aligned_right = set(right)
    header_cells: list[str] = []
    shown: list[Sequence[str]] = []
    specs: list[str] = []
    for index, column in enumerate(columns):
        header = headers[index] if index < len(headers) else ""
        header_width = display_width(header)
        cells, widths = _column_cells(column, max_width, stylist)
        at_right = index in aligned_right
        if widths is None:
            # Plain ASCII: a cell's width is its length, so str.format pads it.
            width = max(header_width, max(map(len, cells), default=0))
            specs.append(f"{{:{'>' if at_right else '<'}{width}}}")
            shown.append(cells)
        else:
            width = max(header_width, max(widths, default=0))
            specs.append("{}")
            shown.append(
                [
                    _pad(cell, width - cell_width, at_right)
                    for cell, cell_width in zip(cells, widths, strict=True)
                ]
            )
        title = style(header, {"bold": True}) if index < len(headers) else ""
        header_cells.append(_pad(title, width - header_width, at_right))
    pad = " " * indent
    lines = [(pad + "  ".join(header_cells)).rstrip()]
    line = (pad + "  ".join(specs)).format
    lines.extend(line(*cells).rstrip() for cells in zip(*shown, strict=True))
    return "\n".join(lines)


def _pad(text: str, gap: int, right: bool) -> str:
    return " " * gap + text if right else text + " " * gap


def _column_cells(
    column: Sequence[Cell], max_width: int, stylist: Stylist | None
) -> tuple[list[str], list[int] | None]:
    """A column's cells as text to print, and their widths (None: each is its length)."""
    kinds = set(map(type, column))
    # Without styles a styled cell prints as its plain text (which is never cut).
    if kinds <= {str} or (stylist is None and kinds <= {str, Styled}):
        texts = (
            list(cast(Sequence[str], column))
            if kinds <= {str}
            else [cell if isinstance(cell, str) else cell.plain for cell in column]
        )
        if "".join(texts).isascii():
            if max(map(len, texts), default=0) > max_width:
                texts = [
                    truncate(cell, max_width) if isinstance(cell, str) else cell.plain
                    for cell in column
                ]
            return texts, None
    style = stylist or _plain_style
    cells: list[str] = []
    widths: list[int] = []
    for cell in column:
        if isinstance(cell, Styled):
            plain = cell.plain
            cells.append(_render_cell(cell, style))
        else:
            plain = truncate(cell, max_width)
            cells.append(plain)
        widths.append(len(plain) if plain.isascii() else display_width(plain))
    return cells, widths


_NUMBER = re.compile(r"-|[-+]?(?:nan|inf|\d[\d.]*(?:e[-+]?\d+)?[smh]?(?: \d+[sm])?)")


def numeric_column(cells: Iterable[Cell]) -> bool:
    """Whether every cell of a column is a number (or ``-``) and one is not ``-``.

    Args:
        cells: The column's cells.

    Returns:
        True for a column to align right.

    Example:
        >>> numeric_column(["1.5", "-", "3m 07s"]), numeric_column(["-", "-"])
        (True, False)
    """
    distinct = set()
    for cell in cells:
        if not isinstance(cell, str):
            return False
        distinct.add(cell)
    distinct.discard("-")
    return bool(distinct) and all(map(_NUMBER.fullmatch, distinct))


def numeric_columns(rows: Sequence[Sequence[Cell]]) -> list[int]:
    """Indexes of the columns whose every cell is a number (or ``-``), to align right.

    Args:
        rows: Table rows.

    Returns:
        The column indexes.

    Example:
        >>> numeric_columns([["a", "1.5", "x"], ["b", "-", "2"]])
        [1]
    """
    count = max(map(len, rows), default=0)
    return [
        index
        for index in range(count)
        if numeric_column(row[index] for row in rows if index < len(row))
    ]


def format_column(values: Sequence[Any], digits: int | None = 6) -> tuple[list[str], bool]:
    """Format a column of stored values as :func:`format_value` does, and tell its kind.

    A column of numbers is known to be numeric without looking at its text.

    Args:
        values: The values, one per row.
        digits: Significant digits for floats.

    Returns:
        The cells, and whether the column is numeric (see :func:`numeric_column`).

    Example:
        >>> format_column([0.5, None, float("inf")])
        (['0.5', '-', 'inf'], True)
        >>> format_column([True, None])
        (['true', '-'], False)
    """
    kinds = set(map(type, values))
    if kinds == {float} and digits is not None:
        # One formatting call for the whole column; "%g" writes what format_value does.
        text = (f"%.{digits}g\n" * len(values)) % tuple(values)
        return text.split("\n")[:-1], True
    if kinds == {int}:
        return list(map(str, values)), True
    if kinds <= _NUMBER_KINDS and digits is not None:
        # The common case first: finite floats; format_value gives the same text.
        spec = f".{digits}g"
        finite = math.isfinite
        cells = [
            format(value, spec)
            if type(value) is float and finite(value)
            else format_value(value, digits)
            for value in values
        ]
        # Numbers always format as numbers; the column needs one that is not None.
        return cells, bool(kinds - {type(None)})
    cells = [format_value(value, digits) for value in values]
    return cells, numeric_column(cells)


_NUMBER_KINDS = frozenset((int, float, type(None)))


def render_pairs(pairs: Iterable[tuple[str, Cell]], *, indent: int = 2) -> str:
    """Render ``key  value`` lines with the values aligned.

    Args:
        pairs: (key, value) pairs, both already safe text.
        indent: Spaces before every line.

    Returns:
        The lines joined by newlines ("" for no pairs).

    Example:
        >>> print(render_pairs([("lr", "0.1"), ("batch", "32")], indent=0))
        lr     0.1
        batch  32
    """
    items = list(pairs)
    if not items:
        return ""
    width = max(display_width(key) for key, _ in items)
    out = []
    for key, value in items:
        text = value.plain if isinstance(value, Styled) else value
        gap = " " * (width - display_width(key))
        out.append(f"{' ' * indent}{key}{gap}  {text}".rstrip())
    return "\n".join(out)


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    r"""Write rows as CSV text; stored strings go through :func:`safe_text`.

    None becomes an empty cell; numbers are written as Python writes them (``nan``,
    ``inf``), as in files from ``expm export``.

    Args:
        rows: Flat rows (see :func:`flatten`).
        columns: The columns, in order; by default every key, in order of appearance.

    Returns:
        The CSV text with a header line, or "" when there are no rows and no columns.

    Example:
        >>> csv_text([{"id": "a\x1b", "x": float("nan")}]).splitlines()
        ['id,x', 'a\\x1b,nan']
    """
    materialized = list(rows)
    if columns is None:
        found: dict[str, None] = {}
        for row in materialized:
            found.update(dict.fromkeys(row))
        columns = list(found)
    if not columns:
        return ""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_text(column) for column in columns])
    for row in materialized:
        writer.writerow([_csv_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, Mapping)):
        return safe_text(json_text(value, indent=None))
    return safe_text(value)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def resample_minmax(values: Sequence[Any], width: int) -> list[float | None]:
    """Reduce a series to at most ``width`` points, keeping every spike visible.

    When there are more values than ``width``, the series is cut into ``width // 2``
    buckets and each bucket gives its minimum and its maximum, in the order they
    occur, so a one-point spike (up or down) survives any amount of down-sampling.
    Non-finite values (NaN, infinities) are left out; a bucket with no finite
    value gives None twice (a gap).

    Args:
        values: The series, in logging order.
        width: The most points wanted (at least 2).

    Returns:
        Finite floats, and None for gaps.

    Example:
        >>> resample_minmax([0, 0, 0, 9, 0, 0, 0, 0], 4)
        [0.0, 9.0, 0.0, 0.0]
    """
    width = max(2, width)
    if len(values) <= width:
        return [float(v) if _finite(v) else None for v in values]
    buckets = width // 2
    out: list[float | None] = []
    total = len(values)
    for bucket in range(buckets):
        start, stop = bucket * total // buckets, (bucket + 1) * total // buckets
        low_at = high_at = -1
        for index in range(start, stop):
            value = values[index]
            if not _finite(value):
                continue
            if low_at < 0 or value < values[low_at]:
                low_at = index
            if high_at < 0 or value > values[high_at]:
                high_at = index
        if low_at < 0:
            out.extend((None, None))
            continue
        first, second = sorted((low_at, high_at))
        out.extend((float(values[first]), float(values[second])))
    return out


def resample_by_x(
    xs: Sequence[int | float],
    values: Sequence[Any],
    width: int,
    x_low: float,
    x_high: float,
    *,
    stride: int = 1,
) -> list[float | None]:
    """Place a series on ``width`` columns by its x (its steps), keeping spikes visible.

    Columns cover ``[x_low, x_high]`` evenly, so series of one plot line up by step and
    one that logged fewer steps draws a shorter line. When every x (counted in
    ``stride`` steps: 10, 20, 30 with stride 10 take three columns) fits a column of
    its own, each value sits at its x (the last of several at one x); else
    the columns are paired into buckets of x and each bucket gives its minimum and its
    maximum, in the order they occur. Columns with no finite value are None (gaps).

    Args:
        xs: The x of each value (steps), in logging order.
        values: The values.
        width: The columns wanted (at least 2).
        x_low: The x of the first column (the smallest x of every series drawn).
        x_high: The x of the last column.
        stride: The steps between two logged x (see :func:`step_stride`).

    Returns:
        Finite floats and None, one per column up to the last one used.

    Example:
        >>> resample_by_x([0, 2, 4], [1, 2, 3], 10, 0, 4)
        [1.0, None, 2.0, None, 3.0]
        >>> resample_by_x([0, 2, 4], [1, 2, 3], 10, 0, 4, stride=2)
        [1.0, 2.0, 3.0]
        >>> resample_by_x(list(range(100)), [0] * 50 + [9] + [0] * 49, 10, 0, 99)
        [0.0, 0.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0]
    """
    width = max(2, width)
    stride = max(1, stride)
    span = x_high - x_low
    points = [(x, v) for x, v in zip(xs, values, strict=False) if _finite(v)]
    columns = span / stride
    if columns + 1 <= width and all(((x - x_low) / stride).is_integer() for x, _ in points):
        out: list[float | None] = [None] * (int(columns) + 1)
        for x, value in points:
            out[int((x - x_low) / stride)] = float(value)
    else:
        buckets = width // 2
        chosen: list[list[tuple[int, float]]] = [[] for _ in range(buckets)]
        for order, (x, value) in enumerate(points):
            at = min(buckets - 1, int((x - x_low) / span * buckets)) if span > 0 else 0
            chosen[at].append((order, float(value)))
        out = []
        for bucket in chosen:
            if not bucket:
                out.extend((None, None))
                continue
            low = min(bucket, key=lambda item: item[1])
            high = max(bucket, key=lambda item: item[1])
            first, second = sorted((low, high))
            out.extend((first[1], second[1]))
    while out and out[-1] is None:
        out.pop()
    return out


def step_stride(series: Iterable[Sequence[int]]) -> int:
    """The largest step that divides every gap between the steps of the series.

    Args:
        series: Each series' steps.

    Returns:
        The stride (1 when there is no gap, or none to go by).

    Example:
        >>> step_stride([[0, 10, 20], [5, 15]])
        5
    """
    import itertools
    import math

    known = sorted({step for steps in series for step in steps})
    stride = 0
    for before, after in itertools.pairwise(known):
        stride = math.gcd(stride, after - before)
    return stride or 1


def sparkline(points: Sequence[float | None], low: float, high: float) -> str:
    """Draw points as block characters scaled to ``[low, high]``; None is a blank.

    Args:
        points: Values (see :func:`resample_minmax`).
        low: The value drawn as the lowest block.
        high: The value drawn as the highest block.

    Returns:
        One character per point.

    Example:
        >>> sparkline([0.0, 0.5, 1.0, None], 0.0, 1.0)
        '▁▅█ '
    """
    half_span = high / 2 - low / 2  # halves: no overflow for spans beyond float max
    top = len(BLOCKS) - 1
    chars = []
    for point in points:
        if point is None:
            chars.append(" ")
        elif half_span <= 0:
            chars.append(BLOCKS[top // 2])
        else:
            level = round((point / 2 - low / 2) / half_span * top)
            chars.append(BLOCKS[min(top, max(0, level))])
    return "".join(chars)
