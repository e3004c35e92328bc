"""Tests of the filter language, sorting, summaries and comparisons in query.py."""

from __future__ import annotations

import dataclasses
import doctest
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiment_manager import query as query_module
from experiment_manager.errors import InvalidArgumentError, QuerySyntaxError
from experiment_manager.query import (
    AGGREGATES,
    FieldRef,
    Query,
    best_record,
    compare_records,
    filter_records,
    metric_summary,
    parse_order_by,
    parse_query,
    search_records,
    sort_records,
)

# Every test runs on each backend: small and big folder histories, and memory.
pytestmark = pytest.mark.usefixtures("each_store")

NAN = math.nan
INF = math.inf


def _record(
    experiment_id: str,
    version: int,
    created_at: str,
    hyperparameters: dict[str, Any],
    metrics: dict[str, list[Any]],
    metadata: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "experiment_id": experiment_id,
        "version": version,
        "created_at": created_at,
        "config_name": extra.pop("config_name", experiment_id),
        "hyperparameters": hyperparameters,
        "metadata": metadata if metadata is not None else {},
        "metrics": metrics,
        "checkpoints": extra.pop("checkpoints", []),
    }
    record.update(extra)
    return record


RECORDS: list[dict[str, Any]] = [
    _record(
        "mnist",
        1,
        "2026-11-01T10:00:00+00:00",
        {
            "lr": 0.1,
            "opt": {"name": "sgd", "momentum": 0.9},
            "learning rate": 1,
            "batch_size": 32,
            "tags": ["baseline", "cnn"],
        },
        {"loss": [0.9, 0.5, 0.3], "val acc": [0.7, 0.8]},
        {"precision": "float32", "note": "first run"},
        status="finished",
        duration=12.5,
        checkpoints=["a.npz", "best.npz"],
        environment={"python": "3.11", "git": {"dirty": False}},
    ),
    _record(
        "mnist",
        2,
        "2026-11-02T09:00:00+00:00",
        {"lr": 0.01, "opt": {"name": "adam"}, "learning rate": 0.5, "batch_size": 64},
        {"loss": [0.8, NAN, 0.6]},
        {"precision": "float16"},
        status="failed",
        duration=None,
    ),
    _record(
        "mnist",
        3,
        "2026-11-15T08:00:00+00:00",
        {"lr": 0.001, "use_bn": True, "batch_size": 32},
        {"loss": [], "val acc": [0.85]},
        {"precision": "float32"},
        status="running",
    ),
    _record(
        "mnist",
        4,
        "2026-11-20T00:00:00+00:00",
        {"lr": "auto", "batch_size": 32},
        {"loss": [NAN, NAN]},
    ),
    _record(
        "mnist",
        5,
        "2026-11-21T00:00:00+00:00",
        {"lr": 1, "a.b": 5, "layers": [64, 32]},
        {"loss": [INF, 2.0], "val acc": [0.9, 0.95]},
        {"precision": "bfloat16"},
        status="crashed",
        duration=3,
        steps={"loss": [10, 20]},
    ),
    _record(
        "mnist",
        6,
        "2026-11-22T00:00:00+00:00",
        {"opt": {"name": "sgd"}, "use_bn": False},
        {"loss": [-1.5, 1e-3]},
        status="killed",
        duration=100.0,
    ),
    _record(
        "mnist",
        7,
        "2026-11-29T00:13:43.267335+00:00",
        {"lr": 0.1, "dropout": None, "opt": {"name": "sgd"}},
        {"loss": [0.2, 0.25]},
        {"note": 'it\'s "quoted"'},
        status="finished",
        duration=7.0,
        environment={"python": "3.12"},
    ),
    _record(
        "cifar",
        1,
        "2026-11-10T00:00:00+00:00",
        {"lr": 0.05, "batch_size": 128},
        {"loss": [1.0]},
        config_name="cifar10",
        status="finished",
        duration=50.0,
    ),
]

ALL = "m1 m2 m3 m4 m5 m6 m7 c1"


def labels(records: list[dict[str, Any]]) -> str:
    return " ".join(f"{r['experiment_id'][0]}{r['version']}" for r in records)


QUERY_CASES = [
    # status, missing status (m4), null
    ("status = 'finished'", "m1 m7 c1"),
    ("status == 'finished'", "m1 m7 c1"),
    ("status = 'FINISHED'", ""),
    ("status != 'finished'", "m2 m3 m5 m6"),
    ("not status = 'finished'", "m2 m3 m4 m5 m6"),
    ("status = 'failed' OR status = 'killed'", "m2 m6"),
    ("status in ('failed', 'crashed')", "m2 m5"),
    ("status in ('failed', 'crashed',)", "m2 m5"),
    ("status = null", "m4"),
    ("status != null", "m1 m2 m3 m5 m6 m7 c1"),
    # hyperparameters, aliases, numbers vs strings vs bools
    ("hp.lr < 0.05", "m2 m3"),
    ("hp.lr >= 0.1", "m1 m5 m7"),
    ("hp.lr = 1", "m5"),
    ("hp.lr = 1.0", "m5"),
    ("hp.lr == 0.01", "m2"),
    ("hp.lr = 'auto'", "m4"),
    ("hp.lr > 'a'", "m4"),
    ("hp.lr = 1e-3", "m3"),
    ("hp.lr = 10E-4", "m3"),
    ("params.lr = 0.1", "m1 m7"),
    ("hyperparameters.lr = 0.1", "m1 m7"),
    ("hp.lr in (0.1, 'auto', null)", "m1 m4 m6 m7"),
    ("not (hp.lr < 0.05)", "m1 m4 m5 m6 m7 c1"),
    ("not not hp.lr < 0.05", "m2 m3"),
    ("hp.lr < 0.05 OR hp.lr = 'auto'", "m2 m3 m4"),
    ("Not hp.lr < 0.05 aNd hp.lr > 0.05", "m1 m5 m7"),
    ('hp.opt.name = "sgd"', "m1 m6 m7"),
    ("hp.opt.momentum > 0.5", "m1"),
    ("hp.opt > 1", ""),
    ("hp.opt = null", "m3 m4 m5 c1"),
    ("hyperparameters.`learning rate` > 0.1", "m1 m2"),
    ('hyperparameters."learning rate" = 0.5', "m2"),
    ("hp.'learning rate' = 1", "m1"),
    ("hp.use_bn = true", "m3"),
    ("hp.use_bn = FALSE", "m6"),
    ("hp.use_bn = 1", ""),
    ("hp.use_bn != true", "m6"),
    ("hp.use_bn > false", ""),
    ("hp.dropout = null", ALL),
    ("hp.dropout != null", ""),
    ("hp.tags contains 'cnn'", "m1"),
    ("hp.tags contains 'cn'", ""),
    ("hp.opt contains 'momentum'", "m1"),
    ("hp.layers contains 64", "m5"),
    ("hp.layers.0 = 64", "m5"),
    ("hp.layers.2 = 64", ""),
    ("hp.layers.\u00b2 = 64", ""),
    ("hp.a.b = 5", "m5"),
    ("hp.`a.b` = 5", "m5"),
    ("hp.batch_size = 32 AND NOT metadata.precision = 'float32'", "m4"),
    # metrics aggregates: NaN ignored by min/max/mean, count counts all, empty = missing
    ("metrics.loss.min < 0.5", "m1 m6 m7"),
    ("metrics.loss.min = -1.5", "m6"),
    ("metrics.loss.min < -1e0", "m6"),
    ("metrics.loss.max > 1", "m5"),
    ("metrics.loss.last = 0.6", "m2"),
    ("metrics.loss.last = 1E-3", "m6"),
    ("metrics.loss.last != 0.6", "m1 m4 m5 m6 m7 c1"),
    ("metrics.loss.count = 0", "m3"),
    ("metrics.loss.count >= 2", "m1 m2 m4 m5 m6 m7"),
    ("metrics.loss.mean <= 0.6", "m1 m6 m7"),
    ("metrics.loss.min = null", "m3 m4"),
    ('metrics."val acc".max >= 0.8', "m1 m3 m5"),
    ("metrics.`val acc`.last < 0.9", "m1 m3"),
    ('not metrics."val acc".max >= 0.8', "m2 m4 m6 m7 c1"),
    ("metrics.acc.max > 0", ""),
    # top-level fields
    ("version > 5", "m6 m7"),
    ("version >= 1 and experiment_id = 'cifar'", "c1"),
    ("  version=1  ", "m1 c1"),
    ("version = 1 and ((experiment_id = 'cifar'))", "c1"),
    ("experiment_id > 5", ""),
    ("created_at >= '2026-11-20'", "m4 m5 m6 m7"),
    ('created_at < "2026-11-02"', "m1"),
    ("duration > 10", "m1 m6 c1"),
    ("duration = null", "m2 m3 m4"),
    ("not duration > 10", "m2 m3 m4 m5 m7"),
    ("config_name contains 'cifar'", "c1"),
    ("config_name = '\\u0063ifar10'", "c1"),
    ("checkpoints contains 'best.npz'", "m1"),
    ("environment.git.dirty = false", "m1"),
    ("environment.python >= '3.12'", "m7"),
    # metadata and string escapes
    ("metadata.precision = 'float32'", "m1 m3"),
    ("metadata.note = 'it\\'s \"quoted\"'", "m7"),
    ('metadata.note = "it\'s \\"quoted\\""', "m7"),
    ('metadata.note contains "run"', "m1"),
    # precedence and grouping
    ("(status = 'finished' or status = 'crashed') and hp.lr < 0.5", "m1 m7 c1"),
    ("status = 'finished' or status = 'crashed' and hp.lr < 0.5", "m1 m7 c1"),
    ("status = 'crashed' or status = 'finished' and hp.lr < 0.5", "m1 m5 m7 c1"),
    ("(status = 'crashed' or status = 'finished') and hp.lr < 0.5", "m1 m7 c1"),
]


@pytest.mark.parametrize(("text", "expected"), QUERY_CASES)
def test_query_matches(text: str, expected: str) -> None:
    assert labels(filter_records(RECORDS, text)) == expected


@pytest.mark.parametrize(("text", "expected"), QUERY_CASES[:10])
def test_parsed_query_gives_the_same_result(text: str, expected: str) -> None:
    parsed = parse_query(text)
    assert parsed.text == text
    assert labels(filter_records(RECORDS, parsed)) == expected
    assert [parsed.matches(r) for r in RECORDS] == [
        f"{r['experiment_id'][0]}{r['version']}" in expected.split() for r in RECORDS
    ]


SYNTAX_ERRORS = [
    ("", 0, "empty"),
    ("   ", 3, "empty"),
    ("foo.bar = 1", 0, "unknown field"),
    ("hp.lr > 0.1 and metrics.loss.median < 1", 16, "unknown aggregate"),
    ("metrics.loss > 1", 0, "aggregate"),
    ("metrics > 1", 0, "aggregate"),
    ("hyperparameters = 1", 0, "needs a key"),
    ("status.x = 1", 0, "no sub-keys"),
    ("Status = 'x'", 0, "unknown field"),
    ("(status = 'failed'", 0, "unbalanced '('"),
    ("((status = 'failed')", 0, "unbalanced '('"),
    ("status = 'failed')", 17, "unbalanced ')'"),
    ("status = 'failed", 9, "unterminated string"),
    ('status = "failed', 9, "unterminated string"),
    ("hp.`lr = 1", 3, "unterminated key"),
    ("hp.lr = 'a\\'", 8, "unterminated string"),
    ("hp.lr", 5, "expected an operator"),
    ("hp.lr <", 7, "expected a value"),
    ("hp.lr < 0.1 hp.x = 2", 12, "expected 'and', 'or'"),
    ("hp.lr = finished", 8, "quote strings"),
    ("and hp.lr = 1", 0, "expected a field"),
    ("hp.lr = 1 and", 13, "expected a field"),
    ("hp.lr = 1 or or hp.x = 1", 13, "expected a field"),
    ("hp. lr = 1", 3, "expected a key"),
    ("hp.lr. = 1", 6, "expected a key"),
    ("hp.lr = 1.e5", 8, "invalid number"),
    ("hp.lr = 1e", 8, "invalid number"),
    ("hp.lr = 12abc", 8, "invalid number"),
    ("hp.lr = 1e999", 8, "out of range"),
    ("hp.lr = " + "1" * 5000, 8, "out of range"),
    ("hp.lr ! 1", 6, "'!='"),
    ("hp.lr = 1 # c", 10, "unexpected character"),
    ("version = \u00b2", 10, "unexpected character"),
    ("version = \u0663", 10, "unexpected character"),
    ("hp.lr = 'a\\q'", 10, "unknown escape"),
    ("hp.lr = '\\u12'", 9, "unknown escape"),
    ("()", 1, "expected a field"),
    ("hp.lr in 1", 9, "'(' after 'in'"),
    ("hp.lr in (1, 2", 14, "',' or ')'"),
    ("hp.lr in ()", 10, "expected a value"),
    ("-hp.lr = 1", 0, "expected a field"),
    ("version > 1 asc", 12, "expected 'and', 'or'"),
    ("'status' = 1", 0, "expected a field"),
    ("1 = version", 0, "expected a field"),
    ("version = 1 (", 12, "expected 'and', 'or'"),
    ("(" * 101 + "version = 1" + ")" * 101, 100, "nested deeper"),
    ("not " * 101 + "version = 1", 400, "nested deeper"),
]


@pytest.mark.parametrize(("text", "position", "reason"), SYNTAX_ERRORS)
def test_malformed_query_raises_with_position(text: str, position: int, reason: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(text)
    error = info.value
    assert (error.position, error.query) == (position, text)
    assert reason in error.reason
    assert isinstance(error, ValueError)
    assert str(error).endswith(" " * position + "^")


def test_nesting_up_to_the_limit_parses() -> None:
    text = "(" * 100 + "version = 1" + ")" * 100
    assert labels(filter_records(RECORDS, text)) == "m1 c1"
    assert labels(filter_records(RECORDS, "not " * 100 + "version = 1")) == "m1 c1"


def test_long_flat_conjunction_does_not_recurse() -> None:
    text = " and ".join(["version >= 1"] * 5000)
    assert labels(filter_records(RECORDS, text)) == ALL


def test_filter_records_none_keeps_everything_and_same_objects() -> None:
    result = filter_records(iter(RECORDS), None)
    assert result == RECORDS
    assert all(a is b for a, b in zip(result, RECORDS, strict=True))


@pytest.mark.parametrize("bad", [42, b"version = 1", ["version = 1"]])
def test_filter_records_rejects_other_types(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        filter_records(RECORDS, bad)


def test_parse_query_rejects_non_string() -> None:
    with pytest.raises(InvalidArgumentError):
        parse_query(None)  # type: ignore[arg-type]


def test_query_is_frozen_and_compares_by_text() -> None:
    query = parse_query("version = 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.text = "version = 2"  # type: ignore[misc]
    assert query == parse_query("version = 1")
    assert query != parse_query("version = 2")
    assert isinstance(query, Query)


def test_field_lookup_prefers_nested_then_dotted_keys() -> None:
    record = {"hyperparameters": {"a": {"b": 1}, "a.b": 2, "x.y": {"z": 3}}}
    assert filter_records([record], "hp.a.b = 1") == [record]
    assert filter_records([record], "hp.`a.b` = 2") == [record]
    assert filter_records([record], "hp.x.y.z = 3") == [record]


def test_records_with_odd_shapes_do_not_raise() -> None:
    odd: list[dict[str, Any]] = [
        {},
        {"hyperparameters": None, "metrics": None},
        {"hyperparameters": [1, 2], "metrics": {"loss": "x"}},
        {"metrics": {"loss": [None, "a", True]}},
    ]
    assert filter_records(odd, "hp.lr = 1 or metrics.loss.min < 1 or status = 'x'") == []
    assert filter_records(odd, "metrics.loss.count = 3") == [odd[3]]
    assert filter_records(odd, "hp.lr = null") == odd


# --------------------------------------------------------------------------- order_by


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.loss.min", [("metrics.loss.min", False)]),
        ("metrics.loss.min desc, version asc", [("metrics.loss.min", True), ("version", False)]),
        ("-version", [("version", True)]),
        ("+version", [("version", False)]),
        ("version DESC", [("version", True)]),
        ("-hp.lr, created_at", [("hyperparameters.lr", True), ("created_at", False)]),
        ("hp.`learning rate` desc", [("hyperparameters.`learning rate`", True)]),
        ('metrics."val acc".max', [("metrics.`val acc`.max", False)]),
    ],
)
def test_parse_order_by(text: str, expected: list[tuple[str, bool]]) -> None:
    assert [(str(ref), desc) for ref, desc in parse_order_by(text)] == expected


def test_parse_order_by_returns_field_refs() -> None:
    [(ref, descending)] = parse_order_by("metrics.loss.min desc")
    assert ref == FieldRef("metrics", ("loss",), "min")
    assert descending is True


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("", 0),
        ("version,", 8),
        ("-version desc", 9),
        ("version desc desc", 13),
        ("foo", 0),
        ("version 1", 8),
        ("metrics.loss.median", 0),
        ("version = 1", 8),
    ],
)
def test_parse_order_by_errors(text: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_order_by(text)
    assert info.value.position == position


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (None, "m1 m2 m3 m4 m5 m6 m7 c1"),
        ("hp.lr", "m3 m2 c1 m1 m7 m5 m4 m6"),
        ("hp.lr desc", "m5 m1 m7 c1 m2 m3 m4 m6"),
        ("metrics.loss.min", "m6 m7 m1 m2 c1 m5 m3 m4"),
        ("-metrics.loss.min", "m5 c1 m2 m1 m7 m6 m3 m4"),
        ("metrics.loss.last", "m6 m7 m1 m2 c1 m5 m3 m4"),
        ("status, -version", "m5 m2 m7 m1 c1 m6 m3 m4"),
        ("duration", "m5 m7 m1 c1 m6 m2 m3 m4"),
        ("duration desc", "m6 c1 m1 m7 m5 m2 m3 m4"),
        ("version desc, experiment_id", "m7 m6 m5 m4 m3 m2 c1 m1"),
        ("created_at desc", "m7 m6 m5 m4 m3 c1 m2 m1"),
    ],
)
def test_sort_records(order_by: str | None, expected: str) -> None:
    assert labels(sort_records(RECORDS, order_by)) == expected


def test_sort_is_stable_and_returns_a_new_list() -> None:
    records = [{"k": 1, "i": 0}, {"k": 0, "i": 1}, {"k": 1, "i": 2}, {"i": 3}, {"k": 0, "i": 4}]
    wrapped = [{"hyperparameters": r} for r in records]
    ascending = sort_records(wrapped, "hp.k")
    descending = sort_records(wrapped, "hp.k desc")
    assert [r["hyperparameters"]["i"] for r in ascending] == [1, 4, 0, 2, 3]
    assert [r["hyperparameters"]["i"] for r in descending] == [0, 2, 1, 4, 3]
    assert ascending is not wrapped


def test_sort_groups_mixed_types() -> None:
    values: list[Any] = ["b", 2, True, None, "a", 1.5, [1], NAN, False]
    records = [{"hyperparameters": {"v": v}} for v in values]
    ascending = [r["hyperparameters"]["v"] for r in sort_records(records, "hp.v")]
    descending = [r["hyperparameters"]["v"] for r in sort_records(records, "-hp.v")]
    assert ascending[:7] == [1.5, 2, "a", "b", False, True, [1]]
    assert descending[:7] == [2, 1.5, "b", "a", True, False, [1]]
    assert ascending[7] is None
    assert math.isnan(ascending[8])


# --------------------------------------------------------------------------- search


def test_search_records_filters_sorts_and_limits() -> None:
    found = search_records(RECORDS, "status = 'finished'", "-duration", limit=2)
    assert labels(found) == "c1 m1"
    assert labels(search_records(RECORDS)) == ALL
    assert search_records(RECORDS, limit=0) == []
    assert labels(search_records(RECORDS, order_by="-version", limit=1)) == "m7"


@pytest.mark.parametrize("limit", [-1, 1.5, True, "3"])
def test_search_records_rejects_bad_limit(limit: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        search_records(RECORDS, limit=limit)


def test_search_records_validates_order_by_even_with_no_match() -> None:
    with pytest.raises(QuerySyntaxError):
        search_records(RECORDS, "version > 100", "nope")


# --------------------------------------------------------------------------- summaries


def test_metric_summary_basic() -> None:
    summary = metric_summary([0.5, 0.2, 0.9, 0.2])
    assert summary == {
        "last": 0.2,
        "min": 0.2,
        "max": 0.9,
        "mean": pytest.approx(0.45),
        "count": 4,
        "argmin_step": 1,
        "argmax_step": 2,
    }


def test_metric_summary_uses_steps_and_falls_back_to_index() -> None:
    summary = metric_summary([3, NAN, 1, 5], steps=[100, 200, None, 400])
    assert summary["argmin_step"] == 2
    assert summary["argmax_step"] == 400
    assert summary["mean"] == 3.0
    assert summary["count"] == 4


def test_metric_summary_empty_and_all_nan() -> None:
    assert metric_summary([]) == {
        "last": None,
        "min": None,
        "max": None,
        "mean": None,
        "count": 0,
        "argmin_step": None,
        "argmax_step": None,
    }
    summary = metric_summary([NAN, NAN])
    assert math.isnan(summary["last"])
    assert (summary["min"], summary["max"], summary["mean"], summary["count"]) == (
        None,
        None,
        None,
        2,
    )


def test_metric_summary_infinities() -> None:
    summary = metric_summary([INF, 1.0, -INF])
    assert (summary["min"], summary["max"]) == (-INF, INF)
    assert (summary["argmin_step"], summary["argmax_step"]) == (2, 0)
    assert summary["mean"] is not None
    assert math.isnan(summary["mean"])
    assert metric_summary([1e308, 1e308])["mean"] == INF


def test_best_record() -> None:
    assert labels([best_record(RECORDS, "loss")]) == "m6"  # type: ignore[list-item]
    assert labels([best_record(RECORDS, "loss", "max")]) == "m5"  # type: ignore[list-item]
    assert labels([best_record(RECORDS, "loss", agg="last")]) == "m6"  # type: ignore[list-item]
    assert labels([best_record(RECORDS, "val acc", mode="max")]) == "m5"  # type: ignore[list-item]
    best_mean = best_record(RECORDS, "val acc", mode="min", agg="mean")
    assert best_mean is RECORDS[0]
    assert best_record(RECORDS, "nope") is None
    assert best_record([], "loss") is None


def test_best_record_first_wins_on_a_tie() -> None:
    records = [{"v": 1, "metrics": {"m": [1]}}, {"v": 2, "metrics": {"m": [1.0]}}]
    assert best_record(records, "m") is records[0]
    assert best_record(records, "m", "max") is records[0]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"mode": "best"}, "mode"), ({"mode": "MIN"}, "mode"), ({"agg": "median"}, "agg")],
)
def test_best_record_rejects_bad_arguments(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        best_record(RECORDS, "loss", **kwargs)
    assert info.value.argument == argument
    assert isinstance(info.value, ValueError)


def test_compare_records() -> None:
    a = _record(
        "mnist",
        1,
        "t1",
        {"lr": 0.1, "opt": {"name": "sgd", "momentum": 0.9}, "bs": 32, "flag": 1, "x": NAN},
        {"loss": [0.5, 0.3], "acc": [0.1]},
        {"precision": "float32", "host": "a"},
        environment={"python": "3.11", "git": {"commit": "abc", "dirty": False}},
        steps={"loss": [10, 20]},
    )
    b = _record(
        "mnist",
        3,
        "t2",
        {"lr": 0.01, "opt": {"name": "adam"}, "bs": 32, "flag": True, "x": NAN, "new": None},
        {"loss": [0.4, NAN]},
        {"precision": "float32", "host": "b"},
        environment={"python": "3.11", "git": {"commit": "abd", "dirty": False}},
    )
    diff = compare_records([a, b])
    assert diff["experiment_id"] == "mnist"
    assert diff["versions"] == [1, 3]
    assert diff["hyperparameters"] == {
        "lr": [0.1, 0.01],
        "opt.name": ["sgd", "adam"],
        "opt.momentum": [0.9, None],
        "flag": [1, True],
    }
    assert diff["metadata"] == {"host": ["a", "b"]}
    assert diff["environment"] == {"git.commit": ["abc", "abd"]}
    assert diff["metrics"][1]["loss"] == metric_summary([0.5, 0.3], [10, 20])
    assert diff["metrics"][1]["loss"]["argmin_step"] == 20
    assert diff["metrics"][1]["acc"]["count"] == 1
    assert set(diff["metrics"][3]) == {"loss"}
    assert diff["metrics"][3]["loss"]["last"] is not None
    assert math.isnan(diff["metrics"][3]["loss"]["last"])


def test_compare_records_three_versions_from_fixture() -> None:
    diff = compare_records([RECORDS[0], RECORDS[1], RECORDS[6]])
    assert diff["versions"] == [1, 2, 7]
    assert diff["hyperparameters"]["lr"] == [0.1, 0.01, 0.1]
    assert diff["hyperparameters"]["tags"] == [["baseline", "cnn"], None, None]
    assert "dropout" not in diff["hyperparameters"]
    assert diff["environment"] == {
        "python": ["3.11", None, "3.12"],
        "git.dirty": [False, None, None],
    }


@pytest.mark.parametrize(
    "records",
    [[], [RECORDS[0]], [RECORDS[0], RECORDS[7]], [RECORDS[0], RECORDS[0]]],
)
def test_compare_records_rejects_bad_input(records: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidArgumentError):
        compare_records(records)


def test_docstring_examples() -> None:
    result = doctest.testmod(query_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10
    assert result.failed == 0


def test_public_names_are_documented() -> None:
    for name in query_module.__all__:
        obj = getattr(query_module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name
        if inspect.isfunction(obj):
            doc = obj.__doc__ or ""
            assert all(word in doc for word in ("Args:", "Returns:", "Example:")), name


# --------------------------------------------------------------------------- properties

MISSING = object()
OPS = ["=", "!=", "<", "<=", ">", ">="]

hp_values = st.one_of(
    st.just(MISSING),
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False),
    st.just(NAN),
    st.text("ab'\"\\ ", max_size=3),
)
loss_values = st.one_of(
    st.just(MISSING),
    st.lists(
        st.one_of(st.floats(-3, 3, allow_nan=False), st.sampled_from([NAN, INF, -INF])),
        max_size=5,
    ),
)


@st.composite
def records_strategy(draw: st.DrawFn) -> list[dict[str, Any]]:
    records = []
    for version in range(draw(st.integers(0, 8))):
        record: dict[str, Any] = {"version": version, "hyperparameters": {}, "metrics": {}}
        lr = draw(hp_values)
        if lr is not MISSING:
            record["hyperparameters"]["lr"] = lr
        loss = draw(loss_values)
        if loss is not MISSING:
            record["metrics"]["loss"] = loss
        records.append(record)
    return records


def render_literal(value: Any, quote: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace(quote, "\\" + quote)
    return quote + escaped + quote


def reference_compare(present: bool, value: Any, op: str, literal: Any) -> bool:
    """The documented comparison semantics, written out plainly."""
    if literal is None:
        if op == "=":
            return not present or value is None
        if op == "!=":
            return present and value is not None
        return False
    if not present or value is None:
        return False

    def kind(x: Any) -> str:
        if isinstance(x, bool):
            return "bool"
        if isinstance(x, (int, float)):
            return "number"
        return "string" if isinstance(x, str) else "other"

    if kind(value) != kind(literal):
        return False
    if op == "=":
        return bool(value == literal)
    if op == "!=":
        return bool(value != literal)
    if kind(value) == "bool":
        return False
    return bool(
        {
            "<": value < literal,
            "<=": value <= literal,
            ">": value > literal,
            ">=": value >= literal,
        }[op]
    )


def reference_aggregate(record: Mapping[str, Any], agg: str) -> tuple[bool, Any]:
    if "loss" not in record["metrics"]:
        return False, None
    loss = record["metrics"]["loss"]
    if agg == "count":
        return True, len(loss)
    if agg == "last":
        return (True, loss[-1]) if loss else (False, None)
    finite = [v for v in loss if not math.isnan(v)]
    if not finite:
        return False, None
    if agg == "min":
        return True, min(finite)
    if agg == "max":
        return True, max(finite)
    if INF in finite and -INF in finite:
        return True, NAN
    return True, math.fsum(finite) / len(finite)


Predicate = Callable[[Mapping[str, Any]], bool]


def leaf_strategy() -> st.SearchStrategy[tuple[str, Predicate]]:
    @st.composite
    def hp_leaf(draw: st.DrawFn) -> tuple[str, Predicate]:
        op = draw(st.sampled_from(OPS))
        literal = draw(hp_values.filter(lambda v: v is not MISSING and v == v))  # no NaN
        root = draw(st.sampled_from(["hp", "params", "hyperparameters"]))
        rendered = render_literal(literal, draw(st.sampled_from(["'", '"'])))
        text = f"{root}.lr {op} {rendered}"

        def predicate(record: Mapping[str, Any]) -> bool:
            hp = record["hyperparameters"]
            return reference_compare("lr" in hp, hp.get("lr"), op, literal)

        return text, predicate

    @st.composite
    def metric_leaf(draw: st.DrawFn) -> tuple[str, Predicate]:
        op = draw(st.sampled_from(OPS))
        agg = draw(st.sampled_from(AGGREGATES))
        literal = draw(st.one_of(st.integers(-3, 5), st.floats(-3, 3, allow_nan=False)))
        text = f"metrics.loss.{agg}{op}{render_literal(literal, '')}"

        def predicate(record: Mapping[str, Any]) -> bool:
            present, value = reference_aggregate(record, agg)
            return reference_compare(present, value, op, literal)

        return text, predicate

    return st.one_of(hp_leaf(), metric_leaf())


def combine(
    children: st.SearchStrategy[tuple[str, Predicate]],
) -> st.SearchStrategy[tuple[str, Predicate]]:
    def both(
        pair: tuple[tuple[str, Predicate], tuple[str, Predicate], str],
    ) -> tuple[str, Predicate]:
        (left_text, left), (right_text, right), word = pair
        text = f"({left_text}) {word} ({right_text})"
        if word.lower() == "and":
            return text, lambda r: left(r) and right(r)
        return text, lambda r: left(r) or right(r)

    def negate(child: tuple[str, Predicate]) -> tuple[str, Predicate]:
        text, predicate = child
        return f"not ({text})", lambda r: not predicate(r)

    words = st.sampled_from(["and", "AND", "or", "Or"])
    return st.one_of(st.tuples(children, children, words).map(both), children.map(negate))


queries = st.recursive(leaf_strategy(), combine, max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(records=records_strategy(), generated=queries)
def test_filter_agrees_with_plain_python(
    records: list[dict[str, Any]], generated: tuple[str, Predicate]
) -> None:
    text, predicate = generated
    expected = [r["version"] for r in records if predicate(r)]
    assert [r["version"] for r in filter_records(records, text)] == expected


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text("hpmetrics.lo =<>!()'\"`\\ andornt01.-e,_\u00b2\u0663", max_size=30),
        st.text(max_size=30),
    )
)
def test_parser_only_raises_query_syntax_error(text: str) -> None:
    query: Query | None = None
    position = 0
    try:
        query = parse_query(text)
    except QuerySyntaxError as error:
        position = error.position
    assert 0 <= position <= len(text)
    if query is not None:
        for record in RECORDS:
            assert isinstance(query.matches(record), bool)


@settings(max_examples=200, deadline=None)
@given(records=records_strategy(), descending=st.booleans(), agg=st.sampled_from(AGGREGATES))
def test_sort_is_a_permutation_with_missing_last(
    records: list[dict[str, Any]], descending: bool, agg: str
) -> None:
    order = f"metrics.loss.{agg}{' desc' if descending else ''}"
    result = sort_records(records, order)
    assert sorted(r["version"] for r in result) == [r["version"] for r in records]
    keys = [reference_aggregate(r, agg) for r in result]
    usable = [present and not (isinstance(v, float) and math.isnan(v)) for present, v in keys]
    assert usable == sorted(usable, reverse=True)
    values = [v for (_, v), ok in zip(keys, usable, strict=True) if ok]
    assert values == sorted(values, reverse=descending)
