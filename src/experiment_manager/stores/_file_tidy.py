"""Repairs of a log folder that only the folder backend knows how to make (``expm doctor``).

Stale temp files (of histories, version files and derived files) and journals that
were already folded are deleted; journals that cannot be placed are reported and kept.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from experiment_manager._naming import unsafe_reason
from experiment_manager.stores import _atomic

if TYPE_CHECKING:
    from experiment_manager.stores.files import FileStore

__all__ = ["tidy"]

_SUFFIX = ".json"
_INTERNAL = ".expm"

_JOURNAL_NAME = re.compile(r"(\d+)\.(\d+)\.jsonl")
_STALE_DERIVED_TEMP_SECONDS = 60.0


def tidy(
    store: FileStore, segments: dict[str, dict[int, int]], *, dry_run: bool
) -> tuple[list[str], list[dict[str, str]]]:
    """Delete what is safe to delete in a store's folder; report what needs a look.

    Args:
        store: The folder store.
        segments: Per healthy experiment id, each version's current journal segment.
        dry_run: Only say what would be deleted.

    Returns:
        The paths deleted (or that would be), and ``{"path", "reason"}`` of files kept.
    """
    removed: list[str] = []
    kept: list[dict[str, str]] = []
    for experiment_id in segments:
        # Fixed temp names, only ever written under the experiment's lock.
        folder = store.versions_folder(experiment_id)
        temps = [_atomic.temp_path(store.history_path(experiment_id)), *folder.glob(".*.tmp")]
        for temp in temps:
            if not temp.exists():
                continue
            if not dry_run:
                with _atomic.locked(store.lock_path(experiment_id), store.lock_timeout):
                    if not temp.exists():
                        continue
                    temp.unlink()
            removed.append(str(temp))
    _remove_orphan_temps(store, set(segments), removed, dry_run)
    _check_journals(store, segments, removed, kept, dry_run)
    _remove_derived_temps(store, removed, dry_run)
    return removed, kept


def _remove_orphan_temps(
    store: FileStore, known: set[str], removed: list[str], dry_run: bool
) -> None:
    """Temp files of histories that do not exist (a writer killed on its first write)."""
    for temp in sorted(store.log_dir.glob(f".*{_SUFFIX}.tmp")):
        experiment_id = temp.name[1 : -len(f"{_SUFFIX}.tmp")]
        if experiment_id in known or unsafe_reason(experiment_id) is not None:
            continue  # handled with its history, or not a name this library writes
        if not dry_run:
            with _atomic.locked(store.lock_path(experiment_id), store.lock_timeout):
                if store.history_path(experiment_id).exists() or not temp.exists():
                    continue
                temp.unlink()
        removed.append(str(temp))


def _check_journals(
    store: FileStore,
    segments: dict[str, dict[int, int]],
    removed: list[str],
    kept: list[dict[str, str]],
    dry_run: bool,
) -> None:
    root = store.log_dir / _INTERNAL / "journals"
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        experiment_id = folder.name
        for path in sorted(folder.iterdir()) if folder.is_dir() else [folder]:
            reason = _journal_problem(store, experiment_id, path, segments)
            if reason == "folded":
                if not dry_run:
                    path.unlink(missing_ok=True)  # its owner may remove it first
                removed.append(str(path))
            elif reason is not None:
                kept.append({"path": str(path), "reason": reason})


def _journal_problem(
    store: FileStore, experiment_id: str, path: Path, segments: dict[str, dict[int, int]]
) -> str | None:
    match = _JOURNAL_NAME.fullmatch(path.name)
    if unsafe_reason(experiment_id) is not None or match is None:
        return "not a journal file name this library writes"
    if experiment_id not in segments:
        history = store.log_dir / f"{experiment_id}{_SUFFIX}"
        if history.exists():
            return None  # its history is corrupt; already reported
        return "orphan journal: no history file for this experiment"
    version, segment = int(match.group(1)), int(match.group(2))
    current = segments[experiment_id].get(version)
    if current is None:
        return f"orphan journal: the history has no version {version}"
    if segment < current:
        return "folded"
    if segment > current:
        return f"journal segment {segment} is ahead of the history's {current}"
    return None


def _remove_derived_temps(store: FileStore, removed: list[str], dry_run: bool) -> None:
    internal = store.log_dir / _INTERNAL
    now = time.time()
    # A fold's temp file may wait for the experiment's lock this long before use.
    folds = sorted(store.log_dir.glob(f".*{_SUFFIX}.*.tmp"))
    _remove_older(
        folds, now - 2 * store.lock_timeout - _STALE_DERIVED_TEMP_SECONDS, removed, dry_run
    )
    derived = [
        *internal.glob("index/.*.tmp"),
        *internal.glob("layout/.*.tmp"),
        *internal.glob("columns/*/.*.tmp"),
    ]
    _remove_older(sorted(derived), now - _STALE_DERIVED_TEMP_SECONDS, removed, dry_run)


def _remove_older(paths: list[Path], cutoff: float, removed: list[str], dry_run: bool) -> None:
    """Remove the files last changed before ``cutoff`` (seconds since the epoch)."""
    for path in paths:
        try:
            stale = path.stat().st_mtime < cutoff
        except FileNotFoundError:
            continue
        if stale:
            if not dry_run:
                path.unlink(missing_ok=True)
            removed.append(str(path))
