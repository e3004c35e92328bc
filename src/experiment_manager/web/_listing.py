"""The experiment page's versions table on the server: sorted, filtered, paged.

An experiment of 10,000 versions is too much to send to a page and sort there, so
``/api/experiments/{id}`` answers one page of rows at a time. What it needs is read
once per experiment and kept (:class:`VersionListings`): the column-wise
:class:`~experiment_manager.models.VersionTable` (what most sorts use), the version
summaries (the rows themselves, and the sorts and the filter over other fields),
each sorted order asked for, and each filter's matches. An entry is valid while the
history's identity (:meth:`~experiment_manager.stores.base.Store.history_identity`)
is the one it was read with; an experiment with a running version is read afresh on
every request, because its journal grows without the history file changing.

Sort rule (:func:`sort_order`): numbers, then strings (natural order: ``run2``
before ``run10``), then booleans, then anything else, in that order whatever the
direction; within a group ascending or descending; missing values (None, NaN, a
field the version lacks) last in both directions; ties by version, ascending.

Filter rule (:func:`row_text`, :func:`matches`): what the page's filter box has always
done, moved to the server. The filter is split on whitespace; a version matches when
every term occurs, ignoring case, in its text: ``v<version>``, the status, the config
name, the error, and ``key=value`` for each hyperparameter and metadata key (nested
keys dotted), values written as the table shows them (:func:`display_value`).

Example:
    >>> import numpy as np
    >>> order = sort_order([0.3, None, 0.1, 0.3], np.array([1, 2, 3, 4]), descending=True)
    >>> [int(i) for i in order]  # rows 0 and 3 tie (by version); row 1 is missing: last
    [0, 3, 2, 1]
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from experiment_manager.errors import (
    ExperimentNotFoundError,
    InvalidArgumentError,
    QuerySyntaxError,
)
from experiment_manager.query import AGGREGATES, FieldRef, parse_order_by

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from experiment_manager.manager import ExperimentManager
    from experiment_manager.models import VersionTable

__all__ = [
    "ORDERS",
    "SCALAR_SORTS",
    "Listing",
    "SortKey",
    "VersionListings",
    "display_number",
    "display_value",
    "matches",
    "parse_sort",
    "row_text",
    "sort_order",
]

#: Sort names that are fields of a version's summary itself (counts for the lists).
SCALAR_SORTS = (
    "version",
    "status",
    "created_at",
    "ended_at",
    "last_logged_at",
    "duration",
    "config_name",
    "error",
    "checkpoints",
    "resumed",
)
#: The values of ``order``, default first.
ORDERS = ("asc", "desc")
# Fields the column-wise table holds (the others are read from the summaries).
_TABLE_SCALARS = ("version", "status", "created_at", "duration")
_MISSING = 4  # the sort group of missing values: after every other
_KEEP_ORDERS = 16  # sorted orders kept per experiment
_KEEP_FILTERS = 8  # filters' matches kept per experiment
_DIGITS = re.compile(r"([0-9]+)")
#: Times are ISO 8601 text: in plain text order they are in time order.
_TIMES = ("created_at", "ended_at", "last_logged_at")


@dataclass(frozen=True)
class SortKey:
    """A column to sort versions by.

    Attributes:
        name: Its canonical text: one of :data:`SCALAR_SORTS`, or a field such as
            ``hyperparameters.lr`` or ``metrics.loss.last``.
        ref: The parsed field, for hyperparameters, metadata and metrics; else None.
    """

    name: str
    ref: FieldRef | None = None


def parse_sort(text: str | None) -> SortKey:
    """Parse the ``sort`` parameter.

    Args:
        text: A name of :data:`SCALAR_SORTS`, or one field of the query language under
            ``hyperparameters.`` (also ``hp.``, ``params.``), ``metadata.`` or
            ``metrics.<name>.<agg>``; None or empty for ``version``.

    Returns:
        The sort key.

    Raises:
        InvalidArgumentError: Anything else (several fields, a direction, an unknown
            field or aggregate).

    Example:
        >>> parse_sort("hp.`learning rate`").name, parse_sort(None).name
        ('hyperparameters.`learning rate`', 'version')
    """
    if text is None or text == "":
        return SortKey("version")
    if text in SCALAR_SORTS:
        return SortKey(text)
    try:
        items = parse_order_by(text)
    except QuerySyntaxError as error:
        raise InvalidArgumentError("sort", text, f"is not a column: {error}") from None
    ref, descending = items[0]
    if len(items) != 1 or descending or text.strip().lower().endswith((" asc", " desc")):
        raise InvalidArgumentError("sort", text, "names one column; order gives the direction")
    if ref.root not in ("hyperparameters", "metadata", "metrics"):
        names = ", ".join(SCALAR_SORTS)
        raise InvalidArgumentError(
            "sort",
            text,
            f"must be one of {names}, or a hyperparameters., metadata. or "
            "metrics.<name>.<agg> field",
        )
    return SortKey(str(ref), ref)


# ---- Sorting ---------------------------------------------------------------------------


def _natural(text: str) -> tuple[Any, ...]:
    """A key putting ``run2`` before ``run10`` and ignoring case first."""
    parts = _DIGITS.split(text.casefold())
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p), text


def sort_order(
    values: Sequence[Any], versions: NDArray[Any], descending: bool, natural: bool = True
) -> NDArray[Any]:
    """Return the row indices that sort ``values`` (see the module's sort rule).

    Args:
        values: One value per row.
        versions: Each row's version number (ties go by it, ascending).
        descending: Largest first (missing values stay last).
        natural: Strings in natural order (``run2`` before ``run10``, case ignored
            first); else in plain text order (right for ISO times, and faster).

    Returns:
        An int array: the rows in sorted order.

    Example:
        >>> import numpy as np
        >>> rows = sort_order(["run10", "run2", 3, None, True], np.arange(1, 6), False)
        >>> [int(i) for i in rows]
        [2, 1, 0, 4, 3]
    """
    n = len(values)
    groups = np.full(n, _MISSING, dtype=np.int8)
    ranks = np.zeros(n, dtype=np.float64)
    strings: list[tuple[int, str]] = []
    others: list[tuple[int, str]] = []
    for i, value in enumerate(values):
        if value is None:
            continue
        kind = type(value)
        if kind is float or kind is int:
            if not math.isnan(value):  # NaN is missing
                groups[i], ranks[i] = 0, value
        elif kind is str:
            groups[i] = 1
            strings.append((i, value))
        elif kind is bool:
            groups[i], ranks[i] = 2, float(value)
        elif isinstance(value, (int, float)):
            if not math.isnan(value):
                groups[i], ranks[i] = 0, value
        else:
            groups[i] = 3
            others.append((i, json.dumps(value, sort_keys=True, default=str)))
    for entries, key in ((strings, _natural if natural else None), (others, None)):
        # Equal values share a rank, so that the version breaks their tie.
        distinct = sorted({text for _, text in entries}, key=key)
        rank = {text: float(r) for r, text in enumerate(distinct)}
        for i, text in entries:
            ranks[i] = rank[text]
    if descending:
        ranks = -ranks
    ranks[groups == _MISSING] = 0.0
    return np.lexsort((versions, ranks, groups))


# ---- Filtering -------------------------------------------------------------------------


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value)


def display_number(value: Any) -> str:
    """A number as the page shows it (its ``fmtNum``): 5 significant digits, ``1.000e-8``.

    Args:
        value: A number, or one of the strings ``NaN``, ``Infinity``, ``-Infinity``.

    Returns:
        The text; other values as ``str`` (None as ``""``).

    Example:
        >>> [display_number(v) for v in (3.0, 0.123456, 1e-8, 1234567.5, "NaN")]
        ['3', '0.12346', '1.000e-8', '1.235e6', 'NaN']
    """
    if value is None:
        return ""
    n = _number(value)
    if n is None:
        return "true" if value is True else "false" if value is False else str(value)
    if math.isnan(n):
        return "NaN"
    if math.isinf(n):
        return "\u221e" if n > 0 else "\u2212\u221e"  # the page's minus sign
    if float(n).is_integer() and abs(n) < 1e15:
        return str(int(n))
    size = abs(n)
    if size != 0 and (size < 1e-4 or size >= 1e6):
        mantissa, exponent = f"{n:.3e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    rounded = float(f"{n:.5g}")
    return str(int(rounded)) if rounded.is_integer() else repr(rounded)


def display_value(value: Any) -> str:
    """Any stored value as one line of text, as the page's table shows it (``fmtValue``).

    Args:
        value: A hyperparameter, metadata or other stored value.

    Returns:
        The text: numbers as :func:`display_number`, ``null``, ``true``/``false``,
        strings as they are, lists and dicts as compact JSON.

    Example:
        >>> [display_value(v) for v in (None, True, "sgd", 0.01, [1, 2])]
        ['null', 'true', 'sgd', '0.01', '[1,2]']
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return display_number(value) if value in ("NaN", "Infinity", "-Infinity") else value
    if isinstance(value, (int, float)):
        return display_number(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def flatten(value: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Nested dicts as ``{key path: value}``; lists, scalars and empty dicts are leaves.

    Args:
        value: A dict such as a version's hyperparameters (anything else has no keys).
        prefix: The path of ``value`` itself.

    Returns:
        Each leaf's path and value, in the dicts' order.

    Example:
        >>> flatten({"opt": {"name": "sgd", "lr": 0.1}, "tags": []})
        {('opt', 'name'): 'sgd', ('opt', 'lr'): 0.1, ('tags',): []}
    """
    out: dict[tuple[str, ...], Any] = {}
    if type(value) is dict or isinstance(value, Mapping):
        for key, item in value.items():
            path = (*prefix, str(key))
            # JSON leaves skip the (slow) abstract-class check: 10,000 versions call this.
            nested = type(item) is dict or (type(item) not in _LEAVES and isinstance(item, Mapping))
            if nested and item:
                out.update(flatten(item, path))
            else:
                out[path] = item
    return out


_LEAVES = frozenset({str, int, float, bool, list, type(None)})


def _dotted_items(value: Any, prefix: str, parts: list[str]) -> None:
    """Append ``key=value`` for each leaf of ``value`` (as :func:`flatten`, dotted)."""
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            _dotted_items(item, name + ".", parts)
        elif type(item) is str and item not in ("NaN", "Infinity", "-Infinity"):
            parts.append(f"{name}={item}")  # the common case, without the calls below
        else:
            parts.append(f"{name}={display_value(item)}")


def _error_text(error: Any) -> str:
    if not error:
        return ""
    if isinstance(error, str):
        return error
    if isinstance(error, Mapping):
        parts = [str(error[k]) for k in ("type", "message") if error.get(k)]
        return ": ".join(parts) or json.dumps(error, default=str)
    return str(error)


def row_text(summary: Mapping[str, Any]) -> str:
    r"""The lower-case text a filter term is looked for in (see the module's filter rule).

    Args:
        summary: A version summary (as ``list_versions`` gives).

    Returns:
        The text, one part per line.

    Example:
        >>> row_text({"version": 2, "status": "failed", "hyperparameters": {"lr": 0.01}})
        'v2\n2\nfailed\n\n\nlr=0.01'
    """
    version = summary.get("version")
    parts = [f"v{version}", str(version), str(summary.get("status") or "")]
    parts += [str(summary.get("config_name") or ""), _error_text(summary.get("error"))]
    for section in ("hyperparameters", "metadata"):
        values = summary.get(section)
        if isinstance(values, Mapping):
            _dotted_items(values, "", parts)
    return "\n".join(parts).lower()


def matches(texts: Sequence[str], filter_text: str) -> NDArray[Any]:
    r"""Which rows every whitespace-separated term of ``filter_text`` occurs in.

    Args:
        texts: Each row's :func:`row_text`.
        filter_text: The filter (any case).

    Returns:
        A bool array, one per row.

    Example:
        >>> [bool(m) for m in matches(["v1\nlr=0.1", "v2\nlr=0.01"], "LR=0.01")]
        [False, True]
    """
    terms = filter_text.lower().split()
    found = (all(term in text for term in terms) for text in texts)
    return np.fromiter(found, dtype=bool, count=len(texts))


# ---- The columns a page can show -------------------------------------------------------


class _Distinct:
    """Whether the values seen for a key differ (stops comparing once they do)."""

    __slots__ = ("first", "varies")

    def __init__(self, value: Any, varies: bool) -> None:
        self.first = _comparable(value)
        self.varies = varies

    def see(self, value: Any) -> None:
        if not self.varies and _comparable(value) != self.first:
            self.varies = True


def _comparable(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return (type(value).__name__, value)
    if isinstance(value, float):
        return ("float", "NaN" if math.isnan(value) else value)
    return ("json", json.dumps(value, sort_keys=True, default=str))


def _keys_of(summaries: Sequence[Mapping[str, Any]], section: str) -> list[dict[str, Any]]:
    seen: dict[tuple[str, ...], _Distinct] = {}
    previous: Any = None
    varying = 0  # how many of the keys seen are known to vary
    for index, summary in enumerate(summaries):
        values = summary.get(section) or {}
        if values == previous:
            continue  # the same as the version before: nothing new to learn from it
        previous = values
        flat = flatten(values)
        for path, value in flat.items():
            known = seen.get(path)
            if known is None:
                # A key that earlier versions lack differs between versions already.
                seen[path] = known = _Distinct(value, varies=index > 0)
                varying += known.varies
            elif not known.varies:
                known.see(value)
                varying += known.varies
        if len(flat) < len(seen) and varying < len(seen):
            for path, known in seen.items():
                if path not in flat and not known.varies:
                    known.varies = True
                    varying += 1
    return [
        {"key": ".".join(path), "sort": str(FieldRef(section, path)), "varies": known.varies}
        for path, known in seen.items()
    ]


def columns_of(summaries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the page needs to choose its columns: keys, metric names, what varies.

    Args:
        summaries: Every version's summary.

    Returns:
        ``hyperparameters`` and ``metadata`` (each key in first-seen order, dotted,
        with its ``sort`` name and whether its value ``varies`` between versions),
        ``metrics`` (each name with the ``sort`` prefix its aggregates append to),
        and whether configs vary and whether any version has checkpoints, a resume
        or an error.

    Example:
        >>> info = columns_of([{"hyperparameters": {"lr": 0.1}}, {"hyperparameters": {"lr": 1}}])
        >>> info["hyperparameters"]
        [{'key': 'lr', 'sort': 'hyperparameters.lr', 'varies': True}]
    """
    metrics: dict[str, None] = {}
    configs: set[Any] = set()
    for summary in summaries:
        metrics.update(dict.fromkeys(summary.get("metric_summaries") or {}))
        configs.add(summary.get("config_name"))
    return {
        "hyperparameters": _keys_of(summaries, "hyperparameters"),
        "metadata": _keys_of(summaries, "metadata"),
        "metrics": [
            {"name": name, "sort": str(FieldRef("metrics", (name,), "last"))[: -len(".last")]}
            for name in metrics
        ],
        "aggregates": list(AGGREGATES),
        "config_varies": len(configs) > 1,
        "checkpoints": any(s.get("checkpoints") for s in summaries),
        "resumed": any(s.get("resumed") for s in summaries),
        "errors": any(s.get("error") for s in summaries),
    }


# ---- One experiment's listing ------------------------------------------------------------


def _table_values(table: VersionTable, key: SortKey) -> list[Any] | None:
    """The sort column from the column-wise table, or None when it lacks it."""
    if key.ref is None:
        if key.name not in _TABLE_SCALARS:
            return None
        column: list[Any] = getattr(table, key.name)
        return column
    ref = key.ref
    if ref.root == "hyperparameters":
        return [ref.lookup({"hyperparameters": hp})[1] for hp in table.hyperparameters]
    if ref.root == "metrics" and ref.aggregate == "last":
        return table.last.get(ref.keys[0], [None] * len(table))
    return None


def _summary_values(summaries: Sequence[Mapping[str, Any]], key: SortKey) -> list[Any]:
    """The sort column from the summaries (any key)."""
    if key.ref is not None:
        return [key.ref.lookup(s)[1] for s in summaries]
    name = key.name
    if name in ("checkpoints", "resumed"):
        return [len(s.get(name) or ()) for s in summaries]
    if name == "error":
        return [_error_text(s.get("error")) or None for s in summaries]
    return [s.get(name) for s in summaries]


@dataclass
class Listing:
    """One experiment's versions as read once: the table, the summaries, what was derived.

    Attributes:
        experiment_id: The experiment.
        identity: The history's identity it was read at (None: not to be kept).
        table: The column-wise listing, or None when it did not describe the same
            versions as ``summaries`` (a writer came between the two reads).
        summaries: Every version's summary, in version order.
        versions: The version numbers, as an array.
    """

    experiment_id: str
    identity: object
    table: VersionTable | None
    summaries: list[dict[str, Any]]
    versions: NDArray[Any] = field(init=False)
    _orders: OrderedDict[tuple[str, bool], NDArray[Any]] = field(default_factory=OrderedDict)
    _filters: OrderedDict[str, NDArray[Any]] = field(default_factory=OrderedDict)
    _texts: list[str] | None = None
    _columns: dict[str, Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        """Index the version numbers."""
        numbers = [s["version"] for s in self.summaries]
        self.versions = np.array(numbers, dtype=np.int64)

    @property
    def live(self) -> bool:
        """Whether a version is running (its summary changes without the history)."""
        return any(s.get("status") == "running" for s in self.summaries)

    def status_counts(self) -> dict[str, int]:
        """How many versions have each status.

        Returns:
            Status to count, in first-seen order.
        """
        statuses: Iterable[Any] = (
            self.table.status
            if self.table is not None
            else (s.get("status") for s in self.summaries)
        )
        return dict(Counter(str(s) for s in statuses))

    def columns(self) -> dict[str, Any]:
        """The columns a page can show (see :func:`columns_of`), computed once.

        Returns:
            The description.
        """
        with self._lock:
            if self._columns is None:
                self._columns = columns_of(self.summaries)
            return self._columns

    def order(self, key: SortKey, descending: bool) -> NDArray[Any]:
        """Every row's index in the order of ``key``, computed once per key and direction.

        Args:
            key: The column.
            descending: The direction.

        Returns:
            The row indices (an array not to be modified).
        """
        with self._lock:
            found = self._orders.get((key.name, descending))
            if found is not None:
                self._orders.move_to_end((key.name, descending))
                return found
        if key.name == "version":
            rows = np.arange(len(self.summaries))
            found = rows[::-1] if descending else rows
        else:
            values = _table_values(self.table, key) if self.table is not None else None
            if values is None:
                values = _summary_values(self.summaries, key)
            natural = key.name not in _TIMES
            found = sort_order(values, self.versions, descending, natural)
        with self._lock:
            self._orders[(key.name, descending)] = found
            while len(self._orders) > _KEEP_ORDERS:
                self._orders.popitem(last=False)
        return found

    def matching(self, filter_text: str) -> NDArray[Any] | None:
        """Which rows the filter keeps, computed once per filter.

        Args:
            filter_text: The page's filter.

        Returns:
            A bool array, or None when the filter has no terms (every row).
        """
        key = " ".join(filter_text.lower().split())
        if not key:
            return None
        with self._lock:
            found = self._filters.get(key)
            if found is not None:
                self._filters.move_to_end(key)
                return found
            if self._texts is None:
                self._texts = [row_text(s) for s in self.summaries]
            texts = self._texts
        found = matches(texts, key)
        with self._lock:
            self._filters[key] = found
            while len(self._filters) > _KEEP_FILTERS:
                self._filters.popitem(last=False)
        return found

    def select(
        self,
        key: SortKey,
        descending: bool,
        filter_text: str = "",
        versions: Sequence[int] | None = None,
    ) -> NDArray[Any]:
        """The rows to list, in order: sorted, then filtered.

        Args:
            key: The sort column.
            descending: The direction.
            filter_text: The page's filter ("" keeps every row).
            versions: Keep only these versions (None: every one).

        Returns:
            The row indices.
        """
        rows = self.order(key, descending)
        keep = self.matching(filter_text)
        if versions is not None:
            wanted = np.isin(self.versions, np.array(list(versions), dtype=np.int64))
            keep = wanted if keep is None else keep & wanted
        return rows if keep is None else rows[keep[rows]]


class VersionListings:
    """A small LRU cache of :class:`Listing`, one per experiment.

    Args:
        manager: Where to read.
        size: At most this many experiments are kept.

    Example:
        >>> import tempfile
        >>> from experiment_manager import ExperimentManager
        >>> manager = ExperimentManager(tempfile.mkdtemp(), capture_environment=False)
        >>> for lr in (0.1, 0.01):
        ...     _ = manager.start_experiment("exp", {"lr": lr}, {})
        ...     _ = manager.end_experiment()
        >>> listings = VersionListings(manager)
        >>> listing = listings.get("exp")
        >>> [int(listing.versions[i]) for i in listing.select(parse_sort("hp.lr"), False)]
        [2, 1]
        >>> listings.get("exp") is listing
        True
    """

    def __init__(self, manager: ExperimentManager, size: int = 4) -> None:
        self._manager = manager
        self._size = size
        self._entries: OrderedDict[tuple[str, bool], Listing] = OrderedDict()
        self._lock = threading.Lock()
        self._reading: dict[str, threading.Lock] = {}

    def get(self, experiment_id: str, *, include_archived: bool = False) -> Listing:
        """Return an experiment's listing, from the cache while the history is unchanged.

        Args:
            experiment_id: A validated experiment id.
            include_archived: List archived versions too (never those in the trash).

        Returns:
            The listing; with a running version, always freshly read.

        Raises:
            ExperimentNotFoundError: The experiment never ran.
            CorruptHistoryError: The history file cannot be parsed.
        """
        key = (experiment_id, include_archived)
        with self._lock:
            reading = self._reading.setdefault(experiment_id, threading.Lock())
        # One read per id at a time: a burst of page requests shares the first one's.
        with reading:
            return self._get(experiment_id, key)

    def _get(self, experiment_id: str, key: tuple[str, bool]) -> Listing:
        store = self._manager.store
        include_archived = key[1]
        before = store.history_identity(experiment_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and before is not None and entry.identity == before:
                self._entries.move_to_end(key)
                return entry
        table = self._manager.version_table(experiment_id, include_archived=include_archived)
        summaries = self._manager.list_versions(experiment_id, include_archived=include_archived)
        after = store.history_identity(experiment_id)
        # An experiment whose versions are all archived lists none, but it exists.
        if not summaries and store.latest_version(experiment_id) is None:
            raise ExperimentNotFoundError(experiment_id)
        same = table.version == [s["version"] for s in summaries]
        entry = Listing(
            experiment_id,
            after if after == before and same else None,
            table if same else None,
            summaries,
        )
        with self._lock:
            if entry.identity is None or entry.live:
                self._entries.pop(key, None)
            else:
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return entry

    def of_versions(
        self, experiment_id: str, versions: Iterable[int], *, include_archived: bool = False
    ) -> dict[int, dict[str, Any]]:
        """The summaries of some listed versions, without reading the whole listing.

        The cached listing answers while it is current; otherwise the store reads only
        these versions (a chart of 20 versions of 10,000 reads 20 summaries).

        Args:
            experiment_id: A validated experiment id.
            versions: The version numbers wanted.
            include_archived: Archived versions count as listed (those in the trash never).

        Returns:
            Version number to summary, for the wanted versions that are listed.

        Raises:
            CorruptHistoryError: The history file cannot be parsed.
        """
        wanted = set(versions)
        with self._lock:
            entry = self._entries.get((experiment_id, include_archived))
        identity = None if entry is None else entry.identity
        if identity is not None and identity == self._manager.store.history_identity(experiment_id):
            assert entry is not None
            return {s["version"]: s for s in entry.summaries if s["version"] in wanted}
        listed = self._manager.list_versions(
            experiment_id, include_archived=include_archived, versions=wanted
        )
        return {s["version"]: s for s in listed}

    def exists(self, experiment_id: str) -> bool:
        """Whether the experiment has run (even if every version is hidden).

        Args:
            experiment_id: A validated experiment id.

        Returns:
            True when it has a version number.
        """
        return self._manager.store.latest_version(experiment_id) is not None

    def clear(self) -> None:
        """Forget every listing."""
        with self._lock:
            self._entries.clear()
