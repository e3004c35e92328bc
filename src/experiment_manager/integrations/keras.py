"""A Keras 3 callback that records each ``fit`` as a version.

``model.fit(..., callbacks=[ExperimentManagerCallback(...)])``:

* hyperparameters: the ``fit`` arguments (``batch_size``, ``epochs``,
  ``validation_split``, ...), the optimizer's settings, and the model's class, name,
  parameter count and config, beside any given to the callback;
* epoch logs (``loss``, ``val_loss``, ...) at step = the epoch index (0-based, as
  Keras counts them);
* batch logs every ``log_every_n_batches`` batches as ``batch/<name>`` at step = the
  global batch index (``epoch * steps_per_epoch + batch``), a step axis of their own;
* each file a ``keras.callbacks.ModelCheckpoint`` of the same ``fit`` writes, by
  reference, with its step and the monitored value;
* the end: ``finished`` when ``fit`` returns, ``failed`` with the exception's type and
  message when it raises, ``killed`` on Ctrl-C.

Keras has no hook for a failing ``fit``; the callback watches what ``fit`` runs after
it starts the version: the training and validation steps, the epoch iterator that pulls
batches from the data pipeline (a ``PyDataset`` or generator that raises), and the
other callbacks. Each is given back as it was when the version ends. See
``docs/integrations.md``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from experiment_manager.errors import MissingDependencyError
from experiment_manager.integrations._common import (
    ending_for,
    hyperparameters_of,
    plain_metrics,
    score_of,
)
from experiment_manager.manager import ExperimentManager

_FEATURE = "experiment_manager.integrations.keras"
_BACKENDS = ("torch", "jax", "tensorflow")


def _configured_backend() -> tuple[str, str]:
    """The backend Keras will load and where that choice comes from, as Keras decides it."""
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        return chosen, "KERAS_BACKEND"
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    path = os.path.join(home, "keras.json")
    with contextlib.suppress(OSError, ValueError, AttributeError):
        with open(path, encoding="utf-8") as file:
            backend = json.load(file).get("backend")
        if isinstance(backend, str) and backend:
            return backend, path
    return "tensorflow", "Keras's default"


def _missing(error: ImportError) -> MissingDependencyError:
    """The error to raise when ``import keras`` failed: keras itself, or its backend."""
    if importlib.util.find_spec("keras") is None:
        return MissingDependencyError(_FEATURE, "keras")
    backend, source = _configured_backend()
    module = (error.name or "").partition(".")[0]
    reason = (
        f"{module} is not installed"
        if isinstance(error, ModuleNotFoundError) and module
        else f"importing it fails ({error})"
    )
    installed = [name for name in _BACKENDS if importlib.util.find_spec(name) is not None]
    advice = (
        f"set KERAS_BACKEND to one that is installed ({', '.join(installed)}) "
        "before keras is first imported"
        if installed
        else "install one (pip install torch, jax or tensorflow)"
    )
    return MissingDependencyError(
        _FEATURE,
        "keras",
        missing=(
            f'a Keras backend: keras is installed, but its backend "{backend}" ({source}) '
            f"cannot be imported: {reason}. The keras extra installs no backend; "
            f"install {module or backend}, or {advice}"
        ),
    )


try:
    import keras
except ImportError as _error:
    raise _missing(_error) from None

if TYPE_CHECKING:
    from experiment_manager.models import ExperimentRecord

__all__ = ["ExperimentManagerCallback"]

# fit's arguments that are settings of the run (not the data)
_FIT_ARGUMENTS = (
    "batch_size",
    "epochs",
    "validation_split",
    "shuffle",
    "initial_epoch",
    "steps_per_epoch",
    "validation_steps",
    "validation_batch_size",
    "validation_freq",
    "class_weight",
)
# CallbackList hooks run inside fit's loop: an exception from another callback is one
# way a fit fails.
_GUARDED_HOOKS = (
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
)


def _file_state(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


class ExperimentManagerCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Records a Keras ``fit`` as a version of an experiment.

    Args:
        log_dir: Folder of the history files (as for ``ExperimentManager``).
        config_name: The version's configuration name (default: ``experiment_id``,
            else the model's name).
        experiment_id: The experiment (default: derived from ``config_name``).
        hyperparameters: More hyperparameters (dict or config object); the
            framework's settings are added beside them.
        metadata: The version's metadata.
        log_every_n_batches: Log batch metrics every N batches (0: epoch logs only).
        resume: Continue the latest version of ``experiment_id`` instead of
            starting one (e.g. ``fit(initial_epoch=...)`` after a crash).
        system_metrics: Sample CPU/GPU/memory use while training (``True``: every
            10 s; a number of seconds; ``False``); see ``ExperimentManager``.
        manager: A manager to use instead of making one on ``log_dir``.

    Raises:
        InvalidArgumentError: ``log_every_n_batches`` is negative or not an int, or
            ``resume`` is given without ``experiment_id``.

    Example:
        >>> import tempfile
        >>> callback = ExperimentManagerCallback(tempfile.mkdtemp(), experiment_id="mlp")
        >>> callback.record is None
        True
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "experiments/logs",
        config_name: str | None = None,
        experiment_id: str | None = None,
        hyperparameters: Any = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        log_every_n_batches: int = 1,
        resume: bool = False,
        system_metrics: bool | float = True,
        manager: ExperimentManager | None = None,
    ) -> None:
        from experiment_manager.errors import InvalidArgumentError

        if type(log_every_n_batches) is not int or log_every_n_batches < 0:
            raise InvalidArgumentError(
                "log_every_n_batches", log_every_n_batches, "must be an int >= 0"
            )
        if resume and experiment_id is None:
            raise InvalidArgumentError("experiment_id", None, "must be given with resume=True")
        super().__init__()
        self._log_dir = log_dir
        self._config_name = config_name or experiment_id
        self._experiment_id = experiment_id
        self._given = hyperparameters_of(hyperparameters or {})
        self._metadata = dict(metadata or {})
        self._every = log_every_n_batches
        self._resume = resume
        self._system_metrics = system_metrics
        self._manager = manager
        self._record: ExperimentRecord | None = None
        self._running = False
        self._epoch = 0
        self._restore: list[Callable[[], None]] = []

    @property
    def manager(self) -> ExperimentManager | None:
        """The manager recording the runs (made at the first ``fit``)."""
        return self._manager

    @property
    def record(self) -> ExperimentRecord | None:
        """The record of the version of the latest ``fit``, or None before one."""
        return self._record

    # -- Keras hooks ------------------------------------------------------------------

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Start the version, with the fit's settings as hyperparameters.

        Args:
            logs: Unused.
        """
        callbacks, fit_arguments, batches = self._fit_context()
        if self._manager is None:
            self._manager = ExperimentManager(self._log_dir, system_metrics=self._system_metrics)
        if self._running:  # the previous fit never reached on_train_end
            self._end("failed", "fit stopped without ending (an error outside the training step)")
        hyperparameters = {**self._given, **self._settings(fit_arguments)}
        model = self.model
        if self._resume and self._record is None:
            assert self._experiment_id is not None
            self._record = self._manager.resume_experiment(self._experiment_id)
            self._manager.update_hyperparameters(hyperparameters)
        else:
            name = self._config_name or getattr(model, "name", None) or "keras"
            self._record = self._manager.start_experiment(
                name, hyperparameters, self._metadata, self._experiment_id
            )
        self._running = True
        self._guard(model, "train_function")
        self._guard(model, "test_function")
        self._guard(model, "evaluate")  # fit validates through it, on its own batches
        if batches is not None:
            self._guard_batches(batches)
        if callbacks is not None:
            for hook in _GUARDED_HOOKS:
                self._guard(callbacks, hook)
            for callback in getattr(callbacks, "callbacks", []):
                if isinstance(callback, keras.callbacks.ModelCheckpoint):
                    self._watch(callback)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Note the epoch, for the global batch step.

        Args:
            epoch: The epoch index.
            logs: Unused.
        """
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Log the batch metrics every ``log_every_n_batches`` batches.

        Args:
            batch: The batch index within the epoch.
            logs: The metrics so far in the epoch.
        """
        if not self._every or not self._running or not logs or self._manager is None:
            return
        step = self._global_batch(batch)
        if (step + 1) % self._every:
            return
        values = plain_metrics(logs)
        if values:
            self._manager.log({f"batch/{k}": v for k, v in values.items()}, step=step)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Log the epoch's metrics at step = the epoch index.

        Args:
            epoch: The epoch index.
            logs: The epoch's metrics (training and validation).
        """
        if not self._running or not logs or self._manager is None:
            return
        values = plain_metrics(logs)
        if values:
            self._manager.log(values, step=epoch)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """End the version as finished.

        Args:
            logs: Unused.
        """
        self._end("finished", None)

    # -- internals ----------------------------------------------------------------------

    def _global_batch(self, batch: int) -> int:
        steps = (self.params or {}).get("steps")
        return self._epoch * steps + batch if isinstance(steps, int) and steps > 0 else batch

    def _end(self, status: str, error: BaseException | str | None) -> None:
        restore, self._restore = self._restore, []
        for undo in reversed(restore):
            undo()
        if not self._running or self._manager is None or self._record is None:
            return
        self._running = False
        active = self._manager.active_experiment
        if active is not None and (active.experiment_id, active.version) == (
            self._record.experiment_id,
            self._record.version,
        ):
            self._manager.end_experiment(status, error)

    def _guard(self, owner: Any, name: str) -> None:
        """Wrap ``owner.name`` so an exception escaping it ends the version first."""
        original = owner.__dict__.get(name) if hasattr(owner, "__dict__") else None
        target = getattr(owner, name, None)
        if target is None or not callable(target):
            return

        @functools.wraps(target)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return target(*args, **kwargs)
            except BaseException as error:
                self._fail(error)
                raise

        with contextlib.suppress(AttributeError, TypeError):
            setattr(owner, name, guarded)

            def undo() -> None:
                with contextlib.suppress(AttributeError, TypeError):
                    if original is None:
                        delattr(owner, name)
                    else:
                        setattr(owner, name, original)

            self._restore.append(undo)

    def _fail(self, error: BaseException) -> None:
        status, detail = ending_for(error)
        self._end(status if status != "finished" else "failed", detail or error)

    def _guard_batches(self, batches: Any) -> None:
        """End the version when the data pipeline raises: the fit's epoch iterator.

        A ``PyDataset`` or generator fails in ``next()`` between training steps, where
        no callback hook runs. ``for`` looks ``__next__`` up on the type, so the
        iterator gets a subclass of its own for this fit (and its class back after).
        """
        kind = type(batches)
        callback = self

        def guarded_next(iterator: Any) -> Any:
            try:
                return kind.__next__(iterator)
            except StopIteration:  # the end of an epoch
                raise
            except BaseException as error:
                callback._fail(error)
                raise

        def guarded_reset(iterator: Any) -> Any:  # runs the dataset's on_epoch_end
            try:
                return kind.reset(iterator)
            except BaseException as error:
                callback._fail(error)
                raise

        namespace: dict[str, Any] = {"__next__": guarded_next, "__module__": kind.__module__}
        if callable(getattr(kind, "reset", None)):
            namespace["reset"] = guarded_reset
        if not callable(getattr(kind, "__next__", None)):
            return
        try:
            batches.__class__ = type(kind.__name__, (kind,), namespace)
        except TypeError:  # a class whose instances cannot change class
            return

        def undo() -> None:
            with contextlib.suppress(TypeError):
                batches.__class__ = kind

        self._restore.append(undo)

    def _watch(self, checkpoint: Any) -> None:
        """Record each file a ModelCheckpoint of this fit writes."""
        save = getattr(checkpoint, "_save_model", None)
        path_of = getattr(checkpoint, "_get_file_path", None)
        if save is None or path_of is None:
            return

        def recorded_save(epoch: int, batch: int | None, logs: Any) -> Any:
            try:
                path = str(path_of(epoch, batch, logs))
            except Exception:  # the callback itself reports a bad file pattern
                return save(epoch, batch, logs)
            before = _file_state(path)
            result = save(epoch, batch, logs)
            after = _file_state(path)
            if after is not None and after != before and self._manager is not None:
                step = epoch if batch is None else self._global_batch(batch)
                monitor = getattr(checkpoint, "monitor", None)
                metrics: dict[str, float] | None = None
                if isinstance(monitor, str):
                    score = score_of((logs or {}).get(monitor))
                    metrics = None if score is None else {monitor: score}
                self._manager.add_checkpoint(path, step=step, metrics=metrics)
            return result

        checkpoint._save_model = recorded_save
        self._restore.append(lambda: checkpoint.__dict__.pop("_save_model", None))

    def _fit_context(self) -> tuple[Any, dict[str, Any], Any]:
        """The CallbackList calling us, the ``fit`` arguments and its epoch iterator.

        Keras hands a callback none of them; they are the locals of the two frames
        that called ``on_train_begin``.
        """
        callbacks: Any = None
        arguments: dict[str, Any] = {}
        batches: Any = None
        frame = sys._getframe(1)
        for _ in range(8):
            frame = frame.f_back  # type: ignore[assignment]
            if frame is None:
                break
            owner = frame.f_locals.get("self")
            if callbacks is None and isinstance(owner, keras.callbacks.CallbackList):
                callbacks = owner
            elif frame.f_code.co_name == "fit" and owner is self.model:
                arguments = {k: frame.f_locals[k] for k in _FIT_ARGUMENTS if k in frame.f_locals}
                batches = frame.f_locals.get("epoch_iterator")
                break
        if "epochs" not in arguments and self.params:
            arguments["epochs"] = self.params.get("epochs")
        return callbacks, arguments, batches

    def _settings(self, fit_arguments: dict[str, Any]) -> dict[str, Any]:
        model = self.model
        out: dict[str, Any] = {}
        fit = dict(fit_arguments)
        steps = (self.params or {}).get("steps")
        if steps is not None:
            fit["steps"] = steps
        out["fit"] = {k: v for k, v in fit.items() if v is not None}
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            with contextlib.suppress(Exception):
                out["optimizer"] = {"class": type(optimizer).__name__, **optimizer.get_config()}
        described: dict[str, Any] = {"class": type(model).__name__, "name": model.name}
        with contextlib.suppress(Exception):
            described["parameters"] = int(model.count_params())
        loss = getattr(model, "loss", None)
        if loss is not None:
            described["loss"] = loss if isinstance(loss, str) else getattr(loss, "name", loss)
        with contextlib.suppress(Exception):  # a subclassed model may have no config
            described["config"] = model.get_config()
        out["model"] = described
        return hyperparameters_of(out)
