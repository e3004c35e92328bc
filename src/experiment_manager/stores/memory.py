"""An in-memory store: the reference backend the contract tests run beside the others."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from experiment_manager import _serialize
from experiment_manager.stores.base import Store, StoredVersion

__all__ = ["MemoryStore"]

T = TypeVar("T")


class MemoryStore(Store):
    """Keeps each experiment's versions as encoded JSON in a dict; thread-safe.

    Storing the encoded bytes (not live objects) gives callers the same copy
    semantics, and the same refusal of non-JSON data, as the file store.

    Example:
        >>> store = MemoryStore()
        >>> store.create_version("exp", {})["version"], store.experiment_ids()
        (1, ['exp'])
    """

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._lock = threading.RLock()

    def transact(self, experiment_id: str, change: Callable[[list[StoredVersion]], T]) -> T:
        """Apply ``change`` under a process-wide lock; see :meth:`Store.transact`."""
        with self._lock:
            versions = self.load(experiment_id)
            result = change(versions)
            self._data[experiment_id] = _serialize.dumps(versions)
        return result

    def load(self, experiment_id: str) -> list[StoredVersion]:
        """Return a fresh copy of an experiment's versions; see :meth:`Store.load`."""
        with self._lock:
            data = self._data.get(experiment_id)
        return [] if data is None else list(_serialize.loads(data))

    def experiment_ids(self) -> list[str]:
        """Return the ids stored so far, sorted; see :meth:`Store.experiment_ids`."""
        with self._lock:
            return sorted(self._data)
