"""Look and compare: list_experiments, list_versions, get_version, search, best, compare.

Every test writes real histories with the real manager under ``tmp_path`` and checks
the read calls against values computed here from ``read_history`` (the points), so a
summary, an index or a filter that drifts from the data shows up as a difference.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiment_manager import ExperimentManager
from experiment_manager.errors import (
    CorruptHistoryError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    InvalidExperimentIdError,
    QuerySyntaxError,
)
from experiment_manager.query import compare_records
from experiment_manager.stores.files import FileStore
from tests._runner import Plan, Runners
from tests._util import across_processes, assert_same, assert_table_matches, files_only, same

# Every test runs on every store (see each_store in conftest.py): small and big folder
# histories, the in-memory store and PostgreSQL; files_only tests look at folder files.
pytestmark = pytest.mark.usefixtures("each_store")

NAN = math.nan
INF = math.inf

#: Keys of a full record that a summary replaces by ``metric_summaries``.
POINT_KEYS = ("metrics", "steps", "timestamps", "checkpoint_details")


def new_manager(log_dir: Path) -> ExperimentManager:
    return ExperimentManager(log_dir, capture_environment=False)


# -- values computed here, from the points --------------------------------------------


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def expected_summary(values: list[Any], steps: list[Any] | None) -> dict[str, Any]:
    """What a metric summary must be, computed independently of the library."""
    usable = [v for v in values if not _is_nan(v)]
    low = min(usable) if usable else None
    high = max(usable) if usable else None
    if usable:
        try:
            mean: Any = math.fsum(usable) / len(usable)
        except ValueError:  # inf + -inf
            mean = NAN
    else:
        mean = None

    def step_of(best: Any) -> Any:
        if best is None:
            return None
        index = next(i for i, v in enumerate(values) if v == best)
        if steps is not None and steps[index] is not None:
            return steps[index]
        return index

    return {
        "last": values[-1] if values else None,
        "min": low,
        "max": high,
        "mean": mean,
        "count": len(values),
        "argmin_step": step_of(low),
        "argmax_step": step_of(high),
    }


def expected_summaries(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    steps = record.get("steps") or {}
    return {
        name: expected_summary(values, steps.get(name))
        for name, values in record["metrics"].items()
    }


def iso(wall_time: float) -> str:
    return datetime.fromtimestamp(wall_time, timezone.utc).isoformat(timespec="microseconds")


def last_activity(record: dict[str, Any]) -> str:
    moments = [record["created_at"]]
    if record.get("ended_at"):
        moments.append(record["ended_at"])
    times = [t for column in (record.get("timestamps") or {}).values() for t in column if t]
    if times:
        moments.append(iso(max(times)))
    moments += [entry["at"] for entry in record.get("resumed") or []]
    return str(max(moments))


#: Summary keys a record has only once they are set: a version's name (its config
#: name until one is given) and its tags.
SUMMARY_DEFAULTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "name": lambda record: record.get("config_name"),
    "tags": lambda record: [],
}


def assert_summary_matches(summary: dict[str, Any], record: dict[str, Any]) -> None:
    """A version summary is the record without its points, plus the aggregates."""
    assert_same(summary["metric_summaries"], expected_summaries(record))
    for key, value in summary.items():
        if key in ("metric_summaries", "last_logged_at"):
            continue
        if key in SUMMARY_DEFAULTS and key not in record:  # a summary always has them
            assert_same(value, SUMMARY_DEFAULTS[key](record))
            continue
        assert key in record, key
        assert_same(value, record[key])
    for key in record:
        assert key in summary or key in POINT_KEYS, key
    assert not set(POINT_KEYS) & set(summary)


# -- list_experiments -----------------------------------------------------------------


@across_processes
def test_list_experiments_counts_statuses_names_and_times(
    tmp_path: Path, runners: Runners, process_log_dir: Callable[[Path], str]
) -> None:
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    # "zeta" is created first, "alpha" second: the list is sorted by id, not by time.
    manager.start_experiment("cfg_z", {"lr": 0.1}, {}, experiment_id="zeta")
    manager.log_metrics({"acc": [0.5]})
    manager.end_experiment()
    manager.start_experiment("cfg_a", {"lr": 0.1}, {}, experiment_id="alpha")
    manager.log_metrics({"loss": [0.9, 0.4]})
    manager.end_experiment()
    manager.start_experiment("cfg_b", {"lr": 0.2}, {}, experiment_id="alpha")
    manager.log({"val_loss": 0.3})
    manager.end_experiment("failed")
    crashed = runners(process_log_dir(log_dir), "alpha", Plan(3))  # version 3, then SIGKILLed
    crashed.ready()
    crashed.kill()
    manager.start_experiment("cfg_a", {"lr": 0.3}, {}, experiment_id="alpha")  # running
    manager.log({"loss": 0.1})

    listed = manager.list_experiments()
    assert [entry["experiment_id"] for entry in listed] == ["alpha", "zeta"]
    alpha, zeta = listed
    history = manager.read_history("alpha")
    assert [r["status"] for r in history] == ["finished", "failed", "crashed", "running"]
    assert crashed.version == 3
    assert alpha["versions"] == 4
    assert alpha["latest_version"] == 4
    assert alpha["status_counts"] == {"finished": 1, "failed": 1, "crashed": 1, "running": 1}
    assert alpha["metric_names"] == ["loss", "static", "val_loss"]
    assert alpha["config_names"] == ["cfg_a", "cfg_b", "runner"]
    assert alpha["first_created"] == min(r["created_at"] for r in history)
    assert alpha["first_created"] == history[0]["created_at"]
    assert alpha["last_activity"] == max(last_activity(r) for r in history)
    # The running version's newest streamed point is the latest activity of all.
    assert alpha["last_activity"] == iso(history[3]["timestamps"]["loss"][0])

    zeta_history = manager.read_history("zeta")
    assert zeta == {
        "experiment_id": "zeta",
        "versions": 1,
        "latest_version": 1,
        "first_created": zeta_history[0]["created_at"],
        "last_activity": zeta_history[0]["ended_at"],
        "status_counts": {"finished": 1},
        "metric_names": ["acc"],
        "config_names": ["cfg_z"],
    }
    assert zeta["first_created"] < alpha["first_created"]
    assert alpha["first_created"] < alpha["last_activity"]
    manager.end_experiment()
    assert manager.list_experiments()[0]["status_counts"] == {
        "finished": 2,
        "failed": 1,
        "crashed": 1,
    }


def test_list_experiments_last_activity_includes_a_resume(tmp_path: Path) -> None:
    manager = new_manager(tmp_path / "logs")
    manager.start_experiment("cfg", {}, {}, experiment_id="exp")
    manager.log({"loss": 1.0})
    manager.end_experiment()
    manager.resume_experiment("exp")  # running again, no new point, ended_at cleared
    history = manager.read_history("exp")
    resumed_at = history[0]["resumed"][-1]["at"]
    (entry,) = manager.list_experiments()
    assert entry["last_activity"] == resumed_at
    assert entry["status_counts"] == {"running": 1}
    manager.end_experiment()


@files_only
def test_list_experiments_reports_a_corrupt_history_and_lists_the_others(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    for experiment_id in ("a_good", "c_good"):
        manager.start_experiment("cfg", {}, {}, experiment_id=experiment_id)
        manager.end_experiment()
    (log_dir / "b_bad.json").write_bytes(b'{"format": 1, "experiment_id": "b_bad", "vers')
    (log_dir / "d_wrong.json").write_text('{"format": 1, "experiment_id": "x", "versions": []}')
    listed = manager.list_experiments()
    assert [entry["experiment_id"] for entry in listed] == ["a_good", "b_bad", "c_good", "d_wrong"]
    for bad in (listed[1], listed[3]):
        assert set(bad) == {"experiment_id", "error"}
        assert bad["experiment_id"] in bad["error"]
    assert "not valid JSON" in listed[1]["error"]
    for good in (listed[0], listed[2]):
        assert good["versions"] == 1
        assert good["status_counts"] == {"finished": 1}


def test_list_experiments_of_an_empty_or_missing_folder(tmp_path: Path) -> None:
    assert new_manager(tmp_path / "never_created").list_experiments() == []
    (tmp_path / "empty").mkdir()
    assert new_manager(tmp_path / "empty").list_experiments() == []


# -- list_versions --------------------------------------------------------------------


def test_list_versions_summaries_equal_values_computed_from_the_points(tmp_path: Path) -> None:
    manager = new_manager(tmp_path / "logs")
    manager.start_experiment("cfg", {"lr": 0.1, "opt": {"name": "sgd"}}, {"note": "a"}, "exp")
    manager.log_metrics({"loss": [0.5, NAN, 0.2, 0.2, 0.7], "ints": [3, 1, 2, 1]})
    manager.log_metrics({"only_nan": [NAN, NAN], "empty": []})
    manager.log_metrics({"signed": [INF, -1.0, -INF, 4.0], "both_inf": [INF, -INF]})
    manager.log({"acc": 0.3}, step=5)
    manager.log({"acc": NAN}, step=6)
    manager.log({"acc": 0.9, "loss": 0.05}, step=7)  # loss: steps None, None, ..., 7
    manager.log({"acc": 0.1, "late": -2.0}, step=3)  # steps need not increase
    manager.add_checkpoint("model.pt")
    manager.end_experiment()
    manager.start_experiment("cfg", {"lr": 0.01}, {}, "exp")
    manager.log({"acc": 0.5})
    manager.log({"acc": 0.5})  # a tie: the first maximum wins
    manager.end_experiment("failed", "diverged")

    history = manager.read_history("exp")
    summaries = manager.list_versions("exp")
    assert [s["version"] for s in summaries] == [1, 2]
    for summary, record in zip(summaries, history, strict=True):
        assert_summary_matches(summary, record)

    loss = summaries[0]["metric_summaries"]["loss"]
    assert_same(loss["min"], 0.05)
    assert loss["argmin_step"] == 7  # the streamed point's step
    assert loss["argmax_step"] == 4  # a log_metrics value: its index
    assert loss["count"] == 6
    acc = summaries[0]["metric_summaries"]["acc"]
    assert (acc["min"], acc["argmin_step"], acc["max"], acc["argmax_step"]) == (0.1, 3, 0.9, 7)
    assert acc["mean"] == pytest.approx((0.3 + 0.9 + 0.1) / 3)
    assert_same(
        summaries[0]["metric_summaries"]["only_nan"],
        {
            "last": NAN,
            "min": None,
            "max": None,
            "mean": None,
            "count": 2,
            "argmin_step": None,
            "argmax_step": None,
        },
    )
    assert summaries[0]["metric_summaries"]["empty"]["count"] == 0
    assert summaries[0]["metric_summaries"]["empty"]["last"] is None
    signed = summaries[0]["metric_summaries"]["signed"]
    # log_metrics values get the steps after those logged before: this call's are 7 to 10
    assert history[0]["steps"]["signed"] == [7, 8, 9, 10]
    assert (signed["min"], signed["max"], signed["argmin_step"], signed["argmax_step"]) == (
        -INF,
        INF,
        9,
        7,
    )
    assert math.isnan(summaries[0]["metric_summaries"]["both_inf"]["mean"])
    assert summaries[1]["metric_summaries"]["acc"]["argmax_step"] == 0
    assert summaries[1]["status"] == "failed"
    assert summaries[0]["last_logged_at"] == iso(max(history[0]["timestamps"]["late"]))
    assert_table_matches(manager, "exp")
    table = manager.version_table("exp")
    assert_same(table.last["loss"], [0.05, None])
    assert_same(table.last["only_nan"], [NAN, None])
    assert table.last["empty"] == [None, None]
    assert table.duration == [s["duration"] for s in summaries]


def test_list_versions_of_unknown_and_invalid_ids(tmp_path: Path) -> None:
    manager = new_manager(tmp_path / "logs")
    assert manager.list_versions("never_ran") == []
    with pytest.raises(InvalidExperimentIdError):
        manager.list_versions("../escape")


@files_only
def test_list_versions_of_a_corrupt_history_raises(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    (log_dir / "bad.json").write_bytes(b"\x00\xff not json")
    with pytest.raises(CorruptHistoryError):
        new_manager(log_dir).list_versions("bad")


# -- version_table --------------------------------------------------------------------


def test_version_table_of_unknown_invalid_and_corrupt_ids(tmp_path: Path, each_store: str) -> None:
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    empty = manager.version_table("never_ran")
    assert (len(empty), empty.experiment_id, empty.version, empty.last) == (0, "never_ran", [], {})
    with pytest.raises(InvalidExperimentIdError):
        manager.version_table("../escape")
    if each_store not in ("small", "big"):
        return  # a corrupt history is a damaged file of the folder store
    log_dir.mkdir()
    (log_dir / "bad.json").write_bytes(b"\x00\xff not json")
    with pytest.raises(CorruptHistoryError):
        manager.version_table("bad")


@across_processes
def test_version_table_reports_a_crashed_run(
    tmp_path: Path, runners: Runners, process_log_dir: Callable[[Path], str]
) -> None:
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    manager.start_experiment("cfg", {"lr": 0.1}, {}, experiment_id="exp")
    manager.end_experiment()
    crashed = runners(process_log_dir(log_dir), "exp", Plan(3))
    crashed.ready()
    assert manager.version_table("exp").status == ["finished", "running"]
    crashed.kill()
    table = manager.version_table("exp")
    assert table.status == ["finished", "crashed"]
    assert table.last["loss"][1] is not None
    assert_table_matches(manager, "exp")


# -- get_version ----------------------------------------------------------------------


def test_get_version_latest_explicit_and_unknown(tmp_path: Path) -> None:
    manager = new_manager(tmp_path / "logs")
    for lr in (0.1, 0.2, 0.3):
        manager.start_experiment("cfg", {"lr": lr}, {}, experiment_id="exp")
        manager.log_metrics({"loss": [lr, NAN]})
    manager.end_experiment()
    history = manager.read_history("exp")
    assert_same(manager.get_version("exp"), history[-1])
    assert manager.get_version("exp")["hyperparameters"] == {"lr": 0.3}
    for version in (1, 2, 3):
        assert_same(manager.get_version("exp", version), history[version - 1])
    assert_same(manager.get_version("exp", 2)["metrics"], {"loss": [0.2, NAN]})
    with pytest.raises(ExperimentNotFoundError) as missing_version:
        manager.get_version("exp", 4)
    assert (missing_version.value.experiment_id, missing_version.value.version) == ("exp", 4)
    with pytest.raises(ExperimentNotFoundError) as missing_experiment:
        manager.get_version("other")
    assert missing_experiment.value.experiment_id == "other"
    with pytest.raises(ExperimentNotFoundError):
        manager.get_version("other", 1)


# -- search ---------------------------------------------------------------------------


@pytest.fixture
def searchable(tmp_path: Path, each_store: str) -> ExperimentManager:
    """Two experiments; in a folder, a corrupt history between them."""
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    rows = [
        ("alpha", 0.1, [0.9, 0.5], "finished"),
        ("alpha", 0.01, [0.8, 0.3], "failed"),
        ("alpha", 0.001, [NAN], "finished"),
        ("gamma", 0.05, [0.4], "finished"),
        ("gamma", 0.5, [], "killed"),
    ]
    for experiment_id, lr, losses, status in rows:
        manager.start_experiment("cfg", {"lr": lr}, {}, experiment_id=experiment_id)
        manager.log_metrics({"loss": losses})
        manager.end_experiment(status)
    if each_store in ("small", "big"):
        (log_dir / "beta.json").write_text("{ this is not json", encoding="utf-8")
    return manager


def _ids(found: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(r["experiment_id"], r["version"]) for r in found]


def test_search_all_skips_corrupt_histories(searchable: ExperimentManager, each_store: str) -> None:
    everything = searchable.search()
    assert _ids(everything) == [
        ("alpha", 1),
        ("alpha", 2),
        ("alpha", 3),
        ("gamma", 1),
        ("gamma", 2),
    ]
    if each_store in ("small", "big"):  # only a folder holds the corrupt history
        # The skipped history is reported, as list_experiments reports it.
        listed = {e["experiment_id"]: e for e in searchable.list_experiments()}
        assert everything.damaged == [{"experiment_id": "beta", "error": listed["beta"]["error"]}]
        assert "beta.json" in everything.damaged[0]["error"]
    else:
        assert everything.damaged == []
    assert searchable.search("hyperparameters.lr < 0.06").damaged == everything.damaged
    assert searchable.search(experiment_id="gamma").damaged == []  # only gamma was read
    assert _ids(searchable.search("hyperparameters.lr < 0.06")) == [
        ("alpha", 2),
        ("alpha", 3),
        ("gamma", 1),
    ]
    assert _ids(searchable.search("metrics.loss.min <= 0.4 and status = 'finished'")) == [
        ("gamma", 1)
    ]
    assert _ids(searchable.search("status in ('failed', 'killed')")) == [("alpha", 2), ("gamma", 2)]
    # Results are summaries, exactly as list_versions gives them (in a list subclass).
    assert_same(
        list(searchable.search("version = 2", experiment_id="alpha")),
        [searchable.list_versions("alpha")[1]],
    )


def test_search_one_experiment(searchable: ExperimentManager) -> None:
    assert _ids(searchable.search(experiment_id="gamma")) == [("gamma", 1), ("gamma", 2)]
    assert _ids(searchable.search("not metrics.loss.min > 0.35", experiment_id="alpha")) == [
        ("alpha", 2),
        ("alpha", 3),  # all NaN: min is missing, the comparison false, its negation true
    ]
    assert _ids(searchable.search("metrics.loss.count = 0", experiment_id="gamma")) == [
        ("gamma", 2)
    ]
    assert _ids(searchable.search("metrics.loss.last = null", experiment_id="gamma")) == [
        ("gamma", 2)
    ]


def test_search_named_corrupt_or_unknown_experiment_raises(
    searchable: ExperimentManager, each_store: str
) -> None:
    if each_store in ("small", "big"):  # only a folder holds the corrupt history
        with pytest.raises(CorruptHistoryError):
            searchable.search(experiment_id="beta")
        with pytest.raises(CorruptHistoryError):
            searchable.search("version = 1", experiment_id="beta")
    with pytest.raises(ExperimentNotFoundError) as missing:
        searchable.search("version = 1", experiment_id="delta")
    assert missing.value.experiment_id == "delta"
    with pytest.raises(InvalidExperimentIdError):
        searchable.search(experiment_id="../alpha")


def test_search_order_by_and_limit(searchable: ExperimentManager) -> None:
    by_min = searchable.search(order_by="metrics.loss.min")
    # Missing (all-NaN, no values) sorts last, in the original order.
    assert _ids(by_min) == [("alpha", 2), ("gamma", 1), ("alpha", 1), ("alpha", 3), ("gamma", 2)]
    by_min_desc = searchable.search(order_by="metrics.loss.min desc")
    assert _ids(by_min_desc) == [
        ("alpha", 1),
        ("gamma", 1),
        ("alpha", 2),
        ("alpha", 3),
        ("gamma", 2),
    ]
    assert _ids(searchable.search(order_by="-hyperparameters.lr", limit=2)) == [
        ("gamma", 2),
        ("alpha", 1),
    ]
    assert _ids(searchable.search(order_by="status, version desc")) == [
        ("alpha", 2),
        ("alpha", 3),
        ("alpha", 1),
        ("gamma", 1),
        ("gamma", 2),
    ]
    assert _ids(searchable.search("status = 'finished'", order_by="hp.lr", limit=1)) == [
        ("alpha", 3)
    ]
    assert searchable.search(limit=0) == []
    assert len(searchable.search(limit=100)) == 5
    with pytest.raises(InvalidArgumentError):
        searchable.search(limit=-1)


@pytest.mark.parametrize(
    ("query", "position"),
    [
        ("status = ", 9),
        ("status = finished", 9),
        ("hp.lr < 0.1 and", 15),
        ("(version = 1", 0),
        ("version = 1)", 11),
        ("hp.lr <> 3", 7),
        ("bogus = 1", 0),
        ("metrics.loss.median > 1", 0),
    ],
)
def test_search_malformed_query_raises_with_position(
    searchable: ExperimentManager, query: str, position: int
) -> None:
    with pytest.raises(QuerySyntaxError) as error:
        searchable.search(query)
    assert error.value.query == query
    assert error.value.position == position
    assert f"position {position}" in str(error.value)
    with pytest.raises(QuerySyntaxError):  # also when the experiment is named
        searchable.search(query, experiment_id="alpha")


def test_search_malformed_order_by_raises(searchable: ExperimentManager) -> None:
    with pytest.raises(QuerySyntaxError) as error:
        searchable.search(order_by="version sideways")
    assert error.value.position == 8


# -- search, property test at the manager level ---------------------------------------

EXPERIMENTS = ("alpha", "beta")
LRS = (0.1, 0.01, 0.001, 0.5)
STATUSES = ("finished", "failed", "killed")

metric_value = st.one_of(
    st.floats(-10, 10, allow_nan=False, allow_subnormal=False), st.sampled_from(LRS), st.just(NAN)
)
version_plan = st.fixed_dictionaries(
    {
        "experiment": st.sampled_from(EXPERIMENTS),
        "lr": st.one_of(
            st.none(),
            st.sampled_from(LRS),
            st.floats(-1, 1, allow_nan=False, allow_subnormal=False),
        ),
        "batch": st.sampled_from((16, 32, 64)),
        # None (no loss metric at all) one time in five.
        "loss": st.tuples(st.integers(0, 4), st.lists(metric_value, max_size=5)).map(
            lambda pair: None if pair[0] == 0 else pair[1]
        ),
        "status": st.sampled_from(STATUSES),
    }
)

Predicate = Callable[[dict[str, Any]], bool]
Generated = tuple[str, Predicate]


def _metric(record: dict[str, Any], agg: str) -> tuple[bool, Any]:
    """``metrics.loss.<agg>`` by the documented rules, from the points."""
    values = record["metrics"].get("loss")
    if values is None:
        return False, None
    if agg == "count":
        return True, len(values)
    if agg == "last":
        return (True, values[-1]) if values else (False, None)
    usable = [v for v in values if not _is_nan(v)]
    if not usable:
        return False, None
    if agg == "min":
        return True, min(usable)
    if agg == "max":
        return True, max(usable)
    return True, math.fsum(usable) / len(usable)


def _field(record: dict[str, Any], name: str) -> tuple[bool, Any]:
    if name.startswith("metrics.loss."):
        return _metric(record, name.rsplit(".", 1)[1])
    if name.startswith("hyperparameters."):
        key = name.split(".", 1)[1]
        return key in record["hyperparameters"], record["hyperparameters"].get(key)
    return True, record[name]


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _comparison(name: str, op: str, literal: Any) -> Generated:
    def predicate(record: dict[str, Any]) -> bool:
        found, value = _field(record, name)
        both_numbers = isinstance(value, (int, float)) and isinstance(literal, (int, float))
        if not found or not (both_numbers or type(value) is type(literal)):
            return False  # a missing field or another type: false, never an error
        return _OPS[op](value, literal)

    shown = f"'{literal}'" if isinstance(literal, str) else repr(literal)
    return f"{name} {op} {shown}", predicate


def _and(a: Generated, b: Generated) -> Generated:
    return f"({a[0]} and {b[0]})", lambda r: a[1](r) and b[1](r)


def _or(a: Generated, b: Generated) -> Generated:
    return f"({a[0]} or {b[0]})", lambda r: a[1](r) or b[1](r)


def _not(a: Generated) -> Generated:
    return f"not {a[0]}", lambda r: not a[1](r)


def _literal_pool(plans: list[dict[str, Any]]) -> list[float]:
    """Numbers near the data: logged values, their aggregates and the learning rates."""
    pool = set(LRS)
    for plan in plans:
        if plan["lr"] is not None:
            pool.add(plan["lr"])
        usable = [v for v in plan["loss"] or [] if not _is_nan(v)]
        pool.update(usable)
        if usable:
            pool.add(math.fsum(usable) / len(usable))
    return sorted(pool)


def queries_for(plans: list[dict[str, Any]]) -> st.SearchStrategy[Generated]:
    number = st.one_of(
        st.sampled_from(_literal_pool(plans)),
        st.floats(-2, 2, allow_nan=False, allow_subnormal=False),
        st.integers(-1, 6),
    )
    op = st.sampled_from(tuple(_OPS))
    aggregate = st.sampled_from([f"metrics.loss.{agg}" for agg in ("min", "max", "last", "mean")])
    leaf = st.one_of(
        st.builds(_comparison, aggregate, op, number),
        st.builds(_comparison, aggregate, op, number),
        st.builds(_comparison, st.just("hyperparameters.lr"), op, number),
        st.builds(_comparison, st.just("metrics.loss.count"), op, st.integers(0, 5)),
        st.builds(_comparison, st.just("hyperparameters.batch"), op, st.sampled_from((16, 32))),
        st.builds(
            _comparison,
            st.just("status"),
            st.sampled_from(("=", "!=")),
            st.sampled_from((*STATUSES, "running")),
        ),
        st.builds(_comparison, st.just("version"), op, st.integers(0, 4)),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(_and, inner, inner), st.builds(_or, inner, inner), st.builds(_not, inner)
        ),
        max_leaves=4,
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    plans=st.lists(version_plan, min_size=1, max_size=6),
    leave_running=st.booleans(),
    data=st.data(),
)
def test_search_selects_exactly_what_a_predicate_over_read_history_selects(
    plans: list[dict[str, Any]], leave_running: bool, data: st.DataObject
) -> None:
    generated = data.draw(st.lists(queries_for(plans), min_size=4, max_size=8), label="queries")
    with tempfile.TemporaryDirectory() as folder:
        manager = new_manager(Path(folder))
        try:
            for number, plan in enumerate(plans, start=1):
                hyperparameters: dict[str, Any] = {"batch": plan["batch"]}
                if plan["lr"] is not None:
                    hyperparameters["lr"] = plan["lr"]
                manager.start_experiment("cfg", hyperparameters, {}, plan["experiment"])
                if plan["loss"] is not None:
                    manager.log_metrics({"loss": plan["loss"]})
                if number < len(plans) or not leave_running:
                    manager.end_experiment(plan["status"])
            histories = {e: manager.read_history(e) for e in EXPERIMENTS}
            for text, predicate in generated:
                expected = [
                    (e, r["version"]) for e in EXPERIMENTS for r in histories[e] if predicate(r)
                ]
                assert _ids(manager.search(text)) == expected, text
                for experiment_id in EXPERIMENTS:
                    if histories[experiment_id]:
                        found = manager.search(text, experiment_id=experiment_id)
                        assert _ids(found) == [p for p in expected if p[0] == experiment_id]
                    else:
                        with pytest.raises(ExperimentNotFoundError):
                            manager.search(text, experiment_id=experiment_id)
        finally:
            if manager.active_experiment is not None:
                manager.end_experiment()


# -- best -----------------------------------------------------------------------------


def test_best_min_max_and_aggregates(tmp_path: Path) -> None:
    manager = new_manager(tmp_path / "logs")
    runs = [
        [0.9, 0.1, 0.8],  # v1: lowest min, most values (tied with v4: the first wins)
        [0.5, 0.4],  # v2: lowest mean, lowest max
        [NAN, NAN],  # v3: no usable value
        [0.95, 0.3, 0.2],  # v4: highest max, lowest last
        [0.1, 0.85],  # v5: ties v1's min (the first wins), highest last
    ]
    for losses in runs:
        manager.start_experiment("cfg", {}, {}, experiment_id="exp")
        manager.log_metrics({"loss": losses})
    manager.start_experiment("cfg", {}, {}, experiment_id="exp")  # v6: no loss at all
    manager.log_metrics({"acc": [1.0]})
    manager.end_experiment()

    def best(*args: Any, **kwargs: Any) -> int:
        found = manager.best("exp", *args, **kwargs)
        assert found is not None
        assert_same(found, manager.list_versions("exp")[found["version"] - 1])
        return int(found["version"])

    assert best("loss") == 1
    assert best("loss", mode="max") == 4
    assert best("loss", agg="last") == 4
    assert best("loss", mode="max", agg="last") == 5
    assert best("loss", agg="mean") == 2
    assert best("loss", agg="max") == 2
    assert best("loss", mode="max", agg="count") == 1
    assert best("acc", mode="max") == 6
    assert manager.best("exp", "missing") is None
    assert manager.best("never_ran", "loss") is None
    with pytest.raises(InvalidArgumentError):
        manager.best("exp", "loss", mode="average")
    with pytest.raises(InvalidArgumentError):
        manager.best("exp", "loss", agg="median")


# -- compare --------------------------------------------------------------------------


def test_compare_lists_only_differing_keys_and_summarises_metrics(tmp_path: Path) -> None:
    manager = new_manager(tmp_path / "logs")
    base = {"lr": 0.1, "bs": 32, "opt": {"name": "sgd", "momentum": 0.9}, "x": NAN, "flag": 1}
    manager.start_experiment("cfg", base, {"precision": "fp16"}, "exp")
    manager.log_metrics({"loss": [0.5, NAN, 0.25]})
    manager.log({"acc": 0.7}, step=100)
    manager.end_experiment()
    second = {**base, "lr": 0.01, "opt": {"name": "adam", "momentum": 0.9}, "flag": True}
    manager.start_experiment("cfg", second, {}, "exp")
    manager.log_metrics({"loss": [0.4]})
    manager.end_experiment()
    manager.start_experiment("cfg", {**base, "extra": [1, 2]}, {"precision": "fp16"}, "exp")
    manager.end_experiment()

    diff = manager.compare("exp", [1, 2])
    assert diff["experiment_id"] == "exp"
    assert diff["versions"] == [1, 2]
    # bs, opt.momentum and the NaN x are equal; 1 and True differ.
    assert_same(
        diff["hyperparameters"],
        {"lr": [0.1, 0.01], "opt.name": ["sgd", "adam"], "flag": [1, True]},
    )
    assert diff["metadata"] == {"precision": ["fp16", "unspecified"]}
    assert diff["environment"] == {}
    history = manager.read_history("exp")
    assert_same(
        diff["metrics"],
        {1: expected_summaries(history[0]), 2: expected_summaries(history[1])},
    )
    assert diff["metrics"][1]["acc"]["argmin_step"] == 100

    reverse = manager.compare("exp", [3, 1])
    assert reverse["versions"] == [3, 1]
    assert reverse["hyperparameters"] == {"extra": [[1, 2], None]}
    assert reverse["metadata"] == {}
    assert_same(reverse["metrics"], {3: {}, 1: expected_summaries(history[0])})

    three = manager.compare("exp", [1, 2, 3])
    assert three["hyperparameters"]["lr"] == [0.1, 0.01, 0.1]
    assert three["hyperparameters"]["extra"] == [None, None, [1, 2]]
    assert set(three["hyperparameters"]) == {"lr", "opt.name", "flag", "extra"}


def _compared_runs(log_dir: Path) -> ExperimentManager:
    """Two ended versions with non-finite points; a third still running (left active)."""
    manager = new_manager(log_dir)
    for lr, values in ((0.1, [0.5, NAN, INF]), (0.01, [0.4, -INF])):
        manager.start_experiment("cfg", {"lr": lr}, {}, "exp")
        for step, value in enumerate(values):
            manager.log({"loss": value, "acc": step / 10}, step=3 * step)
        manager.end_experiment("failed" if lr < 0.1 else "finished")
    manager.start_experiment("cfg", {"lr": 1.0}, {}, "exp")
    manager.log({"loss": 0.75}, step=7)  # running: in a folder, its point is in the journal
    return manager


def test_compare_reads_no_point_and_equals_comparing_full_records(log_dir: Path) -> None:
    manager = _compared_runs(log_dir)
    history = manager.read_history("exp")
    for versions in ([1, 2], [3, 1], [2, 3, 1]):
        expected = compare_records([history[v - 1] for v in versions])
        assert_same(manager.compare("exp", versions), dict(expected))
    assert manager.compare("exp", [1, 3])["metrics"][3]["loss"]["argmin_step"] == 7
    manager.end_experiment()
    expected = compare_records(manager.read_history("exp"))
    assert_same(manager.compare("exp", [1, 2, 3]), dict(expected))


@files_only
def test_compare_of_ended_versions_is_answered_by_the_folder_index_alone(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = _compared_runs(log_dir)
    manager.end_experiment()
    expected = compare_records(manager.read_history("exp"))
    monkeypatch.setattr(FileStore, "_parse", lambda *args: pytest.fail("history parsed"))
    assert_same(manager.compare("exp", [1, 2, 3]), dict(expected))


def test_compare_errors(tmp_path: Path) -> None:
    manager = new_manager(tmp_path / "logs")
    for _ in range(2):
        manager.start_experiment("cfg", {}, {}, experiment_id="exp")
    manager.end_experiment()
    with pytest.raises(ExperimentNotFoundError) as missing:
        manager.compare("exp", [1, 7])
    assert missing.value.version == 7
    with pytest.raises(ExperimentNotFoundError):
        manager.compare("never_ran", [1, 2])
    with pytest.raises(InvalidArgumentError):
        manager.compare("exp", [1])
    with pytest.raises(InvalidArgumentError):
        manager.compare("exp", [])
    with pytest.raises(InvalidArgumentError):
        manager.compare("exp", [2, 2])
    assert same(manager.compare("exp", [2, 1])["versions"], [2, 1])
