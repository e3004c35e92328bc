"""A metric of one version reduced for a chart in SQL: min/max buckets, or every point.

The same rule as the dashboard's own reduction (``web/_downsample.py``), so both give
the same points: the x range is split into equal-width buckets at thresholds computed
here exactly as numpy computes them, and each bucket keeps the first point of its
smallest and of its largest y (NaN left out; a bucket of NaN keeps its first point).
Only the points kept cross the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from experiment_manager.stores._metric_read import SeriesRequest

__all__ = ["reduce_series"]

# The points of one metric of one version along an x axis: a step axis places a value
# without a step at its index; a time axis leaves out a value without a time.
_POINTS = """
WITH series AS (
    SELECT id, stepped, length FROM expm_series
    WHERE experiment = %(experiment)s AND version = %(version)s AND name = %(name)s
), points AS (
    SELECT p.seq, p.value AS y,
           CASE WHEN %(axis)s = 'time' THEN p.time
                WHEN %(axis)s = 'step' AND s.stepped THEN coalesce(p.step::float8, p.seq::float8)
                ELSE p.seq::float8 END AS x
    FROM series s JOIN expm_points p ON p.series = s.id
), in_range AS (
    SELECT x, y, seq FROM points
    WHERE x IS NOT NULL
      AND (%(start)s::float8 IS NULL OR x >= %(start)s::float8)
      AND (%(end)s::float8 IS NULL OR x <= %(end)s::float8)
)
"""
# Constant texts joined at import; every value is a bound parameter.
_COUNT = (
    _POINTS  # noqa: S608
    + "SELECT (SELECT coalesce(max(length), 0) FROM series), count(*), min(x), max(x)"
    + " FROM in_range"
)
_EVERY = _POINTS + "SELECT x, y FROM in_range ORDER BY x, seq"  # noqa: S608
_BUCKETS = (
    _POINTS  # noqa: S608
    + """, ordered AS (
    SELECT x, y, row_number() OVER (ORDER BY x, seq) AS idx FROM in_range
), bucketed AS (
    SELECT x, y, idx,
           CASE WHEN %(thresholds)s::float8[] IS NULL THEN 0
                ELSE width_bucket(x, %(thresholds)s::float8[]) END AS bucket
    FROM ordered
), extremes AS (
    SELECT (array_agg(idx ORDER BY y = 'NaN'::float8, y ASC, idx))[1] AS low,
           (array_agg(idx ORDER BY y = 'NaN'::float8, y DESC, idx))[1] AS high
    FROM bucketed GROUP BY bucket
), kept AS (
    SELECT least(low, high) AS idx FROM extremes
    UNION SELECT greatest(low, high) FROM extremes
)
SELECT o.x, o.y FROM ordered o JOIN kept k ON k.idx = o.idx ORDER BY o.idx
"""
)


def _thresholds(first: float, last: float, buckets: int) -> list[float] | None:
    """The inner bucket bounds, as ``web/_downsample._starts`` computes them (None: one)."""
    import numpy as np

    x0 = np.float64(first)
    width = (np.float64(last) - x0) / buckets
    if not width > 0 or not np.isfinite(width):
        return None
    bounds: list[float] = (x0 + np.arange(1, buckets) * width).tolist()
    return bounds


def reduce_series(
    connection: psycopg.Connection[Any],
    experiment: int,
    version: int,
    metric: str,
    view: SeriesRequest,
) -> dict[str, Any]:
    """One metric of one version, reduced in SQL as the dashboard reduces it.

    Args:
        connection: A connection, in a read-only snapshot.
        experiment: The experiment's row id.
        version: The version.
        metric: The metric's name.
        view: The x axis, the range and the buckets.

    Returns:
        ``{"total", "in_range", "exact", "x", "y"}``.
    """
    params: dict[str, Any] = {
        "experiment": experiment,
        "version": version,
        "name": metric,
        "axis": view.x,
        "start": view.start,
        "end": view.end,
    }
    row = connection.execute(_COUNT, params).fetchone()
    total, in_range, first, last = row if row is not None else (0, 0, 0.0, 0.0)
    if view.buckets == 0 or in_range <= 2 * view.buckets:
        rows = connection.execute(_EVERY, params).fetchall()
        exact = True
    else:
        params["thresholds"] = _thresholds(first, last, view.buckets)
        rows = connection.execute(_BUCKETS, params).fetchall()
        exact = False
    return {
        "total": int(total),
        "in_range": int(in_range),
        "exact": exact,
        "x": [r[0] for r in rows],
        "y": [r[1] for r in rows],
    }
