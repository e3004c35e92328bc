"""Importing TensorBoard event files written by tensorboardX and torch's SummaryWriter."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.importers import import_tensorboard
from experiment_manager.importers._common import iso
from tests._import_sources import require, tree_digest, write_source


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A log folder with a tensorboardX run and torch runs of both scalar styles."""
    require("tensorboardX", "torch", "tensorboard")
    root = tmp_path_factory.mktemp("tensorboard")
    expected = write_source("tensorboard_writer.py", root / "tb_logs", root / "expected.json")
    return root / "tb_logs", expected


def test_every_scalar_of_every_style_reads_back(
    source: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    logdir, expected = source
    before = tree_digest(logdir)
    report = import_tensorboard(logdir, tmp_path)
    assert report.ok
    assert sorted(i["name"] for i in report.imported) == ["tbx", "tf2", "torch_new", "torch_old"]
    history = ExperimentManager(tmp_path).read_history("tb_logs")
    assert len(history) == 4
    for version in history:
        run = expected[version["config_name"]]
        assert set(version["metrics"]) == set(run["scalars"]), version["config_name"]
        for tag, points in run["scalars"].items():
            assert version["metrics"][tag] == [p[0] for p in points], tag
            assert version["steps"][tag] == [p[1] for p in points], tag
            assert version["timestamps"][tag] == [p[2] for p in points], tag
        assert version["hyperparameters"] == run["hparams"]
        assert version["status"] == "finished"
        times = [t for column in version["timestamps"].values() for t in column]
        assert version["created_at"] <= iso(min(times))
        origin = version["imported_from"]
        assert origin["tool"] == "tensorboard"
        assert origin["source"] == str(logdir)
        assert origin["run_id"].startswith(version["config_name"] + "/events.out.tfevents.")
    new_style = next(v for v in history if v["config_name"] == "torch_new")
    assert len(new_style["metrics"]["train/loss"]) == 29  # tensor scalars, none sampled away
    assert tree_digest(logdir) == before


def test_reimport_skips_and_a_new_run_is_added(
    source: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    logdir = tmp_path / "copy"
    shutil.copytree(source[0], logdir)
    import_tensorboard(logdir, tmp_path / "logs", experiment_id="tb")
    history = json.dumps(ExperimentManager(tmp_path / "logs").read_history("tb"))
    again = import_tensorboard(logdir, tmp_path / "logs", experiment_id="tb")
    assert again.imported == []
    assert len(again.skipped) == 4
    assert json.dumps(ExperimentManager(tmp_path / "logs").read_history("tb")) == history
    shutil.copytree(logdir / "tbx", logdir / "later" / "tbx")
    third = import_tensorboard(logdir, tmp_path / "logs", experiment_id="tb")
    assert [(i["name"], i["version"]) for i in third.imported] == [("later/tbx", 5)]


def test_damaged_event_files(source: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    logdir = tmp_path / "damaged"
    shutil.copytree(source[0], logdir)
    # A file cut short: the events before the cut are imported, the report says so.
    events = next((logdir / "torch_old").glob("*tfevents*"))
    data = events.read_bytes()
    events.write_bytes(data[: len(data) // 2])
    # A file of junk in a run of its own: reported with its path, nothing imported.
    (logdir / "junk").mkdir()
    (logdir / "junk" / "events.out.tfevents.1.host").write_bytes(b"\x01" * 300)
    before = tree_digest(logdir)
    report = import_tensorboard(logdir, tmp_path / "logs")
    assert [item["path"] for item in report.failed] == [str(logdir / "junk")]
    imported = {item["name"]: item for item in report.imported}
    assert sorted(imported) == ["tbx", "tf2", "torch_new", "torch_old"]
    cut = imported["torch_old"]
    assert 0 < cut["points"] < 37
    assert len(cut["notes"]) == 1
    assert str(events) in cut["notes"][0]
    assert "cut short" in cut["notes"][0]
    assert "no event could be read" in report.failed[0]["reason"]
    assert tree_digest(logdir) == before
    version = ExperimentManager(tmp_path / "logs").get_version("damaged", cut["version"])
    expected = source[1]["torch_old"]["scalars"]["train/loss"]
    kept = version["metrics"]["train/loss"]
    assert kept == [p[0] for p in expected[: len(kept)]]


@pytest.fixture(scope="module")
def extra(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """Runs with add_hparams (torch, tensorboardX), a failed session and a long tag."""
    require("tensorboardX", "torch", "tensorboard")
    root = tmp_path_factory.mktemp("tensorboard-extra")
    expected = write_source("tensorboard_extra_writer.py", root / "logs", root / "expected.json")
    return root / "logs", expected


def test_add_hparams_sub_folder_belongs_to_its_run(
    extra: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    logdir, expected = extra
    # add_hparams wrote a folder of its own inside each run's folder.
    assert [p.name for p in (logdir / "hp_tbx").iterdir() if p.is_dir()] == ["hparams_run"]
    assert len([p for p in (logdir / "hp_torch").iterdir() if p.is_dir()]) == 1
    report = import_tensorboard(logdir, tmp_path)
    assert report.ok
    assert sorted(i["name"] for i in report.imported) == ["failed", "hp_tbx", "hp_torch", "long"]
    history = {v["config_name"]: v for v in ExperimentManager(tmp_path).read_history("logs")}
    for name in ("hp_tbx", "hp_torch"):
        version, run = history[name], expected[name]
        assert version["metrics"]["loss"] == run["loss"], name
        assert version["metrics"]["hparam/accuracy"] == [run["metric"]], name
        assert version["metadata"]["tensorboard.hparams_folders"] == [
            p.name for p in (logdir / name).iterdir() if p.is_dir()
        ]
    # tensorboardX writes a bool as a bool: it stays one.
    tbx = history["hp_tbx"]["hyperparameters"]
    assert tbx == expected["hp_tbx"]["hparams"]
    assert tbx["nesterov"] is True
    assert tbx["amp"] is False
    # torch writes a bool as the number 1.0 (typed FLOAT64): the file holds no bool.
    torch_hp = history["hp_torch"]["hyperparameters"]
    assert torch_hp == {"lr": 0.01, "nesterov": 1, "optimizer": "sgd", "layers": 3}
    assert type(torch_hp["nesterov"]) is int
    again = import_tensorboard(logdir, tmp_path)
    assert again.imported == []
    assert len(again.skipped) == 4


def test_a_session_that_ended_in_failure_is_failed(
    extra: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    logdir, expected = extra
    import_tensorboard(logdir / "failed", tmp_path)
    [version] = ExperimentManager(tmp_path).read_history("failed")
    assert version["status"] == "failed"
    assert version["imported_from"]["status"] == "STATUS_FAILURE"
    assert version["ended_at"] == iso(expected["failed"]["end_time"])
    assert version["hyperparameters"] == expected["failed"]["hparams"]
    assert version["metrics"]["loss"] == [9.5]


def test_every_scalar_of_a_tag_past_10000_is_imported(
    extra: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    logdir, expected = extra
    values = expected["long"]["values"]
    assert len(values) > 10_000  # TensorBoard's own loader keeps 10,000 a tag
    report = import_tensorboard(logdir / "long", tmp_path)
    assert report.imported[0]["points"] == len(values)
    [version] = ExperimentManager(tmp_path).read_history("long")
    assert version["metrics"]["wave"] == values
    assert version["steps"]["wave"] == list(range(len(values)))
