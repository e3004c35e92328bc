"""Look and compare: the manager's read-only calls over any store.

These are mixed into :class:`~experiment_manager.ExperimentManager`. They read
per-version *summaries* (metric aggregates instead of points) wherever that suffices,
so listing and searching thousands of versions never parses millions of points;
calls that need the points (``get_version``, ``compare``, long exports) read them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from experiment_manager._naming import validate_experiment_id
from experiment_manager.errors import (
    CorruptHistoryError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    NotAHistoryError,
)
from experiment_manager.models import SearchResults, VersionTable
from experiment_manager.stores._overview import visible
from experiment_manager.stores.base import Store, decode_version

__all__ = ["ReadsMixin"]


#: What every search adds to its filter: versions in the trash are never found, and
#: archived ones only when asked for (a backend evaluates it with the rest).
_VISIBLE = "trashed_at = null and purged_at = null"
_SHOWN = f"{_VISIBLE} and not archived = true"


class ReadsMixin:
    """Read-only calls shared by every backend; needs ``self._store``."""

    _store: Store

    def list_experiments(self, *, include_archived: bool = False) -> list[dict[str, Any]]:
        """One summary per experiment id, from the per-version index (no points read).

        Versions in the trash are never counted, archived ones only with
        ``include_archived``; an experiment with no version left to count is left out.

        Args:
            include_archived: Count archived versions too.

        Returns:
            Sorted by id: ``experiment_id``, ``versions``, ``latest_version``,
            ``first_created``, ``last_activity``, ``status_counts`` (status to
            number of versions), ``metric_names`` and ``config_names``. An
            experiment whose history cannot be parsed appears with only
            ``experiment_id`` and ``error`` (the message), so one bad file never
            hides the others; a ``*.json`` that is not a history at all (a stray
            ``config.json``) appears so too, with ``"foreign": True``.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.log_metrics({"loss": [0.3]})
            >>> [(e["experiment_id"], e["versions"], e["metric_names"])
            ...  for e in manager.list_experiments()]
            [('exp', 1, ['loss'])]
        """
        out: list[dict[str, Any]] = []
        for experiment_id in self._store.experiment_ids():
            try:
                entry = self._store.overview(experiment_id, include_archived=include_archived)
            except NotAHistoryError as error:
                out.append({"experiment_id": experiment_id, "error": str(error), "foreign": True})
                continue
            except CorruptHistoryError as error:
                out.append({"experiment_id": experiment_id, "error": str(error)})
                continue
            if entry is not None:
                out.append(entry)
        return out

    def list_versions(
        self,
        experiment_id: str,
        *,
        include_archived: bool = False,
        versions: Iterable[int] | None = None,
    ) -> list[dict[str, Any]]:
        """Summaries of every version of one experiment, in version order.

        Versions in the trash are left out, archived ones unless ``include_archived``.

        Args:
            experiment_id: The experiment.
            include_archived: List archived versions too.
            versions: Only these versions (those that exist and are listed); the
                store then reads only them, however many the experiment has.

        Returns:
            Each version's record without its points: ``metrics`` is replaced by
            ``metric_summaries`` (name to ``last``, ``min``, ``max``, ``mean``,
            ``count``, ``argmin_step``, ``argmax_step``). ``[]`` for an unknown id.

        Raises:
            InvalidExperimentIdError: The id is not a safe file name.
            CorruptHistoryError: The history file cannot be parsed.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {}, {})
            >>> manager.log_metrics({"loss": [0.5, 0.2, 0.4]})
            >>> manager.list_versions("exp")[0]["metric_summaries"]["loss"]["min"]
            0.2
            >>> [s["version"] for s in manager.list_versions("exp", versions=[1, 7])]
            [1]
        """
        experiment_id = validate_experiment_id(experiment_id)
        if versions is None:
            summaries = self._store.summaries(experiment_id)
        else:
            summaries = self._store.summaries_of(experiment_id, versions)
        return visible(summaries, include_archived)

    def version_table(self, experiment_id: str, *, include_archived: bool = False) -> VersionTable:
        """The versions of one experiment as columns, for listing them.

        Each version's number, status, start time, duration, hyperparameters and
        last value of each metric: what a list of versions shows (``expm history``),
        without the rest of each summary. On thousands of versions it is several
        times faster than :meth:`list_versions`, whose rows it matches.

        Args:
            experiment_id: The experiment.
            include_archived: List archived versions too (those in the trash never).

        Returns:
            The table; it has no rows for an unknown id.

        Raises:
            InvalidExperimentIdError: The id is not a safe file name.
            CorruptHistoryError: The history file cannot be parsed.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> for lr in (0.1, 0.01):
            ...     _ = manager.start_experiment("exp", {"lr": lr}, {})
            ...     manager.log_metrics({"loss": [0.5, lr]})
            ...     _ = manager.end_experiment()
            >>> table = manager.version_table("exp")
            >>> table.version, table.status, table.last
            ([1, 2], ['finished', 'finished'], {'loss': [0.1, 0.01]})
        """
        table = self._store.version_table(validate_experiment_id(experiment_id))
        hidden = table.hidden
        if not any(hidden):
            return table
        shown = (None, "archived") if include_archived else (None,)
        return table.rows([row for row, reason in enumerate(hidden) if reason in shown])

    def get_version(self, experiment_id: str, version: int | None = None) -> dict[str, Any]:
        """One version's full record, points included.

        Args:
            experiment_id: The experiment.
            version: The version; the latest when None.

        Returns:
            The record, as an element of ``read_history``.

        Raises:
            InvalidExperimentIdError: The id is not a safe file name.
            ExperimentNotFoundError: No such experiment or version (or one emptied
                by ``gc``).
            CorruptHistoryError: The history file cannot be parsed.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {"lr": 0.1}, {})
            >>> manager.get_version("exp")["hyperparameters"]
            {'lr': 0.1}
        """
        validate_experiment_id(experiment_id)
        if version is not None and (type(version) is not int or version < 1):
            raise ExperimentNotFoundError(experiment_id, version)
        stored = self._store.read_version(experiment_id, version)
        if stored.get("purged_at"):  # emptied by gc: only its number is left
            raise ExperimentNotFoundError(experiment_id, stored["version"])
        return decode_version(stored)

    def search(
        self,
        query: str | None = None,
        experiment_id: str | None = None,
        order_by: str | None = None,
        limit: int | None = None,
        *,
        include_archived: bool = False,
    ) -> SearchResults:
        """Find versions with the filter language, over one experiment or all of them.

        Versions in the trash are never found, archived ones only with
        ``include_archived``.

        The language (see ``docs/query-language.md``): comparisons such as
        ``hyperparameters.lr < 0.01``, ``metrics.val_loss.min <= 0.3`` or
        ``status = 'finished'``, combined with ``and``, ``or``, ``not`` and
        parentheses. A history that cannot be parsed raises when named; when
        searching every experiment it is skipped, so one bad file never hides the
        others, and reported in the result's ``damaged`` list (a ``*.json`` that is
        no history at all is skipped without being reported).

        Args:
            query: The filter; None matches every version.
            experiment_id: Search this experiment only.
            order_by: For example ``"metrics.val_loss.min"`` or
                ``"metrics.acc.max desc, version"``.
            limit: At most this many results.
            include_archived: Search archived versions too.

        Returns:
            Matching version summaries (as :meth:`list_versions` gives them), in a
            list (a :class:`~experiment_manager.SearchResults`) whose ``damaged``
            attribute holds one ``{"experiment_id", "error"}`` per history skipped
            because it cannot be parsed, as :meth:`list_experiments` reports it.

        Raises:
            QuerySyntaxError: The query or order does not parse; the error gives the
                position of the offending character.
            InvalidArgumentError: ``limit`` is negative.
            ExperimentNotFoundError: ``experiment_id`` names an experiment that never ran.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> for lr in (0.1, 0.01):
            ...     _ = manager.start_experiment("exp", {"lr": lr}, {})
            >>> found = manager.search("hyperparameters.lr < 0.05")
            >>> [r["version"] for r in found], found.damaged
            ([2], [])
        """
        from experiment_manager import query as _query

        if query:
            _query.parse_query(query)  # its errors point into the text as given
        visible = _VISIBLE if include_archived else _SHOWN
        parsed = _query.parse_query(f"({query}) and {visible}" if query else visible)
        if order_by:
            _query.parse_order_by(order_by)
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 0
        ):
            raise InvalidArgumentError("limit", limit, "must be a non-negative int or None")
        if experiment_id is not None:
            validate_experiment_id(experiment_id)
            if self._store.latest_version(experiment_id) is None:
                raise ExperimentNotFoundError(experiment_id)
            return SearchResults(
                self._store.search_versions(experiment_id, parsed, order_by, limit)
            )
        # Each experiment's best `limit` (filtered, sorted and cut by its backend), then
        # the same order over all of them: the same result as one search over all.
        found: list[dict[str, Any]] = []
        damaged: list[dict[str, str]] = []
        for known in self._store.experiment_ids():
            try:
                found.extend(self._store.search_versions(known, parsed, order_by, limit))
            except NotAHistoryError:
                continue  # some other tool's file: no experiment to report
            except CorruptHistoryError as error:
                damaged.append({"experiment_id": known, "error": str(error)})
        return SearchResults(
            _query.search_records(found, None, order_by=order_by, limit=limit), damaged
        )

    def best(
        self, experiment_id: str, metric: str, mode: str = "min", agg: str | None = None
    ) -> dict[str, Any] | None:
        """The version with the best value of a metric.

        Args:
            experiment_id: The experiment.
            metric: The metric's name.
            mode: ``"min"`` or ``"max"``.
            agg: Rank by this aggregate (``last``, ``min``, ``max``, ``mean``,
                ``count``); by default the metric's min (mode min) or max (mode max).

        Returns:
            The winning version's summary, or None when no version has the metric.

        Raises:
            InvalidArgumentError: ``mode`` or ``agg`` is not valid.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> for losses in ([0.5, 0.4], [0.6, 0.2]):
            ...     _ = manager.start_experiment("exp", {}, {})
            ...     manager.log_metrics({"loss": losses})
            >>> manager.best("exp", "loss")["version"]
            2
        """
        from experiment_manager import query as _query

        return _query.best_record(self.list_versions(experiment_id), metric, mode, agg)

    def compare(self, experiment_id: str, versions: Sequence[int]) -> dict[str, Any]:
        """What differs between versions, and a metric summary of each.

        Args:
            experiment_id: The experiment.
            versions: Two or more version numbers.

        Returns:
            ``experiment_id``, ``versions``, ``hyperparameters``, ``metadata`` and
            ``environment`` (dotted key to the list of each version's value, only
            for keys whose values differ) and ``metrics`` (version to metric name to
            ``last``, ``min``, ``max``, ``mean``, ``count``, ``argmin_step``,
            ``argmax_step``).

        Raises:
            ExperimentNotFoundError: A version does not exist.
            InvalidArgumentError: Fewer than two versions, or one given twice.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp(), capture_environment=False)
            >>> for lr in (0.1, 0.01):
            ...     _ = manager.start_experiment("exp", {"lr": lr, "bs": 32}, {})
            >>> manager.compare("exp", [1, 2])["hyperparameters"]
            {'lr': [0.1, 0.01]}
        """
        from experiment_manager import query as _query

        # The summaries hold every compared field and each metric's aggregates, so no
        # point is read (a history of long curves takes seconds to parse).
        summaries = {
            s["version"]: s for s in self._store.summaries(validate_experiment_id(experiment_id))
        }
        missing = [v for v in versions if v not in summaries]
        if missing:
            raise ExperimentNotFoundError(experiment_id, missing[0])
        return dict(_query.compare_summaries([summaries[v] for v in versions]))

    def compare_versions(
        self, refs: Sequence[tuple[str, int]], *, all_fields: bool = False
    ) -> dict[str, Any]:
        """Compare versions of any experiments (``A@1`` against ``B@2``), from summaries.

        Args:
            refs: Two or more ``(experiment_id, version)`` pairs.
            all_fields: Keep the keys that differ between any two runs
                (``environment.pid``, ``environment.argv``); else they are named in
                ``hidden``.

        Returns:
            See :func:`experiment_manager._compare.compare_refs`: ``refs``,
            ``versions``, ``run`` (config name, name, status, duration, start of
            each), the differing ``hyperparameters``, ``metadata`` and
            ``environment``, ``metrics`` by ``id@version``, and ``hidden``.

        Raises:
            InvalidArgumentError: Fewer than two versions, or one named twice.
            ExperimentNotFoundError: A version does not exist.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp(), capture_environment=False)
            >>> _ = manager.start_experiment("a", {"lr": 0.1}, {})
            >>> _ = manager.start_experiment("b", {"lr": 0.2}, {})
            >>> manager.compare_versions([("a", 1), ("b", 1)])["hyperparameters"]
            {'lr': [0.1, 0.2]}
        """
        from experiment_manager._compare import compare_refs

        return compare_refs(self._store, refs, all_fields=all_fields)

    def export(
        self,
        path: str | os.PathLike[str],
        fmt: str = "csv",
        *,
        experiment_id: str | None = None,
        query: str | None = None,
        shape: str = "wide",
        progress: Callable[[int], None] | None = None,
        include_superseded: bool = False,
    ) -> int:
        """Write versions to a CSV, JSON, JSON Lines or Parquet file.

        Args:
            path: The output file (replaced atomically for text formats).
            fmt: ``csv``, ``json``, ``jsonl`` or ``parquet`` (needs pyarrow).
            experiment_id: Export this experiment only (default: all).
            query: Export only versions matching this filter.
            shape: ``wide`` (one row per version, flattened columns) or ``long``
                (one row per metric value, with step and timestamp).
            progress: Called with the number of rows written, every 10,000 rows.
            include_superseded: With ``shape="long"``, also the points a
                ``resume_experiment(..., from_step=N)`` superseded (left out by
                default), and a ``superseded`` column saying which rows they are.

        Returns:
            The number of rows written.

        Raises:
            InvalidArgumentError: Unknown ``fmt`` or ``shape``, parquet without
                pyarrow, or ``include_superseded`` with the wide shape (its
                aggregates are of the current points).
            QuerySyntaxError: The query does not parse.
            ExperimentNotFoundError: ``experiment_id`` names an experiment that never ran.

        Example:
            >>> import tempfile, csv
            >>> from pathlib import Path
            >>> from experiment_manager import ExperimentManager
            >>> folder = Path(tempfile.mkdtemp())
            >>> manager = ExperimentManager(folder)
            >>> _ = manager.start_experiment("exp", {"lr": 0.1}, {})
            >>> manager.log_metrics({"loss": [0.5, 0.25]})
            >>> manager.export(folder / "runs.csv", "csv")
            1
            >>> next(csv.DictReader((folder / "runs.csv").open()))["metrics.loss.min"]
            '0.25'
        """
        from experiment_manager import export as _export

        rows = self._rows(experiment_id, query, shape, include_superseded)
        return _export.write_rows(rows, Path(path), fmt, progress=progress)

    def to_dataframe(
        self,
        experiment_id: str | None = None,
        query: str | None = None,
        shape: str = "wide",
        *,
        include_superseded: bool = False,
    ) -> Any:
        """Versions as a pandas DataFrame (pandas is imported only by this call).

        Args:
            experiment_id: This experiment only (default: all).
            query: Only versions matching this filter.
            shape: ``wide`` or ``long``, as for :meth:`export`.
            include_superseded: As for :meth:`export` (long shape only).

        Returns:
            A ``pandas.DataFrame``.

        Raises:
            InvalidArgumentError: pandas is not installed, ``shape`` is unknown, or
                ``include_superseded`` is given with the wide shape.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> _ = manager.start_experiment("exp", {"lr": 0.1}, {})
            >>> manager.to_dataframe()["hyperparameters.lr"].tolist()  # doctest: +SKIP
            [0.1]
        """
        from experiment_manager import export as _export

        rows = self._rows(experiment_id, query, shape, include_superseded)
        return _export.to_dataframe(list(rows))

    def _rows(
        self,
        experiment_id: str | None,
        query: str | None,
        shape: str,
        include_superseded: bool = False,
    ) -> Iterator[dict[str, Any]]:
        from experiment_manager import export as _export

        if shape not in ("wide", "long"):
            raise InvalidArgumentError("shape", shape, "must be 'wide' or 'long'")
        if include_superseded and shape == "wide":
            raise InvalidArgumentError(
                "include_superseded",
                include_superseded,
                "needs the long shape (one row per point); wide rows summarise the current points",
            )
        selected = self.search(query, experiment_id=experiment_id)
        if shape == "wide":
            return iter(_export.wide_rows(selected))
        records = self._full_records(selected)
        return _export.long_rows(records, include_superseded=include_superseded)

    def _full_records(self, selected: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        wanted: dict[str, set[int]] = {}
        for summary in selected:
            wanted.setdefault(summary["experiment_id"], set()).add(summary["version"])
        for experiment_id, versions in wanted.items():
            for record in self._store.read_history(experiment_id):
                if record["version"] in versions:
                    yield record
