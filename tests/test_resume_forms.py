"""resume_experiment as a with block, from_step for re-logged steps, and downtime."""

from __future__ import annotations

import csv
import time
from datetime import datetime
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager, ExperimentRecord
from experiment_manager.manager import _dead_seconds


@pytest.fixture
def manager(log_dir: Path) -> ExperimentManager:
    manager = ExperimentManager(log_dir, capture_environment=False)
    with manager.start_experiment("cfg", {}, {}, experiment_id="exp"):
        for step in range(20):
            manager.log({"loss": 1.0 / (step + 1)}, step=step)
    return manager


def test_a_resumed_record_ends_finished_or_failed_as_its_with_block(
    manager: ExperimentManager,
) -> None:
    with manager.resume_experiment("exp") as record:
        manager.log({"loss": 0.01})
    assert record.version == 1
    assert manager.active_experiment is None
    assert manager.read_history("exp")[0]["status"] == "finished"
    error = ValueError("diverged")
    with pytest.raises(ValueError) as caught, manager.resume_experiment("exp"):
        raise error
    assert caught.value is error  # unchanged
    (version,) = manager.read_history("exp")
    assert version["status"] == "failed"
    assert version["error"] == {"type": "ValueError", "message": "diverged"}
    loose = ExperimentRecord("a", 1, "2026-01-01T00:00:00+00:00", "a", {}, {})
    with pytest.raises(TypeError, match="only a record that start_experiment"), loose:
        pass


def test_from_step_supersedes_the_re_logged_points(
    manager: ExperimentManager, tmp_path: Path
) -> None:
    # The run crashed after step 19 and is resumed from its checkpoint of step 15.
    with manager.resume_experiment("exp", from_step=15):
        for _ in range(15, 30):
            manager.log({"loss": 0.5})  # default steps continue from 15
    (version,) = manager.read_history("exp")
    assert version["steps"]["loss"] == list(range(30))  # each step once
    assert version["metrics"]["loss"][14:16] == [1.0 / 15, 0.5]
    assert version["resumed"][0]["from_step"] == 15
    kept = version["superseded"]["loss"]  # kept in the file, visible on request
    assert kept["steps"] == [15, 16, 17, 18, 19]
    assert kept["values"] == [1.0 / (step + 1) for step in range(15, 20)]
    assert len(kept["timestamps"]) == 5
    (summary,) = manager.list_versions("exp")
    assert summary["metric_summaries"]["loss"]["count"] == 30  # not 35
    manager.export(tmp_path / "points.csv", "csv", experiment_id="exp", shape="long")
    with (tmp_path / "points.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 30
    # Without from_step a re-logged step is kept twice, as documented.
    with manager.resume_experiment("exp"):
        manager.log({"loss": 0.25}, step=29)
    assert manager.list_versions("exp")[0]["metric_summaries"]["loss"]["count"] == 31


def test_duration_leaves_out_the_time_the_run_was_not_running(manager: ExperimentManager) -> None:
    (before,) = manager.read_history("exp")
    time.sleep(0.5)
    with manager.resume_experiment("exp"):
        manager.log({"loss": 0.01})
    (after,) = manager.read_history("exp")
    assert after["downtime"] >= 0.5
    ended, created = (datetime.fromisoformat(after[key]) for key in ("ended_at", "created_at"))
    wall = (ended - created).total_seconds()
    assert after["duration"] == pytest.approx(wall - after["downtime"], abs=1e-5)
    assert after["duration"] < 0.5 + before["duration"]


def test_a_crashed_run_was_dead_from_its_last_point() -> None:
    stored = {"ended_at": None, "timestamps": {"loss": [1000.0, 1010.0, None]}}
    assert _dead_seconds(stored, "1970-01-01T00:17:10+00:00") == 20.0  # 1030 - 1010
    assert _dead_seconds({"ended_at": None}, "1970-01-01T00:00:05+00:00") == 0.0


def _resumed_twice(log_dir: Path) -> ExperimentManager:
    """Version 1 resumed from step 15 (after 20 steps), version 2 resumed plainly."""
    manager = ExperimentManager(log_dir, capture_environment=False, system_metrics=False)
    with manager.experiment("cfg", {}, experiment_id="exp"):
        for step in range(20):
            manager.log({"loss": 1.0 / (step + 1)}, step=step)
    with manager.resume_experiment("exp", from_step=15):
        for _ in range(15, 30):
            manager.log({"loss": 0.5})
    with manager.experiment("cfg", {}, experiment_id="exp"):
        for step in range(10):
            manager.log({"loss": 2.0}, step=step)
    with manager.resume_experiment("exp", 2):
        manager.log({"loss": 1.5})
    return manager


def test_the_series_api_carries_the_resume_markers_and_leaves_out_superseded_points(
    log_dir: Path, each_store: str
) -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*httpx.*")  # TestClient's deprecation note
    from starlette.testclient import TestClient

    from experiment_manager.web import create_app

    manager = _resumed_twice(log_dir)
    history = manager.read_history("exp")
    assert [entry["step"] for entry in history[0]["resumed"]] == [15]  # where it went on
    assert [entry["step"] for entry in history[1]["resumed"]] == [10]
    client = TestClient(create_app(log_dir, allowed_hosts=["testserver"]))
    body = client.get("/api/experiments/exp/series", params={"metric": "loss"}).json()
    one, two = body["series"]
    assert one["x"] == list(range(30))  # steps 15-19 of the first run are not drawn
    assert one["total"] == 30
    at = history[0]["resumed"][0]["at"]
    assert one["resumes"] == [
        {
            "x": 15,
            "label": "resumed from step 15",
            "at": at,
            "from_status": "finished",
            "from_step": 15,
        }
    ]
    assert [(m["x"], m["label"], m["from_step"]) for m in two["resumes"]] == [
        (10, "resumed at step 10", None)
    ]
    # On the time axis the marker is at the resume's time: after the points before it.
    timed = client.get("/api/experiments/exp/series", params={"metric": "loss", "x": "time"})
    mark = timed.json()["series"][0]["resumes"][0]["x"]
    assert mark == datetime.fromisoformat(at).timestamp()
    times = timed.json()["series"][0]["x"]
    assert times[14] < mark <= times[15]
    indexed = client.get("/api/experiments/exp/series", params={"metric": "loss", "x": "index"})
    assert [s["resumes"] for s in indexed.json()["series"]] == [[], []]
    # The workspace's batched request gives the same markers.
    panels = client.get(
        "/api/experiments/exp/panels/series", params={"metric": "loss", "versions": "1"}
    ).json()
    assert panels["results"][0]["series"][0]["resumes"] == one["resumes"]
    # And the compare page's, over versions of any experiments.
    refs = client.get("/api/series", params={"metric": "loss", "refs": "exp@2,exp@1"}).json()
    assert [s["resumes"] for s in refs["series"]] == [two["resumes"], one["resumes"]]


def _superseded_with_nan(log_dir: Path) -> ExperimentManager:
    """Version 1: steps 0-19, resumed from step 15; a superseded value is NaN."""
    manager = ExperimentManager(log_dir, capture_environment=False, system_metrics=False)
    with manager.experiment("cfg", {}, experiment_id="exp"):
        for step in range(20):
            manager.log({"loss": float("nan") if step == 17 else 1.0 / (step + 1)}, step=step)
    with manager.resume_experiment("exp", from_step=15):
        for step in range(15, 30):
            manager.log({"loss": 0.5}, step=step)
    return manager


def test_read_history_keeps_superseded_points_as_numbers(log_dir: Path, each_store: str) -> None:
    manager = _superseded_with_nan(log_dir)
    (version,) = manager.read_history("exp")
    kept = version["superseded"]["loss"]
    assert kept["steps"] == [15, 16, 17, 18, 19]
    values = kept["values"]
    assert values[:2] == [1.0 / 16, 1.0 / 17]
    assert values[3:] == [1.0 / 19, 1.0 / 20]
    assert isinstance(values[2], float)
    assert values[2] != values[2]


def test_export_includes_superseded_points_only_when_asked(log_dir: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from experiment_manager import InvalidArgumentError
    from experiment_manager.cli import main

    manager = _superseded_with_nan(log_dir)
    default = tmp_path / "default.csv"
    assert manager.export(default, "csv", experiment_id="exp", shape="long") == 30
    with default.open() as handle:
        rows = list(csv.DictReader(handle))
    assert "superseded" not in rows[0]
    everything = tmp_path / "all.csv"
    count = manager.export(
        everything, "csv", experiment_id="exp", shape="long", include_superseded=True
    )
    assert count == 35
    with everything.open() as handle:
        rows = list(csv.DictReader(handle))
    moved = [row for row in rows if row["superseded"] == "True"]
    assert [row["step"] for row in moved] == ["15", "16", "17", "18", "19"]
    assert [row["index"] for row in moved] == ["0", "1", "2", "3", "4"]
    assert moved[2]["value"] == "nan"
    assert sum(row["superseded"] == "False" for row in rows) == 30
    frame = manager.to_dataframe("exp", shape="long", include_superseded=True)
    assert int(frame["superseded"].sum()) == 5
    with pytest.raises(InvalidArgumentError, match="needs the long shape"):
        manager.export(tmp_path / "wide.csv", "csv", include_superseded=True)
    runner = CliRunner()
    out = tmp_path / "cli.jsonl"
    result = runner.invoke(
        main,
        [
            "--log-dir",
            str(log_dir),
            "export",
            "exp",
            "--long",
            "--include-superseded",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert len(lines) == 35
    assert sum('"superseded":true' in line for line in lines) == 5
    wide = runner.invoke(
        main, ["--log-dir", str(log_dir), "export", "--include-superseded", "-o", str(out)]
    )
    assert wide.exit_code == 2
    assert "--include-superseded needs --long" in wide.output


def test_the_series_api_gives_superseded_points_on_request(log_dir: Path, each_store: str) -> None:
    import math
    import warnings

    warnings.filterwarnings("ignore", message=".*httpx.*")  # TestClient's deprecation note
    from starlette.testclient import TestClient

    from experiment_manager.web import create_app

    manager = _superseded_with_nan(log_dir)
    with manager.experiment("cfg", {}, experiment_id="exp"):  # version 2: nothing superseded
        manager.log({"loss": 2.0}, step=0)
    client = TestClient(create_app(log_dir, allowed_hosts=["testserver"]))
    plain = client.get("/api/experiments/exp/series", params={"metric": "loss"}).json()
    assert all("superseded" not in entry for entry in plain["series"])
    body = client.get(
        "/api/experiments/exp/series", params={"metric": "loss", "superseded": "1"}
    ).json()
    one, two = body["series"]
    assert one["x"] == list(range(30))  # the current points are as without the flag
    moved = one["superseded"]
    assert moved["x"] == [15, 16, 17, 18, 19]
    assert moved["total"] == 5
    assert moved["exact"] is True
    assert moved["y"][2] == "NaN"  # strict JSON, as every series
    assert moved["y"][0] == pytest.approx(1.0 / 16)
    assert two["superseded"] == {"total": 0, "in_range": 0, "exact": True, "x": [], "y": []}
    zoomed = client.get(
        "/api/experiments/exp/series",
        params={"metric": "loss", "superseded": "1", "start": "17", "end": "18"},
    ).json()
    assert zoomed["series"][0]["superseded"]["x"] == [17, 18]
    timed = client.get(
        "/api/experiments/exp/series", params={"metric": "loss", "superseded": "1", "x": "time"}
    ).json()
    times = timed["series"][0]["superseded"]["x"]
    assert len(times) == 5
    assert all(math.isfinite(t) and t > 1e9 for t in times)
    panels = client.get(
        "/api/experiments/exp/panels/series",
        params={"metric": "loss", "versions": "1", "superseded": "1"},
    ).json()
    assert panels["results"][0]["series"][0]["superseded"] == moved
    refs = client.get(
        "/api/series", params={"metric": "loss", "refs": "exp@1", "superseded": "1"}
    ).json()
    assert refs["series"][0]["superseded"] == moved
    bad = client.get("/api/experiments/exp/series", params={"metric": "loss", "superseded": "x"})
    assert bad.status_code == 400
