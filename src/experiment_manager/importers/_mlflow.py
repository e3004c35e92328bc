"""MLflow runs in this library's terms: what both MLflow stores share.

MLflow keeps runs either in a folder (``mlruns/``, the file store) or in a SQLite
database (``mlflow.db``); :mod:`._mlflow_files` and :mod:`._mlflow_sqlite` read
each, and both hand their raw values to :func:`build_run`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from experiment_manager.importers._common import RunData, Series, lossless_value

__all__ = ["STATUS", "artifact_files", "build_run", "local_artifact_dir"]

#: MLflow's run status to this library's. A run MLflow still calls RUNNING (or that
#: never left SCHEDULED) has no live process here, so it reads as ``crashed``, as a
#: ``running`` version whose process is gone always does; the original is kept in the
#: version's ``imported_from.status``.
STATUS: Mapping[str, str] = {
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "killed",
    "RUNNING": "crashed",
    "SCHEDULED": "crashed",
}


def local_artifact_dir(artifact_uri: str | None, fallback: Path | None) -> tuple[Path | None, str]:
    """The local folder of a run's artifacts, and a note when they cannot be listed.

    Args:
        artifact_uri: The run's ``artifact_uri`` (``file://...`` or a plain path).
        fallback: The ``artifacts`` folder beside the run's ``meta.yaml``, used when
            the recorded location does not exist (an ``mlruns/`` copied elsewhere).

    Returns:
        ``(folder or None, note)``; the note is empty when nothing is amiss.

    Example:
        >>> local_artifact_dir("s3://bucket/run/artifacts", None)
        (None, 'artifacts at s3://bucket/run/artifacts are not local; not listed')
    """
    note = ""
    folder: Path | None = None
    if artifact_uri:
        parsed = urlparse(artifact_uri)
        if parsed.scheme == "file":
            folder = Path(unquote(parsed.path))
        elif parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
            folder = Path(artifact_uri)
        else:
            note = f"artifacts at {artifact_uri} are not local; not listed"
    if (folder is None or not folder.is_dir()) and fallback is not None and fallback.is_dir():
        return fallback, ""
    if folder is not None and not folder.is_dir():
        return None, ""
    return folder, note


def artifact_files(folder: Path | None) -> list[str]:
    """Every file under a run's artifact folder, as sorted absolute paths.

    Args:
        folder: The folder (None for none).

    Returns:
        The paths.

    Example:
        >>> artifact_files(None)
        []
    """
    if folder is None:
        return []
    found: list[str] = []
    for parent, dirs, names in os.walk(folder):
        dirs.sort()
        found.extend(os.path.abspath(os.path.join(parent, name)) for name in names)
    return sorted(found)


def build_run(
    *,
    run_id: str,
    path: str,
    experiment: str,
    run_name: str | None,
    status: str,
    start_ms: int | None,
    end_ms: int | None,
    user: str | None,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    metrics: dict[str, Series],
    artifacts: list[str],
    notes: list[str],
) -> RunData:
    """One MLflow run as :class:`RunData`: the mapping both stores share.

    Params become hyperparameters (see :func:`lossless_value`), tags metadata
    (every tag, ``mlflow.*`` ones included); ``mlflow.runName`` (or the run's name)
    becomes the version's ``config_name`` and its ``name``, the note
    (``mlflow.note.content``) its ``note``, and the git tags its ``environment``.

    Args:
        run_id: The run's id.
        path: Where it was read.
        experiment: Its experiment's name.
        run_name: Its name, if any.
        status: MLflow's status name (``FINISHED``, ...).
        start_ms: Start time in milliseconds since the epoch.
        end_ms: End time in milliseconds since the epoch.
        user: ``user_id``.
        params: Param name to its text.
        tags: Tag name to its text.
        metrics: Metric name to its points.
        artifacts: Artifact file paths.
        notes: What could not be read.

    Returns:
        The run.

    Example:
        >>> run = build_run(run_id="r1", path="/m/1/r1", experiment="e", run_name="first",
        ...     status="FINISHED", start_ms=1000, end_ms=3000, user=None,
        ...     params={"lr": "0.01"}, tags={}, metrics={}, artifacts=[], notes=[])
        >>> run.name, run.status, run.hyperparameters, run.ended - run.started
        ('first', 'finished', {'lr': 0.01}, 2.0)
        >>> run.title, run.note
        ('first', None)
    """
    environment: dict[str, Any] | None = None
    commit = tags.get("mlflow.source.git.commit")
    if commit:
        environment = {
            "git": {
                "commit": commit,
                "branch": tags.get("mlflow.source.git.branch"),
                "dirty": None,
            },
            "source": tags.get("mlflow.source.name"),
            "user": user or tags.get("mlflow.user"),
        }
    title = run_name or tags.get("mlflow.runName") or None
    return RunData(
        run_id=run_id,
        path=path,
        experiment=experiment,
        name=title or run_id,
        started=start_ms / 1000 if start_ms is not None else None,
        ended=end_ms / 1000
        if end_ms is not None and status not in ("RUNNING", "SCHEDULED")
        else None,
        status=STATUS.get(status, "crashed"),
        tool_status=status,
        hyperparameters={key: lossless_value(value) for key, value in params.items()},
        metadata=dict(tags),
        metrics=metrics,
        artifacts=artifacts,
        environment=environment,
        notes=notes,
        title=title,
        note=tags.get("mlflow.note.content") or None,
    )
