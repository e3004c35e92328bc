"""The listing: the few columns a list of versions shows, one list per column.

``expm history`` needs each version's number, status, start, duration,
hyperparameters and last metric values, not the rest of its summary (environment,
metadata, checkpoints, the other aggregates). The index keeps these columns on a line
of their own (see :mod:`.stores._index_file`), so a listing of 10,000 versions parses
a few megabytes and builds no dict per version and metric.

A listing holds stored form (non-finite numbers as names and tags, see
:mod:`experiment_manager._serialize`); :func:`to_table` decodes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from experiment_manager import _serialize
from experiment_manager.models import VersionTable

__all__ = [
    "COLUMNS",
    "HIDDEN",
    "add_row",
    "build",
    "hidden_reason",
    "is_valid",
    "set_row",
    "to_table",
]

#: The columns copied from each summary; ``last`` (metric name to column) comes after.
COLUMNS = (
    "version",
    "status",
    "created_at",
    "duration",
    "hyperparameters",
    "name",
    "tags",
    "hidden",
)

#: What hides a version from listings, strongest first (see ``hidden_reason``).
HIDDEN = ("purged", "trashed", "archived")

_TEXT = {str, type(None)}
_NUMBER = {int, float, type(None)}
_METRIC = {int, float, str, type(None)}
_NONFINITE = set(_serialize.NONFINITE_NAMES)


def build(summaries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The listing of summaries.

    Args:
        summaries: Version summaries in version order.

    Returns:
        ``{"version": [...], ..., "hyperparameters": [...], "last": {name: [...]}}``,
        one entry per summary in every list; None where a version has no such metric.

    Example:
        >>> build([{"version": 1, "metric_summaries": {"loss": {"last": 0.5}}},
        ...        {"version": 2, "metric_summaries": {}}])["last"]
        {'loss': [0.5, None]}
    """
    listing: dict[str, Any] = {key: [s.get(key) for s in summaries] for key in COLUMNS}
    listing["hyperparameters"] = [s.get("hyperparameters") or {} for s in summaries]
    listing["tags"] = [list(s.get("tags") or []) for s in summaries]
    listing["hidden"] = [hidden_reason(s) for s in summaries]
    last: dict[str, list[Any]] = {}
    for row, summary in enumerate(summaries):
        for name, aggregates in (summary.get("metric_summaries") or {}).items():
            column = last.get(name)
            if column is None:
                column = last[name] = [None] * len(summaries)
            column[row] = aggregates.get("last")
    listing["last"] = last
    return listing


def is_valid(listing: Any, count: int) -> bool:
    """Whether parsed data has the shape of a listing of ``count`` versions.

    Args:
        listing: Parsed JSON.
        count: The number of versions the index says it holds.

    Returns:
        True when every column is a list of ``count`` entries of its kind: versions
        ints, statuses and times strings (or None), durations numbers (or None),
        hyperparameters objects, last values numbers, None or non-finite names.

    Example:
        >>> is_valid(build([{"version": 1}]), 1)
        True
        >>> is_valid({"version": [1]}, 1)
        False
    """
    if type(listing) is not dict:
        return False
    columns = [listing.get(key) for key in COLUMNS]
    last = listing.get("last")
    if type(last) is not dict:
        return False
    columns += last.values()
    if not all(type(column) is list and len(column) == count for column in columns):
        return False
    kinds = [set(map(type, listing[key])) for key in COLUMNS]
    if not (
        kinds[0] <= {int}
        and kinds[1] <= _TEXT
        and kinds[2] <= _TEXT
        and kinds[3] <= _NUMBER
        and kinds[4] <= {dict}
        and kinds[5] <= _TEXT
        and kinds[6] <= {list}
        and kinds[7] <= _TEXT
    ):
        return False
    for column in last.values():
        found = set(map(type, column))
        if not found <= _METRIC:
            return False
        if str in found and not {v for v in column if type(v) is str} <= _NONFINITE:
            return False
    return True


def hidden_reason(summary: Mapping[str, Any]) -> str | None:
    """Why a version is hidden from listings, or None for a version that is shown.

    Args:
        summary: A version's summary (or stored record).

    Returns:
        ``purged`` (emptied by ``gc``), ``trashed`` (in the trash), ``archived``, or None.

    Example:
        >>> hidden_reason({"archived": True}), hidden_reason({"trashed_at": "2026-01-01"})
        ('archived', 'trashed')
    """
    if summary.get("purged_at"):
        return "purged"
    if summary.get("trashed_at"):
        return "trashed"
    if summary.get("archived"):
        return "archived"
    return None


def set_row(listing: dict[str, Any], row: int, summary: Mapping[str, Any]) -> None:
    """Replace one row of a listing with a fresh summary.

    Args:
        listing: A listing, changed in place.
        row: The row to replace.
        summary: The version's summary as :func:`.stores._index.summarize` makes it.

    Example:
        >>> listing = build([{"version": 1, "status": "running"}])
        >>> set_row(listing, 0, {"version": 1, "status": "crashed",
        ...                      "metric_summaries": {"loss": {"last": 0.5}}})
        >>> listing["status"], listing["last"]
        (['crashed'], {'loss': [0.5]})
    """
    fresh = build([summary])
    for key in COLUMNS:
        listing[key][row] = fresh[key][0]
    last = listing["last"]
    for column in last.values():
        column[row] = None
    count = len(listing["version"])
    for name, column in fresh["last"].items():
        last.setdefault(name, [None] * count)[row] = column[0]


def add_row(listing: dict[str, Any], summary: Mapping[str, Any]) -> None:
    """Append a row for a version the listing does not hold yet.

    Args:
        listing: A listing, changed in place.
        summary: The version's summary as :func:`.stores._index.summarize` makes it.

    Example:
        >>> listing = build([{"version": 1, "status": "finished"}])
        >>> add_row(listing, {"version": 2, "status": "running",
        ...                   "metric_summaries": {"loss": {"last": 0.5}}})
        >>> listing["version"], listing["last"]
        ([1, 2], {'loss': [None, 0.5]})
    """
    for key in COLUMNS:
        listing[key].append(None)
    for column in listing["last"].values():
        column.append(None)
    set_row(listing, len(listing["version"]) - 1, summary)


def to_table(experiment_id: str, listing: Mapping[str, Any], *, decode: bool) -> VersionTable:
    """The public table of a listing.

    Args:
        experiment_id: The experiment.
        listing: A valid listing (see :func:`is_valid`); its lists are reused.
        decode: The listing is in stored form and may hold non-finite names or tags.

    Returns:
        The table, metric columns sorted by name.

    Example:
        >>> listing = build([{"version": 1, "hyperparameters": {"eps": {"$float": "NaN"}},
        ...                   "metric_summaries": {"loss": {"last": "Infinity"}}}])
        >>> table = to_table("exp", listing, decode=True)
        >>> table.hyperparameters, table.last
        ([{'eps': nan}], {'loss': [inf]})
    """
    last = {name: listing["last"][name] for name in sorted(listing["last"])}
    hyperparameters = listing["hyperparameters"]
    if decode:
        last = {name: _decode_metric_column(column) for name, column in last.items()}
        hyperparameters = [_serialize.from_json(values) for values in hyperparameters]
    return VersionTable(
        experiment_id=experiment_id,
        version=listing["version"],
        status=listing["status"],
        created_at=listing["created_at"],
        duration=listing["duration"],
        hyperparameters=hyperparameters,
        last=last,
        name=listing["name"],
        tags=listing["tags"],
        hidden=listing["hidden"],
    )


def _decode_metric_column(column: list[Any]) -> list[Any]:
    if str not in set(map(type, column)):
        return column
    return [float(value) if type(value) is str else value for value in column]
