"""Property: whatever goes in through the spec's API comes back out, exactly."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiment_manager import ExperimentManager
from tests._util import DEFAULT_METADATA_KEYS, assert_same, load_history_file

INT64_MIN = -(2**63)
UINT64_MAX = 2**64 - 1

floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, float("nan"), float("inf"), float("-inf"), 5e-324, 1.7976931348623157e308]
)
ints = st.integers(min_value=INT64_MIN, max_value=UINT64_MAX) | st.sampled_from(
    [INT64_MIN, UINT64_MAX, 2**63 - 1, 2**63, 2**53 + 1]
)
scalars = st.none() | st.booleans() | ints | floats | st.text(max_size=20)


def _not_reserved(mapping: dict[str, Any]) -> bool:
    # A mapping whose only key is "$float" is how non-finite floats are stored; the
    # library refuses it as input (tested elsewhere).
    return list(mapping) != ["$float"]


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=8), children, max_size=4
    ).filter(_not_reserved)


json_values = st.recursive(scalars, _containers, max_leaves=15)
documents = st.dictionaries(st.text(max_size=12), json_values, max_size=6).filter(_not_reserved)

metric_numbers = ints | floats
metric_calls = st.lists(
    st.dictionaries(
        st.text(min_size=1, max_size=10),
        metric_numbers | st.lists(metric_numbers, max_size=5) | st.tuples(metric_numbers),
        max_size=4,
    ),
    max_size=3,
)


def _as_values(logged: Any) -> list[Any]:
    return list(logged) if isinstance(logged, (list, tuple)) else [logged]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    config_name=st.text(min_size=1, max_size=30).filter(str.strip),
    hyperparameters=documents,
    metadata=documents,
    calls=metric_calls,
    checkpoints=st.lists(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s)),
)
def test_round_trip_through_a_file_store(
    tmp_path: Path,
    config_name: str,
    hyperparameters: dict[str, Any],
    metadata: dict[str, Any],
    calls: list[dict[str, Any]],
    checkpoints: list[str],
) -> None:
    log_dir = Path(tempfile.mkdtemp(dir=tmp_path)) / "logs"
    manager = ExperimentManager(log_dir)
    record = manager.start_experiment(config_name, hyperparameters, metadata)
    expected_metrics: dict[str, list[Any]] = {}
    for call in calls:
        manager.log_metrics(call)
        for name, logged in call.items():
            expected_metrics.setdefault(name, []).extend(_as_values(logged))
    for path in checkpoints:
        manager.add_checkpoint(path)

    expected_metadata = dict.fromkeys(DEFAULT_METADATA_KEYS, "unspecified")
    expected_metadata.update(metadata)

    # Read back by this manager, by a new one, and as the live record.
    for entry in (
        manager.read_history(record.experiment_id)[0],
        ExperimentManager(log_dir).read_history(record.experiment_id)[0],
        manager.active_experiment.to_dict() if manager.active_experiment else {},
    ):
        assert entry["config_name"] == config_name
        assert entry["version"] == 1
        assert_same(entry["hyperparameters"], hyperparameters)
        assert_same(entry["metadata"], expected_metadata)
        assert_same(entry["metrics"], expected_metrics)
        assert entry["checkpoints"] == checkpoints

    # The file is strict JSON (the loader refuses NaN/Infinity tokens).
    document = load_history_file(log_dir, record.experiment_id)
    assert len(document["versions"]) == 1
