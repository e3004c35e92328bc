"""Metric summaries of plain lists take fewer passes; they must say what they said before.

``metric_summary`` learns from one ``math.fsum`` that plain numbers hold no NaN, and
the index's ``summarize`` looks at the types once and at a times list shared by
several metrics once. Each is checked here against a plain reading of its contract.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timezone
from typing import Any

import pytest

from experiment_manager.query import metric_summary
from experiment_manager.stores._index import summarize

NAN, INF = math.nan, math.inf


def expected_summary(values: list[Any], steps: list[Any] | None) -> dict[str, Any]:
    """The contract, one value at a time: NaN and non-numbers left out of the aggregates."""
    numbers = [
        (i, v)
        for i, v in enumerate(values)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)
    ]

    def step(index: int | None) -> Any:
        if index is None:
            return None
        if steps is not None and index < len(steps) and steps[index] is not None:
            return steps[index]
        return index

    if not numbers:
        low = high = mean = low_at = high_at = None
    else:
        low = min(v for _, v in numbers)
        high = max(v for _, v in numbers)
        low_at = next(i for i, v in numbers if v == low)
        high_at = next(i for i, v in numbers if v == high)
        plain = [v for _, v in numbers]
        if INF in plain and -INF in plain:
            mean = NAN
        else:
            try:
                mean = math.fsum(plain) / len(plain)
            except OverflowError:  # summed as floats, the ones from 1e308 on as infinities
                mean = sum(v if abs(v) < 1e308 else math.copysign(INF, v) for v in plain)
                mean /= len(plain)
    return {
        "last": values[-1] if values else None,
        "min": low,
        "max": high,
        "mean": mean,
        "count": len(values),
        "argmin_step": step(low_at),
        "argmax_step": step(high_at),
    }


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal, NaN equal to NaN, and the sign of zero compared too."""
    return {k: repr(v) for k, v in a.items()} == {k: repr(v) for k, v in b.items()}


CASES = [
    [],
    [0.5],
    [0.5, 0.25, 0.75, 0.25],
    [3, 1, 2],
    [1, 2.5, -3],
    [NAN],
    [NAN, NAN],
    [0.5, NAN, 0.25],
    [NAN, 1, 2],
    [INF, 1.0],
    [-INF, 1.0],
    [INF, -INF, 1.0],
    [INF, NAN, -INF],
    [1e308, 1e308, -1.0],
    [1.7976931348623157e308] * 3,
    [0.0, -0.0],
    [-0.0, 0.0],
    [2**63 - 1, 1],
    [2**63 - 1, -(2**63)],  # the ints a store holds (64 bits)
    [True, 1.0],
    ["a", 1.0, None],
    [0.1] * 10,
]


@pytest.mark.parametrize("values", CASES, ids=[repr(c)[:40] for c in CASES])
def test_metric_summary_keeps_its_contract(values: list[Any]) -> None:
    steps = [10 * i for i in range(len(values))]
    assert same(dict(metric_summary(values)), expected_summary(values, None))
    assert same(dict(metric_summary(values, steps)), expected_summary(values, steps))


def test_metric_summary_of_random_lists() -> None:
    rng = random.Random(7)
    pool = [NAN, INF, -INF, 0.0, -0.0, 1e308, -1e308, 3, -2]
    for _ in range(500):
        values: list[Any] = [rng.uniform(-1, 1) for _ in range(rng.randint(0, 30))]
        for _ in range(rng.randint(0, 3)):
            if values:
                values[rng.randrange(len(values))] = rng.choice(pool)
        assert same(dict(metric_summary(values)), expected_summary(values, None)), values


def _stored(timestamps: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "metrics": metrics, "timestamps": timestamps, "steps": {}}


def _newest(timestamps: dict[str, list[Any]]) -> str | None:
    # Each metric's newest (0 when it has none), the newest of those.
    newest = max((max([t for t in c if t], default=0) for c in timestamps.values()), default=0)
    if not newest:
        return None
    return datetime.fromtimestamp(newest, timezone.utc).isoformat(timespec="microseconds")


@pytest.mark.parametrize(
    "columns",
    [
        {"a": [1.5, 2.5], "b": [3.5, 0.5]},
        {"a": [None, 2.5, None], "b": []},
        {"a": [0.0, 0.0]},
        {"a": [-5.0, 0.0], "b": [None]},
        {"a": [-5.0, -2.0]},
        {"a": [None, -2.0, 4.0]},
        {},
    ],
)
def test_last_logged_at_is_the_newest_time(columns: dict[str, list[Any]]) -> None:
    metrics = {name: [1.0] * len(column) for name, column in columns.items()}
    assert summarize(_stored(columns, metrics))["last_logged_at"] == _newest(columns)


def test_one_times_list_shared_by_metrics_is_read_once_and_right() -> None:
    times = [1_700_000_000.0 + i for i in range(100)]
    stored = _stored(
        {"a": times, "b": times, "c": [1_700_000_500.0]},
        {"a": [0.5] * 100, "b": ["NaN"] * 100, "c": [1]},
    )
    summary = summarize(stored)
    assert summary["last_logged_at"] == _newest(stored["timestamps"])
    assert summary["metric_summaries"]["b"]["last"] == "NaN"  # stored form kept
    assert summary["metric_summaries"]["b"]["min"] is None
    assert summary["metric_summaries"]["a"]["mean"] == 0.5


def test_summarize_stores_non_finite_aggregates_as_text() -> None:
    stored = _stored({}, {"a": ["Infinity", 1.0], "b": [2, 3], "c": [0.5, "NaN", 0.25]})
    summaries = summarize(stored)["metric_summaries"]
    assert summaries["a"]["max"] == "Infinity"
    assert summaries["a"]["mean"] == "Infinity"
    assert summaries["b"] == dict(metric_summary([2, 3]))
    assert summaries["c"]["last"] == 0.25
    assert summaries["c"]["mean"] == 0.375
