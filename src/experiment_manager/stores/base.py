"""The store interface: a few primitives that every backend implements.

A store keeps, per experiment id, the list of its versions in *stored form*: plain
JSON data exactly as it is written to disk (non-finite numbers as the strings and tags
described in :mod:`experiment_manager._serialize`), plus, per running version, an
append-only *journal* of streamed points and a *liveness lock* held by the process
that runs the version.

Backends implement the primitives marked abstract; everything else (version
allocation, appending, folding journals, deciding whether a run crashed, decoding) is
built on them here, once, so all backends behave alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from experiment_manager import _serialize
from experiment_manager.errors import ExperimentNotFoundError
from experiment_manager.models import VersionTable
from experiment_manager.stores._codec import decode_summary, decode_version
from experiment_manager.stores._journal import apply_journal, extend

if TYPE_CHECKING:
    from experiment_manager.query import Query
    from experiment_manager.stores._metric_read import MetricRead, SeriesRequest

__all__ = [
    "FORMAT_VERSION",
    "JournalWriter",
    "LiveHandle",
    "Store",
    "StoredVersion",
    "decode_summary",
    "decode_version",
    "new_record",
]

#: The number written as ``"format"`` in every history document (1 is still read).
FORMAT_VERSION = 2

#: Run states. ``running`` is stored while a version is active; ``crashed`` is never
#: stored by a writer: readers report it for a ``running`` version whose process is gone.
STATUSES = ("running", "finished", "failed", "killed", "crashed")
END_STATUSES = ("finished", "failed", "killed", "crashed")

# A history rewritten on every attempt belongs to a live writer; the last read stands.
_CONSISTENT_READ_ATTEMPTS = 10

StoredVersion = dict[str, Any]
T = TypeVar("T")


class JournalWriter(Protocol):
    """An open, append-only journal of one version.

    A writer backed by an ``O_APPEND`` file may also offer ``fileno()``; the run then
    writes each line to that descriptor with one ``os.write``.
    """

    def append(self, data: bytes) -> None:
        """Hand ``data`` (whole lines) to the operating system before returning."""

    def sync(self) -> None:
        """Flush what was appended to stable storage (fsync)."""

    def close(self) -> None:
        """Close the journal; appending afterwards is an error."""


class LiveHandle(Protocol):
    """Proof that this process runs a version; released when the run ends or dies."""

    def release(self) -> None:
        """Stop holding the version's liveness lock."""


class Store(ABC):
    """Where versions live: per-version primitives that every backend implements.

    No primitive's cost grows with the number of versions an experiment has: each
    reads or writes one version (a database does each in a statement or two; the
    folder backend on per-version files). Conveniences (appending, ending, folding
    journals, deciding whether a run crashed, summaries, the listing) are built on
    the primitives here, once, so every backend behaves alike.

    Example:
        >>> from experiment_manager.stores.memory import MemoryStore
        >>> store = MemoryStore()
        >>> store.create_version("exp", {"config_name": "exp"})["version"]
        1
    """

    # -- primitives ---------------------------------------------------------------

    @abstractmethod
    def create_version(
        self,
        experiment_id: str,
        fields: Mapping[str, Any],
        before_write: Callable[[int], None] | None = None,
    ) -> StoredVersion:
        """Allocate the next version number of an experiment and store a new version.

        Numbers go 1, 2, 3, ... without gaps or duplicates, also when many processes
        start the same experiment at once, because they are allocated under the
        experiment's lock.

        Args:
            experiment_id: A validated experiment id.
            fields: The version's other fields in stored form (``created_at``,
                ``config_name``, ``hyperparameters``, ``metadata``, ...).
            before_write: Called with the new number under the lock, before the
                version is written (used to take the liveness lock first, so no
                reader can see the run without its owner). If it raises, nothing
                is stored.

        Returns:
            The new version as stored (a copy).

        Raises:
            CorruptHistoryError: The experiment's stored history cannot be read; it
                is left as it is.
            ExperimentIdCollisionError: The experiment is new and another differs
                from it only by letter case (checked under a lock that makes one of
                two processes creating such twins at once lose); nothing is stored.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> _ = store.create_version("exp", {})
            >>> store.create_version("exp", {})["version"]
            2
        """

    @abstractmethod
    def update_version(
        self, experiment_id: str, version: int, change: Callable[[StoredVersion], T]
    ) -> T:
        """Apply ``change`` to one stored version, atomically, under the experiment's lock.

        The backend locks the version against every other writer (threads and
        processes), reads its current record, calls ``change`` on it (which may
        modify it in place), then stores it. If ``change`` raises, nothing is stored.

        Args:
            experiment_id: A validated experiment id.
            version: The version.
            change: Called once with the version's stored dict.

        Returns:
            What ``change`` returned.

        Raises:
            ExperimentNotFoundError: The version does not exist.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> _ = store.create_version("exp", {})
            >>> store.update_version("exp", 1, lambda v: v.update(status="finished"))
            >>> store.load_version("exp", 1)["status"]
            'finished'
        """

    @abstractmethod
    def load_version(self, experiment_id: str, version: int) -> StoredVersion:
        """Read one version in stored form, as stored (journal points not merged).

        Costs about the size of that version, not of the experiment.

        Args:
            experiment_id: A validated experiment id.
            version: The version.

        Returns:
            A dict the caller may keep and modify.

        Raises:
            ExperimentNotFoundError: The version does not exist.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> _ = store.create_version("exp", {"config_name": "a"})
            >>> store.load_version("exp", 1)["config_name"]
            'a'
        """

    @abstractmethod
    def latest_version(self, experiment_id: str) -> int | None:
        """The highest version number of an experiment.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            The number, or None for an id that never ran.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> MemoryStore().latest_version("exp") is None
            True
        """

    @abstractmethod
    def load_with_identity(self, experiment_id: str) -> tuple[list[StoredVersion], object]:
        """Return every version of an experiment in stored form and the identity of the read.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            A list the caller may keep and modify (``[]`` for an unknown id), in
            version order, and a value equal to :meth:`history_identity` for as long
            as no version is written.
        """

    @abstractmethod
    def history_identity(self, experiment_id: str) -> object:
        """A value that changes whenever any version of an experiment is written.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            Any comparable value (None when there is no history).
        """

    @abstractmethod
    def experiment_ids(self) -> list[str]:
        """Return every experiment id that has a history, sorted.

        Returns:
            The ids.
        """

    @abstractmethod
    def open_journal(self, experiment_id: str, version: int, segment: int) -> JournalWriter:
        """Open a version's journal for appending, creating it if needed.

        A torn last line left by a killed writer is cut off first, so the next
        line starts on a line of its own. Only the process holding the version's
        liveness lock may call this.

        Args:
            experiment_id: A validated experiment id.
            version: The version.
            segment: Which journal of the version (it gets a new one each time it
                ends, so a journal folded but not yet deleted is never read twice).

        Returns:
            The writer.
        """

    @abstractmethod
    def read_journal(self, experiment_id: str, version: int, segment: int, offset: int) -> bytes:
        """Return a version's journal from byte ``offset`` on (``b""`` if there is none).

        Args:
            experiment_id: A validated experiment id.
            version: The version.
            segment: Which journal of the version.
            offset: Bytes to skip (those already folded into the history).

        Returns:
            The bytes; the last line may be incomplete.
        """

    @abstractmethod
    def remove_journal(self, experiment_id: str, version: int, segment: int) -> None:
        """Delete a version's journal once it has been folded; missing is fine.

        Args:
            experiment_id: A validated experiment id.
            version: The version.
            segment: Which journal of the version.
        """

    @abstractmethod
    def hold_live(self, experiment_id: str, version: int) -> LiveHandle | None:
        """Take a version's liveness lock without waiting.

        Args:
            experiment_id: A validated experiment id.
            version: The version.

        Returns:
            The handle, or None when another live process (or another manager in
            this one) holds it.
        """

    @abstractmethod
    def is_live(self, experiment_id: str, version: int) -> bool:
        """Whether some live process holds the version's liveness lock.

        Args:
            experiment_id: A validated experiment id.
            version: The version.

        Returns:
            True while the process running the version is alive.
        """

    # -- hooks a backend may override ---------------------------------------------

    def version_ended(self, experiment_id: str) -> None:  # noqa: B027 (optional hook)
        """Called after a version of the experiment ended (a backend may tidy up).

        Args:
            experiment_id: A validated experiment id.
        """

    def flush(self, experiment_id: str | None = None) -> None:  # noqa: B027 (optional hook)
        """Bring what the backend keeps lazily up to date now (nothing by default).

        The folder backend rewrites the history documents of big experiments at
        most every few seconds; this writes them at once.

        Args:
            experiment_id: One experiment, or None for all.
        """

    def version_purged(self, experiment_id: str, version: int) -> None:  # noqa: B027 (optional hook)
        """Called after :meth:`purge_version` emptied a version: remove what it still owns.

        Journals are removed before this is called (through :meth:`remove_journal`);
        a backend removes here what only it keeps per version (the folder backend:
        columns files and the liveness lock file). Nothing by default.

        Args:
            experiment_id: A validated experiment id.
            version: The version, now a tombstone that keeps its number taken.
        """

    def tidy(
        self, segments: dict[str, dict[int, int]], *, dry_run: bool
    ) -> tuple[list[str], list[dict[str, str]]]:
        """Remove leftovers only this backend knows of (``expm doctor``); nothing by default.

        Args:
            segments: Per healthy experiment id, each version's current journal segment.
            dry_run: Only say what would be removed.

        Returns:
            What was removed (or would be), and ``{"path", "reason"}`` of what was
            kept for a person to look at.
        """
        return [], []

    def read_metric(self, experiment_id: str, metric: str, x: str) -> MetricRead | None:
        """One metric of every version, read faster than a whole history, where possible.

        An optimisation only: None means "read the history" (the default).

        Args:
            experiment_id: A validated experiment id.
            metric: The metric's name.
            x: ``step`` for the steps, ``time`` for the times, ``index`` for neither.

        Returns:
            The metric's columns per version, or None.
        """
        return None

    def read_series(
        self,
        experiment_id: str,
        metric: str,
        version: int,
        view: SeriesRequest,
    ) -> dict[str, Any] | None:
        """One metric of one ended version, reduced for a chart by the backend itself.

        An optimisation only: None (the default) means "reduce the columns that
        :meth:`read_metric` or the history gives". A backend that answers must give
        exactly what the dashboard's reduction of those columns gives (see
        ``web/_downsample.py``): a database computes the buckets in SQL.

        Args:
            experiment_id: A validated experiment id.
            metric: The metric's name.
            version: An ended version.
            view: The x axis, the x range and the number of buckets.

        Returns:
            ``{"total", "in_range", "exact", "x", "y"}``, or None.
        """
        return None

    # -- built on the primitives --------------------------------------------------

    def load(self, experiment_id: str) -> list[StoredVersion]:
        """Return an experiment's versions in stored form, or ``[]`` for an unknown id.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            A list the caller may keep and modify, in version order.
        """
        return self.load_with_identity(experiment_id)[0]

    def add_versions(self, experiment_id: str, records: Iterable[Mapping[str, Any]]) -> list[int]:
        """Store many finished versions at once, numbered after the latest (an import).

        Args:
            experiment_id: A validated experiment id.
            records: Each version's fields in stored form (``version`` and
                ``experiment_id`` are set here). Read once, in order, so a
                generator can read each record from its source only when asked:
                the folder store then holds one version's points in memory at a
                time (and the experiment's lock while the records are read).

        Returns:
            The numbers given, in order.

        Raises:
            ExperimentIdCollisionError: As for :meth:`create_version`; nothing is stored.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> MemoryStore().add_versions("exp", [{"status": "finished"}] * 2)
            [1, 2]
        """
        every = list(records)  # a record that cannot be read stores none of them
        return [self.create_version(experiment_id, fields)["version"] for fields in every]

    def append(
        self,
        experiment_id: str,
        version: int,
        metrics: Mapping[str, Sequence[Any]] | None = None,
        checkpoints: Sequence[str] = (),
        *,
        steps: Mapping[str, Sequence[Any]] | None = None,
        timestamps: Mapping[str, Sequence[float]] | None = None,
        checkpoint_details: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Append metric values and checkpoints to one version.

        Journal points not yet folded are folded first, so the version's lists stay
        in logging order.

        Args:
            experiment_id: A validated experiment id.
            version: The version to extend.
            metrics: Metric name to values in stored form; each list is extended.
            checkpoints: Paths appended to the version's ``checkpoints``.
            steps: Metric name to the step of each new value (None for no step).
            timestamps: Metric name to the wall time of each new value.
            checkpoint_details: Details appended to ``checkpoint_details``.

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

        def change(record: StoredVersion) -> None:
            self.fold_journal(experiment_id, record)
            extend(record, metrics or {}, steps or {}, timestamps or {})
            record.setdefault("checkpoints", []).extend(checkpoints)
            if checkpoint_details:
                record.setdefault("checkpoint_details", []).extend(
                    dict(d) for d in checkpoint_details
                )

        self.update_version(experiment_id, version, change)

    def end_version(
        self,
        experiment_id: str,
        version: int,
        status: str,
        *,
        ended_at: str | None,
        error: dict[str, str] | None = None,
        only_if_running: bool = False,
    ) -> StoredVersion | None:
        """End one version: fold its journal, record how it ended, drop the journal.

        Args:
            experiment_id: A validated experiment id.
            version: The version.
            status: One of :data:`END_STATUSES`.
            ended_at: The end time (ISO 8601 with offset); its ``duration`` is taken
                from ``created_at``. None: the time of the newest streamed point (a
                run found dead), and the duration is left as it was.
            error: For ``failed``: the exception's ``type`` and ``message``.
            only_if_running: Leave a version that is no longer ``running`` alone.

        Returns:
            The version as stored after ending (a copy), or None when it was left
            alone.

        Raises:
            ExperimentNotFoundError: The version does not exist.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> _ = store.create_version("exp", {"created_at": "2026-01-01T00:00:00+00:00"})
            >>> store.end_version("exp", 1, "finished", ended_at="2026-01-01T00:00:02+00:00")[
            ...     "duration"]
            2.0
        """
        if status not in END_STATUSES:
            raise ValueError(f"not an end status: {status!r}")

        def finish(stored: StoredVersion) -> tuple[int, StoredVersion] | None:
            if only_if_running and stored.get("status") != "running":
                return None
            self.fold_journal(experiment_id, stored)
            segment = stored.get("_journal_segment", 0)
            if ended_at is None:
                stored["ended_at"] = _newest_point_time(stored)
            else:
                created = datetime.fromisoformat(stored["created_at"])
                seconds = (datetime.fromisoformat(ended_at) - created).total_seconds()
                seconds -= stored.get("downtime") or 0.0  # time it was dead before a resume
                stored.update(ended_at=ended_at, duration=round(max(0.0, seconds), 6))
            stored.update(status=status, error=error, _journal_segment=segment + 1)
            stored["_journal_offset"] = 0
            return segment, _serialize.loads(_serialize.dumps(stored))

        done = self.update_version(experiment_id, version, finish)
        if done is None:
            return None
        segment, stored = done
        self.remove_journal(experiment_id, version, segment)
        self.version_ended(experiment_id)
        return stored

    def purge_version(
        self, experiment_id: str, version: int, empty: Callable[[StoredVersion], None]
    ) -> None:
        """Empty one version for good, keeping its number taken, and remove what it owned.

        ``empty`` turns the stored record into a tombstone in place, under the
        experiment's lock (:meth:`update_version`); every journal segment of the
        version is then removed and :meth:`version_purged` called. The tombstone
        stays, so :meth:`latest_version` never goes down and no number is reused.

        Args:
            experiment_id: A validated experiment id.
            version: The version.
            empty: Called once with the stored dict; may raise to leave it alone.

        Raises:
            ExperimentNotFoundError: The version does not exist.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> _ = store.create_version("exp", {"metrics": {"loss": [1]}})
            >>> store.purge_version("exp", 1, lambda v: v.update(metrics={}, purged_at="t"))
            >>> store.load_version("exp", 1)["metrics"], store.latest_version("exp")
            ({}, 1)
        """

        def change(stored: StoredVersion) -> int:
            segment = int(stored.get("_journal_segment", 0))
            empty(stored)
            return segment

        segment = self.update_version(experiment_id, version, change)
        for number in range(segment + 1):
            self.remove_journal(experiment_id, version, number)
        self.version_purged(experiment_id, version)

    def read_version(self, experiment_id: str, version: int | None = None) -> StoredVersion:
        """One version in stored form as a reader sees it (running ones brought up to date).

        Args:
            experiment_id: A validated experiment id.
            version: The version; the latest when None.

        Returns:
            The version, its journal merged and ``crashed`` when its process is gone.

        Raises:
            ExperimentNotFoundError: The experiment or version does not exist.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> _ = store.create_version("exp", {"status": "running"})
            >>> store.read_version("exp")["status"]
            'crashed'
        """
        if version is None:
            version = self.latest_version(experiment_id)
            if version is None:
                raise ExperimentNotFoundError(experiment_id, None)
        for _ in range(_CONSISTENT_READ_ATTEMPTS):
            identity = self.history_identity(experiment_id)
            record = self.load_version(experiment_id, version)
            if record.get("status") != "running":
                return record
            self.refresh_running(experiment_id, record)
            if self.history_identity(experiment_id) == identity:
                break
        return record

    def fold_journal(self, experiment_id: str, record: StoredVersion) -> None:
        """Move a version's unfolded journal points into its stored record (in place).

        Only complete lines are taken; the byte offset of what was taken is kept in
        the record, so folding twice never duplicates a point.

        Args:
            experiment_id: A validated experiment id.
            record: The version's stored dict, inside a :meth:`transact`.

        Raises:
            CorruptHistoryError: A complete journal line cannot be parsed.
        """
        version = record["version"]
        segment = record.get("_journal_segment", 0)
        offset = record.get("_journal_offset", 0)
        data = self.read_journal(experiment_id, version, segment, offset)
        complete = data[: data.rfind(b"\n") + 1]
        if complete:
            source = self.journal_name(experiment_id, version, segment)
            apply_journal(record, complete, source)
            record["_journal_offset"] = offset + len(complete)

    def journal_name(self, experiment_id: str, version: int, segment: int) -> str:
        """Name a version's journal in error messages.

        Args:
            experiment_id: A validated experiment id.
            version: The version.
            segment: Which journal of the version.

        Returns:
            A readable name (a path for file stores).
        """
        return f"journal {segment} of {experiment_id} v{version}"

    def read_history(self, experiment_id: str) -> list[dict[str, Any]]:
        """Return every version of an experiment, decoded, in version order.

        Running versions include the points streamed so far; a ``running`` version
        whose process is gone is reported as ``crashed``.

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
        return [decode_version(v) for v in self.current_versions(experiment_id)]

    def current_versions(self, experiment_id: str) -> list[StoredVersion]:
        """Versions in stored form with running ones brought up to date, consistently.

        A running version is read from the history, its journal and its liveness
        lock, which its owner changes in the opposite order when it ends (history
        first, then journal, then lock). If the history was rewritten while they
        were read, everything is read again, so a version that ends meanwhile is
        never seen short of points or as crashed.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            Stored versions in version order, running ones refreshed.
        """
        for _ in range(_CONSISTENT_READ_ATTEMPTS):
            versions, identity = self.load_with_identity(experiment_id)
            versions.sort(key=lambda v: v["version"])
            running = False
            for record in versions:
                if record.get("status") == "running":
                    running = True
                    self.refresh_running(experiment_id, record)
            if not running or self.history_identity(experiment_id) == identity:
                break
        return versions

    def refresh_running(self, experiment_id: str, record: StoredVersion) -> None:
        """Bring a stored version read from disk up to date for a reader (in place).

        A ``running`` version gets its unfolded journal points, and is marked
        ``crashed`` when no live process holds it; one that ended after it was read
        is replaced by its ended form. Other versions are left alone.

        Args:
            experiment_id: A validated experiment id.
            record: A stored version, not shared with the store.
        """
        if record.get("status") != "running":
            return
        self.fold_journal(experiment_id, record)
        if self.is_live(experiment_id, record["version"]):
            return
        # Its owner records the end before it lets the lock go: a version read as
        # running whose lock is free has crashed, or has ended since it was read.
        try:
            fresh = self.load_version(experiment_id, record["version"])
        except ExperimentNotFoundError:
            fresh = record
        if fresh.get("status") == "running":
            if fresh is not record:
                self.fold_journal(experiment_id, fresh)
            fresh["status"] = "crashed"
        if fresh is not record:
            record.clear()
            record.update(fresh)

    def summaries(self, experiment_id: str) -> list[dict[str, Any]]:
        """Return one summary per version (metric aggregates instead of points).

        Backends with an index override this to avoid reading every point.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            Decoded summaries in version order (see :mod:`.stores._index`);
            ``[]`` for an id that never ran.
        """
        from experiment_manager.stores import _index

        versions = self.current_versions(experiment_id)
        return [decode_summary(_index.summarize(record)) for record in versions]

    def summaries_of(self, experiment_id: str, versions: Iterable[int]) -> list[dict[str, Any]]:
        """The summaries of some versions only, in version order.

        Backends that can read one version's summary alone override this, so that a
        chart of 20 versions does not read the summaries of 10,000.

        Args:
            experiment_id: A validated experiment id.
            versions: The version numbers; those that do not exist are left out.

        Returns:
            Decoded summaries, as :meth:`summaries` gives them.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> _ = store.create_version("exp", {"status": "finished"})
            >>> [s["version"] for s in store.summaries_of("exp", [1, 2])]
            [1]
        """
        wanted = set(versions)
        return [s for s in self.summaries(experiment_id) if s["version"] in wanted]

    def overview(
        self, experiment_id: str, *, include_archived: bool = False
    ) -> dict[str, Any] | None:
        """One experiment's listing entry: counts, dates, statuses, metric names.

        This default aggregates :meth:`summaries` in Python; a backend that can
        aggregates on its side.

        Args:
            experiment_id: A validated experiment id.
            include_archived: Count archived versions too (trashed ones never).

        Returns:
            The entry :meth:`ExperimentManager.list_experiments` gives (see
            :func:`.stores._overview.entry`), or None when no version is shown.

        Raises:
            CorruptHistoryError: The history cannot be parsed.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> _ = store.create_version("exp", {"status": "finished", "config_name": "a"})
            >>> entry = store.overview("exp")
            >>> entry["versions"], entry["status_counts"], entry["config_names"]
            (1, {'finished': 1}, ['a'])
        """
        from experiment_manager.stores import _overview

        shown = _overview.visible(self.summaries(experiment_id), include_archived)
        return _overview.entry(experiment_id, _overview.tally(shown))

    def search_versions(
        self,
        experiment_id: str,
        query: Query | None = None,
        order_by: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Summaries of one experiment's versions that match a filter, sorted and cut.

        The filter, the order and the limit go to the backend together, so one that
        can (a database) evaluates them itself; this default filters
        :meth:`summaries` in Python.

        Args:
            experiment_id: A validated experiment id.
            query: A parsed filter (see :func:`experiment_manager.query.parse_query`),
                or None for every version.
            order_by: A sort specification, e.g. ``"metrics.loss.min, version desc"``.
            limit: The most summaries to return.

        Returns:
            Decoded summaries, as :meth:`summaries` gives them.

        Raises:
            QuerySyntaxError: ``order_by`` does not parse.

        Example:
            >>> from experiment_manager.query import parse_query
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> for lr in (0.1, 0.01, 0.001):
            ...     _ = store.create_version("exp", {"hyperparameters": {"lr": lr}})
            >>> found = store.search_versions(
            ...     "exp", parse_query("hyperparameters.lr < 0.05"), "hyperparameters.lr", 1)
            >>> [s["version"] for s in found]
            [3]
        """
        from experiment_manager.query import search_records

        return search_records(self.summaries(experiment_id), query, order_by, limit)

    def version_table(self, experiment_id: str) -> VersionTable:
        """Return the listing of an experiment's versions, column-wise.

        What :meth:`summaries` gives, reduced to the columns a list of versions shows.
        Backends with an index override this to read only those columns.

        Args:
            experiment_id: A validated experiment id.

        Returns:
            The table (no rows for an id that never ran).

        Raises:
            CorruptHistoryError: The history (or a journal line) cannot be parsed.

        Example:
            >>> from experiment_manager.stores.memory import MemoryStore
            >>> store = MemoryStore()
            >>> _ = store.create_version("exp", {"status": "finished", "metrics": {"loss": [2, 1]}})
            >>> table = store.version_table("exp")
            >>> table.version, table.last
            ([1], {'loss': [1]})
        """
        from experiment_manager.stores import _listing

        listing = _listing.build(self.summaries(experiment_id))
        return _listing.to_table(experiment_id, listing, decode=False)


def new_record(experiment_id: str, version: int, fields: Mapping[str, Any]) -> StoredVersion:
    """A new version's stored record: its id and number, the fields, empty lists.

    Args:
        experiment_id: The experiment.
        version: The number allocated for it.
        fields: Its other fields in stored form (``experiment_id``/``version`` in
            them are overridden).

    Returns:
        The record (a new dict).

    Example:
        >>> new_record("exp", 3, {"config_name": "c"})
        {'experiment_id': 'exp', 'version': 3, 'config_name': 'c', 'metrics': {}, 'checkpoints': []}
    """
    record: StoredVersion = {"experiment_id": experiment_id, "version": version}
    record.update(fields)
    record.update(experiment_id=experiment_id, version=version)
    record.setdefault("metrics", {})
    record.setdefault("checkpoints", [])
    return record


def _newest_point_time(stored: StoredVersion) -> str | None:
    """The time of a version's newest streamed point (ISO 8601), or None."""
    times = [t for column in (stored.get("timestamps") or {}).values() for t in column if t]
    if not times:
        return None
    return datetime.fromtimestamp(max(times), timezone.utc).isoformat(timespec="microseconds")
