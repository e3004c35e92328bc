"""Summaries of metrics, the best record by a metric, and comparisons of versions."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypedDict, TypeVar

from experiment_manager._serialize import PLAIN_NUMBERS
from experiment_manager.errors import InvalidArgumentError
from experiment_manager.query._ast import FieldRef
from experiment_manager.query._values import AGGREGATES, _is_nan, _is_number, _mean, _usable

R = TypeVar("R", bound=Mapping[str, Any])


class MetricSummary(TypedDict):
    """The summary of one metric's values (see :func:`metric_summary`)."""

    last: Any
    min: float | None
    max: float | None
    mean: float | None
    count: int
    argmin_step: Any
    argmax_step: Any


def metric_summary(values: Sequence[Any], steps: Sequence[Any] | None = None) -> MetricSummary:
    """Summarise a metric's values.

    NaN (and any non-number) is ignored by min, max and mean; ``count`` counts every
    value; ``last`` is the last value as logged, NaN included. ``argmin_step`` /
    ``argmax_step`` give the step of the first minimum / maximum: ``steps[i]`` when
    ``steps`` is given and that entry is not None, else the index ``i``.

    Args:
        values: The metric's values in logging order.
        steps: The step of each value, parallel to ``values``, or None.

    Returns:
        A dict with ``last``, ``min``, ``max``, ``mean``, ``count``, ``argmin_step``
        and ``argmax_step``; the aggregates are None when there is no usable value.

    Example:
        >>> summary = metric_summary([0.5, float("nan"), 0.2, 0.4], steps=[10, 20, 30, None])
        >>> summary["min"], summary["argmin_step"], summary["max"], summary["argmax_step"]
        (0.2, 30, 0.5, 10)
        >>> summary["count"], summary["last"]
        (4, 0.4)
    """
    return summary_of(values, steps, None)


def summary_of(
    values: Sequence[Any], steps: Sequence[Any] | None, plain: bool | None
) -> MetricSummary:
    """:func:`metric_summary`, told whether ``values`` holds only ints and floats.

    Args:
        values: The metric's values in logging order.
        steps: The step of each value, or None.
        plain: True when every value is an int or a float (no bool, no str), False
            when not, None when unknown (then looked at).

    Returns:
        What :func:`metric_summary` returns.

    Example:
        >>> summary_of([0.5, 0.25], None, True)["mean"]
        0.375
    """
    if plain is None:
        plain = set(map(type, values)) <= PLAIN_NUMBERS
    total = _plain_total(values) if plain else None
    if total is not None:  # no NaN: the numbers are the values, their mean fsum's
        numbers = values
        mean = total / len(values) if values else None
    else:
        numbers = _usable(values, plain)
        mean = _mean(numbers) if numbers else None
    low = min(numbers) if numbers else None
    high = max(numbers) if numbers else None

    def index_of(best: Any) -> int | None:
        if best is None:
            return None
        if numbers is values:  # plain numbers: index() finds the first equal one in C
            return values.index(best)
        return next(i for i, v in enumerate(values) if v == best and not isinstance(v, bool))

    def step_of(index: int | None) -> Any:
        if index is None:
            return None
        if steps is not None and index < len(steps) and steps[index] is not None:
            return steps[index]
        return index

    return MetricSummary(
        last=values[-1] if len(values) else None,
        min=low,
        max=high,
        mean=mean,
        count=len(values),
        argmin_step=step_of(index_of(low)),
        argmax_step=step_of(index_of(high)),
    )


def _plain_total(values: Sequence[int | float]) -> float | None:
    """``math.fsum`` of plain numbers, or None when one is NaN or the sum fails.

    fsum gives NaN only when a value is NaN (infinities of both signs raise instead),
    so a sum that is not NaN shows in one pass that every value is usable.
    """
    try:
        total = math.fsum(values)
    except (ValueError, OverflowError):  # inf + -inf, or too big: _mean knows what to do
        return None
    return None if math.isnan(total) else total


def best_record(
    records: Iterable[R], metric: str, mode: str = "min", agg: str | None = None
) -> R | None:
    """Return the record with the best value of a metric.

    Args:
        records: Records to choose from.
        metric: The metric's name, e.g. ``"val acc"``.
        mode: ``"min"`` when lower is better, ``"max"`` when higher is better.
        agg: Which aggregate of the metric to rank by (one of :data:`AGGREGATES`);
            by default the metric's minimum for mode min and maximum for mode max.

    Returns:
        The best record (the first one on a tie), or None when no record has a
        usable (numeric, non-NaN) value.

    Raises:
        InvalidArgumentError: ``mode``, ``agg`` or ``metric`` is not valid.

    Example:
        >>> records = [{"version": 1, "metrics": {"acc": [0.9, 0.5]}},
        ...            {"version": 2, "metrics": {"acc": [0.8]}}]
        >>> best_record(records, "acc", mode="max")["version"]
        1
        >>> best_record(records, "acc", mode="max", agg="last")["version"]
        2
    """
    if mode not in ("min", "max"):
        raise InvalidArgumentError("mode", mode, "must be 'min' or 'max'")
    if agg is None:
        agg = mode
    if agg not in AGGREGATES:
        raise InvalidArgumentError("agg", agg, f"must be one of {', '.join(AGGREGATES)} or None")
    if not isinstance(metric, str):
        raise InvalidArgumentError("metric", metric, "must be a string")
    ref = FieldRef("metrics", (metric,), agg)
    better = operator.lt if mode == "min" else operator.gt
    best: R | None = None
    best_value: Any = None
    for record in records:
        found, value = ref.lookup(record)
        if not found or not _is_number(value) or _is_nan(value):
            continue
        if best is None or better(value, best_value):
            best, best_value = record, value
    return best


class RecordComparison(TypedDict):
    """What :func:`compare_records` returns."""

    experiment_id: Any
    versions: list[Any]
    hyperparameters: dict[str, list[Any]]
    metadata: dict[str, list[Any]]
    environment: dict[str, list[Any]]
    metrics: dict[Any, dict[str, MetricSummary]]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    if not isinstance(value, Mapping):
        return flat
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping) and item:
            flat.update(_flatten(item, name))
        else:
            flat[name] = item
    return flat


def _same(a: Any, b: Any) -> bool:
    """Equality that tells 1 from True and 1.0, and holds NaN equal to NaN."""
    if _is_nan(a) or _is_nan(b):
        return _is_nan(a) and _is_nan(b)
    if type(a) is not type(b) and not (_is_number(a) and _is_number(b)):
        return False
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _differences(sections: list[Any]) -> dict[str, list[Any]]:
    flats = [_flatten(section) for section in sections]
    keys = dict.fromkeys(key for flat in flats for key in flat)
    result: dict[str, list[Any]] = {}
    for key in keys:
        values = [flat.get(key) for flat in flats]
        if not all(_same(values[0], value) for value in values[1:]):
            result[key] = values
    return result


def compare_records(records: Iterable[Mapping[str, Any]]) -> RecordComparison:
    """Compare two or more versions of one experiment.

    Nested dicts are flattened to dotted keys (``opt.name``). A key missing from a
    record shows as None there, and counts as equal to None: only keys whose values
    differ are listed. NaN equals NaN; ``1`` differs from ``True``.

    Args:
        records: Two or more records of the same experiment, with distinct versions.

    Returns:
        A dict with ``experiment_id``; ``versions`` (in the given order);
        ``hyperparameters``, ``metadata`` and ``environment``, each mapping a key
        that differs to the list of every record's value (parallel to ``versions``);
        and ``metrics``: version -> metric name -> :func:`metric_summary` (using the
        record's ``steps`` when it has them).

    Raises:
        InvalidArgumentError: Fewer than two records, records of different
            experiments, or the same version twice.

    Example:
        >>> a = {"experiment_id": "m", "version": 1, "hyperparameters": {"lr": 0.1, "bs": 32},
        ...      "metadata": {}, "metrics": {"loss": [0.5, 0.3]}}
        >>> b = {"experiment_id": "m", "version": 2, "hyperparameters": {"lr": 0.01, "bs": 32},
        ...      "metadata": {}, "metrics": {"loss": [0.4]}}
        >>> diff = compare_records([a, b])
        >>> diff["hyperparameters"]
        {'lr': [0.1, 0.01]}
        >>> diff["metrics"][1]["loss"]["min"], diff["metrics"][2]["loss"]["min"]
        (0.3, 0.4)
    """
    items = list(records)

    def summaries(record: Mapping[str, Any]) -> dict[str, MetricSummary]:
        all_steps = record.get("steps")
        all_steps = all_steps if isinstance(all_steps, Mapping) else {}
        series = record.get("metrics")
        return {
            name: metric_summary(values, all_steps.get(name))
            for name, values in (series.items() if isinstance(series, Mapping) else ())
            if isinstance(values, (list, tuple))
        }

    return _comparison(items, summaries)


def compare_summaries(summaries: Iterable[Mapping[str, Any]]) -> RecordComparison:
    """Compare versions by their summaries (records without points), as the index has them.

    The same result as :func:`compare_records` on the full records, without reading a
    single point: ``metrics`` is each summary's ``metric_summaries``.

    Args:
        summaries: Two or more summaries (such as ``list_versions`` returns) of the
            same experiment, with distinct versions.

    Returns:
        As :func:`compare_records`.

    Raises:
        InvalidArgumentError: As :func:`compare_records`.

    Example:
        >>> a = {"experiment_id": "m", "version": 1, "hyperparameters": {"lr": 0.1},
        ...      "metric_summaries": {"loss": {"last": 0.3, "min": 0.3}}}
        >>> b = {"experiment_id": "m", "version": 2, "hyperparameters": {"lr": 0.01}}
        >>> diff = compare_summaries([a, b])
        >>> diff["hyperparameters"], diff["metrics"]
        ({'lr': [0.1, 0.01]}, {1: {'loss': {'last': 0.3, 'min': 0.3}}, 2: {}})
    """

    def metrics(summary: Mapping[str, Any]) -> dict[str, MetricSummary]:
        found = summary.get("metric_summaries")
        return dict(found) if isinstance(found, Mapping) else {}

    return _comparison(list(summaries), metrics)


def _comparison(
    items: list[Mapping[str, Any]],
    summarize: Callable[[Mapping[str, Any]], dict[str, MetricSummary]],
) -> RecordComparison:
    if len(items) < 2:
        raise InvalidArgumentError("records", len(items), "need at least two records")
    experiment_ids = list(dict.fromkeys(record.get("experiment_id") for record in items))
    if len(experiment_ids) > 1:
        raise InvalidArgumentError(
            "records", experiment_ids, "all records must belong to one experiment"
        )
    versions = [record.get("version") for record in items]
    if len(set(map(repr, versions))) != len(versions):
        raise InvalidArgumentError("records", versions, "the same version appears twice")
    metrics = {version: summarize(record) for record, version in zip(items, versions, strict=True)}
    return RecordComparison(
        experiment_id=experiment_ids[0],
        versions=versions,
        hyperparameters=_differences([record.get("hyperparameters") for record in items]),
        metadata=_differences([record.get("metadata") for record in items]),
        environment=_differences([record.get("environment") for record in items]),
        metrics=metrics,
    )
