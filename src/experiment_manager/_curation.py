"""Run curation: names, tags, notes, the archive and the trash, as recorded events.

Every change is made to one stored version through
:meth:`~experiment_manager.stores.base.Store.update_version`, so it works the same on
every backend, and is appended to the version's ``events`` list as
``{"at", "host", "user", "action", "value"}``: who changed what and when, never a
silent overwrite. The stored fields (``name``, ``tags``, ``note``, ``archived``,
``trashed_at``, ``purged_at``) are described in ``docs/storage-format.md``.

A version in the trash is hidden from every listing, search and chart and from
``read_history``; :meth:`CurationMixin.restore` brings it back. :meth:`CurationMixin.gc`
empties versions that have been in the trash for longer than
:data:`TRASH_RETENTION_DAYS`: each becomes a *tombstone* that keeps its number (numbers
are never reused) and nothing else, and every file it owned is removed.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from experiment_manager._naming import validate_experiment_id
from experiment_manager.errors import (
    ExperimentNotFoundError,
    InvalidArgumentError,
    RunActiveError,
)

if TYPE_CHECKING:
    from experiment_manager.stores.base import Store, StoredVersion

__all__ = ["MAX_NAME_LENGTH", "MAX_NOTE_LENGTH", "MAX_TAG_LENGTH", "TRASH_RETENTION_DAYS"]

#: Days a removed version stays restorable before ``gc`` may empty it.
TRASH_RETENTION_DAYS = 30.0
#: The longest name, tag and note accepted (characters).
MAX_NAME_LENGTH = 200
MAX_TAG_LENGTH = 64
MAX_NOTE_LENGTH = 100_000

# What a tombstone keeps of a purged version: its number, state and when it went, no
# user content (no names, tags, note, values); its events keep who did what and when.
_TOMBSTONE_KEYS = frozenset(
    {
        "experiment_id",
        "version",
        "created_at",
        "status",
        "ended_at",
        "trashed_at",
        "events",
        "_journal_segment",
        "_revision",
    }
)
# What a tombstone keeps of each event: the action, when, and who (not the value).
_TOMBSTONE_EVENT_KEYS = ("at", "host", "user", "action")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _actor() -> dict[str, str]:
    """Who makes a change: this host and the user running the process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for the uid (a container)
        user = "unknown"
    return {"host": socket.gethostname(), "user": user}


def _event(action: str, value: Any = None) -> dict[str, Any]:
    return {"at": _now(), **_actor(), "action": action, "value": value}


def _text(argument: str, value: object, limit: int, *, single_line: bool) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(argument, value, "must be a str")
    text = value.strip() if single_line else value
    if single_line and not text:
        raise InvalidArgumentError(argument, value, "must not be empty")
    if len(text) > limit:
        raise InvalidArgumentError(argument, value, f"is longer than {limit} characters")
    allowed = "" if single_line else "\n\t"
    if any((ord(ch) < 32 or ord(ch) == 127) and ch not in allowed for ch in text):
        raise InvalidArgumentError(argument, value, "must not hold control characters")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise InvalidArgumentError(argument, value, "holds a lone surrogate")
    return text


def check_name(name: object) -> str:
    """Validate a version name.

    Args:
        name: The name.

    Returns:
        The name without surrounding spaces.

    Raises:
        InvalidArgumentError: Not a str, empty, too long or with control characters.

    Example:
        >>> check_name("  baseline ")
        'baseline'
    """
    return _text("name", name, MAX_NAME_LENGTH, single_line=True)


def check_tags(tags: object) -> list[str]:
    """Validate tags: one str or an iterable of them, each without spaces or commas.

    Args:
        tags: The tags.

    Returns:
        The tags, without repeats, in the given order.

    Raises:
        InvalidArgumentError: A tag is not a str, is empty, too long, or holds a
            space, a comma or a control character; or no tag was given.

    Example:
        >>> check_tags(["best", "seed-1", "best"])
        ['best', 'seed-1']
    """
    items = [tags] if isinstance(tags, str) else tags
    if not isinstance(items, Iterable):
        raise InvalidArgumentError("tags", tags, "must be a str or a list of str")
    out: list[str] = []
    for tag in items:
        text = _text("tag", tag, MAX_TAG_LENGTH, single_line=True)
        if any(ch.isspace() or ch == "," for ch in text):
            raise InvalidArgumentError("tag", tag, "must not hold spaces or commas")
        if text not in out:
            out.append(text)
    if not out:
        raise InvalidArgumentError("tags", tags, "must name at least one tag")
    return out


def check_note(note: object) -> str | None:
    r"""Validate a note (free text over several lines; None or ``""`` clears it).

    Args:
        note: The note.

    Returns:
        The note, or None to clear it.

    Raises:
        InvalidArgumentError: Not a str or None, too long, or with control characters.

    Example:
        >>> check_note("lr too high\nrerun with 0.01"), check_note("")
        ('lr too high\nrerun with 0.01', None)
    """
    if note is None:
        return None
    text = _text("note", note, MAX_NOTE_LENGTH, single_line=False)
    return text if text.strip() else None


def curation_fields(
    name: object = None, tags: object = None, note: object = None
) -> dict[str, Any]:
    """The stored fields of a new version's name, tags and note, with their events.

    Args:
        name: A name, or None for the default (the ``config_name``).
        tags: Tags, or None for none.
        note: A note, or None for none.

    Returns:
        Fields to store with the new version (``{}`` when none is given).

    Raises:
        InvalidArgumentError: The name, a tag or the note is not valid.

    Example:
        >>> sorted(curation_fields("run-a", ["x"]))
        ['events', 'name', 'tags']
        >>> curation_fields(note="lr too high")["note"]
        'lr too high'
    """
    fields: dict[str, Any] = {}
    events = []
    if name is not None:
        fields["name"] = check_name(name)
        events.append(_event("rename", fields["name"]))
    if tags is not None:
        fields["tags"] = sorted(check_tags(tags))
        events.append(_event("tag", fields["tags"]))
    text = check_note(note)
    if text is not None:
        fields["note"] = text
        events.append(_event("note", text))
    if events:
        fields["events"] = events
    return fields


def _record(stored: StoredVersion, event: dict[str, Any]) -> None:
    stored.setdefault("events", []).append(event)


def _expect_present(experiment_id: str, stored: StoredVersion, action: str) -> None:
    if stored.get("purged_at"):
        raise ExperimentNotFoundError(experiment_id, stored["version"])
    if stored.get("trashed_at") and action not in ("restore", "purge"):
        raise InvalidArgumentError(
            "version",
            f"{experiment_id}@{stored['version']}",
            "is in the trash; restore it first (expm restore)",
        )


def _empty(stored: StoredVersion) -> None:
    """Turn a stored version into its tombstone, in place."""
    for key in [key for key in stored if key not in _TOMBSTONE_KEYS]:
        del stored[key]
    segment = int(stored.get("_journal_segment", 0))
    stored.update(
        hyperparameters={},
        metadata={},
        metrics={},
        checkpoints=[],
        purged_at=_now(),
        _journal_segment=segment + 1,
        _journal_offset=0,
    )
    if stored.get("status") == "running":  # a crashed run: nothing can end it any more
        stored["status"] = "killed"
    _record(stored, _event("purge"))
    stored["events"] = [
        {key: event[key] for key in _TOMBSTONE_EVENT_KEYS if key in event}
        for event in stored["events"]
        if isinstance(event, dict)
    ]


def _versions_of(value: int | Sequence[int] | None) -> list[int] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, int) else list(value)
    for item in items:
        if type(item) is not int or item < 1:
            raise InvalidArgumentError("versions", value, "must be version numbers (ints >= 1)")
    return list(dict.fromkeys(items))


class CurationMixin:
    """Names, tags, notes, archive and trash of versions; needs ``self._store``."""

    _store: Store

    # -- names, tags and notes --------------------------------------------------------

    def _change(
        self, experiment_id: str, version: int, action: str, apply: Any, value: Any
    ) -> dict[str, Any]:
        validate_experiment_id(experiment_id)
        if type(version) is not int or version < 1:
            raise ExperimentNotFoundError(experiment_id, version)

        def change(stored: StoredVersion) -> dict[str, Any]:
            _expect_present(experiment_id, stored, action)
            apply(stored)
            _record(stored, _event(action, value))
            return _state(stored)

        return self._store.update_version(experiment_id, version, change)

    def set_name(self, experiment_id: str, version: int, name: str) -> dict[str, Any]:
        """Give a version a human name (shown instead of its ``config_name``).

        Args:
            experiment_id: The experiment.
            version: The version.
            name: The new name (spaces around it are dropped).

        Returns:
            The version's curation state: ``name``, ``tags``, ``note``, ``archived``,
            ``trashed_at`` and ``events`` (the last one records this change).

        Raises:
            InvalidArgumentError: The name is not valid, or the version is in the trash.
            ExperimentNotFoundError: No such version.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.set_name("exp", 1, "baseline")["name"]
            'baseline'
        """
        text = check_name(name)
        return self._change(experiment_id, version, "rename", lambda s: s.update(name=text), text)

    def add_tags(self, experiment_id: str, version: int, tags: str | Iterable[str]) -> list[str]:
        """Add tags to a version (tags it already has are kept once).

        Args:
            experiment_id: The experiment.
            version: The version.
            tags: A tag or several; no spaces or commas in a tag.

        Returns:
            The version's tags after the change, sorted.

        Raises:
            InvalidArgumentError: A tag is not valid, or the version is in the trash.
            ExperimentNotFoundError: No such version.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.add_tags("exp", 1, ["best", "seed-1"])
            ['best', 'seed-1']
        """
        items = check_tags(tags)

        def apply(stored: StoredVersion) -> None:
            stored["tags"] = sorted({*(stored.get("tags") or []), *items})

        return self._change(experiment_id, version, "tag", apply, items)["tags"]  # type: ignore[no-any-return]

    def remove_tags(self, experiment_id: str, version: int, tags: str | Iterable[str]) -> list[str]:
        """Remove tags from a version (tags it does not have are ignored).

        Args:
            experiment_id: The experiment.
            version: The version.
            tags: A tag or several.

        Returns:
            The version's tags after the change, sorted.

        Raises:
            InvalidArgumentError: A tag is not valid, or the version is in the trash.
            ExperimentNotFoundError: No such version.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> _ = manager.add_tags("exp", 1, ["a", "b"])
            >>> manager.remove_tags("exp", 1, "a")
            ['b']
        """
        items = check_tags(tags)

        def apply(stored: StoredVersion) -> None:
            stored["tags"] = sorted(set(stored.get("tags") or []) - set(items))

        return self._change(experiment_id, version, "untag", apply, items)["tags"]  # type: ignore[no-any-return]

    def set_note(self, experiment_id: str, version: int, note: str | None) -> dict[str, Any]:
        """Set (or with None or ``""`` clear) a version's free-text note.

        Args:
            experiment_id: The experiment.
            version: The version.
            note: The note; several lines are fine.

        Returns:
            The version's curation state (see :meth:`set_name`).

        Raises:
            InvalidArgumentError: The note is not valid, or the version is in the trash.
            ExperimentNotFoundError: No such version.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.set_note("exp", 1, "diverged after epoch 3")["note"]
            'diverged after epoch 3'
        """
        text = check_note(note)

        def apply(stored: StoredVersion) -> None:
            if text is None:
                stored.pop("note", None)
            else:
                stored["note"] = text

        return self._change(experiment_id, version, "note", apply, text)

    # -- archive and trash ------------------------------------------------------------

    def _select(
        self, experiment_id: str, versions: int | Sequence[int] | None, wanted: str
    ) -> list[dict[str, Any]]:
        """Summaries of the named versions (all in the ``wanted`` state when None)."""
        from experiment_manager.stores._listing import hidden_reason

        validate_experiment_id(experiment_id)
        numbers = _versions_of(versions)
        summaries = {s["version"]: s for s in self._store.summaries(experiment_id)}
        if not summaries:
            raise ExperimentNotFoundError(experiment_id)
        if numbers is None:
            return [s for s in summaries.values() if _selectable(hidden_reason(s), wanted)]
        out = []
        for number in numbers:
            summary = summaries.get(number)
            if summary is None or summary.get("purged_at"):
                raise ExperimentNotFoundError(experiment_id, number)
            out.append(summary)
        return out

    def _set_state(
        self,
        experiment_id: str,
        versions: int | Sequence[int] | None,
        wanted: str,
        action: str,
        apply: Any,
    ) -> list[int]:
        selected = self._select(experiment_id, versions, wanted)
        if action == "trash":  # all checked before any is changed
            for summary in selected:
                if summary.get("status") == "running" and self._store.is_live(
                    experiment_id, summary["version"]
                ):
                    raise RunActiveError(experiment_id, summary["version"])
        changed = []
        for summary in selected:

            def change(stored: StoredVersion) -> bool:
                _expect_present(experiment_id, stored, action)
                if action == "trash" and (
                    stored.get("status") == "running"
                    and self._store.is_live(experiment_id, stored["version"])
                ):
                    raise RunActiveError(experiment_id, stored["version"])
                if not apply(stored):
                    return False
                _record(stored, _event(action))
                return True

            if self._store.update_version(experiment_id, summary["version"], change):
                changed.append(summary["version"])
        return changed

    def archive(self, experiment_id: str, versions: int | Sequence[int] | None = None) -> list[int]:
        """Hide versions from listings, searches and charts (``include_archived`` shows them).

        Args:
            experiment_id: The experiment.
            versions: A version or several; None for every version.

        Returns:
            The versions that were archived (those already archived are left alone).

        Raises:
            ExperimentNotFoundError: No such experiment or version.
            InvalidArgumentError: A version is in the trash.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> for _ in range(2):
            ...     _ = manager.start_experiment("exp", {}, {})
            >>> manager.archive("exp", 1), [v["version"] for v in manager.list_versions("exp")]
            ([1], [2])
        """

        def apply(stored: StoredVersion) -> bool:
            if stored.get("archived"):
                return False
            stored["archived"] = True
            return True

        return self._set_state(experiment_id, versions, "shown", "archive", apply)

    def unarchive(
        self, experiment_id: str, versions: int | Sequence[int] | None = None
    ) -> list[int]:
        """Show archived versions again.

        Args:
            experiment_id: The experiment.
            versions: A version or several; None for every archived version.

        Returns:
            The versions that were unarchived.

        Raises:
            ExperimentNotFoundError: No such experiment or version.
            InvalidArgumentError: A version is in the trash.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> _ = manager.archive("exp")
            >>> manager.unarchive("exp")
            [1]
        """

        def apply(stored: StoredVersion) -> bool:
            if not stored.get("archived"):
                return False
            stored.pop("archived", None)
            return True

        return self._set_state(experiment_id, versions, "archived", "unarchive", apply)

    def remove(self, experiment_id: str, versions: int | Sequence[int] | None = None) -> list[int]:
        """Move versions to the trash: hidden everywhere, restorable until ``gc`` empties it.

        A version whose process is still running is refused, and then nothing is
        removed. Versions stay restorable for :data:`TRASH_RETENTION_DAYS` days.

        Args:
            experiment_id: The experiment.
            versions: A version or several; None for every version.

        Returns:
            The versions moved to the trash.

        Raises:
            ExperimentNotFoundError: No such experiment or version.
            RunActiveError: A version is still running.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> _ = manager.end_experiment()
            >>> manager.remove("exp", 1), manager.read_history("exp")
            ([1], [])
        """
        at = _now()

        def apply(stored: StoredVersion) -> bool:
            if stored.get("trashed_at"):
                return False
            stored["trashed_at"] = at
            return True

        return self._set_state(experiment_id, versions, "not trashed", "trash", apply)

    def restore(self, experiment_id: str, versions: int | Sequence[int] | None = None) -> list[int]:
        """Bring versions back from the trash (as they were, archived or not).

        Args:
            experiment_id: The experiment.
            versions: A version or several; None for every version in the trash.

        Returns:
            The versions restored.

        Raises:
            ExperimentNotFoundError: No such experiment or version, or it was
                emptied by ``gc`` already.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> _ = manager.end_experiment()
            >>> _ = manager.remove("exp")
            >>> manager.restore("exp"), len(manager.read_history("exp"))
            ([1], 1)
        """

        def apply(stored: StoredVersion) -> bool:
            if not stored.get("trashed_at"):
                return False
            stored.pop("trashed_at", None)
            return True

        return self._set_state(experiment_id, versions, "trashed", "restore", apply)

    def list_trash(self, experiment_id: str | None = None) -> list[dict[str, Any]]:
        """The versions in the trash, oldest removal first.

        Args:
            experiment_id: One experiment, or None for all.

        Returns:
            One ``{"experiment_id", "version", "name", "trashed_at", "expires_at"}``
            per version (``expires_at``: when ``gc`` may empty it).

        Raises:
            ExperimentNotFoundError: ``experiment_id`` never ran.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> _ = manager.end_experiment()
            >>> _ = manager.remove("exp")
            >>> [(t["experiment_id"], t["version"]) for t in manager.list_trash()]
            [('exp', 1)]
        """
        from experiment_manager.errors import CorruptHistoryError

        if experiment_id is not None:
            validate_experiment_id(experiment_id)
            if self._store.latest_version(experiment_id) is None:
                raise ExperimentNotFoundError(experiment_id)
            ids = [experiment_id]
        else:
            ids = self._store.experiment_ids()
        out = []
        for known in ids:
            try:
                summaries = self._store.summaries(known)
            except CorruptHistoryError:
                if experiment_id is not None:
                    raise
                continue
            for summary in summaries:
                if summary.get("trashed_at") and not summary.get("purged_at"):
                    at = datetime.fromisoformat(summary["trashed_at"])
                    expires = at + timedelta(days=TRASH_RETENTION_DAYS)
                    out.append(
                        {
                            "experiment_id": known,
                            "version": summary["version"],
                            "name": summary.get("name"),
                            "trashed_at": summary["trashed_at"],
                            "expires_at": expires.isoformat(timespec="seconds"),
                        }
                    )
        return sorted(out, key=lambda t: (t["trashed_at"], t["experiment_id"], t["version"]))

    def gc(
        self,
        experiment_id: str | None = None,
        *,
        older_than_days: float = TRASH_RETENTION_DAYS,
        dry_run: bool = False,
    ) -> list[dict[str, Any]]:
        """Empty the trash: versions removed longer ago than ``older_than_days`` go for good.

        Each emptied version becomes a tombstone that keeps its number taken (so it
        is never reused) and nothing else; its journals, columns files and liveness
        lock are removed by the backend.

        Args:
            experiment_id: One experiment, or None for all.
            older_than_days: Only versions in the trash at least this long (0: all).
            dry_run: Only say what would be emptied.

        Returns:
            The trash entries emptied (or that would be), as :meth:`list_trash` gives them.

        Raises:
            InvalidArgumentError: ``older_than_days`` is negative or not a number.
            ExperimentNotFoundError: ``experiment_id`` never ran.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> _ = manager.end_experiment()
            >>> _ = manager.remove("exp")
            >>> [t["version"] for t in manager.gc(older_than_days=0)], manager.list_trash()
            ([1], [])
        """
        if (
            isinstance(older_than_days, bool)
            or not isinstance(older_than_days, (int, float))
            or not older_than_days >= 0
        ):
            raise InvalidArgumentError("older_than_days", older_than_days, "must be a number >= 0")
        cutoff = datetime.now(timezone.utc) - timedelta(days=older_than_days)
        due = [
            entry
            for entry in self.list_trash(experiment_id)
            if datetime.fromisoformat(entry["trashed_at"]) <= cutoff
        ]
        for entry in due if not dry_run else ():

            def empty(stored: StoredVersion) -> None:
                if not stored.get("trashed_at") or stored.get("purged_at"):
                    raise _RestoredError
                _empty(stored)

            try:
                self._store.purge_version(entry["experiment_id"], entry["version"], empty)
            except _RestoredError:
                continue
        return due


class _RestoredError(Exception):
    """A version restored (or emptied) since the trash was listed: left alone."""


def _selectable(reason: str | None, wanted: str) -> bool:
    if wanted == "shown":
        return reason is None
    if wanted == "archived":
        return reason == "archived"
    if wanted == "trashed":
        return reason == "trashed"
    return reason not in ("trashed", "purged")  # "not trashed"


def _state(stored: StoredVersion) -> dict[str, Any]:
    return {
        "name": stored.get("name") or stored.get("config_name"),
        "tags": list(stored.get("tags") or []),
        "note": stored.get("note"),
        "archived": bool(stored.get("archived")),
        "trashed_at": stored.get("trashed_at"),
        "events": [dict(event) for event in stored.get("events") or []],
    }
