"""Hyperparameters from config objects, and changes to them recorded, never silent."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from experiment_manager import (
    ExperimentManager,
    InvalidArgumentError,
    NoActiveExperimentError,
    SerializationError,
)
from tests._frameworks import require


@dataclasses.dataclass
class Optimizer:
    name: str = "adamw"
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.999)


@dataclasses.dataclass
class TrainConfig:
    optimizer: Optimizer = dataclasses.field(default_factory=Optimizer)
    epochs: int = 3
    data: Path = Path("/data/train")


NESTED = {
    "optimizer": {"name": "adamw", "lr": 3e-4, "betas": [0.9, 0.999]},
    "epochs": 3,
    "data": "/data/train",
}


def _stored(manager: ExperimentManager, experiment_id: str) -> dict[str, Any]:
    document = json.loads((Path(manager.log_dir) / f"{experiment_id}.json").read_text())
    return dict(document["versions"][-1]["hyperparameters"])


def test_argparse_namespace_nested(manager: ExperimentManager) -> None:
    args = argparse.Namespace(optimizer=Optimizer(), epochs=3, data=Path("/data/train"))
    manager.start_experiment("ns", args, {})
    assert manager.read_history("ns")[0]["hyperparameters"] == NESTED
    assert _stored(manager, "ns") == NESTED


def test_dataclass_nested(manager: ExperimentManager) -> None:
    manager.start_experiment("dc", TrainConfig(), {})
    assert manager.read_history("dc")[0]["hyperparameters"] == NESTED


def test_pydantic_model(manager: ExperimentManager) -> None:
    pydantic = require("pydantic")

    class Opt(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        name: str = "adamw"
        lr: float = 3e-4
        betas: tuple[float, float] = (0.9, 0.999)

    class Config(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        optimizer: Opt = Opt()
        epochs: int = 3
        data: Path = Path("/data/train")

    manager.start_experiment("pd", Config(), {})
    assert manager.read_history("pd")[0]["hyperparameters"] == NESTED
    manager.start_experiment("pd", {"config": Config()}, {})  # nested inside a dict too
    assert manager.read_history("pd")[1]["hyperparameters"] == {"config": NESTED}


def test_pydantic_like_v1_object(manager: ExperimentManager) -> None:
    class V1Like:
        __fields__: ClassVar[dict[str, None]] = {"lr": None, "layers": None}

        def dict(self) -> dict[str, Any]:
            return {"lr": 0.1, "layers": (64, 32)}

    manager.start_experiment("v1", {"model": V1Like()}, {})
    assert manager.read_history("v1")[0]["hyperparameters"] == {
        "model": {"lr": 0.1, "layers": [64, 32]}
    }


def test_omegaconf_config_resolved(manager: ExperimentManager) -> None:
    omegaconf = require("omegaconf")
    config = omegaconf.OmegaConf.create(
        {
            "model": {"width": 64, "head": "${model.width}"},
            "layers": [{"units": 8}, {"units": 4}],
            "lr": 0.01,
        }
    )
    manager.start_experiment("oc", config, {})
    assert manager.read_history("oc")[0]["hyperparameters"] == {
        "model": {"width": 64, "head": 64},
        "layers": [{"units": 8}, {"units": 4}],
        "lr": 0.01,
    }
    missing = omegaconf.OmegaConf.create({"lr": "???"})
    with pytest.raises(SerializationError, match="Missing mandatory value"):
        manager.start_experiment("oc", missing, {})
    assert len(manager.read_history("oc")) == 1  # nothing half-written


def test_not_a_config_is_refused(manager: ExperimentManager) -> None:
    with pytest.raises(InvalidArgumentError, match="hyperparameters"):
        manager.start_experiment("bad", object(), {})
    with pytest.raises(InvalidArgumentError, match="hyperparameters"):
        manager.start_experiment("bad", [("lr", 0.1)], {})
    assert manager.read_history("bad") == []


def test_update_adds_and_records_changes(manager: ExperimentManager, log_dir: Path) -> None:
    manager.start_experiment("up", {"lr": 0.1, "opt": {"beta": 0.9}}, {})
    assert manager.update_hyperparameters({"seed": 7, "opt": {"eps": 1e-8}}) == []
    changes = manager.update_hyperparameters(
        argparse.Namespace(lr=0.01, opt={"beta": 0.95}, seed=7)
    )
    assert [(c["key"], c["from"], c["to"]) for c in changes] == [
        ("lr", 0.1, 0.01),
        ("opt.beta", 0.9, 0.95),
    ]
    # a value of another type is a change even when == holds
    assert [c["to"] for c in manager.update_hyperparameters({"seed": 7.0})] == [7.0]
    expected = {"lr": 0.01, "opt": {"beta": 0.95, "eps": 1e-8}, "seed": 7.0}
    assert manager.active_experiment is not None
    assert manager.active_experiment.hyperparameters == expected
    # in the history at once, from another reader
    entry = ExperimentManager(log_dir).read_history("up")[0]
    assert entry["hyperparameters"] == expected
    assert [c["key"] for c in entry["hyperparameter_changes"]] == ["lr", "opt.beta", "seed"]
    assert all(c["at"].endswith("+00:00") for c in entry["hyperparameter_changes"])
    manager.end_experiment()
    assert (
        manager.read_history("up")[0]["hyperparameter_changes"] == entry["hyperparameter_changes"]
    )


def test_update_with_a_bad_value_changes_nothing(manager: ExperimentManager) -> None:
    manager.start_experiment("up", {"lr": 0.1}, {})
    with pytest.raises(SerializationError, match=r"hyperparameters\.fn"):
        manager.update_hyperparameters({"lr": 0.2, "fn": object()})
    assert manager.read_history("up")[0]["hyperparameters"] == {"lr": 0.1}
    assert "hyperparameter_changes" not in manager.read_history("up")[0]


def test_update_nonfinite_round_trips(manager: ExperimentManager) -> None:
    manager.start_experiment("up", {"clip": 1.0}, {})
    changes = manager.update_hyperparameters({"clip": float("inf")})
    assert changes[0]["to"] == float("inf")
    entry = manager.read_history("up")[0]
    assert entry["hyperparameters"] == {"clip": float("inf")}
    assert entry["hyperparameter_changes"][0]["to"] == float("inf")


def test_update_needs_an_active_run(manager: ExperimentManager) -> None:
    with pytest.raises(NoActiveExperimentError):
        manager.update_hyperparameters({"lr": 0.1})
