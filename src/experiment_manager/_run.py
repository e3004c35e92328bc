"""The run lifecycle: one active version, its journal, liveness lock and ending.

An :class:`ActiveRun` exists while a process runs a version. It holds the version's
liveness lock (so readers can tell a live run from a crashed one), an open journal
that streamed points are appended to, and the step counter. Ending it folds the
journal into the history, records the final status and releases the lock.
"""

from __future__ import annotations

import os
import re
import threading
from datetime import datetime, timezone
from typing import Any, NoReturn

from experiment_manager import _checkpoints, _serialize
from experiment_manager.errors import InvalidArgumentError, StorageError
from experiment_manager.stores.base import JournalWriter, LiveHandle, Store, StoredVersion

__all__ = ["MAX_STEP", "SYSTEM_PREFIX", "ActiveRun", "next_step_after", "now_iso"]

#: The largest step: steps are 64-bit integers in every store (PostgreSQL's bigint).
MAX_STEP = 2**63 - 1

#: Metrics the system sampler logs are named under this prefix; their step is the
#: sample number, so they do not move the default step of the user's points.
SYSTEM_PREFIX = "system/"

# In a journal line encoded from the user's dict as it is, a value that is not a
# finite number shows as `":` followed by t/f (bool), n (None, NaN, Inf), " (str),
# [ or {. A line without that (from a dict without an empty name) needs no other check.
_NOT_A_NUMBER = re.compile(rb'":[tfn"\[{]')
_VALUES_START = len(b'{"m":{')


def now_iso() -> str:
    """The current time as ISO 8601 with a UTC offset, to the microsecond.

    Returns:
        For example ``2026-11-29T00:13:43.267335+00:00``.

    Example:
        >>> now_iso().endswith("+00:00")
        True
    """
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def next_step_after(record: StoredVersion) -> int:
    """The default step of the next streamed point of a version.

    Args:
        record: A stored version with its journal folded.

    Returns:
        One more than the largest step logged so far, or 0.

    Example:
        >>> next_step_after({"steps": {"loss": [0, 1, None], "acc": [5], "system/cpu": [90]}})
        6
    """
    steps = [
        step
        for name, values in (record.get("steps") or {}).items()
        if not name.startswith(SYSTEM_PREFIX)  # sample numbers: a step axis of their own
        for step in values
        if isinstance(step, int)
    ]
    return max(steps) + 1 if steps else 0


class ActiveRun:
    """A version this process is running.

    Args:
        store: The backend.
        experiment_id: The experiment.
        version: The version.
        live: The held liveness lock.
        journal: The version's journal, open for appending.
        segment: The journal segment it is.
        next_step: The default step of the next point.
        fsync: Whether every point is flushed to stable storage.
    """

    def __init__(
        self,
        store: Store,
        experiment_id: str,
        version: int,
        *,
        live: LiveHandle,
        journal: JournalWriter,
        segment: int,
        next_step: int,
        fsync: bool,
    ) -> None:
        import orjson  # deferred: keeps `import experiment_manager` cheap

        self.store = store
        self.experiment_id = experiment_id
        self.version = version
        self.next_step = next_step
        self._live: LiveHandle | None = live
        self._journal = journal
        self._fsync = fsync
        self._dumps = orjson.dumps
        self._newline = orjson.OPT_APPEND_NEWLINE
        self._append = self._journal.append
        # A journal that is a file is written with os.write on its descriptor directly:
        # the hot path of log() then costs one system call and no method call.
        fileno = getattr(self._journal, "fileno", None)
        self._fd: int = fileno() if fileno is not None else -1
        self._segment = segment
        # The journal's length after the last whole line: where a failed write is cut.
        self._size = os.fstat(self._fd).st_size if self._fd >= 0 else 0
        self._hashers: list[threading.Thread] = []
        self.ended = False

    def write_point(
        self, metrics: Any, step: int | None, wall_time: float, *, advance: bool = True
    ) -> int:
        """Validate one step's values and append them to the journal.

        The common case (a dict of non-empty str names to finite floats and ints)
        is encoded once and checked on the encoded bytes; anything else goes through
        :func:`~experiment_manager._serialize.metric_point`, which converts what it
        can (numpy scalars, NaN, Inf) and raises on the rest. The point is in the
        OS when this returns.

        Args:
            metrics: Metric name to one real number, as the user passed it.
            step: The step, or None for the next default step.
            wall_time: Seconds since the epoch when the user made the call.
            advance: Make the default step of the next point one more than this
                one (False for points on a step axis of their own, such as system
                samples).

        Returns:
            The step used.

        Raises:
            InvalidArgumentError: ``metrics`` is not a mapping, or no step is given
                after a point at :data:`MAX_STEP`.
            InvalidMetricError: A name or value is invalid; nothing is written.
            StorageError: The OS refused the write (a full disk); nothing of this
                point is in the journal, and the points before it are intact.
        """
        if step is None:
            step = self.next_step
            if step > MAX_STEP:  # the point before was at MAX_STEP: refused, not stored
                raise InvalidArgumentError(
                    "step", None, f"must be given: the default step would pass {MAX_STEP}"
                )
        try:
            line = self._dumps({"m": metrics, "s": step, "t": wall_time}, option=self._newline)
            clean = (
                isinstance(metrics, dict)
                and bool(metrics)
                and "" not in metrics
                and _NOT_A_NUMBER.search(line, _VALUES_START) is None
            )
        except TypeError:  # not a dict, a non-str name, numpy or other number types
            clean = False
        if not clean:
            values = _serialize.metric_point(metrics)
            if not values:
                return step
            line = self._dumps({"m": values, "s": step, "t": wall_time}, option=self._newline)
        if self._fd < 0:
            self._append(line)
        else:
            try:
                written = os.write(self._fd, line)
                if written != len(line):  # a full disk, a file-size limit
                    os.write(self._fd, line[written:])
                if self._fsync:
                    os.fsync(self._fd)
            except OSError as error:
                self._undo(error)
            self._size += len(line)
        if self._fsync and self._fd < 0:
            self._journal.sync()
        if advance:
            self.next_step = step + 1
        return step

    def _undo(self, error: OSError) -> NoReturn:
        """Cut a line the OS took only in part, so the journal keeps whole lines only.

        Every point acknowledged before stays readable, the next point starts on a line
        of its own, and the caller learns that this one was not stored.
        """
        path = self.store.journal_name(self.experiment_id, self.version, self._segment)
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:  # cannot shrink it: the next open cuts the torn tail
            self._fd = -1
        raise StorageError(path, error) from None

    def flush(self) -> None:
        """Flush the journal to stable storage (fsync)."""
        self._journal.sync()

    def hash_checkpoint(self, index: int, path: str) -> None:
        """Compute a checkpoint's SHA-256 in a background thread and record it.

        Args:
            index: The checkpoint's position in ``checkpoint_details``.
            path: Its absolute path.
        """

        def work() -> None:
            state = _checkpoints.file_state(path)
            digest = _checkpoints.sha256_of(path)

            def record(stored: StoredVersion) -> None:
                detail = stored["checkpoint_details"][index]
                # A file rewritten while it was hashed keeps no hash.
                if _checkpoints.file_state(path) == state:
                    detail["sha256"] = digest

            self.store.update_version(self.experiment_id, self.version, record)

        thread = threading.Thread(target=work, name="expm-sha256", daemon=True)
        thread.start()
        self._hashers.append(thread)

    def end(self, status: str, error: dict[str, str] | None, ended_at: str) -> StoredVersion:
        """Finish the run: fold the journal, record the status, release the lock.

        Args:
            status: ``finished``, ``failed``, ``killed`` or ``crashed``.
            error: For ``failed``: the exception's ``type`` and ``message``.
            ended_at: The end time (ISO 8601 with offset).

        Returns:
            The version as stored after ending.
        """
        for thread in self._hashers:
            thread.join()
        self._journal.close()
        try:
            stored = self.store.end_version(
                self.experiment_id, self.version, status, ended_at=ended_at, error=error
            )
        finally:
            self.ended = True
            live, self._live = self._live, None
            if live is not None:
                live.release()
        assert stored is not None  # only_if_running was not asked for
        return stored
