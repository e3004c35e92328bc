"""What every importer shares: the run read from a tool, its record, the import itself.

A reader turns its source into :class:`RunRef` items (cheap: an id, a path, a start
time) whose ``load()`` reads the whole run into a :class:`RunData`. :func:`run_import`
skips runs already imported, loads the others one at a time (a run that cannot be read
is reported and the rest go on) and turns each into a version record, which goes to the
store's ``add_versions`` as the store asks for it: a run is read only when the one
before it is encoded, so the folder store has one run's points in memory at a time.
"""

from __future__ import annotations

import collections
import gc
import itertools
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiment_manager import _checkpoints, _serialize
from experiment_manager._naming import (
    case_twin,
    refuse_case_twin,
    slugify,
    validate_experiment_id,
)
from experiment_manager.errors import ExperimentIdCollisionError, InvalidArgumentError

if TYPE_CHECKING:
    from experiment_manager.stores.base import Store

__all__ = [
    "IMPORTED_FROM",
    "ImportReport",
    "Progress",
    "RunData",
    "RunRef",
    "Series",
    "iso",
    "lossless_value",
    "open_target",
    "run_import",
]

#: The version field that says where an imported version came from.
IMPORTED_FROM = "imported_from"

#: Points stored per ``add_versions`` call at most: bounds what a PostgreSQL
#: transaction (or the default implementation) holds in memory.
_BATCH_POINTS = 2_000_000

#: Seconds of reading runs per ``add_versions`` call at most: the folder store holds
#: the experiment's lock while the runs are read, and another writer of the same id
#: waits for it (for up to its lock timeout, 60 s by default).
_BATCH_SECONDS = 5.0

Progress = Callable[[int, int], None]


@dataclass
class Series:
    """One metric of a run: values with the step and wall time of each.

    Attributes:
        values: The values, in logging order.
        steps: The step of each value (None where the tool has none).
        times: The wall time of each value, seconds since the epoch (None where unknown).
        finite: The reader knows every value is a finite float (the import then skips
            checking them one by one); set only on a series built whole, as
            :meth:`add` does not check.
    """

    values: list[float] = field(default_factory=list)
    steps: list[int | None] = field(default_factory=list)
    times: list[float | None] = field(default_factory=list)
    finite: bool = False

    def add(self, value: float, step: int | None, time: float | None) -> None:
        """Append one point.

        Args:
            value: The value.
            step: Its step.
            time: Its wall time.

        Example:
            >>> series = Series()
            >>> series.add(0.5, 1, 1700000000.0)
            >>> series.values, series.steps
            ([0.5], [1])
        """
        self.values.append(value)
        self.steps.append(step)
        self.times.append(time)


@dataclass
class RunData:
    """One run as read from another tool, in this library's terms.

    Attributes:
        run_id: The tool's own id of the run.
        path: Where the run was read (its folder or file).
        experiment: The tool's experiment or project name (the default experiment id).
        name: The run's name (the version's ``config_name``).
        started: Start time, seconds since the epoch (None when unknown).
        ended: End time, seconds since the epoch (None when unknown or still running).
        status: This library's status (``finished``, ``failed``, ``killed``, ``crashed``).
        tool_status: The status as the tool wrote it (None when it has none).
        hyperparameters: The run's parameters.
        metadata: The run's tags and other descriptive values.
        metrics: Metric name to its points.
        artifacts: Absolute paths of the run's artifact files (kept as references).
        environment: What is known of where the run ran (git commit, host, ...).
        error: ``{"type", "message"}`` for a failed run, when known.
        notes: What could not be read (a truncated file), for the report.
        title: The run's own name, stored as the version's ``name`` (None when the
            tool has none; ``name`` may then be an id made up for it).
        tags: The run's tags, stored as the version's ``tags``.
        note: The run's notes, stored as the version's ``note``.
        left_out: Metric name to how many of its values were not numbers (bools,
            text, media) and were left out, for the report.
    """

    run_id: str
    path: str
    experiment: str
    name: str
    started: float | None
    ended: float | None
    status: str
    tool_status: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Series] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    environment: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    title: str | None = None
    tags: list[str] = field(default_factory=list)
    note: str | None = None
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def points(self) -> int:
        """How many metric values the run has.

        Example:
            >>> RunData("r", "/p", "e", "n", None, None, "finished").points
            0
        """
        return sum(len(series.values) for series in self.metrics.values())


@dataclass
class RunRef:
    """A run found in a source, not read yet.

    Attributes:
        run_id: The tool's id of the run.
        path: Where the run lies (reported when it cannot be read).
        experiment: The tool's experiment or project name.
        started: Start time, seconds since the epoch, for ordering (None when unknown).
        load: Reads the whole run; may raise on a damaged run.
    """

    run_id: str
    path: str
    experiment: str
    started: float | None
    load: Callable[[], RunData]


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do).

    Attributes:
        tool: ``mlflow``, ``tensorboard`` or ``wandb``.
        source: The source, as an absolute path.
        dry_run: Whether nothing was written.
        imported: One entry per run stored (or that would be): ``experiment_id``,
            ``version`` (the number it got or would get), ``run_id``, ``name``,
            ``path``, ``status``, ``points``, ``artifacts``, ``notes`` (what of it
            could not be read, such as the unread end of a truncated file, or a
            name or tag that could not be kept) and ``left_out`` (metric name to
            how many of its values were left out as not numbers: bools, text, media).
        skipped: Runs already imported: ``experiment_id``, ``version`` (the one
            holding it), ``run_id``, ``path``.
        failed: Runs that could not be read, or were refused (bound for a new
            experiment id that only letter case tells from an existing one):
            ``path``, ``run_id`` (when known), ``reason``. Nothing of them was
            stored; the other runs were.
    """

    tool: str
    source: str
    dry_run: bool
    imported: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every run found was imported or skipped.

        Example:
            >>> ImportReport("mlflow", "/mlruns", dry_run=True).ok
            True
        """
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON data.

        Returns:
            Every attribute, plus ``ok``.

        Example:
            >>> ImportReport("mlflow", "/mlruns", dry_run=False).to_dict()["imported"]
            []
        """
        return {
            "tool": self.tool,
            "source": self.source,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "imported": [dict(item) for item in self.imported],
            "skipped": [dict(item) for item in self.skipped],
            "failed": [dict(item) for item in self.failed],
        }


def iso(seconds: float) -> str:
    """A time in seconds since the epoch as ISO 8601 in UTC, to the microsecond.

    Args:
        seconds: The time.

    Returns:
        The text.

    Example:
        >>> iso(0)
        '1970-01-01T00:00:00.000000+00:00'
    """
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds")


def lossless_value(text: str) -> Any:
    """A parameter's text as a number or bool when that loses nothing, else the text.

    The text becomes an ``int``, ``float`` or ``bool`` only when ``str()`` of that
    value gives the text back exactly (``"32"``, ``"0.01"``, ``"True"``), so the
    tool's string is always ``str(value)``.

    Args:
        text: The value as the tool stored it.

    Returns:
        The number, the bool, or the text unchanged.

    Example:
        >>> [lossless_value(t) for t in ("32", "0.01", "True", "1e-3", "007", "adam")]
        [32, 0.01, True, '1e-3', '007', 'adam']
    """
    if text in ("True", "False"):
        return text == "True"
    try:
        number: int | float = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return text
        if not math.isfinite(number):
            return text
    return number if str(number) == text else text


def open_target(log_dir: str | os.PathLike[str] | None, store: Store | None) -> Store:
    """The store an import writes to: ``store`` when given, else the one ``log_dir`` names.

    Args:
        log_dir: A log folder (or store location).
        store: A store already open.

    Returns:
        The store.

    Raises:
        InvalidArgumentError: Both or neither were given.

    Example:
        >>> from experiment_manager.stores.memory import MemoryStore
        >>> type(open_target(None, MemoryStore())).__name__
        'MemoryStore'
    """
    from experiment_manager.stores import open_store, redact

    if (log_dir is None) == (store is None):
        shown = None if log_dir is None else redact(os.fspath(log_dir))
        raise InvalidArgumentError("log_dir", shown, "give either log_dir or store")
    if store is not None:
        return store

    assert log_dir is not None
    return open_store(log_dir)


def _imported_runs(store: Store, experiment_id: str, tool: str) -> dict[str, int]:
    """Run id to version of every run of ``tool`` already imported into an experiment."""
    found: dict[str, int] = {}
    for summary in store.summaries(experiment_id):
        origin = summary.get(IMPORTED_FROM)
        if isinstance(origin, Mapping) and origin.get("tool") == tool:
            found.setdefault(str(origin.get("run_id")), int(summary["version"]))
    return found


def _curation(run: RunData) -> dict[str, Any]:
    """The run's name, tags and note as stored fields, as a version given them has.

    A value this library cannot hold (a tag with a space, a name too long) is left
    out, and the run's notes say so; the tool's own value stays in the metadata.
    """
    from experiment_manager._curation import check_name, check_note, check_tags, curation_fields

    def kept(what: str, value: str, check: Callable[[str], Any]) -> Any:
        try:
            return check(value)
        except InvalidArgumentError as error:
            run.notes.append(f"{what} {value[:80]!r} not kept: {error.reason}")
            return None

    name = kept("name", run.title, check_name) if run.title else None
    tags = [tag for tag in run.tags if kept("tag", tag, check_tags)]
    note = kept("note", run.note, check_note) if run.note else None
    return curation_fields(name, tags or None, note)


def _record(run: RunData, tool: str, source: str, imported_at: str) -> dict[str, Any]:
    """The version record (stored form) of one run."""
    from experiment_manager.manager import DEFAULT_METADATA

    started = run.started
    if started is None:
        times = [t for s in run.metrics.values() for t in s.times if t is not None]
        started = min(times) if times else datetime.now(timezone.utc).timestamp()
    metrics: dict[str, Any] = {}
    steps: dict[str, Any] = {}
    timestamps: dict[str, Any] = {}
    for name, series in run.metrics.items():
        if not series.values:
            continue
        values = series.values
        # Floats read from a file are plain and finite as a rule: stored as they are.
        plain = series.finite or (
            set(map(type, values)) <= {float} and all(map(math.isfinite, values))
        )
        metrics[name] = list(values) if plain else _serialize.metric_values(name, values)
        steps[name] = series.steps
        timestamps[name] = series.times
    ended = run.ended
    created_at = iso(started)
    details = []
    for path in run.artifacts:
        detail = _checkpoints.describe(path, None, None, created_at)
        details.append(detail)
    return {
        "created_at": created_at,
        "config_name": run.name,
        "hyperparameters": _serialize.to_json(run.hyperparameters, "hyperparameters"),
        "metadata": _serialize.to_json({**DEFAULT_METADATA, **run.metadata}, "metadata"),
        "metrics": metrics,
        "checkpoints": list(run.artifacts),
        "status": run.status,
        "ended_at": iso(ended) if ended is not None else None,
        "duration": round(ended - started, 6) if ended is not None else None,
        "error": run.error,
        "environment": _serialize.to_json(run.environment, "environment"),
        "resumed": [],
        "steps": steps,
        "timestamps": timestamps,
        "checkpoint_details": details,
        **_curation(run),
        IMPORTED_FROM: {
            "tool": tool,
            "source": source,
            "run_id": run.run_id,
            "path": run.path,
            "experiment": run.experiment,
            "status": run.tool_status,
            "imported_at": imported_at,
        },
    }


def _target_id(experiment_id: str | None, tool_experiment: str) -> str:
    if experiment_id is not None:
        return experiment_id
    return slugify(tool_experiment or "imported")


def run_import(
    tool: str,
    source: Path,
    refs: Sequence[RunRef],
    failed: Iterable[Mapping[str, Any]],
    store: Store,
    *,
    experiment_id: str | None,
    dry_run: bool,
    progress: Progress | None,
) -> ImportReport:
    """Import the runs found in a source into a store.

    Args:
        tool: The tool's name, recorded in each version's ``imported_from``.
        source: The source, absolute.
        refs: The runs found.
        failed: Runs the reader could not even list (``path``, ``reason``).
        store: Where the versions go.
        experiment_id: One experiment id for every run, or None for each run's own
            (its tool experiment's name, slugged).
        dry_run: Read everything, store nothing.
        progress: Called with ``(runs done, runs in all)`` after each run (the folder
            store may be holding the target experiment's lock then).

    Returns:
        The report.

    Runs bound for a new id that differs from an existing experiment's (or one this
    import creates) only by letter case are not imported: each is reported in
    ``failed``, its reason naming the existing id, and the others go on.

    Raises:
        InvalidExperimentIdError: ``experiment_id`` is not a safe id.
        ExperimentIdCollisionError: ``experiment_id`` is new and differs from an
            existing experiment's only by letter case; raised before any run is read.

    Example:
        >>> from experiment_manager.stores.memory import MemoryStore
        >>> run_import("mlflow", Path("/m"), [], [], MemoryStore(), experiment_id=None,
        ...            dry_run=False, progress=None).ok
        True
    """
    if experiment_id is not None:
        validate_experiment_id(experiment_id)
        if store.latest_version(experiment_id) is None:  # every run would be refused
            refuse_case_twin(experiment_id, store.experiment_ids())
    # The cyclic collector would walk every list of points read so far, again and again
    # (a third of the time of a big import); nothing an import builds holds a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _import(
            tool,
            source,
            refs,
            failed,
            store,
            experiment_id=experiment_id,
            dry_run=dry_run,
            progress=progress,
        )
    finally:
        if collecting:
            gc.enable()


def _import(
    tool: str,
    source: Path,
    refs: Sequence[RunRef],
    failed: Iterable[Mapping[str, Any]],
    store: Store,
    *,
    experiment_id: str | None,
    dry_run: bool,
    progress: Progress | None,
) -> ImportReport:
    report = ImportReport(tool, str(source), dry_run, failed=[dict(item) for item in failed])
    ordered = sorted(
        refs,
        key=lambda ref: (
            _target_id(experiment_id, ref.experiment),
            math.inf if ref.started is None else ref.started,
            ref.run_id,
        ),
    )
    importer = _Importer(
        tool, source, store, report=report, dry_run=dry_run, progress=progress, total=len(ordered)
    )
    # The runs of one target id are together: each group goes in a batch or a few.
    for target, group in itertools.groupby(
        ordered, key=lambda ref: _target_id(experiment_id, ref.experiment)
    ):
        importer.import_group(target, list(group))
    return report


class _Importer:
    """One import's runs, read one at a time as the store takes them.

    Args:
        tool: The tool's name.
        source: The source, absolute.
        store: Where the versions go.
        report: The report, filled in as runs are read and stored.
        dry_run: Read everything, store nothing.
        progress: Called with ``(runs done, runs in all)`` after each run.
        total: How many runs there are in all.
    """

    def __init__(
        self,
        tool: str,
        source: Path,
        store: Store,
        *,
        report: ImportReport,
        dry_run: bool,
        progress: Progress | None,
        total: int,
    ) -> None:
        self._tool, self._source, self._store, self._report = tool, source, store, report
        self._dry_run, self._progress, self._total, self._done = dry_run, progress, total, 0
        self._imported_at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        self._new_ids = _NewIds(store)

    def import_group(self, target: str, refs: list[RunRef]) -> None:
        """Import the runs bound for one experiment id, in order.

        Args:
            target: The experiment id.
            refs: Its runs.
        """
        known = _imported_runs(self._store, target, self._tool)
        numbers = itertools.count(self._new_ids.first_number(target))
        pending = iter(refs)
        while True:
            refused = self._new_ids.refused.get(target)
            if refused is not None:  # a case twin: none of its runs goes in
                for ref in pending:
                    self._fail(ref, str(refused))
                return
            entries: list[dict[str, Any]] = []
            records = self._records(target, pending, known, numbers, entries)
            head = list(itertools.islice(records, 1))
            if not head:  # nothing left to store: the id is not even locked
                return
            batch = _then(head, records)
            if self._dry_run:
                collections.deque(batch, maxlen=0)
                continue
            try:
                stored = self._store.add_versions(target, batch)
            except ExperimentIdCollisionError as error:  # a twin made meanwhile elsewhere
                self._new_ids.unimport(self._report, entries, error)
            else:
                for number, entry in zip(stored, entries, strict=True):
                    entry["version"] = number

    def _records(
        self,
        target: str,
        pending: Iterator[RunRef],
        known: dict[str, int],
        numbers: Iterator[int],
        entries: list[dict[str, Any]],
    ) -> Iterator[dict[str, Any]]:
        """The records of the next runs of ``pending``, up to a batch's worth.

        A batch ends after :data:`_BATCH_POINTS` points or :data:`_BATCH_SECONDS` of
        reading, whichever comes first.

        Runs already imported are skipped and damaged ones reported as they come;
        each run read is entered in the report (and in ``entries``) before its
        record is given, and nothing of it is kept here once the store has it.
        """
        points, started = 0, time.monotonic()
        for ref in pending:
            if ref.run_id in known:
                self._report.skipped.append(
                    {
                        "experiment_id": target,
                        "version": known[ref.run_id],
                        "run_id": ref.run_id,
                        "path": ref.path,
                    }
                )
                self._tick()
                continue
            try:
                run = ref.load()
                record = _record(run, self._tool, str(self._source), self._imported_at)
            except Exception as error:  # a damaged run is reported; the rest go on
                self._fail(ref, _reason(error))
                continue
            number = next(numbers)
            entry = {
                "experiment_id": target,
                "version": number,
                "run_id": run.run_id,
                "name": run.name,
                "path": run.path,
                "status": run.status,
                "points": run.points,
                "artifacts": len(run.artifacts),
                "notes": list(run.notes),
                "left_out": dict(run.left_out),
            }
            known[run.run_id] = number
            points += run.points
            del run
            self._report.imported.append(entry)
            entries.append(entry)
            self._tick()
            yield record
            del record
            if points >= _BATCH_POINTS or time.monotonic() - started >= _BATCH_SECONDS:
                return

    def _fail(self, ref: RunRef, reason: str) -> None:
        self._report.failed.append({"path": ref.path, "run_id": ref.run_id, "reason": reason})
        self._tick()

    def _tick(self) -> None:
        self._done += 1
        if self._progress is not None:
            self._progress(self._done, self._total)


def _then(head: list[dict[str, Any]], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The record taken out of ``rest`` first (let go of once given), then ``rest``."""
    yield head.pop()
    yield from rest


class _NewIds:
    """The experiment ids an import creates: none that only letter case tells from another.

    Args:
        store: Where the import writes.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._ids: set[str] | None = None  # ids that exist or that this import creates
        #: Ids refused, with the error each run bound for one is reported with.
        self.refused: dict[str, ExperimentIdCollisionError] = {}

    def first_number(self, experiment_id: str) -> int:
        """The number an experiment's first imported run gets; a new id is checked.

        A new id is noted, or refused when a case twin exists (or is being created).

        Args:
            experiment_id: The id runs go to.

        Returns:
            One more than its latest version (1 for a new id).
        """
        latest = self._store.latest_version(experiment_id)
        if latest is not None:
            return latest + 1
        if self._ids is None:
            self._ids = set(self._store.experiment_ids())
        twin = case_twin(experiment_id, self._ids)
        if twin is None:
            self._ids.add(experiment_id)
        else:
            self.refused[experiment_id] = ExperimentIdCollisionError(experiment_id, twin)
        return 1

    def unimport(
        self,
        report: ImportReport,
        entries: list[dict[str, Any]],
        error: ExperimentIdCollisionError,
    ) -> None:
        """Move runs the store refused from ``imported`` to ``failed``; refuse their id.

        Args:
            report: The import's report.
            entries: The runs' entries in ``imported``.
            error: What the store raised.
        """
        self.refused[str(error.experiment_id)] = error
        dropped = {id(entry) for entry in entries}
        report.imported[:] = [entry for entry in report.imported if id(entry) not in dropped]
        for entry in entries:
            report.failed.append(
                {"path": entry["path"], "run_id": entry["run_id"], "reason": str(error)}
            )


def _reason(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, (OSError, ValueError)) else f"{type(error).__name__}: {text}"
