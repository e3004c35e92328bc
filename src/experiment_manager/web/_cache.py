"""A small LRU cache of parsed histories, for the endpoints that need every point.

An entry is valid while the history file's identity
(:meth:`~experiment_manager.stores.base.Store.history_identity`, which changes
whenever the file is rewritten) is the one it was read with. A history with a
``running`` version is never kept: its journal grows without the file changing, so
it is read again on every request. Each entry also memoises what is derived from it
(sorted series), so a zoomed request costs a bisect and a downsample only.

The cache holds at most ``size`` histories and, beyond the newest one, at most
``max_points`` metric values in all, so a few huge histories cannot fill memory.

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

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from experiment_manager._naming import validate_experiment_id
from experiment_manager.errors import ExperimentNotFoundError

if TYPE_CHECKING:
    from experiment_manager.manager import ExperimentManager

__all__ = ["CachedHistory", "HistoryCache"]

T = TypeVar("T")


class CachedHistory:
    """One experiment's records as ``read_history`` returned them, plus memoised data.

    Args:
        experiment_id: The experiment.
        records: Its records, in version order.
        identity: The history file's identity when read (None: do not cache).
    """

    def __init__(self, experiment_id: str, records: list[dict[str, Any]], identity: object) -> None:
        self.experiment_id = experiment_id
        self.records = records
        self.identity = identity
        self.live = any(r.get("status") == "running" for r in records)
        self.points = sum(len(v) for r in records for v in (r.get("metrics") or {}).values())
        self._by_version = {r["version"]: r for r in records}
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._memo_lock = threading.Lock()

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


class HistoryCache:
    """Parsed histories by experiment id, least recently used first out.

    Args:
        manager: Reads the histories and the store's file identities.
        size: At most this many histories are kept.
        max_points: At most this many metric values are kept in all (the newest
            history is kept whatever its size).
    """

    def __init__(
        self, manager: ExperimentManager, size: int = 4, max_points: int = 20_000_000
    ) -> None:
        self._manager = manager
        self._size = size
        self._max_points = max_points
        self._entries: OrderedDict[str, CachedHistory] = OrderedDict()
        self._lock = threading.Lock()
        self._reading: dict[str, threading.Lock] = {}

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
        with self._lock:
            reading = self._reading.setdefault(experiment_id, threading.Lock())
        with reading:  # one read per id at a time: concurrent requests share it
            entry = self._read(experiment_id)
        with self._lock:
            if not reading.locked():
                self._reading.pop(experiment_id, None)
        return entry

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
                self._evict()
        return entry

    def _evict(self) -> None:
        total = sum(e.points for e in self._entries.values())
        while len(self._entries) > 1 and (
            len(self._entries) > self._size or total > self._max_points
        ):
            _, oldest = self._entries.popitem(last=False)
            total -= oldest.points

    def clear(self) -> None:
        """Forget every history."""
        with self._lock:
            self._entries.clear()
