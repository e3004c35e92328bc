"""Steps and times shared by the metrics of one ``log()`` call are stored once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.errors import CorruptHistoryError


def _log(manager: ExperimentManager, steps: int) -> None:
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    for step in range(steps):
        values = {f"m{i}": step * 10 + i for i in range(10)}
        if step % 2:
            values["odd"] = step  # logged on other steps: its lists are its own
        manager.log(values, step=step)
    manager.log_metrics({"m0": [1.5]})  # a value without a step or time, for m0 only
    manager.end_experiment()


def test_each_steps_time_is_stored_once_and_read_in_full(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    _log(manager, 50)
    [stored] = json.loads((log_dir / "exp.json").read_bytes())["versions"]
    # m0 has a value more than the others (from log_metrics): its lists differ.
    assert isinstance(stored["timestamps"]["m0"], list)
    assert isinstance(stored["timestamps"]["m1"], list)
    assert all(stored["timestamps"][f"m{i}"] == {"$same": "m1"} for i in range(2, 10))
    assert all(stored["steps"][f"m{i}"] == {"$same": "m1"} for i in range(2, 10))
    assert isinstance(stored["timestamps"]["odd"], list)
    [record] = manager.read_history("exp")
    times = record["timestamps"]["m1"]
    assert len(times) == 50
    for i in range(1, 10):
        assert record["timestamps"][f"m{i}"] == times
        assert record["steps"][f"m{i}"] == list(range(50))
        assert record["metrics"][f"m{i}"] == [step * 10 + i for step in range(50)]
    assert record["timestamps"]["m0"][:-1] == times
    assert isinstance(record["timestamps"]["m0"][-1], float)  # log_metrics' value: its time
    assert record["steps"]["odd"] == list(range(1, 50, 2))
    # A read list is the version's own: changing it changes no other metric's.
    record["timestamps"]["m2"].append(0.0)
    assert len(record["timestamps"]["m3"]) == 50
    assert manager.get_version("exp", 1)["timestamps"] == {
        name: column for name, column in manager.read_history("exp")[0]["timestamps"].items()
    }


@pytest.mark.parametrize(
    "reference",
    [{"$same": "nowhere"}, {"$same": "m3"}, {"$same": 1}, {"$same": "m1", "x": 1}, {}],
)
def test_a_broken_reference_is_a_corrupt_history(log_dir: Path, reference: object) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    _log(manager, 5)
    path = log_dir / "exp.json"
    document = json.loads(path.read_bytes())
    document["versions"][0]["timestamps"]["m3"] = reference
    path.write_text(json.dumps(document))
    with pytest.raises(CorruptHistoryError) as caught:
        manager.read_history("exp")
    assert "timestamps['m3']" in caught.value.reason
    assert manager.store.read_metric("exp", "m3", "time") is None
