"""Read an MLflow file store (``mlruns/``) without MLflow.

The layout: ``mlruns/<experiment id>/meta.yaml`` names an experiment; each run is a
folder beside it with its own ``meta.yaml``, ``params/<key>`` and ``tags/<key>``
(the file's text is the value; a key with ``/`` is a sub-folder) and
``metrics/<key>`` with one line per point: ``<timestamp ms> <value> [<step>]``.
Deleted experiments (in ``.trash``) and deleted runs are left out.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from experiment_manager.importers import _mlflow
from experiment_manager.importers._common import RunData, RunRef, Series

__all__ = ["read_metric_file", "scan_file_store"]

# File-store status numbers (mlflow.entities.RunStatus).
_STATUS_NAMES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*): ?(.*)")
_INT = re.compile(r"0|-?[1-9][0-9]*")
_QUOTED = re.compile(r"'((?:[^']|'')*)'")
_WORD = re.compile(r"[A-Za-z][^#]*")
# Plain words YAML 1.1 reads as something else than a string.
_SPECIAL = frozenset(("y", "n", "yes", "no", "true", "false", "on", "off", "null"))


def _flat_value(text: str) -> tuple[bool, Any]:
    """One value of a flat ``meta.yaml`` line, when it is one of the few plain forms."""
    if _INT.fullmatch(text):
        return True, int(text)
    quoted = _QUOTED.fullmatch(text)
    if quoted:
        return True, quoted.group(1).replace("''", "'")
    if text == "null":
        return True, None
    if text == "[]":
        return True, []
    if (
        _WORD.fullmatch(text)
        and ": " not in text
        and text == text.rstrip()
        and text.lower() not in _SPECIAL
    ):
        return True, text
    return False, None


def _yaml(path: Path) -> dict[str, Any]:
    """Read a ``meta.yaml``.

    MLflow writes flat ``key: value`` lines, read here directly; anything else (nested
    values, other scalars) goes to PyYAML's safe loader.
    """
    with open(path, "rb") as file:
        raw = file.read()
    text = raw.decode("utf-8", "surrogateescape")
    data: dict[str, Any] = {}
    for line in text.splitlines():
        match = _LINE.fullmatch(line)
        if match is None:
            break
        known, value = _flat_value(match.group(2))
        if not known or match.group(1) in data:
            break
        data[match.group(1)] = value
    else:
        if data:
            return data
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loaded = yaml.load(raw, Loader=loader)  # noqa: S506 (a safe loader)
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: not a mapping")
    return loaded


def _key_files(folder: Path) -> dict[str, str]:
    """Key to file of a ``params``/``tags``/``metrics`` folder (keys may hold ``/``)."""
    found: dict[str, str] = {}
    top = str(folder)
    for parent, dirs, names in os.walk(top):
        dirs.sort()
        prefix = "" if parent == top else os.path.relpath(parent, top).replace(os.sep, "/") + "/"
        for name in sorted(names):
            found[prefix + name] = os.path.join(parent, name)
    return found


def read_metric_file(path: str | Path) -> Series:
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
    with open(path, "rb") as file:
        data = file.read()
    series = _parse_whole(data)
    if series is not None:
        return series
    series = Series()
    lines = data.splitlines()
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


def _parse_whole(data: bytes) -> Series | None:
    """The usual file (whole ``timestamp value step`` lines) in a few C-level passes.

    Returns None for anything else, which is then read line by line (and a bad line
    named).
    """
    tokens = data.split()
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    if not lines or len(tokens) != 3 * lines or data.count(b" ") != 2 * lines:
        return None
    try:
        values = list(map(float, tokens[1::3]))
        steps: list[int | None] = list(map(int, tokens[2::3]))
        stamps = list(map(float, tokens[0::3]))
    except ValueError:
        return None
    times = _seconds(stamps)
    if times is None:
        return None
    return Series(values=values, steps=steps, times=times)


def _seconds(stamps: list[float]) -> list[float | None] | None:
    """Milliseconds (read as floats) to seconds, exactly ``ms / 1000`` as ints divide.

    None when a stamp is not a whole number below 2**53 (then float64 did not hold
    it exactly, or it is no MLflow timestamp).
    """
    try:
        import numpy as np
    except ImportError:
        if all(stamp.is_integer() and abs(stamp) < 2**53 for stamp in stamps):
            return [stamp / 1000 for stamp in stamps]
        return None
    array = np.array(stamps, dtype=np.float64)
    if array.size and not (np.abs(array).max() < 2**53 and (np.floor(array) == array).all()):
        return None
    # Both operands exact in float64: one IEEE division, the same bits as int / int.
    times: list[float | None] = (array / 1000).tolist()
    return times


def _texts(folder: Path) -> dict[str, str]:
    found = {}
    for key, path in _key_files(folder).items():
        with open(path, "rb") as file:
            found[key] = file.read().decode("utf-8", "surrogateescape")
    return found


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
