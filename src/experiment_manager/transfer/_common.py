"""What migrate and sync share: opening both stores, portable records, batches."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple, Union

from experiment_manager._naming import case_twin, validate_experiment_id
from experiment_manager.errors import (
    CorruptHistoryError,
    ExperimentIdCollisionError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    NotAHistoryError,
)

if TYPE_CHECKING:
    from experiment_manager.stores.base import Store, StoredVersion
    from experiment_manager.transfer._report import TransferReport

__all__ = [
    "MAX_BATCH_POINTS",
    "MAX_BATCH_VERSIONS",
    "Counter",
    "Endpoint",
    "Location",
    "Progress",
    "batches",
    "canonical",
    "corrupt_entry",
    "open_endpoints",
    "portable",
    "refuse_case_twins",
    "replacement",
    "selected_ids",
    "unreadable",
]

#: A store given by its ``log_dir`` (a folder or a URI) or as a store object.
Location = Union[str, "os.PathLike[str]", "Store"]
#: ``progress(done, total)``, in versions.
Progress = Callable[[int, int], None]

#: One write of the destination holds at most this many versions ...
MAX_BATCH_VERSIONS = 500
#: ... and about this many metric values, so memory and each write stay bounded.
MAX_BATCH_POINTS = 1_000_000


class Counter:
    """Versions handled so far, reported through a ``progress`` callback.

    Args:
        total: Versions expected in all.
        progress: The callback, or None.

    Example:
        >>> seen = []
        >>> Counter(2, lambda done, total: seen.append((done, total))).add(3)
        >>> seen
        [(3, 3)]
    """

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self._progress = progress
        self._reported = False

    def add(self, count: int) -> None:
        """Count ``count`` more versions as handled and report it.

        Args:
            count: How many.
        """
        if count == 0 and self._reported:
            return
        self.done += count
        self.total = max(self.total, self.done)  # versions started meanwhile
        self._reported = True
        if self._progress is not None:
            self._progress(self.done, self.total)


class Endpoint(NamedTuple):
    """An open store and how reports name it."""

    store: Store
    name: str


def _open(location: Location, role: str) -> Endpoint:
    from experiment_manager.stores import Store, is_database_uri, open_store, redact

    if isinstance(location, Store):
        return Endpoint(location, f"<{type(location).__name__} {id(location):#x}>")
    if not isinstance(location, (str, os.PathLike)):
        raise InvalidArgumentError(role, location, "must be a folder path, a URI or a Store")
    text = os.fspath(location)
    if not isinstance(text, str) or not text:
        raise InvalidArgumentError(role, location, "must be a non-empty folder path or URI")
    if is_database_uri(text):
        return Endpoint(open_store(text), redact(text))
    folder = os.path.abspath(text)
    if role == "source" and not os.path.isdir(folder):
        raise InvalidArgumentError(role, folder, "is not a folder")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InvalidArgumentError(role, folder, "is not a folder")
    return Endpoint(open_store(folder), folder)


def open_endpoints(source: Location, dest: Location) -> tuple[Endpoint, Endpoint]:
    """Open the source and the destination, refusing one store given twice.

    Args:
        source: Where versions are read.
        dest: Where they are written.

    Returns:
        Both endpoints.

    Raises:
        InvalidArgumentError: A location is not a store, a source folder does not
            exist, or both name the same store.
    """
    if source is dest:
        raise InvalidArgumentError("dest", dest, "is the source")
    opened = _open(source, "source"), _open(dest, "dest")
    if opened[0].name == opened[1].name or _same_folder(source, dest):
        raise InvalidArgumentError("dest", opened[1].name, "is the source")
    return opened


def _same_folder(source: Location, dest: Location) -> bool:
    """Whether two folder locations are one folder (through links, say)."""
    try:
        paths = [os.fspath(x) for x in (source, dest)]  # type: ignore[arg-type]
        return os.path.samefile(paths[0], paths[1])
    except (TypeError, OSError, ValueError):
        return False


def selected_ids(store: Store, experiment_ids: Sequence[str] | None) -> list[str]:
    """The source's ids to transfer: all, or those asked for (each must exist).

    Args:
        store: The source.
        experiment_ids: Ids asked for, or None for every one.

    Returns:
        Sorted ids.

    Raises:
        InvalidExperimentIdError: An asked-for id is not a valid id.
        ExperimentNotFoundError: An asked-for id has no history in the source.
    """
    known = store.experiment_ids()
    if experiment_ids is None:
        return known
    present = set(known)
    wanted = []
    for experiment_id in experiment_ids:
        validate_experiment_id(experiment_id)
        if experiment_id not in present:
            raise ExperimentNotFoundError(experiment_id)
        wanted.append(experiment_id)
    return sorted(set(wanted))


def refuse_case_twins(dest: Store, experiment_ids: Sequence[str]) -> None:
    """Refuse ids the destination lacks whose case twin it has, before anything is written.

    ``exp`` and ``Exp`` would share one file on macOS and Windows; the ids copied
    together count too (a source on Linux may hold both).

    Args:
        dest: The destination.
        experiment_ids: The ids to copy.

    Raises:
        ExperimentIdCollisionError: One would be a new twin; ``existing`` names the
            id it collides with.

    Example:
        >>> from experiment_manager.stores.memory import MemoryStore
        >>> store = MemoryStore()
        >>> _ = store.create_version("exp", {})
        >>> refuse_case_twins(store, ["exp", "other"])
        >>> refuse_case_twins(store, ["EXP"])
        Traceback (most recent call last):
        ...
        experiment_manager.errors.ExperimentIdCollisionError: ...
    """
    known = set(dest.experiment_ids())
    for experiment_id in sorted(experiment_ids):
        if experiment_id in known:
            continue
        twin = case_twin(experiment_id, known)
        if twin is not None:
            raise ExperimentIdCollisionError(experiment_id, twin)
        known.add(experiment_id)


def portable(record: StoredVersion) -> StoredVersion:
    """A stored version without the source backend's bookkeeping (keys starting ``_``).

    Journal offsets and revisions describe the source's files; the destination
    keeps its own.

    Args:
        record: A version in stored form, as a reader sees it.

    Returns:
        A new dict sharing the values.

    Example:
        >>> portable({"version": 1, "_revision": 3, "_journal_offset": 0})
        {'version': 1}
    """
    return {key: value for key, value in record.items() if not key.startswith("_")}


def canonical(record: StoredVersion, *, leave_out: Sequence[str] = ()) -> bytes:
    """A version's portable content as bytes two equal versions share exactly.

    Keys are sorted and ints stay distinct from floats (``1`` is not ``1.0``), so
    equal bytes mean a lossless copy. A top-level field that is an empty list or
    mapping counts as absent: backends may leave such fields out (a version
    without streamed points has no ``steps`` in a database).

    Args:
        record: A version in stored form.
        leave_out: Keys not compared (a sync's ``version`` and ``origin``).

    Returns:
        The encoding.

    Example:
        >>> canonical({"b": 1, "a": 1.0, "_revision": 2}) == canonical({"a": 1.0, "b": 1})
        True
        >>> canonical({"a": 1, "steps": {}}) == canonical({"a": 1})
        True
        >>> canonical({"a": 1}) == canonical({"a": 1.0})
        False
    """
    import orjson

    content = {
        key: value
        for key, value in portable(record).items()
        if key not in leave_out and value not in ({}, [])
    }
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def replacement(fields: StoredVersion, keep: Sequence[str] = ()) -> Callable[[StoredVersion], None]:
    """A change for ``update_version`` that makes a stored version ``fields``.

    The destination's own bookkeeping (keys starting ``_``) and the keys in
    ``keep`` stay as they are.

    Args:
        fields: The new content, in stored form.
        keep: Keys of the stored version to keep (a sync keeps ``version`` and
            ``origin``).

    Returns:
        The change.

    Example:
        >>> stored = {"version": 4, "status": "crashed", "_revision": 2}
        >>> replacement({"version": 1, "status": "finished"}, keep=["version"])(stored)
        >>> stored
        {'version': 4, 'status': 'finished', '_revision': 2}
    """

    def change(stored: StoredVersion) -> None:
        kept = {key: value for key, value in stored.items() if key.startswith("_") or key in keep}
        stored.clear()
        stored.update(fields)
        stored.update(kept)

    return change


def _points(record: StoredVersion) -> int:
    return sum(len(values) for values in (record.get("metrics") or {}).values())


def batches(records: Sequence[StoredVersion]) -> Iterator[list[StoredVersion]]:
    """Cut versions into writes of a bounded size.

    Each holds at most :data:`MAX_BATCH_VERSIONS` versions and about
    :data:`MAX_BATCH_POINTS` values (a bigger version goes alone).

    Args:
        records: Versions in order.

    Yields:
        Consecutive runs of them.

    Example:
        >>> [len(b) for b in batches([{"metrics": {"x": [0] * 600_000}}] * 3)]
        [1, 1, 1]
    """
    batch: list[StoredVersion] = []
    points = 0
    for record in records:
        size = _points(record)
        if batch and (len(batch) >= MAX_BATCH_VERSIONS or points + size > MAX_BATCH_POINTS):
            yield batch
            batch, points = [], 0
        batch.append(record)
        points += size
    if batch:
        yield batch


def corrupt_entry(role: str, experiment_id: str, error: CorruptHistoryError) -> dict[str, str]:
    """How a report lists a history that could not be read.

    Args:
        role: ``"source"`` or ``"dest"``.
        experiment_id: The experiment.
        error: What reading it raised.

    Returns:
        ``{"store", "experiment_id", "path", "reason"}``.

    Example:
        >>> corrupt_entry("source", "e", CorruptHistoryError("/l/e.json", "not JSON"))["path"]
        '/l/e.json'
    """
    return {
        "store": role,
        "experiment_id": experiment_id,
        "path": str(error.path),
        "reason": error.reason,
    }


def unreadable(
    report: TransferReport, role: str, experiment_id: str, error: CorruptHistoryError
) -> None:
    """List a history that could not be read: as corrupt, or as foreign (no history at all).

    Args:
        report: The report to add it to.
        role: ``"source"`` or ``"dest"``.
        experiment_id: The experiment.
        error: What reading it raised.

    Example:
        >>> from experiment_manager.transfer import TransferReport
        >>> report = TransferReport("sync", "a", "b", False)
        >>> unreadable(report, "source", "config", NotAHistoryError("/l/config.json", "no"))
        >>> len(report.foreign), report.ok
        (1, True)
    """
    found = report.foreign if isinstance(error, NotAHistoryError) else report.corrupt
    found.append(corrupt_entry(role, experiment_id, error))
