"""Min/max downsampling of one curve for plotting; pure, no I/O, vectorised with numpy.

The rule (the dashboard's promise that no spike is ever hidden):

* A series of at most ``2 * buckets`` points (or any series when ``buckets`` is 0) is
  returned exactly, point for point.
* A longer series has its x-range split into ``buckets`` buckets of equal width (the
  last one closed at the largest x). Each bucket keeps the point with its smallest y
  and the point with its largest y, in x order (one point when they are the same), so
  the global minimum and maximum, and every local spike wider than nothing, survive.
  NaN values are left out of the comparison; a bucket that holds only NaN values keeps
  one NaN point (at its first x), so gaps stay gaps. Infinities are ordinary extremes.

The x values must be sorted ascending; ``lo``/``hi`` select a slice without copying.
Each bucket's extremes are found by numpy reductions over the whole slice at once, so
reducing 100,000 points costs about a millisecond.

Example:
    >>> xs = list(range(10))
    >>> ys = [0, 0, 0, 9, 0, 0, 0, 0, -3, 0]
    >>> downsample(xs, ys, 2)
    ([0, 3, 5, 8], [0, 9, 0, -3], False)
    >>> downsample(xs, ys, 5)[2]
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["DEFAULT_BUCKETS", "MAX_BUCKETS", "downsample"]

#: Buckets used when a request names none.
DEFAULT_BUCKETS = 1000
#: The most buckets a request may ask for (0 asks for full resolution).
MAX_BUCKETS = 10_000

Number = int | float


def downsample(
    xs: Sequence[Number] | np.ndarray,
    ys: Sequence[Number] | np.ndarray,
    buckets: int,
    *,
    lo: int = 0,
    hi: int | None = None,
) -> tuple[list[Number], list[Number], bool]:
    """Reduce ``xs[lo:hi]``, ``ys[lo:hi]`` to the min and max point of each x bucket.

    Args:
        xs: The x values, sorted ascending (over ``lo:hi`` at least).
        ys: The y values, as long as ``xs``.
        buckets: The number of equal-width x buckets; 0 for full resolution.
        lo: The first index of the slice to reduce.
        hi: One past its last index (default: the end).

    Returns:
        ``(x, y, exact)``: new lists of the points kept, in x order, and whether
        they are all the points of the slice (nothing was reduced). Values are taken
        from ``xs`` and ``ys`` unchanged.

    Raises:
        ValueError: ``buckets`` is negative or the lists differ in length.

    Example:
        >>> nan = float("nan")
        >>> x, y, exact = downsample(range(6), [1, nan, nan, nan, 2, 5], 1)
        >>> x, y, exact
        ([0, 5], [1, 5], False)
        >>> downsample(range(6), [nan, nan, nan, 7, 7, 7], 2)
        ([0, 3], [nan, 7], False)
    """
    if buckets < 0:
        raise ValueError(f"buckets must be >= 0, not {buckets}")
    if len(xs) != len(ys):
        raise ValueError(f"xs and ys differ in length ({len(xs)} and {len(ys)})")
    end = len(xs) if hi is None else hi
    if buckets == 0 or end - lo <= 2 * buckets:
        return _take(xs, range(lo, end)), _take(ys, range(lo, end)), True
    x = np.asarray(xs[lo:end], dtype=np.float64)
    y = np.asarray(ys[lo:end], dtype=np.float64)
    starts = _starts(x, buckets)
    mask = np.isnan(y)
    nan = mask if mask.any() else None  # the usual case, no NaN: no mask to apply
    lows = _first_extreme(y, nan, starts, np.minimum, np.inf)
    highs = _first_extreme(y, nan, starts, np.maximum, -np.inf)
    first = np.minimum(lows, highs)
    second = np.maximum(lows, highs)
    pairs = np.column_stack((first, second)).ravel()
    keep = np.ones(len(pairs), dtype=bool)
    keep[1::2] = first != second
    kept = (pairs[keep] + lo).tolist()
    return _take(xs, kept), _take(ys, kept), False


def _take(values: Sequence[Number] | np.ndarray, indices: Sequence[int]) -> list[Number]:
    if isinstance(values, np.ndarray):
        taken: list[Number] = values[np.asarray(indices, dtype=np.intp)].tolist()
        return taken
    return [values[i] for i in indices]


def _starts(x: np.ndarray, buckets: int) -> np.ndarray:
    """Start index of each non-empty one of ``buckets`` equal-width x buckets."""
    x0 = x[0]
    width = (x[-1] - x0) / buckets
    if not width > 0 or not np.isfinite(width):
        return np.zeros(1, dtype=np.intp)
    inner = np.searchsorted(x, x0 + np.arange(1, buckets) * width, side="left")
    starts: np.ndarray = np.unique(np.concatenate(([0], inner)))  # empty buckets share one
    return starts[starts < len(x)]


def _first_extreme(
    y: np.ndarray, nan: np.ndarray | None, starts: np.ndarray, reduce: Any, fill: float
) -> np.ndarray:
    """Per bucket, the first index of its smallest (or largest) non-NaN value.

    ``nan`` marks the NaN values (None: there are none). A bucket holding only NaN
    values gets its first index, so the gap stays visible.
    """
    extremes = reduce.reduceat(y if nan is None else np.where(nan, fill, y), starts)
    sizes = np.diff(np.append(starts, len(y)))
    # Where y equals its bucket's extreme (NaN never does), found without an index
    # array as long as y: the extremes are spread over their buckets.
    equal = y == np.repeat(extremes, sizes)
    hits = np.flatnonzero(equal)
    owner = np.searchsorted(starts, hits, side="right") - 1
    first_hit = np.ones(len(hits), dtype=bool)
    first_hit[1:] = owner[1:] != owner[:-1]
    out: np.ndarray = starts.copy()  # all-NaN buckets keep their first point
    out[owner[first_hit]] = hits[first_hit]
    return out
