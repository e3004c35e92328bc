"""A PyTorch Lightning logger that records each training run as a version.

``Trainer(logger=ExperimentManagerLogger(...))``: the version starts when the trainer
sets up, ``save_hyperparameters()`` and ``log_hyperparams`` fill its
hyperparameters, every ``self.log`` point is streamed at the trainer's global step,
each checkpoint ``ModelCheckpoint`` writes is recorded by reference with the step and
the monitored score, and the version ends ``finished``, ``failed`` (with the
exception's type and message) or ``killed`` (Ctrl-C).

Works with the ``lightning`` package and with ``pytorch_lightning`` (whichever is
installed; ``lightning`` when both are). Under distributed training (DDP, several
processes) only global rank 0 writes: the other ranks' logger does nothing, and
the version records the run once. See ``docs/integrations.md``.
"""

from __future__ import annotations

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
    from lightning.pytorch.loggers.logger import Logger as _Logger
except ImportError:  # the older package name
    try:
        from pytorch_lightning.loggers.logger import Logger as _Logger
    except ImportError:
        raise MissingDependencyError(
            "experiment_manager.integrations.lightning", "lightning"
        ) from None

if TYPE_CHECKING:
    from experiment_manager.models import ExperimentRecord

__all__ = ["ExperimentManagerLogger"]


def _global_rank() -> int:
    """This process's rank in distributed training (0 when not distributed)."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return int(dist.get_rank())
    except (ImportError, RuntimeError):
        pass
    for package in ("lightning.fabric.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        module = sys.modules.get(package)
        rank = getattr(getattr(module, "rank_zero_only", None), "rank", None)
        if isinstance(rank, int) and rank:
            return rank
    for variable in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "JSM_NAMESPACE_RANK"):
        value = os.environ.get(variable, "")
        if value.isdigit():
            return int(value)
    return 0


class _NoExperiment:
    """What ``experiment`` is on ranks other than 0: every call does nothing."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None

    def __bool__(self) -> bool:
        return False


class ExperimentManagerLogger(_Logger):  # type: ignore[misc]
    """A Lightning logger writing to an experiment_manager history.

    Args:
        log_dir: Folder of the history files (as for ``ExperimentManager``).
        config_name: The version's configuration name (default: ``experiment_id``,
            else ``"lightning"``).
        experiment_id: The experiment (default: derived from ``config_name``).
        metadata: The version's metadata.
        resume: Continue the latest version of ``experiment_id`` (or ``version``)
            instead of starting a new one, e.g. with ``trainer.fit(ckpt_path=...)``.
        version: With ``resume``, the version to continue.
        hyperparameters: Hyperparameters to start with; ``log_hyperparams`` adds to
            them.
        system_metrics: Sample CPU/GPU/memory use while training (``True``: every
            10 s; a number of seconds; ``False``); see ``ExperimentManager``.
        manager: A manager to use instead of making one on ``log_dir``.

    Raises:
        InvalidArgumentError: ``resume`` without ``experiment_id``.

    Example:
        >>> import tempfile
        >>> logger = ExperimentManagerLogger(tempfile.mkdtemp(), config_name="mnist")
        >>> logger.name
        'mnist'
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "experiments/logs",
        config_name: str | None = None,
        experiment_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        resume: bool = False,
        *,
        version: int | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        system_metrics: bool | float = True,
        manager: ExperimentManager | None = None,
    ) -> None:
        if resume and experiment_id is None:
            raise InvalidArgumentError("experiment_id", None, "must be given with resume=True")
        super().__init__()
        self._log_dir = log_dir
        self._config_name = config_name or experiment_id or "lightning"
        self._experiment_id = experiment_id
        self._metadata = dict(metadata or {})
        self._resume = resume
        self._resume_version = version
        self._initial = hyperparameters_of(hyperparameters or {})
        self._system_metrics = system_metrics
        self._manager = manager
        self._record: ExperimentRecord | None = None
        self._ended = False
        self._recorded: set[tuple[str, int | None]] = set()

    # -- what Lightning reads ---------------------------------------------------------

    @property
    def name(self) -> str:
        """The experiment id (the config name until the version starts)."""
        if self._record is not None:
            return self._record.experiment_id
        return self._experiment_id or self._config_name

    @property
    def version(self) -> int | None:
        """The version number (starts the version on rank 0; None on other ranks)."""
        record = self._record if self._record is not None else self._start()
        return None if record is None else record.version

    @property
    def save_dir(self) -> str | None:
        """None: checkpoints go under ``Trainer(default_root_dir)``, not the log folder."""
        return None

    @property
    def experiment(self) -> ExperimentManager | Any:
        """The manager recording the run; on ranks other than 0, a stand-in that does nothing.

        Reading this starts the version if it has not started (it does not reopen
        an ended one: logging does), so ``self.logger.experiment.add_checkpoint(...)``
        works in a LightningModule on every rank and records on rank 0 only.
        """
        if _global_rank() != 0:
            return _NoExperiment()
        if self._record is None:
            self._start()
        return self._manager

    @property
    def record(self) -> ExperimentRecord | None:
        """The version's record once started, else None."""
        return self._record

    # -- what Lightning calls ---------------------------------------------------------

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Add hyperparameters: a dict, ``Namespace`` or config object, nested kept.

        Keys not yet set are added; a value that differs from the recorded one is
        changed and the change recorded (see
        ``ExperimentManager.update_hyperparameters``).

        Args:
            params: The hyperparameters.
            *args: Ignored (Lightning passes ``metrics`` to some loggers).
            **kwargs: Ignored.
        """
        if self._start() is None:
            return
        assert self._manager is not None
        values = hyperparameters_of(params)
        if values:
            self._manager.update_hyperparameters(values)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Stream one step's metrics at the trainer's global step.

        Args:
            metrics: Metric name to value (floats or scalar tensors).
            step: The global step.
        """
        if self._start() is None:
            return
        assert self._manager is not None
        values = plain_metrics(metrics)
        if values:
            self._manager.log(values, step=step)

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Record the checkpoint the callback just wrote, with its step and score.

        Args:
            checkpoint_callback: The ``ModelCheckpoint`` (Lightning passes a proxy).
        """
        if self._start() is None:
            return
        assert self._manager is not None
        path = getattr(checkpoint_callback, "_last_checkpoint_saved", "") or getattr(
            checkpoint_callback, "last_model_path", ""
        )
        if not path:
            return
        step = getattr(checkpoint_callback, "_last_global_step_saved", None)
        step = step if isinstance(step, int) and step >= 0 else None
        if (path, step) in self._recorded:
            return
        self._recorded.add((path, step))
        monitor = getattr(checkpoint_callback, "monitor", None)
        score = score_of(getattr(checkpoint_callback, "current_score", None))
        metrics = {monitor: score} if isinstance(monitor, str) and score is not None else None
        self._manager.add_checkpoint(path, step=step, metrics=metrics)

    def save(self) -> None:
        """Nothing to do: every call is already written through when it returns."""

    def finalize(self, status: str) -> None:
        """End the version: ``success`` → finished, ``failed`` → failed or killed.

        Lightning calls this with ``"failed"`` from inside its exception handler, so
        the exception being handled gives the error's type and message, and
        ``KeyboardInterrupt`` ends the version as ``killed``.

        Args:
            status: Lightning's status.
        """
        if self._record is None or self._ended or self._manager is None:
            return
        if status == "success":
            ending, error = "finished", None
        else:
            ending, error = ending_for(sys.exc_info()[1])
            if ending == "finished":  # failed, but no exception is being handled
                ending, error = "failed", f"Lightning ended the run with status {status!r}"
        active = self._manager.active_experiment
        self._ended = True
        if active is not None and active.experiment_id == self._record.experiment_id:
            self._manager.end_experiment(ending, error)

    # -- internals ----------------------------------------------------------------------

    def _start(self) -> ExperimentRecord | None:
        """Start (or, after ``finalize``, reopen) the version; None on ranks other than 0."""
        if _global_rank() != 0:
            return None
        if self._manager is None:
            self._manager = ExperimentManager(self._log_dir, system_metrics=self._system_metrics)
        manager = self._manager
        if self._record is None:
            if self._resume:
                assert self._experiment_id is not None  # checked in __init__
                self._record = manager.resume_experiment(self._experiment_id, self._resume_version)
                if self._initial:
                    manager.update_hyperparameters(self._initial)
            else:
                self._record = manager.start_experiment(
                    self._config_name, self._initial, self._metadata, self._experiment_id
                )
        elif self._ended:  # trainer.test() after trainer.fit(): the same version goes on
            self._record = manager.resume_experiment(
                self._record.experiment_id, self._record.version
            )
            self._ended = False
        return self._record
