"""The import calls: find the runs in a source, then hand them to the shared import."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiment_manager.errors import InvalidArgumentError, MissingDependencyError
from experiment_manager.importers._common import (
    ImportReport,
    Progress,
    RunRef,
    open_target,
    run_import,
)

if TYPE_CHECKING:
    from experiment_manager.stores.base import Store

__all__ = ["TOOLS", "import_mlflow", "import_runs", "import_tensorboard", "import_wandb"]

#: The tools runs can be imported from, and the extra each needs.
TOOLS = ("mlflow", "tensorboard", "wandb")

_NEEDS = {
    "mlflow": ("yaml", "PyYAML"),
    "tensorboard": ("tensorboard", "tensorboard"),
    "wandb": ("wandb", "wandb"),
}


def _source(source: str | os.PathLike[str]) -> Path:
    path = Path(os.path.abspath(os.fspath(source)))
    if not path.exists():
        raise InvalidArgumentError("source", os.fspath(source), "does not exist")
    return path


def _require(tool: str) -> None:
    """Import the reader library a tool's files need, or say which extra installs it.

    Raises:
        MissingDependencyError: The library cannot be imported (not installed, or
            broken); names the package and the ``import`` extra.
    """
    module, package = _NEEDS[tool]
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"importing from {tool} (the {package} package)", "import"
        ) from None


def _scan(tool: str, path: Path) -> tuple[list[RunRef], list[dict[str, Any]]]:
    if tool == "mlflow":
        from experiment_manager.importers import _mlflow_sqlite

        if path.is_file():
            if not _mlflow_sqlite.is_sqlite(path):
                raise InvalidArgumentError(
                    "source",
                    str(path),
                    "is neither an mlruns/ folder nor an MLflow SQLite database",
                )
            return _mlflow_sqlite.scan_database(path)
        _require(tool)
        from experiment_manager.importers import _mlflow_files

        return _mlflow_files.scan_file_store(path)
    _require(tool)
    if tool == "tensorboard":
        from experiment_manager.importers import _tensorboard

        return _tensorboard.scan_event_folders(path)
    from experiment_manager.importers import _wandb

    return _wandb.scan_run_folders(path)


def import_runs(
    tool: str,
    source: str | os.PathLike[str],
    log_dir: str | os.PathLike[str] | None = None,
    *,
    store: Store | None = None,
    experiment_id: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import every run of another tool's SOURCE as versions (see the ``import_*`` calls).

    Args:
        tool: ``mlflow``, ``tensorboard`` or ``wandb``.
        source: What to read (never changed).
        log_dir: The log folder (or store location) to import into.
        store: A store to import into instead of ``log_dir``.
        experiment_id: Put every run into this experiment id; by default each run
            goes to its tool experiment's (project's, log folder's) name, slugged.
        dry_run: Read everything and report what would be imported; store nothing.
        progress: Called with ``(runs done, runs in all)`` after each run (the folder
            store may be holding the target experiment's lock then: it must not write
            to that experiment).

    Returns:
        What was imported, skipped (already imported) and could not be read.

    Raises:
        InvalidArgumentError: An unknown tool, a source that does not exist or is not
            of that tool, or both or neither of ``log_dir`` and ``store``.
        MissingDependencyError: The library that reads the tool's files (PyYAML,
            tensorboard, wandb) is not installed; names the ``import`` extra.
        InvalidExperimentIdError: ``experiment_id`` is not a safe id, or (an
            ``ExperimentIdCollisionError``) is new and differs from an existing
            experiment's only by letter case. Runs bound for such an id without
            ``experiment_id`` are reported in ``failed`` instead, and the rest go on.

    Example:
        >>> import tempfile
        >>> report = import_runs("tensorboard", tempfile.mkdtemp(), tempfile.mkdtemp())
        >>> report.imported, report.ok
        ([], True)
    """
    if tool not in TOOLS:
        raise InvalidArgumentError("tool", tool, "must be one of " + ", ".join(TOOLS))
    path = _source(source)
    target = open_target(log_dir, store)
    refs, failed = _scan(tool, path)
    return run_import(
        tool,
        path,
        refs,
        failed,
        target,
        experiment_id=experiment_id,
        dry_run=dry_run,
        progress=progress,
    )


def import_mlflow(
    source: str | os.PathLike[str],
    log_dir: str | os.PathLike[str] | None = None,
    *,
    store: Store | None = None,
    experiment_id: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import MLflow runs from an ``mlruns/`` folder or an MLflow SQLite database.

    Each MLflow experiment becomes an experiment id (its name, slugged), each live
    run a version, in start-time order. Params become hyperparameters (a value whose
    text is exactly a Python int, float or bool becomes that; others stay strings),
    tags metadata (``mlflow.runName`` is also the ``config_name`` and the ``name``,
    ``mlflow.note.content`` the ``note``), every metric
    point is kept with its step and time, the status is mapped (RUNNING and
    SCHEDULED read as ``crashed``), and artifact files are listed as checkpoints by
    reference. A database is read with the standard library's sqlite3; MLflow need
    not be installed.

    Args:
        source: ``mlruns/`` (or one experiment's folder in it), or ``mlflow.db``.
        log_dir: The log folder to import into.
        store: A store to import into instead of ``log_dir``.
        experiment_id: One experiment id for every run.
        dry_run: Report what would be imported; store nothing.
        progress: Called with ``(runs done, runs in all)`` after each run (see
            :func:`import_runs`).

    Returns:
        The report.

    Raises:
        InvalidArgumentError: The source does not exist or is not MLflow's.
        MissingDependencyError: An ``mlruns/`` folder, and PyYAML is not installed.
        InvalidExperimentIdError: ``experiment_id`` is not a safe id.

    Example:
        >>> import tempfile
        >>> import_mlflow(tempfile.mkdtemp(), tempfile.mkdtemp()).to_dict()["imported"]
        []
    """
    return import_runs(
        "mlflow",
        source,
        log_dir,
        store=store,
        experiment_id=experiment_id,
        dry_run=dry_run,
        progress=progress,
    )


def import_tensorboard(
    source: str | os.PathLike[str],
    log_dir: str | os.PathLike[str] | None = None,
    *,
    store: Store | None = None,
    experiment_id: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import TensorBoard runs: every folder under SOURCE that holds event files.

    Every scalar is kept (no sampling), with its step and wall time, whether written
    as ``simple_value`` or as a scalar tensor (TF2, ``SummaryWriter(new_style=True)``);
    hparams plugin data gives the hyperparameters. The experiment id is SOURCE's
    folder name, slugged; each run's name is its folder relative to SOURCE.

    Args:
        source: A TensorBoard log folder (or one run's folder).
        log_dir: The log folder to import into.
        store: A store to import into instead of ``log_dir``.
        experiment_id: One experiment id for every run.
        dry_run: Report what would be imported; store nothing.
        progress: Called with ``(runs done, runs in all)`` after each run (see
            :func:`import_runs`).

    Returns:
        The report.

    Raises:
        InvalidArgumentError: The source does not exist.
        MissingDependencyError: tensorboard is not installed.
        InvalidExperimentIdError: ``experiment_id`` is not a safe id.

    Example:
        >>> import tempfile
        >>> import_tensorboard(tempfile.mkdtemp(), tempfile.mkdtemp()).ok
        True
    """
    return import_runs(
        "tensorboard",
        source,
        log_dir,
        store=store,
        experiment_id=experiment_id,
        dry_run=dry_run,
        progress=progress,
    )


def import_wandb(
    source: str | os.PathLike[str],
    log_dir: str | os.PathLike[str] | None = None,
    *,
    store: Store | None = None,
    experiment_id: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import W&B offline runs (``wandb/offline-run-*/run-*.wandb``) without syncing.

    Each run's project becomes the experiment id (slugged). The config becomes the
    hyperparameters; the summary, tags, notes, group and job type the metadata; the
    name, tags and notes also the version's ``name``, ``tags`` and ``note``; every
    numeric value of every history row a point with its ``_step`` and ``_timestamp``
    (other values are counted in the report's ``left_out``); the exit code the status
    (no exit record: ``crashed``); files the run saved (``files/``, W&B's own left
    out) the checkpoints. A truncated file is
    imported as far as it can be read, and the report's ``notes`` say what was not.

    Args:
        source: A ``wandb/`` folder, the folder holding it, one run folder, or one
            ``.wandb`` file.
        log_dir: The log folder to import into.
        store: A store to import into instead of ``log_dir``.
        experiment_id: One experiment id for every run.
        dry_run: Report what would be imported; store nothing.
        progress: Called with ``(runs done, runs in all)`` after each run (see
            :func:`import_runs`).

    Returns:
        The report.

    Raises:
        InvalidArgumentError: The source does not exist.
        MissingDependencyError: wandb is not installed.
        InvalidExperimentIdError: ``experiment_id`` is not a safe id.

    Example:
        >>> import tempfile
        >>> import_wandb(tempfile.mkdtemp(), tempfile.mkdtemp()).skipped
        []
    """
    return import_runs(
        "wandb",
        source,
        log_dir,
        store=store,
        experiment_id=experiment_id,
        dry_run=dry_run,
        progress=progress,
    )
