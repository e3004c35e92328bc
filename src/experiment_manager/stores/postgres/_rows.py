"""Between stored versions and rows: the version row's fields, and points as columns.

A version is one row of ``expm_versions`` (its fields as JSON, its status, journal
segment and shipped offset apart) and, per metric, one row of ``expm_series`` with
one ``expm_points`` row per value. A value is stored as float8 (NaN and the
infinities are native there); an int also keeps its exact value in ``exact``, since
float8 holds ints exactly only up to 2**53.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from experiment_manager import _serialize
from experiment_manager.stores.base import StoredVersion

__all__ = [
    "SERIES_KEYS",
    "Series",
    "assemble",
    "decode_value",
    "encode_values",
    "fields_of",
    "series",
]

#: The record keys kept as rows of points rather than in the fields.
SERIES_KEYS = ("metrics", "steps", "timestamps")
_OWN_COLUMNS = ("status", "_journal_segment", "_journal_offset", "_revision")
_NAMES = {math.inf: "Infinity", -math.inf: "-Infinity"}


class Series:
    """One metric of one version as read: its row id and columns.

    Attributes:
        id: The ``expm_series`` row.
        values: Values in stored form.
        steps: Steps (None: none), or None for a metric without a steps list.
        times: Wall times (None: none), or None likewise.
    """

    __slots__ = ("id", "steps", "times", "values")

    def __init__(
        self, id: int, values: list[Any], steps: list[Any] | None, times: list[Any] | None
    ) -> None:
        self.id = id
        self.values = values
        self.steps = steps
        self.times = times


def decode_value(value: float, exact: Any) -> int | float | str:
    """A point's value in stored form.

    Args:
        value: The float8 column.
        exact: The numeric column (an int's exact value), or None.

    Returns:
        An int, a finite float, or ``"NaN"``/``"Infinity"``/``"-Infinity"``.

    Example:
        >>> decode_value(float("nan"), None), decode_value(3.0, 3), decode_value(0.5, None)
        ('NaN', 3, 0.5)
    """
    if exact is not None:
        return int(exact)
    if math.isnan(value):
        return "NaN"
    return _NAMES.get(value, value)


def series(  # noqa: PLR0917 (one argument per column)
    row_id: int,
    stepped: bool,
    values: list[float] | None,
    exact: list[Any] | None,
    steps: list[Any] | None,
    times: list[Any] | None,
) -> Series:
    """A :class:`Series` from its aggregated columns (None for a metric with no values).

    Args:
        row_id: The ``expm_series`` row.
        stepped: Whether the metric has steps and times lists.
        values: The float8 column, in order.
        exact: The numeric column, in order.
        steps: The step column, in order.
        times: The time column, in order.

    Returns:
        The series, values in stored form.
    """
    if values is None:
        return Series(row_id, [], [] if stepped else None, [] if stepped else None)
    decoded = list(map(decode_value, values, exact or [None] * len(values)))
    return Series(
        row_id,
        decoded,
        list(steps or []) if stepped else None,
        list(times or []) if stepped else None,
    )


def encode_values(values: Sequence[Any]) -> tuple[list[float], list[int | None]]:
    """Stored-form values as the float8 and exact columns.

    Args:
        values: Ints, finite floats and the non-finite names.

    Returns:
        The floats (``float("NaN")`` parses the names) and the exact ints (None
        for a float).

    Example:
        >>> encode_values([1, 0.5, "-Infinity"])
        ([1.0, 0.5, -inf], [1, None, None])
    """
    floats = [float(v) for v in values]
    exact = [v if type(v) is int else None for v in values]
    return floats, exact


def fields_of(record: Mapping[str, Any]) -> bytes:
    """The JSON of a version's fields: everything but points and the row's own columns.

    Args:
        record: A version in stored form.

    Returns:
        Strict JSON bytes.
    """
    # An empty steps or timestamps dict holds no point: it is kept here, so a record
    # that has one reads back with it (the series rows give the non-empty ones).
    return _serialize.dumps(
        {
            k: v
            for k, v in record.items()
            if k not in _OWN_COLUMNS and (k not in SERIES_KEYS or (k != "metrics" and v == {}))
        }
    )


def assemble(
    fields: Any, status: str, segment: int, shipped: int, series: Mapping[str, Series]
) -> StoredVersion:
    """A version in stored form from its row and its series.

    Args:
        fields: The fields' JSON (text or bytes).
        status: The status column.
        segment: The journal segment column.
        shipped: The shipped offset column.
        series: Its metrics by name, in the order they were first logged.

    Returns:
        The record, as the other backends store it.
    """
    record: StoredVersion = _serialize.loads(fields)
    record["status"] = status
    if segment:
        record["_journal_segment"] = segment
    if segment or shipped:
        record["_journal_offset"] = shipped
    metrics: dict[str, list[Any]] = {}
    steps: dict[str, list[Any]] = {}
    times: dict[str, list[Any]] = {}
    for name, one in series.items():
        metrics[name] = one.values
        if one.steps is not None:
            steps[name] = one.steps
            times[name] = one.times if one.times is not None else [None] * len(one.values)
    record["metrics"] = metrics
    if steps:
        record["steps"] = steps
        record["timestamps"] = times
    return record
