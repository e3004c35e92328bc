"""Importing W&B offline runs written by wandb itself, whole and truncated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from experiment_manager import DEFAULT_METADATA, ExperimentManager
from experiment_manager.cli import main
from experiment_manager.importers import import_wandb
from tests._import_sources import require, tree_digest, write_source


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A folder with two offline runs: one that finished, one that exited with code 1."""
    require("wandb")
    root = tmp_path_factory.mktemp("wandb")
    expected = write_source("wandb_writer.py", root / "project", root / "expected.json")
    return root / "project", expected


def check_version(version: dict[str, Any], run: dict[str, Any]) -> None:
    assert version["config_name"] == run["name"]
    assert version["hyperparameters"] == run["config"]
    metadata = version["metadata"]
    assert {k: metadata[k] for k in DEFAULT_METADATA} == dict(DEFAULT_METADATA)
    assert metadata["wandb.project"] == "vision sweep"
    assert metadata["wandb.tags"] == ["baseline", "v2"]
    assert metadata["wandb.notes"] == "a note"
    assert metadata["wandb.group"] == "g1"
    assert metadata["wandb.job_type"] == "train"
    assert metadata["summary"]["best_acc"] == run["summary"]["best_acc"]
    names = {name for row in run["history"] for name in row["values"]}
    assert set(version["metrics"]) == names  # the text column is not a metric
    for name in names:
        rows = [row for row in run["history"] if name in row["values"]]
        assert version["metrics"][name] == [row["values"][name] for row in rows], name
        assert version["steps"][name] == [row["step"] for row in rows], name
        for time, row in zip(version["timestamps"][name], rows, strict=True):
            assert row["time"][0] - 0.01 <= time <= row["time"][1] + 0.01, name
    assert [Path(p).name for p in version["checkpoints"]] == run["files"]
    assert all(Path(p).exists() for p in version["checkpoints"])
    assert version["imported_from"]["tool"] == "wandb"
    assert version["imported_from"]["run_id"] == run["run_id"]
    # The run's name, tags and notes are the version's own (as `expm tag` etc. set them).
    assert version["name"] == run["name"]
    assert version["tags"] == ["baseline", "v2"]
    assert version["note"] == "a note"
    assert [e["action"] for e in version["events"]] == ["rename", "tag", "note"]


def test_every_row_config_summary_and_status_read_back(
    source: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    folder, runs = source
    before = tree_digest(folder)
    report = import_wandb(folder, tmp_path)
    assert report.ok
    # The text column of every row is left out, and counted.
    assert [i["left_out"] for i in report.imported] == [{"caption": 40}, {"caption": 5}]
    assert [(i["experiment_id"], i["name"]) for i in report.imported] == [
        ("vision-sweep", "good"),
        ("vision-sweep", "broken"),
    ]
    history = ExperimentManager(tmp_path).read_history("vision-sweep")
    for version, run in zip(history, runs, strict=True):
        check_version(version, run)
    good, broken = history
    assert good["status"] == "finished"
    assert good["error"] is None
    assert broken["status"] == "failed"
    assert broken["error"] == {"type": "ExitCode", "message": "the run exited with code 1"}
    assert good["created_at"] < good["ended_at"]
    assert len(good["metrics"]["loss"]) == 40
    assert tree_digest(folder) == before


def test_truncated_file_imports_what_is_readable(
    source: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(source[0], folder, symlinks=True)
    good = source[1][0]
    file = next(folder.glob(f"wandb/*-{good['run_id']}/run-{good['run_id']}.wandb"))
    data = file.read_bytes()
    rows = data.index(b"loss")  # the first row, after the run record (which spans blocks)
    assert rows > 2 * 32 * 1024
    file.write_bytes(data[: rows + (len(data) - rows) // 2])
    report = import_wandb(folder, tmp_path / "logs")
    assert report.ok
    cut = next(i for i in report.imported if i["name"] == "good")
    assert len(cut["notes"]) == 1
    assert str(file) in cut["notes"][0]
    assert "bytes unread" in cut["notes"][0]
    assert cut["status"] == "crashed"  # no exit record was read
    version = ExperimentManager(tmp_path / "logs").get_version("vision-sweep", cut["version"])
    rows = good["history"]
    kept = version["metrics"]["loss"]
    assert 0 < len(kept) < len(rows)
    assert kept == [row["values"]["loss"] for row in rows[: len(kept)]]
    assert version["hyperparameters"] == good["config"]


def test_reimport_skips_and_junk_is_reported(
    source: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(source[0], folder, symlinks=True)
    import_wandb(folder, tmp_path / "logs")
    history = json.dumps(ExperimentManager(tmp_path / "logs").read_history("vision-sweep"))
    junk = folder / "wandb" / "offline-run-20260101_000000-junk0000"
    junk.mkdir()
    (junk / "run-junk0000.wandb").write_bytes(b"not a wandb file at all")
    again = import_wandb(folder, tmp_path / "logs")
    assert again.imported == []
    assert [s["version"] for s in again.skipped] == [1, 2]
    assert [f["path"] for f in again.failed] == [str(junk / "run-junk0000.wandb")]
    assert "no W&B header" in again.failed[0]["reason"]
    assert json.dumps(ExperimentManager(tmp_path / "logs").read_history("vision-sweep")) == history


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One offline run whose run record (it carries the config) is over 256 KiB."""
    require("wandb")
    root = tmp_path_factory.mktemp("wandb-big")
    expected = write_source("wandb_big_writer.py", root / "project", root / "expected.json")
    return root / "project", expected


def test_a_run_record_of_any_size_keeps_its_project(
    big: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, run = big
    [file] = folder.glob("wandb/offline-run-*/run-*.wandb")
    assert file.read_bytes().index(b"loss") > 256 * 1024  # the first row comes after it
    report = import_wandb(folder, tmp_path)
    assert report.ok
    [item] = report.imported
    assert item["experiment_id"] == "Big-Config"  # the project, read from the run record
    [version] = ExperimentManager(tmp_path).read_history("Big-Config")
    assert version["metadata"]["wandb.project"] == "Big Config"
    assert version["hyperparameters"] == run["config"]
    assert version["metadata"]["summary"]["best"]["notes"] == "x" * 300_000
    assert version["metrics"]["loss"] == run["loss"]
    assert version["imported_from"]["experiment"] == "Big Config"


def test_values_that_are_not_numbers_are_counted_and_a_bad_tag_is_named(
    big: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, run = big
    result = CliRunner().invoke(
        main, ["--log-dir", str(tmp_path), "import", "wandb", str(folder)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    rid = run["run_id"]
    assert result.stderr.splitlines() == [
        f"warning: {rid}: tag 'has space' not kept: must not hold spaces or commas",
        f"note: {rid}: values that are not numbers left out: "
        "improved (12), missing (12), phase (12)",
    ]
    report = import_wandb(folder, tmp_path / "again", dry_run=True)
    assert report.imported[0]["left_out"] == {"improved": 12, "missing": 12, "phase": 12}
    [version] = ExperimentManager(tmp_path).read_history("Big-Config")
    assert set(version["metrics"]) == {"loss"}  # bools and text are no metric values here
    assert version["name"] == "big-run"
    assert version["tags"] == ["big", "v3"]
    assert version["metadata"]["wandb.tags"] == run["tags"]  # W&B's own, whole
    assert version["note"] == "first line\nsecond line"


def test_the_cli_warns_of_a_run_imported_in_part(
    source: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(source[0], folder, symlinks=True)
    good = source[1][0]
    file = next(folder.glob(f"wandb/*-{good['run_id']}/run-{good['run_id']}.wandb"))
    data = file.read_bytes()
    file.write_bytes(data[: len(data) - 100])
    result = CliRunner().invoke(
        main,
        ["--log-dir", str(tmp_path / "logs"), "import", "wandb", str(folder)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"warning: {good['run_id']}: {file}: ")
    assert f"of {len(data) - 100} bytes unread" in warnings[0]
    assert "  vision-sweep v1  good  (crashed, " in result.stdout
    again = CliRunner().invoke(
        main,
        ["--log-dir", str(tmp_path / "logs"), "import", "wandb", str(folder)],
        catch_exceptions=False,
    )
    assert "Imported 0 run(s)" in again.stdout
    assert "2 already imported" in again.stdout
    assert again.stderr == ""  # a run skipped is not read again, so nothing to warn of
