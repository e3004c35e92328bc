"""``GET /api/experiments/{id}/panels``: the workspace's grouping of metrics, as JSON."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
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


def _seeds(tmp_path: Path) -> TestClient:
    manager = ExperimentManager(tmp_path, capture_environment=False)
    for version, (lr, tags) in enumerate(
        [(0.1, ["a"]), (0.01, ["a", "b"]), (0.1, None), (0.01, ["b"]), (0.1, ["a"])], start=1
    ):
        manager.start_experiment("cfg", {"lr": lr, "seed": version}, {}, "exp", tags=tags)
        for step in range(4):
            manager.log({"loss": version * 10 + step, "acc": step / 4}, step)
        manager.end_experiment()
    return TestClient(create_app(tmp_path, allowed_hosts=["testserver"]))


def test_listing_grouped_by_a_hyperparameter_lists_each_group_with_its_count(
    tmp_path: Path,
) -> None:
    client = _seeds(tmp_path)
    body = client.get("/api/experiments/exp?group_by=hp:lr&sort=version&order=desc").json()
    assert body["group_by"] == "hp:lr"
    assert body["groups"] == [
        {"key": "0.01", "count": 2, "versions": [4, 2]},
        {"key": "0.1", "count": 3, "versions": [5, 3, 1]},
    ]
    # The rows come group after group, members in the sort order, each with its group.
    assert [v["version"] for v in body["versions"]] == [4, 2, 5, 3, 1]
    assert body["row_groups"] == ["0.01", "0.01", "0.1", "0.1", "0.1"]
    assert body["total"] == 5
    # A page of the grouped table is a slice of it; the groups are over every row.
    page = client.get("/api/experiments/exp?group_by=hp:lr&order=desc&offset=1&limit=2").json()
    assert [v["version"] for v in page["versions"]] == [2, 5]
    assert page["row_groups"] == ["0.01", "0.1"]
    assert page["groups"] == body["groups"]
    # The filter applies before grouping.
    filtered = client.get("/api/experiments/exp?group_by=hp:lr&filter=seed=1").json()
    assert filtered["groups"] == [{"key": "0.1", "count": 1, "versions": [1]}]


def test_listing_grouped_by_tag_lists_a_version_under_each_of_its_tags(tmp_path: Path) -> None:
    client = _seeds(tmp_path)
    body = client.get("/api/experiments/exp?group_by=tag").json()
    assert [(g["key"], g["count"], g["versions"]) for g in body["groups"]] == [
        ("(none)", 1, [3]),
        ("a", 3, [1, 2, 5]),
        ("b", 2, [2, 4]),
    ]
    assert [v["version"] for v in body["versions"]] == [3, 1, 2, 5, 2, 4]
    assert body["total"] == 6  # rows of the grouped table: v2 twice
    # The chart's groups of the same versions agree on membership and counts.
    chart = client.get("/api/experiments/exp/groups?metric=loss&by=tag").json()
    assert [(g["key"], len(g["versions"])) for g in chart["groups"]] == [
        (g["key"], g["count"]) for g in body["groups"]
    ]
    ungrouped = client.get("/api/experiments/exp").json()
    assert "groups" not in ungrouped
    assert "row_groups" not in ungrouped
    bad = client.get("/api/experiments/exp?group_by=colour")
    assert bad.status_code == 400
    assert "'colour'" in bad.json()["error"]["message"]


def test_panel_series_is_each_metric_as_series_gives_it(tmp_path: Path) -> None:
    client = _seeds(tmp_path)
    query = "versions=2,4&buckets=1&x=step"
    body = client.get(f"/api/experiments/exp/panels/series?metric=acc&metric=loss&{query}").json()
    assert body["x"] == "step"
    assert [r["metric"] for r in body["results"]] == ["acc", "loss"]
    for result in body["results"]:
        one = client.get(f"/api/experiments/exp/series?metric={result['metric']}&{query}").json()
        assert result["series"] == one["series"]
        assert [s["version"] for s in result["series"]] == [2, 4]
    zoomed = client.get("/api/experiments/exp/panels/series?metric=loss&start=1&end=2").json()
    assert [s["x"] for s in zoomed["results"][0]["series"]] == [[1.0, 2.0]] * 5
    assert client.get("/api/experiments/exp/panels/series").status_code == 400
    many = "&".join(f"metric=m{i}" for i in range(65))
    too_many = client.get(f"/api/experiments/exp/panels/series?{many}")
    assert too_many.status_code == 400
    assert "64" in too_many.json()["error"]["message"]
    assert (
        client.get("/api/experiments/exp/panels/series?metric=loss&versions=9").status_code == 404
    )


def _join_prefetch() -> None:
    for thread in threading.enumerate():
        if thread.name == "expm-prefetch":
            thread.join(timeout=60)


def test_the_listing_reads_the_first_panels_curves_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = ExperimentManager(tmp_path, capture_environment=False)
    names = [f"m{i:02d}" for i in range(20)]
    for version in range(3):
        manager.start_experiment("cfg", {"v": version}, {}, "exp")
        manager.log_metrics({name: [version + s / 7 for s in range(500)] for name in names})
        manager.end_experiment()
    first = "&".join(f"metric={name}" for name in names[:16])

    def reads_of(app: Any, listed: bool) -> list[str]:
        client = TestClient(app)
        if listed:
            assert client.get("/api/experiments/exp?limit=100").status_code == 200
            _join_prefetch()
        reads: list[str] = []
        store, reader = app.state.manager.store, app.state.manager
        read_metric, read_history = store.read_metric, reader.read_history

        def counted_metric(*args: Any) -> Any:
            reads.append(args[1])
            return read_metric(*args)

        def counted_history(experiment_id: str) -> Any:
            reads.append(experiment_id)
            return read_history(experiment_id)

        monkeypatch.setattr(store, "read_metric", counted_metric)
        monkeypatch.setattr(reader, "read_history", counted_history)
        body = client.get(f"/api/experiments/exp/panels/series?{first}&buckets=10").json()
        assert [r["metric"] for r in body["results"]] == names[:16]
        return reads

    # Without the listing first, the panels' request reads; after it, the curves are there.
    assert reads_of(create_app(tmp_path, allowed_hosts=["testserver"]), listed=False)
    app = create_app(tmp_path, allowed_hosts=["testserver"])
    assert reads_of(app, listed=True) == []
    # Not again for the same history; not for an experiment with a running version, or
    # one with more versions than is worth it.
    prefetcher = app.state.prefetcher
    listing = app.state.listings.get("exp")
    assert prefetcher.start("exp", listing.identity, names, versions=3, live=False) is None
    assert prefetcher.start("other", object(), names, versions=3, live=True) is None
    assert prefetcher.start("other", object(), names, versions=10_000, live=False) is None
