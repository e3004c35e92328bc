"""``sync``: append the versions of a local folder to a shared store, once each.

Synced versions get the destination's next numbers and an ``origin`` field naming
where they came from. A version is recognised as already synced by its *origin
key*: its original number and its ``created_at`` (for a version that has an
``origin``, the number stored there), so running again copies nothing twice, also
after a kill or when the folder has moved.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from experiment_manager.errors import CorruptHistoryError
from experiment_manager.transfer._common import (
    Counter,
    Location,
    Progress,
    batches,
    canonical,
    open_endpoints,
    portable,
    refuse_case_twins,
    replacement,
    selected_ids,
    unreadable,
)
from experiment_manager.transfer._report import TransferReport

if TYPE_CHECKING:
    from experiment_manager.stores.base import Store, StoredVersion

__all__ = ["ORIGIN", "origin_key", "sync"]

#: The field of a synced version naming where it came from.
ORIGIN = "origin"
# Fields that differ between a version and its synced copy by design.
_OWN_FIELDS = ("version", ORIGIN)


def origin_key(record: StoredVersion) -> tuple[Any, Any]:
    """What identifies a version across syncs: its original number and start time.

    Args:
        record: A version in stored form.

    Returns:
        ``(original version, created_at)``.

    Example:
        >>> origin_key({"version": 7, "created_at": "t", "origin": {"version": 2}})
        (2, 't')
        >>> origin_key({"version": 2, "created_at": "t"})
        (2, 't')
    """
    origin = record.get(ORIGIN)
    number = record.get("version")
    if isinstance(origin, dict) and isinstance(origin.get("version"), int):
        number = origin["version"]
    return number, record.get("created_at")


def sync(
    source: Location,
    dest: Location,
    *,
    experiment_ids: Sequence[str] | None = None,
    dry_run: bool = False,
    replace_changed: bool = False,
    progress: Progress | None = None,
    host: str | None = None,
) -> TransferReport:
    """Append versions logged offline in ``source`` to ``dest``, each exactly once.

    Each version not yet in the destination is added with the destination's next
    number for its experiment id, and with an ``origin`` field: ``{"host",
    "folder", "version", "synced_at"}`` (the machine and folder it was synced from,
    its number there, when). Everything else is copied losslessly. A version that
    already has an ``origin`` (synced into the source before) keeps it.

    A version still running in the source is skipped and reported, and synced by a
    later run once it has ended; a crashed one is synced as ``crashed``. A history
    that cannot be read is reported with its path, and the other experiments are
    still synced. The source is only read.

    Args:
        source: The folder (or any store) the versions were logged in.
        dest: The shared store: a URI such as ``postgresql://user@host/db``, a
            folder, or a :class:`~experiment_manager.stores.Store`.
        experiment_ids: Only these experiments (each must exist in the source).
        dry_run: Report what would be synced; write nothing.
        replace_changed: A version that changed in the source since it was synced
            (a crashed run resumed and ended there) replaces its synced copy, which
            keeps its number and ``origin``, instead of being skipped.
        progress: Called as ``progress(done, total)`` (in versions) as work goes on.
        host: The ``origin.host`` to record (default: this machine's host name).

    Returns:
        What was synced (with the numbers given), already there, skipped (running,
        or changed in the source since it was synced) or unreadable.

    Raises:
        InvalidArgumentError: A location is not a store, the source folder does
            not exist, or both name the same store.
        ExperimentNotFoundError: An id in ``experiment_ids`` has no history.
        ExperimentIdCollisionError: An experiment the destination lacks differs from
            one it has (or another being copied) only by letter case; raised before
            anything is written.

    Example:
        >>> import tempfile
        >>> from experiment_manager import ExperimentManager
        >>> offline, team = tempfile.mkdtemp(), tempfile.mkdtemp()
        >>> with ExperimentManager(team).experiment("exp", {"lr": 0.1}):
        ...     pass
        >>> with ExperimentManager(offline).experiment("exp", {"lr": 0.2}):
        ...     pass
        >>> sync(offline, team, host="node-1").copied
        [{'experiment_id': 'exp', 'versions': [1], 'dest_versions': [2]}]
        >>> ExperimentManager(team).read_history("exp")[1]["origin"]["version"]
        1
        >>> sync(offline, team).copied_versions  # again: nothing twice
        0
    """
    src, dst = open_endpoints(source, dest)
    report = TransferReport("sync", src.name, dst.name, dry_run)
    ids = selected_ids(src.store, experiment_ids)
    refuse_case_twins(dst.store, ids)
    report.experiments = len(ids)
    if host is None:
        import socket

        host = socket.gethostname()
    origin = {"host": host, "folder": src.name}
    total = 0
    for experiment_id in ids:
        with contextlib.suppress(CorruptHistoryError):  # reported when it is read below
            total += src.store.latest_version(experiment_id) or 0
    run = _Sync(dst.store, report, Counter(total, progress), replace_changed=replace_changed)
    for experiment_id in ids:
        try:
            versions = src.store.current_versions(experiment_id)
        except CorruptHistoryError as error:
            unreadable(report, "source", experiment_id, error)
            continue
        try:
            existing = dst.store.current_versions(experiment_id)
        except CorruptHistoryError as error:
            unreadable(report, "dest", experiment_id, error)
            run.counter.add(len(versions))
            continue
        ready = run.to_sync(experiment_id, versions, existing, origin)
        run.counter.add(len(versions) - len(ready))
        after = max((record["version"] for record in existing), default=0)
        run.write(experiment_id, ready, after)
    return report


class _Sync:
    """One sync's destination, report and progress."""

    def __init__(
        self, dest: Store, report: TransferReport, counter: Counter, *, replace_changed: bool
    ) -> None:
        self.dest = dest
        self.report = report
        self.counter = counter
        self.replace_changed = replace_changed

    def _skip(self, experiment_id: str, version: int, reason: str) -> None:
        self.report.skipped.append(
            {"experiment_id": experiment_id, "version": version, "reason": reason}
        )

    def _changed(self, experiment_id: str, record: StoredVersion, copy: StoredVersion) -> None:
        """A version that changed in the source since it was synced: replace or report it."""
        number = record["version"]
        where = f"since it was synced as version {copy['version']}"
        if not self.replace_changed:
            reason = f"changed in the source {where}; not synced again (--replace-changed)"
        elif record.get("status") == "running" or copy.get("status") == "running":
            reason = f"changed in the source {where}, and is running; replaced once it has ended"
        else:
            if not self.report.dry_run:
                change = replacement(portable(record), keep=("version", ORIGIN))
                self.dest.update_version(experiment_id, copy["version"], change)
            self.report.replaced.append(
                {"experiment_id": experiment_id, "version": number, "dest_version": copy["version"]}
            )
            return
        self._skip(experiment_id, number, reason)

    def to_sync(
        self,
        experiment_id: str,
        versions: list[StoredVersion],
        existing: list[StoredVersion],
        origin: dict[str, str],
    ) -> list[tuple[int, StoredVersion]]:
        """Each version to add: its source number and its fields (the rest reported)."""
        synced = {origin_key(record): record for record in existing}
        ready = []
        for record in versions:
            copy = synced.get(origin_key(record))
            if copy is not None:
                same = canonical(copy, leave_out=_OWN_FIELDS) == canonical(
                    record, leave_out=_OWN_FIELDS
                )
                if same:
                    self.report.present += 1
                else:
                    self._changed(experiment_id, record, copy)
                continue
            if record.get("status") == "running":
                self._skip(
                    experiment_id, record["version"], "still running; synced once it has ended"
                )
                continue
            fields = portable(record)
            if not isinstance(fields.get(ORIGIN), dict):
                fields[ORIGIN] = {
                    **origin,
                    "version": record["version"],
                    "synced_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
                }
            ready.append((record["version"], fields))
        return ready

    def write(self, experiment_id: str, ready: list[tuple[int, StoredVersion]], after: int) -> None:
        """Add ``ready`` in batches after version ``after``; record the numbers given."""
        if not ready:
            return
        given: list[int] = []
        for batch in batches([fields for _, fields in ready]):
            if self.report.dry_run:
                numbers = list(range(after + 1, after + 1 + len(batch)))
                after += len(batch)
            else:
                numbers = self.dest.add_versions(experiment_id, batch)
            given.extend(numbers)
            self.counter.add(len(batch))
        self.report.copied.append(
            {
                "experiment_id": experiment_id,
                "versions": [number for number, _ in ready],
                "dest_versions": given,
            }
        )
