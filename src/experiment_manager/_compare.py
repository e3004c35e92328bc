"""Comparing versions of any experiments: ``A@1`` against ``B@2``, by their summaries.

:meth:`ExperimentManager.compare` compares versions of one experiment;
:func:`compare_refs` compares any versions, each named by its experiment and number,
and adds what a person reads first: each version's config name, name, status and
duration. Fields that differ between any two runs whatever was changed (the process
id, the command line) are left out unless asked for, and named in ``hidden``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from experiment_manager._naming import validate_experiment_id
from experiment_manager.errors import ExperimentNotFoundError, InvalidArgumentError

if TYPE_CHECKING:
    from experiment_manager.stores.base import Store

__all__ = ["ALWAYS_DIFFERENT", "RUN_FIELDS", "compare_refs", "ref_text"]

#: Dotted keys that differ between any two runs: hidden from a comparison by default.
ALWAYS_DIFFERENT = ("environment.pid", "environment.argv")
#: Each version's own fields, shown side by side whether or not they differ.
RUN_FIELDS = ("config_name", "name", "status", "duration", "created_at")


def ref_text(experiment_id: str, version: int) -> str:
    """How a version is named across experiments: ``id@version``.

    Args:
        experiment_id: The experiment.
        version: The version.

    Returns:
        The text.

    Example:
        >>> ref_text("mnist", 3)
        'mnist@3'
    """
    return f"{experiment_id}@{version}"


def compare_refs(
    store: Store, refs: Sequence[tuple[str, int]], *, all_fields: bool = False
) -> dict[str, Any]:
    """Compare versions of any experiments by their summaries (no point is read).

    Args:
        store: Where the versions are.
        refs: Two or more ``(experiment_id, version)``, distinct.
        all_fields: Keep :data:`ALWAYS_DIFFERENT` keys too.

    Returns:
        ``refs`` (``id@version`` texts), ``versions`` (``{"experiment_id",
        "version"}`` each), ``run`` (each of :data:`RUN_FIELDS` to every version's
        value), ``hyperparameters``, ``metadata`` and ``environment`` (dotted key to
        every version's value, keys whose values differ), ``metrics`` (ref text to
        metric name to its aggregates) and ``hidden`` (keys left out that differ).

    Raises:
        InvalidArgumentError: Fewer than two versions, or one named twice.
        ExperimentNotFoundError: A version does not exist (or is in the trash).

    Example:
        >>> import tempfile
        >>> from experiment_manager import ExperimentManager
        >>> manager = ExperimentManager(tempfile.mkdtemp(), capture_environment=False)
        >>> _ = manager.start_experiment("a", {"lr": 0.1}, {})
        >>> _ = manager.start_experiment("b", {"lr": 0.2}, {})
        >>> found = compare_refs(manager.store, [("a", 1), ("b", 1)])
        >>> found["refs"], found["hyperparameters"], found["run"]["config_name"]
        (['a@1', 'b@1'], {'lr': [0.1, 0.2]}, ['a', 'b'])
    """
    from experiment_manager import query as _query

    pairs = [(validate_experiment_id(e), v) for e, v in refs]
    if len(pairs) < 2:
        raise InvalidArgumentError("versions", len(pairs), "need at least two versions")
    if len(set(pairs)) != len(pairs):
        raise InvalidArgumentError("versions", [ref_text(*p) for p in pairs], "a version twice")
    by_experiment: dict[str, dict[int, dict[str, Any]]] = {}
    for experiment_id, _ in pairs:
        if experiment_id not in by_experiment:
            by_experiment[experiment_id] = {s["version"]: s for s in store.summaries(experiment_id)}
    summaries = []
    for experiment_id, version in pairs:
        summary = by_experiment[experiment_id].get(version)
        if summary is None or summary.get("trashed_at") or summary.get("purged_at"):
            raise ExperimentNotFoundError(experiment_id, version)
        # One experiment id for all: the comparison then tells the versions apart by
        # the ref text it is given as each one's version.
        summaries.append(
            {**summary, "experiment_id": "", "version": ref_text(experiment_id, version)}
        )
    found = _query.compare_summaries(summaries)
    hidden = []
    result: dict[str, Any] = {
        "refs": [ref_text(*p) for p in pairs],
        "versions": [{"experiment_id": e, "version": v} for e, v in pairs],
        "run": {key: [s.get(key) for s in summaries] for key in RUN_FIELDS},
    }
    for section in ("hyperparameters", "metadata", "environment"):
        kept = {}
        for key, values in found[section].items():
            if not all_fields and f"{section}.{key}" in ALWAYS_DIFFERENT:
                hidden.append(f"{section}.{key}")
            else:
                kept[key] = values
        result[section] = kept
    result["metrics"] = found["metrics"]
    result["hidden"] = sorted(hidden, key=ALWAYS_DIFFERENT.index)
    return result
