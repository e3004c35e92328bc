"""One metric of one version as plottable (x, y) points; pure, no I/O.

Three x axes:

* ``step``: the record's ``steps[metric]``; a value without a step (logged with
  ``log_metrics``) uses its index in the metric's list.
* ``time``: the record's ``timestamps[metric]`` (Unix seconds); values without a
  time are left out.
* ``index``: the value's position in the metric's list.

A metric's values and their steps and times are first gathered as float64 arrays
(:class:`Columns`; a missing step or time is NaN), either from a record
(:func:`columns_of`) or straight from the history file (``Store.read_metric``).
:func:`prepare` then sorts the points by x (stably, so equal x keep their logging
order) for range selection and downsampling; :func:`points_after` keeps logging
order, for live updates that only append.

Example:
    >>> record = {"metrics": {"loss": [0.5, 0.4, 0.3]}, "steps": {"loss": [10, None, 30]}}
    >>> series = prepare(columns_of(record, "loss"), "step")
    >>> series.xs.tolist(), series.ys.tolist()
    ([1.0, 10.0, 30.0], [0.4, 0.5, 0.3])
    >>> series.select(5, None)
    (1, 3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from experiment_manager.stores._metric_read import Columns

__all__ = ["X_AXES", "Columns", "Series", "columns_of", "points_after", "prepare"]

#: The x axes a request may ask for; the first is the default.
X_AXES = ("step", "time", "index")


@dataclass(frozen=True)
class Series:
    """A metric's points sorted by x.

    Attributes:
        xs: The x values, ascending (float64).
        ys: The y values, in the same order (float64).
        total: How many values the metric has in the version (points without a
            time count too).
    """

    xs: np.ndarray
    ys: np.ndarray
    total: int

    def select(self, start: float | None, end: float | None) -> tuple[int, int]:
        """Return the index range ``lo:hi`` of the points with ``start <= x <= end``.

        Args:
            start: The smallest x wanted, or None for no lower bound.
            end: The largest x wanted, or None for no upper bound.

        Returns:
            ``(lo, hi)``, empty (``lo >= hi``) when no point is in range.
        """
        lo = 0 if start is None else int(np.searchsorted(self.xs, start, side="left"))
        hi = len(self.xs) if end is None else int(np.searchsorted(self.xs, end, side="right"))
        return lo, max(lo, hi)


def _floats(values: Sequence[Any]) -> np.ndarray:
    """A list of numbers (None for a missing one) as float64, None as NaN."""
    return np.array(values, dtype=np.float64) if values else np.empty(0)


def columns_of(record: Mapping[str, Any], metric: str) -> Columns:
    """Gather one metric of a record (as ``read_history`` returns it) as arrays.

    Args:
        record: A full record.
        metric: The metric's name (a missing metric gives empty arrays).

    Returns:
        The columns.

    Example:
        >>> columns_of({"metrics": {"acc": [0.1, 0.2]}}, "acc").steps.tolist()
        []
    """

    def column(group: str) -> np.ndarray:
        return _floats((record.get(group) or {}).get(metric) or [])

    return Columns(values=column("metrics"), steps=column("steps"), times=column("timestamps"))


def _logged_points(columns: Columns, x: str, after: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) points of the values from index ``after`` on, in logging order."""
    values = columns.values
    count = len(values)
    if x in ("index", "step"):
        steps = columns.steps[after:count] if x == "step" else columns.steps[:0]
        if len(steps) == count - after > 0 and not np.isnan(steps).any():
            return steps, values[after:]  # every value has its step (the usual case)
        xs = np.arange(after, count, dtype=np.float64)
        # A value without a step is placed at its index.
        xs[: len(steps)] = np.where(np.isnan(steps), xs[: len(steps)], steps)
        return xs, values[after:]
    if x == "time":  # a value without a time is left out
        times = columns.times[after:count]
        kept = ~np.isnan(times)
        return times[kept], values[after : after + len(times)][kept]
    raise ValueError(f"x must be one of {', '.join(X_AXES)}, not {x!r}")


def prepare(columns: Columns, x: str) -> Series:
    """Build the sorted points of one metric of one version.

    Args:
        columns: The metric's columns.
        x: One of :data:`X_AXES`.

    Returns:
        The series.

    Raises:
        ValueError: ``x`` is not one of :data:`X_AXES`.

    Example:
        >>> prepare(columns_of({"metrics": {"acc": [0.1, 0.2]}}, "acc"), "time").total
        2
    """
    xs, ys = _logged_points(columns, x)
    if len(xs) > 1 and not bool(np.all(xs[1:] >= xs[:-1])):
        order = np.argsort(xs, kind="stable")  # stable: ties keep log order
        xs = xs[order]
        ys = ys[order]
    return Series(xs=xs, ys=ys, total=len(columns.values))


def points_after(
    record: Mapping[str, Any], metric: str, x: str, after: int
) -> tuple[list[float], list[float]]:
    """Return the points of the values at index ``after`` and later, in logging order.

    Args:
        record: A full record.
        metric: The metric's name.
        x: One of :data:`X_AXES`.
        after: The first index wanted (a page sends the ``total`` it already has).

    Returns:
        ``(xs, ys)`` as new lists of floats.

    Raises:
        ValueError: ``x`` is not one of :data:`X_AXES`.

    Example:
        >>> points_after({"metrics": {"loss": [3, 2, 1]}}, "loss", "step", 1)
        ([1.0, 2.0], [2.0, 1.0])
    """
    xs, ys = _logged_points(columns_of(record, metric), x, after)
    return xs.tolist(), ys.tolist()
