"""Moving versions between stores: ``migrate`` and ``sync``, through the library and ``expm``.

The destination comes from the ``dest`` fixture (a folder, the memory store, and
PostgreSQL when a server is configured), so every behaviour is checked on each.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from experiment_manager import (
    ExperimentManager,
    InvalidArgumentError,
    TransferConflictError,
    TransferReport,
    migrate,
    sync,
)
from experiment_manager.cli import main
from experiment_manager.stores import Store, open_store
from experiment_manager.stores.memory import MemoryStore
from experiment_manager.transfer import ORIGIN
from experiment_manager.transfer._common import Location
from tests._runner import Plan, Runners
from tests._util import assert_same

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

TIMEOUT = 120


# -- stores ------------------------------------------------------------------------------


@pytest.fixture(params=["folder", "memory", "postgres"])
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """Where versions are copied to: a folder's path, a store object, or a database URI.

    ``postgres`` is an empty database on the test server (``EXPM_TEST_POSTGRES_URI``;
    see :mod:`tests._postgres`).
    """
    if request.param == "folder":
        return str(tmp_path / "dest")
    if request.param == "postgres":
        uri: str = request.getfixturevalue("postgres_uri")
        return uri
    return MemoryStore()


_OPENED: dict[str, Store] = {}


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    """Stores the helpers opened are kept for the test (one connection per database)."""
    yield
    for store in _OPENED.values():
        close = getattr(store, "close", None)
        if close is not None:
            close()
    _OPENED.clear()


def _store(location: Location) -> Store:
    if isinstance(location, Store):
        return location
    key = os.fspath(location)
    if key not in _OPENED:
        _OPENED[key] = open_store(key)
    return _OPENED[key]


# A version without metric values reads with ``steps: {}`` from a folder and without
# the key from PostgreSQL; test_series_fields_of_a_version_without_values_survive pins that
# one difference, so the comparisons below can check everything else.
_SERIES_FIELDS = ("steps", "timestamps")


def _history(location: Location, experiment_id: str) -> list[dict[str, Any]]:
    versions = _store(location).read_history(experiment_id)
    for version in versions:
        for key in _SERIES_FIELDS:
            if version.get(key) == {}:
                del version[key]
    return versions


def _ids(location: Location) -> list[str]:
    return _store(location).experiment_ids()


def _fingerprint(folder: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every entry under ``folder`` with its bytes (None for a folder) and mtime."""
    found: dict[str, tuple[bytes | None, int]] = {}
    for base, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(base) / name
            content = None if path.is_dir() else path.read_bytes()
            found[path.relative_to(folder).as_posix()] = (content, path.stat().st_mtime_ns)
    return found


def _assert_same_histories(source: Location, dest: Location, ids: list[str]) -> None:
    for experiment_id in ids:
        expected = _history(source, experiment_id)
        assert expected, experiment_id
        assert_same(_history(dest, experiment_id), expected)


# -- a source with everything a version can hold -------------------------------------------

TRICKY_FLOATS = [0.1 + 0.2, 5e-324, -0.0, 1.7976931348623157e308, float("nan"), float("inf")]


@pytest.fixture
def source(tmp_path: Path, runners: Runners) -> Path:
    """A folder with finished, failed, resumed and crashed versions, points and checkpoints."""
    folder = tmp_path / "source"
    manager = ExperimentManager(folder)
    checkpoint = tmp_path / "model.bin"
    checkpoint.write_bytes(b"weights")
    with manager.experiment(
        "rich", {"lr": 0.01, "eps": float("-inf"), "layers": [64, 32], "opt": {"b": (0.9, 1)}}
    ):
        for step in range(5):
            manager.log({"loss": TRICKY_FLOATS[step], "count": step}, step=step * 10)
        manager.log_metrics({"acc": [1, 2.5, float("-inf"), 3]})
        manager.add_checkpoint(checkpoint, step=40, metrics={"val": float("nan")}, sha256=True)
    manager.start_experiment("rich", {"lr": 0.02}, {})
    manager.log({"loss": 1.5})
    manager.end_experiment("failed", error=RuntimeError("diverged"))
    crashed = runners(folder, "rich", Plan(points=3))
    crashed.ready()
    crashed.kill()  # version 3 crashed, then resumed and finished here
    manager.resume_experiment("rich", 3)
    manager.log({"loss": 0.25})
    manager.end_experiment()
    left = runners(folder, "crashy", Plan(points=4))
    left.ready()
    left.kill()  # crashy v1 stays crashed: status, points and all
    for i in range(3):
        with manager.experiment("plain", {"i": i}):
            manager.log_metrics({"x": list(range(i + 1))})
    return folder


def _statuses(location: Location, experiment_id: str) -> list[str]:
    return [v["status"] for v in _history(location, experiment_id)]


# -- migrate -----------------------------------------------------------------------------


def test_migrate_copies_every_version_losslessly(source: Path, dest: Location) -> None:
    before = _fingerprint(source)
    report = migrate(source, dest)
    ids = ["crashy", "plain", "rich"]
    assert _ids(dest) == ids
    _assert_same_histories(source, dest, ids)
    assert _statuses(dest, "rich") == ["finished", "failed", "finished"]
    assert _statuses(dest, "crashy") == ["crashed"]
    rich = _history(dest, "rich")
    assert rich[1]["error"] == {"type": "RuntimeError", "message": "diverged"}
    assert rich[2]["resumed"][0]["from_status"] == "crashed"
    assert rich[0]["checkpoint_details"][0]["sha256"] is not None
    assert [type(v) for v in rich[0]["metrics"]["count"]] == [int] * 5
    assert rich[0]["steps"]["loss"] == [0, 10, 20, 30, 40]
    assert report.copied == [
        {"experiment_id": "crashy", "versions": [1], "dest_versions": [1]},
        {"experiment_id": "plain", "versions": [1, 2, 3], "dest_versions": [1, 2, 3]},
        {"experiment_id": "rich", "versions": [1, 2, 3], "dest_versions": [1, 2, 3]},
    ]
    assert (report.present, report.skipped, report.corrupt) == (0, [], [])
    assert _fingerprint(source) == before, "the source was changed"


def test_series_fields_of_a_version_without_values_survive(
    request: pytest.FixtureRequest, tmp_path: Path, dest: Location
) -> None:
    folder = tmp_path / "source"
    manager = ExperimentManager(folder)
    manager.start_experiment("bulk", {}, {})  # a version without a single value
    manager.end_experiment()
    expected = _store(str(folder)).read_history("bulk")
    assert (expected[0]["steps"], expected[0]["timestamps"]) == ({}, {})
    migrate(folder, dest)
    assert_same(_store(dest).read_history("bulk"), expected)


def test_migrate_again_copies_nothing_and_writes_nothing(tmp_path: Path, source: Path) -> None:
    target = tmp_path / "dest"
    migrate(source, target)
    written = _fingerprint(target)
    report = migrate(source, target)
    assert (report.copied_versions, report.present) == (0, 7)
    assert _fingerprint(target) == written


def test_postgres_and_back_keeps_everything(
    tmp_path: Path, source: Path, postgres_uri: str
) -> None:
    there = migrate(source, postgres_uri)
    assert "expm-test" not in there.dest, "the password is shown"
    back = tmp_path / "back"
    report = migrate(postgres_uri, back)
    assert "expm-test" not in report.source
    assert report.copied_versions == 7
    _assert_same_histories(source, back, ["crashy", "plain", "rich"])
    assert migrate(postgres_uri, back).copied_versions == 0
    assert migrate(source, postgres_uri).copied_versions == 0


def test_migrate_back_and_forth_keeps_everything(tmp_path: Path, source: Path) -> None:
    memory = MemoryStore()
    migrate(source, memory)
    back = tmp_path / "back"
    migrate(memory, back)
    _assert_same_histories(source, back, ["crashy", "plain", "rich"])
    for experiment_id in ("crashy", "plain", "rich"):  # the spec's read_history too
        assert_same(
            ExperimentManager(back).read_history(experiment_id),
            ExperimentManager(source).read_history(experiment_id),
        )


def test_migrate_continues_where_the_destination_stops(source: Path, dest: Location) -> None:
    migrate(source, dest, experiment_ids=["plain"])
    manager = ExperimentManager(source)
    with manager.experiment("plain", {"i": 3}):
        manager.log_metrics({"x": [9]})
    report = migrate(source, dest)
    assert {"experiment_id": "plain", "versions": [4], "dest_versions": [4]} in report.copied
    assert report.present == 3
    _assert_same_histories(source, dest, ["crashy", "plain", "rich"])


def test_dry_run_writes_nothing(tmp_path: Path, source: Path) -> None:
    target = tmp_path / "dest"
    report = migrate(source, target, dry_run=True)
    assert report.dry_run
    assert report.copied_versions == 7
    assert not target.exists()
    report = sync(source, target, dry_run=True)
    assert report.copied_versions == 7
    assert not target.exists()


def test_a_running_version_waits_with_the_versions_after_it(
    tmp_path: Path, dest: Location, runners: Runners
) -> None:
    folder = tmp_path / "source"
    manager = ExperimentManager(folder)
    with manager.experiment("exp", {}):
        pass
    live = runners(folder, "exp", Plan(points=2))
    live.ready()  # version 2 is running
    with manager.experiment("exp", {}):
        pass  # version 3 finished after it
    report = migrate(folder, dest)
    assert report.copied == [{"experiment_id": "exp", "versions": [1], "dest_versions": [1]}]
    assert [(s["version"], s["reason"].split(";")[0]) for s in report.skipped] == [
        (2, "still running"),
        (3, "waits for version 2 (numbers are kept)"),
    ]
    live.end()
    report = migrate(folder, dest)
    assert report.copied == [{"experiment_id": "exp", "versions": [2, 3], "dest_versions": [2, 3]}]
    assert report.skipped == []
    _assert_same_histories(folder, dest, ["exp"])
    assert _statuses(dest, "exp") == ["finished"] * 3


def test_a_corrupt_history_is_reported_and_the_others_are_copied(
    source: Path, dest: Location
) -> None:
    broken = source / "broken.json"
    broken.write_bytes(b'{"format": 2, "versions": [')
    for call in (migrate, sync):
        report = call(source, dest)
        assert not report.ok
        assert [(c["store"], c["experiment_id"], c["path"]) for c in report.corrupt] == [
            ("source", "broken", str(broken))
        ]
        assert "broken" not in _ids(dest)
    assert broken.read_bytes() == b'{"format": 2, "versions": ['
    _assert_same_histories(source, dest, ["plain", "rich", "crashy"])


def test_a_file_that_is_no_history_is_named_and_is_no_failure(
    source: Path, dest: Location, cli: CliRunner
) -> None:
    stray = source / "config.json"
    stray.write_text('{"lr": 0.1}')
    for call in (migrate, sync):
        report = call(source, dest)
        assert report.ok
        assert [(f["store"], f["path"]) for f in report.foreign] == [("source", str(stray))]
        assert report.corrupt == []
    result = cli.invoke(main, ["migrate", str(source), str(source.parent / "other")])
    assert result.exit_code == 0, result.output
    assert f"source: {stray}" in result.stdout
    assert stray.read_text() == '{"lr": 0.1}'


def test_a_destination_that_differs_is_a_conflict_and_nothing_is_written(
    tmp_path: Path, source: Path
) -> None:
    target = tmp_path / "dest"
    with ExperimentManager(target).experiment("rich", {"other": True}):
        pass
    written = _fingerprint(target)
    with pytest.raises(TransferConflictError) as caught:
        migrate(source, target)
    assert (caught.value.experiment_id, caught.value.version) == ("rich", 1)
    assert "differs" in str(caught.value)
    assert _fingerprint(target) == written, "something was written before the conflict"
    assert _ids(str(target)) == ["rich"]


def test_a_destination_ahead_of_the_source_is_a_conflict(tmp_path: Path, source: Path) -> None:
    target = tmp_path / "dest"
    migrate(source, target)
    with ExperimentManager(target).experiment("plain", {"extra": 1}):
        pass
    with pytest.raises(TransferConflictError) as caught:
        migrate(source, target)
    assert (caught.value.experiment_id, caught.value.version) == ("plain", 4)


def test_a_version_changed_in_the_source_is_replaced_only_when_asked(
    source: Path, dest: Location
) -> None:
    migrate(source, dest)
    manager = ExperimentManager(source)
    manager.resume_experiment("crashy", 1)  # crashed when copied: now it goes on
    manager.log({"loss": 0.125})
    manager.end_experiment()
    with pytest.raises(TransferConflictError) as caught:
        migrate(source, dest)
    assert (caught.value.experiment_id, caught.value.version) == ("crashy", 1)
    assert "--replace-changed" in str(caught.value)
    assert _statuses(dest, "crashy") == ["crashed"]
    dry = migrate(source, dest, replace_changed=True, dry_run=True)
    assert dry.replaced == [{"experiment_id": "crashy", "version": 1, "dest_version": 1}]
    assert _statuses(dest, "crashy") == ["crashed"]
    report = migrate(source, dest, replace_changed=True)
    assert report.replaced == [{"experiment_id": "crashy", "version": 1, "dest_version": 1}]
    assert (report.copied_versions, report.present) == (0, 6)
    _assert_same_histories(source, dest, ["crashy", "plain", "rich"])
    assert _history(dest, "crashy")[0]["metrics"]["loss"][-1] == 0.125
    assert migrate(source, dest).copied_versions == 0  # and no conflict any more


def test_bad_locations_are_refused(tmp_path: Path, source: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="is not a folder"):
        migrate(tmp_path / "missing", tmp_path / "dest")
    with pytest.raises(InvalidArgumentError, match="is the source"):
        migrate(source, source)
    with pytest.raises(InvalidArgumentError, match="is the source"):
        sync(source, str(source) + "/")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidArgumentError, match="is not a folder"):
        migrate(source, tmp_path / "file")
    with pytest.raises(InvalidArgumentError):
        migrate(42, tmp_path / "dest")  # type: ignore[arg-type]


# -- sync --------------------------------------------------------------------------------


def _without(version: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in version.items() if key not in keys}


def test_sync_appends_with_the_next_numbers_and_an_origin(source: Path, dest: Location) -> None:
    team = ExperimentManager("team", store=_store(dest))
    for lr in (0.1, 0.2):
        with team.experiment("rich", {"lr": lr}):
            pass
    before = _fingerprint(source)
    report = sync(source, dest, host="node-7")
    assert {"experiment_id": "rich", "versions": [1, 2, 3], "dest_versions": [3, 4, 5]} in (
        report.copied
    )
    ours, theirs = _history(source, "rich"), _history(dest, "rich")
    assert [v["version"] for v in theirs] == [1, 2, 3, 4, 5]
    assert ORIGIN not in theirs[0]
    for original, synced in zip(ours, theirs[2:], strict=True):
        assert_same(_without(synced, "version", ORIGIN), _without(original, "version"))
        origin = synced[ORIGIN]
        assert (origin["host"], origin["folder"], origin["version"]) == (
            "node-7",
            str(source),
            original["version"],
        )
        assert origin["synced_at"].endswith("+00:00")
    _assert_same_histories_but_origin(source, dest, ["plain", "crashy"])  # new ids: 1, 2, 3
    assert _fingerprint(source) == before, "the source was changed"


def _assert_same_histories_but_origin(source: Location, dest: Location, ids: list[str]) -> None:
    for experiment_id in ids:
        ours, theirs = _history(source, experiment_id), _history(dest, experiment_id)
        assert len(ours) == len(theirs)
        for original, synced in zip(ours, theirs, strict=True):
            assert_same(_without(synced, ORIGIN), original)


def test_sync_again_syncs_nothing_twice(tmp_path: Path, source: Path, dest: Location) -> None:
    first = sync(source, dest)
    assert first.copied_versions == 7
    again = sync(source, dest)
    assert (again.copied_versions, again.present) == (0, 7)
    moved = tmp_path / "moved"
    source.rename(moved)  # the same runs under another path: still recognised
    assert sync(moved, dest).copied_versions == 0
    manager = ExperimentManager(moved)
    with manager.experiment("plain", {"late": True}):
        pass
    late = sync(moved, dest)
    assert late.copied == [{"experiment_id": "plain", "versions": [4], "dest_versions": [4]}]
    assert [v["hyperparameters"] for v in _history(dest, "plain")][-1] == {"late": True}


def test_sync_skips_running_versions_until_they_end(
    tmp_path: Path, dest: Location, runners: Runners
) -> None:
    folder = tmp_path / "offline"
    live = runners(folder, "exp", Plan(points=3))
    live.ready()
    manager = ExperimentManager(folder)
    with manager.experiment("exp", {"second": True}):
        pass
    report = sync(folder, dest)
    assert report.copied == [{"experiment_id": "exp", "versions": [2], "dest_versions": [1]}]
    assert [(s["version"], s["reason"]) for s in report.skipped] == [
        (1, "still running; synced once it has ended")
    ]
    live.end()
    report = sync(folder, dest)
    assert report.copied == [{"experiment_id": "exp", "versions": [1], "dest_versions": [2]}]
    synced = _history(dest, "exp")
    assert [(v["status"], v[ORIGIN]["version"]) for v in synced] == [
        ("finished", 2),
        ("finished", 1),
    ]
    assert synced[1]["metrics"]["loss"] == [1.0, 0.5, 1 / 3]


def test_sync_reports_a_version_changed_since_it_was_synced(tmp_path: Path, dest: Location) -> None:
    folder = tmp_path / "offline"
    manager = ExperimentManager(folder)
    with manager.experiment("exp", {}):
        manager.log({"loss": 1.0})
    sync(folder, dest)
    manager.resume_experiment("exp")
    manager.log({"loss": 0.5})
    manager.end_experiment()
    report = sync(folder, dest)
    assert report.copied == []
    assert report.skipped[0]["version"] == 1
    assert "changed in the source since it was synced as version 1" in report.skipped[0]["reason"]


def test_sync_replaces_a_changed_copy_when_asked(tmp_path: Path, dest: Location) -> None:
    folder = tmp_path / "offline"
    manager = ExperimentManager(folder)
    with manager.experiment("exp", {}):
        manager.log({"loss": 1.0})
    team = ExperimentManager("team", store=_store(dest))
    with team.experiment("exp", {"team": True}):
        pass
    sync(folder, dest)  # offline v1 is team v2
    manager.resume_experiment("exp")
    manager.log({"loss": 0.5})
    manager.end_experiment()
    report = sync(folder, dest, replace_changed=True)
    assert report.replaced == [{"experiment_id": "exp", "version": 1, "dest_version": 2}]
    synced = _history(dest, "exp")[1]
    assert synced["metrics"]["loss"] == [1.0, 0.5]
    assert (synced["version"], synced[ORIGIN]["version"]) == (2, 1)
    original = _history(folder, "exp")[0]
    assert_same(_without(synced, ORIGIN, "version"), _without(original, "version"))
    again = sync(folder, dest, replace_changed=True)
    assert (again.replaced, again.present, again.copied_versions) == ([], 1, 0)


def test_sync_after_a_migration_finds_everything_there(source: Path, dest: Location) -> None:
    migrate(source, dest)
    report = sync(source, dest)
    assert (report.copied_versions, report.present, report.skipped) == (0, 7, [])
    manager = ExperimentManager(source)
    with manager.experiment("plain", {"after": True}):
        pass
    late = sync(source, dest)
    assert late.copied == [{"experiment_id": "plain", "versions": [4], "dest_versions": [4]}]


def test_sync_keeps_the_first_origin_of_a_version_synced_twice_over(
    tmp_path: Path, source: Path, dest: Location
) -> None:
    hub = tmp_path / "hub"
    sync(source, hub, host="node-1")
    sync(hub, dest, host="hub")
    origin = _history(dest, "plain")[0][ORIGIN]
    assert (origin["host"], origin["folder"]) == ("node-1", str(source))
    assert sync(source, dest).copied_versions == 0  # the same runs, from their first folder


# -- kill -9 and the command line ----------------------------------------------------------


def _big_source(folder: Path, experiments: int, versions: int) -> None:
    store = open_store(folder)
    for e in range(experiments):
        records = [
            {
                "created_at": f"2026-01-01T00:{e % 60:02d}:{v:02d}.000001+00:00",
                "config_name": "big",
                "hyperparameters": {"e": e, "v": v},
                "metadata": {},
                "metrics": {"loss": [1 / (i + 1) for i in range(300)] + ["NaN"]},
                "status": "finished",
            }
            for v in range(versions)
        ]
        store.add_versions(f"exp{e:03d}", records)


def _kill_midway(command: list[str]) -> str:
    """Run ``expm ...`` and SIGKILL it once it has copied something; return its stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "experiment_manager", *command, "--progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        done, total = line.rsplit(" ", 1)[-1].strip().split("/")
        if 0 < int(done) < int(total):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=TIMEOUT)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL, f"not killed midway: {''.join(seen)}"
    return "".join(seen)


@pytest.mark.parametrize("kind", ["folder", "postgres"])
@pytest.mark.parametrize("operation", ["migrate", "sync"])
def test_killed_midway_then_run_again_copies_everything_once(
    request: pytest.FixtureRequest, tmp_path: Path, operation: str, kind: str
) -> None:
    folder = tmp_path / "source"
    target = request.getfixturevalue("postgres_uri") if kind == "postgres" else tmp_path / "dest"
    _big_source(folder, experiments=40, versions=5)
    before = _fingerprint(folder)
    _kill_midway([operation, str(folder), str(target)])
    ids = _ids(str(folder))
    partial = sum(len(_history(str(target), i)) for i in _ids(str(target)))
    assert 0 < partial < 200, partial
    result = subprocess.run(
        [sys.executable, "-m", "experiment_manager", operation, "--json", str(folder), str(target)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["copied_versions"] + report["present"] == 200
    assert report["present"] == partial
    if operation == "migrate":
        _assert_same_histories(str(folder), str(target), ids)
    else:
        _assert_same_histories_but_origin(str(folder), str(target), ids)
    again = migrate(folder, target) if operation == "migrate" else sync(folder, target)
    assert again.copied_versions == 0
    assert _fingerprint(folder) == before, "the source was changed"


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_cli_migrate_json_progress_and_exit_codes(
    tmp_path: Path, source: Path, cli: CliRunner
) -> None:
    target = tmp_path / "dest"
    result = cli.invoke(main, ["migrate", "--json", "--progress", str(source), str(target)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["copied_versions"] == 7
    assert report["ok"] is True
    assert "Migrating versions: 7/7" in result.stderr
    text = cli.invoke(main, ["migrate", str(source), str(target)])
    assert text.exit_code == 0
    assert "0 version(s) of 0 experiment(s) migrated" in text.stdout
    assert "7 version(s) already in the destination." in text.stdout
    (source / "broken.json").write_text("{")
    corrupt = cli.invoke(main, ["migrate", str(source), str(target)])
    assert corrupt.exit_code == 3
    assert f"source: {source / 'broken.json'}" in corrupt.stdout
    with ExperimentManager(tmp_path / "other").experiment("plain", {"x": 1}):
        pass
    conflict = cli.invoke(main, ["migrate", str(source), str(tmp_path / "other")])
    assert conflict.exit_code == 1
    assert "error: cannot migrate 'plain' version 1" in conflict.stderr


def test_cli_sync_reports_numbers_and_skips(tmp_path: Path, source: Path, cli: CliRunner) -> None:
    target = tmp_path / "team"
    with ExperimentManager(target).experiment("plain", {}):
        pass
    result = cli.invoke(main, ["sync", "--id", "plain", str(source), str(target)])
    assert result.exit_code == 0, result.output
    assert "3 version(s) of 1 experiment(s) synced" in result.stdout
    assert "  plain: 1-3 -> 2-4" in result.stdout
    dry = cli.invoke(main, ["sync", "--dry-run", "--json", str(source), str(target)])
    report = json.loads(dry.stdout)
    assert (report["dry_run"], report["copied_versions"], report["present"]) == (True, 4, 3)
    missing = cli.invoke(main, ["sync", "--id", "nope", str(source), str(target)])
    assert missing.exit_code == 1
    assert "no experiment 'nope'" in missing.stderr


def test_report_is_plain_data(source: Path, dest: Location) -> None:
    report = migrate(source, dest)
    assert isinstance(report, TransferReport)
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["operation"] == "migrate"
    assert data["source"] == str(source)


def test_the_usage_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "usage.md").read_text("utf-8")
    section = text.split("## Moving between stores", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "docs/usage.md", "exec"), {})
    assert [v["version"] for v in ExperimentManager("team-runs").read_history("sweep")] == [1, 2]
    assert ExperimentManager("backup").read_history("mnist")[0]["steps"]["loss"] == [0, 1]


def test_cli_to_postgres_never_shows_the_password(
    source: Path, postgres_uri: str, cli: CliRunner
) -> None:
    password = "expm-test"
    assert password in postgres_uri
    for command in ("migrate", "sync"):
        result = cli.invoke(main, [command, "--progress", str(source), postgres_uri])
        assert result.exit_code == 0, result.output
        assert password not in result.stdout + result.stderr
        assert ":***@" in result.stdout
    report = json.loads(cli.invoke(main, ["migrate", "--json", str(source), postgres_uri]).stdout)
    assert report["copied_versions"] == 0
    assert password not in json.dumps(report)


# -- ids that differ only by letter case -------------------------------------------------


def _twin_source(folder: Path, *experiment_ids: str) -> Path:
    manager = ExperimentManager(folder, capture_environment=False)
    for experiment_id in experiment_ids:
        with manager.experiment("cfg", {"id": experiment_id}, experiment_id=experiment_id):
            manager.log({"loss": 0.5})
    return folder


@pytest.mark.parametrize("operation", ["migrate", "sync"])
def test_a_case_twin_of_a_destination_experiment_is_refused_before_writing(
    tmp_path: Path, dest: Location, operation: str
) -> None:
    from experiment_manager import ExperimentIdCollisionError

    source = _twin_source(tmp_path / "source", "Plain", "other")
    target = _store(dest)
    target.create_version("plain", {"status": "finished"})
    call = migrate if operation == "migrate" else sync
    for dry_run in (True, False):
        with pytest.raises(ExperimentIdCollisionError) as caught:
            call(source, dest, dry_run=dry_run)
        assert (caught.value.experiment_id, caught.value.existing) == ("Plain", "plain")
    assert _ids(dest) == ["plain"]  # not even "other" was copied
    assert [v["version"] for v in _history(dest, "plain")] == [1]
    copied = call(source, dest, experiment_ids=["other"])  # the others go when asked for
    assert copied.copied_versions == 1


def test_case_twins_of_one_source_are_refused_and_the_cli_names_them(tmp_path: Path) -> None:
    # A source on a file system that tells case apart may hold both (made before
    # twins were refused, or by hand).
    source = _twin_source(tmp_path / "source", "exp")
    other = _twin_source(tmp_path / "other", "EXP")
    (source / "EXP.json").write_bytes((other / "EXP.json").read_bytes())
    assert _ids(str(source)) == ["EXP", "exp"]
    target = tmp_path / "dest"
    for command in ("migrate", "sync"):
        result = CliRunner().invoke(main, [command, str(source), str(target)])
        assert result.exit_code == 1, result.output
        assert "invalid experiment id 'exp': experiment 'EXP' exists" in result.stderr
        assert "Traceback" not in result.output
    assert not target.exists() or _ids(str(target)) == []
