"""A Hugging Face ``TrainerCallback`` that records each ``trainer.train()`` as a version.

``Trainer(..., callbacks=[ExperimentManagerCallback(...)])``:

* hyperparameters: the ``TrainingArguments`` (as ``training_arguments``) and the
  model's config (as ``model_config``), beside any given to the callback;
* every ``on_log`` (loss, learning rate, grad norm, evaluation metrics, the final
  summary) is streamed at ``state.global_step``;
* every ``on_save`` records the checkpoint folder (``<output_dir>/checkpoint-<step>``)
  by reference, with the step and the latest value of ``metric_for_best_model``;
* ``on_train_end`` ends the version ``finished``.

``TrainerCallback`` has no hook for an exception. The callback therefore wraps the
trainer's ``train`` method (found when the trainer calls ``on_init_end``, or given
with :meth:`ExperimentManagerCallback.watch`), so an exception escaping
``trainer.train()`` ends the version as ``failed`` with its type and message, or
``killed`` for ``KeyboardInterrupt``, and is raised on. Only the main process
(``state.is_world_process_zero``) writes. See ``docs/integrations.md``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from experiment_manager.errors import InvalidArgumentError, MissingDependencyError
from experiment_manager.integrations._common import (
    ending_for,
    hyperparameters_of,
    plain_metrics,
    score_of,
)
from experiment_manager.manager import ExperimentManager

try:
    import transformers
except ImportError:
    raise MissingDependencyError(
        "experiment_manager.integrations.transformers", "transformers"
    ) from None

if TYPE_CHECKING:
    from experiment_manager.models import ExperimentRecord

__all__ = ["ExperimentManagerCallback"]


class ExperimentManagerCallback(transformers.TrainerCallback):  # type: ignore[misc]
    """Records a ``transformers.Trainer`` run as a version of an experiment.

    Args:
        log_dir: Folder of the history files (as for ``ExperimentManager``).
        config_name: The version's configuration name (default: ``experiment_id``,
            else the ``TrainingArguments.run_name``, else the model's class name).
        experiment_id: The experiment (default: derived from ``config_name``).
        hyperparameters: More hyperparameters (dict or config object).
        metadata: The version's metadata.
        resume: Continue the latest version of ``experiment_id`` instead of
            starting one (e.g. with ``trainer.train(resume_from_checkpoint=...)``).
        system_metrics: Sample CPU/GPU/memory use while training (``True``: every
            10 s; a number of seconds; ``False``); see ``ExperimentManager``.
        manager: A manager to use instead of making one on ``log_dir``.

    Raises:
        InvalidArgumentError: ``resume`` without ``experiment_id``.

    Example:
        >>> import tempfile
        >>> callback = ExperimentManagerCallback(tempfile.mkdtemp(), experiment_id="bert")
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
        resume: bool = False,
        system_metrics: bool | float = True,
        manager: ExperimentManager | None = None,
    ) -> None:
        if resume and experiment_id is None:
            raise InvalidArgumentError("experiment_id", None, "must be given with resume=True")
        self._log_dir = log_dir
        self._config_name = config_name or experiment_id
        self._experiment_id = experiment_id
        self._given = hyperparameters_of(hyperparameters or {})
        self._metadata = dict(metadata or {})
        self._resume = resume
        self._system_metrics = system_metrics
        self._manager = manager
        self._record: ExperimentRecord | None = None
        self._running = False
        self._watched: set[int] = set()

    @property
    def manager(self) -> ExperimentManager | None:
        """The manager recording the runs (made at the first ``train``)."""
        return self._manager

    @property
    def record(self) -> ExperimentRecord | None:
        """The record of the version of the latest ``train``, or None before one."""
        return self._record

    def watch(self, trainer: Any) -> None:
        """Wrap ``trainer.train`` so an exception escaping it ends the version first.

        Done by itself when the callback is passed to ``Trainer(callbacks=...)``;
        call it for a callback added later with ``trainer.add_callback``.

        Args:
            trainer: The ``transformers.Trainer``.

        Example:
            >>> import tempfile
            >>> class FakeTrainer:
            ...     def train(self):
            ...         raise ValueError("no data")
            >>> callback = ExperimentManagerCallback(tempfile.mkdtemp())
            >>> trainer = FakeTrainer()
            >>> callback.watch(trainer)
            >>> trainer.train()
            Traceback (most recent call last):
            ...
            ValueError: no data
        """
        if id(trainer) in self._watched:
            return
        train = trainer.train

        @functools.wraps(train)
        def watched_train(*args: Any, **kwargs: Any) -> Any:
            try:
                return train(*args, **kwargs)
            except BaseException as error:
                status, detail = ending_for(error)
                self._end(status if status != "finished" else "failed", detail or error)
                raise

        trainer.train = watched_train
        self._watched.add(id(trainer))

    # -- TrainerCallback hooks ----------------------------------------------------------

    def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Find the trainer that is being built and watch its ``train``.

        Args:
            args: The ``TrainingArguments``.
            state: The ``TrainerState``.
            control: The ``TrainerControl``.
            **kwargs: The model and the rest, as the trainer passes them.
        """
        trainer = self._calling_trainer()
        if trainer is not None:
            self.watch(trainer)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Start the version with the arguments and the model's config.

        Args:
            args: The ``TrainingArguments``.
            state: The ``TrainerState``.
            control: The ``TrainerControl``.
            **kwargs: ``model`` and the rest, as the trainer passes them.
        """
        if not state.is_world_process_zero:
            return
        trainer = self._calling_trainer()
        if trainer is not None and id(trainer) not in self._watched:
            # added with add_callback: this train() is already running, so its
            # training steps are watched; later train() calls as a whole
            self.watch(trainer)
            self._watch_steps(trainer)
        if self._manager is None:
            self._manager = ExperimentManager(self._log_dir, system_metrics=self._system_metrics)
        if self._running:  # a train() that raised where nothing of ours could see it
            self._end("failed", "train() stopped without ending")
        model = kwargs.get("model")
        hyperparameters = dict(self._given)
        with contextlib.suppress(Exception):
            hyperparameters["training_arguments"] = hyperparameters_of(args.to_dict())
        config = getattr(model, "config", None)
        if config is not None:
            with contextlib.suppress(Exception):
                hyperparameters["model_config"] = hyperparameters_of(config.to_dict())
        if self._resume and self._record is None:
            assert self._experiment_id is not None
            self._record = self._manager.resume_experiment(self._experiment_id)
            self._manager.update_hyperparameters(hyperparameters)
        else:
            run_name = getattr(args, "run_name", None)
            output_dir = getattr(args, "output_dir", None)
            if run_name and output_dir and run_name == output_dir:
                run_name = None  # its default is output_dir: a path, not a name
            name = self._config_name or run_name or type(model).__name__
            self._record = self._manager.start_experiment(
                name, hyperparameters, self._metadata, self._experiment_id
            )
        self._running = True

    def on_log(
        self,
        args: Any,
        state: Any,
        control: Any,
        logs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Stream the logged values at ``state.global_step``.

        Args:
            args: The ``TrainingArguments``.
            state: The ``TrainerState``.
            control: The ``TrainerControl``.
            logs: Metric name to value.
            **kwargs: As the trainer passes them.
        """
        if not self._running or not logs or self._manager is None:
            return
        values = plain_metrics(logs)
        if values:
            self._manager.log(values, step=int(state.global_step))

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Record the checkpoint folder just written, with its step and monitored value.

        Args:
            args: The ``TrainingArguments``.
            state: The ``TrainerState``.
            control: The ``TrainerControl``.
            **kwargs: As the trainer passes them.
        """
        if not self._running or self._manager is None:
            return
        step = int(state.global_step)
        folder = os.path.join(args.output_dir, f"checkpoint-{step}")
        metric = getattr(args, "metric_for_best_model", None)
        metrics: dict[str, float] | None = None
        if isinstance(metric, str):
            name = metric if metric.startswith("eval_") else f"eval_{metric}"
            for entry in reversed(getattr(state, "log_history", []) or []):
                if name in entry:
                    score = score_of(entry[name])
                    metrics = None if score is None else {name: score}
                    break
        self._manager.add_checkpoint(folder, step=step, metrics=metrics)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """End the version as finished.

        Args:
            args: The ``TrainingArguments``.
            state: The ``TrainerState``.
            control: The ``TrainerControl``.
            **kwargs: As the trainer passes them.
        """
        self._end("finished", None)

    # -- internals ----------------------------------------------------------------------

    def _end(self, status: str, error: BaseException | str | None) -> None:
        if not self._running or self._manager is None or self._record is None:
            return
        self._running = False
        active = self._manager.active_experiment
        if active is not None and (active.experiment_id, active.version) == (
            self._record.experiment_id,
            self._record.version,
        ):
            self._manager.end_experiment(status, error)

    def _watch_steps(self, trainer: Any) -> None:
        """Watch the training step and the callbacks' events of a running ``train``."""
        handler = getattr(trainer, "callback_handler", None)
        for owner, name in ((trainer, "training_step"), (handler, "call_event")):
            method = getattr(owner, name, None)
            if method is None:
                continue

            def watched(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
                try:
                    return _method(*args, **kwargs)
                except BaseException as error:
                    status, detail = ending_for(error)
                    self._end(status if status != "finished" else "failed", detail or error)
                    raise

            setattr(owner, name, functools.wraps(method)(watched))

    @staticmethod
    def _calling_trainer() -> Any:
        """The Trainer whose method called this hook (the hooks are not given it)."""
        frame = sys._getframe(2)
        for _ in range(12):
            if frame is None:
                return None
            owner = frame.f_locals.get("self")
            if isinstance(owner, transformers.Trainer):
                return owner
            frame = frame.f_back  # type: ignore[assignment]
        return None
