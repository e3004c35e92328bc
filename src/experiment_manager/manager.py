"""ExperimentManager: the facade users call; the specification's API lives here."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiment_manager import _checkpoints, _process_hooks, _serialize
from experiment_manager._curation import CurationMixin, curation_fields
from experiment_manager._naming import refuse_case_twin, slugify, validate_experiment_id
from experiment_manager._reads import ReadsMixin
from experiment_manager._run import MAX_STEP as _MAX_STEP
from experiment_manager._run import SYSTEM_PREFIX, ActiveRun, next_step_after, now_iso
from experiment_manager.errors import (
    ActiveRunEndedWarning,
    ExperimentManagerError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    MissingCheckpointWarning,
    NoActiveExperimentError,
    RunActiveError,
)
from experiment_manager.models import ExperimentRecord
from experiment_manager.stores._locations import is_database_uri, redact
from experiment_manager.stores.base import (
    JournalWriter,
    LiveHandle,
    Store,
    StoredVersion,
    decode_version,
)

if TYPE_CHECKING:
    from experiment_manager._system_metrics import SystemSampler

__all__ = ["DEFAULT_METADATA", "ExperimentManager"]

#: Values given to the four documented metadata keys when a run does not set them.
DEFAULT_METADATA: Mapping[str, Any] = {
    "precision": "unspecified",
    "model_size": "unspecified",
    "dataset_version": "unspecified",
    "hardware_constraint_mode": "unspecified",
}


_now = now_iso  # the manager's clock; tests replace it to pin created_at


def _let_go(held: list[LiveHandle], journals: list[JournalWriter]) -> None:
    """Close the journals and release the liveness locks of a start that failed."""
    for journal in journals:
        journal.close()
    for handle in held:
        handle.release()


def _require_mapping(argument: str, value: object) -> Mapping[Any, Any]:
    if argument == "hyperparameters" and not isinstance(value, Mapping):
        # argparse.Namespace, dataclasses, pydantic models, OmegaConf configs
        value = _serialize.config_mapping(value, argument)
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(argument, value, f"must be a dict, not {type(value).__name__}")
    return value


def _merge_into(
    target: dict[str, Any], given: Mapping[str, Any], prefix: str, at: str, changes: list[Any]
) -> None:
    """Merge ``given`` into ``target``, noting each value that changes."""
    for key, value in given.items():
        path = f"{prefix}{key}"
        if key not in target:
            target[key] = value
        elif isinstance(target[key], dict) and isinstance(value, dict) and value:
            _merge_into(target[key], value, f"{path}.", at, changes)
        elif target[key] != value or type(target[key]) is not type(value):
            changes.append({"at": at, "key": path, "from": target[key], "to": value})
            target[key] = value


def _supersede(stored: StoredVersion, from_step: int, at: str) -> None:
    """Move the points at ``from_step`` or later into ``superseded`` (kept, not counted)."""
    steps = stored.get("steps") or {}
    times = stored.get("timestamps") or {}
    superseded = stored.setdefault("superseded", {})
    for name, values in (stored.get("metrics") or {}).items():
        if name.startswith(SYSTEM_PREFIX):  # sample numbers, not training steps
            continue
        column = steps.get(name) or []
        later = [i for i, step in enumerate(column) if isinstance(step, int) and step >= from_step]
        if not later:
            continue
        kept = [i for i in range(len(values)) if i not in set(later)]
        moved = superseded.setdefault(name, {"values": [], "steps": [], "timestamps": []})
        moved["values"].extend(values[i] for i in later)
        moved["steps"].extend(column[i] for i in later)
        time_column = times.get(name) or [None] * len(values)
        moved["timestamps"].extend(time_column[i] for i in later)
        moved["superseded_at"] = at
        stored["metrics"][name] = [values[i] for i in kept]
        steps[name] = [column[i] for i in kept]
        if name in times:
            times[name] = [time_column[i] for i in kept]
    if not superseded:
        del stored["superseded"]


def _dead_seconds(stored: StoredVersion, at: str) -> float:
    """How long a version was not running before a resume at ``at``."""
    from datetime import datetime, timezone

    resumed = datetime.fromisoformat(at)
    ended = stored.get("ended_at")
    if isinstance(ended, str):
        since = datetime.fromisoformat(ended)
    else:  # crashed: it ran until its last point
        times = [t for column in (stored.get("timestamps") or {}).values() for t in column if t]
        if not times:
            return 0.0
        since = datetime.fromtimestamp(max(times), timezone.utc)
    return max(0.0, (resumed - since).total_seconds())


def _wall_time() -> float:
    """Seconds since the epoch, when the user made the call (the bulk calls' clock)."""
    return time.time()


def _bulk_steps(
    metrics: Mapping[str, Sequence[Any]],
    steps: int | Mapping[str, Sequence[int]] | None,
    next_step: int,
) -> dict[str, list[int]]:
    """The step of each value of a ``log_metrics`` call (see there)."""
    if steps is None or not isinstance(steps, Mapping):
        start = next_step if steps is None else _check_step(steps)  # refuses a non-int
        assert start is not None
        last = start + max((len(v) for v in metrics.values()), default=0) - 1
        if last > _MAX_STEP:
            raise InvalidArgumentError("steps", steps, f"runs past the largest step {_MAX_STEP}")
        return {name: list(range(start, start + len(values))) for name, values in metrics.items()}
    placed: dict[str, list[int]] = {}
    for name, values in metrics.items():
        given = steps.get(name)
        if given is None or isinstance(given, (str, bytes)) or not hasattr(given, "__len__"):
            raise InvalidArgumentError(
                "steps", steps, f"gives no list of steps for metric {name!r}"
            )
        if len(given) != len(values):
            raise InvalidArgumentError(
                "steps",
                steps,
                f"gives {len(given)} step(s) for the {len(values)} value(s) of metric {name!r}",
            )
        column = [_check_step(step) for step in given]
        if any(step is None for step in column):
            raise InvalidArgumentError("steps", steps, f"holds None for metric {name!r}")
        placed[name] = [step for step in column if step is not None]
    unknown = [name for name in steps if name not in metrics]
    if unknown:
        raise InvalidArgumentError("steps", steps, f"names metric {unknown[0]!r}, not logged")
    return placed


def _check_step(step: object) -> int | None:
    if step is None or (type(step) is int and 0 <= step <= _MAX_STEP):
        return step
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise InvalidArgumentError("step", step, "must be a non-negative int or None")
    number = int(step)
    if not 0 <= number <= _MAX_STEP:
        raise InvalidArgumentError("step", step, f"must be an int from 0 to {_MAX_STEP}")
    return number


class ExperimentManager(CurationMixin, ReadsMixin):
    """Tracks experiments: starts versioned runs, logs metrics and checkpoints, reads history.

    Each experiment id has one history file, ``<log_dir>/<experiment_id>.json``, holding
    every version. The specification's calls (``start_experiment``, ``log_metrics``,
    ``add_checkpoint``) write through to that file before they return, under an
    inter-process lock, so other processes (or ``json.load``) see the data at once and
    a crash never leaves a half-written file. Per-step points logged with :meth:`log`
    go to an append-only journal instead (handed to the OS before ``log`` returns) and
    are folded into the history when the version ends. One experiment is active at a
    time per manager; a manager may be shared by threads.

    Args:
        log_dir: Folder of the history files, created when first needed. Relative
            paths are taken from the working directory at construction. A
            ``postgresql://user:password@host:port/database`` URI (or
            ``postgres://``) keeps everything in that PostgreSQL database instead
            (the ``postgres`` extra; see docs/postgres.md); ``self.log_dir`` is
            then the URI with its password hidden.
        default_metadata: Values for the documented metadata keys (``precision``,
            ``model_size``, ``dataset_version``, ``hardware_constraint_mode``) that a
            run does not set, merged over :data:`DEFAULT_METADATA` (all
            ``"unspecified"``). Other keys given here are added to every run too.
        lock_timeout: Seconds to wait for another live process writing the same
            experiment before raising ``LockTimeoutError``.
        store: Another backend (for example ``MemoryStore()``); ``log_dir`` is then
            not used for storage.
        capture_environment: Record git state, interpreter, platform, host, pid,
            command line and library versions with each new version.
        fsync_every_log: Flush each :meth:`log` point to stable storage (fsync)
            before returning. Off by default: a returned point is then in the OS and
            survives the process being killed, but the last few seconds of points
            may be lost if the machine itself loses power. :meth:`flush` forces it.
        system_metrics: Sample CPU, memory, disk, network and GPU use in a
            background thread while a version runs and log them as ``system/...``
            metrics: ``True`` (the default) every 10 s, a number of seconds, or
            ``False`` (off). The first sample is taken one interval after the
            version starts, so a run shorter than that (the specification's
            examples) records none and its metrics are exactly what it logged.
            Needs the ``system`` extra (psutil, nvidia-ml-py): without it nothing
            is sampled and no thread is started. ``EXPM_SYSTEM_METRICS=0`` turns
            it off for the whole process.

    Raises:
        InvalidArgumentError: ``log_dir`` is empty or not a path,
            ``default_metadata`` is not a dict, or ``system_metrics`` is not a
            bool or a positive number.

    Example:
        >>> import tempfile
        >>> manager = ExperimentManager(log_dir=tempfile.mkdtemp())
        >>> record = manager.start_experiment("mnist_baseline", {"lr": 0.01}, {})
        >>> manager.log_metrics({"loss": [0.5, 0.4]})
        >>> manager.read_history("mnist_baseline")[0]["metrics"]
        {'loss': [0.5, 0.4]}
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "experiments/logs",
        *,
        default_metadata: Mapping[str, Any] | None = None,
        lock_timeout: float = 60.0,
        store: Store | None = None,
        capture_environment: bool = True,
        fsync_every_log: bool = False,
        system_metrics: bool | float = True,
    ) -> None:
        from experiment_manager._system_metrics import sampling_interval

        self._system_interval = sampling_interval(system_metrics)
        if not isinstance(log_dir, (str, os.PathLike)) or os.fspath(log_dir) in ("", b""):
            from experiment_manager.stores._locations import redact_text

            # The value may be a URI given as bytes: never echo its password.
            shown = redact_text(repr(log_dir)) if isinstance(log_dir, bytes) else log_dir
            raise InvalidArgumentError("log_dir", shown, "must be a non-empty path")
        path = os.fspath(log_dir)
        if not isinstance(path, str):
            raise InvalidArgumentError("log_dir", log_dir, "must be a str path, not bytes")
        # A database URI is kept as given, with its password hidden: log_dir is shown
        # in reprs and messages, and the store alone keeps the URI it connects with.
        self.log_dir: Path | str = (
            redact(path) if is_database_uri(path) else Path(os.path.abspath(path))
        )
        defaults = _require_mapping(
            "default_metadata", {} if default_metadata is None else default_metadata
        )
        self._default_metadata: dict[str, Any] = {
            **DEFAULT_METADATA,
            **_serialize.to_json(defaults, "default_metadata"),
        }
        if store is None:
            from experiment_manager.stores import open_store

            store = open_store(
                path if is_database_uri(path) else self.log_dir, lock_timeout=lock_timeout
            )
        self._store = store
        self._capture_environment = capture_environment
        self._warned: set[type[Warning]] = set()  # each of our warnings is given once
        self._fsync = fsync_every_log
        self._lock = threading.RLock()
        self._busy_thread: int | None = None
        self._active: ExperimentRecord | None = None
        self._run: ActiveRun | None = None
        self._sampler: SystemSampler | None = None

    def __repr__(self) -> str:
        """Show the log folder and the active run."""
        active = self._active
        run = "none" if active is None else f"{active.experiment_id} v{active.version}"
        return f"ExperimentManager(log_dir={str(self.log_dir)!r}, active={run})"

    @property
    def store(self) -> Store:
        """The storage backend.

        Example:
            >>> import tempfile
            >>> type(ExperimentManager(tempfile.mkdtemp()).store).__name__
            'FileStore'
        """
        return self._store

    @property
    def active_experiment(self) -> ExperimentRecord | None:
        """The record of the active experiment, or None.

        Its ``metrics`` and ``checkpoints`` grow with ``log_metrics`` and
        ``add_checkpoint``. Points streamed with :meth:`log` are not kept in memory
        (so memory stays flat); read them with :meth:`read_history`.

        Example:
            >>> import tempfile
            >>> ExperimentManager(tempfile.mkdtemp()).active_experiment is None
            True
        """
        return self._active

    # -- the specification's API ------------------------------------------------------

    def start_experiment(
        self,
        config_name: str,
        hyperparameters: Mapping[str, Any] | object,
        metadata: Mapping[str, Any],
        experiment_id: str | None = None,
        *,
        name: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> ExperimentRecord:
        """Start a new version of an experiment and make it the active one.

        The version number is one more than the experiment's latest (1 for a new id),
        allocated under the experiment's lock so concurrent starts never share one. A
        run this manager had active is ended as ``finished`` first (one version per
        manager runs at a time), with an :class:`ActiveRunEndedWarning` the first
        time; end it yourself to choose its status. The new version's status is
        ``running`` until it ends. A new id that differs from an existing experiment's
        only by letter case is refused (the two would share one file on macOS and
        Windows).

        Args:
            config_name: Name of the configuration used; must be a non-empty str.
            hyperparameters: Hyperparameters of the run: a dict, or a config object
                (``argparse.Namespace``, dataclass, pydantic model, OmegaConf/Hydra
                config). Values are converted to JSON types (numpy scalars and
                arrays, tuples, paths, datetimes, enums, config objects, nested keys
                kept); what is passed in is not changed.
            metadata: Additional metadata. The keys ``precision``, ``model_size``,
                ``dataset_version`` and ``hardware_constraint_mode`` are added with
                the manager's defaults when absent; given keys are kept.
            experiment_id: The experiment's id. Without it the id is ``config_name``
                when that is a safe file name, else a slug of it (see ``slugify``).
            name: The version's human name (default: ``config_name``); see
                :meth:`set_name`.
            tags: The version's first tags; see :meth:`add_tags`.

        Returns:
            The new record, also available as :attr:`active_experiment`.

        Raises:
            InvalidArgumentError: ``config_name`` is empty or not a str, or
                ``hyperparameters`` is not a dict or config object, or ``metadata``
                is not a dict, or either is bigger than 1 MiB as JSON
                (``MAX_FIELD_BYTES``; keep big values in files).
            InvalidExperimentIdError: ``experiment_id`` is not a safe file name.
            ExperimentIdCollisionError: ``experiment_id`` is new and differs from an
                existing experiment's only by letter case (an
                ``InvalidExperimentIdError``; ``existing`` names that one).
            SerializationError: A value has no faithful JSON form; the error names
                its key path. Nothing is written.
            CorruptHistoryError: The experiment's history file cannot be parsed; it
                is left untouched.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> record = manager.start_experiment(
            ...     config_name="mnist_baseline",
            ...     hyperparameters={"learning_rate": 0.01, "batch_size": 32},
            ...     metadata={"precision": "float32"},
            ... )
            >>> record.experiment_id, record.version, record.metadata["model_size"]
            ('mnist_baseline', 1, 'unspecified')
        """
        if not isinstance(config_name, str) or not config_name.strip():
            raise InvalidArgumentError("config_name", config_name, "must be a non-empty str")
        _serialize.to_json(config_name, "config_name")
        hyper = _serialize.to_json(
            _require_mapping("hyperparameters", hyperparameters), "hyperparameters"
        )
        meta = _serialize.to_json(_require_mapping("metadata", metadata), "metadata")
        meta = {**self._default_metadata, **meta}
        _serialize.check_size("hyperparameters", hyper)
        _serialize.check_size("metadata", meta)
        curation = curation_fields(name, tags)
        if experiment_id is None:
            experiment_id = slugify(config_name)
        else:
            validate_experiment_id(experiment_id)
        environment = None
        if self._capture_environment:
            from experiment_manager._environment import capture_environment

            environment = capture_environment()
        with self._exclusive():
            self._refuse_case_twin(experiment_id)
            if self._active is not None:
                self._warn_once(
                    ActiveRunEndedWarning,
                    f"start_experiment ended {self._active.experiment_id!r} version "
                    f"{self._active.version}, which was still running, as finished; call "
                    "end_experiment() first (or use `with manager.experiment(...)`) to "
                    "choose how it ends, or use another ExperimentManager to run two at once",
                )
            self._end_previous()
            fields = {
                "created_at": _now(),
                "config_name": config_name,
                "hyperparameters": hyper,
                "metadata": meta,
                "metrics": {},
                "checkpoints": [],
                "status": "running",
                "ended_at": None,
                "duration": None,
                "error": None,
                "environment": environment,
                "resumed": [],
                "steps": {},
                "timestamps": {},
                "checkpoint_details": [],
                **curation,
            }
            held: list[LiveHandle] = []
            journals: list[JournalWriter] = []

            def take_live(version: int) -> None:
                handle = self._store.hold_live(experiment_id, version)
                if handle is None:  # only if a crashed writer's lock file is reused
                    raise RunActiveError(experiment_id, version)
                held.append(handle)
                # Opened before the version is written: a journal that cannot be made
                # fails the start with nothing stored, not a version left running.
                journals.append(self._store.open_journal(experiment_id, version, 0))

            try:
                stored = self._store.create_version(experiment_id, fields, before_write=take_live)
            except BaseException:
                _let_go(held, journals)
                raise
            self._activate(stored, held[0], next_step=0, journal=journals[0])
            assert self._active is not None
            return self._bound(self._active)

    def log_metrics(
        self,
        metrics: Mapping[str, Any],
        *,
        steps: int | Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        """Append metric values to the active experiment and write them through.

        Each call extends each metric's list: a scalar adds one value; a list, tuple
        or one-dimensional array adds each of its values. Every value is checked
        before anything is written, so a bad value leaves the history unchanged. The
        history file holds the values when this returns. Every value gets a step and
        the call's wall time (``steps`` and ``timestamps`` of :meth:`read_history`):
        by default the i-th value of each metric is at step ``S + i``, where ``S`` is
        the version's next default step (one more than the largest step logged, as
        for :meth:`log`), and the next default step moves past the longest list.

        Args:
            metrics: Metric name to a number or a flat sequence of numbers (Python or
                numpy ints and floats; NaN and +-Inf are kept exactly).
            steps: The steps of the values, for a bulk upload that carries its own: an
                int (the step of each metric's first value, the rest following it), or
                metric name to one step per value (every metric of the call listed).

        Raises:
            NoActiveExperimentError: No experiment is active (a ``RuntimeError``).
            InvalidArgumentError: ``metrics`` is not a dict, or ``steps`` is not a
                non-negative int or a mapping giving each metric one non-negative
                int step per value.
            InvalidMetricError: A name is not a non-empty str or a value is not a real
                number; the error names the metric.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.log_metrics({"loss": [0.5, 0.4], "accuracy": 0.9})
            >>> manager.log_metrics({"loss": 0.3})
            >>> manager.log_metrics({"val_loss": [0.6, 0.5]}, steps={"val_loss": [10, 20]})
            >>> manager.active_experiment.metrics
            {'loss': [0.5, 0.4, 0.3], 'accuracy': [0.9], 'val_loss': [0.6, 0.5]}
            >>> manager.read_history("exp")[0]["steps"]
            {'loss': [0, 1, 2], 'accuracy': [0], 'val_loss': [10, 20]}
        """
        wall_time = _wall_time()
        with self._exclusive():
            record = self._current("log_metrics")
            run = self._run
            assert run is not None
            converted = {
                name: _serialize.metric_values(name, values)
                for name, values in _require_mapping("metrics", metrics).items()
            }
            placed = _bulk_steps(converted, steps, run.next_step)
            if converted:
                self._store.append(
                    record.experiment_id,
                    record.version,
                    metrics=converted,
                    steps=placed,
                    timestamps={name: [wall_time] * len(v) for name, v in converted.items()},
                )
                last = [step for column in placed.values() for step in column]
                if last:
                    run.next_step = max(run.next_step, max(last) + 1)
            for name, values in converted.items():
                record.metrics.setdefault(name, []).extend(_serialize.decode_metric_values(values))

    def add_checkpoint(
        self,
        checkpoint_path: str | os.PathLike[str],
        step: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        *,
        sha256: bool = False,
    ) -> None:
        """Record a checkpoint of the active experiment by reference (never copied).

        The path goes into the specification's ``checkpoints`` list as a str; beside
        it ``checkpoint_details`` records the absolute path, size and modification
        time (when the file or folder exists), the step, a metrics snapshot and,
        when asked, a SHA-256 computed in a background thread so training is not
        held up (it is recorded before the run ends).

        Args:
            checkpoint_path: Path of the saved checkpoint (file or folder).
            step: The training step it was saved at.
            metrics: Metric name to one number, e.g. ``{"val_loss": 0.31}``; used by
                :meth:`best_checkpoint`.
            sha256: Hash the checkpoint's bytes.

        Raises:
            NoActiveExperimentError: No experiment is active (a ``RuntimeError``).
            InvalidArgumentError: The path is empty, bytes, or contains a NUL, or the
                step is not a non-negative int.
            InvalidMetricError: A metrics value is not one real number.

        Warns:
            MissingCheckpointWarning: The path does not exist (the first time only).

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.add_checkpoint("checkpoints/model_epoch_5.npz")
            >>> manager.active_experiment.checkpoints
            ['checkpoints/model_epoch_5.npz']
        """
        if not isinstance(checkpoint_path, (str, os.PathLike)):
            raise InvalidArgumentError(
                "checkpoint_path", checkpoint_path, "must be a str or os.PathLike"
            )
        path = os.fspath(checkpoint_path)
        if not isinstance(path, str) or not path or "\x00" in path:
            raise InvalidArgumentError(
                "checkpoint_path", checkpoint_path, "must be a non-empty str path without NUL"
            )
        _serialize.to_json(path, "checkpoint_path")
        step = _check_step(step)
        snapshot = None if metrics is None else dict(_serialize.metric_point(metrics))
        detail = _checkpoints.describe(path, step, snapshot, _now())
        if not detail["exists"]:
            self._warn_once(
                MissingCheckpointWarning,
                f"add_checkpoint: {path!r} does not exist (yet); it is recorded, and "
                "verify_checkpoints() and `expm doctor` report it as missing while it is",
            )
        with self._exclusive():
            record = self._current("add_checkpoint")
            run = self._run
            assert run is not None
            self._store.append(
                record.experiment_id,
                record.version,
                checkpoints=[path],
                checkpoint_details=[detail],
            )
            record.checkpoints.append(path)
            record.checkpoint_details.append(
                decode_version({"checkpoint_details": [detail]})["checkpoint_details"][0]
            )
            if sha256 and detail["exists"]:
                run.hash_checkpoint(len(record.checkpoint_details) - 1, detail["abspath"])

    def read_history(self, experiment_id: str) -> list[dict[str, Any]]:
        """Read every version of an experiment, from any process, in version order.

        Running versions include the points streamed so far. A version whose
        process died without ending it (SIGKILL, power loss, OOM killer) reads as
        ``crashed``.

        Args:
            experiment_id: The experiment's id.

        Returns:
            One dict per version with the keys of :class:`ExperimentRecord` plus
            ``steps`` and ``timestamps``: for each metric that received points from
            :meth:`log`, the step and wall time of each of its values, parallel to
            ``metrics[name]`` (None for values from ``log_metrics``); ``[]`` for an
            id that never ran. Values equal what was logged (floats exactly, NaN and +-Inf
            included).

        Raises:
            InvalidExperimentIdError: The id is not a safe file name.
            CorruptHistoryError: The history file (or a journal line) cannot be parsed.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {"lr": 0.1}, {})
            >>> _ = manager.start_experiment("exp", {"lr": 0.2}, {})
            >>> [(h["version"], h["hyperparameters"]["lr"]) for h in manager.read_history("exp")]
            [(1, 0.1), (2, 0.2)]
        """
        history = self._store.read_history(validate_experiment_id(experiment_id))
        return [r for r in history if not (r.get("trashed_at") or r.get("purged_at"))]

    # -- streaming ----------------------------------------------------------------------

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> int:
        """Stream one step's metric values to the active experiment.

        The point is appended to the version's journal with one ``write`` before
        this returns, so a ``kill -9`` right after loses nothing; it appears in
        :meth:`read_history` at once (in any process) and is folded into the history
        file when the version ends. Nothing accumulates in memory.

        Args:
            metrics: Metric name to one real number (Python or numpy; NaN and +-Inf
                are kept exactly).
            step: The step. Without it, one more than the previous step of this
                version (0 for the first). Explicit steps may come in any order and
                are kept as given.

        Returns:
            The step used.

        Raises:
            NoActiveExperimentError: No experiment is active (a ``RuntimeError``).
            InvalidArgumentError: ``metrics`` is not a dict or ``step`` is not a
                non-negative int.
            InvalidMetricError: A name or value is invalid; nothing is written.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.log({"loss": 0.9, "lr": 0.1})
            0
            >>> manager.log({"loss": 0.7})
            1
            >>> manager.read_history("exp")[0]["metrics"]["loss"]
            [0.9, 0.7]
        """
        wall_time = time.time()
        if step is not None:
            step = _check_step(step)
        with self._lock:
            run = self._run
            if run is None:
                raise NoActiveExperimentError("log")
            return run.write_point(metrics, step, wall_time)

    def log_metric(self, name: str, value: Any, step: int | None = None) -> int:
        """Stream one metric value; the same as ``log({name: value}, step)``.

        Args:
            name: The metric's name.
            value: One real number.
            step: The step, or None for the next one.

        Returns:
            The step used.

        Raises:
            NoActiveExperimentError: No experiment is active (a ``RuntimeError``).
            InvalidMetricError: The name or value is invalid.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.log_metric("loss", 0.5, step=10)
            10
        """
        return self.log({name: value}, step=step)

    def flush(self) -> None:
        """Flush streamed points of the active experiment to stable storage (fsync).

        Without it, a returned :meth:`log` is already safe from the process dying;
        this also makes it safe from the machine losing power.

        Raises:
            NoActiveExperimentError: No experiment is active (a ``RuntimeError``).

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.flush()
        """
        with self._lock:
            run = self._run
            if run is None:
                raise NoActiveExperimentError("flush")
            run.flush()

    def update_hyperparameters(
        self, hyperparameters: Mapping[str, Any] | object
    ) -> list[dict[str, Any]]:
        """Add or change hyperparameters of the active version, recording every change.

        New keys are added (nested dicts are merged key by key). A key that already
        holds a different value takes the new one, and the change is appended to
        the version's ``hyperparameter_changes`` as ``{"at", "key", "from", "to"}``
        (``key`` is the dotted path), so no value is ever overwritten silently. The
        history holds the result when this returns.

        Args:
            hyperparameters: A dict or config object, as for :meth:`start_experiment`.

        Returns:
            The changes made by this call (empty when it only added keys).

        Raises:
            NoActiveExperimentError: No experiment is active (a ``RuntimeError``).
            InvalidArgumentError: ``hyperparameters`` is not a dict or config object,
                or the result would be bigger than 1 MiB as JSON; nothing is written.
            SerializationError: A value has no faithful JSON form; nothing is written.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {"lr": 0.1}, {})
            >>> [c["from"] for c in manager.update_hyperparameters({"lr": 0.01, "seed": 1})]
            [0.1]
            >>> manager.active_experiment.hyperparameters
            {'lr': 0.01, 'seed': 1}
        """
        given = _serialize.to_json(
            _require_mapping("hyperparameters", hyperparameters), "hyperparameters"
        )
        with self._exclusive():
            record = self._current("update_hyperparameters")
            at = _now()

            def merge(stored: StoredVersion) -> tuple[dict[str, Any], list[dict[str, Any]]]:
                merged = _serialize.loads(_serialize.dumps(stored.get("hyperparameters") or {}))
                changes: list[dict[str, Any]] = []
                _merge_into(merged, given, "", at, changes)
                _serialize.check_size("hyperparameters", merged)  # before anything is kept
                stored["hyperparameters"] = merged
                if changes:
                    stored["hyperparameter_changes"] = [
                        *(stored.get("hyperparameter_changes") or []),
                        *changes,
                    ]
                return merged, changes

            merged, changes = self._store.update_version(
                record.experiment_id, record.version, merge
            )
            record.hyperparameters = decode_version({"hyperparameters": merged})["hyperparameters"]
            decoded: list[dict[str, Any]] = _serialize.from_json(changes)
            return decoded

    # -- lifecycle ----------------------------------------------------------------------

    def end_experiment(
        self, status: str = "finished", error: BaseException | str | None = None
    ) -> ExperimentRecord:
        """End the active version: fold its journal into the history, record the status.

        Args:
            status: ``finished``, ``failed`` or ``killed``.
            error: For a failed run, the exception (its type and message are kept,
                the message cut to ``_serialize.MAX_ERROR_CHARS`` characters)
                or a message.

        Returns:
            The ended record (its metrics include every streamed point).

        Raises:
            NoActiveExperimentError: No experiment is active (a ``RuntimeError``).
            InvalidArgumentError: ``status`` is not one of the three.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.end_experiment().status
            'finished'
        """
        if status not in ("finished", "failed", "killed"):
            raise InvalidArgumentError("status", status, "must be 'finished', 'failed' or 'killed'")
        if isinstance(error, BaseException):
            details = _serialize.error_details(type(error).__name__, str(error))
        elif error is not None:
            details = _serialize.error_details("Error", str(error))
        else:
            details = None
        with self._exclusive():
            if self._run is None:
                raise NoActiveExperimentError("end_experiment")
            ended = self._end_active(status, details)
            assert ended is not None
            return ended

    @contextlib.contextmanager
    def experiment(
        self,
        config_name: str,
        hyperparameters: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        experiment_id: str | None = None,
    ) -> Iterator[ExperimentRecord]:
        """Run a version as a ``with`` block that always records how it ended.

        Leaving the block normally ends the version as ``finished``; an exception
        ends it as ``failed`` with the exception's type and message (and goes on),
        ``KeyboardInterrupt`` as ``killed``.

        Args:
            config_name: As for :meth:`start_experiment`.
            hyperparameters: As for :meth:`start_experiment`.
            metadata: As for :meth:`start_experiment` (default ``{}``).
            experiment_id: As for :meth:`start_experiment`.

        Yields:
            The started record.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> with manager.experiment("exp", {"lr": 0.1}) as record:
            ...     _ = manager.log({"loss": 0.5})
            >>> manager.read_history("exp")[0]["status"]
            'finished'
        """
        record = self.start_experiment(config_name, hyperparameters, metadata or {}, experiment_id)
        try:
            yield record
        except BaseException as error:
            self._end_as_block_ended(record, error)
            raise
        else:
            self._end_as_block_ended(record, None)

    def _end_as_block_ended(self, record: ExperimentRecord, error: BaseException | None) -> None:
        """End a version whose ``with`` block ended (normally, or by ``error``)."""
        if isinstance(error, KeyboardInterrupt):
            self._end_if_current(record, "killed", error)
        elif error is None or (isinstance(error, SystemExit) and error.code in (None, 0)):
            self._end_if_current(record, "finished", None)
        else:
            self._end_if_current(record, "failed", error)

    def resume_experiment(
        self, experiment_id: str, version: int | None = None, *, from_step: int | None = None
    ) -> ExperimentRecord:
        """Reopen a version (the latest by default) for more logging, e.g. after a crash.

        Streamed points not yet folded are folded, the version is marked
        ``running`` again with an entry in ``resumed`` (time, previous status,
        pid, host, and the ``step`` the run goes on from, where charts mark the
        resume), and default steps continue after the largest step logged. A
        step logged again is appended, not replaced: both values stay in the
        history in logging order, told apart by their ``timestamps``; with
        ``from_step`` the points logged before at that step or later are
        superseded instead: moved out of ``metrics`` (so summaries, charts and
        exports leave them out) into the version's ``superseded`` field, where they
        are kept, and default steps continue from ``from_step``. The time the run
        was not running (from its end, or its last point if it crashed, to the
        resume) is added to the version's ``downtime`` (seconds), and ``duration``
        leaves it out. The record works in a ``with`` block: finished, or failed on
        an exception.

        Args:
            experiment_id: The experiment.
            version: The version; the latest when None.
            from_step: Supersede the points logged before at this step or later
                (those the resumed run logs again).

        Returns:
            The resumed record, now the active one.

        Raises:
            InvalidExperimentIdError: The id is not a safe file name.
            ExperimentNotFoundError: The experiment or version does not exist.
            RunActiveError: A live process (or another manager) is running it.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> _ = manager.log({"loss": 0.5})
            >>> _ = manager.end_experiment()
            >>> record = manager.resume_experiment("exp")
            >>> manager.log({"loss": 0.4})
            1
        """
        validate_experiment_id(experiment_id)
        if version is not None and (type(version) is not int or version < 1):
            raise InvalidArgumentError("version", version, "must be a positive int or None")
        if from_step is not None:
            from_step = _check_step(from_step)
        with self._exclusive():
            self._end_previous()
            held: list[LiveHandle] = []

            number = self._store.latest_version(experiment_id) if version is None else version
            if number is None:
                raise ExperimentNotFoundError(experiment_id, version)

            journals: list[JournalWriter] = []
            left: list[int] = []  # the journal segment the resume leaves

            def reopen(stored: StoredVersion) -> tuple[StoredVersion, int]:
                if stored.get("trashed_at") or stored.get("purged_at"):  # restore it first
                    raise ExperimentNotFoundError(experiment_id, number)
                handle = self._store.hold_live(experiment_id, number)
                if handle is None:
                    raise RunActiveError(experiment_id, number)
                held.append(handle)
                self._store.fold_journal(experiment_id, stored)
                # A new journal segment: the old one's points are folded in, and a store
                # whose journals are per host (PostgreSQL) must not go on with another
                # host's byte offset.
                left.append(int(stored.get("_journal_segment", 0)))
                stored.update(_journal_segment=left[0] + 1, _journal_offset=0)
                journals.append(self._store.open_journal(experiment_id, number, left[0] + 1))
                from experiment_manager._environment import process_identity

                previous = stored.get("status", "finished")
                at = _now()
                entry = {
                    "at": at,
                    "from_status": "crashed" if previous == "running" else previous,
                    **process_identity(),
                }
                if from_step is not None:
                    entry["from_step"] = from_step
                    _supersede(stored, from_step, at)
                # Where the resumed run goes on: a chart's resume marker stands there.
                entry["step"] = from_step if from_step is not None else next_step_after(stored)
                stored["resumed"] = [*(stored.get("resumed") or []), entry]
                stored["downtime"] = round(
                    (stored.get("downtime") or 0.0) + _dead_seconds(stored, at), 6
                )
                stored.update(status="running", ended_at=None, duration=None, error=None)
                return _serialize.loads(_serialize.dumps(stored)), next_step_after(stored)

            try:
                stored, next_step = self._store.update_version(experiment_id, number, reopen)
            except BaseException:
                _let_go(held, journals)
                raise
            self._store.remove_journal(experiment_id, number, left[0])
            self._activate(stored, held[0], next_step=next_step, journal=journals[0])
            assert self._active is not None
            return self._bound(self._active)

    def _bound(self, record: ExperimentRecord) -> ExperimentRecord:
        """Let ``with record:`` end the version as the block ends."""
        record._end = functools.partial(self._end_as_block_ended, record)  # type: ignore[attr-defined]
        return record

    # -- checkpoints --------------------------------------------------------------------

    def best_checkpoint(
        self,
        metric: str,
        mode: str = "min",
        experiment_id: str | None = None,
        version: int | None = None,
    ) -> dict[str, Any] | None:
        """The checkpoint of a version with the best value of a metric.

        A checkpoint's value is the one in its ``metrics`` snapshot, else the value
        logged for the metric at the checkpoint's step.

        Args:
            metric: The metric's name.
            mode: ``"min"`` or ``"max"``.
            experiment_id: The experiment; the active one when None.
            version: The version; the active one, else the latest, when None.

        Returns:
            The checkpoint's details with ``value`` added, or None if no checkpoint
            has a value for the metric.

        Raises:
            InvalidArgumentError: ``mode`` is not min or max.
            NoActiveExperimentError: No id was given and none is active.
            ExperimentNotFoundError: The experiment or version does not exist.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.add_checkpoint("a.pt", metrics={"val_loss": 0.4})
            >>> manager.add_checkpoint("b.pt", metrics={"val_loss": 0.3})
            >>> manager.best_checkpoint("val_loss")["path"]
            'b.pt'
        """
        if mode not in ("min", "max"):
            raise InvalidArgumentError("mode", mode, "must be 'min' or 'max'")
        record = self._version_record(experiment_id, version, "best_checkpoint")
        return _checkpoints.best(record, metric, mode)

    def verify_checkpoints(
        self,
        experiment_id: str | None = None,
        version: int | None = None,
        *,
        deep: bool = False,
    ) -> list[dict[str, Any]]:
        """Check which recorded checkpoints are missing or changed since they were added.

        Args:
            experiment_id: The experiment; the active one when None.
            version: The version; the active one, else the latest, when None.
            deep: Also recompute SHA-256 where one was recorded.

        Returns:
            One dict per checkpoint: ``path``, ``status`` (``ok``, ``missing``,
            ``changed``, or ``unknown`` when the file did not exist when added),
            ``recorded`` and ``current`` (``exists``, ``size``, ``mtime``, ``sha256``).

        Raises:
            NoActiveExperimentError: No id was given and none is active.
            ExperimentNotFoundError: The experiment or version does not exist.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.add_checkpoint("/nonexistent/model.pt")
            >>> manager.verify_checkpoints()[0]["status"]
            'missing'
        """
        record = self._version_record(experiment_id, version, "verify_checkpoints")
        details = record.get("checkpoint_details") or []
        return [_checkpoints.verify(detail, deep=deep) for detail in details]

    # -- internals ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the manager's lock around a call that may rewrite the history.

        A SIGTERM arriving meanwhile must not write the history from inside the
        interrupted write (it would wait for the lock its own frame holds); the
        handler sees :meth:`_busy_here` and is run when the call has finished.
        """
        with self._lock:
            outermost = self._busy_thread is None
            if outermost:
                self._busy_thread = threading.get_ident()
            try:
                yield
            finally:
                if outermost:
                    self._busy_thread = None
        if outermost:
            _process_hooks.run_deferred()

    def _busy_here(self) -> bool:
        """Whether this thread is inside one of the manager's history-writing calls."""
        return self._busy_thread == threading.get_ident()

    def _version_record(
        self, experiment_id: str | None, version: int | None, operation: str
    ) -> dict[str, Any]:
        if experiment_id is None:
            active = self._active
            if active is None:
                raise NoActiveExperimentError(operation)
            experiment_id = active.experiment_id
            version = active.version if version is None else version
        return self.get_version(experiment_id, version)

    def _activate(
        self, stored: StoredVersion, live: LiveHandle, next_step: int, journal: JournalWriter
    ) -> None:
        segment = stored.get("_journal_segment", 0)
        experiment_id, version = stored["experiment_id"], stored["version"]
        try:
            run = ActiveRun(
                self._store,
                experiment_id,
                version,
                live=live,
                journal=journal,
                segment=segment,
                next_step=next_step,
                fsync=self._fsync,
            )
        except BaseException:
            _let_go([live], [journal])
            raise
        self._run = run
        self._active = ExperimentRecord.from_dict(decode_version(stored))
        _process_hooks.register(self)
        if self._system_interval is not None:
            from experiment_manager._system_metrics import can_sample

            if can_sample():  # without the system extra: no thread at all
                self._start_sampler(run, stored)

    def _start_sampler(self, run: ActiveRun, stored: StoredVersion) -> None:
        from experiment_manager._system_metrics import SystemSampler

        steps = [
            step
            for name, values in (stored.get("steps") or {}).items()
            if name.startswith(SYSTEM_PREFIX)
            for step in values
            if isinstance(step, int)
        ]

        def write(values: dict[str, float], step: int, wall_time: float) -> bool:
            # Waits for the lock in short slices: the run's end holds it while it
            # stops this thread, which must then see `stopped` rather than block.
            while not sampler.stopped.is_set():
                if self._lock.acquire(timeout=0.05):
                    try:
                        if self._run is not run or sampler.stopped.is_set():
                            return False
                        run.write_point(values, step, wall_time, advance=False)
                        return True
                    finally:
                        self._lock.release()
            return False

        assert self._system_interval is not None
        sampler = SystemSampler(
            write,
            self._system_interval,
            str(self.log_dir),
            first_step=max(steps) + 1 if steps else 0,
        )
        self._sampler = sampler
        sampler.start()

    def _current(self, operation: str) -> ExperimentRecord:
        record = self._active
        if record is None:
            raise NoActiveExperimentError(operation)
        return record

    def _end_active(self, status: str, error: dict[str, str] | None) -> ExperimentRecord | None:
        run, record = self._run, self._active
        if run is None or record is None:
            return None
        self._run = None
        self._active = None
        _process_hooks.unregister(self)
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.stop()
        stored = run.end(status, error, _now())
        ended = ExperimentRecord.from_dict(decode_version(stored))
        record.status, record.ended_at = ended.status, ended.ended_at
        record.duration, record.error = ended.duration, ended.error
        return ended

    def _warn_once(self, category: type[Warning], message: str) -> None:
        """Give one of our warnings, the first time only (for this manager)."""
        if category not in self._warned:
            self._warned.add(category)
            warnings.warn(message, category, stacklevel=3)

    def _refuse_case_twin(self, experiment_id: str) -> None:
        """Refuse a new id that only the letter case tells from an existing one.

        The store checks again as it creates the experiment, under its lock (two
        processes starting twins at once); this early check keeps the active run.
        """
        if self._store.latest_version(experiment_id) is not None:
            return
        refuse_case_twin(experiment_id, self._store.experiment_ids())

    def _end_previous(self) -> None:
        """End the active run before another starts; a failure there must not block it."""
        try:
            self._end_active("finished", None)
        except ExperimentManagerError as error:
            warnings.warn(
                f"the previous run could not be ended and is left as it was: {error}",
                RuntimeWarning,
                stacklevel=3,
            )

    def _end_if_current(
        self, record: ExperimentRecord, status: str, error: BaseException | None
    ) -> None:
        with self._lock:
            active = self._active
            if active is not record:
                return  # the block started another run, or ended this one itself
        self.end_experiment(status, error)

    def _end_for_process_exit(self, status: str, error: dict[str, str] | None) -> None:
        """End the active run because the interpreter is exiting; report, never raise."""
        try:
            with self._lock:
                self._end_active(status, error)
        except Exception as failure:  # exiting: report and go on
            print(
                f"experiment_manager: could not end the active run at exit: {failure}",
                file=sys.stderr,
            )
