"""Read an MLflow file store (``mlruns/``) without MLflow.

The layout: ``mlruns/<experiment id>/meta.yaml`` names an experiment; each run is a
folder beside it with its own ``meta.yaml``, ``params/<key>`` and ``tags/<key>``
(the file's text is the value; a key with ``/`` is a sub-folder) and
``metrics/<key>`` with one line per point: ``<timestamp ms> <value> [<step>]``.
Deleted experiments (in ``.trash``) and deleted runs are left out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from experiment_manager.importers import _mlflow
from experiment_manager.importers._common import RunData, RunRef, Series

__all__ = ["read_metric_file", "scan_file_store"]

# File-store status numbers (mlflow.entities.RunStatus).
_STATUS_NAMES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, "rb") as file:
        data = yaml.load(file, Loader=loader)  # noqa: S506 (a safe loader)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a mapping")
    return data


def _key_files(folder: Path) -> dict[str, Path]:
    """Key to file of a ``params``/``tags``/``metrics`` folder (keys may hold ``/``)."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for parent, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            file = Path(parent) / name
            found[file.relative_to(folder).as_posix()] = file
    return found


def read_metric_file(path: Path) -> Series:
    r"""Every point of one metric file, in the order it was logged.

    Args:
        path: ``metrics/<key>`` of a run.

    Returns:
        The values, steps (0 for lines without one, as MLflow reads them) and times
        (milliseconds turned into seconds).

    Raises:
        ValueError: A line is not ``timestamp value [step]``.

    Example:
        >>> import tempfile
        >>> file = Path(tempfile.mkdtemp()) / "loss"
        >>> _ = file.write_text("1700000000000 0.5 0\n1700000000500 nan 1\n")
        >>> series = read_metric_file(file)
        >>> series.values[0], series.steps, series.times
        (0.5, [0, 1], [1700000000.0, 1700000000.5])
    """
    data = path.read_bytes()
    lines = data.splitlines()
    tokens = data.split()
    series = Series()
    if len(tokens) == 3 * len(lines) == 1.5 * data.count(b" "):  # every line has all three
        try:
            series.times = [int(t) / 1000 for t in tokens[0::3]]
            series.values = list(map(float, tokens[1::3]))
            series.steps = list(map(int, tokens[2::3]))
            return series
        except ValueError:
            series = Series()
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) not in (2, 3):
                raise ValueError
            step = int(fields[2]) if len(fields) == 3 else 0
            series.add(float(fields[1]), step, int(fields[0]) / 1000)
        except ValueError:
            shown = line[:80].decode("utf-8", "backslashreplace")
            raise ValueError(
                f"{path}: line {number} is not 'timestamp value [step]': {shown!r}"
            ) from None
    return series


def _texts(folder: Path) -> dict[str, str]:
    return {
        key: file.read_bytes().decode("utf-8", "surrogateescape")
        for key, file in _key_files(folder).items()
    }


def _load(run_dir: Path, meta: dict[str, Any], experiment: str) -> RunData:
    run_id = str(meta.get("run_id") or meta.get("run_uuid"))
    status = meta.get("status")
    status_name = _STATUS_NAMES.get(status, str(status)) if isinstance(status, int) else str(status)
    metrics = {key: read_metric_file(file) for key, file in _key_files(run_dir / "metrics").items()}
    notes: list[str] = []
    folder, note = _mlflow.local_artifact_dir(meta.get("artifact_uri"), run_dir / "artifacts")
    if note:
        notes.append(note)
    return _mlflow.build_run(
        run_id=run_id,
        path=str(run_dir),
        experiment=experiment,
        run_name=meta.get("run_name") or None,
        status=status_name,
        start_ms=meta.get("start_time"),
        end_ms=meta.get("end_time"),
        user=meta.get("user_id"),
        params=_texts(run_dir / "params"),
        tags=_texts(run_dir / "tags"),
        metrics=metrics,
        artifacts=_mlflow.artifact_files(folder),
        notes=notes,
    )


def _experiment_dirs(root: Path) -> list[Path]:
    if (root / "meta.yaml").is_file():  # SOURCE is one experiment's folder
        return [root]
    return sorted(
        child
        for child in root.iterdir()
        if child.is_dir() and not child.name.startswith(".") and (child / "meta.yaml").is_file()
    )


def scan_file_store(root: Path) -> tuple[list[RunRef], list[dict[str, Any]]]:
    """Every live run of every live experiment of a file store, not read yet.

    Args:
        root: The ``mlruns/`` folder (or one experiment's folder in it).

    Returns:
        The runs, and ``{"path", "reason"}`` of experiments and runs whose
        ``meta.yaml`` cannot be read.

    Example:
        >>> import tempfile
        >>> scan_file_store(Path(tempfile.mkdtemp()))
        ([], [])
    """
    refs: list[RunRef] = []
    failed: list[dict[str, Any]] = []
    for experiment_dir in _experiment_dirs(root):
        try:
            experiment_meta = _yaml(experiment_dir / "meta.yaml")
        except Exception as error:  # a damaged experiment is reported; the rest go on
            failed.append({"path": str(experiment_dir / "meta.yaml"), "reason": str(error)})
            continue
        if experiment_meta.get("lifecycle_stage") == "deleted":
            continue
        name = str(experiment_meta.get("name") or experiment_dir.name)
        for run_dir in sorted(experiment_dir.iterdir()):
            meta_path = run_dir / "meta.yaml"
            if not run_dir.is_dir() or not meta_path.exists():
                continue
            try:
                meta = _yaml(meta_path)
            except Exception as error:
                failed.append({"path": str(run_dir), "run_id": run_dir.name, "reason": str(error)})
                continue
            if not (meta.get("run_id") or meta.get("run_uuid")):
                continue  # a logged model's or dataset's folder, not a run
            if meta.get("lifecycle_stage") == "deleted":
                continue
            start = meta.get("start_time")
            refs.append(
                RunRef(
                    run_id=str(meta.get("run_id") or meta.get("run_uuid")),
                    path=str(run_dir),
                    experiment=name,
                    started=start / 1000 if isinstance(start, (int, float)) else None,
                    load=lambda d=run_dir, m=meta, n=name: _load(d, m, n),  # type: ignore[misc]
                )
            )
    return refs, failed
