"""The contract on every backend: streaming, search and the dashboard's API behave alike.

Each test runs on a small folder history, a big one (calls kept in version files and
merged by readers) and the in-memory store (see the ``each_store`` fixture), through
the public API only.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.query import parse_query

warnings.filterwarnings("ignore", message=".*httpx.*")  # TestClient's deprecation note
from starlette.testclient import TestClient  # noqa: E402

from experiment_manager.web import create_app  # noqa: E402

pytestmark = pytest.mark.usefixtures("each_store")


def _sweep(log_dir: Path) -> ExperimentManager:
    manager = ExperimentManager(log_dir, capture_environment=False)
    for number, lr in enumerate([0.1, 0.01, 0.001, 0.05]):
        manager.start_experiment("sweep", {"lr": lr, "seed": number}, {}, experiment_id="exp")
        for step in range(20):
            manager.log({"loss": lr * 10 / (step + 1), "acc": step / 20}, step=step * 5)
        manager.add_checkpoint(f"ckpt-{number}.pt", step=95, metrics={"val_loss": lr})
        manager.end_experiment("failed" if number == 3 else "finished")
    manager.start_experiment("sweep", {"lr": 0.2}, {}, experiment_id="exp")
    manager.log({"loss": math.nan}, step=0)  # version 5 stays running
    return manager


def test_streamed_points_are_read_at_once_with_their_steps(log_dir: Path) -> None:
    manager = _sweep(log_dir)
    reader = ExperimentManager(log_dir, capture_environment=False)
    history = reader.read_history("exp")
    assert [h["version"] for h in history] == [1, 2, 3, 4, 5]
    assert [h["status"] for h in history] == ["finished"] * 3 + ["failed", "running"]
    assert history[1]["metrics"]["loss"] == [0.1 / (s + 1) for s in range(20)]
    assert history[1]["steps"]["acc"] == [s * 5 for s in range(20)]
    assert len(history[1]["timestamps"]["loss"]) == 20
    assert history[1]["timestamps"]["loss"] == history[1]["timestamps"]["acc"]
    assert math.isnan(history[4]["metrics"]["loss"][0])
    assert reader.get_version("exp", 2)["checkpoints"] == ["ckpt-1.pt"]
    best = reader.best_checkpoint("val_loss", experiment_id="exp", version=3)
    assert best is not None
    assert best["path"] == "ckpt-2.pt"
    manager.end_experiment()
    record = manager.resume_experiment("exp", 2)
    assert record.version == 2
    assert manager.log({"loss": 0.0}) == 96  # steps go on after the largest
    manager.end_experiment()
    resumed = reader.get_version("exp", 2)
    assert resumed["steps"]["loss"][-1] == 96
    assert resumed["resumed"][0]["from_status"] == "finished"


def test_search_filters_sorts_and_limits_alike(log_dir: Path) -> None:
    manager = _sweep(log_dir)
    manager.end_experiment()
    found = manager.search(
        "hyperparameters.lr < 0.09 and status = 'finished'",
        experiment_id="exp",
        order_by="metrics.loss.min",
        limit=2,
    )
    assert [r["version"] for r in found] == [3, 2]
    everywhere = manager.search("metrics.acc.max >= 0.9", order_by="version desc")
    assert [r["version"] for r in everywhere] == [4, 3, 2, 1]
    query = parse_query("status = 'failed'")
    assert [s["version"] for s in manager.store.search_versions("exp", query)] == [4]


def test_the_dashboard_api_pages_sorts_and_draws_alike(log_dir: Path) -> None:
    _sweep(log_dir).end_experiment()
    client = TestClient(create_app(log_dir, allowed_hosts=["testserver"]))
    listing = client.get("/api/experiments").json()
    [entry] = [e for e in listing["experiments"] if e["experiment_id"] == "exp"]
    assert entry["versions"] == 5
    page = client.get("/api/experiments/exp?sort=metrics.loss.last&order=asc&limit=2").json()
    assert page["total"] == 5
    assert [row["version"] for row in page["versions"]] == [3, 2]
    rest = client.get("/api/experiments/exp?sort=metrics.loss.last&offset=2&limit=10").json()
    assert [row["version"] for row in rest["versions"]] == [4, 1, 5]
    series = client.get("/api/experiments/exp/series?metric=loss&versions=2").json()
    [curve] = series["series"]
    assert curve["x"] == [s * 5 for s in range(20)]
    assert curve["y"] == [0.1 / (s + 1) for s in range(20)]
    version = client.get("/api/experiments/exp/versions/4").json()
    assert version["status"] == "failed"
    assert version["checkpoints"] == ["ckpt-3.pt"]
    searched = client.get("/api/search?q=hyperparameters.lr%20%3C%200.09&limit=2").json()
    assert searched["total"] == 3
    assert searched["count"] == 2


def test_a_versions_metrics_keep_the_order_their_names_first_came(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    for _ in range(2):
        manager.start_experiment("order", {}, {}, experiment_id="order")
        manager.log({"zeta": 1.0, "alpha": 2.0, "mid": 3.0})
        manager.log({"beta": 1.0, "zeta": 2.0})  # a new name after the first call's
        manager.log_metrics({"omega": [1.0], "aleph": [2.0]})
        manager.end_experiment()
    names = ["zeta", "alpha", "mid", "beta", "omega", "aleph"]
    reader = ExperimentManager(log_dir, capture_environment=False)
    assert list(reader.read_history("order")[0]["metrics"]) == names
    assert list(reader.get_version("order", 2)["steps"]) == names
    assert [list(s["metric_summaries"]) for s in reader.list_versions("order")] == [names] * 2
    assert list(reader.compare("order", [1, 2])["metrics"][1]) == names
