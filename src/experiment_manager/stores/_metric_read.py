"""What a fast read of one metric of many versions gives (see :meth:`Store.read_metric`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Columns", "MetricRead", "VersionColumns"]


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
        identity: The experiment's :meth:`~.Store.history_identity` when read.
        versions: One entry per version, in version order.
    """

    identity: object
    versions: list[VersionColumns]

    @property
    def points(self) -> int:
        """How many numbers are held (for a cache's memory bound)."""
        return sum(
            len(v.columns.values) + len(v.columns.steps) + len(v.columns.times)
            for v in self.versions
        )
