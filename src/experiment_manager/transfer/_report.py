"""What a migration or a sync did (or, in a dry run, would do)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["TransferReport"]


@dataclass
class TransferReport:
    """What :func:`~experiment_manager.migrate` or :func:`~experiment_manager.sync` did.

    Attributes:
        operation: ``"migrate"`` or ``"sync"``.
        source: The source store (a folder's absolute path, or a URI without its
            password).
        dest: The destination store, shown the same way.
        dry_run: Whether nothing was written.
        experiments: How many experiment ids of the source were looked at.
        copied: ``{"experiment_id", "versions", "dest_versions"}`` per experiment that
            received versions: the source's numbers and the numbers they got in the
            destination (equal for a migration).
        present: How many source versions the destination already held (copied by an
            earlier run), so were not copied again.
        replaced: ``{"experiment_id", "version", "dest_version"}`` per version that
            had changed in the source since it was copied, and was replaced in the
            destination (only with ``replace_changed=True``).
        skipped: ``{"experiment_id", "version", "reason"}`` per source version left
            out this time (still running, or changed since an earlier sync).
        corrupt: ``{"store", "experiment_id", "path", "reason"}`` per experiment whose
            history could not be read (``store`` is ``"source"`` or ``"dest"``); the
            other experiments were still copied.
        foreign: ``{"store", "experiment_id", "path", "reason"}`` per ``*.json`` of a
            folder that is no history at all (a stray ``config.json``): left alone,
            and no failure.

    Example:
        >>> report = TransferReport("migrate", "a", "b", dry_run=False)
        >>> report.copied_versions, report.ok
        (0, True)
    """

    operation: str
    source: str
    dest: str
    dry_run: bool
    experiments: int = 0
    copied: list[dict[str, Any]] = field(default_factory=list)
    present: int = 0
    replaced: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    corrupt: list[dict[str, str]] = field(default_factory=list)
    foreign: list[dict[str, str]] = field(default_factory=list)

    @property
    def copied_versions(self) -> int:
        """How many versions were copied (or would be, in a dry run).

        Example:
            >>> TransferReport("sync", "a", "b", False, copied=[
            ...     {"experiment_id": "e", "versions": [1, 2], "dest_versions": [5, 6]}
            ... ]).copied_versions
            2
        """
        return sum(len(item["versions"]) for item in self.copied)

    @property
    def ok(self) -> bool:
        """True when every history could be read (skipped versions and foreign files are fine).

        Example:
            >>> TransferReport("sync", "a", "b", False).ok
            True
        """
        return not self.corrupt

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON data.

        Returns:
            Every attribute, plus ``copied_versions`` and ``ok``.

        Example:
            >>> TransferReport("migrate", "a", "b", True).to_dict()["copied_versions"]
            0
        """
        return {
            "operation": self.operation,
            "source": self.source,
            "dest": self.dest,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "experiments": self.experiments,
            "copied_versions": self.copied_versions,
            "copied": self.copied,
            "present": self.present,
            "replaced": self.replaced,
            "skipped": self.skipped,
            "corrupt": self.corrupt,
            "foreign": self.foreign,
        }
