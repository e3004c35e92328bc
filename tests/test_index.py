"""The per-experiment summary index under ``<log_dir>/.expm/index/<id>.json``.

The index is derived data: readers use it only when it describes the current history
file, and otherwise rebuild it. Every test here compares ``list_versions`` with an
oracle that never touches the index: the summaries the base :class:`Store` computes
from the history and journals, checked in turn against aggregates computed here from
``read_history``; and ``version_table`` (which reads only the index's listing line)
with the columns of ``list_versions``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.stores import _atomic, _index_file
from experiment_manager.stores.base import Store
from tests._runner import Plan, Runners
from tests._util import (
    assert_same,
    assert_table_matches,
    load_history_file,
    strict_loads,
    table_of,
    write_script,
)

NAN = math.nan
INF = math.inf
EXPERIMENT = "exp"
AGGREGATE_KEYS = ("last", "min", "max", "mean", "count", "argmin_step", "argmax_step")


def rounds_of(points: int, rounds: int) -> Plan:
    """A runner (see tests._runner) of `rounds` versions of EXPERIMENT, one after another.

    Each streams `points` points of "loss" and "acc" at steps 0, 1, ..., says "ready <v>",
    waits for a line "end" on stdin, ends cleanly and says "ended <v>".
    """
    return Plan(
        points,
        rounds,
        hyperparameters={},
        round_hyperparameter=True,
        static=False,
        step_scale=1,
        acc="sevenths",
    )


# Rewrites a history file the way another tool would: plain json, os.replace, no index.
REWRITER = """\
import json
import os
import sys

path, keep = sys.argv[1], int(sys.argv[2])
with open(path, encoding="utf-8") as handle:
    document = json.load(handle)
document["versions"] = document["versions"][:keep]
with open(path + ".other", "w", encoding="utf-8") as handle:
    json.dump(document, handle)
os.replace(path + ".other", path)
"""


def new_manager(log_dir: Path) -> ExperimentManager:
    return ExperimentManager(log_dir, capture_environment=False)


def index_path(log_dir: Path, experiment_id: str = EXPERIMENT) -> Path:
    return log_dir / ".expm" / "index" / f"{experiment_id}.json"


def identity(path: Path) -> list[int]:
    info = os.stat(path)
    return [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def expected_summary(values: list[Any], steps: list[Any] | None) -> dict[str, Any]:
    usable = [v for v in values if not _is_nan(v)]
    low, high = (min(usable), max(usable)) if usable else (None, None)

    def step_of(best: Any) -> Any:
        if best is None:
            return None
        index = next(i for i, v in enumerate(values) if v == best)
        return steps[index] if steps is not None and steps[index] is not None else index

    return {
        "last": values[-1] if values else None,
        "min": low,
        "max": high,
        "mean": math.fsum(usable) / len(usable) if usable else None,
        "count": len(values),
        "argmin_step": step_of(low),
        "argmax_step": step_of(high),
    }


def oracle(manager: ExperimentManager, experiment_id: str = EXPERIMENT) -> list[dict[str, Any]]:
    """Summaries computed without the index, checked against the points."""
    reference = Store.summaries(manager.store, experiment_id)
    history = manager.read_history(experiment_id)
    assert [s["version"] for s in reference] == [r["version"] for r in history]
    for summary, record in zip(reference, history, strict=True):
        steps = record.get("steps") or {}
        assert_same(
            summary["metric_summaries"],
            {n: expected_summary(v, steps.get(n)) for n, v in record["metrics"].items()},
        )
        assert summary["status"] == record["status"]
        assert_same(summary["hyperparameters"], record["hyperparameters"])
    return reference


def read_index(log_dir: Path, experiment_id: str = EXPERIMENT) -> dict[str, Any]:
    """An index file of format 3, parsed line by line with the strict parser."""
    header_line, listing_line, *entry_lines, end = (
        index_path(log_dir, experiment_id).read_bytes().split(b"\n")
    )
    assert end == b""  # every line ends with a newline
    return {
        "header": strict_loads(header_line),
        "body": b"\n".join([listing_line, *entry_lines, end]),
        "listing": strict_loads(listing_line),
        "versions": [strict_loads(line) for line in entry_lines],
    }


def write_index(
    path: Path, header: dict[str, Any], listing: Any, entries: list[Any], **changes: Any
) -> None:
    """Write an index file by hand, its header's length matching its body."""
    lines = [json.dumps(item, ensure_ascii=False) + "\n" for item in [listing, *entries]]
    body = "".join(lines).encode("utf-8")
    header = {**header, "length": len(body), **changes}
    path.write_bytes(json.dumps(header).encode("utf-8") + b"\n" + body)


def expected_listing(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The listing line of an index, computed here from its entries."""
    summaries = [entry["summary"] for entry in entries]
    names = list(dict.fromkeys(name for s in summaries for name in s["metric_summaries"]))
    listing: dict[str, Any] = {
        key: [s.get(key) for s in summaries]
        for key in ("version", "status", "created_at", "duration")
    }
    listing["hyperparameters"] = [s.get("hyperparameters") or {} for s in summaries]
    listing["name"] = [s.get("name") for s in summaries]
    listing["tags"] = [s.get("tags") or [] for s in summaries]
    listing["hidden"] = [
        "purged"
        if s.get("purged_at")
        else "trashed"
        if s.get("trashed_at")
        else "archived"
        if s.get("archived")
        else None
        for s in summaries
    ]
    listing["last"] = {
        name: [
            s["metric_summaries"][name]["last"] if name in s["metric_summaries"] else None
            for s in summaries
        ]
        for name in names
    }
    return listing


def assert_index_current(log_dir: Path, experiment_id: str = EXPERIMENT) -> dict[str, Any]:
    """The index file is JSON Lines of format 5 that describes the history file."""
    index = read_index(log_dir, experiment_id)
    header = index["header"]
    assert list(header) == ["format", "source", "generation", "versions", "plain", "length"]
    assert header["format"] == 5
    assert isinstance(header["generation"], str)
    assert header["generation"]
    assert header["source"] == identity(log_dir / f"{experiment_id}.json")
    assert header["versions"] == len(index["versions"])
    assert header["length"] == len(index["body"])
    if header["plain"]:  # readers skip decoding: nothing may need it
        for token in (b'"NaN"', b'"Infinity"', b'"-Infinity"', b'"$float"'):
            assert token not in index["body"]
    assert_same(index["listing"], expected_listing(index["versions"]))
    for entry in index["versions"]:
        for aggregates in entry["summary"]["metric_summaries"].values():
            assert list(aggregates) == list(AGGREGATE_KEYS)
    return index


@pytest.fixture
def populated(tmp_path: Path) -> tuple[ExperimentManager, Path]:
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    manager.start_experiment("cfg", {"lr": 0.1, "opt": {"name": "sgd"}}, {}, EXPERIMENT)
    manager.log_metrics({"loss": [0.5, NAN, 0.2], "inf": [INF, -1.0]})
    manager.log({"acc": 0.4}, step=3)
    manager.log({"acc": 0.8}, step=9)
    manager.add_checkpoint("a.pt")
    manager.end_experiment()
    manager.start_experiment("cfg", {"lr": 0.01, "eps": NAN}, {}, EXPERIMENT)
    manager.log_metrics({"loss": [0.3, 0.1]})
    manager.end_experiment("failed")
    manager.start_experiment("other", {"lr": 0.001}, {}, EXPERIMENT)
    manager.log({"loss": NAN})
    manager.end_experiment()
    return manager, log_dir


# -- written beside the history -------------------------------------------------------


def test_the_index_is_written_after_each_write(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    manager.start_experiment("cfg", {"lr": 0.1}, {}, EXPERIMENT)
    index = assert_index_current(log_dir)
    assert [e["summary"]["status"] for e in index["versions"]] == ["running"]
    assert index["versions"][0]["summary"]["metric_summaries"] == {}

    manager.log_metrics({"loss": [0.5, NAN, 0.25]})
    index = assert_index_current(log_dir)
    # A running version's entry skips the aggregates (readers compute them afresh).
    assert index["versions"][0]["summary"]["metric_summaries"] == {}
    assert "metrics" not in index["versions"][0]["summary"]
    loss = manager.list_versions(EXPERIMENT)[0]["metric_summaries"]["loss"]
    assert [loss[k] for k in ("last", "min", "max", "mean", "count")] == [0.25, 0.25, 0.5, 0.375, 3]

    manager.log_metrics({"loss": [NAN]})
    assert assert_index_current(log_dir)["versions"][0]["summary"]["metric_summaries"] == {}

    manager.add_checkpoint("model.pt")
    summary = assert_index_current(log_dir)["versions"][0]["summary"]
    assert summary["checkpoints"] == ["model.pt"]

    before = index_path(log_dir).read_bytes()
    manager.log({"acc": 0.5})  # streamed: the history and so the index are not rewritten
    assert index_path(log_dir).read_bytes() == before
    assert manager.list_versions(EXPERIMENT)[0]["metric_summaries"]["acc"]["count"] == 1

    manager.end_experiment()
    index = assert_index_current(log_dir)
    summary = index["versions"][0]["summary"]
    assert summary["status"] == "finished"
    # Stored form: the aggregates in the documented order, non-finite values by name.
    assert list(summary["metric_summaries"]["loss"].items()) == list(
        zip(AGGREGATE_KEYS, ["NaN", 0.25, 0.5, 0.375, 4, 2, 0], strict=True)
    )
    # log_metrics gave the value the version's next step, 4.
    assert list(summary["metric_summaries"]["acc"].values()) == [0.5, 0.5, 0.5, 0.5, 1, 4, 4]
    assert index["listing"]["last"] == {"loss": ["NaN"], "acc": [0.5]}
    assert index["listing"]["status"] == ["finished"]
    assert not index["header"]["plain"]

    manager.start_experiment("cfg", {"lr": 0.2}, {}, EXPERIMENT)
    index = assert_index_current(log_dir)
    assert [e["summary"]["version"] for e in index["versions"]] == [1, 2]
    assert index["listing"]["hyperparameters"] == [{"lr": 0.1}, {"lr": 0.2}]
    manager.end_experiment()
    assert_index_current(log_dir)
    assert sorted(os.listdir(index_path(log_dir).parent)) == [f"{EXPERIMENT}.json"]


def test_a_current_index_is_what_is_read(populated: tuple[ExperimentManager, Path]) -> None:
    # Proof that the index is used at all (so the rebuild tests below mean something):
    # a summary planted in a current index is served as it is.
    manager, log_dir = populated
    index = assert_index_current(log_dir)
    index["versions"][0]["summary"]["config_name"] = "planted"
    index["listing"]["status"][0] = "planted"
    index["listing"]["last"]["loss"][0] = 42
    write_index(index_path(log_dir), index["header"], index["listing"], index["versions"])
    assert manager.list_versions(EXPERIMENT)[0]["config_name"] == "planted"
    table = manager.version_table(EXPERIMENT)
    assert (table.status[0], table.last["loss"][0]) == ("planted", 42)
    assert manager.read_history(EXPERIMENT)[0]["config_name"] == "cfg"
    assert manager.read_history(EXPERIMENT)[0]["status"] == "finished"


def test_a_listing_reads_only_the_first_two_lines_of_the_index(
    populated: tuple[ExperimentManager, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    manager, log_dir = populated
    expected = dataclasses.asdict(manager.version_table(EXPERIMENT))
    assert_same(expected, table_of(manager.list_versions(EXPERIMENT), EXPERIMENT))
    before = index_path(log_dir).read_bytes()
    limits: list[list[int]] = []
    read_lines = _atomic.read_lines

    def spy(path: Path, wanted: list[int]) -> Any:
        limits.append(list(wanted))
        return read_lines(path, wanted)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("more than the listing was read")

    monkeypatch.setattr(_atomic, "read_lines", spy)
    for name in ("read_bytes", "read_with_stat"):  # the whole index, or the history
        monkeypatch.setattr(_atomic, name, forbidden)
    monkeypatch.setattr(_index_file, "decode", forbidden)
    assert_same(dataclasses.asdict(new_manager(log_dir).version_table(EXPERIMENT)), expected)
    assert limits == [[_index_file.HEADER_LIMIT, -1]]
    assert index_path(log_dir).read_bytes() == before


# -- missing, corrupt, stale or foreign indexes are rebuilt ---------------------------


def _delete(path: Path, log_dir: Path) -> None:
    path.unlink()


def _delete_folder(path: Path, log_dir: Path) -> None:
    shutil.rmtree(path.parent)


def _garbage(path: Path, log_dir: Path) -> None:
    path.write_bytes(b"\x00\xff\xfe garbage \x80\x81 {[")


def _empty(path: Path, log_dir: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path, log_dir: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _older_format(path: Path, log_dir: Path) -> None:
    # Format 2, the one before: one JSON document, aggregates as lists.
    index = read_index(log_dir)
    for entry in index["versions"]:
        summary = entry["summary"]
        summary["config_name"] = "from an old format"
        summary["metric_summaries"] = {
            name: [aggregates[key] for key in AGGREGATE_KEYS]
            for name, aggregates in summary["metric_summaries"].items()
        }
    old = {"format": 2, "source": index["header"]["source"], "versions": index["versions"]}
    path.write_text(json.dumps(old), encoding="utf-8")


def _planted(log_dir: Path, *, listing: bool = True) -> dict[str, Any]:
    """The current index with wrong values planted in its entries (and its listing).

    A read that trusts what it should not shows them. A damage of the entries alone
    plants nothing in the listing: a listing read may use that intact line.
    """
    index = read_index(log_dir)
    if listing:
        index["listing"]["status"] = ["planted"] * len(index["versions"])
    for entry in index["versions"]:
        entry["fingerprint"] = None  # entries that may not be reused either
        entry["summary"]["config_name"] = "planted"
    return index


def _newer_format(path: Path, log_dir: Path) -> None:
    index = _planted(log_dir)
    write_index(path, index["header"], index["listing"], index["versions"], format=6)


def _format_3(path: Path, log_dir: Path) -> None:
    # Format 3, the one before: the same lines, no generation (an older library's).
    index = _planted(log_dir)
    header = {key: value for key, value in index["header"].items() if key != "generation"}
    write_index(path, header, index["listing"], index["versions"], format=3)


def _generation_not_a_string(path: Path, log_dir: Path) -> None:
    index = _planted(log_dir)
    write_index(path, index["header"], index["listing"], index["versions"], generation=7)


def _not_an_object(path: Path, log_dir: Path) -> None:
    path.write_text("[1, 2, 3]", encoding="utf-8")


def _stale_source(path: Path, log_dir: Path) -> None:
    index = _planted(log_dir)
    index["header"]["source"][1] += 1  # describes another file
    write_index(path, index["header"], index["listing"], index["versions"])


def _extended(path: Path, log_dir: Path) -> None:
    entry = read_index(log_dir)["versions"][0]
    path.write_bytes(path.read_bytes() + json.dumps(entry).encode() + b"\n")


def _header_only(path: Path, log_dir: Path) -> None:
    header = read_index(log_dir)["header"]
    path.write_text(json.dumps({**header, "length": 0}) + "\n", encoding="utf-8")


def _wrong_count(path: Path, log_dir: Path) -> None:
    index = _planted(log_dir, listing=False)
    write_index(path, index["header"], index["listing"], index["versions"][:-1])


def _entry_without_an_aggregate(path: Path, log_dir: Path) -> None:
    index = _planted(log_dir, listing=False)
    del index["versions"][0]["summary"]["metric_summaries"]["loss"]["mean"]
    write_index(path, index["header"], expected_listing(index["versions"]), index["versions"])


def _aggregates_as_lists(path: Path, log_dir: Path) -> None:
    index = _planted(log_dir, listing=False)
    for entry in index["versions"]:
        summary = entry["summary"]
        summary["metric_summaries"] = {
            name: list(aggregates.values())
            for name, aggregates in summary["metric_summaries"].items()
        }
    write_index(path, index["header"], read_index(log_dir)["listing"], index["versions"])


def _entry_not_an_object(path: Path, log_dir: Path) -> None:
    index = read_index(log_dir)
    write_index(path, index["header"], index["listing"], [*index["versions"][:-1], [1, 2]])


def _short_listing_column(path: Path, log_dir: Path) -> None:
    index = _planted(log_dir)
    index["listing"]["status"].pop()
    write_index(path, index["header"], index["listing"], read_index(log_dir)["versions"])


def _short_metric_column(path: Path, log_dir: Path) -> None:
    index = read_index(log_dir)
    index["listing"]["last"]["loss"].pop()
    write_index(path, index["header"], index["listing"], index["versions"])


def _listing_value_of_the_wrong_kind(column: str, value: Any) -> Callable[[Path, Path], None]:
    def damage(path: Path, log_dir: Path) -> None:
        index = read_index(log_dir)
        if column == "last":
            index["listing"]["last"]["loss"][0] = value
        else:
            index["listing"][column][0] = value
        write_index(path, index["header"], index["listing"], index["versions"])

    damage.__name__ = f"_listing_{column}_{type(value).__name__}"
    return damage


def _listing_not_an_object(path: Path, log_dir: Path) -> None:
    index = read_index(log_dir)
    write_index(path, index["header"], [1, 2, 3], index["versions"])


def _listing_not_json(path: Path, log_dir: Path) -> None:
    index = read_index(log_dir)
    body = b'{"version": [1, 2, 3], "stat\n' + b"".join(
        json.dumps(entry).encode() + b"\n" for entry in index["versions"]
    )
    header = {**index["header"], "length": len(body)}
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)


def _index_of_another_experiment(path: Path, log_dir: Path) -> None:
    manager = new_manager(log_dir)
    manager.start_experiment("intruder", {}, {}, "intruder")
    manager.end_experiment()
    shutil.copyfile(index_path(log_dir, "intruder"), path)


DAMAGE = [
    _delete,
    _delete_folder,
    _garbage,
    _empty,
    _truncated,
    _older_format,
    _newer_format,
    _format_3,
    _generation_not_a_string,
    _not_an_object,
    _stale_source,
    _index_of_another_experiment,
    _extended,
    _header_only,
    _wrong_count,
    _entry_without_an_aggregate,
    _aggregates_as_lists,
    _entry_not_an_object,
    _short_listing_column,
    _short_metric_column,
    _listing_not_an_object,
    _listing_not_json,
    _listing_value_of_the_wrong_kind("last", "abc"),
    _listing_value_of_the_wrong_kind("last", [1.0]),
    _listing_value_of_the_wrong_kind("hyperparameters", [1, 2]),
    _listing_value_of_the_wrong_kind("status", 7),
    _listing_value_of_the_wrong_kind("version", True),
    _listing_value_of_the_wrong_kind("duration", "long"),
    _listing_value_of_the_wrong_kind("created_at", 3),
]


@pytest.mark.parametrize("first", ["list_versions", "version_table"])
@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__.strip("_") for d in DAMAGE])
def test_reads_are_the_same_whatever_happened_to_the_index(
    populated: tuple[ExperimentManager, Path], damage: Callable[[Path, Path], None], first: str
) -> None:
    manager, log_dir = populated
    before = manager.list_versions(EXPERIMENT)
    assert_same(before, oracle(manager))
    table = table_of(before, EXPERIMENT)
    damage(index_path(log_dir), log_dir)

    def versions_read(reader: ExperimentManager) -> None:
        assert_same(reader.list_versions(EXPERIMENT), before)

    def table_read(reader: ExperimentManager) -> None:
        assert_same(dataclasses.asdict(reader.version_table(EXPERIMENT)), table)

    # Each read checks the part of the index it uses (the listing line, or the
    # entries) and rebuilds the index when that part is damaged: in either order,
    # both are right and the index ends up current.
    reads = [versions_read, table_read]
    for read in reads if first == "list_versions" else reads[::-1]:
        read(manager)
    assert_index_current(log_dir)
    for read in reads:  # and the rebuilt one is right
        read(manager)
        read(new_manager(log_dir))
    entry = next(e for e in manager.list_experiments() if e["experiment_id"] == EXPERIMENT)
    assert entry["versions"] == 3
    assert [r["version"] for r in manager.search("hp.lr < 0.05")] == [2, 3]


def test_another_process_rewrites_the_history_with_fewer_versions(
    populated: tuple[ExperimentManager, Path], tmp_path: Path
) -> None:
    manager, log_dir = populated
    manager.list_versions(EXPERIMENT)
    script = write_script(tmp_path / "scripts", "rewrite.py", REWRITER)
    result = subprocess.run(
        [sys.executable, str(script), str(log_dir / f"{EXPERIMENT}.json"), "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = manager.list_versions(EXPERIMENT)
    assert [s["version"] for s in found] == [1, 2]
    assert_same(found, oracle(manager))
    assert_index_current(log_dir)
    assert manager.list_experiments()[0]["versions"] == 2
    assert_table_matches(manager, EXPERIMENT)


def test_another_process_adds_a_version(
    populated: tuple[ExperimentManager, Path], runners: Runners
) -> None:
    manager, log_dir = populated
    manager.list_versions(EXPERIMENT)
    runner = runners(log_dir, EXPERIMENT, rounds_of(4, 1))
    assert runner.expect("ready") == 4
    runner.send("end")
    assert runner.expect("ended") == 4
    found = manager.list_versions(EXPERIMENT)
    assert [s["version"] for s in found] == [1, 2, 3, 4]
    assert found[3]["status"] == "finished"
    assert found[3]["metric_summaries"]["loss"]["count"] == 4
    assert_same(found, oracle(manager))
    assert_table_matches(manager, EXPERIMENT)


def test_a_history_edited_by_hand_with_another_version_count(
    populated: tuple[ExperimentManager, Path],
) -> None:
    manager, log_dir = populated
    manager.list_versions(EXPERIMENT)
    path = log_dir / f"{EXPERIMENT}.json"
    document = json.loads(path.read_bytes())
    added = json.loads(json.dumps(document["versions"][0]))
    added.update(version=4, config_name="by hand", hyperparameters={"lr": 9.0})
    added["metrics"] = {"loss": [7.0, 3.0]}
    added.pop("steps", None)
    added.pop("timestamps", None)
    document["versions"].append(added)
    with path.open("w", encoding="utf-8") as handle:  # in place: the same inode
        json.dump(document, handle)
    found = manager.list_versions(EXPERIMENT)
    assert [s["version"] for s in found] == [1, 2, 3, 4]
    assert found[3]["config_name"] == "by hand"
    assert found[3]["metric_summaries"]["loss"]["min"] == 3.0
    assert_same(found, oracle(manager))
    assert [r["version"] for r in manager.search("hp.lr > 1")] == [4]
    assert manager.version_table(EXPERIMENT).last["loss"][3] == 3.0
    assert_table_matches(manager, EXPERIMENT)


def test_a_history_edited_by_hand_with_the_same_version_count(
    populated: tuple[ExperimentManager, Path],
) -> None:
    # Fix a typo in a config name, a hyperparameter and a metric value by hand: the
    # version count, statuses and number of points stay the same.
    manager, log_dir = populated
    manager.list_versions(EXPERIMENT)
    path = log_dir / f"{EXPERIMENT}.json"
    document = json.loads(path.read_bytes())
    first = document["versions"][0]
    first["config_name"] = "fixed"
    first["hyperparameters"]["lr"] = 0.3
    first["metrics"]["loss"] = [0.5, "NaN", 0.05]
    path.write_text(json.dumps(document), encoding="utf-8")
    found = manager.list_versions(EXPERIMENT)
    assert_same(found, oracle(manager))
    assert found[0]["config_name"] == "fixed"
    assert found[0]["hyperparameters"]["lr"] == 0.3
    assert found[0]["metric_summaries"]["loss"]["min"] == 0.05
    table = manager.version_table(EXPERIMENT)
    assert (table.hyperparameters[0]["lr"], table.last["loss"][0]) == (0.3, 0.05)
    assert_table_matches(manager, EXPERIMENT)


# -- running versions -----------------------------------------------------------------


def test_running_summaries_include_journal_points_not_yet_folded(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    manager = new_manager(log_dir)
    manager.start_experiment("cfg", {}, {}, EXPERIMENT)
    manager.log_metrics({"loss": [0.9]})
    for step, value in enumerate([0.7, NAN, 0.2, 0.6], start=1):
        manager.log({"loss": value, "acc": step / 10}, step=step * 100)
    on_disk = load_history_file(log_dir, EXPERIMENT)["versions"][0]
    assert on_disk["metrics"] == {"loss": [0.9]}  # the points are only in the journal
    assert_index_current(log_dir)  # and the index is current for that history
    summaries = manager.list_versions(EXPERIMENT)
    assert summaries[0]["status"] == "running"
    assert_same(summaries, oracle(manager))
    loss = summaries[0]["metric_summaries"]["loss"]
    assert (loss["count"], loss["min"], loss["argmin_step"], loss["last"]) == (5, 0.2, 300, 0.6)
    assert summaries[0]["metric_summaries"]["acc"]["count"] == 4
    assert manager.list_experiments()[0]["metric_names"] == ["acc", "loss"]
    assert [r["version"] for r in manager.search("metrics.loss.min < 0.3")] == [1]
    # The index's listing has no aggregates for a running version: they come fresh.
    assert read_index(log_dir)["listing"]["last"] == {}
    table = manager.version_table(EXPERIMENT)
    assert (table.status, table.last) == (["running"], {"acc": [0.4], "loss": [0.6]})
    assert_table_matches(manager, EXPERIMENT)
    manager.end_experiment()
    assert_same(
        manager.list_versions(EXPERIMENT)[0]["metric_summaries"], summaries[0]["metric_summaries"]
    )


@pytest.mark.timeout(120)
def test_summaries_of_a_run_in_another_process(tmp_path: Path, runners: Runners) -> None:
    log_dir = tmp_path / "logs"
    runner = runners(log_dir, EXPERIMENT, rounds_of(25, 1))
    assert runner.expect("ready") == 1
    manager = new_manager(log_dir)
    summaries = manager.list_versions(EXPERIMENT)
    assert summaries[0]["status"] == "running"
    assert summaries[0]["metric_summaries"]["loss"]["count"] == 25
    assert summaries[0]["metric_summaries"]["loss"]["argmin_step"] == 24
    assert_same(summaries, oracle(manager))
    assert manager.version_table(EXPERIMENT).status == ["running"]
    assert_table_matches(manager, EXPERIMENT)
    runner.kill()
    crashed = manager.list_versions(EXPERIMENT)
    assert crashed[0]["status"] == "crashed"
    assert crashed[0]["metric_summaries"]["loss"]["count"] == 25
    table = manager.version_table(EXPERIMENT)
    assert table.status == ["crashed"]
    assert_same(table.last["loss"], [crashed[0]["metric_summaries"]["loss"]["last"]])
    assert_table_matches(manager, EXPERIMENT)


@pytest.mark.timeout(180)
def test_a_version_that_ends_while_being_read_is_seen_consistently(
    tmp_path: Path, runners: Runners
) -> None:
    log_dir = tmp_path / "logs"
    points, rounds = 400, 6
    runner = runners(log_dir, EXPERIMENT, rounds_of(points, rounds))
    manager = new_manager(log_dir)
    statuses_seen: set[str] = set()
    for _ in range(rounds):
        version = runner.expect("ready")
        seen: list[tuple[str, str, int, int]] = []
        errors: list[BaseException] = []
        stop = threading.Event()

        def read(
            version: int = version,
            seen: Any = seen,
            errors: Any = errors,
            stop: threading.Event = stop,
        ) -> None:
            try:
                while not stop.is_set():
                    summary = manager.list_versions(EXPERIMENT)[version - 1]
                    counts = manager.list_experiments()[0]["status_counts"]
                    listed = manager.version_table(EXPERIMENT).status[version - 1]
                    assert listed in ("running", "finished"), listed
                    record = manager.read_history(EXPERIMENT)[version - 1]
                    seen.append(
                        (
                            summary["status"],
                            record["status"],
                            summary["metric_summaries"]["loss"]["count"],
                            len(record["metrics"]["loss"]),
                        )
                    )
                    assert "crashed" not in counts, counts
            except BaseException as error:  # reported below
                errors.append(error)

        readers = [threading.Thread(target=read) for _ in range(2)]
        for reader in readers:
            reader.start()
        time.sleep(0.05)
        runner.send("end")
        assert runner.expect("ended") == version
        time.sleep(0.05)
        stop.set()
        for reader in readers:
            reader.join(timeout=60)
        assert not errors, errors
        assert seen
        statuses_seen.update(status for status, _, _, _ in seen)
        for summary_status, record_status, summary_count, record_count in seen:
            assert summary_status in ("running", "finished"), seen
            assert record_status in ("running", "finished"), seen
            assert summary_count == points
            assert record_count == points
        final = manager.list_versions(EXPERIMENT)[version - 1]
        assert final["status"] == "finished"
        assert final["metric_summaries"]["loss"]["count"] == points
    runner.process.wait(timeout=30)
    assert runner.process.returncode == 0
    assert statuses_seen == {"running", "finished"}  # the reads did straddle the ends
    assert_same(manager.list_versions(EXPERIMENT), oracle(manager))
    assert_table_matches(manager, EXPERIMENT)


# -- read-only log folders ------------------------------------------------------------


@contextlib.contextmanager
def read_only(folders: list[Path]) -> Iterator[None]:
    """Make folders unwritable: chmod 0o555, or for root (which chmod does not stop)
    the immutable attribute, skipping the test when neither is possible."""
    if os.geteuid() != 0:
        for folder in folders:
            folder.chmod(0o555)
        try:
            yield
        finally:
            for folder in folders:
                folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root, and no chattr to make a folder read-only")
    done: list[Path] = []
    try:
        for folder in folders:
            result = subprocess.run([chattr, "+i", str(folder)], capture_output=True, check=False)
            if result.returncode != 0:
                pytest.skip(f"running as root, and chattr +i fails: {result.stderr!r}")
            done.append(folder)
        probe = folders[-1] / ".probe"
        try:
            probe.write_bytes(b"")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("running as root, and the folder is still writable")
        yield
    finally:
        for folder in done:
            subprocess.run([chattr, "-i", str(folder)], capture_output=True, check=False)


@pytest.mark.parametrize("index_state", ["deleted", "no-folder", "stale"])
def test_a_read_only_log_dir_still_lists(
    populated: tuple[ExperimentManager, Path], index_state: str
) -> None:
    manager, log_dir = populated
    expected = manager.list_versions(EXPERIMENT)
    table = table_of(expected, EXPERIMENT)
    listed = manager.list_experiments()
    index_folder = index_path(log_dir).parent
    if index_state == "deleted":
        index_path(log_dir).unlink()
    elif index_state == "no-folder":
        shutil.rmtree(index_folder)
    else:
        _stale_source(index_path(log_dir), log_dir)
    stale_bytes = index_path(log_dir).read_bytes() if index_state == "stale" else None
    folders = [log_dir, log_dir / ".expm"]
    if index_folder.exists():
        folders.append(index_folder)
    with read_only(folders):
        for _ in range(2):
            reader = new_manager(log_dir)
            assert_same(reader.list_versions(EXPERIMENT), expected)
            assert_same(dataclasses.asdict(reader.version_table(EXPERIMENT)), table)
            assert_same(reader.list_experiments(), listed)
            assert [r["version"] for r in reader.search("hp.lr < 0.05")] == [2, 3]
            assert reader.best(EXPERIMENT, "loss")["version"] == 2  # type: ignore[index]
        if index_state == "stale":
            assert index_path(log_dir).read_bytes() == stale_bytes
        else:
            assert not index_path(log_dir).exists()
        assert not [name for name in os.listdir(log_dir) if name.endswith(".tmp")]
