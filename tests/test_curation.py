"""Run curation: names, tags, notes, archive, trash and gc, on every backend and from the CLI."""

from __future__ import annotations

import getpass
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from experiment_manager import ExperimentManager
from experiment_manager.cli import main
from experiment_manager.errors import (
    ExperimentNotFoundError,
    InvalidArgumentError,
    RunActiveError,
)
from experiment_manager.stores import files
from tests._runner import Plan, Runners


def sweep(log_dir: Path, count: int = 4) -> ExperimentManager:
    manager = ExperimentManager(log_dir, capture_environment=False)
    for lr in range(count):
        manager.start_experiment("cfg", {"lr": lr / 10}, {}, experiment_id="exp")
        manager.log_metrics({"loss": [1.0, 0.5 - lr / 100]})
        manager.end_experiment()
    return manager


def versions(rows: list[dict[str, object]]) -> list[object]:
    return [row["version"] for row in rows]


def test_names_tags_and_notes_are_recorded_events(log_dir: Path, each_store: str) -> None:
    manager = sweep(log_dir, 2)
    record = manager.start_experiment("cfg", {}, {}, "exp", name="third", tags=["seed-1"])
    manager.end_experiment()
    assert record.version == 3
    assert manager.set_name("exp", 1, "  baseline ")["name"] == "baseline"
    assert manager.add_tags("exp", 1, ["best", "sweep", "best"]) == ["best", "sweep"]
    assert manager.remove_tags("exp", 1, ["sweep", "absent"]) == ["best"]
    state = manager.set_note("exp", 2, "diverged\nafter epoch 3")
    assert state["note"] == "diverged\nafter epoch 3"
    assert state["name"] == "cfg"  # the default: the config name
    assert manager.set_note("exp", 2, "")["note"] is None

    events = manager.get_version("exp", 1)["events"]
    assert [e["action"] for e in events] == ["rename", "tag", "untag"]
    assert events[1]["value"] == ["best", "sweep"]
    assert all(e["host"] == socket.gethostname() for e in events)
    assert all(e["user"] == getpass.getuser() for e in events)
    assert events[0]["at"] <= events[1]["at"] <= events[2]["at"]
    assert [e["action"] for e in manager.get_version("exp", 2)["events"]] == ["note", "note"]

    listed = manager.list_versions("exp")
    assert [s["name"] for s in listed] == ["baseline", "cfg", "third"]
    assert [s["tags"] for s in listed] == [["best"], [], ["seed-1"]]
    table = manager.version_table("exp")
    assert (table.name, table.tags) == (["baseline", "cfg", "third"], [["best"], [], ["seed-1"]])
    assert versions(manager.search("tags contains 'best'")) == [1]
    assert versions(manager.search("name = 'cfg'")) == [2]
    assert versions(manager.search("name in ('baseline', 'third')")) == [1, 3]
    assert versions(manager.search(None, order_by="name desc")) == [3, 2, 1]


def test_bad_values_are_refused_before_anything_changes(log_dir: Path, each_store: str) -> None:
    manager = sweep(log_dir, 1)
    calls: list[tuple[Any, object]] = [
        (manager.set_name, ""),
        (manager.set_name, 3),
        (manager.set_name, "two\nlines"),
        (manager.add_tags, ["has space"]),
        (manager.add_tags, ["a,b"]),
        (manager.add_tags, []),
        (manager.add_tags, [""]),
        (manager.set_note, "bell\x07"),
        (manager.set_note, "x" * 100_001),
    ]
    for call, value in calls:
        with pytest.raises(InvalidArgumentError):
            call("exp", 1, value)
    assert "events" not in manager.get_version("exp", 1)
    with pytest.raises(ExperimentNotFoundError):
        manager.add_tags("exp", 9, "x")
    with pytest.raises(ExperimentNotFoundError):
        manager.set_name("nope", 1, "x")
    with pytest.raises(InvalidArgumentError):
        manager.start_experiment("cfg", {}, {}, "exp", tags=["no good"])
    assert manager.store.latest_version("exp") == 1  # nothing was started


def test_archived_versions_are_hidden_until_asked_for(log_dir: Path, each_store: str) -> None:
    manager = sweep(log_dir)
    assert manager.archive("exp", [1, 3]) == [1, 3]
    assert manager.archive("exp", 1) == []  # already archived
    assert versions(manager.list_versions("exp")) == [2, 4]
    assert versions(manager.list_versions("exp", include_archived=True)) == [1, 2, 3, 4]
    assert manager.version_table("exp").version == [2, 4]
    table = manager.version_table("exp", include_archived=True)
    assert table.hidden == ["archived", None, "archived", None]
    assert table.last["loss"] == [0.5, 0.49, 0.48, 0.47]
    assert versions(manager.search("hp.lr >= 0")) == [2, 4]
    assert versions(manager.search("hp.lr >= 0", limit=1, order_by="version")) == [2]
    assert versions(manager.search("archived = true", include_archived=True)) == [1, 3]
    assert manager.list_experiments()[0]["versions"] == 2
    assert manager.list_experiments(include_archived=True)[0]["versions"] == 4
    assert len(manager.read_history("exp")) == 4  # the data API still reads them
    assert manager.unarchive("exp") == [1, 3]
    assert versions(manager.list_versions("exp")) == [1, 2, 3, 4]
    manager.archive("exp")
    assert manager.list_experiments() == []


def test_trash_restore_and_gc(log_dir: Path, each_store: str) -> None:
    manager = sweep(log_dir)
    manager.add_tags("exp", 2, "keep")
    assert manager.remove("exp", [2, 3]) == [2, 3]
    assert versions(manager.list_versions("exp", include_archived=True)) == [1, 4]
    assert versions(manager.read_history("exp")) == [1, 4]
    assert versions(manager.search(None, include_archived=True)) == [1, 4]
    assert [(t["experiment_id"], t["version"]) for t in manager.list_trash()] == [
        ("exp", 2),
        ("exp", 3),
    ]
    with pytest.raises(InvalidArgumentError, match="trash"):
        manager.add_tags("exp", 2, "x")
    with pytest.raises(ExperimentNotFoundError):
        manager.resume_experiment("exp", 2)
    assert manager.restore("exp", 2) == [2]
    assert manager.get_version("exp", 2)["tags"] == ["keep"]  # back as it was
    assert manager.gc() == []  # removed just now: within the retention
    assert versions(manager.gc(older_than_days=0, dry_run=True)) == [3]
    assert manager.list_trash()[0]["version"] == 3
    assert versions(manager.gc(older_than_days=0)) == [3]
    assert manager.list_trash() == []
    with pytest.raises(ExperimentNotFoundError):
        manager.restore("exp", 3)
    with pytest.raises(ExperimentNotFoundError):
        manager.get_version("exp", 3)
    # The number stays taken: the next run is 5, not 3.
    assert manager.start_experiment("cfg", {}, {}, "exp").version == 5
    manager.end_experiment()
    assert versions(manager.list_versions("exp")) == [1, 2, 4, 5]
    stored = manager.store.load_version("exp", 3)
    assert stored["metrics"] == {}
    assert stored["hyperparameters"] == {}
    assert [e["action"] for e in stored["events"]] == ["trash", "purge"]


def _stored_bytes(manager: ExperimentManager, log_dir: Path, each_store: str, uri: str) -> bytes:
    """Everything the store holds, as bytes: its files, its memory, or its tables' rows."""
    if each_store == "memory":
        data = manager.store._data  # type: ignore[attr-defined]
        journals = manager.store._journals  # type: ignore[attr-defined]
        return b"".join(
            [b for versions in data.values() for b in versions.values()]
            + [bytes(j) for j in journals.values()]
        )
    if each_store == "postgres":
        import psycopg

        out = []
        with psycopg.connect(uri) as connection:
            tables = connection.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            ).fetchall()
            for (table,) in tables:
                rows = connection.execute(f'SELECT t::text FROM "{table}" t').fetchall()
                out += [row[0].encode() for row in rows]
        return b"\n".join(out)
    return b"".join(p.read_bytes() for p in sorted(log_dir.rglob("*")) if p.is_file())


def test_gc_keeps_no_user_content_of_a_purged_version(
    log_dir: Path, each_store: str, request: pytest.FixtureRequest
) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("cfgzq", {"lr": 0.25}, {}, "exp", name="oldnamezq", tags=["tagzq"])
    manager.log_metrics({"loss": [1.0, 0.5]})
    manager.end_experiment()
    manager.set_name("exp", 1, "newnamezq")
    manager.add_tags("exp", 1, "tag2zq")
    manager.set_note("exp", 1, "the note textzq")
    manager.start_experiment("other", {"lr": 0.5}, {}, "exp")
    manager.end_experiment()
    uri = request.getfixturevalue("_store_uris").get(str(log_dir), "")
    manager.store.flush("exp")
    before = _stored_bytes(manager, log_dir, each_store, uri)
    for word in (b"oldnamezq", b"newnamezq", b"tagzq", b"tag2zq", b"textzq", b"cfgzq"):
        assert word in before  # the check below can see them
    manager.remove("exp", 1)
    assert versions(manager.gc(older_than_days=0)) == [1]
    manager.store.flush("exp")
    after = _stored_bytes(manager, log_dir, each_store, uri)
    for word in (b"oldnamezq", b"newnamezq", b"tagzq", b"tag2zq", b"textzq", b"cfgzq"):
        assert word not in after, word
    stored = manager.store.load_version("exp", 1)
    assert stored["purged_at"]
    assert (stored["version"], stored["status"]) == (1, "finished")
    assert [e["action"] for e in stored["events"]] == [
        "rename",
        "tag",
        "rename",
        "tag",
        "note",
        "trash",
        "purge",
    ]
    for event in stored["events"]:
        assert sorted(event) == ["action", "at", "host", "user"]
    assert manager.get_version("exp", 2)["config_name"] == "other"  # the other one is whole
    if each_store == "postgres":
        import psycopg

        with psycopg.connect(uri) as connection:
            left = connection.execute(
                "SELECT count(*) FROM expm_segments s JOIN expm_experiments e"
                " ON e.id = s.experiment WHERE e.name = 'exp' AND s.version = 1"
            ).fetchone()
        assert left == (0,)


def test_a_running_version_cannot_be_removed(log_dir: Path, each_store: str) -> None:
    manager = sweep(log_dir, 1)
    manager.start_experiment("cfg", {}, {}, "exp")
    with pytest.raises(RunActiveError):
        manager.remove("exp")  # version 2 runs: nothing is removed, not even version 1
    assert manager.list_trash() == []
    manager.end_experiment()
    assert manager.remove("exp") == [1, 2]


def test_a_version_running_in_another_process_cannot_be_removed(
    log_dir: Path, runners: Runners
) -> None:
    runner = runners(log_dir, "exp", Plan(points=5))
    version = runner.ready()
    manager = ExperimentManager(log_dir)
    with pytest.raises(RunActiveError):
        manager.remove("exp", version)
    runner.kill()  # crashed now: it may go
    assert manager.remove("exp", version) == [version]
    assert versions(manager.gc(older_than_days=0)) == [version]
    journals = log_dir / ".expm" / "journals" / "exp"
    assert not list(journals.glob(f"{version}.*")) if journals.exists() else True
    assert not (log_dir / ".expm" / "live" / "exp" / f"{version}.lock").exists()


def test_gc_removes_every_file_a_big_version_owned(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "DIRECT_BYTES", 0)
    manager = ExperimentManager(log_dir, capture_environment=False)
    for _ in range(2):
        manager.start_experiment("cfg", {}, {}, "exp")
        for step in range(20_000):  # long curves: the store keeps columns files
            manager.log({"loss": step / 7}, step=step)
        manager.end_experiment()
    manager.store.flush("exp")
    columns = log_dir / ".expm" / "columns" / "exp"
    manager.version_table("exp")
    manager.store.read_metric("exp", "loss", "step")
    assert any(p.name.startswith("1.") for p in columns.iterdir())
    size_before = (log_dir / "exp.json").stat().st_size
    manager.remove("exp", 1)
    manager.gc(older_than_days=0)
    assert not [p for p in columns.iterdir() if p.name.startswith("1.")]
    assert not list((log_dir / ".expm" / "journals" / "exp").glob("1.*"))
    assert not list((log_dir / ".expm" / "versions" / "exp").glob("1.*"))
    assert (log_dir / "exp.json").stat().st_size < size_before * 0.6
    history = json.loads((log_dir / "exp.json").read_text())
    assert [v.get("purged_at") is not None for v in history["versions"]] == [True, False]
    assert len(manager.read_history("exp")[0]["metrics"]["loss"]) == 20_000


def test_an_old_index_is_rebuilt_with_the_names(log_dir: Path) -> None:
    sweep(log_dir, 2)
    index = log_dir / ".expm" / "index" / "exp.json"
    lines = index.read_bytes().split(b"\n")
    header = json.loads(lines[0])
    header["format"] = 4  # as the previous library wrote it: no names in it
    index.write_bytes(b"\n".join([json.dumps(header).encode(), *lines[1:]]))
    fresh = ExperimentManager(log_dir)
    assert versions(fresh.search("name = 'cfg'")) == [1, 2]
    assert fresh.version_table("exp").name == ["cfg", "cfg"]


def run(log_dir: Path, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--log-dir", str(log_dir), *args], input=input)
    return result.exit_code, result.stdout, result.stderr


def test_cli_curation_commands(log_dir: Path) -> None:
    sweep(log_dir)
    assert run(log_dir, "tag", "exp@1-2", "best", "sweep")[0] == 0
    assert run(log_dir, "untag", "exp@2", "sweep")[1] == "exp@2: best\n"
    assert run(log_dir, "rename", "exp@3", "high-lr")[1] == "exp@3: high-lr\n"
    assert run(log_dir, "note", "exp@3", "-", input="from stdin\n")[0] == 0
    assert run(log_dir, "note", "exp@3")[1] == "from stdin\n"
    code, out, _ = run(log_dir, "history", "exp")
    assert out.splitlines()[0].split()[:4] == ["VERSION", "NAME", "TAGS", "STATUS"]
    assert "high-lr" in out
    assert "best,sweep" in out
    code, out, _ = run(log_dir, "search", "tags contains 'best'")
    assert code == 0
    assert len(out.splitlines()) == 3
    assert run(log_dir, "search", "name = 'high-lr'", "--json")[1].count('"version": 3') == 1

    assert run(log_dir, "archive", "exp@4")[1] == "exp: archived 4\n"
    assert "high-lr" in run(log_dir, "history", "exp")[1]
    assert len(run(log_dir, "history", "exp")[1].splitlines()) == 4
    out = run(log_dir, "history", "exp", "--all")[1]
    assert len(out.splitlines()) == 5
    assert "(archived)" in out
    assert run(log_dir, "unarchive", "exp")[1] == "exp: unarchived 4\n"

    assert run(log_dir, "rm", "exp@2")[0] == 0
    assert "exp " not in run(log_dir, "history", "exp", "--all")[1].split("\n")[2]
    trash = json.loads(run(log_dir, "trash", "--json")[1])
    assert [(t["experiment_id"], t["version"]) for t in trash] == [("exp", 2)]
    assert "younger than 30 days" in run(log_dir, "gc")[1]
    assert run(log_dir, "restore", "exp@2")[1] == "exp: restored 2\n"
    assert run(log_dir, "rm", "exp@2")[0] == 0
    assert run(log_dir, "gc", "--now", "--dry-run")[1] == "Would empty exp@2\n"
    assert run(log_dir, "gc", "--now")[1] == "Emptied exp@2\n"
    assert run(log_dir, "trash")[1] == "The trash is empty.\n"
    code, _, err = run(log_dir, "restore", "exp@2")
    assert code == 1
    assert "version 2" in err


def test_cli_search_shows_tags_whenever_a_match_has_them(log_dir: Path) -> None:
    sweep(log_dir)
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.add_tags("exp", 2, ["best", "seed-1"])
    manager.set_name("exp", 3, "high-lr")
    code, out, _ = run(log_dir, "search", "hp.lr >= 0.1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["EXPERIMENT", "VERSION", "NAME", "TAGS", "STATUS"]
    assert lines[0].split()[-1] == "hyperparameters.lr"
    rows = {line.split()[1]: line.split()[2:4] for line in lines[1:]}
    assert rows == {"2": ["cfg", "best,seed-1"], "3": ["high-lr", "-"], "4": ["cfg", "-"]}
    # A query on tags gets the one TAGS column, not a second "tags" one.
    out = run(log_dir, "search", "tags contains 'best'")[1]
    assert out.splitlines()[0].split()[:4] == ["EXPERIMENT", "VERSION", "NAME", "TAGS"]
    assert out.splitlines()[0].lower().count("tags") == 1
    # No match has tags: no TAGS column.
    out = run(log_dir, "search", "hp.lr > 0.25")[1]
    assert out.splitlines()[0].split()[:4] == ["EXPERIMENT", "VERSION", "NAME", "STATUS"]


def test_cli_refuses_bad_references(log_dir: Path) -> None:
    sweep(log_dir, 1)
    code, _, err = run(log_dir, "tag", "exp", "best")
    assert code == 2
    assert "names no version" in err
    code, _, err = run(log_dir, "rename", "exp@1-2", "x")
    assert code == 2
    assert "more than one version" in err
    code, _, err = run(log_dir, "tag", "exp@1", "two words")
    assert code != 0
    assert "spaces" in err
    code, _, err = run(log_dir, "rm", "exp@7")
    assert code == 1
    assert "version 7" in err


def test_the_usage_example_runs() -> None:
    usage = (Path(__file__).resolve().parent.parent / "docs" / "usage.md").read_text("utf-8")
    section = usage.split("## Names, tags, notes, archive and trash")[1]
    block = section.split("```python\n")[1].split("```")[0]
    exec(compile(block, "docs/usage.md", "exec"), {})


def test_plot_legends_show_names_and_leave_archived_versions_out(log_dir: Path) -> None:
    manager = sweep(log_dir, 3)
    manager.set_name("exp", 2, "wide-net")
    manager.archive("exp", 3)
    code, out, err = run(log_dir, "plot", "exp", "-m", "loss", "-w", "10")
    assert code == 0, err
    labels = [line.split("  ")[0].strip() for line in out.splitlines()[1:]]
    assert labels == ["v1", "v2 wide-net"]
    code, out, _ = run(log_dir, "plot", "exp", "-m", "loss", "-w", "10", "--all")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["v1", "v2", "v3"]
