"""Searches and listings done on the PostgreSQL server give what Python gives.

The server narrows a search with SQL derived from the query (stores/postgres/_filter.py)
and aggregates a listing from derived columns; both must be exactly what the generic
Python path (``Store.search_versions`` / ``Store.overview`` over every summary) gives,
on values chosen to hit the edges: non-finite aggregates, integers beyond 2**53, -0.0,
strings and booleans where numbers are expected, nested and missing keys, odd truth
values of the curation flags, running and crashed versions.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.query import parse_query
from experiment_manager.stores import open_store
from experiment_manager.stores.base import Store
from experiment_manager.stores.postgres import _filter
from tests._util import same

HYPER_VALUES: list[Any] = [
    0.1,
    0.001,
    3,
    -0.0,
    0,
    2**53 + 1,
    -(2**60),
    1e300,
    {"$float": "NaN"},
    {"$float": "Infinity"},
    {"$float": "-Infinity"},
    "0.1",
    "adam",
    True,
    False,
    None,
    [1, 2],
    {"inner": 1},
]
METRIC_VALUES: list[Any] = [0.5, 0.01, -0.0, 7, "NaN", "Infinity", "-Infinity", 2**62]
FLAGS: list[Any] = [None, True, False, 0, 1, "", "2026-12-01T00:00:00+00:00", [], [0], {}, {"a": 1}]


def _fields(rng: random.Random, n: int) -> dict[str, Any]:
    hyper = {key: rng.choice(HYPER_VALUES) for key in ("lr", "width") if rng.random() < 0.85}
    if rng.random() < 0.2:
        hyper["a.b"] = rng.choice(HYPER_VALUES)
    metrics = {}
    for name in ("loss", "acc"):
        if rng.random() < 0.8:
            metrics[name] = [rng.choice(METRIC_VALUES) for _ in range(rng.randint(0, 3))]
    fields: dict[str, Any] = {
        "config_name": rng.choice(["base", "wide", "deep"]),
        "hyperparameters": hyper,
        "metadata": {"precision": rng.choice(["fp16", "fp32", 16])},
        "metrics": metrics,
        "status": rng.choice(["finished", "failed", "killed"]),
        "created_at": f"2026-11-{rng.randint(10, 28)}T0{rng.randint(0, 9)}:00:00+00:00",
        "ended_at": rng.choice([None, f"2026-12-0{rng.randint(1, 9)}T00:00:00+00:00"]),
        "duration": rng.choice([None, 1.5, 30, 2**54 + 1]),
    }
    if rng.random() < 0.3:
        fields["name"] = rng.choice(["alpha", "base", "ü-ñame"])
    if rng.random() < 0.2:
        fields["resumed"] = [{"at": f"2026-12-1{rng.randint(0, 9)}T00:00:00+00:00"}, {"x": 1}]
    for flag in ("archived", "trashed_at", "purged_at"):
        if rng.random() < 0.15:
            fields[flag] = rng.choice(FLAGS)
    return fields


CONDITIONS = [
    "hp.lr < 0.05",
    "hp.lr <= 0.1",
    "hp.lr > 0",
    "hp.lr >= 9007199254740993",
    "hp.lr = 0",
    "hp.lr = -0.0",
    "hp.lr = 'adam'",
    "hp.lr in (0.1, 'adam', 3)",
    "hp.width > 1e299",
    "hp.width < -1e18",
    "hp.`a.b` < 1",
    "hp.a.b < 1",
    "hp.lr != 0.1",
    "hp.lr = null",
    "metrics.loss.min < 0.1",
    "metrics.loss.max >= 7",
    "metrics.loss.last = 0.5",
    "metrics.acc.mean > 1",
    "metrics.acc.count >= 2",
    "metrics.acc.min <= -1e308",
    "metrics.loss.max > 4611686018427387903",
    "status = 'failed'",
    "status in ('failed', 'killed', 'crashed', 'running')",
    "config_name = 'wide'",
    "name = 'base'",
    "metadata.precision = 'fp16'",
    "metadata.precision < 20",
    "duration > 10",
    "duration = 18014398509481985",
    "version <= 20",
    "version > 35.5",
    "tags contains 'x'",
]


def _queries(rng: random.Random) -> list[str]:
    queries = list(CONDITIONS)
    for _ in range(120):
        a, b, c = (rng.choice(CONDITIONS) for _ in range(3))
        shape = rng.choice(
            [
                "{a} and {b}",
                "{a} or {b}",
                "not {a}",
                "({a} or {b}) and {c}",
                "{a} and not {b}",
                "not ({a} and {b}) or {c}",
            ]
        )
        queries.append(shape.format(a=a, b=b, c=c))
    return queries


def test_server_side_search_and_listing_equal_the_python_path(postgres_uri: str) -> None:
    rng = random.Random(20261203)
    store = open_store(postgres_uri)
    created = store.add_versions("edges", [_fields(rng, n) for n in range(60)])
    assert created == list(range(1, 61))
    # A running version (its writer alive) and one whose writer is gone (crashed).
    manager = ExperimentManager(postgres_uri, capture_environment=False)
    manager.start_experiment("base", {"lr": 0.01}, {}, experiment_id="edges")
    manager.log_metrics({"loss": [0.05]})
    store.create_version("edges", {"status": "running", "hyperparameters": {"lr": 0.02}})

    narrowed = 0
    queries = _queries(rng)
    for text in queries:
        query = parse_query(text)
        for order_by, limit in ((None, None), ("hp.lr desc, version", 7)):
            server = store.search_versions("edges", query, order_by, limit)
            python = Store.search_versions(store, "edges", query, order_by, limit)
            assert same(server, python), (text, order_by, [s["version"] for s in server])
        narrowed += _filter.necessary(query.node) is not None
    assert narrowed > len(queries) // 2  # most were narrowed on the server, not left to Python
    for include_archived in (False, True):
        server_entry = store.overview("edges", include_archived=include_archived)
        python_entry = Store.overview(store, "edges", include_archived=include_archived)
        assert server_entry == python_entry
        assert server_entry is not None
        assert server_entry["status_counts"].get("running") == 1
        assert server_entry["status_counts"].get("crashed") == 1
    manager.end_experiment()


def test_a_search_narrowed_on_the_server_reads_only_what_can_match(postgres_uri: str) -> None:
    store = open_store(postgres_uri)
    store.add_versions(
        "narrow",
        [
            {"status": "finished", "hyperparameters": {"lr": lr}, "metrics": {"loss": [lr]}}
            for lr in (0.1, 0.2, 0.3, 0.4)
        ],
    )
    query = parse_query("hp.lr < 0.25 and metrics.loss.min > 0.15")
    condition = _filter.necessary(query.node)
    assert condition is not None
    read = store._summaries("narrow", condition)  # type: ignore[attr-defined]
    assert [s["version"] for s in read] == [2]
    assert [s["version"] for s in store.search_versions("narrow", query)] == [2]


@pytest.mark.parametrize(
    "text",
    [
        "hp.`x'); DROP TABLE expm_versions; --` < 1",
        "metrics.`m%s(pk)s`.min < 1",
        'status = "x\'); DROP TABLE expm_points; --"',
    ],
)
def test_hostile_keys_and_literals_travel_as_parameters(postgres_uri: str, text: str) -> None:
    store = open_store(postgres_uri)
    store.add_versions("hostile", [{"status": "finished", "hyperparameters": {"lr": 1}}])
    assert store.search_versions("hostile", parse_query(text)) == []
    assert [s["version"] for s in store.search_versions("hostile", None)] == [1]


def test_every_listing_field_comes_from_the_server_columns(postgres_uri: str) -> None:
    store = open_store(postgres_uri)
    rng = random.Random(7)
    store.add_versions("list", [_fields(rng, n) for n in range(30)])
    entries = [store.overview("list", include_archived=flag) for flag in (False, True)]
    assert entries == [
        Store.overview(store, "list", include_archived=flag) for flag in (False, True)
    ]
    for entry in entries:
        assert entry is not None
        assert set(entry) == {
            "experiment_id",
            "versions",
            "latest_version",
            "first_created",
            "last_activity",
            "status_counts",
            "metric_names",
            "config_names",
        }
