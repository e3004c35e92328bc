"""The dashboard never reveals where the server keeps its log folder.

Error bodies (HTTP 422 for a corrupt history) and the listing's error entries name the
file relative to the log folder, for the folder as given and as resolved (a path
through a symlink), against a real corrupt file.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager
from tests._util import strict_loads

warnings.filterwarnings("ignore", message=".*httpx.*")  # TestClient's deprecation note

from starlette.testclient import TestClient  # noqa: E402

from experiment_manager.web import create_app  # noqa: E402

CORRUPT = b'{"format": 1, "experiment_id": "broken", "versions": ['


@pytest.fixture(params=["real", "through_symlink"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    """A client of an app over a folder with a good and a corrupt history."""
    real = tmp_path / "secret-place" / "logs"
    manager = ExperimentManager(real, capture_environment=False)
    manager.start_experiment("good", {"lr": 0.1}, {})
    manager.log_metrics({"loss": [0.5, 0.25]})
    manager.end_experiment()
    (real / "broken.json").write_bytes(CORRUPT)
    given = real
    if request.param == "through_symlink":
        given = tmp_path / "link"
        given.symlink_to(real, target_is_directory=True)
    with TestClient(create_app(given, allowed_hosts=["testserver"])) as client:
        yield client, given


def _hidden(text: str, log_dir: Path) -> None:
    """``text`` names no absolute path of the folder, in any spelling."""
    for spelling in {str(log_dir), str(log_dir.resolve()), str(log_dir.parent)}:
        assert spelling not in text
    assert "secret-place" not in text


def test_listing_error_entries_name_the_file_relative_to_the_log_folder(
    served: tuple[TestClient, Path],
) -> None:
    client, log_dir = served
    response = client.get("/api/experiments")
    assert response.status_code == 200
    _hidden(response.text, log_dir)
    entries = {e["experiment_id"]: e for e in strict_loads(response.content)["experiments"]}
    assert set(entries) == {"broken", "good"}
    assert entries["broken"]["error"].startswith("corrupt history file 'broken.json': ")
    assert entries["good"]["versions"] == 1
    # The library itself still names the file in full, for its own user.
    library = ExperimentManager(log_dir, capture_environment=False).list_experiments()
    assert str(log_dir / "broken.json") in library[0]["error"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/experiments/broken",
        "/api/experiments/broken/versions/1",
        "/api/experiments/broken/series?metric=loss",
        "/api/search?experiment=broken",
        "/api/experiments/broken/compare?versions=1,2",
    ],
)
def test_422_bodies_name_the_file_relative_to_the_log_folder(
    served: tuple[TestClient, Path], url: str
) -> None:
    client, log_dir = served
    response = client.get(url)
    assert response.status_code == 422, response.text
    _hidden(response.text, log_dir)
    error = strict_loads(response.content)["error"]
    assert error["type"] == "CorruptHistoryError"
    assert error["message"].startswith("corrupt history file 'broken.json': ")
    assert (log_dir / "broken.json").read_bytes() == CORRUPT
