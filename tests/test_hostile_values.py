"""Values that break naive conversion: deep nesting, huge ints, lone surrogates.

Each must be refused with the library's typed error naming the field, before anything
is written: the history file and ``read_history`` are the same afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.errors import InvalidMetricError, SerializationError
from tests._util import history_path, tree

HUGE = 10**5000  # more digits than int-to-str conversion allows by default
SURROGATE = "lr\ud800"


def _nested(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    inner = root
    for _ in range(depth):
        inner["a"] = {}
        inner = inner["a"]
    return root


DEEP = _nested(10_000)


@pytest.fixture
def running(log_dir: Path) -> ExperimentManager:
    """A manager with version 1 of ``exp`` active and one value of each kind logged."""
    manager = ExperimentManager(log_dir)
    manager.start_experiment("exp", {"lr": 0.1}, {})
    manager.log_metrics({"loss": [0.5]})
    manager.log({"step_loss": 0.25})
    return manager


@pytest.mark.parametrize(
    ("hyperparameters", "key_path"),
    [
        (DEEP, "hyperparameters" + ".a" * 65),
        ({"big": HUGE}, "hyperparameters.big"),
        ({"opt": {"betas": [0.9, HUGE]}}, "hyperparameters.opt.betas[1]"),
        ({"ratio": Fraction(HUGE, 3)}, "hyperparameters.ratio"),
        ({SURROGATE: 0.1}, "hyperparameters.lr\\ud800"),
        ({"opt": {SURROGATE: 0.1}}, "hyperparameters.opt.lr\\ud800"),
        ({HUGE: 1}, "hyperparameters.<int of about 5001 digits>"),
    ],
    ids=["nested_10000", "huge_int", "huge_int_in_list", "huge_fraction", "surrogate_key",
         "nested_surrogate_key", "huge_int_key"],
)  # fmt: skip
def test_hostile_hyperparameters_raise_a_typed_error_naming_the_field(
    running: ExperimentManager, log_dir: Path, hyperparameters: dict[Any, Any], key_path: str
) -> None:
    before_files = tree(log_dir)
    before_history = running.read_history("exp")
    starts: list[Callable[[], object]] = [
        lambda: running.start_experiment("exp", hyperparameters, {}),
        lambda: running.start_experiment("other", hyperparameters, {}),
    ]
    for call in starts:
        with pytest.raises(SerializationError) as caught:
            call()
        assert caught.value.key_path == key_path
        assert str(caught.value).startswith(key_path + ": ")
    with pytest.raises(SerializationError) as caught:
        running.start_experiment("exp", {}, {"extra": hyperparameters})
    under_extra = key_path.removeprefix("hyperparameters")
    if hyperparameters is DEEP:  # one level is taken by "extra"
        under_extra = under_extra.removesuffix(".a")
    assert caught.value.key_path == "metadata.extra" + under_extra
    assert tree(log_dir) == before_files
    assert running.read_history("exp") == before_history
    assert running.read_history("other") == []
    # The active version was not ended by the refused start and still takes values.
    active = running.active_experiment
    assert active is not None
    assert active.version == 1
    running.log_metrics({"loss": 0.4})
    assert running.read_history("exp")[0]["metrics"]["loss"] == [0.5, 0.4]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("loss", HUGE),
        ("loss", -HUGE),
        ("loss", Fraction(HUGE, 3)),
        (SURROGATE, 1.0),
        (SURROGATE, HUGE),
    ],
    ids=["huge_int", "huge_negative_int", "huge_fraction", "surrogate_name", "both"],
)
def test_hostile_metric_values_raise_invalid_metric_in_every_logging_call(
    running: ExperimentManager, log_dir: Path, name: str, value: Any
) -> None:
    history = history_path(log_dir, "exp")
    before_bytes = history.read_bytes()
    before_files = tree(log_dir)
    before_history = running.read_history("exp")
    calls: list[Callable[[], object]] = [
        lambda: running.log_metrics({"fine": 1.0, name: value}),
        lambda: running.log_metrics({"fine": [1.0], name: [2.0, value]}),
        lambda: running.log({"fine": 1.0, name: value}),
        lambda: running.log({name: value}, step=7),
        lambda: running.log_metric(name, value),
        lambda: running.add_checkpoint("model.pt", metrics={"fine": 1.0, name: value}),
    ]
    for call in calls:
        with pytest.raises(InvalidMetricError) as caught:
            call()
        assert caught.value.metric == name
        assert repr(name) in str(caught.value)
        assert history.read_bytes() == before_bytes
    assert tree(log_dir) == before_files
    assert running.read_history("exp") == before_history
    # Nothing was half-taken: the next values land where they would have (after the
    # step log_metrics gave "loss").
    assert running.log({"step_loss": 0.125}) == 2
    running.add_checkpoint("model.pt", metrics={"val": 0.5})
    running.end_experiment()
    [entry] = running.read_history("exp")
    assert entry["metrics"] == {"loss": [0.5], "step_loss": [0.25, 0.125]}
    assert entry["steps"]["step_loss"] == [1, 2]
    assert entry["checkpoints"] == ["model.pt"]
