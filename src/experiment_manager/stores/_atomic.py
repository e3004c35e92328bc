"""The only way files are written: an inter-process lock, then temp file, fsync, rename.

A reader therefore sees either the old or the new content of a file, never a mix, and a
process killed at any moment leaves at most a stale temp file that the next writer of
the same file overwrites. Locks are OS locks (``flock``; the filelock library on Windows),
which the kernel drops when their holder dies, so a killed process never blocks anyone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from experiment_manager.errors import LockTimeoutError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
#: ``os.open`` flags of every read of the store's files: no symbolic link followed, and
#: no wait on a FIFO planted in a file's place (it is then refused as not a file).
READ_FLAGS = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _BINARY | getattr(os, "O_NONBLOCK", 0)


class NotAFileError(OSError):
    """A path the store reads that holds something else than a regular file.

    Attributes:
        kind: What it is (``"directory"``, ``"FIFO"``, ``"socket"``, ...).
    """

    def __init__(self, path: Path, kind: str) -> None:
        self.kind = kind
        super().__init__(errno.EINVAL, f"is a {kind}, not a regular file", str(path))


_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def open_file(path: Path) -> int | None:
    """Open a regular file for reading, refusing anything else without blocking.

    Args:
        path: The file.

    Returns:
        The open descriptor, or None when nothing is there.

    Raises:
        NotAFileError: A directory, FIFO, socket or device is there.
        OSError: A symbolic link is there (``ELOOP``), or the file cannot be opened.

    Example:
        >>> open_file(Path("/nonexistent/file")) is None
        True
        >>> try:
        ...     open_file(Path("/"))
        ... except NotAFileError as error:
        ...     print(error.kind)
        directory
    """
    try:
        fd = os.open(path, READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ENXIO:  # a socket cannot be opened
            raise NotAFileError(path, "socket") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS if test(mode)), "special file")
        raise NotAFileError(path, kind)
    return fd


def temp_path(path: Path) -> Path:
    """Return the temp file used while ``path`` is being replaced.

    The name is fixed (hidden, beside the target) rather than random: writers hold the
    file's lock, so a temp file found there belongs to a writer that died, and the
    next write simply truncates it.

    Args:
        path: The file that will be replaced.

    Returns:
        ``<folder>/.<name>.tmp``.

    Example:
        >>> temp_path(Path("logs/mnist.json")).name
        '.mnist.json.tmp'
    """
    return path.with_name(f".{path.name}.tmp")


@contextlib.contextmanager
def locked(lock_path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive inter-process (and inter-thread) lock on ``lock_path``.

    The lock file exists only while someone holds it: the holder removes it before
    letting go, and a taker checks that the file it locked is still the one the path
    names (else its holder removed it meanwhile, and it takes the new one). So no lock
    file is left behind, and a killed holder's file blocks no one (the kernel drops
    the lock with the process).

    Args:
        lock_path: The lock file; its folder is created if needed.
        timeout: Seconds to wait for a live holder; 0 tries once; negative waits forever.

    Yields:
        None, while the lock is held.

    Raises:
        LockTimeoutError: Another live process held the lock for ``timeout`` seconds.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "x.lock"
        >>> with locked(path, timeout=5):
        ...     path.exists()
        True
        >>> path.exists()
        False
    """
    if fcntl is None:  # pragma: no cover - Windows: the filelock library's lock
        import filelock

        lock = filelock.FileLock(str(lock_path), timeout=timeout)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise LockTimeoutError(lock_path, timeout) from None
        try:
            yield
        finally:
            lock.release()
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout < 0 else time.monotonic() + timeout
    pause = 0.001
    flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC
    while True:
        fd = os.open(lock_path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeoutError(lock_path, timeout) from None
            time.sleep(pause)
            pause = min(2 * pause, 0.05)
            continue
        except BaseException:
            os.close(fd)
            raise
        if names(lock_path, fd):
            break
        os.close(fd)  # removed by its last holder meanwhile: take the new file
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)  # while still held: see above
        os.close(fd)


def names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not removed or replaced).

    Args:
        path: A path.
        fd: An open descriptor.

    Returns:
        True when both are the same file.

    Example:
        >>> names(Path("/"), os.open("/", os.O_RDONLY))
        True
    """
    try:
        return os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename in it) to disk, where the OS allows it.

    Args:
        folder: The folder.

    Example:
        >>> fsync_dir(Path("."))
    """
    if os.name == "nt":  # Windows cannot open a folder for fsync
        return
    fd = os.open(folder, os.O_RDONLY | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file written earlier to stable storage.

    Args:
        path: The file.

    Raises:
        OSError: It is gone, or the flush failed.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a.json"
        >>> write_atomic(target, b"{}", durable=False)
        >>> fsync_file(target)
    """
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Pieces(NamedTuple):
    """A file's content as runs of new bytes and runs copied from an open file.

    A run copied is ``(start, end)``, byte offsets in ``source``. The kernel copies it
    (``copy_file_range``) where it can, so a big file made mostly of another file's
    bytes is written without reading them into the process (or holding its
    interpreter lock while they are copied); elsewhere it is read and written in
    chunks.

    Attributes:
        parts: The runs, in order.
        source: The open file runs are copied from.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> write_atomic(folder / "a", b"0123456789")
        >>> fd = os.open(folder / "a", os.O_RDONLY)
        >>> write_atomic(folder / "b", Pieces([b"<", (2, 5), b">"], fd))
        >>> os.close(fd)
        >>> (folder / "b").read_bytes()
        b'<234>'
    """

    parts: Sequence[bytes | memoryview | tuple[int, int]]
    source: int


# Whether copy_file_range may be tried (it is refused on some kernels and file systems).
_KERNEL_COPY = [hasattr(os, "copy_file_range")]
_COPY_REFUSED = {errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}
_CHUNK = 1 << 20


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy_run(source: int, target: int, start: int, end: int) -> None:
    """Append ``source``'s bytes ``start..end`` to ``target`` (at its file position)."""
    while start < end:
        count = min(end - start, 1 << 30)
        copied = -1
        if _KERNEL_COPY[0]:
            try:
                copied = os.copy_file_range(source, target, count, start)
            except OSError as error:
                if error.errno not in _COPY_REFUSED:
                    raise
                _KERNEL_COPY[0] = False
        if copied < 0:
            chunk = os.pread(source, min(count, _CHUNK), start)
            _write_all(target, chunk)
            copied = len(chunk)
        if copied == 0:
            raise OSError(errno.EIO, f"the file copied from ends before byte {end}")
        start += copied


def _write_content(fd: int, data: bytes | Pieces) -> None:
    if not isinstance(data, Pieces):
        _write_all(fd, data)
        return
    for part in data.parts:
        if isinstance(part, tuple):
            _copy_run(data.source, fd, part[0], part[1])
        else:
            _write_all(fd, part)


def write_atomic(
    path: Path, data: bytes | Pieces, *, durable: bool = True, locked_by_caller: bool = True
) -> None:
    """Replace ``path`` with ``data``: temp file, fsync, ``os.replace``, fsync of the folder.

    The caller must hold the lock that guards ``path``.

    Args:
        path: The file to create or replace.
        data: Its new content (bytes, or runs of bytes and of another open file).
        durable: fsync the file and the folder. Derived files that are rebuilt
            when lost (indexes) skip it; the rename alone keeps them whole.
        locked_by_caller: The caller holds the file's lock, so the fixed temp
            name of :func:`temp_path` is safe. Otherwise a unique temp name is
            used (``.<name>.<pid>.<random>.tmp``).

    Raises:
        OSError: The write failed (disk full, permissions); ``path`` is unchanged.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a.json"
        >>> write_atomic(target, b"{}")
        >>> target.read_bytes()
        b'{}'
    """
    tmp = temp_path(path) if locked_by_caller else _unique_temp(path)
    _fill(tmp, data, exclusive=not locked_by_caller, durable=durable)
    _replace(tmp, path, durable=durable)


def _unique_temp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


def _fill(tmp: Path, data: bytes | Pieces, *, exclusive: bool, durable: bool) -> None:
    """Write ``data`` to a temp file (fsync'd if ``durable``); on failure none is left."""
    flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW | _CLOEXEC | _BINARY
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    fd = os.open(tmp, flags, 0o644)
    try:
        _write_content(fd, data)
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)


def _replace(tmp: Path, path: Path, *, durable: bool) -> None:
    """Rename a temp file over ``path``; on failure the temp file is removed."""
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


def write_temp(path: Path, data: bytes | Pieces) -> Path:
    """Write what is to replace ``path`` to a new temp file beside it, durably.

    For a writer that does not hold the file's lock while writing: the temp name is
    unique, and :func:`commit_temp` swaps it in later, under the lock.

    Args:
        path: The file that will be replaced.
        data: Its new content (bytes, or runs of bytes and of another open file).

    Returns:
        The temp file (``.<name>.<pid>.<random>.tmp``).

    Raises:
        OSError: The write failed; no temp file is left.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a.json"
        >>> commit_temp(write_temp(target, b"{}"), target)
        >>> target.read_bytes()
        b'{}'
    """
    tmp = _unique_temp(path)
    _fill(tmp, data, exclusive=True, durable=True)
    return tmp


def commit_temp(tmp: Path, path: Path, *, durable: bool = True) -> None:
    """Replace ``path`` with a temp file made by :func:`write_temp`.

    Args:
        tmp: The temp file.
        path: The file it replaces (in the same folder).
        durable: fsync the folder after the rename; a caller that holds a lock
            while renaming may do it later with :func:`fsync_dir`, after letting go.

    Raises:
        OSError: The rename failed; ``path`` is unchanged and the temp file removed.
    """
    _replace(tmp, path, durable=durable)


def read_with_stat(path: Path) -> tuple[bytes, os.stat_result] | None:
    """Read a whole file and the ``stat`` of exactly what was read (no symlinks followed).

    Args:
        path: The file.

    Returns:
        Its bytes and status, or None when it does not exist.

    Example:
        >>> read_with_stat(Path("/nonexistent/file")) is None
        True
    """
    fd = open_file(path)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(), os.fstat(fd)


def file_identity(info: os.stat_result) -> list[int]:
    """Numbers that change whenever a file is replaced or rewritten.

    Args:
        info: The file's ``stat``.

    Returns:
        Inode, size, and modification and change times in nanoseconds.

    Example:
        >>> len(file_identity(os.stat(".")))
        4
    """
    return [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def read_bytes(path: Path) -> bytes | None:
    """Read a whole file without following a symbolic link planted in its place.

    Args:
        path: The file.

    Returns:
        Its bytes, or None when it does not exist.

    Raises:
        OSError: The file exists but cannot be read (or is a symbolic link).

    Example:
        >>> read_bytes(Path("/nonexistent/file")) is None
        True
    """
    read = read_with_stat(path)
    return None if read is None else read[0]


def read_lines(path: Path, limits: Sequence[int]) -> tuple[list[bytes], os.stat_result] | None:
    r"""Read a file's first lines, and the ``stat`` of the file they came from.

    Only those lines are read, however big the file is (no symbolic links followed).

    Args:
        path: The file.
        limits: One entry per line wanted: the most bytes to read for it, or -1 for
            no limit. A line cut by its limit, or missing, ends the list early.

    Returns:
        The complete lines read (newline included) and the file's status, or None
        when it does not exist.

    Raises:
        OSError: The file exists but cannot be read (or is a symbolic link).

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a.jsonl"
        >>> _ = target.write_bytes(b"1\n22\n333\n")
        >>> read_lines(target, [8, 8])[0]
        [b'1\n', b'22\n']
        >>> read_lines(target, [1])[0]
        []
    """
    fd = open_file(path)
    if fd is None:
        return None
    lines: list[bytes] = []
    with os.fdopen(fd, "rb") as handle:
        for limit in limits:
            line = handle.readline(limit)
            if not line.endswith(b"\n"):
                break
            lines.append(line)
        return lines, os.fstat(fd)


def read_from(path: Path, offset: int) -> bytes:
    """Read a file from byte ``offset`` to its current end.

    Args:
        path: The file.
        offset: Bytes to skip.

    Returns:
        The bytes, or ``b""`` when the file does not exist.

    Example:
        >>> read_from(Path("/nonexistent/file"), 0)
        b''
    """
    fd = open_file(path)
    if fd is None:
        return b""
    with os.fdopen(fd, "rb") as handle:
        handle.seek(offset)
        return handle.read()


class AppendFile:
    r"""An ``O_APPEND`` file: each :meth:`append` is one ``write`` to the OS.

    Opening cuts off an incomplete last line (left by a writer that was killed in
    the middle of a write), so appended lines always start on a line of their own.
    The caller must be the file's only writer.

    Args:
        path: The file; it and its folder are created if needed.

    Example:
        >>> import tempfile
        >>> journal = AppendFile(Path(tempfile.mkdtemp()) / "j.jsonl")
        >>> journal.append(b'{"a":1}\n')
        >>> journal.close()
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW | _CLOEXEC | _BINARY
        self.path = path
        self._fd = os.open(path, flags, 0o644)
        try:
            self._cut_torn_tail()
        except BaseException:
            os.close(self._fd)
            raise

    def _cut_torn_tail(self) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        start = max(0, size - 65536)
        tail = read_from(self.path, start)
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        if cut < 0 and start > 0:  # a torn line longer than the tail read
            start, tail = 0, read_from(self.path, 0)
            cut = tail.rfind(b"\n")
        os.ftruncate(self._fd, start + cut + 1)

    def append(self, data: bytes) -> None:
        """Write ``data`` with one system call; it is in the OS when this returns.

        Args:
            data: Whole lines.

        Raises:
            OSError: The OS refused the write; the file is as it was before.
        """
        size = os.fstat(self._fd).st_size
        try:
            written = os.write(self._fd, data)
            if written != len(data):  # a full disk, a file-size limit
                os.write(self._fd, data[written:])
        except OSError:
            os.ftruncate(self._fd, size)  # whole lines only: the next line starts clean
            raise

    def fileno(self) -> int:
        """The open descriptor (``O_APPEND``), for callers that write to it directly."""
        return self._fd

    def sync(self) -> None:
        """Flush the file to stable storage."""
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
