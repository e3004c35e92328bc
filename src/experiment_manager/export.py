"""Records to rows and files: CSV, JSON, JSON Lines, Parquet, pandas; pure but for writing.

Two shapes:

* **wide**: one row per version. Columns ``experiment_id``, ``version``, ``status``,
  ``config_name``, ``created_at``, ``ended_at``, ``duration``, then
  ``hyperparameters.<key>`` and ``metadata.<key>`` (nested keys joined with ``.``,
  lists kept as JSON text), then ``metrics.<name>.<agg>`` for ``last``, ``min``,
  ``max``, ``mean`` and ``count``. Built from summaries or full records.
  In Parquet, ``created_at`` and ``ended_at`` are timestamps with time zone (UTC), a
  list is a list (``[64, 32]``, not the text ``"[64, 32]"``), and a column whose values
  mix kinds (a number in one version, a string in another) is written as text, since a
  Parquet column has one type.
* **long**: one row per metric value: ``experiment_id``, ``version``, ``metric``,
  ``index`` (position in the metric's list), ``step``, ``timestamp``, ``value``.
  Built from full records. In Parquet, ``timestamp`` is a timestamp with time zone
  (UTC) rather than seconds since the epoch. Points a resume from a step superseded
  are left out unless asked for (``include_superseded``): then every row has a
  ``superseded`` column, true for those points (their ``index`` is their position
  among the metric's superseded points), which follow the metric's current ones.

JSON and JSON Lines output is strict (RFC 8259): NaN, Infinity and -Infinity are
written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, as in history
files. CSV writes them as ``nan``, ``inf`` and ``-inf``, which spreadsheet tools and
pandas read back as numbers. pandas and pyarrow are imported only when asked for.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from experiment_manager import _serialize
from experiment_manager.errors import InvalidArgumentError

__all__ = [
    "FORMATS",
    "long_rows",
    "to_dataframe",
    "wide_rows",
    "write_rows",
]

FORMATS = ("csv", "json", "jsonl", "parquet")
AGGREGATES = ("last", "min", "max", "mean", "count")
_LEADING = ("experiment_id", "version", "status", "config_name", "created_at", "ended_at")


class _JsonText(str):
    """A list (or empty mapping) written as its JSON text, that still knows its value.

    CSV and JSON rows show such values as text, as they always have; Parquet, whose
    columns have types, writes a list as a list.
    """

    value: Any


def _json_text(value: Any) -> _JsonText:
    text = _JsonText(_serialize.dumps(_serialize.strict_json(value)).decode())
    text.value = value
    return text


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    elif isinstance(value, (list, tuple, Mapping)):
        out[prefix] = _json_text(value)
    else:
        out[prefix] = value


def _aggregates(record: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    summaries = record.get("metric_summaries")
    if summaries is not None:
        return dict(summaries)
    from experiment_manager.query import metric_summary

    steps = record.get("steps") or {}
    return {
        name: metric_summary(values, steps.get(name))
        for name, values in (record.get("metrics") or {}).items()
    }


def wide_rows(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per version, from summaries or full records.

    Args:
        records: Version summaries (``metric_summaries``) or full records
            (``metrics``), as the manager returns them.

    Returns:
        Rows with the columns described in the module docstring; every row has
        every column (None where a version lacks it), in a stable order.

    Example:
        >>> rows = wide_rows([{"experiment_id": "e", "version": 1,
        ...                    "hyperparameters": {"opt": {"lr": 0.1}},
        ...                    "metrics": {"loss": [0.5, 0.25]}}])
        >>> rows[0]["hyperparameters.opt.lr"], rows[0]["metrics.loss.min"]
        (0.1, 0.25)
    """
    flat: list[dict[str, Any]] = []
    for record in records:
        row: dict[str, Any] = {key: record.get(key) for key in _LEADING}
        row["duration"] = record.get("duration")
        for section in ("hyperparameters", "metadata"):
            _flatten(section, record.get(section) or {}, row)
        for name, summary in sorted(_aggregates(record).items()):
            for agg in AGGREGATES:
                row[f"metrics.{name}.{agg}"] = summary.get(agg)
        flat.append(row)
    columns: dict[str, None] = {}
    for row in flat:
        columns.update(dict.fromkeys(row))
    return [{column: row.get(column) for column in columns} for row in flat]


def long_rows(
    records: Iterable[Mapping[str, Any]], *, include_superseded: bool = False
) -> Iterator[dict[str, Any]]:
    """One row per metric value, from full records (lazily, for big histories).

    Args:
        records: Full records as ``read_history`` returns them.
        include_superseded: Also the points a resume from a step superseded (the
            record's ``superseded`` field), after each metric's current ones, and a
            ``superseded`` column in every row saying which are which.

    Yields:
        ``experiment_id``, ``version``, ``metric``, ``index``, ``step``,
        ``timestamp`` and ``value`` of each value (and ``superseded`` when asked).

    Example:
        >>> rows = list(long_rows([{"experiment_id": "e", "version": 2,
        ...                         "metrics": {"loss": [0.5]}, "steps": {"loss": [7]}}]))
        >>> rows[0]["step"], rows[0]["value"]
        (7, 0.5)
        >>> moved = {"values": [0.9], "steps": [1], "timestamps": [None]}
        >>> resumed = {"experiment_id": "e", "version": 1, "metrics": {"loss": [0.5]},
        ...            "steps": {"loss": [0]}, "superseded": {"loss": moved}}
        >>> rows = long_rows([resumed], include_superseded=True)
        >>> [(row["step"], row["superseded"]) for row in rows]
        [(0, False), (1, True)]
    """
    for record in records:
        steps = record.get("steps") or {}
        times = record.get("timestamps") or {}
        superseded = (record.get("superseded") or {}) if include_superseded else {}
        names = list(record.get("metrics") or {})
        names += [name for name in superseded if name not in names]
        for name in names:
            parts = [
                ((record.get("metrics") or {}).get(name) or [], steps.get(name), times.get(name))
            ]
            moved = superseded.get(name)
            if isinstance(moved, Mapping):
                parts.append(
                    (moved.get("values") or [], moved.get("steps"), moved.get("timestamps"))
                )
            for part, (values, metric_steps, metric_times) in enumerate(parts):
                for row in _point_rows(record, name, values, metric_steps, metric_times):
                    if include_superseded:
                        row["superseded"] = part == 1
                    yield row


def _point_rows(
    record: Mapping[str, Any],
    name: str,
    values: Sequence[Any],
    metric_steps: Sequence[Any] | None,
    metric_times: Sequence[Any] | None,
) -> Iterator[dict[str, Any]]:
    metric_steps = metric_steps or []
    metric_times = metric_times or []
    for index, value in enumerate(values):
        yield {
            "experiment_id": record.get("experiment_id"),
            "version": record.get("version"),
            "metric": name,
            "index": index,
            "step": metric_steps[index] if index < len(metric_steps) else None,
            "timestamp": metric_times[index] if index < len(metric_times) else None,
            "value": value,
        }


def _write_csv(rows: Iterable[Mapping[str, Any]], handle: Any) -> int:
    writer: Any = None
    count = 0
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(handle, fieldnames=list(row), extrasaction="ignore")
            writer.writeheader()
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
        count += 1
    return count


def _write_text(rows: Iterable[Mapping[str, Any]], handle: Any, fmt: str) -> int:
    if fmt == "csv":
        return _write_csv(rows, handle)
    count = 0
    if fmt == "json":
        handle.write("[")
    for row in rows:
        if fmt == "json" and count:
            handle.write(",")
        handle.write(_serialize.dumps(_serialize.strict_json(row)).decode())
        if fmt == "jsonl":
            handle.write("\n")
        count += 1
    if fmt == "json":
        handle.write("]")
    return count


# Exclusive creation that never follows a link: a name planted in a shared folder (a
# symlink to someone's file, a FIFO) makes the open fail instead of being written through.
_TEMP_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_TEMP_ATTEMPTS = 100


def _create_temp(target: Path) -> tuple[int, Path]:
    """Create a new, empty temp file beside ``target`` under a random name.

    Returns:
        Its open descriptor and its path (``.<name>.<random>.tmp``).

    Raises:
        OSError: The folder cannot be written, or (practically never) every random
            name tried was taken.
    """
    stem = target.name[:200]  # room for the suffix within a 255-byte file name
    for _ in range(_TEMP_ATTEMPTS):
        tmp = target.with_name(f".{stem}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(target.parent))


@contextlib.contextmanager
def _replacing(target: Path) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``target`` atomically when the block succeeds.

    It is written to a temp file of its own (see :func:`_create_temp`), flushed to
    disk and renamed over ``target``; on any error the temp file is removed and
    ``target`` is left as it was. Two writers to one target never share a temp file,
    so each rename installs one writer's complete output.
    """
    fd, tmp = _create_temp(target)
    try:
        try:
            handle = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())  # the rename must not publish unwritten blocks
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_parquet(rows: Iterable[Mapping[str, Any]], path: Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise InvalidArgumentError(
            "format",
            "parquet",
            'needs pyarrow: pip install "experiment-manager[parquet]"',
        ) from None
    materialized = list(rows)
    columns: dict[str, None] = {}
    for row in materialized:
        columns.update(dict.fromkeys(row))
    records = [{c: _parquet_value(row.get(c)) for c in columns} for row in materialized]
    times = {
        c: [_parquet_time(c, r.pop(c)) for r in records] for c in _TIME_COLUMNS if c in columns
    }
    try:
        table = pa.Table.from_pylist(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        rest = [c for c in columns if c not in times]
        table = pa.Table.from_pylist(_one_type_per_column(records, rest))
    moment = pa.timestamp("us", tz="UTC")
    for name, values in times.items():  # back in their places, as timestamps
        table = table.add_column(
            list(columns).index(name), pa.field(name, moment), pa.array(values, type=moment)
        )
    with _replacing(path) as handle:
        pq.write_table(table, handle)
    return len(materialized)


#: Columns written to Parquet as timestamps with time zone (UTC): ISO 8601 text in
#: wide rows, seconds since the epoch in long rows.
_TIME_COLUMNS = ("created_at", "ended_at", "timestamp")


def _parquet_value(value: Any) -> Any:
    """A list kept as a list (its JSON text in CSV and JSON)."""
    if isinstance(value, _JsonText) and isinstance(value.value, (list, tuple)):
        return list(value.value)
    return value


def _parquet_time(column: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if column == "timestamp":
        return datetime.fromtimestamp(value, timezone.utc)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _one_type_per_column(records: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    """Write columns whose values mix kinds (``0.1`` here, ``"auto"`` there) as JSON text.

    Parquet columns have one type; CSV and JSON keep such values as they are.
    """
    mixed = [
        column
        for column in columns
        if len({_kind(r[column]) for r in records if r[column] is not None}) > 1
    ]
    for record in records:
        for column in mixed:
            value = record[column]
            if value is not None and not isinstance(value, str):
                record[column] = _serialize.dumps(_serialize.strict_json(value)).decode()
    return records


def write_rows(
    rows: Iterable[Mapping[str, Any]],
    path: str | Path,
    fmt: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write rows to a file in one of :data:`FORMATS`, replacing it atomically.

    The rows go to a new temp file in the target's folder, created exclusively under
    a random name without following links, which is renamed over ``path`` once
    complete; on any error it is removed and ``path`` is left as it was.

    Args:
        rows: Rows from :func:`wide_rows` or :func:`long_rows`.
        path: The output file; ``-`` is not accepted here (the CLI handles stdout).
        fmt: ``csv``, ``json`` (one array), ``jsonl`` (one object per line) or
            ``parquet`` (needs pyarrow).
        progress: Called with the number of rows written so far, every 10,000 rows.

    Returns:
        The number of rows written.

    Raises:
        InvalidArgumentError: Unknown format, or parquet without pyarrow.
        OSError: The file cannot be written (``path``'s folder is missing or not
            writable, or the disk is full).

    Example:
        >>> import tempfile, json
        >>> target = Path(tempfile.mkdtemp()) / "out.json"
        >>> write_rows([{"a": float("nan")}], target, "json")
        1
        >>> json.loads(target.read_text())
        [{'a': 'NaN'}]
    """
    if fmt not in FORMATS:
        raise InvalidArgumentError("format", fmt, f"must be one of {', '.join(FORMATS)}")
    target = Path(path)
    counted = _counting(rows, progress)
    if fmt == "parquet":
        return _write_parquet(counted, target)
    with _replacing(target) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        count = _write_text(counted, text, fmt)
        text.flush()
        text.detach()  # the binary file stays open for _replacing to sync and close
    return count


def _counting(
    rows: Iterable[Mapping[str, Any]], progress: Callable[[int], None] | None
) -> Iterator[Mapping[str, Any]]:
    for count, row in enumerate(rows, start=1):
        yield row
        if progress is not None and count % 10_000 == 0:
            progress(count)


def to_dataframe(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Rows as a pandas DataFrame (pandas is imported only here).

    Args:
        rows: Rows from :func:`wide_rows` or :func:`long_rows`.

    Returns:
        A ``pandas.DataFrame`` with one column per key.

    Raises:
        InvalidArgumentError: pandas is not installed.

    Example:
        >>> frame = to_dataframe([{"version": 1, "metrics.loss.min": 0.2}])  # doctest: +SKIP
        >>> list(frame.columns)  # doctest: +SKIP
        ['version', 'metrics.loss.min']
    """
    try:
        import pandas as pd
    except ModuleNotFoundError:
        raise InvalidArgumentError(
            "to_dataframe", "pandas", 'needs pandas: pip install "experiment-manager[pandas]"'
        ) from None
    return pd.DataFrame(list(rows))
