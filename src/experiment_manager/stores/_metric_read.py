"""What a fast read of one metric of many versions gives (see :meth:`Store.read_metric`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Columns", "MetricRead", "SeriesRequest", "VersionColumns"]


@dataclass(frozen=True)
class Columns:
    """A metric of one version as arrays, in logging order.

    Attributes:
        values: The values (NaN and infinities included).
        steps: The step of each value (NaN: none), possibly shorter than ``values``.
        times: The wall time of each value (NaN: none), possibly shorter.
    """

    values: np.ndarray
    steps: np.ndarray
    times: np.ndarray


@dataclass(frozen=True)
class VersionColumns:
    """One version's status and the metric's columns."""

    version: int
    status: str
    columns: Columns


@dataclass(frozen=True)
class MetricRead:
    """One metric of every version of an experiment, as read from one stored state.

    Attributes:
        identity: The experiment's :meth:`~.Store.history_identity` when read, or
            None when the read must not be reused (a version was running).
        versions: One entry per version, in version order.
        load: When set, each version's columns are read on first use, by this
            (a database reads only the versions a chart asks for); the
            ``columns`` in ``versions`` are then empty placeholders.
    """

    identity: object
    versions: list[VersionColumns]
    load: Callable[[int], Columns] | None = None

    @property
    def points(self) -> int:
        """How many numbers are held (for a cache's memory bound)."""
        return sum(
            len(v.columns.values) + len(v.columns.steps) + len(v.columns.times)
            for v in self.versions
        )


@dataclass(frozen=True)
class SeriesRequest:
    """What a chart asks of one metric of one version (see :meth:`.Store.read_series`).

    Attributes:
        x: ``step``, ``time`` or ``index``.
        start: The smallest x wanted, or None.
        end: The largest x wanted, or None.
        buckets: Equal-width x buckets of min/max points; 0 for every point.
    """

    x: str
    start: float | None
    end: float | None
    buckets: int
