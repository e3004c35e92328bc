"""``GET /api/experiments/{id}/panels``: the workspace's grouping of metrics, as JSON."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from experiment_manager import ExperimentManager
from experiment_manager.web import create_app
from experiment_manager.web._panels import group_metrics


def test_metrics_are_grouped_by_prefix_with_system_last(tmp_path: Path) -> None:
    manager = ExperimentManager(tmp_path, capture_environment=False)
    manager.start_experiment("cfg", {}, {}, "exp")
    manager.log({"system/cpu": 1.0, "val/loss": 1.0, "loss": 1.0, "acc": 1.0, "train/loss": 1.0})
    manager.end_experiment()
    manager.start_experiment("cfg", {}, {}, "exp")
    manager.log({"train/acc": 1.0, "/odd": 2.0})  # a leading "/" is no prefix
    manager.end_experiment()
    client = TestClient(create_app(tmp_path, allowed_hosts=["testserver"]))
    body = client.get("/api/experiments/exp/panels").json()
    assert body == {
        "experiment_id": "exp",
        "groups": [
            {"name": "", "system": False, "metrics": ["/odd", "acc", "loss"]},
            {"name": "train", "system": False, "metrics": ["train/acc", "train/loss"]},
            {"name": "val", "system": False, "metrics": ["val/loss"]},
            {"name": "system", "system": True, "metrics": ["system/cpu"]},
        ],
    }
    assert client.get("/api/experiments/nope/panels").status_code == 404
    assert client.get("/api/experiments/..%2Fx/panels").status_code == 404


def test_grouping_of_no_metrics_and_of_system_only() -> None:
    assert group_metrics([]) == []
    assert group_metrics(["system/a"]) == [
        {"name": "system", "system": True, "metrics": ["system/a"]}
    ]


def test_hparams_rows_of_the_differing_hyperparameters(tmp_path: Path) -> None:
    manager = ExperimentManager(tmp_path, capture_environment=False)
    for lr, opt in ((0.1, "sgd"), (0.01, "adam"), (0.001, True)):
        manager.start_experiment(
            "cfg", {"lr": lr, "opt": opt, "bs": 32, "net": {"w": lr}}, {}, "exp"
        )
        manager.log({"loss": lr * 2})
        manager.log({"loss": lr})
        manager.end_experiment()
    client = TestClient(create_app(tmp_path, allowed_hosts=["testserver"]))
    body = client.get("/api/experiments/exp/hparams?metric=loss&agg=max").json()
    assert body["metric"] == "loss"
    assert body["agg"] == "max"
    assert body["metrics"] == ["loss"]
    assert body["axes"] == [
        {"key": "lr", "kind": "number", "categories": None},
        {"key": "opt", "kind": "category", "categories": ["adam", "sgd", "true"]},
        {"key": "net.w", "kind": "number", "categories": None},
    ]
    assert body["versions"][2] == {"version": 3, "values": [0.001, "true", 0.001], "metric": 0.002}
    assert client.get("/api/experiments/exp/hparams").json()["metric"] is None
    assert client.get("/api/experiments/exp/hparams?metric=nope").status_code == 400
    assert client.get("/api/experiments/exp/hparams?metric=loss&agg=median").status_code == 400
    assert client.get("/api/experiments/nope/hparams").status_code == 404


def test_archived_versions_are_listed_only_when_asked_for(tmp_path: Path) -> None:
    manager = ExperimentManager(tmp_path, capture_environment=False)
    for _ in range(3):
        manager.start_experiment("cfg", {}, {}, "exp")
        manager.end_experiment()
    manager.archive("exp", 2)
    manager.remove("exp", 3)
    client = TestClient(create_app(tmp_path, allowed_hosts=["testserver"]))
    shown = client.get("/api/experiments/exp").json()
    assert [v["version"] for v in shown["versions"]] == [1]
    every = client.get("/api/experiments/exp?all=1").json()
    assert [v["version"] for v in every["versions"]] == [1, 2]  # never the trash
    assert every["versions"][1]["archived"] is True
    assert client.get("/api/experiments/exp?all=maybe").status_code == 400
    manager.archive("exp", 1)
    empty = client.get("/api/experiments/exp").json()  # it exists, with nothing shown
    assert (empty["total"], empty["versions"]) == (0, [])


def test_compare_and_series_across_experiments(tmp_path: Path) -> None:
    manager = ExperimentManager(tmp_path, capture_environment=False)
    for experiment_id, lr in (("a", 0.1), ("b", 0.2)):
        manager.start_experiment(experiment_id, {"lr": lr}, {})
        manager.log({"loss": lr})
        manager.log({"loss": lr / 2})
        manager.end_experiment()
    client = TestClient(create_app(tmp_path, allowed_hosts=["testserver"]))
    body = client.get("/api/compare?refs=a@1,b@1").json()
    assert body["refs"] == ["a@1", "b@1"]
    assert body["hyperparameters"] == {"lr": [0.1, 0.2]}
    series = client.get("/api/series?metric=loss&refs=b@1,a@1").json()["series"]
    assert [(s["ref"], s["y"]) for s in series] == [("b@1", [0.2, 0.1]), ("a@1", [0.1, 0.05])]
    for bad in ("refs=a", "refs=a@0", "refs=", "refs=../x@1"):
        assert client.get(f"/api/compare?{bad}").status_code in (400, 404), bad
    assert client.get("/api/series?metric=loss&refs=a@1,b@9").status_code == 404
    assert client.get("/compare?refs=a@1,b@1").status_code == 200
