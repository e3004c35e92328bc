"""ExperimentManager: the facade users call; the specification's API lives here."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from experiment_manager import _serialize
from experiment_manager._naming import slugify, validate_experiment_id
from experiment_manager.errors import InvalidArgumentError, NoActiveExperimentError
from experiment_manager.models import ExperimentRecord
from experiment_manager.stores.base import Store, decode_version

__all__ = ["DEFAULT_METADATA", "ExperimentManager"]

#: Values given to the four documented metadata keys when a run does not set them.
DEFAULT_METADATA: Mapping[str, Any] = {
    "precision": "unspecified",
    "model_size": "unspecified",
    "dataset_version": "unspecified",
    "hardware_constraint_mode": "unspecified",
}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _require_mapping(argument: str, value: object) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(argument, value, f"must be a dict, not {type(value).__name__}")
    return value


class ExperimentManager:
    """Tracks experiments: starts versioned runs, logs metrics and checkpoints, reads history.

    Each experiment id has one history file, ``<log_dir>/<experiment_id>.json``, holding
    every version. Every call that changes a run writes it through to that file before
    it returns, under an inter-process lock, so other processes (or ``json.load``) see
    the data at once and a crash never leaves a half-written file. One experiment is
    active at a time per manager; a manager may be shared by threads.

    Args:
        log_dir: Folder of the history files, created when first needed. Relative
            paths are taken from the working directory at construction.
        default_metadata: Values for the documented metadata keys (``precision``,
            ``model_size``, ``dataset_version``, ``hardware_constraint_mode``) that a
            run does not set, merged over :data:`DEFAULT_METADATA` (all
            ``"unspecified"``). Other keys given here are added to every run too.
        lock_timeout: Seconds to wait for another live process writing the same
            experiment before raising ``LockTimeoutError``.
        store: Another backend (for example ``MemoryStore()``); ``log_dir`` is then
            not used for storage.

    Raises:
        InvalidArgumentError: ``log_dir`` is empty or not a path, or
            ``default_metadata`` is not a dict.

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
    ) -> None:
        if not isinstance(log_dir, (str, os.PathLike)) or os.fspath(log_dir) in ("", b""):
            raise InvalidArgumentError("log_dir", log_dir, "must be a non-empty path")
        path = os.fspath(log_dir)
        if not isinstance(path, str):
            raise InvalidArgumentError("log_dir", log_dir, "must be a str path, not bytes")
        self.log_dir = Path(os.path.abspath(path))
        defaults = _require_mapping("default_metadata", default_metadata or {})
        self._default_metadata: dict[str, Any] = {
            **DEFAULT_METADATA,
            **_serialize.to_json(defaults, "default_metadata"),
        }
        if store is None:
            from experiment_manager.stores.files import FileStore

            store = FileStore(self.log_dir, lock_timeout=lock_timeout)
        self._store = store
        self._lock = threading.RLock()
        self._active: ExperimentRecord | None = None

    def __repr__(self) -> str:
        """Show the log folder and the active run."""
        active = self._active
        run = "none" if active is None else f"{active.experiment_id} v{active.version}"
        return f"ExperimentManager(log_dir={str(self.log_dir)!r}, active={run})"

    @property
    def active_experiment(self) -> ExperimentRecord | None:
        """The record of the active experiment, or None.

        Its ``metrics`` and ``checkpoints`` grow as ``log_metrics`` and
        ``add_checkpoint`` are called.

        Example:
            >>> import tempfile
            >>> ExperimentManager(tempfile.mkdtemp()).active_experiment is None
            True
        """
        return self._active

    def start_experiment(
        self,
        config_name: str,
        hyperparameters: Mapping[str, Any],
        metadata: Mapping[str, Any],
        experiment_id: str | None = None,
    ) -> ExperimentRecord:
        """Start a new version of an experiment and make it the active one.

        The version number is one more than the experiment's latest (1 for a new id),
        allocated under the experiment's lock so concurrent starts never share one. A
        previously active experiment of this manager stops being active.

        Args:
            config_name: Name of the configuration used; must be a non-empty str.
            hyperparameters: Hyperparameters of the run. Values are converted to JSON
                types (numpy scalars and arrays, tuples, paths, datetimes, enums,
                dataclasses); the dict passed in is not changed.
            metadata: Additional metadata. The keys ``precision``, ``model_size``,
                ``dataset_version`` and ``hardware_constraint_mode`` are added with
                the manager's defaults when absent; given keys are kept.
            experiment_id: The experiment's id. Without it the id is ``config_name``
                when that is a safe file name, else a slug of it (see ``slugify``).

        Returns:
            The new record, also available as :attr:`active_experiment`.

        Raises:
            InvalidArgumentError: ``config_name`` is empty or not a str, or
                ``hyperparameters``/``metadata`` is not a dict.
            InvalidExperimentIdError: ``experiment_id`` is not a safe file name.
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
        if experiment_id is None:
            experiment_id = slugify(config_name)
        else:
            validate_experiment_id(experiment_id)
        fields = {
            "created_at": _now(),
            "config_name": config_name,
            "hyperparameters": hyper,
            "metadata": meta,
            "metrics": {},
            "checkpoints": [],
        }
        with self._lock:
            stored = self._store.create_version(experiment_id, fields)
            record = ExperimentRecord.from_dict(decode_version(stored))
            self._active = record
        return record

    def log_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Append metric values to the active experiment and write them through.

        Each call extends each metric's list: a scalar adds one value; a list, tuple
        or one-dimensional array adds each of its values. Every value is checked
        before anything is written, so a bad value leaves the history unchanged.

        Args:
            metrics: Metric name to a number or a flat sequence of numbers (Python or
                numpy ints and floats; NaN and +-Inf are kept exactly).

        Raises:
            NoActiveExperimentError: No experiment is active (a ``RuntimeError``).
            InvalidArgumentError: ``metrics`` is not a dict.
            InvalidMetricError: A name is not a non-empty str or a value is not a real
                number; the error names the metric.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.log_metrics({"loss": [0.5, 0.4], "accuracy": 0.9})
            >>> manager.log_metrics({"loss": 0.3})
            >>> manager.active_experiment.metrics
            {'loss': [0.5, 0.4, 0.3], 'accuracy': [0.9]}
        """
        if self._active is None:
            raise NoActiveExperimentError("log_metrics")
        converted = {
            name: _serialize.metric_values(name, values)
            for name, values in _require_mapping("metrics", metrics).items()
        }
        with self._lock:
            record = self._current("log_metrics")
            if converted:
                self._store.append(record.experiment_id, record.version, metrics=converted)
            for name, values in converted.items():
                record.metrics.setdefault(name, []).extend(_serialize.decode_metric_values(values))

    def add_checkpoint(self, checkpoint_path: str | os.PathLike[str]) -> None:
        """Record a checkpoint path for the active experiment (the file is not read).

        Args:
            checkpoint_path: Path of the saved checkpoint, stored as a str.

        Raises:
            NoActiveExperimentError: No experiment is active (a ``RuntimeError``).
            InvalidArgumentError: The path is empty, bytes, or contains a NUL.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.add_checkpoint("checkpoints/model_epoch_5.npz")
            >>> manager.active_experiment.checkpoints
            ['checkpoints/model_epoch_5.npz']
        """
        if self._active is None:
            raise NoActiveExperimentError("add_checkpoint")
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
        with self._lock:
            record = self._current("add_checkpoint")
            self._store.append(record.experiment_id, record.version, checkpoints=[path])
            record.checkpoints.append(path)

    def read_history(self, experiment_id: str) -> list[dict[str, Any]]:
        """Read every version of an experiment, from any process, in version order.

        Args:
            experiment_id: The experiment's id.

        Returns:
            One dict per version with the keys of :class:`ExperimentRecord`; ``[]``
            for an id that never ran. Values equal what was logged (floats exactly,
            NaN and +-Inf included).

        Raises:
            InvalidExperimentIdError: The id is not a safe file name.
            CorruptHistoryError: The history file cannot be parsed.

        Example:
            >>> import tempfile
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {"lr": 0.1}, {})
            >>> _ = manager.start_experiment("exp", {"lr": 0.2}, {})
            >>> [(h["version"], h["hyperparameters"]["lr"]) for h in manager.read_history("exp")]
            [(1, 0.1), (2, 0.2)]
        """
        return self._store.read_history(validate_experiment_id(experiment_id))

    def _current(self, operation: str) -> ExperimentRecord:
        record = self._active
        if record is None:
            raise NoActiveExperimentError(operation)
        return record
