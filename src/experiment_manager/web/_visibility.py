"""Which versions the API serves: never those in the trash, archived ones when asked for.

The listings decide (``list_versions`` leaves out trashed and purged versions, and
archived ones unless ``include_archived``), so every endpoint that takes versions
(``versions=`` of one experiment, ``refs=`` of several) serves exactly what the
versions table can list: a version in the trash, or an archived one without ``all=1``,
answers 404 like a version that never existed (the same error ``/versions/{v}`` gives
for a trashed version), and an endpoint that defaults to "every version" leaves them
out. A single version named in the path (its record, its live points) is served when
archived (naming it is asking for it), never when in the trash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from experiment_manager.errors import ExperimentNotFoundError
from experiment_manager.web import _params

if TYPE_CHECKING:
    from experiment_manager.web._listing import VersionListings

__all__ = ["include_archived", "served", "served_versions", "visible_record"]


def include_archived(query: Mapping[str, str]) -> bool:
    """Parse the ``all`` query parameter (archived versions too).

    Args:
        query: The request's query parameters.

    Returns:
        True for ``all=1`` (or true, yes).

    Raises:
        InvalidArgumentError: Any other value than 1/true/yes or 0/false/no/empty.

    Example:
        >>> include_archived({"all": "1"}), include_archived({})
        (True, False)
    """
    return _params.flag("all", query.get("all"))


def served(listings: VersionListings, experiment_id: str, archived: bool) -> set[int]:
    """The version numbers of an experiment the API serves.

    Args:
        listings: The app's listings cache.
        experiment_id: A validated experiment id.
        archived: Archived versions too.

    Returns:
        The listed versions' numbers.

    Raises:
        ExperimentNotFoundError: The experiment never ran.
        CorruptHistoryError: The history cannot be parsed.
    """
    listing = listings.get(experiment_id, include_archived=archived)
    return {int(v) for v in listing.versions.tolist()}


def served_versions(
    listings: VersionListings,
    experiment_id: str,
    wanted: Iterable[int] | None,
    archived: bool,
    known: Iterable[int] | None = None,
) -> list[int]:
    """The versions an endpoint may answer for, in the order asked.

    Args:
        listings: The app's listings cache.
        experiment_id: A validated experiment id.
        wanted: The versions named (None: every served one).
        archived: Archived versions too.
        known: With ``wanted`` None, the versions to choose from (those with data,
            ascending); None for every served version.

    Returns:
        ``wanted`` when all are served; else every served version (of ``known``).

    Raises:
        ExperimentNotFoundError: The experiment never ran; or a wanted version does not
            exist, is in the trash, or is archived and ``archived`` is False (the first
            such one is named).
    """
    if wanted is None:
        allowed = served(listings, experiment_id, archived)
        pool = sorted(allowed) if known is None else known
        return [v for v in pool if v in allowed]
    numbers = list(wanted)
    # Only the versions named are read: a chart of 20 of 10,000 reads 20 summaries.
    allowed = set(listings.of_versions(experiment_id, numbers, include_archived=archived))
    if not allowed and not listings.exists(experiment_id):
        raise ExperimentNotFoundError(experiment_id)
    for number in numbers:
        if number not in allowed:
            raise ExperimentNotFoundError(experiment_id, number)
    return numbers


def visible_record(record: Mapping[str, Any]) -> bool:
    """Whether a single version's record may be served (not in the trash, not purged).

    Args:
        record: A record or summary.

    Returns:
        False for a trashed or purged version.

    Example:
        >>> visible_record({"archived": True}), visible_record({"trashed_at": "2026-01-01"})
        (True, False)
    """
    return not (record.get("trashed_at") or record.get("purged_at"))
