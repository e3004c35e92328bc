"""docs/integrations.md: every Python example runs as written, and records what it says."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager
from tests._frameworks import require

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(
    r"```python\n(.*?)```", (ROOT / "docs" / "integrations.md").read_text(encoding="utf-8"), re.S
)


def _run(block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EXPM_SYSTEM_METRICS", raising=False)
    module = types.ModuleType("docs_example")  # dataclasses look their module up
    monkeypatch.setitem(sys.modules, "docs_example", module)
    exec(compile(block, "docs/integrations.md", "exec"), module.__dict__)
    return module.__dict__


def test_every_block_is_covered() -> None:
    assert len(BLOCKS) == 5


def test_lightning_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require("lightning.pytorch")
    block = next(b for b in BLOCKS if "ExperimentManagerLogger" in b)
    _run(block, tmp_path, monkeypatch)
    [entry] = ExperimentManager(tmp_path / "experiments/logs").read_history("regression")
    assert entry["status"] == "finished"
    assert entry["hyperparameters"]["optimizer"] == {"name": "sgd", "nesterov": False}
    assert len(entry["metrics"]["train_loss"]) == 12
    assert len(entry["checkpoints"]) == 3


def test_keras_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require("keras")
    block = next(b for b in BLOCKS if "integrations.keras" in b)
    _run(block, tmp_path, monkeypatch)
    [entry] = ExperimentManager(tmp_path / "experiments/logs").read_history("keras_mlp")
    assert entry["status"] == "finished"
    assert entry["steps"]["val_loss"] == [0, 1, 2]
    assert entry["steps"]["batch/loss"] == list(range(9))
    assert [d["step"] for d in entry["checkpoint_details"]] == [0, 1, 2]


def test_transformers_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require("transformers")
    require("accelerate")
    block = next(b for b in BLOCKS if "integrations.transformers" in b)
    _run(block, tmp_path, monkeypatch)
    [entry] = ExperimentManager(tmp_path / "experiments/logs").read_history("tiny_bert")
    assert entry["status"] == "finished"
    assert entry["steps"]["eval_loss"] == [3, 6]
    assert len(entry["checkpoints"]) == 2


def test_system_metrics_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require("psutil")
    block = next(b for b in BLOCKS if "system_metrics=0.2" in b)
    _run(block, tmp_path, monkeypatch)
    [entry] = ExperimentManager(tmp_path / "experiments/logs").read_history("sampled")
    assert entry["steps"]["loss"] == [0, 1, 2, 3, 4]
    assert len(entry["metrics"]["system/cpu_percent"]) >= 1


def test_config_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = next(b for b in BLOCKS if "argparse.Namespace" in b)
    _run(block, tmp_path, monkeypatch)
    [entry] = ExperimentManager(tmp_path / "experiments/logs").read_history("configs")
    assert entry["hyperparameters"]["optimizer"]["lr"] == 1e-4
    assert entry["hyperparameters"]["warmup"] == 500
    assert [c["key"] for c in entry["hyperparameter_changes"]] == ["optimizer.lr"]
