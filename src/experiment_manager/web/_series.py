"""One metric of one version as plottable (x, y) points; pure, no I/O.

Three x axes:

* ``step``: the record's ``steps[metric]``; a value without a step (logged with
  ``log_metrics``) uses its index in the metric's list.
* ``time``: the record's ``timestamps[metric]`` (Unix seconds); values without a
  time are left out.
* ``index``: the value's position in the metric's list.

:func:`prepare` sorts the points by x (stably, so equal x keep their logging order)
for range selection and downsampling; :func:`points_after` keeps logging order, for
live updates that only append.

Example:
    >>> record = {"metrics": {"loss": [0.5, 0.4, 0.3]}, "steps": {"loss": [10, None, 30]}}
    >>> series = prepare(record, "loss", "step")
    >>> list(series.xs), series.ys
    ([1, 10, 30], [0.4, 0.5, 0.3])
    >>> series.select(5, None)
    (1, 3)
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from experiment_manager.web._downsample import nan_positions

__all__ = ["X_AXES", "Series", "points_after", "prepare"]

#: The x axes a request may ask for; the first is the default.
X_AXES = ("step", "time", "index")

Number = int | float


@dataclass(frozen=True)
class Series:
    """A metric's points sorted by x.

    Attributes:
        xs: The x values, ascending.
        ys: The y values, in the same order.
        nans: Positions of the NaN values in ``ys``.
        total: How many values the metric has in the version (points without a
            time count too).
    """

    xs: Sequence[Number]
    ys: Sequence[Number]
    nans: Sequence[int]
    total: int

    def select(self, start: float | None, end: float | None) -> tuple[int, int]:
        """Return the index range ``lo:hi`` of the points with ``start <= x <= end``.

        Args:
            start: The smallest x wanted, or None for no lower bound.
            end: The largest x wanted, or None for no upper bound.

        Returns:
            ``(lo, hi)``, empty (``lo >= hi``) when no point is in range.
        """
        lo = 0 if start is None else bisect_left(self.xs, start)
        hi = len(self.xs) if end is None else bisect_right(self.xs, end)
        return lo, max(lo, hi)


def _columns(record: Mapping[str, Any], metric: str) -> tuple[list[Any], list[Any], list[Any]]:
    values = (record.get("metrics") or {}).get(metric) or []
    steps = (record.get("steps") or {}).get(metric) or []
    times = (record.get("timestamps") or {}).get(metric) or []
    return values, steps, times


def _points(
    values: list[Any], steps: list[Any], times: list[Any], x: str, after: int
) -> tuple[Sequence[Number], Sequence[Number]]:
    """The (x, y) points of ``values[after:]`` in logging order."""
    count = len(values)
    if x == "index":
        return range(after, count), values[after:]
    if x == "step":
        if after == 0 and len(steps) == count and None not in steps:
            return steps, values
        known = len(steps)
        return (
            [steps[i] if i < known and steps[i] is not None else i for i in range(after, count)],
            values[after:],
        )
    if x != "time":
        raise ValueError(f"x must be one of {', '.join(X_AXES)}, not {x!r}")
    if after == 0 and len(times) == count and None not in times:
        return times, values
    kept = [i for i in range(after, min(count, len(times))) if times[i] is not None]
    return [times[i] for i in kept], [values[i] for i in kept]


def prepare(record: Mapping[str, Any], metric: str, x: str) -> Series:
    """Build the sorted points of one metric of one record.

    Args:
        record: A full record, as ``read_history`` returns it.
        metric: The metric's name (a missing metric gives an empty series).
        x: One of :data:`X_AXES`.

    Returns:
        The series; its lists may be the record's own (never modify them).

    Raises:
        ValueError: ``x`` is not one of :data:`X_AXES`.

    Example:
        >>> prepare({"metrics": {"acc": [0.1, 0.2]}}, "acc", "time").total
        2
    """
    values, steps, times = _columns(record, metric)
    xs, ys = _points(values, steps, times, x, 0)
    if not isinstance(xs, range) and sorted(xs) != xs:
        order = sorted(range(len(xs)), key=xs.__getitem__)  # stable: ties keep log order
        xs = [xs[i] for i in order]
        ys = [ys[i] for i in order]
    return Series(xs=xs, ys=ys, nans=nan_positions(ys), total=len(values))


def points_after(
    record: Mapping[str, Any], metric: str, x: str, after: int
) -> tuple[list[Number], list[Number]]:
    """Return the points of the values at index ``after`` and later, in logging order.

    Args:
        record: A full record.
        metric: The metric's name.
        x: One of :data:`X_AXES`.
        after: The first index wanted (a page sends the ``total`` it already has).

    Returns:
        ``(xs, ys)`` as new lists.

    Raises:
        ValueError: ``x`` is not one of :data:`X_AXES`.

    Example:
        >>> points_after({"metrics": {"loss": [3, 2, 1]}}, "loss", "step", 1)
        ([1, 2], [2, 1])
    """
    values, steps, times = _columns(record, metric)
    xs, ys = _points(values, steps, times, x, after)
    return list(xs), list(ys)
