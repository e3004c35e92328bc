"""log_metrics gives every value a step and a time; a bulk upload can carry its steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager, InvalidArgumentError

pytestmark = pytest.mark.usefixtures("each_store")


@pytest.fixture
def manager(log_dir: Path) -> ExperimentManager:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("cfg", {}, {}, experiment_id="exp")
    return manager


def _version(manager: ExperimentManager) -> dict[str, Any]:
    return manager.read_history("exp")[-1]


def test_every_value_has_a_step_and_a_time_whichever_call_logged_it(
    manager: ExperimentManager,
) -> None:
    manager.log({"loss": 1.0})  # step 0
    manager.log_metrics({"loss": [0.9, 0.8], "acc": 0.5})  # steps 1, 2 and 1
    manager.log({"loss": 0.7})  # step 3: after the bulk values
    manager.end_experiment()
    version = _version(manager)
    assert version["steps"] == {"loss": [0, 1, 2, 3], "acc": [1]}
    for name, values in version["metrics"].items():
        times = version["timestamps"][name]
        assert len(times) == len(values)
        assert all(isinstance(t, float) for t in times), name


def test_steps_given_as_a_start_or_per_metric(manager: ExperimentManager) -> None:
    manager.log_metrics({"loss": [0.5, 0.4, 0.3]}, steps=100)
    manager.log_metrics(
        {"val": [0.6, 0.5], "lr": [0.1, 0.01]}, steps={"val": [0, 50], "lr": [7, 8]}
    )
    manager.log({"loss": 0.2})  # the next default step follows the largest one
    manager.end_experiment()
    version = _version(manager)
    assert version["steps"] == {"loss": [100, 101, 102, 103], "val": [0, 50], "lr": [7, 8]}
    assert version["metrics"]["loss"] == [0.5, 0.4, 0.3, 0.2]


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        (-1, "from 0 to"),
        ("3", "non-negative int"),
        (True, "non-negative int"),
        ({"loss": [1]}, "1 step"),
        ({"other": [1, 2]}, "no list of steps for metric 'loss'"),
        ({"loss": [1, 2], "other": [3]}, "names metric 'other'"),
        ({"loss": [1, None]}, "None"),
        ({"loss": [1, -2]}, "from 0 to"),
        (2**63 - 1, "largest step"),
    ],
)
def test_bad_steps_are_refused_with_nothing_written(
    manager: ExperimentManager, steps: object, reason: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=reason):
        manager.log_metrics({"loss": [0.5, 0.4]}, steps=steps)  # type: ignore[arg-type]
    manager.end_experiment()
    assert _version(manager)["metrics"] == {}


def test_no_default_step_after_the_largest_step_on_any_store(
    manager: ExperimentManager,
) -> None:
    """Steps are 64-bit on every store: after a point at 2**63 - 1 a point needs its step
    (PostgreSQL's bigint would refuse 2**63 later, when the point ships)."""
    assert manager.log({"loss": 1.0}, step=2**63 - 1) == 2**63 - 1
    with pytest.raises(InvalidArgumentError, match="default step would pass"):
        manager.log({"loss": 2.0})
    with pytest.raises(InvalidArgumentError, match="default step would pass"):
        manager.log_metric("loss", 2.0)
    with pytest.raises(InvalidArgumentError, match="largest step"):
        manager.log_metrics({"loss": [2.0]})
    assert manager.log({"loss": 3.0}, step=5) == 5
    manager.end_experiment()
    version = _version(manager)
    assert version["status"] == "finished"
    assert version["metrics"] == {"loss": [1.0, 3.0]}
    assert version["steps"] == {"loss": [2**63 - 1, 5]}
