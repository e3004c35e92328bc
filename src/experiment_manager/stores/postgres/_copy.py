"""Points into ``expm_points`` by binary COPY, the rows built by numpy in one buffer.

A bulk ``log_metrics`` of 10 metrics x 1,000 values adds 10,000 rows: building them
as Python lists for ``unnest`` arrays costs more than the server's insert, so the
common case (float values with a step and a time each) is packed as COPY's binary
format in a few vector operations and sent in one statement. Anything else (an
exact int, a missing step or time) is left to the caller's general path, as is
every point when numpy is not installed (the ``postgres`` extra does not need it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import numpy as np
    import psycopg
    from numpy.typing import NDArray

__all__ = ["Batch", "copy_points", "packable"]

_COPY = "COPY expm_points (series, seq, value, exact, step, time) FROM STDIN (FORMAT BINARY)"
_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_TRAILER = b"\xff\xff"
# One row: the field count, then each field's byte length and value (big-endian);
# ``exact`` is NULL (length -1, no bytes).
_FIELDS = [
    ("fields", ">i2"),
    ("series_len", ">i4"),
    ("series", ">i8"),
    ("seq_len", ">i4"),
    ("seq", ">i4"),
    ("value_len", ">i4"),
    ("value", ">f8"),
    ("exact_len", ">i4"),
    ("step_len", ">i4"),
    ("step", ">i8"),
    ("time_len", ">i4"),
    ("time", ">f8"),
]
_FIXED = {
    "fields": 6,
    "series_len": 8,
    "seq_len": 4,
    "value_len": 8,
    "exact_len": -1,
    "step_len": 8,
    "time_len": 8,
}


class Batch(NamedTuple):
    """One series' new points: its id, the seq of the first, and the columns."""

    series: int
    start: int
    values: Sequence[float]
    steps: NDArray[np.int64]
    times: NDArray[np.float64]


def packable(
    exact: list[int | None], steps: Sequence[Any], times: Sequence[Any]
) -> tuple[NDArray[np.int64], NDArray[np.float64]] | None:
    """The steps and times as arrays when the points fit the packed form.

    They fit when no value is an exact int and every step (an int8) and time is given.

    Args:
        exact: The exact column (None for a float).
        steps: The steps.
        times: The times.

    Returns:
        The step and time columns for a :class:`Batch`, or None.

    Example:
        >>> packable([None, None], [0, 1], [1.5, 1.5]) is not None
        True
        >>> packable([3], [0], [1.5]), packable([None], [None], [1.5])
        (None, None)
    """
    if exact.count(None) != len(exact):
        return None
    try:
        import numpy as np
    except ImportError:
        return None
    try:
        # Only ints make an int64 array (None, floats or an out-of-range int do not).
        at = np.asarray(steps)
        when = np.asarray(times, dtype=np.float64)  # None fails, or becomes NaN
    except (OverflowError, TypeError, ValueError):
        return None
    if at.dtype != np.int64 or at.shape != (len(exact),) or np.isnan(when).any():
        return None
    return at, when


def copy_points(connection: psycopg.Connection[Any], batches: Sequence[Batch]) -> None:
    """Insert every batch's points with one binary COPY.

    Args:
        connection: A connection inside the caller's transaction.
        batches: Points that are :func:`packable`.

    Example:
        >>> steps, times = packable([None, None], [0, 1], [10.0, 10.0])
        >>> rows = _pack([Batch(7, 0, [0.5, 1.0], steps, times)])
        >>> len(rows) == 2 * 62  # bytes per row: a count, six lengths, five values
        True
    """
    if not any(len(b.values) for b in batches):
        return
    payload = _pack(batches)
    with connection.cursor() as cursor, cursor.copy(_COPY) as copy:
        copy.write(_HEADER + payload + _TRAILER)


def _pack(batches: Sequence[Batch]) -> bytes:
    import numpy as np

    total = sum(len(b.values) for b in batches)
    rows = np.empty(total, dtype=np.dtype(_FIELDS))
    for name, value in _FIXED.items():
        rows[name] = value
    at = 0
    for batch in batches:
        count = len(batch.values)
        part = rows[at : at + count]
        part["series"] = batch.series
        part["seq"] = np.arange(batch.start, batch.start + count, dtype=np.int64)
        part["value"] = np.asarray(batch.values, dtype=np.float64)
        part["step"] = batch.steps
        part["time"] = batch.times
        at += count
    return rows.tobytes()
