"""One experiment's listing entry (what ``expm ls`` shows), built from its summaries.

A backend that can aggregate on its side (PostgreSQL) builds a :class:`Tally` there
for most versions and merges it with one built here for the rest, so every backend
gives the same entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Tally", "entry", "last_activity", "merge", "tally", "visible"]


def last_activity(summary: Mapping[str, Any]) -> str | None:
    """The newest moment a version records (created, ended, last point, resumed).

    Args:
        summary: A version's summary.

    Returns:
        The greatest of its ISO timestamps, or None when it has none.

    Example:
        >>> last_activity({"created_at": "2026-01-01", "ended_at": "2026-01-02"})
        '2026-01-02'
    """
    moments = [summary.get("created_at"), summary.get("ended_at"), summary.get("last_logged_at")]
    resumed = summary.get("resumed")
    if isinstance(resumed, list):
        moments += [entry.get("at") for entry in resumed if isinstance(entry, Mapping)]
    known = [m for m in moments if isinstance(m, str)]
    return max(known) if known else None


def visible(summaries: Iterable[dict[str, Any]], include_archived: bool) -> list[dict[str, Any]]:
    """The summaries a listing shows: none in the trash, archived ones when asked.

    Args:
        summaries: Decoded summaries.
        include_archived: Keep archived versions.

    Returns:
        The shown summaries, in the order given.

    Example:
        >>> [s["version"] for s in visible([{"version": 1}, {"version": 2, "archived": True}],
        ...                                False)]
        [1]
    """
    from experiment_manager.stores._listing import hidden_reason

    shown = (None, "archived") if include_archived else (None,)
    return [s for s in summaries if hidden_reason(s) in shown]


@dataclass
class Tally:
    """Aggregates of some of an experiment's shown versions, mergeable with others.

    Attributes:
        versions: How many versions.
        latest: The greatest version number, or None.
        first_created: The smallest ``created_at``, or None.
        last_activity: The greatest :func:`last_activity`, or None.
        statuses: Status to ``(first version with it, number of versions)``.
        metric_names: Every metric name.
        config_names: Every configuration name.
    """

    versions: int = 0
    latest: int | None = None
    first_created: str | None = None
    last_activity: str | None = None
    statuses: dict[str | None, tuple[int, int]] = field(default_factory=dict)
    metric_names: set[str] = field(default_factory=set)
    config_names: set[str] = field(default_factory=set)


def tally(summaries: Iterable[Mapping[str, Any]]) -> Tally:
    """Aggregate shown summaries.

    Args:
        summaries: Decoded summaries of shown versions.

    Returns:
        Their :class:`Tally`.

    Example:
        >>> t = tally([{"version": 1, "status": "finished", "config_name": "a"}])
        >>> t.versions, t.latest, t.statuses, t.config_names
        (1, 1, {'finished': (1, 1)}, {'a'})
    """
    out = Tally()
    for summary in summaries:
        number = summary.get("version")
        number = number if isinstance(number, int) else 0
        out.versions += 1
        out.latest = number if out.latest is None else max(out.latest, number)
        created = summary.get("created_at")
        if isinstance(created, str) and created:
            out.first_created = _least(out.first_created, created)
        moment = last_activity(summary)
        if moment is not None:
            out.last_activity = _greatest(out.last_activity, moment)
        status = summary.get("status")
        first, count = out.statuses.get(status, (number, 0))
        out.statuses[status] = (min(first, number), count + 1)
        metrics = summary.get("metric_summaries")
        if isinstance(metrics, Mapping):
            out.metric_names.update(metrics)
        config = summary.get("config_name")
        if isinstance(config, str):
            out.config_names.add(config)
    return out


def merge(parts: Iterable[Tally]) -> Tally:
    """Combine tallies of disjoint sets of versions.

    Args:
        parts: The tallies.

    Returns:
        The tally of all their versions together.

    Example:
        >>> merged = merge([tally([{"version": 2, "status": "failed"}]),
        ...                 tally([{"version": 1, "status": "failed"}])])
        >>> merged.versions, merged.latest, merged.statuses
        (2, 2, {'failed': (1, 2)})
    """
    out = Tally()
    for part in parts:
        out.versions += part.versions
        if part.latest is not None:
            out.latest = part.latest if out.latest is None else max(out.latest, part.latest)
        if part.first_created is not None:
            out.first_created = _least(out.first_created, part.first_created)
        if part.last_activity is not None:
            out.last_activity = _greatest(out.last_activity, part.last_activity)
        for status, (first, count) in part.statuses.items():
            had_first, had_count = out.statuses.get(status, (first, 0))
            out.statuses[status] = (min(had_first, first), had_count + count)
        out.metric_names |= part.metric_names
        out.config_names |= part.config_names
    return out


def entry(experiment_id: str, part: Tally) -> dict[str, Any] | None:
    """The listing entry of an experiment, or None when no version is shown.

    Args:
        experiment_id: The experiment's id.
        part: The tally of its shown versions.

    Returns:
        ``experiment_id``, ``versions``, ``latest_version``, ``first_created``,
        ``last_activity``, ``status_counts`` (in the order each status first
        appears by version), ``metric_names`` and ``config_names`` (sorted).

    Example:
        >>> entry("exp", tally([{"version": 1, "status": "finished"}]))["status_counts"]
        {'finished': 1}
    """
    if not part.versions:
        return None
    ordered = sorted(part.statuses.items(), key=lambda item: item[1][0])
    return {
        "experiment_id": experiment_id,
        "versions": part.versions,
        "latest_version": part.latest,
        "first_created": part.first_created,
        "last_activity": part.last_activity,
        "status_counts": {status: count for status, (_, count) in ordered},
        "metric_names": sorted(part.metric_names),
        "config_names": sorted(part.config_names),
    }


def _least(a: str | None, b: str) -> str:
    return b if a is None or b < a else a


def _greatest(a: str | None, b: str) -> str:
    return b if a is None or b > a else a
