"""``migrate``: copy every version from one store to another, keeping its number.

The destination of an experiment always holds a prefix of the source's versions:
versions are written in order with ``add_versions`` (each write whole or not at
all), so a migration killed at any moment leaves versions 1..k, and the next run
checks those against the source and copies k+1 onwards. Nothing is written before
every experiment's destination has been checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from experiment_manager.errors import CorruptHistoryError, TransferConflictError
from experiment_manager.transfer._common import (
    Counter,
    Endpoint,
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
    from experiment_manager.stores.base import StoredVersion

__all__ = ["migrate"]


def migrate(
    source: Location,
    dest: Location,
    *,
    experiment_ids: Sequence[str] | None = None,
    dry_run: bool = False,
    replace_changed: bool = False,
    progress: Progress | None = None,
) -> TransferReport:
    """Copy every experiment, version, point, checkpoint record and status to another store.

    Versions keep their numbers, and ``read_history`` gives the same result on both
    sides (NaN and infinities, ints, steps, times, environment, errors, resumes,
    checkpoint details). The source is only read. Running again copies only what
    is missing: after a kill, the versions copied so far are checked and the rest
    copied; when everything is there, nothing is written.

    A version still running in the source is not copied yet (nor, since numbers
    are kept, the versions after it); the report lists them, and a later run
    copies them once it has ended. A crashed version is copied as ``crashed``.
    Checkpoint files are not copied: their records (paths, sizes, hashes) are.

    Args:
        source: The store to read: a folder, a URI such as
            ``postgresql://user@host/db``, or a :class:`~experiment_manager.stores.Store`.
        dest: The store to write, named the same ways (a folder is created).
        experiment_ids: Only these experiments (each must exist in the source).
        dry_run: Check and report what would be copied; write nothing.
        replace_changed: A version that differs between the stores (changed in the
            source since it was copied: a crashed run resumed, a tag added) is
            replaced in the destination by the source's, instead of being a
            conflict. What was changed in the destination's copy is lost.
        progress: Called as ``progress(done, total)`` (in versions) as work goes on.

    Returns:
        What was copied, already present, skipped or unreadable. An experiment whose
        history cannot be read in either store is reported in ``corrupt``, and the
        others are still copied.

    Raises:
        TransferConflictError: The destination holds versions of an experiment
            that are not exactly the source's first versions (one changed in either
            store since an earlier migration, without ``replace_changed``; or the
            destination has versions the source lacks). Raised before anything is
            written.
        InvalidArgumentError: A location is not a store, the source folder does
            not exist, or both name the same store.
        ExperimentNotFoundError: An id in ``experiment_ids`` has no history.
        ExperimentIdCollisionError: An experiment the destination lacks differs from
            one it has (or another being copied) only by letter case; raised before
            anything is written.

    Example:
        >>> import tempfile
        >>> from experiment_manager import ExperimentManager
        >>> old, new = tempfile.mkdtemp(), tempfile.mkdtemp()
        >>> with ExperimentManager(old).experiment("exp", {"lr": 0.1}) as run:
        ...     pass
        >>> migrate(old, new).copied
        [{'experiment_id': 'exp', 'versions': [1], 'dest_versions': [1]}]
        >>> migrate(old, new).copied_versions  # again: everything is there
        0
    """
    src, dst = open_endpoints(source, dest)
    report = TransferReport("migrate", src.name, dst.name, dry_run)
    run = _Migration(src, dst, report, replace_changed=replace_changed)
    ids = selected_ids(src.store, experiment_ids)
    refuse_case_twins(dst.store, ids)
    run.report.experiments = len(ids)
    latest: dict[str, tuple[int, int]] = {}
    for experiment_id in ids:
        known = run.latest(experiment_id)
        if known is not None:
            latest[experiment_id] = known
    run.counter = Counter(sum(s + d for s, d in latest.values()), progress)

    # First every destination is checked, so a conflict stops the run unwritten.
    for experiment_id, (in_source, in_dest) in list(latest.items()):
        if in_dest and not run.check_prefix(experiment_id, in_source, in_dest):
            del latest[experiment_id]
        run.counter.add(in_dest)

    run.replace()
    for experiment_id, (in_source, in_dest) in latest.items():
        run.report.present += in_dest - run.replaced.get(experiment_id, 0)
        if in_source <= in_dest:
            run.counter.add(in_source)
        else:
            run.counter.add(in_dest)
            run.copy_rest(experiment_id, in_dest)
    return run.report


class _Migration:
    """One migration's stores, report and progress."""

    def __init__(
        self, src: Endpoint, dst: Endpoint, report: TransferReport, *, replace_changed: bool
    ) -> None:
        self.src = src
        self.dst = dst
        self.report = report
        self.counter = Counter(0, None)
        self.replace_changed = replace_changed
        # Versions to replace in the destination, found while checking it.
        self.changed: list[tuple[str, int, StoredVersion]] = []
        self.replaced: dict[str, int] = {}
        # The source's versions read by the check, kept for the copy that follows it
        # (only of experiments that the destination holds part of: one, after a kill).
        self.read_before: dict[str, list[StoredVersion]] = {}

    def latest(self, experiment_id: str) -> tuple[int, int] | None:
        """The highest version in each store, or None (reported) when one cannot be read."""
        numbers = []
        for role, endpoint in (("source", self.src), ("dest", self.dst)):
            try:
                numbers.append(endpoint.store.latest_version(experiment_id) or 0)
            except CorruptHistoryError as error:
                unreadable(self.report, role, experiment_id, error)
                return None
        return numbers[0], numbers[1]

    def read(self, role: str, experiment_id: str) -> list[StoredVersion] | None:
        """Every version of one store as a reader sees it, or None (reported)."""
        endpoint = self.src if role == "source" else self.dst
        try:
            return endpoint.store.current_versions(experiment_id)
        except CorruptHistoryError as error:
            unreadable(self.report, role, experiment_id, error)
            return None

    def check_prefix(self, experiment_id: str, in_source: int, in_dest: int) -> bool:
        """Whether the destination holds exactly the source's first versions.

        Returns:
            False when a history could not be read (reported).

        Raises:
            TransferConflictError: It holds anything else.
        """
        if in_dest > in_source:
            raise TransferConflictError(
                experiment_id,
                in_source + 1,
                f"the destination has versions up to {in_dest}, the source only up to {in_source}",
            )
        theirs = self.read("dest", experiment_id)
        ours = None if theirs is None else self.read("source", experiment_id)
        if theirs is None or ours is None:
            return False
        if in_source > in_dest:
            self.read_before[experiment_id] = ours
        by_number = {record["version"]: record for record in ours}
        for expected, record in enumerate(theirs, start=1):
            number = record["version"]
            if number != expected:
                raise TransferConflictError(
                    experiment_id, expected, "the destination lacks it but has later versions"
                )
            mine = by_number.get(number)
            if mine is None:
                raise TransferConflictError(
                    experiment_id, number, "the destination has it, the source does not"
                )
            if canonical(mine) != canonical(record):
                self._changed(experiment_id, mine, record)
        return True

    def _changed(self, experiment_id: str, mine: StoredVersion, theirs: StoredVersion) -> None:
        """A version that differs between the stores: to replace, to skip, or a conflict."""
        number = mine["version"]
        if not self.replace_changed:
            raise TransferConflictError(
                experiment_id,
                number,
                "differs between the stores (changed in one of them since it was copied); "
                "replace_changed=True (--replace-changed) replaces the destination's copy "
                "with the source's",
            )
        if theirs.get("status") == "running":
            raise TransferConflictError(
                experiment_id, number, "differs, and is running in the destination"
            )
        if mine.get("status") == "running":
            self._skip(experiment_id, number, "running again in the source; replaced once ended")
            return
        self.changed.append((experiment_id, number, portable(mine)))

    def replace(self) -> None:
        """Replace the destination's copies of versions that changed in the source."""
        for experiment_id, number, fields in self.changed:
            if not self.report.dry_run:
                change = replacement(fields, keep=("experiment_id", "version"))
                self.dst.store.update_version(experiment_id, number, change)
            self.report.replaced.append(
                {"experiment_id": experiment_id, "version": number, "dest_version": number}
            )
            self.replaced[experiment_id] = self.replaced.get(experiment_id, 0) + 1

    def copy_rest(self, experiment_id: str, in_dest: int) -> None:
        """Copy the source's versions after ``in_dest`` in order, up to a running one."""
        versions = self.read_before.pop(experiment_id, None) or self.read("source", experiment_id)
        if versions is None:
            return
        rest = [record for record in versions if record["version"] > in_dest]
        ready = self._ready(experiment_id, rest, in_dest + 1)
        copied: list[int] = []
        for batch in batches(ready):
            wanted = [record["version"] for record in batch]
            if not self.report.dry_run:
                self._write(experiment_id, batch, wanted)
            copied.extend(wanted)
            self.counter.add(len(batch))
        self.counter.add(len(rest) - len(ready))
        if copied:
            self.report.copied.append(
                {"experiment_id": experiment_id, "versions": copied, "dest_versions": copied[:]}
            )

    def _ready(
        self, experiment_id: str, rest: list[StoredVersion], expected: int
    ) -> list[StoredVersion]:
        """The leading run of ``rest`` that can be copied now; the others reported."""
        ready: list[StoredVersion] = []
        for position, record in enumerate(rest):
            if record["version"] != expected:
                reason = f"the source has no version {expected}, and numbers are kept"
            elif record.get("status") == "running":
                reason = "still running; copied once it has ended"
            else:
                ready.append(portable(record))
                expected += 1
                continue
            self._skip(experiment_id, record["version"], reason)
            for later in rest[position + 1 :]:
                waits = f"waits for version {record['version']} (numbers are kept)"
                self._skip(experiment_id, later["version"], waits)
            break
        return ready

    def _skip(self, experiment_id: str, version: int, reason: str) -> None:
        self.report.skipped.append(
            {"experiment_id": experiment_id, "version": version, "reason": reason}
        )

    def _write(self, experiment_id: str, batch: list[StoredVersion], wanted: list[int]) -> None:
        """Append ``batch`` to the destination, where it must get exactly ``wanted``."""
        before = self.dst.store.latest_version(experiment_id) or 0
        if before != wanted[0] - 1:
            raise TransferConflictError(
                experiment_id,
                wanted[0],
                "another writer added versions to the destination meanwhile (it now ends "
                f"at {before})",
            )
        given = self.dst.store.add_versions(experiment_id, batch)
        if given != wanted:
            raise TransferConflictError(
                experiment_id,
                wanted[0],
                f"the destination numbered them {given[0]}-{given[-1]}: another writer "
                "added versions meanwhile",
            )
