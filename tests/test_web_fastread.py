"""The direct read of one metric (``Store.read_metric``) against ``read_history``.

Both of its sources are checked: the versions' columns files, and the history's
outline when those are missing.

The direct read is only an optimisation: for every history it accepts it must give
exactly the columns the ordinary read gives, and for anything unusual (a running
version, a damaged or foreign file) it must step aside (return None) so that the
ordinary read decides. The cache must use it, and must follow the file when it changes.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiment_manager import ExperimentManager
from experiment_manager.stores import _atomic, _columns
from experiment_manager.stores._metric_read import MetricRead
from experiment_manager.stores.base import Store
from experiment_manager.stores.files import FileStore
from experiment_manager.stores.memory import MemoryStore
from experiment_manager.web._cache import HistoryCache
from experiment_manager.web._series import X_AXES, columns_of, prepare
from tests._frameworks import require

# The direct read is these two libraries' (the test extra has them).
require("msgspec")
require("simdjson")

NAN = float("nan")
INF = float("inf")


@pytest.fixture(autouse=True)
def columns_for_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The histories here are small: read their columns files all the same."""
    monkeypatch.setattr(_columns, "MIN_BYTES_PER_VERSION", 0)


def read_metric(store: Store, experiment_id: str, metric: str, x: str) -> MetricRead | None:
    return store.read_metric(experiment_id, metric, x)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**40), 2**40),
)
#: One call on an active version: ("log", value, step or None) or ("bulk", [values]).
calls = st.one_of(
    st.tuples(st.just("log"), numbers, st.one_of(st.none(), st.integers(0, 50))),
    st.tuples(st.just("bulk"), st.lists(numbers, max_size=5)),
    st.tuples(st.just("other"), numbers),
)
#: One version: its calls, how it ends, and whether it is resumed once more.
versions = st.lists(
    st.tuples(
        st.lists(calls, max_size=12),
        st.sampled_from(["finished", "failed"]),
        st.booleans(),
    ),
    min_size=1,
    max_size=4,
)


def play(manager: ExperimentManager, calls_: list[Any]) -> None:
    for call in calls_:
        if call[0] == "log":
            manager.log({"loss": call[1]}, step=call[2])
        elif call[0] == "bulk":
            manager.log_metrics({"loss": call[1]})
        else:
            manager.log({"other": call[1]})


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(versions, st.sampled_from(["columns", "history"]))
def test_direct_read_equals_read_history(tmp_path: Path, spec: list[Any], source: str) -> None:
    folder = tmp_path / f"h{abs(hash(repr((spec, source))))}"
    manager = ExperimentManager(folder, capture_environment=False)
    for calls_, status, resume in spec:
        manager.start_experiment("exp", {"lr": 0.1}, {}, experiment_id="exp")
        play(manager, calls_)
        manager.end_experiment(status)
        if resume:
            number = manager.read_history("exp")[-1]["version"]
            manager.resume_experiment("exp", number)
            play(manager, calls_[:3])
            manager.end_experiment()
    records = manager.read_history("exp")
    store = manager.store
    assert isinstance(store, FileStore)
    if source == "history":  # no columns files: the history's outline is read
        shutil.rmtree(folder / ".expm" / "columns")
        assert store.metric_columns("exp", "loss", ("values",)) is None
    else:
        assert store.metric_columns("exp", "loss", ("values",)) is not None
    for x in X_AXES:
        read = read_metric(manager.store, "exp", "loss", x)
        assert read is not None
        assert [v.version for v in read.versions] == [r["version"] for r in records]
        assert [v.status for v in read.versions] == [r["status"] for r in records]
        for direct, record in zip(read.versions, records, strict=True):
            want = prepare(columns_of(record, "loss"), x)
            got = prepare(direct.columns, x)
            assert same(got.xs, want.xs), (x, got.xs, want.xs)
            assert same(got.ys, want.ys), (x, got.ys, want.ys)
            assert got.total == want.total


def one_version(tmp_path: Path) -> tuple[ExperimentManager, Path]:
    manager = ExperimentManager(tmp_path, capture_environment=False)
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    for step, value in enumerate([0.5, NAN, INF, 2]):
        manager.log({"loss": value}, step=step)
    manager.end_experiment()
    return manager, tmp_path / "exp.json"


def test_values_and_steps_come_out_as_logged(tmp_path: Path) -> None:
    manager, _ = one_version(tmp_path)
    read = read_metric(manager.store, "exp", "loss", "step")
    assert read is not None
    columns = read.versions[0].columns
    assert columns.steps.tolist() == [0, 1, 2, 3]
    assert same(columns.values, np.array([0.5, NAN, INF, 2.0]))
    assert columns.times.size == 0  # not read for a step axis
    timed = read_metric(manager.store, "exp", "loss", "time")
    assert timed is not None
    assert timed.versions[0].columns.times.size == 4
    assert read_metric(manager.store, "exp", "missing", "step") is not None
    assert read_metric(manager.store, "never", "loss", "step") is None


def test_a_running_version_is_left_to_the_full_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = ExperimentManager(tmp_path, capture_environment=False)
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    manager.log({"loss": 1.0}, step=0)
    assert read_metric(manager.store, "exp", "loss", "step") is None
    attempts: list[str] = []

    original = FileStore.read_metric

    def counted(self: FileStore, *args: Any) -> Any:
        attempts.append(args[0])
        return original(self, *args)

    monkeypatch.setattr(FileStore, "read_metric", counted)
    cache = HistoryCache(manager)
    curves = cache.curves("exp", "loss", "step")
    assert curves.series(1, "step").ys.tolist() == [1.0]  # the journal's point, merged
    manager.log({"loss": 2.0}, step=1)
    assert cache.curves("exp", "loss", "step").series(1, "step").ys.tolist() == [1.0, 2.0]
    assert attempts == ["exp"]  # the unchanged file is not tried again
    manager.end_experiment()  # the history is rewritten: a direct read works again
    assert cache.curves("exp", "loss", "step").series(1, "step").ys.tolist() == [1.0, 2.0]
    assert attempts == ["exp", "exp"]
    assert cache.curves("exp", "loss", "step").versions == [1]
    assert attempts == ["exp", "exp"]  # and its result is kept


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"loss":[0.5,"NaN"', '"loss":[0.5,"abc"'),  # a string that names no number
        ('"loss":[0,1,2,3]', '"loss":[0,1,"2",3]'),  # a string among the steps
        ('"loss":[0,1,2,3]', '"loss":{"a":1}'),  # not a list
        ('"loss":[0.5,"NaN"', '"loss":[[0.5,1.0],["NaN"]'),  # nested lists of values
        ('"loss":[0,1,2,3]', '"loss":[[0,1],[2],3]'),  # nested lists of steps
        ('"loss":[0,1,2,3]', '"loss":[{"a":0},1,2,3]'),  # an object among the steps
        ('"version":1', '"version":true'),
        ('"version":1', '"version":0'),
        ('"status":"finished"', '"status":"running"'),
        ('"format":2', '"format":99'),
        ('"experiment_id":"exp"', '"experiment_id":"other"'),
    ],
)
def test_anything_unexpected_is_left_to_the_full_read(tmp_path: Path, old: str, new: str) -> None:
    manager, path = one_version(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert read_metric(manager.store, "exp", "loss", "step") is None


@pytest.mark.parametrize("damage", [b"", b"{", b"[]", b'{"format":1}', b"\xff\xfe"])
def test_unparsable_files_are_left_to_the_full_read(tmp_path: Path, damage: bytes) -> None:
    manager, path = one_version(tmp_path)
    path.write_bytes(damage)
    assert read_metric(manager.store, "exp", "loss", "step") is None


def test_duplicated_versions_are_left_to_the_full_read(tmp_path: Path) -> None:
    manager, path = one_version(tmp_path)
    text = path.read_text(encoding="utf-8")
    start = text.index('"versions":[') + len('"versions":[')
    entry = text[start : text.rindex("]")]
    path.write_text(text[:start] + entry + "," + entry + "]}", encoding="utf-8")
    assert read_metric(manager.store, "exp", "loss", "step") is None


def test_other_stores_are_read_the_usual_way() -> None:
    manager = ExperimentManager(store=MemoryStore(), capture_environment=False)
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    manager.log({"loss": 1.5}, step=3)
    manager.end_experiment()
    assert read_metric(manager.store, "exp", "loss", "step") is None
    curves = HistoryCache(manager).curves("exp", "loss", "step")
    assert curves.series(1, "step").xs.tolist() == [3.0]


def test_the_cache_reads_directly_and_follows_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager, _ = one_version(tmp_path)
    cache = HistoryCache(manager)

    def no_full_read(experiment_id: str) -> Any:
        raise AssertionError("the direct read should have been used")

    monkeypatch.setattr(manager, "read_history", no_full_read)
    first = cache.curves("exp", "loss", "step")
    assert first.versions == [1]
    assert cache.curves("exp", "loss", "step") is first  # unchanged file: cached
    monkeypatch.delattr(manager, "read_history")

    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    manager.log({"loss": 7.0}, step=0)
    manager.end_experiment()
    second = cache.curves("exp", "loss", "step")
    assert second is not first
    assert second.versions == [1, 2]
    assert second.series(2, "step").ys.tolist() == [7.0]
    assert math.isnan(second.series(1, "step").ys[1])


def test_a_cached_full_history_is_used_before_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager, _ = one_version(tmp_path)
    cache = HistoryCache(manager)
    cache.get("exp")
    monkeypatch.setattr(
        FileStore,
        "read_metric",
        lambda *args: pytest.fail("the cached history should have been used"),
    )
    assert cache.curves("exp", "loss", "index").series(1, "index").total == 4


def test_columns_files_are_read_without_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager, history = one_version(tmp_path)
    read_with_stat = _atomic.read_with_stat

    def guarded(path: Path) -> Any:
        assert path != history, "the history should not have been read"
        return read_with_stat(path)

    monkeypatch.setattr(_atomic, "read_with_stat", guarded)
    read = read_metric(manager.store, "exp", "loss", "step")
    assert read is not None
    assert read.versions[0].columns.steps.tolist() == [0, 1, 2, 3]
    assert same(read.versions[0].columns.values, np.array([0.5, NAN, INF, 2.0]))


def test_a_damaged_columns_file_is_passed_over_for_the_history(tmp_path: Path) -> None:
    manager, _ = one_version(tmp_path)
    store = manager.store
    assert isinstance(store, FileStore)
    [path] = store.columns_folder("exp").glob("1.*.bin")
    data = bytearray(path.read_bytes())
    data[data.index(b"\n") + 8] ^= 0x01  # a bit of the first value: only the CRC notices
    path.write_bytes(bytes(data))
    assert store.metric_columns("exp", "loss", ("values",)) is None
    read = read_metric(manager.store, "exp", "loss", "time")
    assert read is not None
    assert same(read.versions[0].columns.values, np.array([0.5, NAN, INF, 2.0]))
    assert read.versions[0].columns.times.size == 4


def test_short_versions_keep_no_files_and_are_read_from_the_history_outline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_columns, "MIN_BYTES_PER_VERSION", 10**6)
    manager, _ = one_version(tmp_path)
    store = manager.store
    assert isinstance(store, FileStore)
    assert list(store.columns_folder("exp").glob("*.bin")) == []
    read = read_metric(manager.store, "exp", "loss", "step")
    assert read is not None
    assert same(read.versions[0].columns.values, np.array([0.5, NAN, INF, 2.0]))
    monkeypatch.setattr(_columns, "MIN_BYTES_PER_VERSION", 0)
    assert store.metric_columns("exp", "loss", ("values",)) is None  # no file yet
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    manager.end_experiment()  # a write: now long enough, the files are made
    assert len(list(store.columns_folder("exp").glob("*.bin"))) == 2
    assert store.metric_columns("exp", "loss", ("values",)) is not None
    monkeypatch.setattr(_columns, "MIN_BYTES_PER_VERSION", 10**6)
    assert store.metric_columns("exp", "loss", ("values",)) is None
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    manager.end_experiment()  # short again: the files go
    assert list(store.columns_folder("exp").glob("*.bin")) == []
