"""Small LRU caches of parsed histories and of plotted metrics.

Two kinds of entries: a whole parsed history (:class:`CachedHistory`, for the
endpoints that need every field), and one metric of every version read straight from
the file (the store's ``read_metric``, for curves: several times faster than a full
parse of a big history). :meth:`HistoryCache.curves` uses a whole history when one is cached,
else the direct read, else (a running version, anything unusual) the whole history.

An entry is valid while the history file's identity
(:meth:`~experiment_manager.stores.base.Store.history_identity`, which changes
whenever the file is rewritten) is the one it was read with. A history with a
``running`` version is never kept: its journal grows without the file changing, so
it is read again on every request. Each entry also memoises what is derived from it
(sorted series, reduced views), so a zoomed request costs a bisect and a downsample.

Whole histories are at most ``size`` entries, metric reads at most ``metric_size`` (a
workspace shows a panel per metric: a screen of them must not evict one another), and
each kind, beyond its newest entry, at most ``max_points`` numbers in all, so a few
huge histories cannot fill memory.

Example:
    >>> import tempfile
    >>> from experiment_manager import ExperimentManager
    >>> manager = ExperimentManager(tempfile.mkdtemp())
    >>> _ = manager.start_experiment("exp", {}, {})
    >>> manager.log_metrics({"loss": [0.5, 0.4]})
    >>> _ = manager.end_experiment()
    >>> cache = HistoryCache(manager)
    >>> cache.get("exp").record(1)["metrics"]
    {'loss': [0.5, 0.4]}
    >>> cache.get("exp") is cache.get("exp")
    True
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from experiment_manager._naming import validate_experiment_id
from experiment_manager.errors import ExperimentNotFoundError
from experiment_manager.web._series import Columns, Series, columns_of, prepare

if TYPE_CHECKING:
    from experiment_manager.manager import ExperimentManager

__all__ = ["CachedHistory", "Curves", "HistoryCache"]

T = TypeVar("T")


class _Memo:
    """Values derived from an entry, each computed once."""

    def __init__(self) -> None:
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._memo_lock = threading.Lock()

    def memo(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """Return ``compute()``, computed once per key for this entry.

        Args:
            key: What the value is derived from (such as version, metric and x axis).
            compute: Makes the value.

        Returns:
            The value.
        """
        with self._memo_lock:
            if key in self._memo:
                return self._memo[key]  # type: ignore[no-any-return]
        value = compute()
        with self._memo_lock:
            return self._memo.setdefault(key, value)  # type: ignore[no-any-return]


class Curves(_Memo):
    """One metric of every version of an experiment, ready to plot.

    Args:
        experiment_id: The experiment.
        statuses: Each version's status, by version number.
        columns: Gives a version's columns of the metric.
    """

    def __init__(
        self,
        experiment_id: str,
        statuses: dict[int, Any],
        columns: Callable[[int], Columns],
    ) -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self._statuses = statuses
        self._columns = columns

    @property
    def versions(self) -> list[int]:
        """The version numbers, ascending."""
        return sorted(self._statuses)

    def status(self, version: int) -> Any:
        """Return a version's status.

        Args:
            version: The version number.

        Returns:
            The status string.

        Raises:
            ExperimentNotFoundError: No such version.
        """
        try:
            return self._statuses[version]
        except KeyError:
            raise ExperimentNotFoundError(self.experiment_id, version) from None

    def series(self, version: int, x: str) -> Series:
        """Return a version's points sorted along the x axis ``x`` (memoised).

        Args:
            version: The version number.
            x: One of the x axes of :mod:`._series`.

        Returns:
            The series.

        Raises:
            ExperimentNotFoundError: No such version.
            ValueError: ``x`` is not an x axis.
        """
        self.status(version)
        return self.memo(("series", version, x), lambda: prepare(self._columns(version), x))


class CachedHistory(_Memo):
    """One experiment's records as ``read_history`` returned them, plus memoised data.

    Args:
        experiment_id: The experiment.
        records: Its records, in version order.
        identity: The history file's identity when read (None: do not cache).
    """

    def __init__(self, experiment_id: str, records: list[dict[str, Any]], identity: object) -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self.records = records
        self.identity = identity
        self.live = any(r.get("status") == "running" for r in records)
        self.points = sum(len(v) for r in records for v in (r.get("metrics") or {}).values())
        self._by_version = {r["version"]: r for r in records}

    def record(self, version: int) -> dict[str, Any]:
        """Return one version's record.

        Args:
            version: The version number.

        Returns:
            The record (shared: never modify it).

        Raises:
            ExperimentNotFoundError: No such version.
        """
        try:
            return self._by_version[version]
        except KeyError:
            raise ExperimentNotFoundError(self.experiment_id, version) from None

    def curves(self, metric: str) -> Curves:
        """Return one metric of every version (memoised).

        Args:
            metric: The metric's name.

        Returns:
            The curves.
        """

        def make() -> Curves:
            statuses = {number: r.get("status") for number, r in self._by_version.items()}
            return Curves(
                self.experiment_id, statuses, lambda v: columns_of(self._by_version[v], metric)
            )

        return self.memo(("curves", metric), make)


class _MetricEntry:
    """One metric of an experiment, read straight from its history file.

    ``curves`` is None when the direct read declined that state of the file.
    """

    def __init__(self, curves: Curves | None, identity: object, points: int) -> None:
        self.curves = curves
        self.identity = identity
        self.points = points


class HistoryCache:
    """Parsed histories by experiment id, least recently used first out.

    Args:
        manager: Reads the histories and the store's file identities.
        size: At most this many histories are kept.
        metric_size: At most this many metric reads (one metric of one experiment along
            one x axis) are kept.
        max_points: At most this many metric values are kept in all (the newest
            history is kept whatever its size).
    """

    def __init__(
        self,
        manager: ExperimentManager,
        size: int = 4,
        max_points: int = 20_000_000,
        metric_size: int = 128,
    ) -> None:
        self._manager = manager
        self._size = size
        self._metric_size = metric_size
        self._max_points = max_points
        self._entries: OrderedDict[str, CachedHistory] = OrderedDict()
        self._metrics: OrderedDict[tuple[str, str, str], _MetricEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._reading: dict[str | tuple[str, str, str], threading.Lock] = {}

    def curves(self, experiment_id: str, metric: str, x: str) -> Curves:
        """Return one metric of every version of an experiment, as current as the file.

        Args:
            experiment_id: The experiment.
            metric: The metric's name.
            x: The x axis the curves are wanted along (what a direct read reads).

        Returns:
            The curves: from a cached whole history when there is one, else read
            straight from the file, else (a running version, anything unusual) from
            a whole history read as :meth:`get` does.

        Raises:
            InvalidExperimentIdError: The id is not a safe file name.
            ExperimentNotFoundError: The experiment never ran.
            CorruptHistoryError: The history file cannot be parsed.
        """
        validate_experiment_id(experiment_id)
        key = (experiment_id, metric, x)
        # One read per metric at a time (concurrent requests for it share the result);
        # different metrics, the panels of a workspace, are read side by side.
        with self._exclusive(key):
            identity = self._manager.store.history_identity(experiment_id)
            with self._lock:
                entry = self._entries.get(experiment_id)
                if entry is not None and identity is not None and entry.identity == identity:
                    self._entries.move_to_end(experiment_id)
                    return entry.curves(metric)
                known = self._metrics.get(key)
                if known is not None and identity is not None and known.identity == identity:
                    self._metrics.move_to_end(key)
                    if known.curves is not None:
                        return known.curves
                    declined = True  # the same file as last time: read it whole at once
                else:
                    declined = False
            store = self._manager.store
            read = None if declined else store.read_metric(experiment_id, metric, x)
            if read is None or not read.versions:
                if not declined and identity is not None:
                    # A running version keeps its history file unchanged while its
                    # journal grows: remember the answer rather than parse it again.
                    with self._lock:
                        self._metrics[key] = _MetricEntry(None, identity, 0)
                        self._evict(self._metrics, self._metric_size)
                with self._exclusive(experiment_id):  # one whole read per experiment
                    return self._read(experiment_id).curves(metric)
            by_version = {v.version: v.columns for v in read.versions}
            curves = Curves(
                experiment_id,
                {v.version: v.status for v in read.versions},
                read.load or by_version.__getitem__,
            )
            with self._lock:
                self._metrics[key] = _MetricEntry(curves, read.identity, read.points)
                self._metrics.move_to_end(key)
                self._evict(self._metrics, self._metric_size)
            return curves

    def get(self, experiment_id: str) -> CachedHistory:
        """Return an experiment's current history, from the cache when still valid.

        Args:
            experiment_id: The experiment.

        Returns:
            The history; with a running version, always freshly read.

        Raises:
            InvalidExperimentIdError: The id is not a safe file name.
            ExperimentNotFoundError: The experiment never ran.
            CorruptHistoryError: The history file cannot be parsed.
        """
        validate_experiment_id(experiment_id)
        with self._exclusive(experiment_id):
            return self._read(experiment_id)

    @contextlib.contextmanager
    def _exclusive(self, what: str | tuple[str, str, str]) -> Iterator[None]:
        """One read of ``what`` (an id, or one metric of it) at a time; others wait and share it."""
        with self._lock:
            reading = self._reading.setdefault(what, threading.Lock())
        with reading:
            yield
        with self._lock:
            if not reading.locked():
                self._reading.pop(what, None)

    def _read(self, experiment_id: str) -> CachedHistory:
        store = self._manager.store
        before = store.history_identity(experiment_id)
        with self._lock:
            entry = self._entries.get(experiment_id)
            if entry is not None and before is not None and entry.identity == before:
                self._entries.move_to_end(experiment_id)
                return entry
        records = self._manager.read_history(experiment_id)
        after = store.history_identity(experiment_id)
        if not records:
            raise ExperimentNotFoundError(experiment_id)
        entry = CachedHistory(experiment_id, records, after if after == before else None)
        with self._lock:
            if entry.identity is None or entry.live:
                self._entries.pop(experiment_id, None)
            else:
                self._entries[experiment_id] = entry
                self._entries.move_to_end(experiment_id)
                self._evict(self._entries, self._size)
        return entry

    def _evict(self, entries: OrderedDict[Any, Any], size: int) -> None:
        total = sum(e.points for e in entries.values())
        while len(entries) > 1 and (len(entries) > size or total > self._max_points):
            _, oldest = entries.popitem(last=False)
            total -= oldest.points

    def clear(self) -> None:
        """Forget every history."""
        with self._lock:
            self._entries.clear()
            self._metrics.clear()
