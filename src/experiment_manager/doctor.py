"""Check a log folder and repair what is safe to repair.

What :func:`doctor` does, in this order, for a file-store ``log_dir``:

1. Parses every history file. One that cannot be parsed is **reported, never
   touched**: not rewritten, renamed or deleted.
2. Finds versions still marked ``running`` whose process is gone (nobody holds the
   version's liveness lock), folds their journals into the history and marks them
   ``crashed``, exactly as a resume followed by an end would.
3. Deletes journal files that were already folded (a writer killed between folding
   and deleting leaves one behind). Journals it cannot place (no such experiment or
   version, or a name it does not recognise) are reported and kept.
4. Deletes stale temp files: the fixed ``.<id>.json.tmp`` of a history, also of one
   whose first write was interrupted (taken only under that history's lock, so never
   one being written), and temp files of derived data (index and columns files)
   older than a minute.

With ``dry_run=True`` nothing is changed; the report says what would be done.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiment_manager._naming import unsafe_reason
from experiment_manager.errors import CorruptHistoryError, InvalidArgumentError
from experiment_manager.stores import _atomic
from experiment_manager.stores.base import StoredVersion
from experiment_manager.stores.files import HISTORY_SUFFIX, INTERNAL_DIR, FileStore

__all__ = ["DoctorReport", "doctor"]

_JOURNAL_NAME = re.compile(r"(\d+)\.(\d+)\.jsonl")
_STALE_DERIVED_TEMP_SECONDS = 60.0


@dataclass
class DoctorReport:
    """What :func:`doctor` found and did (or, in a dry run, would do).

    Attributes:
        log_dir: The folder checked.
        dry_run: Whether changes were only reported.
        histories: How many history files were checked.
        corrupt: ``{"path", "reason"}`` for each history that cannot be parsed.
        crashed: ``{"experiment_id", "version", "points"}`` for each crashed version
            whose journal was folded (points = values taken from the journal).
        removed: Paths of temp files and folded journals deleted.
        kept: ``{"path", "reason"}`` for files left alone that need a person's look.
    """

    log_dir: str
    dry_run: bool
    histories: int = 0
    corrupt: list[dict[str, str]] = field(default_factory=list)
    crashed: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[dict[str, str]] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """True when nothing corrupt or unplaceable was found.

        Example:
            >>> DoctorReport("logs", dry_run=True).healthy
            True
        """
        return not self.corrupt and not self.kept

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON data.

        Returns:
            Every attribute, plus ``healthy``.

        Example:
            >>> DoctorReport("logs", dry_run=True).to_dict()["histories"]
            0
        """
        return {
            "log_dir": self.log_dir,
            "dry_run": self.dry_run,
            "healthy": self.healthy,
            "histories": self.histories,
            "corrupt": self.corrupt,
            "crashed": self.crashed,
            "removed": self.removed,
            "kept": self.kept,
        }


def doctor(
    log_dir: str | os.PathLike[str],
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> DoctorReport:
    """Verify every history and journal in ``log_dir``; repair what is safe.

    Args:
        log_dir: The folder of an ``ExperimentManager`` with the default file store.
        dry_run: Report what would be done without changing anything.
        progress: Called as ``progress(done, total)`` after each history.

    Returns:
        The report.

    Raises:
        InvalidArgumentError: ``log_dir`` is not an existing folder.

    Example:
        >>> import tempfile
        >>> doctor(tempfile.mkdtemp()).healthy
        True
    """
    store = FileStore(Path(os.path.abspath(os.fspath(log_dir))))
    if not store.log_dir.is_dir():
        raise InvalidArgumentError("log_dir", str(store.log_dir), "is not a folder")
    report = DoctorReport(str(store.log_dir), dry_run)
    ids = store.experiment_ids()
    folded: dict[str, dict[int, int]] = {}
    for done, experiment_id in enumerate(ids, start=1):
        report.histories += 1
        try:
            folded[experiment_id] = _check_history(store, experiment_id, report)
        except CorruptHistoryError as error:
            report.corrupt.append({"path": str(error.path), "reason": error.reason})
        if progress is not None:
            progress(done, len(ids))
    _remove_orphan_temps(store, set(ids), report)
    _check_journals(store, folded, report)
    _remove_derived_temps(store, report)
    return report


def _remove_orphan_temps(store: FileStore, known: set[str], report: DoctorReport) -> None:
    """Temp files of histories that do not exist (a writer killed on its first write)."""
    for temp in sorted(store.log_dir.glob(f".*{HISTORY_SUFFIX}.tmp")):
        experiment_id = temp.name[1 : -len(f"{HISTORY_SUFFIX}.tmp")]
        if experiment_id in known or unsafe_reason(experiment_id) is not None:
            continue  # handled with its history, or not a name this library writes
        if not report.dry_run:
            with _atomic.locked(store.lock_path(experiment_id), store.lock_timeout):
                if store.history_path(experiment_id).exists() or not temp.exists():
                    continue
                temp.unlink()
        report.removed.append(str(temp))


def _check_history(store: FileStore, experiment_id: str, report: DoctorReport) -> dict[int, int]:
    """Fold crashed versions and drop the fixed temp file; return current segments."""
    versions = store.load(experiment_id)  # raises CorruptHistoryError, touching nothing
    crashed = [
        v["version"]
        for v in versions
        if v.get("status") == "running" and not store.is_live(experiment_id, v["version"])
    ]
    temp = _atomic.temp_path(store.history_path(experiment_id))
    if not report.dry_run:
        for version in crashed:
            _fold_crashed(store, experiment_id, version, report)
        with _atomic.locked(store.lock_path(experiment_id), store.lock_timeout):
            if temp.exists():
                temp.unlink()
                report.removed.append(str(temp))
        versions = store.load(experiment_id)
    else:
        for version in crashed:
            stored = next(v for v in versions if v["version"] == version)
            before = _point_count(stored)
            store.fold_journal(experiment_id, stored)  # on the copy read: nothing written
            report.crashed.append(
                {
                    "experiment_id": experiment_id,
                    "version": version,
                    "points": _point_count(stored) - before,
                }
            )
        if temp.exists():
            report.removed.append(str(temp))
    return {v["version"]: v.get("_journal_segment", 0) for v in versions}


def _fold_crashed(store: FileStore, experiment_id: str, version: int, report: DoctorReport) -> None:
    live = store.hold_live(experiment_id, version)
    if live is None:
        return  # resumed by a live process since we looked
    try:

        def finish(stored: StoredVersion) -> tuple[int, int]:
            if stored.get("status") != "running":
                return -1, 0
            before = _point_count(stored)
            store.fold_journal(experiment_id, stored)
            after = _point_count(stored)
            segment = stored.get("_journal_segment", 0)
            last = _last_time(stored)
            stored.update(
                status="crashed",
                ended_at=last,
                _journal_segment=segment + 1,
                _journal_offset=0,
            )
            return segment, after - before

        segment, points = store.update_version(experiment_id, version, finish)
        if segment >= 0:
            store.remove_journal(experiment_id, version, segment)
            report.crashed.append(
                {"experiment_id": experiment_id, "version": version, "points": points}
            )
    finally:
        live.release()


def _point_count(stored: StoredVersion) -> int:
    return sum(len(values) for values in (stored.get("metrics") or {}).values())


def _last_time(stored: StoredVersion) -> str | None:
    from datetime import datetime, timezone

    times = [t for column in (stored.get("timestamps") or {}).values() for t in column if t]
    if not times:
        return None
    return datetime.fromtimestamp(max(times), timezone.utc).isoformat(timespec="microseconds")


def _check_journals(
    store: FileStore, segments: dict[str, dict[int, int]], report: DoctorReport
) -> None:
    root = store.log_dir / INTERNAL_DIR / "journals"
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        experiment_id = folder.name
        for path in sorted(folder.iterdir()) if folder.is_dir() else [folder]:
            reason = _journal_problem(store, experiment_id, path, segments)
            if reason == "folded":
                if not report.dry_run:
                    path.unlink()
                report.removed.append(str(path))
            elif reason is not None:
                report.kept.append({"path": str(path), "reason": reason})


def _journal_problem(
    store: FileStore, experiment_id: str, path: Path, segments: dict[str, dict[int, int]]
) -> str | None:
    match = _JOURNAL_NAME.fullmatch(path.name)
    if unsafe_reason(experiment_id) is not None or match is None:
        return "not a journal file name this library writes"
    if experiment_id not in segments:
        history = store.log_dir / f"{experiment_id}{HISTORY_SUFFIX}"
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


def _remove_derived_temps(store: FileStore, report: DoctorReport) -> None:
    internal = store.log_dir / INTERNAL_DIR
    temps = [*internal.glob("index/.*.tmp"), *internal.glob("columns/*/.*.tmp")]
    cutoff = time.time() - _STALE_DERIVED_TEMP_SECONDS
    for path in sorted(temps):
        try:
            stale = path.stat().st_mtime < cutoff
        except FileNotFoundError:
            continue
        if stale:
            if not report.dry_run:
                path.unlink(missing_ok=True)
            report.removed.append(str(path))
