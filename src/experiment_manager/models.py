"""Dataclasses that cross layers: what a version of an experiment is."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ExperimentRecord", "SearchResults", "VersionTable"]


@dataclass
class ExperimentRecord:
    """One run (version) of an experiment, as the specification defines it.

    Attributes:
        experiment_id: Unique identifier of the experiment series.
        version: Version number, 1 for the first run of an id, then 2, 3, ...
        created_at: ISO 8601 time the version was started, with its UTC offset.
        config_name: Name of the configuration used.
        hyperparameters: Hyperparameters of the run, as stored (JSON types).
        metadata: Metadata of the run, with the four documented keys filled in.
        metrics: Metric name to the list of its values, in logging order.
        checkpoints: Checkpoint paths, in the order they were added.
        status: ``running``, ``finished``, ``failed``, ``killed`` or ``crashed``.
        ended_at: ISO 8601 time the version ended, or None while it runs.
        duration: Seconds from ``created_at`` to ``ended_at``, or None.
        error: For a failed run, the exception's ``type`` and ``message``.
        environment: What the run was started from (see ``capture_environment``),
            or None when capture was turned off.
        resumed: One entry (``at``, ``from_status``, ``pid``, ``hostname``) per
            resume of the version.
        checkpoint_details: One dict per checkpoint: ``path``, ``abspath``,
            ``step``, ``added_at``, ``exists``, ``size``, ``mtime``, ``sha256`` and
            ``metrics``.

    Example:
        >>> record = ExperimentRecord("mnist", 1, "2026-01-01T00:00:00+00:00", "mnist", {}, {})
        >>> record.metrics, record.checkpoints
        ({}, [])
    """

    experiment_id: str
    version: int
    created_at: str
    config_name: str
    hyperparameters: dict[str, Any]
    metadata: dict[str, Any]
    metrics: dict[str, list[Any]] = field(default_factory=dict)
    checkpoints: list[str] = field(default_factory=list)
    status: str = "running"
    ended_at: str | None = None
    duration: float | None = None
    error: dict[str, str] | None = None
    environment: dict[str, Any] | None = None
    resumed: list[dict[str, Any]] = field(default_factory=list)
    checkpoint_details: list[dict[str, Any]] = field(default_factory=list)

    def __enter__(self) -> ExperimentRecord:
        """Use the active record of ``start_experiment`` or ``resume_experiment`` in ``with``.

        The version ends as ``finished`` when the block ends normally, ``failed`` (with
        the exception) when an exception leaves it, ``killed`` on ``KeyboardInterrupt``;
        the exception goes on unchanged.

        Returns:
            The record.

        Raises:
            TypeError: The record is not one a manager made active.

        Example:
            >>> import tempfile
            >>> from experiment_manager import ExperimentManager
            >>> manager = ExperimentManager(tempfile.mkdtemp())
            >>> with manager.start_experiment("exp", {}, {}) as record:
            ...     manager.log_metrics({"loss": 0.5})
            >>> with manager.resume_experiment("exp") as record:
            ...     manager.log_metrics({"loss": 0.4})
            >>> manager.read_history("exp")[0]["status"], record.metrics["loss"]
            ('finished', [0.5, 0.4])
        """
        if getattr(self, "_end", None) is None:
            raise TypeError(
                "only a record that start_experiment or resume_experiment returned can be "
                "used in a with statement"
            )
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        """End the version as the block ended (see :meth:`__enter__`)."""
        end = getattr(self, "_end", None)
        if end is not None:
            end(error)

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a plain dict with the specification's keys.

        Returns:
            A deep copy; changing it does not change the record.

        Example:
            >>> ExperimentRecord("a", 1, "t", "a", {}, {}).to_dict()["version"]
            1
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentRecord:
        """Build a record from a dict such as one returned by ``read_history``.

        Keys that are not fields of the record are ignored, so dicts from newer
        versions of the library, which carry more keys, are accepted.

        Args:
            data: A dict with at least the six required keys.

        Returns:
            A new record (lists and dicts copied one level deep); keys absent from
            ``data`` get their defaults.

        Raises:
            KeyError: A required key is missing.

        Example:
            >>> data = {"experiment_id": "a", "version": 2, "created_at": "t",
            ...         "config_name": "a", "hyperparameters": {}, "metadata": {}}
            >>> ExperimentRecord.from_dict(data).version
            2
        """
        return cls(
            experiment_id=data["experiment_id"],
            version=data["version"],
            created_at=data["created_at"],
            config_name=data["config_name"],
            hyperparameters=dict(data["hyperparameters"]),
            metadata=dict(data["metadata"]),
            metrics={name: list(values) for name, values in data.get("metrics", {}).items()},
            checkpoints=list(data.get("checkpoints", [])),
            status=data.get("status", "running"),
            ended_at=data.get("ended_at"),
            duration=data.get("duration"),
            error=data.get("error"),
            environment=data.get("environment"),
            resumed=list(data.get("resumed") or []),
            checkpoint_details=list(data.get("checkpoint_details") or []),
        )


class SearchResults(list[dict[str, Any]]):
    """What ``search`` returns: the matching summaries (a list) and the histories skipped.

    Args:
        found: The matching version summaries, in order.
        damaged: The histories that could not be parsed, as ``list_experiments``
            reports them.

    Attributes:
        damaged: One ``{"experiment_id": ..., "error": ...}`` per history that was
            skipped because it cannot be parsed (``error`` names the file and what
            is wrong with it), sorted by id; empty when every history was read.
            A ``*.json`` that is no history at all (a stray ``config.json``) is not
            in it: it is no experiment's history.

    Example:
        >>> found = SearchResults([{"experiment_id": "a", "version": 1}],
        ...                       [{"experiment_id": "b", "error": "corrupt history file"}])
        >>> len(found), found[0]["version"], [d["experiment_id"] for d in found.damaged]
        (1, 1, ['b'])
    """

    def __init__(
        self,
        found: Iterable[dict[str, Any]] = (),
        damaged: Iterable[dict[str, str]] = (),
    ) -> None:
        super().__init__(found)
        self.damaged: list[dict[str, str]] = list(damaged)


@dataclass
class VersionTable:
    """The versions of one experiment as columns: what a listing of them shows.

    Every list has one entry per version, in version order, so row ``i`` of the
    table is ``version[i]``. Values are decoded as in ``list_versions``.

    Attributes:
        experiment_id: The experiment.
        version: The version numbers, ascending.
        status: Each version's status (``crashed`` for a run whose process died).
        created_at: Each version's start time (ISO 8601), or None.
        duration: Each version's duration in seconds, or None while it runs.
        hyperparameters: Each version's hyperparameters (``{}`` when it has none).
        last: Metric name (sorted) to each version's last value of that metric;
            None for a version without a value of it.
        name: Each version's name (its ``config_name`` unless one was set).
        tags: Each version's tags, sorted.
        hidden: Why each version is hidden from listings by default: ``archived``,
            ``trashed`` or ``purged`` (see ``ExperimentManager.archive``), or None.

    Example:
        >>> table = VersionTable("exp", [1, 2], ["finished", "failed"], [None, None],
        ...                      [1.5, None], [{"lr": 0.1}, {"lr": 0.2}], {"loss": [0.3, None]})
        >>> len(table), table.last["loss"][0]
        (2, 0.3)
    """

    experiment_id: str
    version: list[int] = field(default_factory=list)
    status: list[str | None] = field(default_factory=list)
    created_at: list[str | None] = field(default_factory=list)
    duration: list[float | int | None] = field(default_factory=list)
    hyperparameters: list[dict[str, Any]] = field(default_factory=list)
    last: dict[str, list[Any]] = field(default_factory=dict)
    name: list[str | None] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)
    hidden: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        """The number of versions (rows)."""
        return len(self.version)

    def rows(self, keep: list[int]) -> VersionTable:
        """A table of some of the rows, in the order given.

        Args:
            keep: Row indices.

        Returns:
            A new table (the lists are new; the values are shared).

        Example:
            >>> table = VersionTable("exp", [1, 2], ["finished", "failed"], [None, None],
            ...                      [1.5, None], [{}, {}], {"loss": [0.3, None]})
            >>> table.rows([1]).version, table.rows([1]).last
            ([2], {'loss': [None]})
        """

        def pick(column: list[Any]) -> list[Any]:
            return [column[i] for i in keep] if column else []

        return VersionTable(
            experiment_id=self.experiment_id,
            version=pick(self.version),
            status=pick(self.status),
            created_at=pick(self.created_at),
            duration=pick(self.duration),
            hyperparameters=pick(self.hyperparameters),
            last={name: pick(column) for name, column in self.last.items()},
            name=pick(self.name),
            tags=pick(self.tags),
            hidden=pick(self.hidden),
        )
