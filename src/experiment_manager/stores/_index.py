"""Per-version summaries: what listing, searching and comparing need, without the points.

A summary is a version's record with ``metrics`` replaced by ``metric_summaries``
(metric name to ``last``, ``min``, ``max``, ``mean``, ``count``, ``argmin_step``,
``argmax_step``) and ``last_logged_at`` (time of the newest streamed point, or None).
The file store keeps them in an index file beside each history so that ``expm ls``,
``expm history`` and ``search`` never parse millions of points; the index is derived
data, rebuilt whenever it does not describe the current history.
"""

from __future__ import annotations

import itertools
import math
import operator
from datetime import datetime, timezone
from typing import Any

from experiment_manager import _serialize
from experiment_manager.stores.base import StoredVersion

__all__ = [
    "AGGREGATE_KEYS",
    "INDEX_FORMAT",
    "fingerprint",
    "is_entry",
    "summarize",
    "summarize_all",
]

#: Format 3: JSON Lines with a listing line (see :mod:`.stores._index_file`); format 5
#: added the curation fields (name, tags, archived, trash) to summaries and the listing.
INDEX_FORMAT = 5

#: The aggregates of a metric summary, in the order they are written.
AGGREGATE_KEYS = ("last", "min", "max", "mean", "count", "argmin_step", "argmax_step")
_AGGREGATE_SET = frozenset(AGGREGATE_KEYS)

#: Keys copied from a stored version into its summary unchanged.
_COPIED = (
    "experiment_id",
    "version",
    "created_at",
    "config_name",
    "hyperparameters",
    "metadata",
    "checkpoints",
    "status",
    "ended_at",
    "duration",
    "error",
    "environment",
    "resumed",
    "origin",
    "imported_from",
    "tags",
    "note",
    "archived",
    "trashed_at",
    "purged_at",
)

#: Curation fields (see :mod:`experiment_manager._curation`): changing one changes the
#: summary but not the metrics, so it is compared beside the fingerprint.
_CURATION = ("name", "tags", "note", "archived", "trashed_at", "purged_at")


def fingerprint(stored: StoredVersion) -> list[Any]:
    """What changes in a version when its summary must be recomputed.

    Metric lists only grow and other fields change only with the status, so the
    number of values and the status fields identify a version's state.

    Args:
        stored: A version in stored form.

    Returns:
        A small JSON-able value; equal fingerprints mean equal summaries.

    Example:
        >>> fingerprint({"version": 1, "status": "running", "metrics": {"loss": [1, 2]}})
        [1, 'running', None, 0, 0, 2]
    """
    return [
        stored.get("version"),
        stored.get("status"),
        stored.get("ended_at"),
        len(stored.get("checkpoints") or []),
        len(stored.get("resumed") or []),
        sum(len(values) for values in (stored.get("metrics") or {}).values()),
    ]


def summarize(stored: StoredVersion, *, aggregates: bool = True) -> dict[str, Any]:
    """Summarise one version (stored form in, stored form out).

    Args:
        stored: A version in stored form (non-finite values as strings).
        aggregates: Compute the metric aggregates. Index entries of running versions
            skip them: readers always summarise a running version afresh from its
            history and journal, and skipping keeps each write of a long run cheap.

    Returns:
        The summary, with non-finite aggregate values encoded as in stored metrics.

    Example:
        >>> summary = summarize({"version": 1, "metrics": {"loss": [0.5, 0.25, "NaN"]}})
        >>> summary["metric_summaries"]["loss"]["min"], summary["metric_summaries"]["loss"]["last"]
        (0.25, 'NaN')
    """
    from experiment_manager.query._summary import summary_of

    summary = {key: stored[key] for key in _COPIED if key in stored}
    # A version's name defaults to its configuration's, so a search by name finds both.
    summary["name"] = stored.get("name") or stored.get("config_name")
    summary["tags"] = list(stored.get("tags") or [])
    steps = stored.get("steps") or {}
    summaries = {}
    for name, values in (stored.get("metrics") or {}).items() if aggregates else ():
        # One look at the types serves both the decoding and the summary.
        kinds = set(map(type, values))
        if str in kinds:
            result = dict(
                summary_of(_serialize.decode_metric_values(values), steps.get(name), None)
            )
        else:
            result = dict(summary_of(values, steps.get(name), kinds <= _serialize.PLAIN_NUMBERS))
        for key in ("last", "min", "max", "mean"):
            number = result[key]
            if isinstance(number, float) and not (type(number) is float and math.isfinite(number)):
                result[key] = _serialize.metric_values(name, number)[0]
        summaries[name] = result
    summary["metric_summaries"] = summaries
    # Metrics logged together may share one list: each list is looked at once.
    columns = {id(column): column for column in (stored.get("timestamps") or {}).values()}
    newest = max(map(_newest, columns.values()), default=0)
    summary["last_logged_at"] = logged_at(newest)
    return summary


def logged_at(newest: float) -> str | None:
    """A summary's ``last_logged_at``: the newest point's time as ISO 8601 UTC.

    Args:
        newest: Seconds since the epoch of the newest point; 0 when there is none.

    Returns:
        The time with microseconds, or None for 0.

    Example:
        >>> logged_at(0), logged_at(1.5)
        (None, '1970-01-01T00:00:01.500000+00:00')
    """
    if not newest:
        return None
    return datetime.fromtimestamp(newest, timezone.utc).isoformat(timespec="microseconds")


def _newest(column: list[Any]) -> Any:
    """The greatest time of a column, None and 0 left out (0 when there is none)."""
    try:
        top = max(column, default=0)
    except TypeError:  # None among the times
        top = None
    if top is not None and top > 0:  # then the greatest truthy one too
        return top
    return max(filter(None, column), default=0)


def summarize_all(
    versions: list[StoredVersion], previous: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Index entries for every version, reusing ``previous`` entries that still hold.

    Args:
        versions: An experiment's stored versions.
        previous: The index built last time, if any.

    Returns:
        One ``{"fingerprint": ..., "summary": ...}`` per version, in version order.

    Example:
        >>> entries = summarize_all([{"version": 1, "metrics": {}}], None)
        >>> entries[0]["summary"]["version"]
        1
    """
    known: dict[Any, dict[str, Any]] = {}
    for entry in (previous or {}).get("versions") or []:
        known[entry["summary"].get("version")] = entry
    entries = []
    for stored in sorted(versions, key=lambda v: v["version"]):
        mark = fingerprint(stored)
        old = known.get(stored["version"])
        if (
            old is not None
            and old.get("fingerprint") == mark
            and _curation_of(old["summary"]) == _curation_of(stored, summary=False)
        ):
            entries.append(old)
        else:
            complete = stored.get("status") != "running"
            entries.append({"fingerprint": mark, "summary": summarize(stored, aggregates=complete)})
    return entries


def _curation_of(record: dict[str, Any], *, summary: bool = True) -> list[Any]:
    """The curation fields of a summary or of a stored version, as a summary holds them."""
    values = [record.get(key) for key in _CURATION]
    if not summary:
        values[0] = values[0] or record.get("config_name")
    return values


def is_entry(entry: Any) -> bool:
    """Whether parsed data has the shape of an index entry.

    Args:
        entry: Parsed JSON, one element of what :func:`summarize_all` returns.

    Returns:
        True for a dict with a fingerprint list and a summary with an int version and
        every metric's aggregates under exactly the keys of ``AGGREGATE_KEYS``.

    Example:
        >>> entry = summarize_all([{"version": 1, "metrics": {"loss": [0.5]}}], None)[0]
        >>> is_entry(entry), is_entry({"fingerprint": [], "summary": {"version": 1}})
        (True, False)
    """
    if type(entry) is not dict or type(entry.get("fingerprint")) is not list:
        return False
    summary = entry.get("summary")
    if type(summary) is not dict or type(summary.get("version")) is not int:
        return False
    metrics = summary.get("metric_summaries")
    if type(metrics) is not dict:
        return False
    # C-level loops: an index holds 100,000 of these on 10,000 versions of 10 metrics.
    expected = itertools.repeat(_AGGREGATE_SET)
    try:
        return all(map(operator.eq, map(dict.keys, metrics.values()), expected))
    except TypeError:
        return False  # an aggregate that is not a dict
