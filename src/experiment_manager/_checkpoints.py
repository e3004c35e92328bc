"""Checkpoints by reference: describe a checkpoint file, hash it, check it, pick the best.

Checkpoint files are never copied or opened except to hash them when asked. A
checkpoint may be a file or a folder (as many frameworks save); a folder's size is the
sum of its files, its mtime the newest of them, and its hash covers every file's
relative path and bytes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def _files(root: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            yield Path(folder) / name


def file_state(path: str) -> dict[str, Any]:
    """Size and modification time of a checkpoint file or folder, as it is now.

    Args:
        path: An absolute path.

    Returns:
        ``exists``, ``size`` (bytes) and ``mtime`` (seconds since the epoch); size
        and mtime are None when the path does not exist.

    Example:
        >>> file_state("/nonexistent/ckpt.pt")
        {'exists': False, 'size': None, 'mtime': None}
    """
    try:
        info = os.stat(path)
    except OSError:
        return {"exists": False, "size": None, "mtime": None}
    if not os.path.isdir(path):
        return {"exists": True, "size": info.st_size, "mtime": info.st_mtime}
    size, mtime = 0, info.st_mtime
    for file in _files(Path(path)):
        try:
            child = file.stat()
        except OSError:
            continue
        size += child.st_size
        mtime = max(mtime, child.st_mtime)
    return {"exists": True, "size": size, "mtime": mtime}


def sha256_of(path: str) -> str | None:
    """SHA-256 of a checkpoint, read in 1 MiB chunks (memory stays flat).

    Args:
        path: A file or folder.

    Returns:
        The hex digest, or None when the path does not exist.

    Example:
        >>> sha256_of("/nonexistent/ckpt.pt") is None
        True
    """
    if not os.path.exists(path):
        return None
    import hashlib  # deferred: keeps `import experiment_manager` cheap

    digest = hashlib.sha256()
    root = Path(path)
    files = list(_files(root)) if root.is_dir() else [root]
    for file in files:
        if root.is_dir():
            digest.update(file.relative_to(root).as_posix().encode("utf-8", "surrogateescape"))
            digest.update(b"\0")
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def describe(
    path: str, step: int | None, metrics: dict[str, Any] | None, added_at: str
) -> dict[str, Any]:
    """The details recorded beside a checkpoint path.

    Args:
        path: The path as the user gave it.
        step: The training step it was saved at, if known.
        metrics: A snapshot of metric values in stored form, if given.
        added_at: When it was added (ISO 8601).

    Returns:
        ``path``, ``abspath``, ``step``, ``added_at``, ``exists``, ``size``,
        ``mtime``, ``sha256`` (None until hashed) and ``metrics``.

    Example:
        >>> describe("/nonexistent/a.pt", 10, None, "2026-01-01T00:00:00+00:00")["exists"]
        False
    """
    absolute = os.path.abspath(path)
    return {
        "path": path,
        "abspath": absolute,
        "step": step,
        "added_at": added_at,
        **file_state(absolute),
        "sha256": None,
        "metrics": metrics,
    }


def verify(detail: dict[str, Any], deep: bool = False) -> dict[str, Any]:
    """Compare a recorded checkpoint with the file as it is now.

    Args:
        detail: One entry of a version's ``checkpoint_details``.
        deep: Also recompute the SHA-256 when one was recorded.

    Returns:
        ``path``, ``status`` (``ok``, ``missing``, ``changed``, or ``unknown`` when
        nothing was recorded to compare with), ``recorded`` and ``current`` states.

    Example:
        >>> verify({"path": "a.pt", "abspath": "/nonexistent/a.pt", "exists": True,
        ...         "size": 1, "mtime": 0.0})["status"]
        'missing'
    """
    absolute = detail.get("abspath") or os.path.abspath(detail["path"])
    current = file_state(absolute)
    recorded = {key: detail.get(key) for key in ("exists", "size", "mtime", "sha256")}
    if not current["exists"]:
        status = "missing"
    elif not recorded["exists"]:
        status = "unknown"
    elif current["size"] != recorded["size"] or not _same_time(current["mtime"], recorded["mtime"]):
        status = "changed"
    else:
        status = "ok"
    if deep and status == "ok" and recorded["sha256"]:
        current["sha256"] = sha256_of(absolute)
        if current["sha256"] != recorded["sha256"]:
            status = "changed"
    return {"path": detail["path"], "status": status, "recorded": recorded, "current": current}


def _same_time(now: Any, then: Any) -> bool:
    return isinstance(now, float) and isinstance(then, float) and abs(now - then) < 1e-6


def _value_at_step(record: dict[str, Any], metric: str, step: int | None) -> float | None:
    if step is None:
        return None
    values = record.get("metrics", {}).get(metric, [])
    steps = record.get("steps", {}).get(metric, [])
    for value, at in zip(reversed(values), reversed(steps), strict=False):
        if at == step:
            return float(value)
    return None


def best(record: dict[str, Any], metric: str, mode: str) -> dict[str, Any] | None:
    """The checkpoint of a version with the best value of ``metric``.

    A checkpoint's value is the one in its metrics snapshot, else the value the
    metric was logged with at the checkpoint's step. NaN values never win.

    Args:
        record: A decoded version (as ``read_history`` returns).
        metric: The metric's name.
        mode: ``"min"`` or ``"max"``.

    Returns:
        The winning checkpoint's details with ``value`` added, or None when no
        checkpoint has a value for the metric.

    Example:
        >>> record = {"checkpoint_details": [{"path": "a", "metrics": {"loss": 0.2}},
        ...                                  {"path": "b", "metrics": {"loss": 0.1}}]}
        >>> best(record, "loss", "min")["path"]
        'b'
    """
    chosen: dict[str, Any] | None = None
    for detail in record.get("checkpoint_details") or []:
        snapshot = detail.get("metrics") or {}
        value = snapshot.get(metric)
        if value is None:
            value = _value_at_step(record, metric, detail.get("step"))
        if value is None or isinstance(value, bool) or math.isnan(value):
            continue
        better = chosen is None or (
            value < chosen["value"] if mode == "min" else value > chosen["value"]
        )
        if better:
            chosen = {**detail, "value": value}
    return chosen
