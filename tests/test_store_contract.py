"""One contract, every backend: FileStore (small and big histories) and MemoryStore alike."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.errors import ExperimentNotFoundError
from experiment_manager.stores import FileStore, MemoryStore, PostgresStore, base, files, open_store
from experiment_manager.stores.base import Store
from tests._util import SPEC_KEYS, assert_same, assert_table_matches

ManagerFactory = Callable[[], ExperimentManager]


@pytest.fixture(params=["file", "file-lazy", "memory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    if request.param == "file-lazy":
        # Every history counts as big: writes stay in version files, folded by flush().
        monkeypatch.setattr(files, "DIRECT_BYTES", 0)
        monkeypatch.setattr(files, "REFRESH_SECONDS", 3600.0)
    if request.param.startswith("file"):
        return FileStore(tmp_path / "logs", lock_timeout=10)
    if request.param == "postgres":
        return open_store(request.getfixturevalue("postgres_uri"), lock_timeout=10)
    return MemoryStore()


@pytest.fixture
def backend(store: Store, tmp_path: Path) -> Iterator[ManagerFactory]:
    """Yield a factory of managers that all share the data of one backend."""

    def make() -> ExperimentManager:
        if isinstance(store, FileStore):  # a new FileStore on the same folder, as a new
            shared: Store = FileStore(store.log_dir, lock_timeout=10)  # process would do
        elif isinstance(store, PostgresStore):  # a new connection pool, as a new process
            shared = open_store(store._uri, lock_timeout=10)
        else:
            shared = store
        return ExperimentManager(tmp_path / "unused_log_dir", store=shared)

    yield make
    # log_dir is not used for storage when a store is given.
    assert not (tmp_path / "unused_log_dir").exists()
    if isinstance(store, MemoryStore):
        assert not (tmp_path / "logs").exists()  # the memory store never touches the disk


@pytest.fixture
def manager(backend: ManagerFactory) -> ExperimentManager:
    return backend()


def test_versions_start_at_one_and_increment_per_id(manager: ExperimentManager) -> None:
    assert [manager.start_experiment("a", {"run": i}, {}).version for i in range(3)] == [1, 2, 3]
    assert manager.start_experiment("b", {}, {}).version == 1
    assert manager.start_experiment("a", {}, {}).version == 4
    assert [e["version"] for e in manager.read_history("a")] == [1, 2, 3, 4]
    assert [e["hyperparameters"].get("run") for e in manager.read_history("a")] == [0, 1, 2, None]
    assert [e["version"] for e in manager.read_history("b")] == [1]


def test_versions_are_shared_by_managers_on_the_same_backend(backend: ManagerFactory) -> None:
    first, second = backend(), backend()
    assert first.start_experiment("a", {}, {}).version == 1
    assert second.start_experiment("a", {}, {}).version == 2
    assert first.start_experiment("a", {}, {}).version == 3
    # Each manager appends to its own active version.
    first.log_metrics({"who": 1})
    second.log_metrics({"who": 2})
    history = backend().read_history("a")
    assert [e["metrics"] for e in history] == [{}, {"who": [2]}, {"who": [1]}]


def test_records_hold_the_spec_fields(manager: ExperimentManager) -> None:
    record = manager.start_experiment("cfg", {"lr": 0.1}, {"precision": "fp16"}, "exp")
    [entry] = manager.read_history("exp")
    assert set(SPEC_KEYS) <= set(entry)
    for key in SPEC_KEYS:
        assert_same(entry[key], getattr(record, key))
    assert entry["experiment_id"] == "exp"
    assert entry["version"] == 1
    assert entry["config_name"] == "cfg"
    assert entry["hyperparameters"] == {"lr": 0.1}
    assert entry["metadata"]["precision"] == "fp16"
    assert entry["metadata"]["model_size"] == "unspecified"
    assert entry["metrics"] == {}
    assert entry["checkpoints"] == []


def test_append_extends_only_the_active_version(manager: ExperimentManager) -> None:
    manager.start_experiment("exp", {}, {})
    manager.log_metrics({"loss": [0.5, 0.4]})
    manager.add_checkpoint("v1_a.ckpt")
    manager.start_experiment("exp", {}, {})
    manager.log_metrics({"loss": 0.3})
    manager.log_metrics({"loss": [0.2], "acc": [0.9, 0.95]})
    manager.add_checkpoint("v2_a.ckpt")
    manager.add_checkpoint(Path("v2_b.ckpt"))
    [v1, v2] = manager.read_history("exp")
    assert v1["metrics"] == {"loss": [0.5, 0.4]}
    assert v1["checkpoints"] == ["v1_a.ckpt"]
    assert v2["metrics"] == {"loss": [0.3, 0.2], "acc": [0.9, 0.95]}
    assert v2["checkpoints"] == ["v2_a.ckpt", "v2_b.ckpt"]


def test_non_finite_values_survive_the_backend(manager: ExperimentManager) -> None:
    manager.start_experiment("exp", {"eps": math.inf, "x": math.nan}, {"t": -math.inf})
    manager.log_metrics({"loss": [math.nan, math.inf, -math.inf, -0.0, 1]})
    [entry] = manager.read_history("exp")
    assert_same(entry["hyperparameters"], {"eps": math.inf, "x": math.nan})
    assert entry["metadata"]["t"] == -math.inf
    assert_same(entry["metrics"]["loss"], [math.nan, math.inf, -math.inf, -0.0, 1])


def test_read_history_of_unknown_id_is_empty(manager: ExperimentManager) -> None:
    assert manager.read_history("unknown") == []
    manager.start_experiment("known", {}, {})
    assert manager.read_history("unknown") == []


def test_read_history_results_are_copies(manager: ExperimentManager) -> None:
    manager.start_experiment("exp", {"a": [1]}, {})
    manager.log_metrics({"loss": 1.0})
    history = manager.read_history("exp")
    history[0]["hyperparameters"]["a"].append(2)
    history[0]["metrics"]["loss"].append(2.0)
    history[0]["checkpoints"].append("x")
    [entry] = manager.read_history("exp")
    assert entry["hyperparameters"] == {"a": [1]}
    assert entry["metrics"] == {"loss": [1.0]}
    assert entry["checkpoints"] == []


def test_experiment_ids_lists_every_id_sorted(manager: ExperimentManager, store: Store) -> None:
    assert store.experiment_ids() == []
    manager.start_experiment("zeta", {}, {})
    manager.start_experiment("alpha", {}, {})
    manager.start_experiment("alpha", {}, {})
    manager.start_experiment("ResNet 50 / lr=0.1", {}, {})
    manager.start_experiment("cfg", {}, {}, experiment_id="mid")
    with pytest.raises(ValueError):
        manager.start_experiment("bad", {}, {}, experiment_id="../bad")
    manager.read_history("never")
    assert store.experiment_ids() == ["ResNet-50-lr=0.1", "alpha", "mid", "zeta"]


def test_store_create_version_and_append(store: Store) -> None:
    first = store.create_version("raw", {"config_name": "raw", "hyperparameters": {}})
    assert first["version"] == 1
    assert first["experiment_id"] == "raw"
    assert first["metrics"] == {}
    assert first["checkpoints"] == []
    first["metrics"]["x"] = [1]  # a copy: changing it changes nothing stored
    assert store.create_version("raw", {})["version"] == 2
    store.append("raw", 1, {"loss": [0.5, "NaN"]}, ["a.ckpt"])
    store.append("raw", 1, {"loss": [0.25]}, [])
    history = store.read_history("raw")
    assert [v["version"] for v in history] == [1, 2]
    assert_same(history[0]["metrics"], {"loss": [0.5, math.nan, 0.25]})
    assert history[0]["checkpoints"] == ["a.ckpt"]
    assert history[1]["metrics"] == {}
    with pytest.raises(ExperimentNotFoundError) as caught:
        store.append("raw", 3, {"loss": [1.0]})
    assert isinstance(caught.value, LookupError)
    with pytest.raises(ExperimentNotFoundError):
        store.append("missing", 1, {"loss": [1.0]})
    assert [v["version"] for v in store.read_history("raw")] == [1, 2]


def test_failed_transaction_stores_nothing(manager: ExperimentManager, store: Store) -> None:
    manager.start_experiment("exp", {}, {})
    manager.log_metrics({"loss": 1.0})
    before = store.read_history("exp")

    def change(stored: dict[str, Any]) -> None:
        stored["metrics"]["loss"].append(99.0)
        stored["status"] = "finished"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        store.update_version("exp", 1, change)
    assert store.read_history("exp") == before
    assert manager.start_experiment("exp", {}, {}).version == 2


def test_version_table_holds_the_columns_of_list_versions(
    manager: ExperimentManager, store: Store
) -> None:
    assert len(manager.version_table("exp")) == 0
    manager.start_experiment("exp", {"eps": math.inf, "opt": {"lr": 0.1}}, {})
    manager.log_metrics({"loss": [0.5, math.nan], "acc": [0.9]})
    manager.end_experiment()
    manager.start_experiment("exp", {}, {})
    manager.log_metrics({"loss": [-math.inf], "empty": []})
    manager.end_experiment("failed")
    manager.start_experiment("exp", {"eps": 1}, {})
    manager.log({"loss": 0.25, "new": 3})  # running: its last values come from the journal
    table = manager.version_table("exp")
    assert (table.version, table.status) == ([1, 2, 3], ["finished", "failed", "running"])
    assert_same(table.hyperparameters, [{"eps": math.inf, "opt": {"lr": 0.1}}, {}, {"eps": 1}])
    assert_same(
        table.last,
        {
            "acc": [0.9, None, None],
            "empty": [None, None, None],
            "loss": [math.nan, -math.inf, 0.25],
            "new": [None, None, 3],
        },
    )
    assert_table_matches(manager, "exp")
    manager.end_experiment()
    assert manager.version_table("exp").status[2] == "finished"
    assert_table_matches(manager, "exp")


def test_a_version_that_ends_while_it_is_read_is_read_as_ended_not_crashed(
    backend: ManagerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its writer ends it between a reader's read of it and the reader's liveness probe.

    The end is recorded before the lock is let go, so the reader must read the version
    again rather than call it crashed (seen under load: retries of the whole read can
    run out while a sweep's versions keep starting and ending).
    """
    # No second attempt at the whole read, as when a busy sweep rewrites it each time.
    monkeypatch.setattr(base, "_CONSISTENT_READ_ATTEMPTS", 1)
    writer, reader = backend(), backend()
    writer.start_experiment("w", {}, {}, experiment_id="race")
    for i in range(5):
        writer.log({"loss": i * 0.5})
    store = reader._store
    probe = store.is_live
    fired: list[int] = []

    def ends_first(experiment_id: str, version: int) -> bool:
        if not fired:
            fired.append(version)
            writer.end_experiment()
            deadline = time.monotonic() + 10  # a server frees a closed session's lock soon after
            while probe(experiment_id, version) and time.monotonic() < deadline:
                time.sleep(0.01)
        return probe(experiment_id, version)

    for read in ("history", "version", "metric"):
        if read != "history":  # running again, for the next read to race with its end
            writer.resume_experiment("race", 1)
        fired.clear()
        store.is_live = ends_first  # type: ignore[method-assign]
        try:
            if read == "history":
                record = reader.read_history("race")[0]
                status, count = record["status"], len(record["metrics"]["loss"])
            elif read == "version":
                record = reader.get_version("race", 1)
                status, count = record["status"], len(record["metrics"]["loss"])
            else:
                metric = store.read_metric("race", "loss", "step")
                if metric is None:  # this backend reads charts from the history
                    store.is_live = probe  # type: ignore[method-assign]
                    writer.end_experiment()
                    continue
                (entry,) = metric.versions
                status = entry.status
                columns = metric.load(1) if metric.load is not None else entry.columns
                count = len(columns.values)
        finally:
            store.is_live = probe  # type: ignore[method-assign]
        assert fired == [1], f"{read}: the probe was not reached"
        assert (status, count) == ("finished", 5), read


def test_summaries_of_some_versions_are_those_of_the_whole_listing(
    backend: ManagerFactory, store: Store
) -> None:
    manager = backend()
    for lr in (0.1, 0.2, 0.3):
        with manager.experiment("cfg", {"lr": lr}, experiment_id="few"):
            manager.log_metrics({"loss": [lr, lr / 2]})
    manager.archive("few", 2)
    manager.start_experiment("cfg", {"lr": 0.4}, {}, experiment_id="few")
    manager.log({"loss": 0.7})  # running: summarised from its unshipped points too
    whole = {s["version"]: s for s in store.summaries("few")}
    for wanted in ([1], [2, 4], [4, 1, 99], [], [99]):
        some = store.summaries_of("few", wanted)
        assert [s["version"] for s in some] == sorted(v for v in set(wanted) if v in whole)
        for summary in some:
            assert_same(summary, whole[summary["version"]])
    assert store.summaries_of("never_ran", [1]) == []
    listed = manager.list_versions("few", versions=[1, 2, 4])
    assert [s["version"] for s in listed] == [1, 4]  # 2 is archived
    assert [
        s["version"] for s in manager.list_versions("few", versions=[2], include_archived=True)
    ] == [2]
    manager.end_experiment()
