"""The on-disk format, frozen: a history written from fixed inputs equals a hand-made file."""

from __future__ import annotations

import math
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

import experiment_manager.manager
from experiment_manager import ExperimentManager
from tests._util import SPEC_KEYS, assert_same, strict_loads

GOLDEN = Path(__file__).parent / "golden" / "history_v2.json"
# What format 1 wrote from the same inputs: still read, and migrated on the first write.
GOLDEN_V1 = Path(__file__).parent / "golden" / "history_v1.json"
# The library's clock, in the order it is read: v1 created, two checkpoints added,
# v1 ended (by starting v2), v2 created.
TIMES = [
    "2024-05-06T07:08:09.123456+00:00",
    "2024-05-06T07:10:00.000000+00:00",
    "2024-05-06T07:20:00.000000+00:00",
    "2024-05-06T08:00:00.000000+00:00",
    "2024-05-06T08:00:00.000001+00:00",
]
CREATED = [TIMES[0], TIMES[4]]
WALL_TIME = 1714979289.5  # the time of each log_metrics call's values


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    times = list(TIMES)
    monkeypatch.setattr(experiment_manager.manager, "_now", lambda: times.pop(0))
    monkeypatch.setattr(experiment_manager.manager, "_wall_time", lambda: WALL_TIME)
    return times


def _write_golden_history(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment(
        config_name="golden run",
        hyperparameters={
            "learning_rate": 0.001,
            "batch_size": 64,
            "betas": (0.9, 0.999),
            "eps": math.inf,
            "clip": -math.inf,
            "warmup": math.nan,
            "zero": -0.0,
            "big": 2**64 - 1,
            "small": -(2**63),
            "flags": [True, False, None],
            "nested": {
                "optimizer": "adam",
                "data": PurePosixPath("data/train"),
                "schedule": (1, 2.5),
            },
            "unicode": "caf\u00e9 \u2713",
        },
        metadata={"precision": "float32", "owner": "golden"},
        experiment_id="golden",
    )
    manager.log_metrics({"loss": [0.5, 0.25], "accuracy": 0.875})
    manager.log_metrics({"loss": math.nan, "grad_norm": [math.inf, -math.inf, 3]})
    manager.log_metrics({"tiny": [5e-324, -0.0]})
    manager.add_checkpoint("checkpoints/epoch_1.npz")
    manager.add_checkpoint(PurePosixPath("checkpoints/epoch_2.npz"))
    manager.start_experiment("golden run", {}, {}, experiment_id="golden")


def _golden() -> Any:
    return strict_loads(GOLDEN.read_text(encoding="utf-8"))


def _machine_independent(history: Any, cwd: Path) -> Any:
    """Replace the working directory in recorded absolute paths with ``<cwd>``."""
    for version in history["versions"]:
        for detail in version.get("checkpoint_details", []):
            detail["abspath"] = detail["abspath"].replace(str(cwd), "<cwd>", 1)
    return history


def test_written_history_equals_the_golden_file(
    tmp_path: Path, fixed_clock: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    log_dir = tmp_path / "logs"
    _write_golden_history(log_dir)
    assert fixed_clock == []  # every timestamp the library wrote came from its clock
    data = (log_dir / "golden.json").read_bytes()
    written = strict_loads(data.decode("utf-8"))  # UTF-8, strict JSON: no NaN tokens
    written = _machine_independent(written, tmp_path)
    # Type-strict, bit-exact comparison: 3 is not 3.0, -0.0 is not 0.0.
    assert_same(written, _golden())


def test_spec_fields_of_written_history_equal_the_golden_file(
    tmp_path: Path, fixed_clock: list[str]
) -> None:
    """The same check on the spec's part of the format only (top level + eight keys).

    When the exact test above fails and this one passes, the format gained or changed
    keys beyond the specification's: that needs a new golden file (and, per DESIGN.md,
    a new format number).
    """
    log_dir = tmp_path / "logs"
    _write_golden_history(log_dir)
    written = strict_loads((log_dir / "golden.json").read_text(encoding="utf-8"))
    golden = _golden()
    assert sorted(written) == sorted(golden)
    assert written["format"] == golden["format"]
    assert written["experiment_id"] == golden["experiment_id"]
    assert len(written["versions"]) == len(golden["versions"])
    for version, expected in zip(written["versions"], golden["versions"], strict=True):
        assert_same(
            {key: version[key] for key in SPEC_KEYS}, {key: expected[key] for key in SPEC_KEYS}
        )


@pytest.mark.parametrize("golden", [GOLDEN, GOLDEN_V1], ids=["format2", "format1"])
def test_golden_file_reads_back(tmp_path: Path, golden: Path) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    shutil.copyfile(golden, log_dir / "golden.json")
    manager = ExperimentManager(log_dir)
    [first, second] = manager.read_history("golden")
    assert first["experiment_id"] == "golden"
    assert first["version"] == 1
    assert first["created_at"] == CREATED[0]
    assert first["status"] == "finished"
    assert first["ended_at"] == TIMES[3]
    assert first["duration"] == 3110.876544
    assert [d["added_at"] for d in first["checkpoint_details"]] == TIMES[1:3]
    assert "_journal_segment" not in first
    assert first["config_name"] == "golden run"
    assert_same(
        first["hyperparameters"],
        {
            "learning_rate": 0.001,
            "batch_size": 64,
            "betas": [0.9, 0.999],
            "eps": math.inf,
            "clip": -math.inf,
            "warmup": math.nan,
            "zero": -0.0,
            "big": 2**64 - 1,
            "small": -(2**63),
            "flags": [True, False, None],
            "nested": {"optimizer": "adam", "data": "data/train", "schedule": [1, 2.5]},
            "unicode": "caf\u00e9 \u2713",
        },
    )
    assert first["metadata"] == {
        "precision": "float32",
        "model_size": "unspecified",
        "dataset_version": "unspecified",
        "hardware_constraint_mode": "unspecified",
        "owner": "golden",
    }
    assert_same(
        first["metrics"],
        {
            "loss": [0.5, 0.25, math.nan],
            "accuracy": [0.875],
            "grad_norm": [math.inf, -math.inf, 3],
            "tiny": [5e-324, -0.0],
        },
    )
    assert first["checkpoints"] == ["checkpoints/epoch_1.npz", "checkpoints/epoch_2.npz"]
    assert second["version"] == 2
    assert second["created_at"] == CREATED[1]
    assert second["status"] == "crashed"  # stored as running, and nobody runs it
    assert second["hyperparameters"] == {}
    assert second["metrics"] == {}
    assert second["checkpoints"] == []


@pytest.mark.parametrize("source", [GOLDEN, GOLDEN_V1], ids=["format2", "format1"])
def test_golden_file_can_be_extended_without_changing_old_versions(
    tmp_path: Path, source: Path
) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    shutil.copyfile(source, log_dir / "golden.json")
    manager = ExperimentManager(log_dir)
    assert manager.start_experiment("golden run", {"lr": 0.1}, {}, "golden").version == 3
    manager.log_metrics({"loss": 0.1})
    written = strict_loads((log_dir / "golden.json").read_text(encoding="utf-8"))
    golden = strict_loads(source.read_text(encoding="utf-8"))
    assert written["format"] == 2  # a format 1 history is migrated by its first write
    assert written["experiment_id"] == golden["experiment_id"]
    assert_same(written["versions"][:2], golden["versions"])
    assert written["versions"][2]["version"] == 3
    assert written["versions"][2]["metrics"] == {"loss": [0.1]}
