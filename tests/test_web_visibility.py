"""The API serves what the versions table lists: never a version in the trash, an
archived one only with ``all=1``; every endpoint that takes versions answers 404 for a
hidden one named explicitly, and leaves hidden ones out of "every version"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from experiment_manager import ExperimentManager
from experiment_manager.web import create_app

#: Endpoints that take versions of one experiment: (path with {v}, whether `all` applies).
NAMED = [
    "/api/experiments/exp/series?metric=loss&versions={v}",
    "/api/experiments/exp/panels/series?metric=loss&metric=acc&versions={v}",
    "/api/experiments/exp/groups?metric=loss&by=hp:lr&versions={v}",
    "/api/experiments/exp/compare?versions=1,{v}",
    "/api/series?metric=loss&refs=exp@{v}",
    "/api/compare?refs=exp@1,exp@{v}",
]


@pytest.fixture
def client(tmp_path: Path, each_store: str) -> TestClient:
    manager = ExperimentManager(tmp_path, capture_environment=False)
    for version in range(1, 6):
        with manager.experiment("cfg", {"lr": version / 10}, experiment_id="exp"):
            for step in range(3):
                manager.log({"loss": version + step, "acc": step}, step)
    manager.remove("exp", 2)  # in the trash
    manager.archive("exp", 3)
    manager.remove("exp", 5)
    manager.gc(older_than_days=0)  # 5 and 2 purged: only their numbers are left
    manager.remove("exp", 4)  # in the trash, restorable
    return TestClient(create_app(tmp_path, allowed_hosts=["testserver"]))


def versions_of(body: Any) -> list[int]:
    if "results" in body:  # /panels/series
        found = {tuple(s["version"] for s in r["series"]) for r in body["results"]}
        assert len(found) == 1  # every metric of the same versions
        return list(found.pop())
    if "series" in body:
        return [s["version"] for s in body["series"]]
    if "groups" in body and body["groups"] and "mean" in body["groups"][0]:
        return sorted(v for g in body["groups"] for v in g["versions"])
    if "refs" in body:  # /api/compare
        return [int(ref.rpartition("@")[2]) for ref in body["refs"]]
    return [int(v) for v in body["versions"]]


@pytest.mark.parametrize("path", NAMED)
def test_a_trashed_version_named_explicitly_is_not_served(client: TestClient, path: str) -> None:
    for hidden in (4, 5):  # in the trash; emptied by gc
        for extra in ("", "&all=1"):
            answer = client.get(path.format(v=hidden) + extra)
            assert answer.status_code == 404, (path, hidden, answer.text)
            assert answer.json()["error"] == {
                "type": "ExperimentNotFoundError",
                "message": f"no experiment 'exp' version {hidden}",
            }


@pytest.mark.parametrize("path", NAMED)
def test_an_archived_version_is_served_only_when_asked_for(client: TestClient, path: str) -> None:
    assert client.get(path.format(v=3)).status_code == 404
    answer = client.get(path.format(v=3) + "&all=1")
    assert answer.status_code == 200, answer.text
    assert 3 in versions_of(answer.json())
    assert client.get(path.format(v=3) + "&all=maybe").status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/experiments/exp/series?metric=loss",
        "/api/experiments/exp/panels/series?metric=loss",
        "/api/experiments/exp/groups?metric=loss&by=hp:lr",
    ],
)
def test_every_version_means_every_listed_one(client: TestClient, path: str) -> None:
    assert versions_of(client.get(path).json()) == [1]
    assert versions_of(client.get(path + "&all=1").json()) == [1, 3]
    listed = client.get("/api/experiments/exp?all=1").json()
    assert [v["version"] for v in listed["versions"]] == [1, 3]


def test_single_version_endpoints(client: TestClient) -> None:
    # Named in the path: an archived version is asked for, one in the trash does not exist.
    assert client.get("/api/experiments/exp/versions/3").status_code == 200
    assert client.get("/api/experiments/exp/versions/3/points?metric=loss").status_code == 200
    for hidden in (4, 5):
        assert client.get(f"/api/experiments/exp/versions/{hidden}").status_code == 404
        points = client.get(f"/api/experiments/exp/versions/{hidden}/points?metric=loss")
        assert points.status_code == 404
        assert points.json()["error"]["type"] == "ExperimentNotFoundError"


def test_a_restored_version_is_served_again(tmp_path: Path) -> None:
    manager = ExperimentManager(tmp_path, capture_environment=False)
    for _ in range(2):
        with manager.experiment("cfg", {}, experiment_id="exp"):
            manager.log({"loss": 1.0})
    client = TestClient(create_app(tmp_path, allowed_hosts=["testserver"]))
    path = "/api/experiments/exp/series?metric=loss"
    assert versions_of(client.get(path).json()) == [1, 2]  # read and cached
    manager.remove("exp", 2)
    assert versions_of(client.get(path).json()) == [1]  # the cache follows the trash
    assert client.get(path + "&versions=2").status_code == 404
    manager.restore("exp", 2)
    assert versions_of(client.get(path + "&versions=2").json()) == [2]


def test_on_postgres_named_versions_are_checked_without_reading_every_summary(
    postgres_uri: str,
) -> None:
    """A chart of a few versions of a big experiment reads only theirs (one query)."""
    manager = ExperimentManager(postgres_uri, capture_environment=False)
    for version in range(1, 5):
        with manager.experiment("cfg", {"lr": version / 10}, experiment_id="exp"):
            manager.log({"loss": version, "acc": 0.5})
    manager.archive("exp", 3)
    manager.remove("exp", 4)
    client = TestClient(create_app(postgres_uri, allowed_hosts=["testserver"]))
    store = client.app.state.manager.store  # type: ignore[attr-defined]
    whole = store.summaries
    calls: list[str] = []

    def counted(experiment_id: str) -> list[dict[str, Any]]:
        calls.append(experiment_id)
        return whole(experiment_id)  # type: ignore[no-any-return]

    store.summaries = counted
    for path in NAMED[:2] + NAMED[4:5]:
        assert client.get(path.format(v=1)).status_code == 200, path
        assert client.get(path.format(v=4)).status_code == 404, path  # in the trash
        assert client.get(path.format(v=3)).status_code == 404, path  # archived
        assert client.get(path.format(v=3) + "&all=1").status_code == 200, path
    assert calls == []


def test_named_versions_of_an_experiment_that_never_ran_name_the_experiment(
    client: TestClient,
) -> None:
    for path in NAMED:
        answer = client.get(path.replace("/exp/", "/nope/").replace("exp@", "nope@").format(v=1))
        assert answer.status_code == 404, path
        assert "'nope'" in answer.text, answer.text
        assert "version" not in answer.text.lower(), answer.text
