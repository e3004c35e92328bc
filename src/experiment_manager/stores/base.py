"""The store interface: a few primitives that every backend implements.

A store keeps, per experiment id, the list of its versions in *stored form*: plain
JSON data exactly as it is written to disk (non-finite numbers as the strings and tags
described in :mod:`experiment_manager._serialize`). Backends implement three
primitives (:meth:`Store.transact`, :meth:`Store.load`, :meth:`Store.experiment_ids`);
everything else is built on them here, once, so all backends behave alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from experiment_manager import _serialize
from experiment_manager.errors import ExperimentNotFoundError

__all__ = ["FORMAT_VERSION", "Store", "StoredVersion"]

#: The number written as ``"format"`` in every history document.
FORMAT_VERSION = 1

StoredVersion = dict[str, Any]
T = TypeVar("T")


class Store(ABC):
    """Where versions live. Subclasses implement the three abstract primitives.

    Example:
        >>> from experiment_manager.stores.memory import MemoryStore
        >>> store = MemoryStore()
        >>> store.create_version("exp", {"config_name": "exp"})["version"]
        1
    """

    @abstractmethod
    def transact(self, experiment_id: str, change: Callable[[list[StoredVersion]], T]) -> T:
        """Apply ``change`` to an experiment's versions atomically and persist the result.

        The backend locks the experiment against every other writer (threads and
        processes), loads its current versions, calls ``change`` on that list (which
        it may modify in place), then stores the list and releases the lock. If
        ``change`` raises, nothing is stored.

        Args:
            experiment_id: A validated experiment id.
            change: Called once with the list of stored versions (empty for a new id).

        Returns:
            What ``change`` returned.
        """

    @abstractmethod
    def load(self, experiment_id: str) -> list[StoredVersion]:
        """Return an experiment's versions in stored form, or ``[]`` for an unknown id.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            A list the caller may keep and modify.
        """

    @abstractmethod
    def experiment_ids(self) -> list[str]:
        """Return every experiment id that has a history, sorted.

        Returns:
            The ids.
        """

    def create_version(self, experiment_id: str, fields: Mapping[str, Any]) -> StoredVersion:
        """Allocate the next version number of an experiment and store a new version.

        Numbers go 1, 2, 3, ... without gaps or duplicates, also when many processes
        start the same experiment at once, because they are allocated under the lock.

        Args:
            experiment_id: A validated experiment id.
            fields: The version's other fields in stored form (``created_at``,
                ``config_name``, ``hyperparameters``, ``metadata``, ...).

        Returns:
            The new version as stored (a copy).

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> _ = store.create_version("exp", {})
            >>> store.create_version("exp", {})["version"]
            2
        """

        def change(versions: list[StoredVersion]) -> StoredVersion:
            number = max((v["version"] for v in versions), default=0) + 1
            record: StoredVersion = {"experiment_id": experiment_id, "version": number}
            record.update(fields)
            record.setdefault("metrics", {})
            record.setdefault("checkpoints", [])
            versions.append(record)
            copied: StoredVersion = _serialize.loads(_serialize.dumps(record))
            return copied

        return self.transact(experiment_id, change)

    def append(
        self,
        experiment_id: str,
        version: int,
        metrics: Mapping[str, Sequence[Any]] | None = None,
        checkpoints: Sequence[str] = (),
    ) -> None:
        """Append metric values and checkpoint paths to one version.

        Args:
            experiment_id: A validated experiment id.
            version: The version to extend.
            metrics: Metric name to values in stored form; each list is extended.
            checkpoints: Paths appended to the version's ``checkpoints``.

        Raises:
            ExperimentNotFoundError: The version does not exist.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> _ = store.create_version("exp", {})
            >>> store.append("exp", 1, {"loss": [0.5]}, ["a.ckpt"])
            >>> store.load("exp")[0]["metrics"]
            {'loss': [0.5]}
        """

        def change(versions: list[StoredVersion]) -> None:
            record = find_version(versions, experiment_id, version)
            stored_metrics = record.setdefault("metrics", {})
            for name, values in (metrics or {}).items():
                stored_metrics.setdefault(name, []).extend(values)
            record.setdefault("checkpoints", []).extend(checkpoints)

        self.transact(experiment_id, change)

    def read_history(self, experiment_id: str) -> list[dict[str, Any]]:
        """Return every version of an experiment with numbers decoded, in version order.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            One dict per version; ``[]`` for an id that never ran.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> _ = store.create_version("exp", {"metrics": {"loss": ["NaN"]}})
            >>> store.read_history("exp")[0]["metrics"]
            {'loss': [nan]}
        """
        versions = self.load(experiment_id)
        versions.sort(key=lambda v: v["version"])
        return [decode_version(v) for v in versions]


def find_version(versions: list[StoredVersion], experiment_id: str, version: int) -> StoredVersion:
    """Return the stored version numbered ``version``.

    Args:
        versions: An experiment's stored versions.
        experiment_id: The experiment's id, for the error message.
        version: The number wanted.

    Returns:
        The version's dict (not a copy).

    Raises:
        ExperimentNotFoundError: No version has that number.

    Example:
        >>> find_version([{"version": 1}], "exp", 1)
        {'version': 1}
    """
    for record in reversed(versions):
        if record.get("version") == version:
            return record
    raise ExperimentNotFoundError(experiment_id, version)


def decode_version(stored: StoredVersion) -> dict[str, Any]:
    """Turn one stored version into the dict ``read_history`` returns.

    Args:
        stored: A version in stored form; it is modified and returned.

    Returns:
        The version with metric values as numbers and non-finite tags in
        hyperparameters and metadata turned back into floats.

    Example:
        >>> decode_version({"metrics": {"acc": [1, "-Infinity"]}, "hyperparameters": {}})
        {'metrics': {'acc': [1, -inf]}, 'hyperparameters': {}}
    """
    for key in ("hyperparameters", "metadata"):
        if key in stored:
            stored[key] = _serialize.from_json(stored[key])
    metrics = stored.get("metrics")
    if metrics:
        stored["metrics"] = {
            name: _serialize.decode_metric_values(values) for name, values in metrics.items()
        }
    return stored
