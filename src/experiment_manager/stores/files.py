"""The default store: one strict-JSON history file per experiment id.

Layout inside ``log_dir``::

    <id>.json                       the history: {"format": 1, "experiment_id", "versions"}
    .<id>.json.tmp                  only while a write is under way (or left by a killed writer)
    .expm/locks/<id>.lock           the OS lock every writer of the history holds
    .expm/journals/<id>/<v>.<s>.jsonl  streamed points of a running version (JSON Lines)
    .expm/live/<id>/<v>.lock        the OS lock the process running version v holds
    .expm/index/<id>.json           per-version summaries (derived; rebuilt when stale)
    .expm/columns/<id>/<v>.<d>.bin  a finished version's points as float64 arrays (derived)

The history is replaced atomically under the lock and re-read inside it, so no writer
loses another's update. A file that cannot be parsed raises
:class:`~experiment_manager.errors.CorruptHistoryError` and is never written over.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from experiment_manager import _serialize
from experiment_manager._naming import unsafe_reason
from experiment_manager.errors import CorruptHistoryError, UnsupportedFormatError
from experiment_manager.models import VersionTable
from experiment_manager.stores import _atomic, _columns, _index, _index_file, _listing, _liveness
from experiment_manager.stores.base import (
    FORMAT_VERSION,
    JournalWriter,
    LiveHandle,
    Store,
    StoredVersion,
    decode_summary,
)

__all__ = ["FileStore"]

T = TypeVar("T")

HISTORY_SUFFIX = ".json"
INTERNAL_DIR = ".expm"
# Histories this store wrote last, kept parsed: when the file still holds exactly the
# bytes we wrote, the next write skips parsing it again. Big ones are not kept, so a
# long-lived process does not hold a huge history it no longer writes.
_CACHED_DOCUMENTS = 4
_CACHED_DOCUMENT_BYTES = 32 * 2**20


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
        self.log_dir = log_dir
        self.lock_timeout = lock_timeout
        self._written: OrderedDict[str, tuple[bytes, dict[str, Any], dict[str, Any] | None]] = (
            OrderedDict()
        )
        self._written_lock = threading.Lock()

    def history_path(self, experiment_id: str) -> Path:
        """Return the history file of an experiment.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            ``<log_dir>/<experiment_id>.json``.
        """
        return self.log_dir / f"{experiment_id}{HISTORY_SUFFIX}"

    def lock_path(self, experiment_id: str) -> Path:
        """Return the lock file that guards an experiment's history.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            ``<log_dir>/.expm/locks/<experiment_id>.lock``.
        """
        return self.log_dir / INTERNAL_DIR / "locks" / f"{experiment_id}.lock"

    def transact(self, experiment_id: str, change: Callable[[list[StoredVersion]], T]) -> T:
        """Lock, re-read, change, write atomically, unlock; see :meth:`Store.transact`.

        Raises:
            CorruptHistoryError: The current file cannot be parsed; it is left as it is.
            LockTimeoutError: Another live writer held the lock too long.
        """
        path = self.history_path(experiment_id)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with _atomic.locked(self.lock_path(experiment_id), self.lock_timeout):
            read = _atomic.read_with_stat(path)
            data = None if read is None else read[0]
            with self._written_lock:
                cached = self._written.pop(experiment_id, None)
            previous_index = None
            if cached is not None and cached[0] == data:
                document = cached[1]  # the file holds exactly what we last wrote
                previous_index = cached[2]
            elif read is None:
                document = {
                    "format": FORMAT_VERSION,
                    "experiment_id": experiment_id,
                    "versions": [],
                }
            else:
                document = self._parse(path, read[0], experiment_id)
                # Summaries of versions this change leaves alone can be reused only
                # from an index that described exactly the history just read.
                previous_index = self._index_describing(experiment_id, read[1])
            result = change(document["versions"])
            encoded = _serialize.dumps(document)
            _atomic.write_atomic(path, encoded)
            index = self._write_index(experiment_id, document, os.stat(path), previous_index)
            self._write_columns(experiment_id, document["versions"], index, tidy=True)
            if len(encoded) <= _CACHED_DOCUMENT_BYTES:
                with self._written_lock:
                    self._written[experiment_id] = (encoded, document, index)
                    while len(self._written) > _CACHED_DOCUMENTS:
                        self._written.popitem(last=False)
        return result

    def load_with_identity(self, experiment_id: str) -> tuple[list[StoredVersion], object]:
        """Read an experiment's versions; see :meth:`Store.load_with_identity`.

        Raises:
            CorruptHistoryError: The file cannot be parsed or has the wrong shape.
        """
        path = self.history_path(experiment_id)
        read = _atomic.read_with_stat(path)
        if read is None:
            return [], None
        data, info = read
        document = self._parse(path, data, experiment_id)
        return list(document["versions"]), _atomic.file_identity(info)

    def history_identity(self, experiment_id: str) -> object:
        """Inode, size and times of the history file; see :meth:`Store.history_identity`."""
        try:
            return _atomic.file_identity(os.stat(self.history_path(experiment_id)))
        except FileNotFoundError:
            return None

    def experiment_ids(self) -> list[str]:
        """Return the ids of every history file in ``log_dir``, sorted.

        Returns:
            The ids; ``[]`` when the folder does not exist yet.
        """
        try:
            names = os.listdir(self.log_dir)
        except FileNotFoundError:
            return []
        ids = (name[: -len(HISTORY_SUFFIX)] for name in names if name.endswith(HISTORY_SUFFIX))
        return sorted(i for i in ids if unsafe_reason(i) is None)

    def index_path(self, experiment_id: str) -> Path:
        """Return the summary index of an experiment.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            ``<log_dir>/.expm/index/<experiment_id>.json``.
        """
        return self.log_dir / INTERNAL_DIR / "index" / f"{experiment_id}.json"

    def summaries(self, experiment_id: str) -> list[dict[str, Any]]:
        """Per-version summaries from the index; see :meth:`Store.summaries`.

        The index is used when it describes exactly the current history file
        (same inode, size and times); otherwise the history is read once and the
        index rebuilt. Running versions are brought up to date from their journal.

        Raises:
            CorruptHistoryError: The history file cannot be parsed.
        """
        path = self.history_path(experiment_id)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return []
        index = self._index_describing(experiment_id, info)
        if index is not None:
            try:
                return self._summaries_from(experiment_id, index, decode=not index["plain"])
            except (KeyError, TypeError, ValueError, AttributeError):
                pass  # a damaged index: derived data, rebuilt below
        index = self._rebuild_index(experiment_id)
        if index is None:
            return []
        return self._summaries_from(experiment_id, index, decode=True)

    def version_table(self, experiment_id: str) -> VersionTable:
        """The listing of an experiment's versions; see :meth:`Store.version_table`.

        Only the first two lines of the index are read when it describes exactly
        the current history file; otherwise the history is read once and the index
        rebuilt. Running versions are brought up to date from their journal.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            The table (no rows for an id that never ran).

        Raises:
            CorruptHistoryError: The history file cannot be parsed.
        """
        path = self.history_path(experiment_id)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return VersionTable(experiment_id)
        head = _atomic.read_lines(self.index_path(experiment_id), [_index_file.HEADER_LIMIT, -1])
        if head is not None:
            lines, index_info = head
            found = _index_file.read_listing(lines, index_info.st_size, _atomic.file_identity(info))
            if found is not None:
                listing, plain = found
                try:
                    return self._table(experiment_id, listing, decode=not plain)
                except (ValueError, TypeError):
                    pass  # a damaged value the shape check let through: rebuild below
        index = self._rebuild_index(experiment_id)
        if index is None:
            return VersionTable(experiment_id)
        listing = _listing.build([e["summary"] for e in index["versions"]])
        return self._table(experiment_id, listing, decode=True)

    def _rebuild_index(self, experiment_id: str) -> dict[str, Any] | None:
        """Read the history once and write its index afresh; None when it is gone."""
        path = self.history_path(experiment_id)
        read = _atomic.read_with_stat(path)
        if read is None:
            return None
        data, info = read
        document = self._parse(path, data, experiment_id)
        index = self._write_index(experiment_id, document, info, None)
        # Without the lock: write the files of this new generation, delete nothing (a
        # writer may have made newer ones meanwhile; the next write tidies up).
        self._write_columns(experiment_id, document["versions"], index, tidy=False)
        return index

    def _table(self, experiment_id: str, listing: dict[str, Any], *, decode: bool) -> VersionTable:
        """The table of a listing, its running versions brought up to date."""
        statuses = listing["status"]
        rows = {
            version: row
            for row, version in enumerate(listing["version"])
            if statuses[row] == "running"
        }
        if rows:
            for stored in self.current_versions(experiment_id):
                if stored["version"] in rows:
                    _listing.set_row(listing, rows[stored["version"]], _index.summarize(stored))
            decode = True
        return _listing.to_table(experiment_id, listing, decode=decode)

    def _summaries_from(
        self, experiment_id: str, index: dict[str, Any], *, decode: bool
    ) -> list[dict[str, Any]]:
        running = {
            entry["summary"]["version"]
            for entry in index["versions"]
            if entry["summary"].get("status") == "running"
        }
        fresh = {}
        if running:
            for stored in self.current_versions(experiment_id):
                if stored["version"] in running:
                    fresh[stored["version"]] = _index.summarize(stored)
        # The index was parsed (or built) for this call alone, so its summaries are
        # decoded in place, unless its text holds no tags or non-finite names.
        out = []
        for entry in index["versions"]:
            version = entry["summary"]["version"]
            if version in fresh:
                out.append(decode_summary(fresh[version]))
                continue
            summary = entry["summary"]
            out.append(decode_summary(summary) if decode else summary)
        return out

    def _index_describing(self, experiment_id: str, info: os.stat_result) -> dict[str, Any] | None:
        index = self._read_index(experiment_id)
        if index is None or index["source"] != _atomic.file_identity(info):
            return None
        return index

    def _read_index(self, experiment_id: str) -> dict[str, Any] | None:
        data = _atomic.read_bytes(self.index_path(experiment_id))
        # Derived data: an index that is unreadable or of another format is rebuilt.
        return None if data is None else _index_file.decode(data)

    def _write_index(
        self,
        experiment_id: str,
        document: dict[str, Any],
        info: os.stat_result,
        previous: dict[str, Any] | None,
    ) -> dict[str, Any]:
        source = _atomic.file_identity(info)
        entries = _index.summarize_all(document["versions"], previous)
        # A history the index did not describe was changed by something else than this
        # library (by hand, a restore, an older library): files derived from the old
        # one must not be taken for this one's, so the generation changes.
        generation = os.urandom(8).hex() if previous is None else previous["generation"]
        index = {
            "format": _index.INDEX_FORMAT,
            "source": source,
            "generation": generation,
            "versions": entries,
        }
        path = self.index_path(experiment_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic.write_atomic(
                path,
                _index_file.encode(source, entries, generation),
                durable=False,
                locked_by_caller=False,
            )
        except PermissionError:
            pass  # a read-only log dir: the index is only a cache, serve it unsaved
        return index

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
            >>> def end(versions):  # a long curve: short ones keep no columns files
            ...     versions[0].update(status="finished", metrics={"loss": [0.25] * 10_000})
            >>> store.transact("exp", end)
            >>> _, [(number, status, arrays)] = store.metric_columns("exp", "loss", ("values",))
            >>> number, status, arrays["values"].cast("d").tolist()[-2:]
            (1, 'finished', [0.25, 0.25])
        """
        try:
            info = os.stat(self.history_path(experiment_id))
            index = self._index_describing(experiment_id, info)
        except OSError:
            return None
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
        versions: list[StoredVersion],
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
        by_version = {stored["version"]: stored for stored in versions} if entries else {}
        try:
            present = set(_listdir(folder))
            current = set()
            for entry in entries:
                summary, fingerprint = entry["summary"], entry["fingerprint"]
                if summary.get("status") == "running":
                    continue
                name = _columns.file_name(summary["version"], generation, fingerprint)
                current.add(name)
                if name in present:
                    continue
                data = _columns.encode(by_version[summary["version"]], fingerprint)
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
        return _atomic.AppendFile(self.journal_path(experiment_id, version, segment))

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
        return _liveness.take_owner(self.live_path(experiment_id, version))

    def is_live(self, experiment_id: str, version: int) -> bool:
        """Whether a live process holds the liveness lock; see :meth:`Store.is_live`."""
        return _liveness.owner_alive(self.live_path(experiment_id, version))

    def _read_document(self, path: Path, experiment_id: str) -> dict[str, Any] | None:
        data = _atomic.read_bytes(path)
        return None if data is None else self._parse(path, data, experiment_id)

    def _parse(self, path: Path, data: bytes, experiment_id: str) -> dict[str, Any]:
        if not data.strip():
            raise CorruptHistoryError(path, "the file is empty")
        try:
            document = _serialize.loads(data)
        except ValueError as error:
            raise CorruptHistoryError(path, f"not valid JSON ({error})") from None
        check_document(path, document, experiment_id)
        return document  # type: ignore[no-any-return]


def _listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def check_document(path: Path, document: Any, experiment_id: str) -> None:
    """Check that parsed JSON has the shape of a history document.

    Args:
        path: The file it came from, for error messages.
        document: The parsed JSON.
        experiment_id: The id the file should belong to.

    Raises:
        UnsupportedFormatError: The format number is newer than this library reads.
        CorruptHistoryError: Anything else is wrong with the shape.
    """
    if not isinstance(document, dict):
        raise CorruptHistoryError(path, f"expected an object, found {type(document).__name__}")
    found = document.get("format")
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise CorruptHistoryError(path, f"missing or invalid format number {found!r}")
    if found > FORMAT_VERSION:
        raise UnsupportedFormatError(path, found, FORMAT_VERSION)
    if document.get("experiment_id") != experiment_id:
        raise CorruptHistoryError(
            path, f"holds experiment {document.get('experiment_id')!r}, not {experiment_id!r}"
        )
    versions = document.get("versions")
    if not isinstance(versions, list):
        raise CorruptHistoryError(path, "'versions' is not a list")
    for index, version in enumerate(versions):
        if not (
            isinstance(version, dict)
            and type(version.get("version")) is int
            and isinstance(version.get("metrics", {}), dict)
            and isinstance(version.get("checkpoints", []), list)
        ):
            raise CorruptHistoryError(path, f"versions[{index}] is not a valid version record")
        if not all(type(p) is str for p in version.get("checkpoints", [])):
            raise CorruptHistoryError(path, f"versions[{index}].checkpoints holds a non-string")
        for name, values in version.get("metrics", {}).items():
            if not _valid_metric_list(values):
                raise CorruptHistoryError(
                    path, f"versions[{index}].metrics[{name!r}] is not a list of numbers"
                )


def _valid_metric_list(values: Any) -> bool:
    """A stored metric list: numbers and the three non-finite names, nothing else."""
    if type(values) is not list:
        return False
    kinds = set(map(type, values))
    if kinds <= _serialize.PLAIN_NUMBERS:
        return True
    if kinds <= _serialize.PLAIN_NUMBERS | {str}:
        return all(v in _serialize.NONFINITE_NAMES for v in values if type(v) is str)
    return False
