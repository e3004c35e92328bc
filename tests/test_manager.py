"""The behaviour the specification promises for ExperimentManager and ExperimentRecord."""

from __future__ import annotations

import copy
import dataclasses
import enum
import math
import os
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from experiment_manager import ExperimentManager, ExperimentRecord
from experiment_manager.errors import (
    ExperimentManagerError,
    InvalidArgumentError,
    InvalidMetricError,
    NoActiveExperimentError,
    SerializationError,
)
from tests._util import (
    DEFAULT_METADATA_KEYS,
    SPEC_KEYS,
    assert_same,
    float_bits,
    history_path,
    load_history_file,
    tree,
    written_through,
)

pytestmark = pytest.mark.usefixtures("each_store")


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture
def manager(log_dir: Path) -> ExperimentManager:
    return ExperimentManager(log_dir=log_dir)


def _check_spec_fields(entry: dict[str, Any]) -> None:
    assert set(SPEC_KEYS) <= set(entry), sorted(entry)
    assert type(entry["experiment_id"]) is str
    assert type(entry["version"]) is int
    assert type(entry["created_at"]) is str
    assert type(entry["config_name"]) is str
    assert type(entry["hyperparameters"]) is dict
    assert type(entry["metadata"]) is dict
    assert type(entry["metrics"]) is dict
    assert type(entry["checkpoints"]) is list


# -- log_dir ------------------------------------------------------------------------


@written_through
def test_default_log_dir_is_experiments_logs_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    manager = ExperimentManager()
    assert not (tmp_path / "experiments").exists()
    manager.start_experiment("mnist_baseline", {"lr": 0.1}, {})
    assert (tmp_path / "experiments" / "logs" / "mnist_baseline.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["experiments"]


@written_through
def test_relative_log_dir_is_resolved_when_the_manager_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    manager = ExperimentManager("runs")
    monkeypatch.chdir(tmp_path / "b")
    manager.start_experiment("exp", {}, {})
    assert (tmp_path / "a" / "runs" / "exp.json").is_file()
    assert list((tmp_path / "b").iterdir()) == []
    assert len(manager.read_history("exp")) == 1


@written_through
def test_log_dir_is_created_only_when_first_needed(tmp_path: Path) -> None:
    log_dir = tmp_path / "deep" / "er" / "logs"
    manager = ExperimentManager(log_dir=log_dir)
    assert not (tmp_path / "deep").exists()
    assert manager.read_history("never_ran") == []
    assert not (tmp_path / "deep").exists()
    with pytest.raises(RuntimeError):
        manager.log_metrics({"loss": 1.0})
    with pytest.raises(RuntimeError):
        manager.add_checkpoint("a.ckpt")
    with pytest.raises(InvalidArgumentError):
        manager.start_experiment("exp", ["not", "a", "dict"], {})
    assert not (tmp_path / "deep").exists()
    manager.start_experiment("exp", {}, {})
    assert (log_dir / "exp.json").is_file()


@written_through
def test_log_dir_accepts_a_path_object(tmp_path: Path) -> None:
    manager = ExperimentManager(log_dir=tmp_path / "p")
    manager.start_experiment("exp", {}, {})
    assert (tmp_path / "p" / "exp.json").is_file()


# -- ExperimentRecord -----------------------------------------------------------------


def test_record_has_the_spec_fields_in_order_with_defaults() -> None:
    names = [field.name for field in dataclasses.fields(ExperimentRecord)]
    assert names[:8] == list(SPEC_KEYS)
    record = ExperimentRecord("exp", 1, "2024-01-01T00:00:00+00:00", "exp", {}, {})
    assert record.metrics == {}
    assert record.checkpoints == []


def test_record_defaults_are_never_shared_between_instances() -> None:
    first = ExperimentRecord("a", 1, "t", "a", {}, {})
    second = ExperimentRecord("b", 1, "t", "b", {}, {})
    first.metrics["loss"] = [1.0]
    first.checkpoints.append("x.ckpt")
    assert second.metrics == {}
    assert second.checkpoints == []
    assert first.metrics is not second.metrics
    assert first.checkpoints is not second.checkpoints


@written_through
def test_start_experiment_returns_a_complete_record(
    manager: ExperimentManager, log_dir: Path
) -> None:
    record = manager.start_experiment(
        config_name="mnist_baseline",
        hyperparameters={"learning_rate": 0.01, "batch_size": 32, "epochs": 10},
        metadata={"precision": "float32", "model_size": "medium", "dataset_version": "v1.0"},
    )
    assert isinstance(record, ExperimentRecord)
    _check_spec_fields(dataclasses.asdict(record))
    assert record.experiment_id == "mnist_baseline"
    assert record.version == 1
    assert record.config_name == "mnist_baseline"
    assert record.hyperparameters == {"learning_rate": 0.01, "batch_size": 32, "epochs": 10}
    assert record.metadata == {
        "precision": "float32",
        "model_size": "medium",
        "dataset_version": "v1.0",
        "hardware_constraint_mode": "unspecified",
    }
    assert record.metrics == {}
    assert record.checkpoints == []
    assert manager.active_experiment is record

    # The record is persisted at once: the file holds the same values.
    stored = load_history_file(log_dir, "mnist_baseline")["versions"][0]
    for key in SPEC_KEYS:
        assert stored[key] == getattr(record, key), key


def test_records_of_two_runs_share_no_containers(manager: ExperimentManager) -> None:
    hyper = {"layers": [1, 2], "opt": {"name": "adam"}}
    first = manager.start_experiment("exp", hyper, {})
    second = manager.start_experiment("exp", hyper, {})
    for key in ("hyperparameters", "metadata", "metrics", "checkpoints"):
        assert getattr(first, key) is not getattr(second, key), key
    assert first.hyperparameters["layers"] is not second.hyperparameters["layers"]
    manager.log_metrics({"loss": 0.5})
    manager.add_checkpoint("b.ckpt")
    assert first.metrics == {}
    assert first.checkpoints == []
    assert second.metrics == {"loss": [0.5]}
    assert second.checkpoints == ["b.ckpt"]
    first.hyperparameters["layers"].append(3)
    assert second.hyperparameters == {"layers": [1, 2], "opt": {"name": "adam"}}
    assert hyper == {"layers": [1, 2], "opt": {"name": "adam"}}
    assert manager.read_history("exp")[0]["hyperparameters"] == hyper


# -- experiment ids ------------------------------------------------------------------------


@written_through
@pytest.mark.parametrize(
    ("config_name", "expected_id"),
    [
        ("mnist_baseline", "mnist_baseline"),
        ("resnet50-lr0.1", "resnet50-lr0.1"),
        ("ResNet 50 / lr=0.1", "ResNet-50-lr=0.1"),
    ],
)
def test_id_is_derived_from_config_name(
    manager: ExperimentManager, log_dir: Path, config_name: str, expected_id: str
) -> None:
    record = manager.start_experiment(config_name, {}, {})
    assert record.experiment_id == expected_id
    assert record.config_name == config_name
    assert history_path(log_dir, expected_id).is_file()
    [entry] = manager.read_history(expected_id)
    assert entry["config_name"] == config_name
    assert entry["experiment_id"] == expected_id


@written_through
def test_explicit_experiment_id_is_used(manager: ExperimentManager, log_dir: Path) -> None:
    record = manager.start_experiment("cfg", {}, {}, experiment_id="custom_id")
    assert record.experiment_id == "custom_id"
    assert record.config_name == "cfg"
    assert history_path(log_dir, "custom_id").is_file()
    assert not history_path(log_dir, "cfg").exists()
    assert manager.read_history("cfg") == []


def test_versions_count_per_id_across_manager_instances(log_dir: Path) -> None:
    first = ExperimentManager(log_dir)
    second = ExperimentManager(log_dir)
    assert first.start_experiment("a", {}, {}).version == 1
    assert second.start_experiment("a", {}, {}).version == 2
    assert first.start_experiment("b", {}, {}).version == 1
    assert second.start_experiment("a", {}, {}).version == 3
    assert second.start_experiment("b", {}, {}).version == 2
    assert first.start_experiment("cfg", {}, {}, experiment_id="a").version == 4
    assert [e["version"] for e in first.read_history("a")] == [1, 2, 3, 4]
    assert [e["version"] for e in second.read_history("b")] == [1, 2]
    # A third, later manager continues the numbering from the files.
    assert ExperimentManager(log_dir).start_experiment("b", {}, {}).version == 3


def test_created_at_is_iso_8601_with_utc_offset(manager: ExperimentManager) -> None:
    before = datetime.now(timezone.utc)
    record = manager.start_experiment("exp", {}, {})
    after = datetime.now(timezone.utc)
    created = datetime.fromisoformat(record.created_at)
    assert created.tzinfo is not None
    assert created.utcoffset() is not None
    assert before - timedelta(seconds=1) <= created <= after + timedelta(seconds=1)
    later = manager.start_experiment("exp", {}, {})
    assert datetime.fromisoformat(later.created_at) >= created
    [first, second] = manager.read_history("exp")
    assert first["created_at"] == record.created_at
    assert second["created_at"] == later.created_at


# -- metadata ------------------------------------------------------------------------------


def test_metadata_defaults_are_added(manager: ExperimentManager) -> None:
    record = manager.start_experiment("exp", {}, {})
    assert record.metadata == dict.fromkeys(DEFAULT_METADATA_KEYS, "unspecified")
    assert manager.read_history("exp")[0]["metadata"] == record.metadata


def test_metadata_given_values_and_extra_keys_are_kept(manager: ExperimentManager) -> None:
    record = manager.start_experiment(
        "exp", {}, {"precision": "bf16", "owner": "ana", "tags": ["a", "b"]}
    )
    assert record.metadata == {
        "precision": "bf16",
        "model_size": "unspecified",
        "dataset_version": "unspecified",
        "hardware_constraint_mode": "unspecified",
        "owner": "ana",
        "tags": ["a", "b"],
    }
    assert manager.read_history("exp")[0]["metadata"] == record.metadata


def test_metadata_defaults_can_be_overridden_per_manager(log_dir: Path) -> None:
    defaults = {"precision": "float16", "hardware_constraint_mode": "cpu_only", "team": "vision"}
    defaults_before = copy.deepcopy(defaults)
    manager = ExperimentManager(log_dir, default_metadata=defaults)
    record = manager.start_experiment("exp", {}, {"precision": "int8", "note": "x"})
    assert record.metadata == {
        "precision": "int8",
        "model_size": "unspecified",
        "dataset_version": "unspecified",
        "hardware_constraint_mode": "cpu_only",
        "team": "vision",
        "note": "x",
    }
    assert defaults == defaults_before
    second = manager.start_experiment("exp", {}, {})
    assert second.metadata["precision"] == "float16"
    # Another manager on the same folder has its own defaults.
    third = ExperimentManager(log_dir).start_experiment("exp", {}, {})
    assert third.metadata == dict.fromkeys(DEFAULT_METADATA_KEYS, "unspecified")
    assert [e["metadata"]["precision"] for e in manager.read_history("exp")] == [
        "int8",
        "float16",
        "unspecified",
    ]


@pytest.mark.parametrize("bad", [[], "", 0, (), False, [("precision", "fp16")], "fp16", 5])
def test_default_metadata_must_be_a_dict(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        ExperimentManager(tmp_path / "logs", default_metadata=bad)
    assert isinstance(caught.value, (TypeError, ValueError))
    assert caught.value.argument == "default_metadata"
    assert not (tmp_path / "logs").exists()


def test_callers_dicts_are_never_mutated(manager: ExperimentManager) -> None:
    hyper: dict[str, Any] = {
        "lr": 0.1,
        "betas": (0.9, 0.99),
        "layers": [64, 32],
        "opt": {"name": "adam", "eps": float("inf")},
        "path": Path("data"),
    }
    meta: dict[str, Any] = {"precision": "fp32", "tags": ["x"], "nested": {"a": [1, {"b": 2}]}}
    metrics: dict[str, Any] = {"loss": [0.5, 0.4], "acc": (0.1, 0.2), "lr": 0.01}
    hyper_before = copy.deepcopy(hyper)
    meta_before = copy.deepcopy(meta)
    metrics_before = copy.deepcopy(metrics)
    record = manager.start_experiment("exp", hyper, meta)
    manager.log_metrics(metrics)
    manager.log_metrics(metrics)
    assert hyper == hyper_before
    assert meta == meta_before
    assert metrics == metrics_before
    assert set(meta) == {"precision", "tags", "nested"}  # no defaults added to the caller's dict
    # Changing the caller's dicts afterwards changes nothing that was recorded.
    hyper["layers"].append(16)
    meta["tags"].append("y")
    metrics["loss"].append(0.0)
    assert record.hyperparameters["layers"] == [64, 32]
    assert record.metadata["tags"] == ["x"]
    assert record.metrics["loss"] == [0.5, 0.4, 0.5, 0.4]
    [entry] = manager.read_history("exp")
    assert entry["hyperparameters"]["layers"] == [64, 32]
    assert entry["metadata"]["tags"] == ["x"]
    assert entry["metrics"]["loss"] == [0.5, 0.4, 0.5, 0.4]


# -- log_metrics ------------------------------------------------------------------------


@written_through
def test_log_metrics_appends_across_calls(manager: ExperimentManager, log_dir: Path) -> None:
    manager.start_experiment("exp", {}, {})
    calls: list[dict[str, Any]] = [
        {"loss": 0.5},
        {"loss": [0.4, 0.3], "acc": 1},
        {"loss": (0.2,)},
        {"loss": np.array([0.1, 0.05]), "acc": np.int64(2)},
        {"loss": [], "acc": np.float32(0.5)},
        {"step_time": np.array([3, 4], dtype=np.int32)},
    ]
    expected: list[dict[str, list[Any]]] = [
        {"loss": [0.5]},
        {"loss": [0.5, 0.4, 0.3], "acc": [1]},
        {"loss": [0.5, 0.4, 0.3, 0.2], "acc": [1]},
        {"loss": [0.5, 0.4, 0.3, 0.2, 0.1, 0.05], "acc": [1, 2]},
        {"loss": [0.5, 0.4, 0.3, 0.2, 0.1, 0.05], "acc": [1, 2, 0.5]},
        {"loss": [0.5, 0.4, 0.3, 0.2, 0.1, 0.05], "acc": [1, 2, 0.5], "step_time": [3, 4]},
    ]
    for call, after in zip(calls, expected, strict=True):
        manager.log_metrics(call)
        # Written through after every call: the file, a fresh manager and the
        # active record all see it.
        assert_same(load_history_file(log_dir, "exp")["versions"][0]["metrics"], after)
        assert_same(ExperimentManager(log_dir).read_history("exp")[0]["metrics"], after)
        assert manager.active_experiment is not None
        assert_same(manager.active_experiment.metrics, after)


@written_through
def test_non_finite_metric_values_are_kept(manager: ExperimentManager, log_dir: Path) -> None:
    manager.start_experiment("exp", {}, {})
    manager.log_metrics({"loss": [1.0, float("nan"), float("inf"), float("-inf")]})
    manager.log_metrics({"loss": np.float64("nan"), "grad": np.array([np.inf, -np.inf])})
    [entry] = manager.read_history("exp")
    loss = entry["metrics"]["loss"]
    assert loss[0] == 1.0
    assert math.isnan(loss[1])
    assert loss[2] == math.inf
    assert loss[3] == -math.inf
    assert math.isnan(loss[4])
    assert entry["metrics"]["grad"] == [math.inf, -math.inf]
    # The file stays strict JSON (load_history_file refuses NaN/Infinity tokens).
    stored = load_history_file(log_dir, "exp")["versions"][0]["metrics"]
    assert stored["loss"] == [1.0, "NaN", "Infinity", "-Infinity", "NaN"]
    assert stored["grad"] == ["Infinity", "-Infinity"]


BAD_METRIC_VALUES: list[Any] = [
    "0.5",
    None,
    True,
    np.bool_(False),
    [[1.0, 2.0]],
    [1.0, [2.0]],
    [1.0, "2"],
    [1.0, None],
    [0.5, True],
    np.ones((2, 2)),
    {"a": 1.0},
    b"1",
    1 + 2j,
    2**64,
    object(),
]


@written_through
@pytest.mark.parametrize("bad", BAD_METRIC_VALUES, ids=lambda v: type(v).__name__ + repr(v)[:20])
@pytest.mark.parametrize("bad_first", [False, True], ids=["good_then_bad", "bad_then_good"])
def test_bad_metric_values_raise_and_write_nothing(
    manager: ExperimentManager, log_dir: Path, bad: Any, bad_first: bool
) -> None:
    manager.start_experiment("exp", {}, {})
    manager.log_metrics({"fine": [1.0]})
    path = history_path(log_dir, "exp")
    before = path.read_bytes()
    call = {"bad": bad, "fine": 2.0} if bad_first else {"fine": 2.0, "bad": bad}
    with pytest.raises(InvalidMetricError) as caught:
        manager.log_metrics(call)
    error = caught.value
    assert isinstance(error, (TypeError, ValueError))
    assert isinstance(error, ExperimentManagerError)
    assert error.metric == "bad"
    assert "'bad'" in str(error)
    assert path.read_bytes() == before
    assert manager.active_experiment is not None
    assert manager.active_experiment.metrics == {"fine": [1.0]}
    assert manager.read_history("exp")[0]["metrics"] == {"fine": [1.0]}
    # The manager still works after the error.
    manager.log_metrics({"fine": 3.0})
    assert manager.read_history("exp")[0]["metrics"] == {"fine": [1.0, 3.0]}


@written_through
@pytest.mark.parametrize("name", [1, None, "", ("a",)])
def test_bad_metric_names_raise_and_write_nothing(
    manager: ExperimentManager, log_dir: Path, name: Any
) -> None:
    manager.start_experiment("exp", {}, {})
    before = history_path(log_dir, "exp").read_bytes()
    with pytest.raises(InvalidMetricError) as caught:
        manager.log_metrics({"fine": 1.0, name: 0.5})
    assert isinstance(caught.value, (TypeError, ValueError))
    assert caught.value.metric == name
    assert history_path(log_dir, "exp").read_bytes() == before


@written_through
@pytest.mark.parametrize("metrics", [[("loss", 1.0)], "loss", None, 0.5])
def test_log_metrics_needs_a_dict(manager: ExperimentManager, log_dir: Path, metrics: Any) -> None:
    manager.start_experiment("exp", {}, {})
    before = history_path(log_dir, "exp").read_bytes()
    with pytest.raises((TypeError, ValueError)) as caught:
        manager.log_metrics(metrics)
    assert isinstance(caught.value, ExperimentManagerError)
    assert history_path(log_dir, "exp").read_bytes() == before


# -- add_checkpoint ------------------------------------------------------------------------


@written_through
def test_add_checkpoint_accepts_str_and_path(manager: ExperimentManager, log_dir: Path) -> None:
    manager.start_experiment("exp", {}, {})
    manager.add_checkpoint("checkpoints/model_epoch_5.npz")
    assert load_history_file(log_dir, "exp")["versions"][0]["checkpoints"] == [
        "checkpoints/model_epoch_5.npz"
    ]
    manager.add_checkpoint(Path("checkpoints") / "model_final.npz")
    absolute = log_dir.parent / "abs" / "best.pt"
    manager.add_checkpoint(absolute)
    expected = [
        "checkpoints/model_epoch_5.npz",
        os.fspath(Path("checkpoints") / "model_final.npz"),
        os.fspath(absolute),
    ]
    [entry] = manager.read_history("exp")
    assert entry["checkpoints"] == expected
    assert all(type(p) is str for p in entry["checkpoints"])
    assert manager.active_experiment is not None
    assert manager.active_experiment.checkpoints == expected
    assert all(type(p) is str for p in manager.active_experiment.checkpoints)
    assert load_history_file(log_dir, "exp")["versions"][0]["checkpoints"] == expected
    # The file itself is only recorded, never created or read.
    assert not absolute.exists()


@written_through
@pytest.mark.parametrize("path", ["", b"x.ckpt", None, 5, "a\x00b"])
def test_add_checkpoint_rejects_non_paths(
    manager: ExperimentManager, log_dir: Path, path: Any
) -> None:
    manager.start_experiment("exp", {}, {})
    before = history_path(log_dir, "exp").read_bytes()
    with pytest.raises((TypeError, ValueError)) as caught:
        manager.add_checkpoint(path)
    assert isinstance(caught.value, ExperimentManagerError)
    assert history_path(log_dir, "exp").read_bytes() == before


# -- active experiment -------------------------------------------------------------------------


def test_no_active_experiment_raises_runtime_error(tmp_path: Path) -> None:
    manager = ExperimentManager(tmp_path / "logs")
    with pytest.raises(RuntimeError, match="start_experiment") as caught:
        manager.log_metrics({"loss": [0.5]})
    assert isinstance(caught.value, NoActiveExperimentError)
    with pytest.raises(RuntimeError, match="start_experiment") as caught:
        manager.add_checkpoint("checkpoints/model_epoch_5.npz")
    assert isinstance(caught.value, NoActiveExperimentError)
    assert manager.active_experiment is None
    assert not (tmp_path / "logs").exists()


def test_active_experiment_belongs_to_one_manager(log_dir: Path) -> None:
    ExperimentManager(log_dir).start_experiment("exp", {}, {})
    other = ExperimentManager(log_dir)
    with pytest.raises(RuntimeError, match="start_experiment"):
        other.log_metrics({"loss": 1.0})


def test_starting_another_experiment_makes_it_active(manager: ExperimentManager) -> None:
    first = manager.start_experiment("first", {}, {})
    manager.log_metrics({"loss": 1.0})
    manager.add_checkpoint("first.ckpt")
    second = manager.start_experiment("second", {}, {})
    assert manager.active_experiment is second
    manager.log_metrics({"loss": 2.0})
    manager.add_checkpoint("second.ckpt")
    third = manager.start_experiment("first", {}, {})
    assert third.version == 2
    manager.log_metrics({"loss": 3.0})

    assert first.metrics == {"loss": [1.0]}
    assert first.checkpoints == ["first.ckpt"]
    [v1, v2] = manager.read_history("first")
    assert v1["metrics"] == {"loss": [1.0]}
    assert v1["checkpoints"] == ["first.ckpt"]
    assert v2["metrics"] == {"loss": [3.0]}
    assert v2["checkpoints"] == []
    [other] = manager.read_history("second")
    assert other["metrics"] == {"loss": [2.0]}
    assert other["checkpoints"] == ["second.ckpt"]


# -- conversions and rejections of hyperparameters and metadata ------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


@dataclasses.dataclass
class Optimizer:
    name: str
    betas: tuple[float, float]
    schedule: list[int] = dataclasses.field(default_factory=list)


def test_hyperparameter_and_metadata_values_are_converted(manager: ExperimentManager) -> None:
    values: dict[str, Any] = {
        "np_float64": np.float64(0.25),
        "np_float32": np.float32(0.1),
        "np_int": np.int64(7),
        "np_uint": np.uint8(200),
        "np_bool": np.bool_(True),
        "array": np.array([1.5, 2.5]),
        "array_2d": np.array([[1, 2], [3, 4]]),
        "array_nan": np.array([np.nan, np.inf]),
        "tuple": (1, "a", (2.0, None)),
        "path": Path("data") / "train",
        "datetime": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        "date": date(2024, 1, 2),
        "enum": Color.RED,
        "int_enum_value": Color.BLUE,
        "dataclass": Optimizer("adam", (0.9, 0.999), [1, 2]),
        "nested": {"inner": (np.int32(1), Path("x"))},
    }
    expected: dict[str, Any] = {
        "np_float64": 0.25,
        "np_float32": float(np.float32(0.1)),
        "np_int": 7,
        "np_uint": 200,
        "np_bool": True,
        "array": [1.5, 2.5],
        "array_2d": [[1, 2], [3, 4]],
        "array_nan": [math.nan, math.inf],
        "tuple": [1, "a", [2.0, None]],
        "path": os.fspath(Path("data") / "train"),
        "datetime": "2024-01-02T03:04:05+00:00",
        "date": "2024-01-02",
        "enum": "red",
        "int_enum_value": 2,
        "dataclass": {"name": "adam", "betas": [0.9, 0.999], "schedule": [1, 2]},
        "nested": {"inner": [1, "x"]},
    }
    record = manager.start_experiment("exp", values, {"extra": values})
    assert_same(record.hyperparameters, expected)
    assert_same(record.metadata["extra"], expected)
    [entry] = manager.read_history("exp")
    assert_same(entry["hyperparameters"], expected)
    assert_same(entry["metadata"]["extra"], expected)


class Opaque:
    pass


@pytest.mark.parametrize(
    ("hyperparameters", "key_path"),
    [
        ({"model": Opaque()}, "hyperparameters.model"),
        ({"optimizer": {"betas": (0.9, Opaque())}}, "hyperparameters.optimizer.betas[1]"),
        ({1: "a", "1": "b"}, "hyperparameters.1"),
        ({"inner": {True: 1, "true": 2}}, "hyperparameters.inner.true"),
        ({"fn": len}, "hyperparameters.fn"),
        ({"huge": 2**64}, "hyperparameters.huge"),
        ({"bytes": b"raw"}, "hyperparameters.bytes"),
    ],
)
def test_values_without_json_form_are_rejected_with_their_key_path(
    tmp_path: Path, hyperparameters: dict[Any, Any], key_path: str
) -> None:
    manager = ExperimentManager(tmp_path / "logs")
    with pytest.raises(SerializationError) as caught:
        manager.start_experiment("exp", hyperparameters, {})
    assert isinstance(caught.value, (TypeError, ValueError))
    assert caught.value.key_path == key_path
    assert key_path in str(caught.value)
    with pytest.raises(SerializationError) as caught:
        manager.start_experiment("exp", {}, {"extra": hyperparameters})
    expected_metadata_path = "metadata.extra" + key_path.removeprefix("hyperparameters")
    assert caught.value.key_path == expected_metadata_path
    assert not (tmp_path / "logs").exists()
    assert manager.active_experiment is None


@pytest.mark.parametrize("bad", [None, [], ["lr", 0.1], "lr=0.1", 0.1, {("a", "b"): 1}.items()])
def test_non_dict_hyperparameters_or_metadata_raise_and_write_nothing(
    tmp_path: Path, bad: Any
) -> None:
    manager = ExperimentManager(tmp_path / "logs")
    for args in [("exp", bad, {}), ("exp", {}, bad)]:
        with pytest.raises((TypeError, ValueError)) as caught:
            manager.start_experiment(*args)
        assert isinstance(caught.value, ExperimentManagerError)
    assert not (tmp_path / "logs").exists()
    assert manager.active_experiment is None


@pytest.mark.parametrize("config_name", ["", "   ", "\n\t", None, 5, b"mnist", ["mnist"]])
def test_empty_or_non_str_config_name_raises_and_writes_nothing(
    tmp_path: Path, config_name: Any
) -> None:
    manager = ExperimentManager(tmp_path / "logs")
    with pytest.raises((TypeError, ValueError)) as caught:
        manager.start_experiment(config_name, {}, {})
    assert isinstance(caught.value, ExperimentManagerError)
    assert not (tmp_path / "logs").exists()
    assert manager.active_experiment is None


def test_failed_start_writes_nothing_even_when_the_folder_exists(
    manager: ExperimentManager, log_dir: Path
) -> None:
    manager.start_experiment("exp", {}, {})
    manager.log_metrics({"loss": 1.0})
    before = tree(log_dir)
    attempts: list[tuple[Any, Any, Any]] = [
        ("exp", {"x": Opaque()}, {}),
        ("exp", {}, {"x": Opaque()}),
        ("exp", None, {}),
        ("", {}, {}),
    ]
    for args in attempts:
        with pytest.raises(ExperimentManagerError):
            manager.start_experiment(*args)
    assert tree(log_dir) == before
    assert [e["version"] for e in manager.read_history("exp")] == [1]


# -- read_history -------------------------------------------------------------------------


def test_read_history_of_an_unknown_id_is_empty(manager: ExperimentManager, log_dir: Path) -> None:
    assert manager.read_history("nothing_here") == []
    assert not log_dir.exists()
    manager.start_experiment("something", {}, {})
    assert manager.read_history("nothing_here") == []
    assert manager.read_history("something_else") == []


EXACT_FLOATS = [
    0.1,
    1 / 3,
    -2 / 3,
    5e-324,
    2.2250738585072014e-308,
    1e-310,
    sys.float_info.max,
    -sys.float_info.max,
    sys.float_info.epsilon,
    123456789.12345679,
    1e16,
    2.0**53 + 2,
    -0.0,
    0.0,
    float(np.float32(0.1)),
]
EXACT_INTS = [0, 1, -1, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1]


@written_through
def test_values_read_back_are_exactly_what_was_logged(
    manager: ExperimentManager, log_dir: Path
) -> None:
    hyper = {"floats": EXACT_FLOATS, "ints": EXACT_INTS, "lr": 0.1, "neg_zero": -0.0}
    manager.start_experiment("exp", hyper, {"floats": EXACT_FLOATS})
    manager.log_metrics({"floats": EXACT_FLOATS, "ints": EXACT_INTS})
    manager.log_metrics({"single": -0.0})
    for reader in (manager, ExperimentManager(log_dir)):
        [entry] = reader.read_history("exp")
        assert_same(entry["hyperparameters"], hyper)
        assert_same(entry["metadata"]["floats"], EXACT_FLOATS)
        assert_same(entry["metrics"]["floats"], EXACT_FLOATS)
        assert_same(entry["metrics"]["ints"], EXACT_INTS)
        assert float_bits(entry["metrics"]["single"][0]) == float_bits(-0.0)
        assert [x.hex() for x in entry["metrics"]["floats"]] == [x.hex() for x in EXACT_FLOATS]
    # What the file holds parses back to the same numbers with the standard library too.
    stored = load_history_file(log_dir, "exp")["versions"][0]
    assert_same(stored["metrics"]["floats"], EXACT_FLOATS)
    assert_same(stored["metrics"]["ints"], EXACT_INTS)


def test_non_finite_hyperparameters_round_trip(manager: ExperimentManager) -> None:
    hyper = {"eps": float("inf"), "floor": float("-inf"), "unset": float("nan"), "x": [math.nan]}
    manager.start_experiment("exp", hyper, {"temperature": float("nan")})
    [entry] = manager.read_history("exp")
    assert_same(entry["hyperparameters"], hyper)
    assert math.isnan(entry["metadata"]["temperature"])


def test_read_history_returns_independent_copies(manager: ExperimentManager) -> None:
    manager.start_experiment("exp", {"layers": [1, 2]}, {})
    manager.log_metrics({"loss": [0.5]})
    manager.add_checkpoint("a.ckpt")
    first = manager.read_history("exp")
    first[0]["hyperparameters"]["layers"].append(3)
    first[0]["metrics"]["loss"].append(0.0)
    first[0]["checkpoints"].append("b.ckpt")
    first.append({"version": 99})
    again = manager.read_history("exp")
    assert len(again) == 1
    assert again[0]["hyperparameters"] == {"layers": [1, 2]}
    assert again[0]["metrics"] == {"loss": [0.5]}
    assert again[0]["checkpoints"] == ["a.ckpt"]
    assert manager.active_experiment is not None
    assert manager.active_experiment.metrics == {"loss": [0.5]}
