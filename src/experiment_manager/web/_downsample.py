"""Min/max downsampling of one curve for plotting; pure, no I/O, no dependencies.

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

Example:
    >>> xs = list(range(10))
    >>> ys = [0, 0, 0, 9, 0, 0, 0, 0, -3, 0]
    >>> downsample(xs, ys, 2)
    ([0, 3, 5, 8], [0, 9, 0, -3], False)
    >>> downsample(xs, ys, 5)[2]
    True
"""

from __future__ import annotations

import itertools
import math
import operator
from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["DEFAULT_BUCKETS", "MAX_BUCKETS", "downsample", "nan_positions"]

#: Buckets used when a request names none.
DEFAULT_BUCKETS = 1000
#: The most buckets a request may ask for (0 asks for full resolution).
MAX_BUCKETS = 10_000

Number = int | float


def nan_positions(ys: Sequence[Number]) -> list[int]:
    """Return the indices of the NaN values of ``ys``, ascending.

    Args:
        ys: Numbers (ints, floats, infinities and NaNs).

    Returns:
        The positions of the NaNs; ``[]`` (found at C speed) when there are none.

    Example:
        >>> nan_positions([1.0, float("nan"), 3, float("nan")])
        [1, 3]
    """
    if not ys or not math.isnan(sum(ys)):  # a NaN makes the sum NaN (so does inf - inf)
        return []
    return [index for index, y in enumerate(ys) if y != y]  # noqa: PLR0124 (NaN test)


def downsample(
    xs: Sequence[Number],
    ys: Sequence[Number],
    buckets: int,
    *,
    lo: int = 0,
    hi: int | None = None,
    nans: Sequence[int] | None = None,
) -> tuple[list[Number], list[Number], bool]:
    """Reduce ``xs[lo:hi]``, ``ys[lo:hi]`` to the min and max point of each x bucket.

    Args:
        xs: The x values, sorted ascending (over ``lo:hi`` at least).
        ys: The y values, as long as ``xs``.
        buckets: The number of equal-width x buckets; 0 for full resolution.
        lo: The first index of the slice to reduce.
        hi: One past its last index (default: the end).
        nans: :func:`nan_positions` of ``ys`` when already known (it is computed
            otherwise).

    Returns:
        ``(x, y, exact)``: new lists of the points kept, in x order, and whether
        they are all the points of the slice (nothing was reduced).

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
        return list(xs[lo:end]), list(ys[lo:end]), True
    values = ys if isinstance(ys, list) else list(ys)
    missing = nan_positions(values) if nans is None else nans
    edges = _edges(xs, lo, end, buckets)
    spans = [(first, last) for first, last in itertools.pairwise(edges) if first < last]
    start = bisect_left(missing, lo)
    if start == bisect_left(missing, end, start):
        kept = _plain_extremes(values, spans)
    else:
        kept = [index for first, last in spans for index in _extremes(values, first, last, missing)]
    return list(map(xs.__getitem__, kept)), list(map(values.__getitem__, kept)), False


def _edges(xs: Sequence[Number], lo: int, hi: int, buckets: int) -> list[int]:
    """Index boundaries of ``buckets`` equal-width x buckets over ``xs[lo:hi]``."""
    x0 = xs[lo]
    width = (xs[hi - 1] - x0) / buckets
    if not width > 0 or not math.isfinite(width):
        return [lo, hi]
    inner = [bisect_left(xs, x0 + k * width, lo, hi) for k in range(1, buckets)]
    return [lo, *inner, hi]


def _plain_extremes(ys: list[Number], spans: list[tuple[int, int]]) -> list[int]:
    """Min and max indices of each span of a NaN-free slice, ascending (C-speed loops)."""
    starts = [first for first, _ in spans]
    chunks = list(map(ys.__getitem__, itertools.starmap(slice, spans)))
    lows = map(operator.add, starts, map(list.index, chunks, map(min, chunks)))
    highs = map(operator.add, starts, map(list.index, chunks, map(max, chunks)))
    kept: list[int] = []
    for low, high in zip(lows, highs, strict=True):
        if low == high:
            kept.append(low)
        elif low < high:
            kept += (low, high)
        else:
            kept += (high, low)
    return kept


def _extremes(ys: list[Number], first: int, last: int, nans: Sequence[int]) -> list[int]:
    """The indices of the min and max of ``ys[first:last]`` (NaN-aware), ascending."""
    start = bisect_left(nans, first)
    stop = bisect_left(nans, last, start)
    if start == stop:
        chunk = ys[first:last]
        low = first + chunk.index(min(chunk))
        high = first + chunk.index(max(chunk))
    elif stop - start == last - first:  # only NaN: keep one, as a gap
        return [first]
    else:
        low, high = _mixed_extremes(ys, first, last, nans[start:stop])
    return [low] if low == high else sorted((low, high))


def _mixed_extremes(
    ys: list[Number], first: int, last: int, nans: Sequence[int]
) -> tuple[int, int]:
    """Min and max indices of a bucket holding some NaNs, over the runs between them."""
    low = high = -1
    begin = first
    for stop in [*nans, last]:
        if begin < stop:
            chunk = ys[begin:stop]
            low_here = begin + chunk.index(min(chunk))
            high_here = begin + chunk.index(max(chunk))
            if low < 0 or ys[low_here] < ys[low]:
                low = low_here
            if high < 0 or ys[high_here] > ys[high]:
                high = high_here
        begin = stop + 1
    return low, high
