"""Checkpoints by reference: recorded details, SHA-256, never copied, best, verify."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from experiment_manager import ExperimentManager
from experiment_manager.errors import (
    InvalidArgumentError,
    InvalidMetricError,
    NoActiveExperimentError,
)
from tests._util import assert_same, history_path, strict_loads, tree, written_through

pytestmark = pytest.mark.usefixtures("each_store")

EXPERIMENT_ID = "ckpt"


@pytest.fixture
def ckpt_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    return folder


@pytest.fixture
def manager(manager: ExperimentManager) -> ExperimentManager:
    """The manager of tests/conftest.py (on ``log_dir``), with a version started."""
    manager.start_experiment("ckpt", {}, {}, experiment_id=EXPERIMENT_ID)
    return manager


def _record(manager: ExperimentManager) -> dict[str, Any]:
    record: dict[str, Any] = manager.read_history(EXPERIMENT_ID)[-1]
    return record


def _file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _by_status(report: list[dict[str, Any]]) -> dict[str, str]:
    return {entry["path"]: entry["status"] for entry in report}


# -- what is recorded --------------------------------------------------------------------


@written_through
def test_checkpoints_list_holds_str_paths_as_given(
    manager: ExperimentManager, log_dir: Path, ckpt_dir: Path
) -> None:
    absolute = _file(ckpt_dir / "a.pt", b"a")
    manager.add_checkpoint(absolute)  # a Path
    manager.add_checkpoint("relative/b.pt")  # a str, kept as typed
    manager.add_checkpoint(Path("relative") / "c.pt")
    expected = [str(absolute), "relative/b.pt", os.path.join("relative", "c.pt")]
    active = manager.active_experiment
    assert active is not None
    assert active.checkpoints == expected
    assert all(type(path) is str for path in active.checkpoints)
    assert _record(manager)["checkpoints"] == expected
    file = strict_loads(history_path(log_dir, EXPERIMENT_ID).read_text(encoding="utf-8"))
    assert file["versions"][0]["checkpoints"] == expected  # written through at once
    manager.end_experiment()
    assert _record(manager)["checkpoints"] == expected


def test_details_of_a_file_a_folder_and_a_missing_path(
    manager: ExperimentManager, ckpt_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ckpt_dir)
    weights = _file(ckpt_dir / "model.pt", os.urandom(12345))
    folder = ckpt_dir / "hf_checkpoint"
    _file(folder / "config.json", b"{}" * 10)
    _file(folder / "shards" / "model-00001.safetensors", b"x" * 1000)
    newest = _file(folder / "shards" / "model-00002.safetensors", b"y" * 500)
    os.utime(newest, (time.time() + 100, time.time() + 100))

    before = time.time()
    manager.add_checkpoint(weights, step=100, metrics={"val_loss": 0.25, "acc": np.float32(0.5)})
    manager.add_checkpoint(folder, step=200)
    manager.add_checkpoint("gone.pt", step=300, metrics={"val_loss": float("nan")})
    after = time.time()

    file_detail, folder_detail, missing = _record(manager)["checkpoint_details"]

    info = weights.stat()
    assert file_detail["path"] == str(weights)
    assert file_detail["exists"] is True
    assert file_detail["size"] == 12345
    assert file_detail["mtime"] == info.st_mtime
    assert file_detail["step"] == 100
    assert_same(file_detail["metrics"], {"val_loss": 0.25, "acc": float(np.float32(0.5))})
    assert file_detail["sha256"] is None  # not asked for
    added = file_detail["added_at"]
    assert before - 1 <= _timestamp(added) <= after + 1

    assert folder_detail["exists"] is True
    assert folder_detail["size"] == 20 + 1000 + 500  # the sum of its files
    assert folder_detail["mtime"] == newest.stat().st_mtime  # its newest file
    assert folder_detail["step"] == 200
    assert folder_detail["metrics"] is None

    assert missing["path"] == "gone.pt"
    assert missing["abspath"] == str(ckpt_dir / "gone.pt")
    assert missing["exists"] is False
    assert missing["size"] is None
    assert missing["mtime"] is None
    assert missing["step"] == 300
    assert_same(missing["metrics"], {"val_loss": float("nan")})

    manager.end_experiment()
    assert _record(manager)["checkpoint_details"][:2] == [file_detail, folder_detail]


def _timestamp(text: str) -> float:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None
    return moment.timestamp()


@written_through
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"checkpoint_path": ""}, InvalidArgumentError),
        ({"checkpoint_path": b"model.pt"}, InvalidArgumentError),
        ({"checkpoint_path": None}, InvalidArgumentError),
        ({"checkpoint_path": "a\x00b"}, InvalidArgumentError),
        ({"checkpoint_path": "m.pt", "step": -1}, InvalidArgumentError),
        ({"checkpoint_path": "m.pt", "step": 1.5}, InvalidArgumentError),
        ({"checkpoint_path": "m.pt", "metrics": {"val_loss": "low"}}, InvalidMetricError),
        ({"checkpoint_path": "m.pt", "metrics": {"val_loss": None}}, InvalidMetricError),
        ({"checkpoint_path": "m.pt", "metrics": {"": 0.5}}, InvalidMetricError),
    ],
)
def test_bad_checkpoint_arguments_raise_and_record_nothing(
    manager: ExperimentManager, log_dir: Path, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    before = history_path(log_dir, EXPERIMENT_ID).read_bytes()
    with pytest.raises(error):
        manager.add_checkpoint(**kwargs)
    assert history_path(log_dir, EXPERIMENT_ID).read_bytes() == before
    active = manager.active_experiment
    assert active is not None
    assert active.checkpoints == []


def test_add_checkpoint_needs_an_active_experiment(log_dir: Path) -> None:
    with pytest.raises(NoActiveExperimentError):
        ExperimentManager(log_dir).add_checkpoint("model.pt")


# -- sha256 ------------------------------------------------------------------------------


def test_sha256_is_the_digest_of_the_file_and_is_recorded_before_the_run_ends(
    manager: ExperimentManager, ckpt_dir: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # several read chunks
    weights = _file(ckpt_dir / "model.pt", data)
    small = _file(ckpt_dir / "small.pt", b"tiny")
    manager.add_checkpoint(weights, sha256=True)
    manager.add_checkpoint(small, sha256=True)
    manager.add_checkpoint(ckpt_dir / "missing.pt", sha256=True)  # no error, no hash
    expected = hashlib.sha256(data).hexdigest()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # hashed in the background while the run goes on
        details = _record(manager)["checkpoint_details"]
        if details[0]["sha256"] and details[1]["sha256"]:
            break
        time.sleep(0.02)
    assert _record(manager)["status"] == "running"
    assert details[0]["sha256"] == expected
    assert details[1]["sha256"] == hashlib.sha256(b"tiny").hexdigest()
    assert details[2]["sha256"] is None


def test_sha256_is_recorded_when_the_run_ends_right_after_adding(
    manager: ExperimentManager, ckpt_dir: Path
) -> None:
    data = os.urandom(8 * 1024 * 1024)
    weights = _file(ckpt_dir / "model.pt", data)
    manager.add_checkpoint(weights, sha256=True)
    ended = manager.end_experiment()
    assert ended.checkpoint_details[0]["sha256"] == hashlib.sha256(data).hexdigest()
    stored = _record(manager)["checkpoint_details"][0]
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()


def test_sha256_of_a_folder_is_recorded_and_follows_its_content(
    manager: ExperimentManager, ckpt_dir: Path
) -> None:
    one, two = ckpt_dir / "one", ckpt_dir / "two"
    for folder in (one, two):
        _file(folder / "a.bin", b"A" * 100)
        _file(folder / "sub" / "b.bin", b"B" * 50)
    _file(two / "sub" / "b.bin", b"C" * 50)  # same layout and sizes, other bytes
    manager.add_checkpoint(one, sha256=True)
    manager.add_checkpoint(two, sha256=True)
    manager.end_experiment()
    first, second = (d["sha256"] for d in _record(manager)["checkpoint_details"])
    assert isinstance(first, str)
    assert isinstance(second, str)
    assert len(first) == 64
    assert int(first, 16) >= 0
    assert first != second


# -- never copied ------------------------------------------------------------------------


def test_checkpoint_files_are_never_copied_or_touched(log_dir: Path, ckpt_dir: Path) -> None:
    data = os.urandom(2 * 1024 * 1024)
    weights = _file(ckpt_dir / "model.pt", data)
    _file(ckpt_dir / "folder" / "w.bin", data[:4096])
    manager = ExperimentManager(log_dir)
    manager.start_experiment("ckpt", {}, {}, experiment_id=EXPERIMENT_ID)
    checkpoints_before = tree(ckpt_dir)
    stats_before = {p: os.stat(ckpt_dir / p).st_mtime_ns for p in checkpoints_before}
    manager.add_checkpoint(weights, step=1, sha256=True)
    manager.add_checkpoint(ckpt_dir / "folder", step=2, sha256=True)
    manager.log({"loss": 0.5})
    manager.end_experiment()

    assert tree(ckpt_dir) == checkpoints_before
    assert {p: os.stat(ckpt_dir / p).st_mtime_ns for p in checkpoints_before} == stats_before
    ours = tree(log_dir)
    files = {path: content for path, content in ours.items() if content is not None}
    assert set(files) - {f"{EXPERIMENT_ID}.json"} <= {p for p in files if p.startswith(".expm/")}
    assert sum(len(content) for content in files.values()) < 64 * 1024
    sample = data[1000:1064]
    assert all(sample not in content for content in files.values())


# -- best_checkpoint ---------------------------------------------------------------------


def test_best_checkpoint_by_the_metrics_snapshot(manager: ExperimentManager) -> None:
    manager.add_checkpoint("e1.pt", step=1, metrics={"val_loss": 0.40, "acc": 0.70})
    manager.add_checkpoint("e2.pt", step=2, metrics={"val_loss": 0.30, "acc": 0.75})
    manager.add_checkpoint("e3.pt", step=3, metrics={"val_loss": float("nan"), "acc": 0.9})
    manager.add_checkpoint("e4.pt", step=4, metrics={"val_loss": 0.35, "acc": 0.72})
    manager.add_checkpoint("e5.pt", step=5)  # no value at all: never chosen
    best = manager.best_checkpoint("val_loss")
    assert best is not None
    assert best["path"] == "e2.pt"
    assert best["value"] == 0.30
    assert best["step"] == 2
    worst = manager.best_checkpoint("val_loss", mode="max")
    assert worst is not None
    assert worst["path"] == "e1.pt"  # NaN never wins
    top = manager.best_checkpoint("acc", "max")
    assert top is not None
    assert (top["path"], top["value"]) == ("e3.pt", 0.9)
    assert manager.best_checkpoint("unknown_metric") is None


def test_best_checkpoint_by_the_value_logged_at_its_step(manager: ExperimentManager) -> None:
    for step, loss in enumerate([0.9, 0.5, 0.7, 0.2, 0.6]):
        manager.log({"val_loss": loss}, step=step * 10)
    manager.add_checkpoint("s10.pt", step=10)
    manager.add_checkpoint("s30.pt", step=30)
    manager.add_checkpoint("s40.pt", step=40)
    manager.add_checkpoint("s99.pt", step=99)  # nothing logged at 99
    manager.add_checkpoint("nostep.pt")
    manager.add_checkpoint("snap.pt", step=0, metrics={"val_loss": 0.8})  # snapshot wins
    best = manager.best_checkpoint("val_loss", "min")
    assert best is not None
    assert (best["path"], best["value"]) == ("s30.pt", 0.2)
    worst = manager.best_checkpoint("val_loss", "max")
    assert worst is not None
    assert (worst["path"], worst["value"]) == ("snap.pt", 0.8)


def test_best_checkpoint_of_an_ended_version_by_id(
    manager: ExperimentManager, log_dir: Path
) -> None:
    manager.add_checkpoint("v1a.pt", metrics={"score": 1.0})
    manager.add_checkpoint("v1b.pt", metrics={"score": 3.0})
    manager.start_experiment("ckpt", {}, {}, experiment_id=EXPERIMENT_ID)
    manager.add_checkpoint("v2.pt", metrics={"score": 2.0})
    manager.end_experiment()
    reader = ExperimentManager(log_dir)
    latest = reader.best_checkpoint("score", "max", experiment_id=EXPERIMENT_ID)
    assert latest is not None
    assert latest["path"] == "v2.pt"
    first = reader.best_checkpoint("score", "max", experiment_id=EXPERIMENT_ID, version=1)
    assert first is not None
    assert first["path"] == "v1b.pt"
    with pytest.raises(InvalidArgumentError):
        reader.best_checkpoint("score", "lowest", experiment_id=EXPERIMENT_ID)
    with pytest.raises(NoActiveExperimentError):
        reader.best_checkpoint("score")


# -- verify_checkpoints --------------------------------------------------------------------


def test_verify_reports_ok_missing_and_changed(manager: ExperimentManager, ckpt_dir: Path) -> None:
    ok = _file(ckpt_dir / "ok.pt", b"o" * 100)
    deleted = _file(ckpt_dir / "deleted.pt", b"d" * 100)
    resized = _file(ckpt_dir / "resized.pt", b"r" * 100)
    retimed = _file(ckpt_dir / "retimed.pt", b"t" * 100)
    folder = ckpt_dir / "folder"
    _file(folder / "w.bin", b"w" * 100)
    for path in (ok, deleted, resized, retimed, folder):
        manager.add_checkpoint(path)
    manager.add_checkpoint(ckpt_dir / "never_there.pt")
    assert set(_by_status(manager.verify_checkpoints()).values()) == {"ok", "missing"}

    deleted.unlink()
    resized.write_bytes(b"r" * 101)
    info = retimed.stat()
    os.utime(retimed, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))
    _file(folder / "extra.bin", b"e")

    report = manager.verify_checkpoints()
    assert _by_status(report) == {
        str(ok): "ok",
        str(deleted): "missing",
        str(resized): "changed",
        str(retimed): "changed",
        str(folder): "changed",
        str(ckpt_dir / "never_there.pt"): "missing",
    }
    resized_entry = report[2]
    assert resized_entry["recorded"]["size"] == 100
    assert resized_entry["current"]["size"] == 101
    assert report[1]["current"]["exists"] is False

    manager.end_experiment()  # the same report from the history of an ended run
    assert _by_status(ExperimentManager(manager.log_dir).verify_checkpoints(EXPERIMENT_ID)) == (
        _by_status(report)
    )


def test_a_checkpoint_missing_when_added_that_appears_later_is_unknown(
    manager: ExperimentManager, ckpt_dir: Path
) -> None:
    late = ckpt_dir / "late.pt"
    manager.add_checkpoint(late)
    assert _by_status(manager.verify_checkpoints()) == {str(late): "missing"}
    _file(late, b"now here")
    assert _by_status(manager.verify_checkpoints()) == {str(late): "unknown"}


def _rewrite_keeping_size_and_mtime(path: Path, data: bytes) -> None:
    info = path.stat()
    assert len(data) == info.st_size
    path.write_bytes(data)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_mtime_ns == info.st_mtime_ns


def test_deep_verify_detects_a_content_change_with_the_same_size_and_mtime(
    manager: ExperimentManager, ckpt_dir: Path
) -> None:
    tampered = _file(ckpt_dir / "tampered.pt", b"a" * 4096)
    intact = _file(ckpt_dir / "intact.pt", b"b" * 4096)
    unhashed = _file(ckpt_dir / "unhashed.pt", b"c" * 4096)
    folder = ckpt_dir / "folder"
    inner = _file(folder / "w.bin", b"d" * 4096)
    manager.add_checkpoint(tampered, sha256=True)
    manager.add_checkpoint(intact, sha256=True)
    manager.add_checkpoint(unhashed)
    manager.add_checkpoint(folder, sha256=True)
    manager.end_experiment()  # every hash is recorded by now

    _rewrite_keeping_size_and_mtime(tampered, b"a" * 4095 + b"!")
    _rewrite_keeping_size_and_mtime(unhashed, b"c" * 4095 + b"!")
    _rewrite_keeping_size_and_mtime(inner, b"!" + b"d" * 4095)

    shallow = manager.verify_checkpoints(EXPERIMENT_ID)
    assert set(_by_status(shallow).values()) == {"ok"}  # size and mtime cannot tell
    deep = manager.verify_checkpoints(EXPERIMENT_ID, deep=True)
    assert _by_status(deep) == {
        str(tampered): "changed",
        str(intact): "ok",
        str(unhashed): "ok",  # nothing recorded to compare with
        str(folder): "changed",
    }
    assert deep[0]["current"]["sha256"] == hashlib.sha256(b"a" * 4095 + b"!").hexdigest()
    assert deep[0]["recorded"]["sha256"] == hashlib.sha256(b"a" * 4096).hexdigest()
