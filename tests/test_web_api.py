"""The dashboard's JSON API, in-process, against the library's own results.

The log folder is built with ``ExperimentManager``: an experiment with NaN/Inf values,
streamed steps and a long curve with one spike; a version still running (its manager
stays alive in this process); a version whose process was SIGKILLed (crashed); and a
history file that cannot be parsed. Also: the downsampler's properties (hypothesis),
the history cache, the OpenAPI document, and ``expm ui``.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from experiment_manager import ExperimentManager
from experiment_manager.cli import _commands_ui, main
from tests._util import (
    across_processes,
    run_python,
    strict_loads,
    write_script,
    written_through,
)

pytestmark = pytest.mark.usefixtures("each_store")

warnings.filterwarnings("ignore", message=".*httpx.*")  # TestClient's deprecation note

from starlette.routing import Route  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from experiment_manager.web import create_app  # noqa: E402
from experiment_manager.web._downsample import downsample  # noqa: E402

NAN = float("nan")
INF = float("inf")
SPIKE_AT, DIP_AT, LONG = 12_345, 3_210, 20_000


def strict(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    return value


def plain(value: Any) -> Any:
    """The library's value as strict JSON data (written independently of the server)."""
    return json.loads(json.dumps(strict(value), allow_nan=False))


def wave(index: int) -> float:
    if index == SPIKE_AT:
        return 1000.0
    if index == DIP_AT:
        return -1000.0
    return math.sin(index / 50)


CRASH_SCRIPT = """
import os, signal, sys
from experiment_manager import ExperimentManager

manager = ExperimentManager(sys.argv[1], capture_environment=False)
manager.start_experiment("crashy", {"seed": 1}, {}, experiment_id="crashy")
for step in range(5):
    manager.log({"loss": 1.0 / (step + 1)}, step=step)
os.kill(os.getpid(), signal.SIGKILL)
"""


@dataclass
class Site:
    log_dir: Path
    library: ExperimentManager
    live: ExperimentManager
    client: TestClient

    def get(self, url: str, status: int = 200) -> Any:
        response = self.client.get(url)
        assert response.status_code == status, (url, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        return strict_loads(response.content)


def build(log_dir: Path, scripts: Path) -> ExperimentManager:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("exp", {"lr": 0.1, "eps": NAN}, {"note": "<b>first</b>"})
    manager.log_metrics({"loss": [0.5, NAN, INF, -INF, 0.2], "acc": [0.1, 0.2]})
    manager.add_checkpoint(log_dir.parent / "outside" / "model.pt", step=3)
    manager.end_experiment()
    manager.start_experiment("exp", {"lr": 0.01, "eps": 1e-8}, {})
    for step in range(0, 200, 2):
        manager.log({"loss": NAN if step == 40 else 1 / (step + 1), "acc": step / 200}, step=step)
    manager.end_experiment()
    manager.start_experiment("exp", {"lr": 0.001, "eps": 1e-8}, {})
    manager.log_metrics({"wave": [wave(i) for i in range(LONG)]})
    manager.end_experiment("failed", "diverged")
    script = write_script(scripts, "crash.py", CRASH_SCRIPT)
    result = run_python([str(script), str(log_dir)], cwd=scripts)
    assert result.returncode == -signal.SIGKILL, result.stderr
    (log_dir / "broken.json").write_bytes(b'{"format": 1, "versions": [')
    live = ExperimentManager(log_dir, capture_environment=False)
    live.start_experiment("live", {"lr": 0.5}, {}, experiment_id="live")
    for step in range(10):
        live.log({"loss": 10.0 - step}, step=step)
    return live


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web")
    log_dir = root / "logs"
    live = build(log_dir, root / "scripts")
    client = TestClient(create_app(log_dir, allowed_hosts=["testserver"]))
    try:
        yield Site(log_dir, ExperimentManager(log_dir, capture_environment=False), live, client)
    finally:
        live.end_experiment()


# -- listing, search, one experiment, one version, compare -----------------------------


def test_experiments_equal_the_library_and_show_a_corrupt_history(site: Site) -> None:
    body = site.get("/api/experiments")
    expected = plain(site.library.list_experiments())
    for entry in expected:  # the dashboard names a corrupt file relative to the folder
        if "error" in entry:
            entry["error"] = entry["error"].replace(f"{site.log_dir}{os.sep}", "")
    assert body == {"experiments": expected}
    by_id = {e["experiment_id"]: e for e in body["experiments"]}
    assert set(by_id) == {"broken", "crashy", "exp", "live"}
    assert "error" in by_id["broken"]
    assert by_id["exp"]["versions"] == 3


def test_search_equals_the_library(site: Site) -> None:
    body = site.get("/api/search?q=hyperparameters.lr%20%3C%200.05&order_by=version%20desc")
    expected = site.library.search("hyperparameters.lr < 0.05", order_by="version desc")
    assert body["results"] == plain(expected)
    assert body["count"] == body["total"] == len(expected)
    assert [r["version"] for r in body["results"]] == [3, 2]
    body = site.get("/api/search?experiment=exp&limit=1")
    assert body["results"] == plain(site.library.search(experiment_id="exp", limit=1))
    assert (body["count"], body["total"], body["offset"], body["limit"]) == (1, 3, 0, 1)
    everything = site.get("/api/search")
    assert everything["count"] == everything["total"] == len(site.library.search())
    assert everything["limit"] is None


def test_search_total_is_every_match_and_pages_walk_them(site: Site) -> None:
    everything = site.library.search(order_by="experiment_id, version")
    assert len(everything) > 3
    pages = [
        site.get(f"/api/search?order_by=experiment_id,%20version&offset={offset}&limit=2")
        for offset in range(0, len(everything) + 2, 2)
    ]
    assert all(page["total"] == len(everything) for page in pages)
    assert [page["count"] for page in pages][-1] == 0  # past the end: nothing, same total
    walked = [(r["experiment_id"], r["version"]) for page in pages for r in page["results"]]
    assert walked == [(r["experiment_id"], r["version"]) for r in everything]
    assert site.get("/api/search?offset=-1", 400)["error"]["type"] == "InvalidArgumentError"


def test_search_names_the_fields_it_filters_and_orders_by(site: Site) -> None:
    query = "hp.lr < 0.05 and (not status = 'crashed' or metrics.loss.min > 0)"
    body = site.get(
        "/api/search?experiment=exp&order_by=metrics.loss.last%20desc,%20hp.lr&q="
        + query.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    )
    assert body["fields"] == [
        "hyperparameters.lr",
        "status",
        "metrics.loss.min",
        "metrics.loss.last",
    ]
    expected = site.library.search(
        query, experiment_id="exp", order_by="metrics.loss.last desc, hp.lr"
    )
    summaries = {s["version"]: s for s in site.library.list_versions("exp")}
    rows = [
        [
            summaries[r["version"]]["hyperparameters"]["lr"],
            summaries[r["version"]]["status"],
            (summaries[r["version"]]["metric_summaries"].get("loss") or {}).get("min"),
            (summaries[r["version"]]["metric_summaries"].get("loss") or {}).get("last"),
        ]
        for r in expected
    ]
    assert body["values"] == plain(rows)
    assert site.get("/api/search")["fields"] == []


def test_search_errors(site: Site) -> None:
    error = site.get("/api/search?q=hp.lr%20%3C", 400)["error"]
    assert error["type"] == "QuerySyntaxError"
    assert error["position"] == 7
    assert site.get("/api/search?order_by=(", 400)["error"]["type"] == "QuerySyntaxError"
    for limit in ("-1", "abc", "1.5"):
        assert site.get(f"/api/search?limit={limit}", 400)["error"]["type"] == (
            "InvalidArgumentError"
        )
    assert site.get("/api/search?experiment=nope", 404)["error"]["type"] == (
        "ExperimentNotFoundError"
    )
    assert site.get("/api/search?experiment=..%2Fx", 404)["error"]["type"] == (
        "InvalidExperimentIdError"
    )
    assert site.get("/api/search?experiment=broken", 422)["error"]["type"] == (
        "CorruptHistoryError"
    )


def test_experiment_versions_equal_the_library(site: Site) -> None:
    body = site.get("/api/experiments/exp")
    assert body["versions"] == plain(site.library.list_versions("exp"))
    assert (body["experiment_id"], body["total"], body["version_count"]) == ("exp", 3, 3)
    assert (body["offset"], body["limit"], body["sort"], body["order"]) == (
        0,
        None,
        "version",
        "asc",
    )
    assert body["status_counts"] == {"finished": 2, "failed": 1}
    assert [v["status"] for v in body["versions"]] == ["finished", "finished", "failed"]
    assert site.get("/api/experiments/crashy")["versions"][0]["status"] == "crashed"
    assert site.get("/api/experiments/live")["versions"][0]["status"] == "running"


def test_unknown_unsafe_and_corrupt_experiments(site: Site) -> None:
    assert site.get("/api/experiments/nope", 404)["error"]["type"] == "ExperimentNotFoundError"
    for bad in (".hidden", "CON", "a%20b", "%2e%2e", "x" * 200):
        assert site.get(f"/api/experiments/{bad}", 404)["error"]["type"] == (
            "InvalidExperimentIdError"
        )
    error = site.get("/api/experiments/broken", 422)["error"]
    assert error["type"] == "CorruptHistoryError"
    assert "broken.json" in error["message"]
    site.get("/api/experiments/broken/series?metric=loss", 422)
    # ... and the rest of the API keeps working.
    assert site.get("/api/experiments/exp")["experiment_id"] == "exp"


def test_version_equals_get_version_and_downloads(site: Site) -> None:
    for number in (1, 2, 3):
        body = site.get(f"/api/experiments/exp/versions/{number}")
        assert body == plain(site.library.get_version("exp", number))
    first = site.get("/api/experiments/exp/versions/1")
    assert first["metrics"]["loss"] == [0.5, "NaN", "Infinity", "-Infinity", 0.2]
    assert first["hyperparameters"]["eps"] == "NaN"
    assert first["metadata"]["note"] == "<b>first</b>"  # data, escaped by the pages
    response = site.client.get("/api/experiments/exp/versions/2?download=1")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="exp-v2.json"'
    assert strict_loads(response.content) == plain(site.library.get_version("exp", 2))
    assert "content-disposition" not in site.client.get("/api/experiments/exp/versions/2").headers
    assert site.get("/api/experiments/crashy/versions/1")["status"] == "crashed"


def test_version_errors(site: Site) -> None:
    for bad in ("9", "0", "01", "-1", "abc", "1.0", "99999999999999999999999"):
        assert site.get(f"/api/experiments/exp/versions/{bad}", 404)["error"]["type"] == (
            "ExperimentNotFoundError"
        )
    site.get("/api/experiments/nope/versions/1", 404)
    site.get("/api/experiments/exp/versions/1?download=maybe", 400)


def test_compare_equals_the_library(site: Site) -> None:
    body = site.get("/api/experiments/exp/compare?versions=1,2,3")
    # As the library's, with the always-different fields it hides named (none differ here).
    assert body == {**plain(site.library.compare("exp", [1, 2, 3])), "hidden": []}
    assert body["hyperparameters"]["lr"] == [0.1, 0.01, 0.001]
    site.get("/api/experiments/exp/compare", 400)
    site.get("/api/experiments/exp/compare?versions=1", 400)
    site.get("/api/experiments/exp/compare?versions=1,x", 400)
    site.get("/api/experiments/exp/compare?versions=1,9", 404)
    site.get("/api/experiments/nope/compare?versions=1,2", 404)


# -- series and points -----------------------------------------------------------------


def series(site: Site, query: str, experiment: str = "exp") -> Any:
    return site.get(f"/api/experiments/{experiment}/series?{query}")


def test_series_small_is_exact_with_steps_and_nan(site: Site) -> None:
    body = series(site, "metric=loss&versions=1,2")
    assert (body["metric"], body["x"]) == ("loss", "step")
    first, second = body["series"]
    record1 = site.library.get_version("exp", 1)
    assert first == {
        "version": 1,
        "status": "finished",
        "total": 5,
        "in_range": 5,
        "exact": True,
        "x": [0, 1, 2, 3, 4],  # log_metrics values have no step: their index
        "y": plain(record1["metrics"]["loss"]),
        "resumes": [],  # never resumed: no marker
    }
    record2 = site.library.get_version("exp", 2)
    assert second["x"] == record2["steps"]["loss"] == list(range(0, 200, 2))
    assert second["y"] == plain(record2["metrics"]["loss"])
    assert second["y"][20] == "NaN"


def test_series_x_axes(site: Site) -> None:
    record2 = site.library.get_version("exp", 2)
    by_index = series(site, "metric=acc&versions=2&x=index")["series"][0]
    assert by_index["x"] == list(range(100))
    by_time = series(site, "metric=acc&versions=2&x=time")["series"][0]
    assert by_time["x"] == record2["timestamps"]["acc"]
    assert by_time["y"] == record2["metrics"]["acc"]
    # Values logged with log_metrics have the call's time too.
    record1 = site.library.get_version("exp", 1)
    bulk = series(site, "metric=acc&versions=1&x=time")["series"][0]
    assert (bulk["total"], bulk["in_range"]) == (2, 2)
    assert bulk["x"] == record1["timestamps"]["acc"]


def test_series_of_all_versions_and_missing_metric(site: Site) -> None:
    body = series(site, "metric=wave")
    assert [s["version"] for s in body["series"]] == [1, 2, 3]
    assert [s["total"] for s in body["series"]] == [0, 0, LONG]
    assert body["series"][0] == {
        "version": 1,
        "status": "finished",
        "total": 0,
        "in_range": 0,
        "exact": True,
        "x": [],
        "y": [],
        "resumes": [],
    }


def test_downsampling_keeps_the_spike_and_the_dip(site: Site) -> None:
    reduced = series(site, "metric=wave&versions=3&buckets=100")["series"][0]
    assert reduced["exact"] is False
    assert (reduced["total"], reduced["in_range"]) == (LONG, LONG)
    assert len(reduced["x"]) <= 200
    assert max(reduced["y"]) == 1000.0
    assert min(reduced["y"]) == -1000.0
    assert reduced["x"][reduced["y"].index(1000.0)] == SPIKE_AT
    assert reduced["x"][reduced["y"].index(-1000.0)] == DIP_AT
    assert reduced["x"] == sorted(reduced["x"])
    default = series(site, "metric=wave&versions=3")["series"][0]
    assert default["exact"] is False
    assert len(default["x"]) <= 2000
    assert max(default["y"]) == 1000.0
    assert min(default["y"]) == -1000.0


def test_full_resolution_with_buckets_zero(site: Site) -> None:
    full = series(site, "metric=wave&versions=3&buckets=0")["series"][0]
    assert full["exact"] is True
    assert full["x"] == list(range(LONG))
    assert full["y"] == site.library.get_version("exp", 3)["metrics"]["wave"]


def test_zoom_with_start_and_end(site: Site) -> None:
    zoomed = series(site, "metric=wave&versions=3&start=12000&end=12999.5&buckets=100")
    entry = zoomed["series"][0]
    assert (entry["total"], entry["in_range"], entry["exact"]) == (LONG, 1000, False)
    assert entry["x"][0] >= 12000
    assert entry["x"][-1] <= 12999
    assert max(entry["y"]) == 1000.0
    exact = series(site, "metric=wave&versions=3&start=100&end=109")["series"][0]
    values = site.library.get_version("exp", 3)["metrics"]["wave"]
    assert exact["exact"] is True
    assert (exact["x"], exact["y"]) == (list(range(100, 110)), values[100:110])
    empty = series(site, "metric=wave&versions=3&start=1e9")["series"][0]
    assert (empty["in_range"], empty["x"], empty["exact"]) == (0, [], True)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("versions=1", 400),  # no metric
        ("metric=loss&x=epoch", 400),
        ("metric=loss&buckets=10001", 400),
        ("metric=loss&buckets=-1", 400),
        ("metric=loss&buckets=many", 400),
        ("metric=loss&start=5&end=1", 400),
        ("metric=loss&start=nan", 400),
        ("metric=loss&end=inf", 400),
        ("metric=loss&start=abc", 400),
        ("metric=loss&versions=a", 400),
        ("metric=loss&versions=0", 400),
        ("metric=loss&versions=9", 404),
    ],
)
def test_series_errors(site: Site, query: str, status: int) -> None:
    body = site.get(f"/api/experiments/exp/series?{query}", status)
    assert set(body["error"]) >= {"type", "message"}


def test_series_of_crashed_and_running_versions(site: Site) -> None:
    crashed = series(site, "metric=loss", experiment="crashy")["series"][0]
    assert crashed["status"] == "crashed"
    assert crashed["y"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    running = series(site, "metric=loss", experiment="live")["series"][0]
    assert running["status"] == "running"
    assert running["total"] >= 10


@written_through
def test_points_returns_only_new_points_of_a_running_version(site: Site) -> None:
    url = "/api/experiments/live/versions/1/points?metric=loss"
    start = site.get(url)
    assert start["status"] == "running"
    total = start["total"]
    assert total >= 10
    assert start["x"] == list(range(total))
    assert start["y"] == [10.0 - step for step in range(total)]
    nothing = site.get(f"{url}&after={total}")
    assert (nothing["total"], nothing["x"], nothing["y"]) == (total, [], [])
    for step in range(total, total + 3):
        site.live.log({"loss": NAN if step == total + 1 else -step}, step=step)
    new = site.get(f"{url}&after={total}")
    assert new == {
        "version": 1,
        "status": "running",
        "total": total + 3,
        "x": [total, total + 1, total + 2],
        "y": [-total, "NaN", -(total + 2)],
    }
    # The cache never holds a running history: series sees the new points too.
    assert series(site, "metric=loss", experiment="live")["series"][0]["total"] == total + 3
    timed = site.get(f"{url}&after={total}&x=time")
    assert len(timed["x"]) == 3
    assert all(isinstance(t, float) for t in timed["x"])
    assert site.get(f"{url}&after={total}&x=index")["x"] == [total, total + 1, total + 2]


def test_points_errors(site: Site) -> None:
    site.get("/api/experiments/live/versions/1/points", 400)
    site.get("/api/experiments/live/versions/1/points?metric=loss&after=-1", 400)
    site.get("/api/experiments/live/versions/1/points?metric=loss&x=nope", 400)
    site.get("/api/experiments/live/versions/2/points?metric=loss", 404)
    site.get("/api/experiments/..%2Flive/versions/1/points?metric=loss", 404)
    missing = site.get("/api/experiments/exp/versions/1/points?metric=nope")
    assert (missing["total"], missing["x"], missing["y"]) == (0, [], [])


def test_the_cache_follows_a_rewritten_history(tmp_path: Path) -> None:
    manager = ExperimentManager(tmp_path, capture_environment=False)
    manager.start_experiment("grow", {}, {}, experiment_id="grow")
    manager.log_metrics({"loss": [1.0, 2.0]})
    manager.end_experiment()
    client = TestClient(create_app(tmp_path, allowed_hosts=["testserver"]))
    url = "/api/experiments/grow/series?metric=loss"
    assert [s["version"] for s in client.get(url).json()["series"]] == [1]
    cache = client.app.state.cache  # type: ignore[attr-defined]
    assert cache.get("grow") is cache.get("grow")  # finished: kept
    manager.start_experiment("grow", {}, {}, experiment_id="grow")
    manager.log_metrics({"loss": [3.0]})
    manager.end_experiment()
    assert [s["y"] for s in client.get(url).json()["series"]] == [[1.0, 2.0], [3.0]]


def test_head_answers_without_a_body(site: Site) -> None:
    response = site.client.head("/api/experiments")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "application/json"


# -- the experiment's versions: sorted, filtered and paged on the server -----------------

GRID = 12  # versions of the experiment "grid"


def build_grid(log_dir: Path) -> ExperimentManager:
    """Versions with ties, missing values, NaN, a string among numbers, natural names."""
    manager = ExperimentManager(log_dir, capture_environment=False)
    for i in range(1, GRID + 1):
        hyperparameters: dict[str, Any] = {"lr": [0.1, 0.03, 0.01, 0.003][i % 4], "depth": i % 3}
        if i == 5:
            hyperparameters["lr"] = "auto"
        if i == 7:
            del hyperparameters["lr"]
        tag = "even" if i % 2 == 0 else "odd"
        manager.start_experiment(f"run{i}", hyperparameters, {"tag": tag}, experiment_id="grid")
        last = 0.5 + ((i * 7) % 12) / 20
        if i == 9:
            last = 0.5 + ((4 * 7) % 12) / 20  # the same as version 4: a tie
        if i == 6:
            last = NAN
        if i == 8:
            manager.log_metrics({"acc": [i / 20]})  # no loss at all
        else:
            manager.log_metrics({"loss": [1.0, last], "acc": [0.5, i / 20]})
        if i == 3:
            manager.end_experiment("failed", "diverged")
        elif i == 10:
            manager.end_experiment("killed")
        else:
            manager.end_experiment()
    return manager


@dataclass
class Grid:
    library: ExperimentManager
    client: TestClient

    def get(self, query: str = "", status: int = 200) -> Any:
        response = self.client.get("/api/experiments/grid" + ("?" + query if query else ""))
        assert response.status_code == status, (query, response.text)
        return strict_loads(response.content)

    def versions(self, query: str) -> list[int]:
        return [v["version"] for v in self.get(query)["versions"]]


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Grid:
    log_dir = tmp_path_factory.mktemp("grid")
    manager = build_grid(log_dir)
    return Grid(manager, TestClient(create_app(log_dir, allowed_hosts=["testserver"])))


def expected_order(summaries: list[dict[str, Any]], value: Any, descending: bool) -> list[int]:
    """The documented rule, for values of one type: missing last, ties by version."""
    present, missing = [], []
    for summary in summaries:
        found = value(summary)
        if found is None or (isinstance(found, float) and math.isnan(found)):
            missing.append(summary["version"])
        else:
            present.append((found, summary["version"]))
    present.sort(key=lambda pair: pair[1])  # ties by version...
    present.sort(key=lambda pair: pair[0], reverse=descending)  # ...kept by a stable sort
    return [version for _, version in present] + sorted(missing)


def last_loss(summary: dict[str, Any]) -> Any:
    return (summary["metric_summaries"].get("loss") or {}).get("last")


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_a_metric_puts_missing_and_nan_last_and_ties_by_version(
    grid: Grid, order: str
) -> None:
    summaries = grid.library.list_versions("grid")
    body = grid.get(f"sort=metrics.loss.last&order={order}")
    got = [v["version"] for v in body["versions"]]
    assert got == expected_order(summaries, last_loss, order == "desc")
    assert got[-2:] == [6, 8]  # NaN and no loss at all: last in both orders
    assert got.index(4) + 1 == got.index(9)  # equal values: by version, in both orders
    by_version = {s["version"]: s for s in summaries}
    assert body["versions"] == plain([by_version[v] for v in got])  # whole summaries
    assert (body["total"], body["version_count"], body["sort"], body["order"]) == (
        GRID,
        GRID,
        "metrics.loss.last",
        order,
    )


@pytest.mark.parametrize(
    ("sort", "value"),
    [
        ("version", lambda s: s["version"]),
        ("duration", lambda s: s["duration"]),
        ("created_at", lambda s: s["created_at"]),
        ("status", lambda s: s["status"]),
        ("hyperparameters.depth", lambda s: s["hyperparameters"]["depth"]),
        ("metrics.acc.min", lambda s: s["metric_summaries"]["acc"]["min"]),
        ("metrics.acc.count", lambda s: s["metric_summaries"]["acc"]["count"]),
        ("metadata.tag", lambda s: s["metadata"]["tag"]),
    ],
)
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_each_kind_of_column(grid: Grid, sort: str, value: Any, order: str) -> None:
    summaries = grid.library.list_versions("grid")
    expected = expected_order(summaries, value, order == "desc")
    assert grid.versions(f"sort={sort}&order={order}") == expected


def test_sort_groups_numbers_before_strings_and_names_naturally(grid: Grid) -> None:
    # lr: numbers, then the one string ("auto", version 5), then the version without it.
    by_lr = {0.1: [4, 8, 12], 0.03: [1, 9], 0.01: [2, 6, 10], 0.003: [3, 11]}
    ascending = [v for lr in sorted(by_lr) for v in by_lr[lr]]
    descending = [v for lr in sorted(by_lr, reverse=True) for v in by_lr[lr]]
    assert grid.versions("sort=hp.lr&order=asc") == [*ascending, 5, 7]
    assert grid.versions("sort=hyperparameters.lr&order=desc") == [*descending, 5, 7]
    # run2 before run10, as a person reads them.
    assert grid.versions("sort=config_name") == list(range(1, GRID + 1))
    assert grid.versions("sort=config_name&order=desc") == list(range(GRID, 0, -1))


def test_offset_and_limit_walk_the_sorted_versions(grid: Grid) -> None:
    everything = grid.versions("sort=metrics.loss.last&order=desc")
    pages = [
        grid.get(f"sort=metrics.loss.last&order=desc&offset={offset}&limit=5")
        for offset in (0, 5, 10, 15)
    ]
    assert [[v["version"] for v in page["versions"]] for page in pages] == [
        everything[0:5],
        everything[5:10],
        everything[10:],
        [],
    ]
    assert all(page["total"] == GRID for page in pages)
    assert [(page["offset"], page["limit"]) for page in pages] == [(0, 5), (5, 5), (10, 5), (15, 5)]
    assert grid.get("limit=0")["versions"] == []


def test_filter_is_the_tables_filter_done_on_the_server(grid: Grid) -> None:
    assert grid.versions("filter=lr%3D0.01") == [2, 6, 10]
    assert grid.versions("filter=LR%3D0.01%20%20killed") == [10]  # every term, any case
    assert grid.versions("filter=tag%3Dodd%20failed%20diverged") == [3]  # status and error
    assert grid.versions("filter=run1") == [1, 10, 11, 12]  # the config name
    assert grid.versions("filter=v1") == [1, 10, 11, 12]
    assert grid.versions("filter=lr%3Dauto") == [5]
    body = grid.get("filter=tag%3Deven&sort=metrics.acc.last&order=desc&limit=2")
    assert [v["version"] for v in body["versions"]] == [12, 10]
    assert (body["total"], body["version_count"]) == (6, GRID)
    nothing = grid.get("filter=no-such-thing")
    assert (nothing["total"], nothing["versions"]) == (0, [])
    assert grid.versions("filter=%20") == list(range(1, GRID + 1))


def test_versions_parameter_keeps_only_those(grid: Grid) -> None:
    body = grid.get("versions=9,2,4&sort=metrics.loss.last")
    assert [v["version"] for v in body["versions"]] == [2, 4, 9]
    assert body["total"] == 3


def test_columns_describe_what_a_page_can_show(grid: Grid) -> None:
    columns = grid.get("limit=0")["columns"]
    assert [(c["key"], c["sort"], c["varies"]) for c in columns["hyperparameters"]] == [
        ("lr", "hyperparameters.lr", True),
        ("depth", "hyperparameters.depth", True),
    ]
    assert [c["key"] for c in columns["metadata"]] == [
        "precision",
        "model_size",
        "dataset_version",
        "hardware_constraint_mode",
        "tag",
    ]
    assert {c["key"]: c["varies"] for c in columns["metadata"]}["tag"] is True
    assert {c["key"]: c["varies"] for c in columns["metadata"]}["precision"] is False
    assert columns["metrics"] == [
        {"name": "loss", "sort": "metrics.loss"},
        {"name": "acc", "sort": "metrics.acc"},
    ]
    assert (columns["config_varies"], columns["errors"], columns["checkpoints"]) == (
        True,
        True,
        False,
    )
    assert grid.get("limit=0")["status_counts"] == {"finished": 10, "failed": 1, "killed": 1}


@pytest.mark.parametrize(
    "query",
    [
        "sort=bogus",
        "sort=hp.lr%20desc",
        "sort=-hp.lr",
        "sort=hp.lr,version",
        "sort=metrics.loss.median",
        "sort=metrics.loss",
        "sort=status.x",
        "order=up",
        "order=DESC",
        "offset=-1",
        "offset=1.5",
        "limit=abc",
        "limit=-2",
        "versions=0",
        "versions=a",
    ],
)
def test_bad_listing_parameters_are_refused_with_a_typed_error(grid: Grid, query: str) -> None:
    error = grid.get(query, 400)["error"]
    assert error["type"] == "InvalidArgumentError"
    assert query.split("=", maxsplit=1)[0] in error["message"]


def test_a_next_page_reuses_the_sorted_order_until_the_history_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from experiment_manager.web import _listing

    manager = build_grid(tmp_path)
    client = TestClient(create_app(tmp_path, allowed_hosts=["testserver"]))
    sorts: list[int] = []
    real = _listing.sort_order

    def counted(*args: Any, **kwargs: Any) -> Any:
        sorts.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(_listing, "sort_order", counted)
    url = "/api/experiments/grid?sort=metrics.acc.last&order=desc&limit=5&offset="
    first = client.get(url + "0").json()
    second = client.get(url + "5").json()
    client.get(url + "0&filter=even")  # a filter over the same order: no new sort
    assert sorts == [GRID]
    assert [v["version"] for v in first["versions"] + second["versions"]] == list(range(12, 2, -1))
    manager.start_experiment("run13", {"lr": 0.5}, {}, experiment_id="grid")
    manager.log_metrics({"acc": [0.99]})
    manager.end_experiment()
    fresh = client.get(url + "0").json()
    assert sorts == [GRID, GRID + 1]
    assert (fresh["total"], fresh["versions"][0]["version"]) == (GRID + 1, 13)


def test_a_running_version_is_listed_afresh(site: Site) -> None:
    def acc_count() -> Any:
        body = site.get("/api/experiments/live?sort=metrics.loss.last")
        return body["versions"][0]["metric_summaries"]["loss"]["count"]

    before = acc_count()
    site.live.log({"loss": 0.5}, step=100)
    assert acc_count() == before + 1


# -- the OpenAPI document --------------------------------------------------------------


def test_openapi_describes_exactly_the_routes(site: Site) -> None:
    doc = site.get("/api/openapi.json")
    assert doc["openapi"].startswith("3.1")
    routes = {r.path: r for r in site.client.app.routes if isinstance(r, Route)}  # type: ignore[attr-defined]
    assert set(doc["paths"]) == set(routes)
    for path, route in routes.items():
        assert route.methods == {"GET", "HEAD"}, path
        operation = doc["paths"][path]["get"]
        assert set(doc["paths"][path]) == {"get"}
        declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert declared == set(route.param_convertors), path
        assert "200" in operation["responses"]
    schemas = doc["components"]["schemas"]
    text = str(doc)
    for name in schemas:
        assert f"#/components/schemas/{name}" in text or name in ("Number", "Status")


def test_openapi_lists_the_query_parameters_the_api_reads() -> None:
    doc = create_app_doc()
    params = {
        path: {p["name"] for p in op["get"]["parameters"] if p["in"] == "query"}
        for path, op in doc["paths"].items()
    }
    assert params["/api/search"] == {"q", "experiment", "order_by", "offset", "limit", "all"}
    assert params["/api/experiments/{experiment_id}"] == {
        "sort",
        "order",
        "offset",
        "limit",
        "filter",
        "versions",
        "all",
        "group_by",
    }
    assert params["/api/experiments/{experiment_id}/series"] == {
        "metric",
        "versions",
        "x",
        "start",
        "end",
        "buckets",
        "all",
        "superseded",
    }
    series = params["/api/experiments/{experiment_id}/series"]
    assert params["/api/experiments/{experiment_id}/panels/series"] == series
    assert params["/api/experiments/{experiment_id}/versions/{version}/points"] == {
        "metric",
        "after",
        "x",
    }
    assert params["/api/experiments/{experiment_id}/compare"] == {"versions", "all", "all_fields"}


def create_app_doc() -> Any:
    from experiment_manager.web._openapi import document

    return document()


# -- the downsampler (pure) ------------------------------------------------------------


def reference(xs: list[float], ys: list[float], buckets: int) -> tuple[list[Any], list[Any]]:
    """The rule written the slow, obvious way."""
    width = (xs[-1] - xs[0]) / buckets
    groups: dict[int, list[int]] = {}
    for index, x in enumerate(xs):
        inner = range(1, buckets) if width > 0 else range(0)
        number = sum(1 for k in inner if x >= xs[0] + k * width)
        groups.setdefault(number, []).append(index)
    kept: list[int] = []
    for number in sorted(groups):
        members = groups[number]
        real = [i for i in members if not math.isnan(ys[i])]
        if not real:
            kept.append(members[0])
            continue
        low = min(real, key=lambda i: (ys[i], i))
        high = max(real, key=lambda i: (ys[i], -i))
        kept.extend(sorted({low, high}))
    return [xs[i] for i in kept], [ys[i] for i in kept]


def same_numbers(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) if isinstance(x, float) and math.isnan(x) else x == y
        for x, y in zip(a, b, strict=True)
    )


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-1000, 1000),
    st.just(NAN),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 500), values), min_size=1, max_size=120),
    st.integers(1, 12),
)
def test_downsample_matches_the_rule(points: list[tuple[int, float]], buckets: int) -> None:
    points.sort(key=lambda p: p[0])
    xs = [float(x) for x, _ in points]
    ys = [y for _, y in points]
    out_x, out_y, exact = downsample(xs, ys, buckets)
    if len(xs) <= 2 * buckets:
        assert exact
        assert out_x == xs
        assert same_numbers(out_y, ys)
        return
    assert not exact
    assert len(out_x) <= 2 * buckets
    assert out_x == sorted(out_x)
    want_x, want_y = reference(xs, ys, buckets)
    assert out_x == want_x
    assert same_numbers(out_y, want_y)
    real = [y for y in ys if not math.isnan(y)]
    if real:
        assert min(real) in out_y
        assert max(real) in out_y
    else:
        assert all(math.isnan(y) for y in out_y)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(values, min_size=1, max_size=200),
    st.integers(0, 30),
    st.data(),
)
def test_downsample_of_a_slice_equals_downsample_of_the_copy(
    ys: list[float], buckets: int, data: st.DataObject
) -> None:
    lo = data.draw(st.integers(0, len(ys) - 1))
    hi = data.draw(st.integers(lo + 1, len(ys)))
    xs = range(len(ys))
    sliced = downsample(xs, ys, buckets, lo=lo, hi=hi)
    copied = downsample(list(xs[lo:hi]), ys[lo:hi], buckets)
    assert sliced[0] == copied[0]
    assert same_numbers(sliced[1], copied[1])
    assert sliced[2] is copied[2]


@settings(max_examples=200, deadline=None)
@given(st.lists(values, min_size=1, max_size=200), st.integers(0, 30))
def test_downsample_of_arrays_equals_downsample_of_lists(ys: list[float], buckets: int) -> None:
    xs = [float(i) for i in range(len(ys))]
    from_lists = downsample(xs, ys, buckets)
    from_arrays = downsample(np.array(xs), np.array(ys, dtype=np.float64), buckets)
    assert from_arrays[0] == from_lists[0]
    assert same_numbers(from_arrays[1], [float(y) for y in from_lists[1]])
    assert from_arrays[2] is from_lists[2]


def test_downsample_one_spike_in_a_million() -> None:
    ys = [0.0] * 1_000_000
    ys[765_432] = 5.0
    ys[123] = -5.0
    xs, out, exact = downsample(range(len(ys)), ys, 1000)
    assert not exact
    assert len(out) <= 2000
    assert (max(out), min(out)) == (5.0, -5.0)
    assert xs[out.index(5.0)] == 765_432
    with pytest.raises(ValueError, match="buckets"):
        downsample([1], [1], -1)
    with pytest.raises(ValueError, match="length"):
        downsample([1, 2], [1], 1)
    assert bisect.bisect_left(xs, 0) == 0


# -- expm ui -----------------------------------------------------------------------------


def test_ui_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now fails
    served: list[Any] = []
    monkeypatch.setattr(_commands_ui, "_serve", lambda *args: served.append(args))
    result = CliRunner().invoke(main, ["ui"])
    assert result.exit_code == 4  # a missing extra, as documented in the exit codes
    assert result.stderr.strip().splitlines() == [
        'error: the dashboard needs the "ui" extra: pip install "experiment-manager[ui]"'
    ]
    assert served == []


def test_ui_warns_when_listening_beyond_loopback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served: list[Any] = []
    monkeypatch.setattr(_commands_ui, "_serve", lambda *args: served.append(args))
    runner = CliRunner()
    result = runner.invoke(
        main, ["--log-dir", str(tmp_path), "ui", "--host", "0.0.0.0", "--port", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "warning: --host 0.0.0.0 is not a loopback address" in result.stderr
    assert "reachable from the network" in result.stderr
    app, listener, url, _ = served[-1]
    host, port = listener.getsockname()[:2]
    listener.close()
    assert (host, url) == ("0.0.0.0", None)
    assert f"at http://0.0.0.0:{port}/" in result.stderr
    allowed = TestClient(app, base_url=f"http://0.0.0.0:{port}")
    assert allowed.get("/api/experiments").status_code == 200
    refused = TestClient(app, base_url=f"http://evil.example:{port}")
    assert refused.get("/api/experiments").status_code == 400
    result = runner.invoke(
        main, ["ui", "--log-dir", str(tmp_path), "--port", "0", "--open"], catch_exceptions=False
    )
    assert result.exit_code == 0
    assert "warning" not in result.stderr
    app, listener, url, _ = served[-1]
    host, port = listener.getsockname()[:2]
    listener.close()
    assert (host, url) == ("127.0.0.1", f"http://127.0.0.1:{port}/")
    for base in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}"):
        assert TestClient(app, base_url=base).get("/api/experiments").status_code == 200
    for base in ("http://127.0.0.1:8765", "http://testserver", f"http://0.0.0.0:{port}"):
        assert TestClient(app, base_url=base).get("/api/experiments").status_code == 400
    result = runner.invoke(main, ["ui", "--allow-host", "bad host"])
    assert result.exit_code == 2
    assert _commands_ui.is_loopback("127.0.0.2")
    assert not _commands_ui.is_loopback("example.com")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@across_processes
def test_ui_serves_for_real(tmp_path: Path, process_log_dir: Callable[[Path], str]) -> None:
    import httpx

    manager = ExperimentManager(tmp_path / "logs", capture_environment=False)
    manager.start_experiment("real", {"lr": 0.1}, {}, experiment_id="real")
    manager.end_experiment()
    port = free_port()
    log_dir = process_log_dir(tmp_path / "logs")
    command = [sys.executable, "-m", "experiment_manager", "--log-dir", log_dir]
    process = subprocess.Popen(
        [*command, "ui", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/experiments", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert [e["experiment_id"] for e in strict_loads(response.content)["experiments"]] == [
            "real"
        ]
        assert "default-src 'self'" in response.headers["content-security-policy"]
        rebound = httpx.get(
            f"http://127.0.0.1:{port}/api/experiments", headers={"Host": "evil.example"}
        )
        assert rebound.status_code == 400
        page = httpx.get(f"http://localhost:{port}/")
        assert page.status_code in (200, 404)  # 404 only while the pages are not written
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert f"at http://127.0.0.1:{port}/" in stderr.decode()


def test_background_server_answers_without_nagle_delays(tmp_path: Path) -> None:
    # With Nagle's algorithm on, every answer on a kept-alive connection waits ~40 ms
    # for the client's delayed ACK; the served connections must have TCP_NODELAY.
    import http.client

    from experiment_manager.web import serve_in_background

    with serve_in_background(tmp_path) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            for _ in range(2):  # the same connection, kept alive
                connection.request("GET", "/api/experiments")
                assert connection.getresponse().read() == b'{"experiments":[]}'
            served = list(server._server.server_state.connections)
            assert served
            for protocol in served:
                sock = protocol.transport.get_extra_info("socket")
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        finally:
            connection.close()
