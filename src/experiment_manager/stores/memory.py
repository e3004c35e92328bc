"""An in-memory store: the reference backend the contract tests run beside the others."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from experiment_manager import _serialize
from experiment_manager._naming import refuse_case_twin
from experiment_manager.errors import ExperimentNotFoundError
from experiment_manager.stores.base import (
    JournalWriter,
    LiveHandle,
    Store,
    StoredVersion,
    new_record,
)

__all__ = ["MemoryStore"]

T = TypeVar("T")


class MemoryStore(Store):
    """Keeps each version as encoded JSON in a dict; thread-safe.

    Storing the encoded bytes (not live objects) gives callers the same copy
    semantics, and the same refusal of non-JSON data, as the file store.

    Example:
        >>> store = MemoryStore()
        >>> store.create_version("exp", {})["version"], store.experiment_ids()
        (1, ['exp'])
    """

    def __init__(self) -> None:
        self._data: dict[str, dict[int, bytes]] = {}
        self._writes: dict[str, int] = {}
        self._journals: dict[tuple[str, int, int], bytearray] = {}
        self._live: set[tuple[str, int]] = set()
        self._lock = threading.RLock()

    def create_version(
        self,
        experiment_id: str,
        fields: Mapping[str, Any],
        before_write: Callable[[int], None] | None = None,
    ) -> StoredVersion:
        """Allocate and store the next version; see :meth:`Store.create_version`."""
        with self._lock:
            versions = self._data.get(experiment_id, {})
            if not versions:
                refuse_case_twin(experiment_id, self.experiment_ids())
            number = max(versions, default=0) + 1
            if before_write is not None:
                before_write(number)
            record = new_record(experiment_id, number, fields)
            encoded = _serialize.dumps(record)
            self._data.setdefault(experiment_id, {})[number] = encoded
            self._wrote(experiment_id)
        copied: StoredVersion = _serialize.loads(encoded)
        return copied

    def update_version(
        self, experiment_id: str, version: int, change: Callable[[StoredVersion], T]
    ) -> T:
        """Change one version under a process-wide lock; see :meth:`Store.update_version`."""
        with self._lock:
            record = self.load_version(experiment_id, version)
            result = change(record)
            self._data[experiment_id][version] = _serialize.dumps(record)
            self._wrote(experiment_id)
        return result

    def load_version(self, experiment_id: str, version: int) -> StoredVersion:
        """Return a copy of one version; see :meth:`Store.load_version`."""
        with self._lock:
            data = self._data.get(experiment_id, {}).get(version)
        if data is None:
            raise ExperimentNotFoundError(experiment_id, version)
        record: StoredVersion = _serialize.loads(data)
        return record

    def latest_version(self, experiment_id: str) -> int | None:
        """The highest version number; see :meth:`Store.latest_version`."""
        with self._lock:
            return max(self._data.get(experiment_id, {}), default=None)

    def load_with_identity(self, experiment_id: str) -> tuple[list[StoredVersion], object]:
        """Return a fresh copy of an experiment's versions; see :meth:`Store.load_with_identity`."""
        with self._lock:
            data = sorted(self._data.get(experiment_id, {}).items())
            identity = self._writes.get(experiment_id)
        return [_serialize.loads(encoded) for _, encoded in data], identity

    def history_identity(self, experiment_id: str) -> object:
        """How many times a version was written; see :meth:`Store.history_identity`."""
        with self._lock:
            return self._writes.get(experiment_id)

    def experiment_ids(self) -> list[str]:
        """Return the ids stored so far, sorted; see :meth:`Store.experiment_ids`."""
        with self._lock:
            return sorted(self._data)

    def _wrote(self, experiment_id: str) -> None:
        self._writes[experiment_id] = self._writes.get(experiment_id, 0) + 1

    def open_journal(self, experiment_id: str, version: int, segment: int) -> JournalWriter:
        """Open an in-memory journal; see :meth:`Store.open_journal`."""
        with self._lock:
            buffer = self._journals.setdefault((experiment_id, version, segment), bytearray())
            del buffer[buffer.rfind(b"\n") + 1 :]
        return _MemoryJournal(buffer, self._lock)

    def read_journal(self, experiment_id: str, version: int, segment: int, offset: int) -> bytes:
        """Return journal bytes from ``offset`` on; see :meth:`Store.read_journal`."""
        with self._lock:
            return bytes(self._journals.get((experiment_id, version, segment), b"")[offset:])

    def remove_journal(self, experiment_id: str, version: int, segment: int) -> None:
        """Forget a folded journal; see :meth:`Store.remove_journal`."""
        with self._lock:
            self._journals.pop((experiment_id, version, segment), None)

    def hold_live(self, experiment_id: str, version: int) -> LiveHandle | None:
        """Mark a version live in this process; see :meth:`Store.hold_live`."""
        key = (experiment_id, version)
        with self._lock:
            if key in self._live:
                return None
            self._live.add(key)
        return _MemoryLive(self, key)

    def is_live(self, experiment_id: str, version: int) -> bool:
        """Whether a manager holds the version; see :meth:`Store.is_live`."""
        with self._lock:
            return (experiment_id, version) in self._live

    def _release(self, key: tuple[str, int]) -> None:
        with self._lock:
            self._live.discard(key)


class _MemoryJournal:
    def __init__(self, buffer: bytearray, lock: threading.RLock) -> None:
        self._buffer = buffer
        self._lock = lock

    def append(self, data: bytes) -> None:
        with self._lock:
            self._buffer += data

    def sync(self) -> None:
        """Nothing to flush in memory."""

    def close(self) -> None:
        """Nothing to close in memory."""


class _MemoryLive:
    def __init__(self, store: MemoryStore, key: tuple[str, int]) -> None:
        self._store: MemoryStore | None = store
        self._key = key

    def release(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store._release(self._key)
