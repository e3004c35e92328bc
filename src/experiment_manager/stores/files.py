"""The default store: a folder, one strict-JSON history document per experiment id.

Layout inside ``log_dir``::

    <id>.json                       the history: {"format": 2, "experiment_id", "versions"}
    .<id>.json.tmp                  only while a write is under way (or left by a killed writer)
    .expm/locks/<id>.lock           the OS lock every writer of the experiment holds
    .expm/locks/names/<id>.lock     held while a new id (folded to lower case) is created
    .expm/versions/<id>/<v>.<r>.json  revision r of version v, newer than the history's
    .expm/journals/<id>/<v>.<s>.jsonl  streamed points of a running version (JSON Lines)
    .expm/live/<id>/<v>.lock        the OS lock the process running version v holds
    .expm/layout/<id>.bin           where each version lies in the history (derived)
    .expm/index/<id>.json           per-version summaries (derived; rebuilt when stale)
    .expm/columns/<id>/<v>.<d>.bin  a finished version's points as float64 arrays (derived)

Every write changes one version and costs about that version's size. A history
smaller than :data:`DIRECT_BYTES` is rewritten by each write (its records copied as
bytes, the changed one encoded), so it always holds everything. A bigger one is not:
the write stores the version's new record as a *version file*, and the history is
rewritten with every version file folded in by a thread of a writer once a fold is
due (:data:`REFRESH_SECONDS` after the last one, or twenty times as long as the last
one took: folds take at most a twentieth of the time however big the history is),
once one is due after a version ends, and when the process exits. A fold copies the
unchanged records' bytes in the kernel and holds the experiment's lock only to rename
the new history in place. Readers merge version files over the history, so every
write is visible at once in any process. A file that cannot be
parsed raises :class:`~experiment_manager.errors.CorruptHistoryError` and is never
written over.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import errno
import os
import re
import sys
import threading
import time
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from experiment_manager import _serialize
from experiment_manager._naming import fold, refuse_case_twin, unsafe_reason
from experiment_manager.errors import (
    CorruptHistoryError,
    ExperimentManagerError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    LockTimeoutError,
    NotAHistoryError,
    StorageError,
)
from experiment_manager.models import VersionTable
from experiment_manager.stores import (
    _atomic,
    _columns,
    _document,
    _index,
    _index_file,
    _layout,
    _listing,
    _liveness,
    _shared_columns,
)
from experiment_manager.stores._metric_read import MetricRead
from experiment_manager.stores.base import (
    FORMAT_VERSION,
    JournalWriter,
    LiveHandle,
    Store,
    StoredVersion,
    decode_summary,
    new_record,
)

__all__ = ["DIRECT_BYTES", "HISTORY_SUFFIX", "INTERNAL_DIR", "REFRESH_SECONDS", "FileStore"]

T = TypeVar("T")

HISTORY_SUFFIX = ".json"
INTERNAL_DIR = ".expm"

#: Histories smaller than this (bytes) are rewritten by every write, which keeps the
#: document complete after every call. The rewrite and its fsync hold the experiment's
#: lock, so above this size writers sharing an id would queue on it (8 processes x 25
#: versions of 5 KB on one id: 2.3 s at 256 KiB, 1.5 s at 32 KiB, 0.9 s with one id
#: each); a version file is written and made durable outside the lock.
DIRECT_BYTES = 32 * 1024
#: Bigger histories are rewritten at most once every this many seconds.
REFRESH_SECONDS = 2.0

# A fold a call sets off starts this long after it, so the call returns first.
_FOLD_DELAY = 0.1
# Records kept for their next change (see FileStore._kept): one per version being written.
_KEPT_RECORDS = 4
# The bytes of version files written last, kept to skip re-checking them (FileStore._wrote).
_WROTE_FILES = 64
# Folds are spaced so that they take at most one part in this many of the time.
_FOLD_SHARE = 20
# Decoded layouts kept per store (one per experiment, 32 bytes per version).
_LAYOUTS_KEPT = 64
# A history renamed this recently may still be having its layout and index written.
_JUST_REPLACED_NS = 5_000_000_000
_VERSION_FILE = re.compile(r"([1-9][0-9]{0,18})\.([0-9]{1,19})\.json")
_ATTEMPTS = 20


class _Pending(NamedTuple):
    """The newest version file of a version."""

    revision: int
    name: str


class _Built(NamedTuple):
    """A history assembled for writing, and what it was made of."""

    content: _atomic.Pieces
    size: int
    layout: _layout.Layout
    chunks: dict[int, tuple[int, bytes, StoredVersion]]
    folded: list[str]
    previous_index: bytes | None
    file_seconds: float  # spent reading the version files


#: The fields of a record that hold its points.
_POINT_FIELDS = frozenset(("metrics", "steps", "timestamps"))


def _without_points(record: StoredVersion) -> StoredVersion:
    """A record's other fields (status and the like), kept once it is encoded and summarised."""
    return {key: value for key, value in record.items() if key not in _POINT_FIELDS}


class _CallerError(Exception):
    """An OSError raised by the records given to ``add_versions``: the caller's, not the store's.

    It is carried past the store's conversion of its own OSErrors into StorageError.
    """

    def __init__(self, original: OSError) -> None:
        super().__init__(original)
        self.original = original


def _from_caller(records: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """``records``, with an OSError they raise (a closed pipe...) marked as the caller's."""
    iterator = iter(records)
    while True:
        try:
            fields = next(iterator)
        except StopIteration:
            return
        except OSError as error:
            raise _CallerError(error) from error
        yield fields
        del fields  # not held while the next one is read


class _Snapshot(NamedTuple):
    """The history document as opened, and the version files present beside it."""

    data: bytes | None
    identity: list[int] | None
    pending: dict[int, _Pending]


class FileStore(Store):
    """Histories as JSON files in a folder; safe across threads and processes.

    Args:
        log_dir: The folder; it is created on the first write.
        lock_timeout: Seconds to wait for another live writer of the same experiment.

    Example:
        >>> import tempfile
        >>> store = FileStore(Path(tempfile.mkdtemp()))
        >>> store.create_version("exp", {"config_name": "exp"})["version"]
        1
        >>> store.experiment_ids()
        ['exp']
    """

    def __init__(self, log_dir: Path, lock_timeout: float = 60.0) -> None:
        if log_dir.exists() and not log_dir.is_dir():
            raise InvalidArgumentError(
                "log_dir",
                str(log_dir),
                "is a file, not a folder: give the folder the histories are (to be) kept in",
            )
        self.log_dir = log_dir
        self.lock_timeout = lock_timeout
        self._timers: dict[str, threading.Timer] = {}
        self._timers_lock = threading.Lock()
        self._dirty: set[str] = set()  # experiments this process wrote version files of
        self._ended: set[str] = set()  # experiments a version of which ended here lately
        self._stripes = [threading.Lock() for _ in range(64)]
        self._fold_seconds: dict[str, float] = {}  # how long this process's last fold took
        # The layout of the history of each identity seen last: it changes only with it.
        self._layouts: dict[str, tuple[list[int], _layout.Layout]] = {}
        # The bytes of the version file this process wrote last, per version: a record
        # read back with exactly those bytes was checked when it was made, so the next
        # write of a long run does not check every value it holds again.
        self._wrote: dict[tuple[str, int], tuple[str, bytes]] = {}
        # And the record those bytes encode, while nothing but this store holds it: the
        # next change of the version starts from it instead of parsing the file again.
        self._kept: dict[tuple[str, int], StoredVersion] = {}
        _STORES.add(self)

    # -- paths ----------------------------------------------------------------------

    def history_path(self, experiment_id: str) -> Path:
        """Return the history file of an experiment.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            ``<log_dir>/<experiment_id>.json``.
        """
        return self.log_dir / f"{experiment_id}{HISTORY_SUFFIX}"

    def lock_path(self, experiment_id: str) -> Path:
        """Return the lock file that guards an experiment's files.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            ``<log_dir>/.expm/locks/<experiment_id>.lock``.
        """
        return self.log_dir / INTERNAL_DIR / "locks" / f"{experiment_id}.lock"

    def name_lock_path(self, experiment_id: str) -> Path:
        """Return the lock held while a new experiment id is checked and first written.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            ``<log_dir>/.expm/locks/names/<folded id>.lock``, one for all the ids that
            differ only by letter case.
        """
        return self.log_dir / INTERNAL_DIR / "locks" / "names" / f"{fold(experiment_id)}.lock"

    def versions_folder(self, experiment_id: str) -> Path:
        """Return the folder of an experiment's version files.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            ``<log_dir>/.expm/versions/<experiment_id>``.
        """
        return self.log_dir / INTERNAL_DIR / "versions" / experiment_id

    def fold_lock_path(self, experiment_id: str) -> Path:
        """Return the lock that one process folding the experiment's version files holds.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            ``<log_dir>/.expm/locks/<experiment_id>.fold.lock``.
        """
        return self.log_dir / INTERNAL_DIR / "locks" / f"{experiment_id}.fold.lock"

    def layout_path(self, experiment_id: str) -> Path:
        """Return the layout file of an experiment's history (see :mod:`.stores._layout`).

        Args:
            experiment_id: A validated experiment id.

        Returns:
            ``<log_dir>/.expm/layout/<experiment_id>.bin``.
        """
        return self.log_dir / INTERNAL_DIR / "layout" / f"{experiment_id}.bin"

    def index_path(self, experiment_id: str) -> Path:
        """Return the summary index of an experiment.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            ``<log_dir>/.expm/index/<experiment_id>.json``.
        """
        return self.log_dir / INTERNAL_DIR / "index" / f"{experiment_id}.json"

    # -- the primitives -------------------------------------------------------------

    def create_version(
        self,
        experiment_id: str,
        fields: Mapping[str, Any],
        before_write: Callable[[int], None] | None = None,
    ) -> StoredVersion:
        """Allocate and store the next version; see :meth:`Store.create_version`.

        Raises:
            CorruptHistoryError: The history cannot be parsed; it is left as it is.
            LockTimeoutError: Another live writer held the lock too long.
        """
        with self._locked(experiment_id):
            identity, layout, pending = self._writer_view(experiment_id)
            number = max(layout.latest if layout else 0, max(pending, default=0)) + 1
            with self._claimed(experiment_id, new=identity is None and not pending):
                if before_write is not None:
                    before_write(number)
                record = new_record(experiment_id, number, fields)
                record["_revision"] = 1
                finish = self._store_record(experiment_id, record, identity, layout, None)
        if finish is not None:
            self._finish(finish)
        copied: StoredVersion = _serialize.loads(_serialize.dumps(record))
        return copied

    def add_versions(self, experiment_id: str, records: Iterable[Mapping[str, Any]]) -> list[int]:
        """Store many versions with one rewrite of the history; see :meth:`Store.add_versions`.

        Each record is encoded and summarised as it comes, and only its encoded
        bytes and summary are kept, so a caller that produces records lazily (an
        import) has one version's points in memory at a time, and each is handled
        while it is still in the processor's cache. The experiment's lock is held
        while the records are read; an error they raise reaches the caller as it
        was raised, and none of them is stored.

        Raises:
            CorruptHistoryError: The history cannot be parsed; it is left as it is.
            LockTimeoutError: Another live writer held the lock too long.
        """
        try:
            with self._locked(experiment_id):
                return self._add_versions(experiment_id, _from_caller(records))
        except _CallerError as error:  # the caller's own, not this store's: as raised
            raise error.original from None

    def _add_versions(self, experiment_id: str, records: Iterator[Mapping[str, Any]]) -> list[int]:
        """:meth:`add_versions` under the experiment's lock."""
        identity, layout, pending = self._writer_view(experiment_id)
        first = max(layout.latest if layout else 0, max(pending, default=0)) + 1
        changed: dict[int, tuple[int, bytes, StoredVersion]] = {}
        entries: dict[int, dict[str, Any]] = {}
        # Counted by hand: enumerate() would hold each record until the next comes.
        number = first
        for fields in records:
            record = new_record(experiment_id, number, fields)
            record["_revision"] = 1
            encoded = _serialize.dumps(_shared_columns.pack(record))
            entries[number] = _index.summarize_all([record], None)[0]
            changed[number] = (1, encoded, _without_points(record))
            del record, fields  # the points go now, not when the next record comes
            number += 1
        if changed:
            with self._claimed(experiment_id, new=identity is None and not pending):
                self._refresh(experiment_id, changed, entries)
        return list(changed)

    def update_version(
        self, experiment_id: str, version: int, change: Callable[[StoredVersion], T]
    ) -> T:
        """Change one version under the lock; see :meth:`Store.update_version`.

        Raises:
            ExperimentNotFoundError: The version does not exist.
            CorruptHistoryError: The history cannot be parsed; it is left as it is.
            LockTimeoutError: Another live writer held the lock too long.
        """
        with self._version_lock(experiment_id, version):
            with self._locked(experiment_id):
                identity, layout, pending = self._writer_view(experiment_id)
                known = _newer_than_history(pending.get(version), layout, version)
                kept = self._kept.pop((experiment_id, version), None)
                if known is not None:
                    record = self._read_version_file(experiment_id, version, known, kept)
                    if record is None:  # removed under the lock: only by hand
                        raise ExperimentNotFoundError(experiment_id, version)
                else:
                    record = self._record_from_history(experiment_id, version, layout)
                revision = max(
                    record.get("_revision", 0),
                    known.revision if known else 0,
                    _history_revision(layout, version),
                )
                result = change(record)
                record["_revision"] = revision + 1
                finish = self._store_record(experiment_id, record, identity, layout, known)
                # A change that returns nothing leaves no reference to the record
                # outside (appends copy what they add), so it can be kept.
                if result is None and (experiment_id, version) in self._wrote:
                    if len(self._kept) >= _KEPT_RECORDS:
                        with contextlib.suppress(RuntimeError):
                            self._kept.pop(next(iter(self._kept), ("", 0)), None)
                    self._kept[experiment_id, version] = record
            if finish is not None:  # durability outside the experiment's lock
                self._finish(finish)
        return result

    def load_version(self, experiment_id: str, version: int) -> StoredVersion:
        """Read one version, about its own size; see :meth:`Store.load_version`.

        Raises:
            ExperimentNotFoundError: The version does not exist.
            CorruptHistoryError: The history or version file cannot be parsed.
        """
        path = self.history_path(experiment_id)
        for _ in range(_ATTEMPTS):
            fd = _open_document(path)
            try:
                identity = None if fd is None else _atomic.file_identity(os.fstat(fd))
                known = self._pending(experiment_id).get(version)
                layout = None
                found: list[StoredVersion] = []
                if fd is not None and identity is not None:
                    layout = self._reader_layout(experiment_id, identity)
                    if layout is None:
                        data = _read_object(path, fd, identity)
                        versions = self._parse(path, data, experiment_id, identity)["versions"]
                        found = [v for v in versions if v["version"] == version]
                    elif _newer_than_history(known, layout, version) is None:
                        span = layout.span(version)
                        found = [] if span is None else [self._slice(path, fd, span, version)]
                history_revision = found[-1].get("_revision", 0) if found else 0
                if known is not None and known.revision > history_revision:
                    record = self._read_version_file(experiment_id, version, known)
                    if record is None:
                        continue  # folded into the history meanwhile
                    found = [record]
            finally:
                if fd is not None:
                    os.close(fd)
            if _identity_of(path) != identity:
                continue  # replaced while read: a version file may have been folded
            if not found:
                raise ExperimentNotFoundError(experiment_id, version)
            return found[-1]
        raise _busy(path)

    def latest_version(self, experiment_id: str) -> int | None:
        """The highest version number; see :meth:`Store.latest_version`."""
        path = self.history_path(experiment_id)
        for _ in range(_ATTEMPTS):
            identity = _identity_of(path)
            latest = max(self._pending(experiment_id), default=0)
            if identity is not None:
                layout = self._reader_layout(experiment_id, identity)
                if layout is None:
                    try:
                        versions = self._merged(experiment_id, self._snapshot(experiment_id))
                    except _FoldedError:
                        continue
                    return max((v["version"] for v in versions), default=None)
                latest = max(latest, layout.latest)
            if _identity_of(path) == identity:
                return latest or None
        raise _busy(path)

    def load_with_identity(self, experiment_id: str) -> tuple[list[StoredVersion], object]:
        """Read every version; see :meth:`Store.load_with_identity`.

        Raises:
            CorruptHistoryError: A file cannot be parsed or has the wrong shape.
        """
        for _ in range(_ATTEMPTS):
            snapshot = self._snapshot(experiment_id)
            try:
                versions = self._merged(experiment_id, snapshot)
            except _FoldedError:
                continue
            if snapshot.identity is None and not versions:
                return [], None
            return versions, _identity(snapshot.identity, snapshot.pending)
        raise _busy(self.history_path(experiment_id))

    def history_identity(self, experiment_id: str) -> object:
        """The history file's identity and the version files' names.

        See :meth:`Store.history_identity`.
        """
        path = self.history_path(experiment_id)
        while True:
            before = self._pending(experiment_id)
            identity = _identity_of(path)
            if self._pending(experiment_id) == before:
                if identity is None and not before:
                    return None
                return _identity(identity, before)

    def experiment_ids(self) -> list[str]:
        """Return the ids of every history file in ``log_dir``, sorted.

        Returns:
            The ids; ``[]`` when the folder does not exist yet.
        """
        try:
            names = os.listdir(self.log_dir)
        except FileNotFoundError:
            return []
        except OSError as error:  # made a file, or unreadable, since the store was opened
            raise _as_storage_error(error, self.log_dir) from None
        ids = {name[: -len(HISTORY_SUFFIX)] for name in names if name.endswith(HISTORY_SUFFIX)}
        # An experiment whose first writes went to version files only (none yet folded).
        root = self.log_dir / INTERNAL_DIR / "versions"
        ids.update(name for name in _listdir(root) if name not in ids and self._pending(name))
        return sorted(i for i in ids if unsafe_reason(i) is None)

    def tidy(
        self, segments: dict[str, dict[int, int]], *, dry_run: bool
    ) -> tuple[list[str], list[dict[str, str]]]:
        """Delete stale temp files and folded journals; see :meth:`Store.tidy`."""
        from experiment_manager.stores import _file_tidy

        return _file_tidy.tidy(self, segments, dry_run=dry_run)

    # -- the lazily rewritten history -------------------------------------------------

    def version_purged(self, experiment_id: str, version: int) -> None:
        """Remove a purged version's columns files and liveness lock, fold its history now.

        See :meth:`Store.version_purged`. The folded history holds the version's
        tombstone in place of its record, so no version file keeps the old record.

        Raises:
            StorageError: A file could not be removed.
        """
        self.flush(experiment_id)
        folder = self.columns_folder(experiment_id)
        prefix = f"{version}."
        paths = [folder / name for name in _listdir(folder) if name.startswith(prefix)]
        if not self.is_live(experiment_id, version):
            paths.append(self.live_path(experiment_id, version))
        for path in paths:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as error:
                raise _as_storage_error(error, path) from None

    def flush(self, experiment_id: str | None = None) -> None:
        """Fold every version file into its history now; see :meth:`Store.flush`.

        Args:
            experiment_id: One experiment, or None for every one with version files.

        Raises:
            CorruptHistoryError: A history cannot be parsed; it is left as it is.
            StorageError: A history could not be written (its version files are kept).
        """
        if experiment_id is None:
            root = self.log_dir / INTERNAL_DIR / "versions"
            ids = [i for i in _listdir(root) if unsafe_reason(i) is None]
        else:
            ids = [experiment_id]
        for name in sorted(ids):
            for _ in range(3):  # writers may add version files meanwhile
                if not self._pending(name):
                    break
                self._fold(name, wait=True)
            else:
                with self._locked(name):
                    if self._pending(name):
                        self._refresh(name, None)

    def version_ended(self, experiment_id: str) -> None:
        """Fold version files after a version ends.

        2 s later when no version of the experiment runs any more (the history then
        holds everything), else once a fold is due (see :meth:`_due_in`).
        """
        if self._pending(experiment_id):
            with self._timers_lock:
                self._ended.add(experiment_id)
                # A fold set for later (a due time) must not hold back this one.
                later = self._timers.pop(experiment_id, None)
            if later is not None:
                later.cancel()
            self._fold_soon(experiment_id, REFRESH_SECONDS)

    def _any_running(self, experiment_id: str) -> bool:
        """Whether a version of the experiment is running (its liveness lock is held)."""
        try:
            names = os.listdir(self.live_path(experiment_id, 1).parent)
        except OSError:
            return False
        numbers = [name[: -len(".lock")] for name in names if name.endswith(".lock")]
        return any(n.isdigit() and self.is_live(experiment_id, int(n)) for n in numbers)

    def _fold_soon(self, experiment_id: str, delay: float) -> None:
        """Fold an experiment's version files in a thread of this process, after ``delay``."""
        _finalize_in_workers()
        with self._timers_lock:
            self._dirty.add(experiment_id)
            if experiment_id in self._timers:
                return
            timer = threading.Timer(delay, self._fold_later, (experiment_id,))
            timer.daemon = True
            self._timers[experiment_id] = timer
        timer.start()

    def _fold_later(self, experiment_id: str) -> None:
        with self._timers_lock:
            self._timers.pop(experiment_id, None)
            ended = experiment_id in self._ended
            self._ended.discard(experiment_id)
        # Version files are already durable: a fold that fails is retried later.
        later = None
        with contextlib.suppress(Exception):
            # The last running version ended: fold now, due or not.
            now = ended and not self._any_running(experiment_id)
            later = self._fold(experiment_id, wait=now)
            if later is not None and self._pending(experiment_id):
                # Not due yet (or another process is folding): look again then, so
                # that a process that writes nothing more still folds what it wrote.
                self._fold_soon(experiment_id, later)

    def _flush_at_exit(self) -> None:
        """Fold what this process left in version files, so the history holds it all."""
        with self._timers_lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            dirty, self._dirty = sorted(self._dirty), set()
        for experiment_id in dirty:
            with contextlib.suppress(Exception):
                self.flush(experiment_id)

    # -- writing --------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, experiment_id: str) -> Any:
        """Hold the experiment's lock; what the OS refuses inside is a typed StorageError."""
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with _atomic.locked(self.lock_path(experiment_id), self.lock_timeout):
                yield
        except OSError as error:
            raise _as_storage_error(error, self.log_dir) from None

    @contextlib.contextmanager
    def _claimed(self, experiment_id: str, *, new: bool) -> Any:
        """Under the experiment's lock: refuse a new id whose case twin exists.

        The twins ``exp`` and ``Exp`` have two experiment locks (on a file system that
        tells case apart), so a new id is checked, and its first version written,
        holding the lock of the folded name too: of two processes creating twins at
        once, the second sees the first's history and is refused.
        """
        if not new:
            yield
            return
        with _atomic.locked(self.name_lock_path(experiment_id), self.lock_timeout):
            refuse_case_twin(experiment_id, self.experiment_ids())
            yield

    def _version_lock(self, experiment_id: str, version: int) -> threading.Lock:
        """This process's lock of one version (striped): held across a write's fsync.

        Between processes a version has one writer, the process holding its
        liveness lock; within one, the run and its hashing thread take turns here.
        """
        return self._stripes[hash((experiment_id, version)) % len(self._stripes)]

    def _finish(self, finish: Callable[[], None]) -> None:
        try:
            finish()
        except OSError as error:
            raise _as_storage_error(error, self.log_dir) from None

    def _writer_view(
        self, experiment_id: str
    ) -> tuple[list[int] | None, _layout.Layout | None, dict[int, _Pending]]:
        """Under the lock: the history's identity and layout, and the version files.

        A history without a current layout (format 1, changed by hand, layout lost)
        is rewritten first, which also proves that it parses.
        """
        identity = _identity_of(self.history_path(experiment_id))
        layout = None
        if identity is not None:
            layout = self._read_layout(experiment_id, identity)
            if layout is None:
                identity, layout = self._refresh(experiment_id, None)
        return identity, layout, self._pending(experiment_id)

    def _store_record(
        self,
        experiment_id: str,
        record: StoredVersion,
        identity: list[int] | None,
        layout: _layout.Layout | None,
        replaced: _Pending | None,
    ) -> Callable[[], None] | None:
        """Under the lock: make ``record`` the version's current state.

        A small history is rewritten durably here. For a big one the version file is
        put in place here, and the returned step, to be called once the lock is
        released, makes it durable (writers do not wait for each other's fsync) and
        removes the revision it replaced.
        """
        version, revision = record["version"], record["_revision"]
        encoded = _serialize.dumps(_shared_columns.pack(record))
        size = 0 if identity is None else identity[1]
        if size < DIRECT_BYTES:
            self._refresh(experiment_id, {version: (revision, encoded, record)})
            return None
        folder = self.versions_folder(experiment_id)
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            _atomic.fsync_dir(folder.parent)  # a new folder's entry must survive power loss
        target = folder / f"{version}.{revision}.json"
        _atomic.write_atomic(target, encoded, durable=False)
        if len(self._wrote) >= _WROTE_FILES:  # an evicted version is just checked again
            with contextlib.suppress(RuntimeError):  # another thread changed it meanwhile
                self._wrote.pop(next(iter(self._wrote), ("", 0)), None)
        self._wrote[experiment_id, version] = (target.name, encoded)
        stale = identity is not None and self._due_in(experiment_id, identity, layout) <= 0

        def finish() -> None:
            try:
                _atomic.fsync_file(target)
                _atomic.fsync_dir(folder)
            except FileNotFoundError:
                pass  # folded already, into a history made durable before it was removed
            except OSError:
                # Not durable: back to the revision it replaced, which is still there.
                with contextlib.suppress(OSError):
                    target.unlink()
                raise
            if replaced is not None:
                with contextlib.suppress(FileNotFoundError):
                    (folder / replaced.name).unlink()
            if stale:  # by a thread, once this call has returned
                self._fold_soon(experiment_id, _FOLD_DELAY)
            else:
                with self._timers_lock:
                    self._dirty.add(experiment_id)

        return finish

    def _refresh(
        self,
        experiment_id: str,
        changed: dict[int, tuple[int, bytes, StoredVersion]] | None,
        entries: Mapping[int, dict[str, Any]] | None = None,
    ) -> tuple[list[int], _layout.Layout]:
        """Under the lock: rewrite the history with every version file (and ``changed``).

        Records of versions that did not change are copied as bytes when a layout
        describes the current history; otherwise the history is parsed (and so
        checked) and every record encoded. The derived files follow; a failure to
        write them does not fail the call. ``entries`` are index entries made
        already for versions of ``changed``, whose records then lack their points
        (see :func:`_without_points`).

        Returns:
            The new history's identity and layout.

        Raises:
            CorruptHistoryError: The current history cannot be parsed.
            OSError: The history could not be written; nothing changed.
        """
        path = self.history_path(experiment_id)
        started = time.perf_counter()
        fd = _open_document(path)
        try:
            built = self._build(experiment_id, fd, changed, parse=True)
            assert built is not None  # under the lock no version file is folded by another
            _atomic.write_atomic(path, built.content)
        finally:
            if fd is not None:
                os.close(fd)
        identity, reader = _reopen(path)
        try:
            took = time.perf_counter() - started - built.file_seconds
            self._finish_fold(experiment_id, built, identity, max(0.0, took))
            self._summarise_fold(experiment_id, built, identity, reader, tidy=True, entries=entries)
        finally:
            os.close(reader)
        return identity, built.layout

    def _due_in(
        self, experiment_id: str, identity: list[int] | None, layout: _layout.Layout | None
    ) -> float:
        """Seconds until a big history is due to be folded again (0 or less: it is).

        A fold is due :data:`REFRESH_SECONDS` after the history was written, or, when
        folding it takes longer than a twentieth of that, twenty times as long as the
        last fold took (the layout says, whichever process made it): so folds take at
        most a twentieth of the time, however big the history grows.
        """
        if identity is None:
            return 0.0
        took = max(
            self._fold_seconds.get(experiment_id, 0.0),
            0.0 if layout is None else layout.fold_seconds,
        )
        interval = max(REFRESH_SECONDS, _FOLD_SHARE * took)
        return interval - (time.time_ns() - identity[2]) / 1e9

    def _fold(self, experiment_id: str, *, wait: bool) -> float | None:
        """Fold, with what the OS refuses as a typed StorageError (see :meth:`_fold_once`)."""
        try:
            return self._fold_once(experiment_id, wait=wait)
        except OSError as error:
            raise _as_storage_error(error, self.log_dir) from None

    def _fold_once(self, experiment_id: str, *, wait: bool) -> float | None:
        """Fold the version files into a big history, holding the lock only to swap it in.

        The new history is assembled and made durable under a temp name without the
        experiment's lock, so writers are not held up by it: the unchanged records'
        bytes are copied by the kernel from the current history, never read into the
        process. Then, under the lock, it replaces the history if that is still the
        one it was made from (else another fold came first, and this one is dropped).
        Version files written meanwhile stay and keep winning over the records
        folded (their revision is higher), as do those replaced by a newer revision
        while the fold ran. One fold of an experiment runs at a time in the whole
        folder.

        Args:
            experiment_id: The experiment.
            wait: Wait for another process's fold and fold now (``flush``); otherwise
                fold only if a fold is due (see :meth:`_due_in`).

        Returns:
            Without ``wait``, the seconds after which to look again when the fold was
            not due or another process was folding; else None.
        """
        try:
            folding = _atomic.locked(self.fold_lock_path(experiment_id), self.lock_timeout * wait)
            folding.__enter__()
        except LockTimeoutError:
            if wait:
                raise
            return REFRESH_SECONDS  # another process is folding it now
        try:
            return self._fold_holding(experiment_id, wait=wait)
        finally:
            folding.__exit__(None, None, None)

    def _fold_holding(self, experiment_id: str, *, wait: bool) -> float | None:
        """:meth:`_fold_once`, holding the experiment's fold lock."""
        if not self._pending(experiment_id):
            return None
        path = self.history_path(experiment_id)
        fd = _open_document(path)
        temp = None
        try:
            identity = None if fd is None else _atomic.file_identity(os.fstat(fd))
            layout = None
            if identity is not None:
                layout = self._read_layout(experiment_id, identity, fresh=True)
            if not wait and layout is not None:
                later = self._due_in(experiment_id, identity, layout)
                if later > 0:
                    return later
            started = time.perf_counter()
            built = None if layout is None else self._build(experiment_id, fd, None)
            if built is not None:
                temp = _atomic.write_temp(path, built.content)
        finally:
            if fd is not None:
                os.close(fd)
        if built is None or temp is None or identity is None:
            # A missing or unlaid history: fold it under the lock.
            with self._locked(experiment_id):
                if self._pending(experiment_id):
                    self._refresh(experiment_id, None)
            return None
        try:
            self._swap_in(experiment_id, identity, built, temp, started)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()  # still there if the fold was dropped or failed
        return None

    def _swap_in(
        self, experiment_id: str, identity: list[int], built: _Built, temp: Path, started: float
    ) -> None:
        """Rename a folded history over the one of ``identity``, if it is still there."""
        path = self.history_path(experiment_id)
        # Under the lock only the rename and the layout: writers wait for nothing else.
        with self._locked(experiment_id):
            if _identity_of(path) != identity:
                return  # changed meanwhile: this fold is stale
            _atomic.commit_temp(temp, path, durable=False)
            new_identity, reader = _reopen(path)
            self._write_layout(experiment_id, new_identity, built.layout, 0.0)
        try:
            # The rename is made durable before any folded version file goes (a history
            # written since holds them too, and was made durable by its writer).
            _atomic.fsync_dir(path.parent)
            per_file = built.file_seconds + self._remove_folded(experiment_id, built)
            # Derived files after the lock: writers need not wait for them.
            per_file += self._summarise_fold(experiment_id, built, new_identity, reader, tidy=False)
        finally:
            os.close(reader)
        # What grows with the history, not with the version files folded (each is
        # read, summarised and removed once however often folds come: counting that
        # would space folds further as more files wait, and more wait as they are).
        took = max(0.0, time.perf_counter() - started - per_file)
        self._fold_seconds[experiment_id] = took
        # The layout says how long the fold took, derived files included, so that
        # every process spaces the next one by it.
        with contextlib.suppress(OSError, ExperimentManagerError), self._locked(experiment_id):
            if _identity_of(path) == new_identity:
                self._write_layout(experiment_id, new_identity, built.layout, took)

    def _build(
        self,
        experiment_id: str,
        fd: int | None,
        changed: dict[int, tuple[int, bytes, StoredVersion]] | None,
        *,
        parse: bool = False,
    ) -> _Built | None:
        """The history holding the current one's records, every version file and ``changed``.

        Args:
            experiment_id: The experiment.
            fd: The current history, open (None: there is none).
            changed: Records to store, by version: ``(revision, encoded, record)``.
            parse: Parse a history that no layout describes; otherwise give None.

        Returns:
            What to write (runs copied from ``fd`` and new bytes), or None when the
            history would have to be parsed. A version file gone meanwhile (replaced
            by a newer revision, which stays) is left out.

        Raises:
            CorruptHistoryError: The current history cannot be parsed.
        """
        path = self.history_path(experiment_id)
        pending, older = self._version_files(experiment_id)
        # The records written anew (all of them when the history had to be parsed);
        # the others are copied from the current history where its layout says.
        chunks: dict[int, tuple[int, bytes, StoredVersion]] = {}
        previous_index = None
        layout = None
        if fd is not None:
            old_identity = _atomic.file_identity(os.fstat(fd))
            layout = self._read_layout(experiment_id, old_identity)
            if layout is not None:
                previous_index = self._index_bytes_describing(experiment_id, old_identity)
            elif not parse:
                return None
            else:
                data = _read_object(path, fd, old_identity)
                for stored in self._parse(path, data, experiment_id, old_identity)["versions"]:
                    encoded = _serialize.dumps(_shared_columns.pack(stored))
                    chunks[stored["version"]] = (stored.get("_revision", 0), encoded, stored)
        folded = list(older)  # superseded by a newer revision, folded here too
        reading = time.perf_counter()
        for version, known in pending.items():
            if layout is not None:
                stored_revision = _history_revision(layout, version)
            else:
                stored_revision = chunks[version][0] if version in chunks else -1
            if stored_revision >= known.revision:
                folded.append(known.name)  # already in the history (a fold was cut short)
                continue
            found = _read_document(self.versions_folder(experiment_id) / known.name)
            if found is None:
                continue  # replaced by a newer revision meanwhile: that one stays
            name = self.versions_folder(experiment_id) / known.name
            record = _parse_record(name, found[0], "the version file", experiment_id)
            chunks[version] = (known.revision, found[0], record)
            folded.append(known.name)
        file_seconds = time.perf_counter() - reading
        for version, (revision, encoded, record) in (changed or {}).items():
            chunks[version] = (revision, encoded, record)
        if layout is None:
            ordered = sorted(chunks.items())
            parts, spans, size = _document.plan(
                experiment_id, FORMAT_VERSION, [(v, c[0], c[1]) for v, c in ordered]
            )
            running = [v for v, (_, _, record) in ordered if record.get("status") == "running"]
            numbers = array("q", [n for span in spans for n in span])
        else:
            parts, numbers, size = self._plan_over(experiment_id, layout, chunks)
            running = sorted(
                {v for v in layout.running if v not in chunks}.union(
                    v for v, (_, _, record) in chunks.items() if record.get("status") == "running"
                )
            )
        content = _atomic.Pieces(parts, -1 if fd is None else fd)
        new_layout = _layout.Layout(numbers, running)
        return _Built(content, size, new_layout, chunks, folded, previous_index, file_seconds)

    def _plan_over(
        self,
        experiment_id: str,
        layout: _layout.Layout,
        chunks: Mapping[int, tuple[int, bytes, StoredVersion]],
    ) -> tuple[list[_document.Chunk], array[int], int]:
        """A history made of the current one's records (as ``layout`` lays them) and ``chunks``.

        The records before the first version written anew stay where they are: they
        are one run to copy, and their spans are the layout's, so a fold of the newest
        versions costs about them, not the whole history.

        Returns:
            The runs to write, the new layout's numbers, the new history's size.
        """
        versions = layout.versions
        first = min(chunks, default=versions[-1] + 1 if versions else 1)
        kept = bisect.bisect_left(versions, first)
        try:
            parts, spans, size = self._plan_from(experiment_id, layout, chunks, kept)
        except ValueError:  # not laid out as this library writes: list every record
            kept = 0
            parts, spans, size = self._plan_from(experiment_id, layout, chunks, kept)
        numbers = layout.numbers(kept)
        numbers.extend(n for span in spans for n in span)
        return parts, numbers, size

    def _plan_from(
        self,
        experiment_id: str,
        layout: _layout.Layout,
        chunks: Mapping[int, tuple[int, bytes, StoredVersion]],
        kept: int,
    ) -> tuple[list[_document.Chunk], list[tuple[int, int, int, int]], int]:
        """:func:`.stores._document.plan` with the layout's first ``kept`` records kept."""
        versions, starts, ends = layout.versions, layout.starts, layout.ends
        revisions = layout.revisions
        rest: list[tuple[int, int, _document.Chunk]] = []
        for version in sorted({*versions[kept:], *chunks}):
            if version in chunks:
                revision, encoded, _ = chunks[version]
                rest.append((version, revision, encoded))
            else:
                row = bisect.bisect_left(versions, version, kept)
                rest.append((version, revisions[row], (starts[row], ends[row])))
        prefix = (starts[0], ends[kept - 1]) if kept else None
        return _document.plan(experiment_id, FORMAT_VERSION, rest, prefix)

    def _finish_fold(
        self, experiment_id: str, built: _Built, identity: list[int], seconds: float
    ) -> None:
        """Under the lock, after a history was written: its layout, then cleanup."""
        self._write_layout(experiment_id, identity, built.layout, seconds)
        self._remove_folded(experiment_id, built)

    def _remove_folded(self, experiment_id: str, built: _Built) -> float:
        """Remove the version files folded into a durable history; the seconds it took."""
        started = time.perf_counter()
        folder = self.versions_folder(experiment_id)
        for name in built.folded:
            with contextlib.suppress(OSError):  # a leftover is harmless: it is not newer
                (folder / name).unlink()
        return time.perf_counter() - started

    def _write_layout(
        self, experiment_id: str, identity: list[int], layout: _layout.Layout, seconds: float
    ) -> None:
        """Under the lock: the layout file of the history of ``identity``."""
        layout.fold_seconds = seconds
        self._remember_layout(experiment_id, identity, layout)
        target = self.layout_path(experiment_id)
        with contextlib.suppress(OSError):  # derived: a lost layout is rebuilt
            target.parent.mkdir(parents=True, exist_ok=True)
            _atomic.write_atomic(
                target, layout.encode(identity), durable=False, locked_by_caller=False
            )

    def _summarise_fold(
        self,
        experiment_id: str,
        built: _Built,
        identity: list[int],
        reader: int,
        *,
        tidy: bool,
        entries: Mapping[int, dict[str, Any]] | None = None,
    ) -> float:
        """The index and columns files of a history just written (derived: never fails).

        ``reader`` is the history written, open: its records are read from it.
        ``entries``: index entries made already (see :meth:`_refresh`).

        Returns:
            The seconds spent summarising the records written anew.
        """
        with contextlib.suppress(OSError):
            return self._write_derived(
                experiment_id,
                size=built.size,
                read=lambda start, end: os.pread(reader, end - start, start),
                identity=identity,
                layout=built.layout,
                chunks=built.chunks,
                previous_index=built.previous_index,
                tidy=tidy,
                made=entries or {},
            )
        return 0.0

    def _write_derived(
        self,
        experiment_id: str,
        *,
        size: int,
        read: Callable[[int, int], bytes],
        identity: list[int],
        layout: _layout.Layout,
        chunks: Mapping[int, tuple[int, bytes, StoredVersion]],
        previous_index: bytes | None,
        tidy: bool,
        made: Mapping[int, dict[str, Any]],
    ) -> float:
        """The index and columns files of a history just written.

        ``made`` holds index entries made already, of chunks whose records lack
        their points: those are decoded from their bytes when a columns file
        needs them.

        Returns:
            The seconds spent summarising the records written anew.
        """

        def record_of(version: int) -> StoredVersion:
            if version in chunks:
                if version not in made:
                    return chunks[version][2]
                return _shared_columns.unpack(_serialize.loads(chunks[version][1]))
            start, end, _ = layout.span(version) or (0, 0, 0)
            return _shared_columns.unpack(_serialize.loads(read(start, end)))

        summarising = time.perf_counter()
        changed = {
            version: made.get(version) or _index.summarize_all([record], None)[0]
            for version, (_, _, record) in chunks.items()
        }
        summarised = time.perf_counter() - summarising
        versions = layout.versions
        wants_columns = size >= _columns.MIN_BYTES_PER_VERSION * len(versions)
        if previous_index is not None and not wants_columns:
            # Only the changed versions' lines are encoded; the others are copied.
            data = _index_file.update(previous_index, identity, changed, versions)
            if data is not None:
                path = self.index_path(experiment_id)
                _atomic.write_atomic(path, data, durable=False, locked_by_caller=False)
                index = {"source": identity, "generation": "", "versions": []}
                self._write_columns(experiment_id, record_of, index, tidy=tidy)
                return summarised
        old = None if previous_index is None else _index_file.decode(previous_index)
        known = {} if old is None else {e["summary"].get("version"): e for e in old["versions"]}
        entries = []
        for version in versions:
            entry = changed.get(version) or known.get(version)
            if entry is None:  # no index described the previous history
                entry = _index.summarize_all([record_of(version)], None)[0]
            entries.append(entry)
        generation = os.urandom(8).hex() if old is None else old["generation"]
        index = self._write_index(experiment_id, identity, entries, generation)
        self._write_columns(experiment_id, record_of, index, tidy=tidy)
        return summarised

    # -- reading --------------------------------------------------------------------

    def _pending(self, experiment_id: str) -> dict[int, _Pending]:
        """The newest version file of each version that has one."""
        return self._version_files(experiment_id)[0]

    def _version_files(self, experiment_id: str) -> tuple[dict[int, _Pending], list[str]]:
        """The newest version file of each version, and the names of older ones.

        An older one is left by a writer killed between writing a version's next
        revision and removing the one it replaced; a fold removes it.
        """
        found: dict[int, _Pending] = {}
        older = []
        for name in _listdir(self.versions_folder(experiment_id)):
            match = _VERSION_FILE.fullmatch(name)
            if match is None:
                continue
            version, revision = int(match.group(1)), int(match.group(2))
            known = found.get(version)
            if known is None or known.revision < revision:
                if known is not None:
                    older.append(known.name)
                found[version] = _Pending(revision, name)
            else:
                older.append(name)
        return found, older

    def _read_version_file(
        self,
        experiment_id: str,
        version: int,
        known: _Pending,
        kept: StoredVersion | None = None,
    ) -> StoredVersion | None:
        """A version file's record, checked unless this process wrote those bytes.

        ``kept``, the record this process wrote there, is given back (not parsed)
        when the file still holds exactly its bytes.
        """
        path = self.versions_folder(experiment_id) / known.name
        raw = _read_document(path)
        if raw is None:
            return None
        mine = self._wrote.get((experiment_id, version))
        trusted = mine is not None and mine[0] == known.name and mine[1] == raw[0]
        if trusted and kept is not None:
            return kept
        record = _parse_record(path, raw[0], "the version file", experiment_id, checked=trusted)
        if record["version"] != version:
            raise CorruptHistoryError(path, f"holds version {record['version']}, not {version}")
        return record

    def _read_layout(
        self, experiment_id: str, identity: list[int], *, fresh: bool = False
    ) -> _layout.Layout | None:
        """The layout of the history of ``identity``, or None when none describes it.

        The last one seen is kept: a history's layout changes only with the history
        (its spans are those of the history's bytes), so each write does not read
        and check it again. ``fresh`` reads the file anyway, for its
        ``fold_seconds``, which a fold sets once its derived files are written.
        """
        kept = self._layouts.get(experiment_id)
        if not fresh and kept is not None and kept[0] == identity:
            return kept[1]
        try:
            data = _atomic.read_bytes(self.layout_path(experiment_id))
        except OSError:
            data = None  # derived data: a layout that cannot be read is rebuilt
        layout = None if data is None else _layout.decode(data, identity)
        if layout is None:
            return kept[1] if kept is not None and kept[0] == identity else None
        self._remember_layout(experiment_id, identity, layout)
        return layout

    def _reader_layout(self, experiment_id: str, identity: list[int]) -> _layout.Layout | None:
        """:meth:`_read_layout` for a reader, which holds no lock.

        A history replaced a moment ago may be read before its writer, who still
        holds the experiment's lock, has written its layout: the reader then waits
        for that lock instead of reading the whole history.
        """
        layout = self._read_layout(experiment_id, identity)
        if layout is not None or not _just_replaced(identity):
            return layout
        waiting = _atomic.locked(self.lock_path(experiment_id), self.lock_timeout)
        with contextlib.suppress(OSError, ExperimentManagerError), waiting:
            pass
        return self._read_layout(experiment_id, identity)

    def _await_fold(self, experiment_id: str, identity: list[int] | None) -> bool:
        """Wait for a fold of a history replaced a moment ago to write its derived files.

        Returns:
            Whether it waited (the caller then reads the index again).
        """
        if identity is None or not _just_replaced(identity):
            return False
        waiting = _atomic.locked(self.fold_lock_path(experiment_id), self.lock_timeout)
        with contextlib.suppress(OSError, ExperimentManagerError), waiting:
            pass
        return True

    def _remember_layout(
        self, experiment_id: str, identity: list[int], layout: _layout.Layout
    ) -> None:
        self._layouts.pop(experiment_id, None)
        self._layouts[experiment_id] = (identity, layout)
        while len(self._layouts) > _LAYOUTS_KEPT:
            self._layouts.pop(next(iter(self._layouts)), None)

    def _record_from_history(
        self, experiment_id: str, version: int, layout: _layout.Layout | None
    ) -> StoredVersion:
        """Under the lock: one version's record as the history holds it."""
        path = self.history_path(experiment_id)
        span = None if layout is None else layout.span(version)
        fd = None if span is None else _open_document(path)
        if span is None or fd is None:
            raise ExperimentNotFoundError(experiment_id, version)
        try:
            return self._slice(path, fd, span, version)
        finally:
            os.close(fd)

    def _slice(
        self, path: Path, fd: int, span: tuple[int, int, int], version: int
    ) -> StoredVersion:
        start, end, _ = span
        # A history is named after its experiment: <id>.json.
        owner = path.name.removesuffix(".json")
        record = _parse_record(path, os.pread(fd, end - start, start), f"version {version}", owner)
        if record["version"] != version:
            raise CorruptHistoryError(path, f"version {version} is not where its layout says")
        return record

    def _snapshot(self, experiment_id: str) -> _Snapshot:
        """The history as read, and the version files present just after opening it."""
        path = self.history_path(experiment_id)
        fd = _open_document(path)
        if fd is None:
            return _Snapshot(None, None, self._pending(experiment_id))
        try:
            identity = _atomic.file_identity(os.fstat(fd))
            pending = self._pending(experiment_id)
            data = _read_object(path, fd, identity)
        finally:
            os.close(fd)
        return _Snapshot(data, identity, pending)

    def _merged(self, experiment_id: str, snapshot: _Snapshot) -> list[StoredVersion]:
        """Every version: the history's records, version files over them.

        Raises:
            _FoldedError: A version file was folded into a newer history meanwhile.
        """
        path = self.history_path(experiment_id)
        versions = {}
        if snapshot.data is not None:
            parsed = self._parse(path, snapshot.data, experiment_id, snapshot.identity)
            for stored in parsed["versions"]:
                versions[stored["version"]] = stored
        for version, known in snapshot.pending.items():
            current = versions.get(version)
            if current is not None and current.get("_revision", 0) >= known.revision:
                continue
            record = self._read_version_file(experiment_id, version, known)
            if record is None:
                raise _FoldedError
            versions[version] = record
        if _identity_of(path) != snapshot.identity:
            raise _FoldedError
        return [versions[v] for v in sorted(versions)]

    def _parse(
        self, path: Path, data: bytes, experiment_id: str, identity: list[int] | None = None
    ) -> dict[str, Any]:
        """Parse and check a history; a damaged one is remembered by its file identity."""
        try:
            if not data.strip():
                raise CorruptHistoryError(path, "the file is empty")
            try:
                document = _serialize.loads(data)
            except ValueError as error:
                raise CorruptHistoryError(path, f"not valid JSON ({error})") from None
            _document.check_document(path, document, experiment_id, FORMAT_VERSION)
            for stored in document["versions"]:
                _shared_columns.unpack(stored)
        except CorruptHistoryError as error:
            if identity is not None:
                _remember_corrupt(path, identity, error)
            raise
        return document  # type: ignore[no-any-return]

    # -- summaries and the listing, from the index ------------------------------------

    def summaries(self, experiment_id: str) -> list[dict[str, Any]]:
        """Per-version summaries from the index; see :meth:`Store.summaries`.

        The index describes the history file; versions with a version file, and
        running ones, are summarised afresh from their own records.

        Raises:
            CorruptHistoryError: The history file cannot be parsed.
        """
        for _ in range(_ATTEMPTS):
            before = self.history_identity(experiment_id)
            if before is None:
                return []
            try:
                summaries = self._summaries_once(experiment_id)
            except _FoldedError:
                continue
            if self.history_identity(experiment_id) == before:
                return summaries
        return Store.summaries(self, experiment_id)

    def _summaries_once(self, experiment_id: str) -> list[dict[str, Any]]:
        index, plain = None, False
        identity = _identity_of(self.history_path(experiment_id))
        if identity is not None:
            index = self._index_describing(experiment_id, identity)
            if index is None and self._await_fold(experiment_id, identity):
                index = self._index_describing(experiment_id, identity)
            if index is not None:
                plain = index["plain"]
            else:
                index = self._rebuild_index(experiment_id)
        entries = {} if index is None else {e["summary"]["version"]: e for e in index["versions"]}
        fresh = self._fresh_summaries(experiment_id, entries)
        out = []
        for version in sorted({*entries, *fresh}):
            if version in fresh:
                out.append(decode_summary(fresh[version]))
            else:
                summary = entries[version]["summary"]
                out.append(summary if plain else decode_summary(summary))
        return out

    def _fresh_summaries(
        self, experiment_id: str, entries: Mapping[int, dict[str, Any]]
    ) -> dict[int, dict[str, Any]]:
        """Summaries (stored form) of versions the index cannot tell about.

        Those with a version file, and running ones (their newest points are in the
        journal, and whether they crashed is found out now).
        """
        versions = set(self._pending(experiment_id))
        versions.update(v for v, e in entries.items() if e["summary"].get("status") == "running")
        fresh = {}
        for version in sorted(versions):
            try:
                stored = self.read_version(experiment_id, version)
            except ExperimentNotFoundError:
                raise _FoldedError from None
            fresh[version] = _index.summarize(stored)
        return fresh

    def version_table(self, experiment_id: str) -> VersionTable:
        """The listing of an experiment's versions; see :meth:`Store.version_table`.

        Only the first two lines of the index are read when it describes exactly
        the current history file; versions with a version file, and running ones,
        are summarised afresh.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            The table (no rows for an id that never ran).

        Raises:
            CorruptHistoryError: The history file cannot be parsed.
        """
        for _ in range(_ATTEMPTS):
            before = self.history_identity(experiment_id)
            if before is None:
                return VersionTable(experiment_id)
            try:
                table = self._table_once(experiment_id)
            except _FoldedError:
                continue
            if self.history_identity(experiment_id) == before:
                return table
        return Store.version_table(self, experiment_id)

    def _table_once(self, experiment_id: str) -> VersionTable:
        identity = _identity_of(self.history_path(experiment_id))
        listing, plain = _listing.build([]), True
        if identity is not None:
            found = self._listing_describing(experiment_id, identity)
            if found is None and self._await_fold(experiment_id, identity):
                found = self._listing_describing(experiment_id, identity)
            if found is not None:
                listing, plain = found
            else:
                index = self._rebuild_index(experiment_id)
                if index is not None:
                    listing = _listing.build([e["summary"] for e in index["versions"]])
                    plain = False
        rows = {version: row for row, version in enumerate(listing["version"])}
        running = {
            version: {"summary": {"status": "running"}}
            for version, status in zip(listing["version"], listing["status"], strict=True)
            if status == "running"
        }
        fresh = self._fresh_summaries(experiment_id, running)
        for version, summary in sorted(fresh.items()):
            if version in rows:
                _listing.set_row(listing, rows[version], summary)
            else:
                _listing.add_row(listing, summary)
        try:
            return _listing.to_table(experiment_id, listing, decode=not plain or bool(fresh))
        except (ValueError, TypeError):
            # A damaged value the index's shape check let through: rebuild it.
            index = self._rebuild_index(experiment_id)
            if index is None:
                raise _FoldedError from None
            listing = _listing.build([e["summary"] for e in index["versions"]])
            return _listing.to_table(experiment_id, listing, decode=True)

    def _listing_describing(
        self, experiment_id: str, identity: list[int]
    ) -> tuple[Any, bool] | None:
        """The index's listing (and whether it is plain), if it describes that history."""
        try:
            head = _atomic.read_lines(
                self.index_path(experiment_id), [_index_file.HEADER_LIMIT, -1]
            )
        except OSError:
            return None  # derived data replaced by something else: rebuilt
        if head is None:
            return None
        lines, index_info = head
        return _index_file.read_listing(lines, index_info.st_size, identity)

    def _index_current(self, experiment_id: str, identity: list[int]) -> bool:
        """Whether the index's header (read alone) says it describes that history."""
        try:
            head = _atomic.read_lines(self.index_path(experiment_id), [_index_file.HEADER_LIMIT])
        except OSError:
            return False
        if not head or not head[0]:
            return False
        return _index_file.header_describes(head[0][0], head[1].st_size, identity)

    def _index_bytes_describing(self, experiment_id: str, identity: list[int]) -> bytes | None:
        """The index file's bytes, if its header says it describes that history."""
        try:
            data = _atomic.read_bytes(self.index_path(experiment_id))
        except OSError:
            return None
        if data is None or not _index_file.describes(data, identity):
            return None
        return data

    def _index_describing(self, experiment_id: str, identity: list[int]) -> dict[str, Any] | None:
        try:
            data = _atomic.read_bytes(self.index_path(experiment_id))
        except OSError:
            return None
        # Derived data: an index that is unreadable or of another format is rebuilt.
        index = None if data is None else _index_file.decode(data)
        if index is None or index["source"] != identity:
            return None
        return index

    def _rebuild_index(self, experiment_id: str) -> dict[str, Any] | None:
        """Read the history once and write its index afresh; None when it is gone."""
        path = self.history_path(experiment_id)
        read = _read_document(path)
        if read is None:
            return None
        data, info = read
        versions = self._parse(path, data, experiment_id, _atomic.file_identity(info))["versions"]
        identity = _atomic.file_identity(info)
        entries = _index.summarize_all(versions, None)
        index = self._write_index(experiment_id, identity, entries, os.urandom(8).hex())
        by_version = {stored["version"]: stored for stored in versions}
        # Without the lock: write the files of this new generation, delete nothing (a
        # writer may have made newer ones meanwhile; the next write tidies up).
        self._write_columns(experiment_id, by_version.__getitem__, index, tidy=False)
        return index

    def _write_index(
        self,
        experiment_id: str,
        identity: list[int],
        entries: list[dict[str, Any]],
        generation: str,
    ) -> dict[str, Any]:
        index = {
            "format": _index.INDEX_FORMAT,
            "source": identity,
            "generation": generation,
            "versions": entries,
        }
        path = self.index_path(experiment_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic.write_atomic(
                path,
                _index_file.encode(identity, entries, generation),
                durable=False,
                locked_by_caller=False,
            )
        except OSError:
            pass  # a read-only or full disk: the index is only a cache, serve it unsaved
        return index

    # -- one metric of every version ----------------------------------------------------

    def read_metric(self, experiment_id: str, metric: str, x: str) -> MetricRead | None:
        """One metric of every version without parsing the rest; see :meth:`Store.read_metric`.

        From the versions' columns files when they are all current, else from the
        history file's outline (:mod:`.stores._fastread`). None when a version has
        a version file or is running, or the dashboard's libraries are missing.
        """
        try:
            from experiment_manager.stores import _fastread
        except ImportError:
            return None
        before = self.history_identity(experiment_id)
        if not isinstance(before, tuple) or before[1] or before[0] is None:
            return None  # versions newer than the history: read them the usual way
        # Only a history the full parser accepted (an index describes it) is read
        # directly, so this read steps aside exactly where the full parser refuses.
        if not self._index_current(experiment_id, before[0]):
            return None
        read = _fastread.read_metric(self, experiment_id, metric, x)
        if read is None or self.history_identity(experiment_id) != before:
            return None
        return MetricRead(identity=before, versions=read.versions)

    def columns_folder(self, experiment_id: str) -> Path:
        """Return the folder of an experiment's columns files (see :mod:`.stores._columns`).

        Args:
            experiment_id: A validated experiment id.

        Returns:
            ``<log_dir>/.expm/columns/<experiment_id>``.
        """
        return self.log_dir / INTERNAL_DIR / "columns" / experiment_id

    def columns_path(
        self, experiment_id: str, version: int, generation: str, fingerprint: list[Any]
    ) -> Path:
        """Return the columns file of one state of a version.

        Args:
            experiment_id: A validated experiment id.
            version: The version number.
            generation: The index's generation.
            fingerprint: The version's index fingerprint.

        Returns:
            ``<columns_folder>/<version>.<digest>.bin`` (see
            :func:`.stores._columns.file_name`).
        """
        name = _columns.file_name(version, generation, fingerprint)
        return self.columns_folder(experiment_id) / name

    def metric_columns(
        self,
        experiment_id: str,
        metric: str,
        kinds: tuple[str, ...],
    ) -> tuple[object, list[tuple[int, str, dict[str, Any]]]] | None:
        """One metric of every version, from the versions' columns files.

        Used only when the index describes exactly the current history file, the
        history is long enough to have columns files (see
        :data:`.stores._columns.MIN_BYTES_PER_VERSION`), no version is running, and
        every version's columns file for its current state (the index's generation
        and the version's fingerprint) is there and checks out; otherwise None, and
        the caller reads the history.

        Args:
            experiment_id: A validated experiment id.
            metric: The metric's name.
            kinds: The arrays wanted (see :data:`.stores._columns.KINDS`).

        Returns:
            The history file's identity and, per version in version order, its
            number, status and arrays (as :func:`.stores._columns.read` gives them).

        Example:
            >>> import tempfile
            >>> store = FileStore(Path(tempfile.mkdtemp()))
            >>> version = store.create_version("exp", {"config_name": "exp"})["version"]
            >>> def end(stored):  # a long curve: short ones keep no columns files
            ...     stored.update(status="finished", metrics={"loss": [0.25] * 100_000})
            >>> store.update_version("exp", 1, end)
            >>> _, [(number, status, arrays)] = store.metric_columns("exp", "loss", ("values",))
            >>> number, status, arrays["values"].cast("d").tolist()[-2:]
            (1, 'finished', [0.25, 0.25])
        """
        if self._pending(experiment_id):
            return None  # versions newer than the history: read them the usual way
        try:
            info = os.stat(self.history_path(experiment_id))
        except OSError:
            return None
        index = self._index_describing(experiment_id, _atomic.file_identity(info))
        if index is None:
            return None
        entries = index["versions"]
        if info.st_size < _columns.MIN_BYTES_PER_VERSION * len(entries):
            return None  # short versions: no files are kept
        if len({entry["summary"]["version"] for entry in entries}) != len(entries):
            return None  # a hand-merged history: leave it to the full read
        generation = index["generation"]
        out = []
        for entry in entries:
            summary, fingerprint = entry["summary"], entry["fingerprint"]
            version, status = summary.get("version"), summary.get("status")
            if type(status) is not str or status == "running":
                return None  # a running version's newest points are in its journal
            path = self.columns_path(experiment_id, version, generation, fingerprint)
            arrays = _columns.read(path, fingerprint, metric, kinds)
            if arrays is None:
                return None
            out.append((version, status, arrays))
        return index["source"], out

    def _write_columns(
        self,
        experiment_id: str,
        record_of: Callable[[int], StoredVersion],
        index: dict[str, Any],
        *,
        tidy: bool,
    ) -> None:
        """Give each version that is not running the columns file of its current state.

        Only for histories of at least :data:`.stores._columns.MIN_BYTES_PER_VERSION`
        bytes per version; shorter ones keep no files.

        Files are named after the index's generation and the version's fingerprint,
        so the names alone say which files are current: missing ones are written,
        and with ``tidy`` (a writer holding the lock) every other file goes (older
        states and generations, running versions, versions no longer stored). The
        files are only a cache: a failure to write them is not the caller's.
        """
        folder = self.columns_folder(experiment_id)
        generation = index["generation"]
        entries = index["versions"]
        if index["source"][1] < _columns.MIN_BYTES_PER_VERSION * len(entries):
            entries = []  # short versions: readers parse the history, keep no files
        try:
            present = set(_listdir(folder))
            current = set()
            for entry in entries:
                summary, fingerprint = entry["summary"], entry["fingerprint"]
                if summary.get("status") == "running" or summary.get("purged_at"):
                    continue  # a purged version has no points left to keep
                name = _columns.file_name(summary["version"], generation, fingerprint)
                current.add(name)
                if name in present:
                    continue
                data = _columns.encode(record_of(summary["version"]), fingerprint)
                if data is None:  # a point that is not a number: readers use the history
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                _atomic.write_atomic(folder / name, data, durable=False, locked_by_caller=False)
            for name in present - current if tidy else ():
                if name.endswith(".bin"):
                    with contextlib.suppress(FileNotFoundError):
                        (folder / name).unlink()
        except OSError:
            pass  # a full disk, a read-only folder: readers fall back to the history

    def journal_path(self, experiment_id: str, version: int, segment: int) -> Path:
        """Return a journal file of a version.

        Args:
            experiment_id: A validated experiment id.
            version: The version.
            segment: Which journal of the version.

        Returns:
            ``<log_dir>/.expm/journals/<experiment_id>/<version>.<segment>.jsonl``.
        """
        folder = self.log_dir / INTERNAL_DIR / "journals" / experiment_id
        return folder / f"{version}.{segment}.jsonl"

    def live_path(self, experiment_id: str, version: int) -> Path:
        """Return the liveness lock file of a version.

        Args:
            experiment_id: A validated experiment id.
            version: The version.

        Returns:
            ``<log_dir>/.expm/live/<experiment_id>/<version>.lock``.
        """
        return self.log_dir / INTERNAL_DIR / "live" / experiment_id / f"{version}.lock"

    def journal_name(self, experiment_id: str, version: int, segment: int) -> str:
        """Name a journal in error messages by its path."""
        return str(self.journal_path(experiment_id, version, segment))

    def open_journal(self, experiment_id: str, version: int, segment: int) -> JournalWriter:
        """Open a journal for appending; see :meth:`Store.open_journal`."""
        path = self.journal_path(experiment_id, version, segment)
        try:
            return _atomic.AppendFile(path)
        except OSError as error:
            raise _as_storage_error(error, path) from None

    def read_journal(self, experiment_id: str, version: int, segment: int, offset: int) -> bytes:
        """Read a journal from ``offset`` on; see :meth:`Store.read_journal`."""
        return _atomic.read_from(self.journal_path(experiment_id, version, segment), offset)

    def remove_journal(self, experiment_id: str, version: int, segment: int) -> None:
        """Delete a folded journal; see :meth:`Store.remove_journal`."""
        path = self.journal_path(experiment_id, version, segment)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _atomic.fsync_dir(path.parent)

    def hold_live(self, experiment_id: str, version: int) -> LiveHandle | None:
        """Take a version's liveness lock; see :meth:`Store.hold_live`."""
        path = self.live_path(experiment_id, version)
        try:
            return _liveness.take_owner(path)
        except OSError as error:
            raise _as_storage_error(error, path) from None

    def is_live(self, experiment_id: str, version: int) -> bool:
        """Whether a live process holds the liveness lock; see :meth:`Store.is_live`."""
        return _liveness.owner_alive(self.live_path(experiment_id, version))


def _history_revision(layout: _layout.Layout | None, version: int) -> int:
    """The revision of a version's record in the history (0 when it has none)."""
    span = None if layout is None else layout.span(version)
    return 0 if span is None else span[2]


def _newer_than_history(
    known: _Pending | None, layout: _layout.Layout | None, version: int
) -> _Pending | None:
    """A version file that is newer than the history's record, else None.

    One that is not (a writer killed between rewriting a small history and removing
    the file it folded) is left over: the history's record is the current one.
    """
    if known is None or known.revision <= _history_revision(layout, version):
        return None
    return known


def _as_storage_error(error: OSError, path: Path) -> OSError:
    """What the OS refused, as a StorageError naming the path (the library's own pass)."""
    if isinstance(error, ExperimentManagerError):
        return error
    return StorageError(error.filename or path, error)


def _parse_record(
    path: Path, raw: bytes, where: str, experiment_id: str, *, checked: bool = False
) -> StoredVersion:
    """One version's record, checked, its shared steps and times given back in full.

    ``checked``: these very bytes were made (and checked) by this process.
    """
    try:
        record = _serialize.loads(raw)
    except ValueError as error:
        raise CorruptHistoryError(path, f"not valid JSON ({error})") from None
    if not checked:
        _document.check_record(path, record, where, experiment_id)
    return _shared_columns.unpack(record)


class _FoldedError(Exception):
    """A version file was folded into a newer history while it was being read."""


def _busy(path: Path) -> CorruptHistoryError:
    # Only if writers keep replacing the history faster than it can be read, for long.
    return CorruptHistoryError(path, f"changed on each of {_ATTEMPTS} attempts to read it")


def _identity(history: list[int] | None, pending: Mapping[int, _Pending]) -> object:
    return (history, tuple(sorted(known.name for known in pending.values())))


def _identity_of(path: Path) -> list[int] | None:
    try:
        return _atomic.file_identity(os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return None


def _open_document(path: Path) -> int | None:
    """Open a history file; anything but a regular file is reported as a damaged history."""
    try:
        return _atomic.open_file(path)
    except _atomic.NotAFileError as error:
        raise CorruptHistoryError(path, f"is a {error.kind}, not a regular file") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            reason = (
                "is a symbolic link: histories are read only as regular files (replace "
                "the link by the file it points to, or move it out of the log folder)"
            )
        else:
            reason = f"cannot be read ({error.strerror or error})"
        raise CorruptHistoryError(path, reason) from None


def _just_replaced(identity: list[int]) -> bool:
    """Whether a file of that identity was written or renamed in the last few seconds."""
    return time.time_ns() - identity[3] < _JUST_REPLACED_NS


def _reopen(path: Path) -> tuple[list[int], int]:
    """Under the lock, just after writing it: the history's identity, and it open."""
    fd = _atomic.open_file(path)
    if fd is None:
        raise FileNotFoundError(errno.ENOENT, "removed just after it was written", str(path))
    return _atomic.file_identity(os.fstat(fd)), fd


def _read_document(path: Path) -> tuple[bytes, os.stat_result] | None:
    fd = _open_document(path)
    if fd is None:
        return None
    try:
        info = os.fstat(fd)
        return _read_object(path, fd, _atomic.file_identity(info)), info
    finally:
        os.close(fd)


def _read_object(path: Path, fd: int, identity: list[int]) -> bytes:
    """A whole file that is to hold a JSON object; refused before reading it if it cannot.

    A stray file of junk (1 GiB of it) is turned away from its first bytes, and a file
    found damaged before is not read again until it changes.
    """
    _raise_if_known_corrupt(path, identity)
    raw = os.pread(fd, 4096, 0)
    head = raw.lstrip(b" \t\r\n")
    if head and not head.startswith(b"{"):
        error: CorruptHistoryError
        if _json_value(head, whole=len(raw) < 4096):  # some other tool's file
            error = NotAHistoryError(path, f"not a JSON object: it starts with {head[:16]!r}")
        else:
            error = CorruptHistoryError(path, f"not a JSON object (it starts with {head[:16]!r})")
        _remember_corrupt(path, identity, error)
        raise error
    return _read_fd(fd)


def _json_value(head: bytes, *, whole: bool) -> bool:
    """Whether the start of a file is JSON other than an object (a list of labels, ...).

    A file read whole must parse; of a longer one only its first bytes are seen, so only
    an array counts (a file of junk stays a damaged history).
    """
    if not whole:
        return head.startswith(b"[")
    try:
        _serialize.loads(head)
    except ValueError:
        return False
    return True


# Histories found damaged, by path: the file's identity then and the error. A damaged
# file (a stray 1 GiB of junk) is not read again until it changes.
_CORRUPT: dict[Path, tuple[list[int], CorruptHistoryError]] = {}
_CORRUPT_KEPT = 256
_CORRUPT_LOCK = threading.Lock()


def _remember_corrupt(path: Path, identity: list[int], error: CorruptHistoryError) -> None:
    with _CORRUPT_LOCK:
        _CORRUPT[path] = (identity, error)
        while len(_CORRUPT) > _CORRUPT_KEPT:
            del _CORRUPT[next(iter(_CORRUPT))]


def _raise_if_known_corrupt(path: Path, identity: list[int]) -> None:
    with _CORRUPT_LOCK:
        known = _CORRUPT.get(path)
    if known is not None and known[0] == identity:
        raise known[1].with_traceback(None)  # the same report, not read again


def _read_fd(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    parts: list[bytes] = []
    offset = 0
    while True:
        chunk = os.pread(fd, max(size - offset, 65536), offset)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        offset += len(chunk)


def _listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


# Stores of this process whose histories wait for a deferred rewrite: done at exit.
_STORES: weakref.WeakSet[FileStore] = weakref.WeakSet()


@atexit.register
def _flush_stores() -> None:
    for store in list(_STORES):
        store._flush_at_exit()


# The processes that registered _flush_stores with multiprocessing (a forked child is
# another process, with a registry of its own).
_FINALIZED_IN: set[int] = set()


def _finalize_in_workers() -> None:
    """Fold at the end of a multiprocessing worker too: it leaves by ``os._exit``.

    A forked worker skips ``atexit``; multiprocessing runs its own finalizers instead.
    """
    if "multiprocessing" not in sys.modules or os.getpid() in _FINALIZED_IN:
        return
    from multiprocessing import util

    util.Finalize(None, _flush_stores, exitpriority=10)
    _FINALIZED_IN.add(os.getpid())
