"""A running version's summary with its aggregates taken in SQL, not from every point.

An ended version's summary is kept in its row; a running one's changes with every
shipped point, so listings, searches and charts summarise it when they read it. Read
whole, a long run of 1 M points costs over a second per listing; here the server
gives each metric's count, extremes (and where they are), last value and newest time,
and its exact sum: every finite float8 is an integer times a power of two, so the
server scales each value to a 56-bit integer, sums those per power of two as numeric
(exact), and sends per metric one sum per power of two, all in one pass over the
points. Python adds these few integers and rounds once, which is what ``math.fsum``
(every other summary's mean) gives. No point travels. Points this host has not shipped
yet come from its journal, as when the version is read whole.

The result equals ``summarize(read_version(...))`` exactly. Where that is not simple
(ints kept exactly, NaN or infinities, values so large that fsum could overflow or so
small that scaling them overflows, a sum of zero, whose sign fsum decides, a journal
point on a metric without steps), None sends the caller to the whole read.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from experiment_manager.query._summary import summary_of
from experiment_manager.stores import _index
from experiment_manager.stores._journal import apply_journal

if TYPE_CHECKING:
    import psycopg

__all__ = ["AGGREGATES", "summary"]

#: Values outside [SMALL, LARGE) in magnitude (zero aside) leave the sum to the whole
#: read: below SMALL, 2**scale overflows; from LARGE on, fsum over fewer than 2**63 values
#: could overflow where the exact sum does not.
SMALL = 2.0**-896
LARGE = 2.0**960
#: Per metric of one version, what the summary needs, in one pass over its points plus
#: three index lookups (the first minimum, the first maximum, the last point). The pass
#: groups the points by scale k, chosen so that value * 2**k is an integer below 2**56
#: (floor(log2) may be off by one either way; a margin of two bits covers it): each
#: group's sum of those integers is exact as numeric, and the groups' counts, extremes,
#: last sequence numbers and newest times combine into the metric's. Grouped per series,
#: so that the planner hashes the few scales rather than sorting the points. NaN is
#: greater than every number in PostgreSQL, so ``abs(value) < LARGE`` leaves it out too.
AGGREGATES = """
SELECT s.name, s.stepped, a.n, a.odd, a.newest, a.scales, a.totals,
       lo.seq, lo.value, lo.step, hi.seq, hi.value, hi.step, la.value
FROM expm_series s
CROSS JOIN LATERAL (
    SELECT sum(g.n) AS n, min(g.lo) AS lo, max(g.hi) AS hi, max(g.last_seq) AS last_seq,
           max(g.newest) AS newest, coalesce(bool_or(g.odd), false) AS odd,
           array_agg(g.k) AS scales, array_agg(g.total::text) AS totals
    FROM (
        SELECT k, count(*) AS n, min(value) AS lo, max(value) AS hi, max(seq) AS last_seq,
               max(time) FILTER (WHERE time <> 0) AS newest,
               bool_or(NOT plain OR exact IS NOT NULL
                       OR time IN ('NaN', 'Infinity', '-Infinity')) AS odd,
               coalesce(sum((value * power(2::float8, k))::bigint) FILTER (WHERE plain), 0)
                   AS total
        FROM (
            SELECT value, seq, time, exact, plain,
                   CASE WHEN plain AND value <> 0
                        THEN 54 - floor(ln(abs(value)) * 1.4426950408889634)::integer
                        ELSE 0 END AS k
            FROM expm_points,
                 LATERAL (SELECT value = 0 OR (abs(value) >= %(small)s
                                               AND abs(value) < %(large)s) AS plain) AS p
            WHERE series = s.id
        ) AS scaled
        GROUP BY k
    ) AS g
) AS a
LEFT JOIN LATERAL (
    SELECT seq, value, step FROM expm_points WHERE series = s.id AND value = a.lo
    ORDER BY seq LIMIT 1
) AS lo ON true
LEFT JOIN LATERAL (
    SELECT seq, value, step FROM expm_points WHERE series = s.id AND value = a.hi
    ORDER BY seq LIMIT 1
) AS hi ON true
LEFT JOIN LATERAL (
    SELECT value FROM expm_points WHERE series = s.id AND seq = a.last_seq
) AS la ON true
WHERE s.experiment = %(pk)s AND s.version = %(version)s
ORDER BY s.id
"""


class _ExactSum:
    """A sum of floats kept exactly, as ``numerator / 2**scale``."""

    __slots__ = ("numerator", "scale")

    def __init__(self) -> None:
        self.numerator = 0
        self.scale = 0

    def add(self, numerator: int, scale: int) -> None:
        """Add ``numerator / 2**scale`` (a negative scale multiplies)."""
        if scale < 0:
            numerator, scale = numerator << -scale, 0
        if scale > self.scale:
            self.numerator <<= scale - self.scale
            self.scale = scale
        self.numerator += numerator << (self.scale - scale)

    def add_float(self, value: float) -> None:
        """Add one finite float exactly."""
        numerator, denominator = value.as_integer_ratio()
        self.add(numerator, denominator.bit_length() - 1)

    def rounded(self) -> float:
        """The sum rounded once, as ``math.fsum`` gives it (int division rounds so).

        Raises:
            OverflowError: The sum is too large for a float.
        """
        return self.numerator / (1 << self.scale)


class _Metric:
    """One metric's running aggregates: the server's, then the journal's points."""

    __slots__ = ("count", "high", "last", "low", "newest", "stepped", "total")

    def __init__(self, stepped: bool) -> None:
        self.stepped = stepped
        self.count = 0
        self.last: float | None = None
        self.low: tuple[float, Any] | None = None  # (value, step) of the first minimum
        self.high: tuple[float, Any] | None = None
        self.newest: float | None = None
        self.total = _ExactSum()

    def add(self, values: list[Any], steps: list[Any], times: list[Any]) -> bool:
        """Append journal points; False for a value this summary does not handle."""
        if not all(type(v) is float and abs(v) < LARGE for v in values):  # NaN fails too
            return False
        if any(t is not None and not math.isfinite(t) for t in times):
            return False
        for offset, value in enumerate(values):
            step = steps[offset] if steps[offset] is not None else self.count + offset
            if self.low is None or value < self.low[0]:
                self.low = (value, step)
            if self.high is None or value > self.high[0]:
                self.high = (value, step)
        newest = [t for t in times if t]
        if newest:
            self.newest = max([*newest, *([self.newest] if self.newest else [])])
        self.count += len(values)
        self.last = values[-1] if values else self.last
        for value in values:
            self.total.add_float(value)
        return True

    def result(self) -> dict[str, Any] | None:
        """The metric's summary as :func:`.summary_of` gives it, or None (the whole read's)."""
        if self.count == 0:
            return dict(summary_of([], None, True))
        if self.total.numerator == 0:  # fsum's sign of a zero sum varies between versions
            return None
        try:
            total = self.total.rounded()
        except OverflowError:
            return None
        assert self.low is not None
        assert self.high is not None
        return {
            "last": self.last,
            "min": self.low[0],
            "max": self.high[0],
            "mean": total / self.count,
            "count": self.count,
            "argmin_step": self.low[1],
            "argmax_step": self.high[1],
        }


def summary(
    connection: psycopg.Connection[Any],
    pk: int,
    record: dict[str, Any],
    journal: bytes,
    source: str,
) -> dict[str, Any] | None:
    """A running version's summary (stored form), or None to read it whole.

    Args:
        connection: A connection in the snapshot ``record`` was read in.
        pk: The experiment's row id.
        record: The version's row as a stored record without points (its fields,
            status and journal position).
        journal: This host's complete journal lines after the shipped offset.
        source: Names the journal in error messages.

    Returns:
        What ``_index.summarize`` gives for the whole version, or None.

    Raises:
        CorruptHistoryError: A journal line cannot be parsed.
    """
    version = record["version"]
    metrics: dict[str, _Metric] = {}
    params = {"pk": pk, "version": version, "small": SMALL, "large": LARGE}
    with connection.cursor(binary=True) as cursor:
        cursor.execute(AGGREGATES, params)
        for row in cursor:
            name, stepped, count, odd, newest, scales, totals = row[:7]
            if odd:
                return None
            one = _Metric(bool(stepped))
            metrics[name] = one
            if count:
                lo_seq, lo_value, lo_step, hi_seq, hi_value, hi_step, last = row[7:]
                one.count = int(count)
                one.low = (float(lo_value), lo_seq if lo_step is None or not stepped else lo_step)
                one.high = (float(hi_value), hi_seq if hi_step is None or not stepped else hi_step)
                one.last = float(last)
                one.newest = float(newest) if newest is not None and stepped else None
                for scale, total in zip(scales, totals, strict=True):
                    one.total.add(int(total), scale)
    if journal:
        tail: dict[str, Any] = {"metrics": {}, "steps": {}, "timestamps": {}}
        apply_journal(tail, journal, source)
        for name, values in tail["metrics"].items():
            known = metrics.get(name)
            if known is None:
                one = metrics[name] = _Metric(True)
            elif not known.stepped:  # its steps would be padded: left to the whole read
                return None
            else:
                one = known
            if not one.add(values, tail["steps"][name], tail["timestamps"][name]):
                return None
    summaries = {}
    for name, one in metrics.items():
        result = one.result()
        if result is None:
            return None
        summaries[name] = result
    out = _index.summarize({**record, "metrics": {}, "steps": {}, "timestamps": {}})
    out["metric_summaries"] = summaries
    newest = max((m.newest for m in metrics.values() if m.stepped and m.newest), default=0)
    out["last_logged_at"] = _index.logged_at(newest)
    return out
