"""Version lists (``1-6``, ``1,3,5-7``) read the same way by the CLI and the dashboard."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager
from experiment_manager._ranges import MAX_RANGE, format_versions, is_version_list, parse_versions
from experiment_manager.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4", [4]),
        ("1-6", [1, 2, 3, 4, 5, 6]),
        ("1,3,5-7", [1, 3, 5, 6, 7]),
        (" 2 - 3 , 1 ", [2, 3, 1]),
        ("3,1-3", [3, 1, 2]),
        ("7-7", [7]),
    ],
)
def test_parses_lists_and_ranges(text: str, expected: list[int]) -> None:
    assert parse_versions(text) == expected
    assert is_version_list(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected a version"),
        ("a", "expected a version"),
        ("1,,2", "expected a version"),
        ("1-", "expected a version"),
        ("-3", "expected a version"),
        ("1.5", "expected a version"),
        ("0", "versions start at 1"),
        ("0-2", "versions start at 1"),
        ("6-1", "runs backwards"),
        (f"1-{MAX_RANGE + 1}", "at most"),
        ("1" * 12, "expected a version"),
    ],
)
def test_refuses_what_is_not_a_list(text: str, reason: str) -> None:
    with pytest.raises(InvalidArgumentError, match=reason) as caught:
        parse_versions(text, argument="--versions")
    assert caught.value.argument == "--versions"
    # The shape check accepts what only the values make wrong.
    shape_ok = reason in ("versions start at 1", "runs backwards", "at most")
    assert is_version_list(text) == shape_ok


def test_format_round_trips() -> None:
    for versions in ([1], [1, 2], [1, 2, 3], [1, 2, 3, 5, 7, 8, 9, 10], [4, 2, 9]):
        text = format_versions(versions)
        assert parse_versions(text) == sorted(set(versions))
    assert format_versions([1, 2, 3, 4, 6]) == "1-4,6"


# ---- the dashboard's API reads the same lists --------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    import warnings

    warnings.filterwarnings("ignore", message=".*httpx.*")
    from starlette.testclient import TestClient

    from experiment_manager.web import create_app

    manager = ExperimentManager(tmp_path, capture_environment=False)
    for experiment_id, count in (("exp", 7), ("other", 3)):
        for number in range(count):
            manager.start_experiment("cfg", {"lr": number / 10}, {}, experiment_id=experiment_id)
            manager.log_metrics({"loss": [1.0, 0.5 - number / 100]})
            manager.end_experiment()
    with TestClient(create_app(tmp_path, allowed_hosts=["testserver"])) as test_client:
        yield test_client


def test_the_api_reads_ranges_wherever_it_takes_versions(client: Any) -> None:
    def versions_of(path: str) -> list[int]:
        answer = client.get(path)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if "series" in body:
            return [entry["version"] for entry in body["series"]]
        if "results" in body:
            return [entry["version"] for entry in body["results"][0]["series"]]
        return [entry["version"] for entry in body["versions"]]

    assert versions_of("/api/experiments/exp?versions=2-4&sort=version") == [2, 3, 4]
    assert versions_of("/api/experiments/exp?versions=1,3,5-7&sort=version") == [1, 3, 5, 6, 7]
    assert versions_of("/api/experiments/exp/series?metric=loss&versions=1-3") == [1, 2, 3]
    assert versions_of("/api/experiments/exp/panels/series?metric=loss&versions=5-7,1") == [
        5,
        6,
        7,
        1,
    ]
    groups = client.get("/api/experiments/exp/groups?metric=loss&by=config_name&versions=1-6")
    assert groups.status_code == 200, groups.text
    assert [group["versions"] for group in groups.json()["groups"]] == [[1, 2, 3, 4, 5, 6]]
    compared = client.get("/api/experiments/exp/compare?versions=1-3").json()
    assert compared["versions"] == [1, 2, 3]
    assert compared["hyperparameters"] == {"lr": [0.0, 0.1, 0.2]}
    # Refs: id@list, and a bare list goes on with the experiment before it.
    across = client.get("/api/compare?refs=exp@1-2,other@1,3").json()
    assert across["refs"] == ["exp@1", "exp@2", "other@1", "other@3"]
    overlay = client.get("/api/series?metric=loss&refs=other@1-3").json()
    assert [entry["ref"] for entry in overlay["series"]] == ["other@1", "other@2", "other@3"]


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("/api/experiments/exp?versions=6-1", "6-1", "runs backwards"),
        ("/api/experiments/exp?versions=1,x", "x", "expected a version"),
        ("/api/experiments/exp/series?metric=loss&versions=0-2", "0-2", "versions start at 1"),
        ("/api/experiments/exp/panels/series?metric=loss&versions=1-", "1-", "expected"),
        ("/api/experiments/exp/groups?metric=loss&by=name&versions=3-2", "3-2", "backwards"),
        ("/api/experiments/exp/compare?versions=2-1", "2-1", "runs backwards"),
        (f"/api/experiments/exp?versions=1-{MAX_RANGE + 1}", f"1-{MAX_RANGE + 1}", "at most"),
        ("/api/compare?refs=exp@3-1", "3-1", "runs backwards"),
        ("/api/compare?refs=exp@1,y", "y", "expected a version"),
        ("/api/compare?refs=2-3", "2-3", "is not id@version"),
        ("/api/series?metric=loss&refs=other@0", "0", "versions start at 1"),
    ],
)
def test_the_api_refuses_bad_ranges_naming_them(
    client: Any, path: str, value: str, reason: str
) -> None:
    answer = client.get(path)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "InvalidArgumentError"
    assert repr(value) in error["message"]
    assert reason in error["message"]
