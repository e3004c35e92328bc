"""Liveness locks: how a reader tells a running version from a crashed one.

The process running a version holds an *exclusive* OS lock on the version's lock file
for as long as it runs; the kernel drops it when the process dies, however it dies. A
run that ends removes the file (while still holding it), so none is left behind.
Readers probe with a *shared* lock: it is refused while the owner lives, granted once
it is gone, and probes never refuse each other, so any number of readers can look at
once without one reader making a crashed run look alive to another.

On Unix this is ``flock``, which works between processes and between separate opens
in one process. Elsewhere the filelock library's exclusive lock stands in (probes then
exclude each other for the instant they hold it).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from experiment_manager.stores import _atomic

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["OwnerLock", "owner_alive", "take_owner"]

_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
# Probes only read, so they work in a log dir the reader may not write to.
_PROBE_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
# A probe holds its shared lock for microseconds; taking ownership retries for this long
# so that readers probing at that moment are not mistaken for a live owner.
_OWNER_RETRY_SECONDS = 0.5


class OwnerLock:
    """A held lock; released by :meth:`release` or by the process ending.

    Args:
        handle: An open descriptor holding a ``flock``, or a filelock object.
    """

    def __init__(self, handle: object, path: Path | None = None) -> None:
        self._handle: object | None = handle
        self._path = path
        self._pid = os.getpid()

    def release(self) -> None:
        """Release the lock and remove its file (idempotent)."""
        handle, self._handle = self._handle, None
        if isinstance(handle, int):
            # A forked child closes only its copy: the parent still holds the lock.
            if self._path is not None and os.getpid() == self._pid:
                # Removed while still held: a new owner locks a new file (take_owner
                # checks it locked the file the path names), so no run leaves one behind.
                with contextlib.suppress(OSError):
                    os.unlink(self._path)
            os.close(handle)  # closing the descriptor drops its flock
        elif handle is not None:
            handle.release()  # type: ignore[attr-defined]


def _try_flock(path: Path, mode: int, flags: int = _FLAGS) -> int | None:
    assert fcntl is not None
    fd = os.open(path, flags, 0o644)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def take_owner(path: Path) -> OwnerLock | None:
    """Take the exclusive lock of a version's owner, without blocking for long.

    Args:
        path: The version's lock file; it and its folder are created if needed.

    Returns:
        The held lock, or None when a live owner (in any process, or another
        manager in this one) holds it.

    Example:
        >>> import tempfile
        >>> owner = take_owner(Path(tempfile.mkdtemp()) / "1.lock")
        >>> owner is not None
        True
        >>> owner.release()
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        import filelock

        lock = filelock.FileLock(str(path), timeout=_OWNER_RETRY_SECONDS)
        try:
            lock.acquire()
        except filelock.Timeout:
            return None
        return OwnerLock(lock)
    deadline = time.monotonic() + _OWNER_RETRY_SECONDS
    while True:
        fd = _try_flock(path, fcntl.LOCK_EX)
        if fd is not None:
            if _atomic.names(path, fd):
                return OwnerLock(fd, path)
            os.close(fd)  # the file was removed by its last owner meanwhile: again
            continue
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.005)


def owner_alive(path: Path) -> bool:
    """Whether a live process holds a version's owner lock.

    Args:
        path: The version's lock file.

    Returns:
        True while the owner lives; False when there is no lock file or nobody
        holds it (the owner ended, or died).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "1.lock"
        >>> owner = take_owner(path)
        >>> owner_alive(path)
        True
        >>> owner.release()
        >>> owner_alive(path)
        False
    """
    if not path.exists():
        return False
    if fcntl is None:  # pragma: no cover - Windows
        probe = take_owner(path)
        if probe is None:
            return True
        probe.release()
        return False
    try:
        fd = _try_flock(path, fcntl.LOCK_SH, _PROBE_FLAGS)
    except FileNotFoundError:
        return False
    if fd is None:
        return True
    os.close(fd)
    return False
