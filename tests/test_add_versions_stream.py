"""``Store.add_versions`` reads its records once, in order, as it stores them.

An import hands the store a generator that reads each run from its source only when
the store asks for it; the folder store encodes and summarises each record as it
comes and lets go of its points at once, so an import holds one run's points at a
time. Every store must take a generator as it takes a list.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager, stores
from experiment_manager.stores import _columns, _index, files
from tests._util import files_only

pytestmark = pytest.mark.usefixtures("each_store")


class Points(list):  # type: ignore[type-arg]
    """A list of values that can be watched (a plain list cannot be weakly referenced)."""


def record(number: int, steps: int = 50) -> dict[str, Any]:
    """A finished version's fields in stored form, with points that tell it apart."""
    return {
        "config_name": f"run{number}",
        "hyperparameters": {"lr": 0.1 * number},
        "status": "finished",
        "metrics": {
            "loss": [1.0 / (step + number) for step in range(1, steps + 1)],
            "acc": [step * 0.01 + number for step in range(steps)],
        },
        "steps": {"loss": list(range(steps)), "acc": list(range(steps))},
        "timestamps": {
            "loss": [1.7e9 + step for step in range(steps)],
            "acc": [1.7e9 + step for step in range(steps)],
        },
    }


def stored_fields(log_dir: Path, experiment_id: str) -> list[dict[str, Any]]:
    store = stores.open_store(log_dir)
    out = []
    for summary in store.summaries(experiment_id):
        loaded = dict(store.load_version(experiment_id, summary["version"]))
        loaded.pop("experiment_id")
        out.append(loaded)
    return out


def test_a_generator_stores_what_a_list_stores(log_dir: Path) -> None:
    store = stores.open_store(log_dir)
    assert store.add_versions("listed", [record(n) for n in range(1, 4)]) == [1, 2, 3]
    assert store.add_versions("streamed", (record(n) for n in range(1, 4))) == [1, 2, 3]

    assert stored_fields(log_dir, "streamed") == stored_fields(log_dir, "listed")
    listed = [dict(s, experiment_id=None) for s in store.summaries("listed")]
    streamed = [dict(s, experiment_id=None) for s in store.summaries("streamed")]
    assert streamed == listed
    versions = ExperimentManager(log_dir).read_history("streamed")
    assert [v["metrics"]["acc"][0] for v in versions] == [1.0, 2.0, 3.0]


@files_only
def test_summaries_made_as_records_come_are_those_the_history_gives(log_dir: Path) -> None:
    """The index entries made from each record equal those made again from the file."""
    store = stores.open_store(log_dir)
    store.add_versions("exp", (record(n) for n in range(1, 4)))
    made = store.summaries("exp")
    assert isinstance(store, files.FileStore)
    store.index_path("exp").unlink()  # derived data: rebuilt from the history
    again = files.FileStore(log_dir).summaries("exp")
    assert again == made
    assert [s["metric_summaries"]["loss"]["min"] for s in again] == [
        min(record(n)["metrics"]["loss"]) for n in range(1, 4)
    ]


def test_an_oserror_of_the_records_is_raised_as_it_is(log_dir: Path) -> None:
    """An OSError of the caller's (a closed pipe) is not turned into the store's own."""
    store = stores.open_store(log_dir)

    def broken() -> Iterator[dict[str, Any]]:
        yield record(1)
        raise BrokenPipeError("the progress bar's pipe closed")

    with pytest.raises(BrokenPipeError, match="pipe closed"):
        store.add_versions("exp", broken())
    assert store.latest_version("exp") is None


def test_a_generator_after_versions_numbers_on(log_dir: Path) -> None:
    store = stores.open_store(log_dir)
    store.add_versions("exp", [record(1)])
    assert store.add_versions("exp", iter([record(2), record(3)])) == [2, 3]
    assert [v["config_name"] for v in ExperimentManager(log_dir).read_history("exp")] == [
        "run1",
        "run2",
        "run3",
    ]


def test_an_error_while_reading_the_records_stores_none_of_them(log_dir: Path) -> None:
    store = stores.open_store(log_dir)
    store.add_versions("exp", [record(1)])

    def broken() -> Iterator[dict[str, Any]]:
        yield record(2)
        yield record(3)
        raise RuntimeError("the source went away")

    with pytest.raises(RuntimeError, match="the source went away"):
        store.add_versions("exp", broken())
    assert store.latest_version("exp") == 1
    assert [v["config_name"] for v in ExperimentManager(log_dir).read_history("exp")] == ["run1"]
    # Nothing is left held: the next call goes through at once.
    assert stores.open_store(log_dir).add_versions("exp", iter([record(4)])) == [2]


def test_no_records_make_no_experiment(log_dir: Path) -> None:
    store = stores.open_store(log_dir)
    assert store.add_versions("exp", iter([])) == []
    assert store.latest_version("exp") is None
    assert "exp" not in store.experiment_ids()


@files_only  # the memory store keeps what it stores; PostgreSQL reads the records first
def test_the_folder_store_lets_go_of_each_records_points(log_dir: Path) -> None:
    watched: list[weakref.ref[Points]] = []
    alive_when_asked: list[int] = []

    def records() -> Iterator[dict[str, Any]]:
        for number in range(1, 6):
            alive_when_asked.append(sum(ref() is not None for ref in watched))
            fields = record(number)
            for key in ("metrics", "steps", "timestamps"):
                for name, column in fields[key].items():
                    watchable = Points(column)
                    fields[key][name] = watchable
                    watched.append(weakref.ref(watchable))
            del watchable
            yield fields
            del fields

    store = stores.open_store(log_dir)
    assert store.add_versions("exp", records()) == [1, 2, 3, 4, 5]
    # When a record is asked for, the points of every record before it are gone.
    assert alive_when_asked == [0, 0, 0, 0, 0]
    assert [ref() for ref in watched] == [None] * 30  # 5 records x 2 metrics x 3 lists
    history = ExperimentManager(log_dir).read_history("exp")
    assert [v["metrics"]["loss"] for v in history] == [
        record(n)["metrics"]["loss"] for n in range(1, 6)
    ]


@files_only
def test_columns_files_of_streamed_versions_hold_their_points(log_dir: Path) -> None:
    """Versions big enough for columns files get them, made from the history written."""
    steps = _columns.MIN_BYTES_PER_VERSION // 20  # two metrics: over the threshold
    store = stores.open_store(log_dir)
    store.add_versions("exp", (record(n, steps) for n in (1, 2)))
    assert isinstance(store, files.FileStore)

    found = {path.name.split(".")[0]: path for path in store.columns_folder("exp").glob("*.bin")}
    assert sorted(found) == ["1", "2"]
    for number in (1, 2):
        stored = dict(store.load_version("exp", number))
        expected = _columns.encode(stored, _index.fingerprint(stored))
        assert found[str(number)].read_bytes() == expected
        got = _columns.read(found[str(number)], _index.fingerprint(stored), "loss", ("values",))
        assert got is not None
        values = got["values"]
        assert isinstance(values, memoryview)
        assert values.cast("d").tolist() == record(number, steps)["metrics"]["loss"]
