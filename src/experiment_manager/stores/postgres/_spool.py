"""The local journal of a running version, and the thread that ships it to the server.

``log()`` must neither wait for the network nor lose a point to ``kill -9``. So each
point is appended to a journal file on the writer's own disk (one ``os.write``, as in
the folder store), and a background thread sends what is new to the server every
:data:`SHIP_INTERVAL` seconds, in one statement per journal (the server splits and
inserts the lines, see ``expm_ship`` in :mod:`._schema`). The shipped byte offset is
committed with the points, so a batch is never stored twice, whatever fails when.

A journal left behind by a killed writer is shipped by the next process that opens
the store on that host; until then, readers on that host read it directly.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiment_manager.errors import InvalidMetricError, StorageError

__all__ = ["SHIP_INTERVAL", "Shipper", "SpoolJournal", "spool_root"]

#: Seconds between two shipments of a running version's new points.
SHIP_INTERVAL = 0.05
_RETRY_MAX = 2.0

Key = tuple[int, int, int]  # experiment row id, version, journal segment


def spool_root(store_id: str) -> Path:
    """The folder of one store's local journals on this host.

    ``EXPM_SPOOL_DIR`` chooses the parent folder; by default it is
    ``$XDG_CACHE_HOME/experiment_manager/spool`` (``~/.cache/...``).

    Args:
        store_id: The store's random id (see :func:`._schema.ensure_schema`).

    Returns:
        The folder (not created here).
    """
    base = os.environ.get("EXPM_SPOOL_DIR")
    if not base:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(cache, "experiment_manager", "spool")
    return Path(base) / store_id


def journal_path(root: Path, key: Key) -> Path:
    """Where the journal of one version's segment lives."""
    experiment, version, segment = key
    return root / f"{experiment}-{version}-{segment}.jsonl"


def parse_name(name: str) -> Key | None:
    """The key a journal's file name stands for, or None for another file."""
    if not name.endswith(".jsonl"):
        return None
    try:
        experiment, version, segment = (int(part) for part in name[: -len(".jsonl")].split("-"))
    except ValueError:
        return None
    return experiment, version, segment


class SpoolJournal:
    """An open local journal: appended by ``log()``, shipped by a :class:`Shipper`.

    Args:
        path: The journal file.
        shipper: Ships it while it is open.
        key: Which version's segment it is.
    """

    def __init__(self, path: Path, shipper: Shipper, key: Key) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        size = os.fstat(self._fd).st_size
        if size:
            with open(path, "rb") as existing:
                data = existing.read()
            whole = data.rfind(b"\n") + 1
            if whole < size:  # a torn last line of a killed writer
                os.ftruncate(self._fd, whole)
        self._size = os.fstat(self._fd).st_size
        self._shipper = shipper
        self._key = key
        shipper.watch(key, path)

    def append(self, data: bytes) -> None:
        """Append whole lines; in the OS when this returns.

        Raises:
            InvalidMetricError: A metric name holds U+0000, which PostgreSQL text
                cannot store; nothing is written.
            StorageError: The OS refused the write; the journal keeps whole lines.
        """
        if b"\\u0000" in data:
            raise InvalidMetricError(
                data.decode("utf-8", "replace"), None, "PostgreSQL cannot store U+0000 in a name"
            )
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                os.write(self._fd, data[written:])
        except OSError as error:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise StorageError(self._path, error) from None
        self._size += len(data)

    def sync(self) -> None:
        """Flush to this disk, then wait until the server has committed every line."""
        os.fsync(self._fd)
        self._shipper.ship_now(self._key)

    def close(self) -> None:
        """Stop appending and shipping (ending the version ships the rest)."""
        self._shipper.unwatch(self._key)
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


class Shipper:
    """One thread per store and process that ships the open local journals.

    Args:
        ship: Sends ``data`` (whole lines) of a journal starting at ``offset``;
            returns the server's shipped offset afterwards.
        on_idle: Called about once a second from the thread (keeps liveness locks).
    """

    def __init__(self, ship: Callable[[Key, int, bytes], int], on_idle: Callable[[], None]) -> None:
        self._ship = ship
        self._on_idle = on_idle
        self._watched: dict[Key, list[Any]] = {}  # key -> [path, shipped offset, file]
        self._lock = threading.Lock()
        self._ship_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.failure: BaseException | None = None

    def watch(self, key: Key, path: Path, offset: int = 0) -> None:
        """Start shipping a journal from ``offset``."""
        with self._lock:
            self._reset_after_fork()
            self._watched[key] = [path, offset, None]
        self.start()

    def start(self) -> None:
        """Start the thread, if it is not running in this process."""
        with self._lock:
            self._reset_after_fork()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="expm-ship", daemon=True)
                self._thread.start()

    def unwatch(self, key: Key) -> None:
        """Stop shipping a journal (whatever is in flight completes or is refused)."""
        with self._lock:
            entry = self._watched.pop(key, None)
        if entry is not None and entry[2] is not None:
            entry[2].close()

    def ship_now(self, key: Key | None = None) -> None:
        """Ship everything appended so far (one journal, or all) before returning.

        Raises:
            StoreConnectionError: The server cannot be reached.
        """
        with self._lock:
            keys = [key] if key is not None else list(self._watched)
        for each in keys:
            self._ship_one(each, raise_errors=True)

    def _reset_after_fork(self) -> None:
        if self._pid != os.getpid():  # a forked child ships only its own journals
            self._pid = os.getpid()
            self._watched = {}
            self._thread = None

    def _ship_one(self, key: Key, *, raise_errors: bool) -> bool:
        with self._ship_lock:
            with self._lock:
                entry = self._watched.get(key)
            if entry is None:
                return False
            path, offset, handle = entry
            try:
                if handle is None:
                    handle = entry[2] = open(path, "rb")  # noqa: SIM115 (kept open while watched)
                handle.seek(offset)
                data = handle.read()
            except OSError:
                return False
            whole = data[: data.rfind(b"\n") + 1]
            if not whole:
                return False
            try:
                entry[1] = self._ship(key, offset, whole)
            except Exception:
                if raise_errors:
                    raise
                return False
            return True

    def _run(self) -> None:
        delay = SHIP_INTERVAL
        last_idle = time.monotonic()
        while True:
            with self._lock:
                if self._pid != os.getpid():
                    return
                keys = list(self._watched)
            failed = False
            for key in keys:
                try:
                    self._ship_one(key, raise_errors=True)
                except Exception as error:  # the server is away: keep the lines, retry
                    self.failure = error
                    failed = True
            if not failed:
                self.failure = None
            delay = min(delay * 2, _RETRY_MAX) if failed else SHIP_INTERVAL
            if time.monotonic() - last_idle >= 1.0:
                last_idle = time.monotonic()
                with contextlib.suppress(Exception):
                    self._on_idle()
            self._wake.wait(delay)
            self._wake.clear()
