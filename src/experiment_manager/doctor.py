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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from experiment_manager import _checkpoints
from experiment_manager.errors import CorruptHistoryError, InvalidArgumentError, NotAHistoryError
from experiment_manager.stores import is_database_uri, open_store, redact
from experiment_manager.stores.base import Store, StoredVersion

__all__ = ["DoctorReport", "doctor"]


@dataclass
class DoctorReport:
    """What :func:`doctor` found and did (or, in a dry run, would do).

    Attributes:
        log_dir: The folder checked.
        dry_run: Whether changes were only reported.
        histories: How many history files were checked.
        corrupt: ``{"path", "reason"}`` for each history that cannot be parsed.
        foreign: ``{"path", "reason"}`` for each ``*.json`` that is not a history at
            all (a stray ``config.json``): left alone, and no sign of damage.
        checkpoints: ``{"experiment_id", "version", "path", "status"}`` for each
            recorded checkpoint that is ``missing`` or ``changed`` since it was added
            (checkpoint files are the user's, outside the log folder: they do not make
            the folder unhealthy).
        crashed: ``{"experiment_id", "version", "points"}`` for each crashed version
            whose journal was folded (points = values taken from the journal).
        removed: Paths of temp files and folded journals deleted.
        kept: ``{"path", "reason"}`` for files left alone that need a person's look.
    """

    log_dir: str
    dry_run: bool
    histories: int = 0
    corrupt: list[dict[str, str]] = field(default_factory=list)
    foreign: list[dict[str, str]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
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
            "foreign": self.foreign,
            "checkpoints": self.checkpoints,
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
        log_dir: The ``log_dir`` of an ``ExperimentManager``: a folder, or a
            ``postgresql://`` URI (crashed versions are ended there too).
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
    given = os.fspath(log_dir)
    if isinstance(given, str) and is_database_uri(given):
        location, store = redact(given), open_store(given)
    else:
        location = os.path.abspath(given)
        if not os.path.isdir(location):
            raise InvalidArgumentError("log_dir", location, "is not a folder")
        store = open_store(location)
    report = DoctorReport(location, dry_run)
    ids = store.experiment_ids()
    segments: dict[str, dict[int, int]] = {}
    for done, experiment_id in enumerate(ids, start=1):
        try:
            segments[experiment_id] = _check_history(store, experiment_id, report)
        except NotAHistoryError as error:
            report.foreign.append({"path": str(error.path), "reason": error.reason})
        except CorruptHistoryError as error:
            report.histories += 1
            report.corrupt.append({"path": str(error.path), "reason": error.reason})
        else:
            report.histories += 1
        if progress is not None:
            progress(done, len(ids))
    removed, kept = store.tidy(segments, dry_run=dry_run)
    report.removed.extend(removed)
    report.kept.extend(kept)
    return report


def _check_history(store: Store, experiment_id: str, report: DoctorReport) -> dict[int, int]:
    """Fold crashed versions (and lazily kept writes); return current journal segments."""
    versions = store.load(experiment_id)  # raises CorruptHistoryError, touching nothing
    _check_checkpoints(experiment_id, versions, report)
    crashed = [
        v
        for v in versions
        if v.get("status") == "running" and not store.is_live(experiment_id, v["version"])
    ]
    if report.dry_run:
        for stored in crashed:
            before = _point_count(stored)
            store.fold_journal(experiment_id, stored)  # on the copy read: nothing written
            report.crashed.append(
                {
                    "experiment_id": experiment_id,
                    "version": stored["version"],
                    "points": _point_count(stored) - before,
                }
            )
        return {v["version"]: v.get("_journal_segment", 0) for v in versions}
    for stored in crashed:
        _fold_crashed(store, experiment_id, stored, report)
    store.flush(experiment_id)
    return {v["version"]: v.get("_journal_segment", 0) for v in store.load(experiment_id)}


def _fold_crashed(
    store: Store, experiment_id: str, stored: StoredVersion, report: DoctorReport
) -> None:
    version = stored["version"]
    live = store.hold_live(experiment_id, version)
    if live is None:
        return  # resumed by a live process since we looked
    try:
        ended = store.end_version(
            experiment_id, version, "crashed", ended_at=None, only_if_running=True
        )
    finally:
        live.release()
    if ended is not None:
        points = _point_count(ended) - _point_count(stored)
        report.crashed.append(
            {"experiment_id": experiment_id, "version": version, "points": points}
        )


def _check_checkpoints(
    experiment_id: str, versions: list[StoredVersion], report: DoctorReport
) -> None:
    """Note every recorded checkpoint file that is gone or changed (by size and mtime)."""
    for stored in versions:
        for detail in stored.get("checkpoint_details") or []:
            status = _checkpoints.verify(detail)["status"]
            if status in ("missing", "changed"):
                report.checkpoints.append(
                    {
                        "experiment_id": experiment_id,
                        "version": stored["version"],
                        "path": detail["path"],
                        "status": status,
                    }
                )


def _point_count(stored: StoredVersion) -> int:
    return sum(len(values) for values in (stored.get("metrics") or {}).values())
