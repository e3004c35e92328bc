"""Importing MLflow runs: a file store and a SQLite database written by MLflow itself."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import DEFAULT_METADATA, ExperimentManager
from experiment_manager.errors import InvalidArgumentError, InvalidExperimentIdError
from experiment_manager.importers import ImportReport, import_mlflow
from experiment_manager.importers._common import iso
from experiment_manager.stores.base import Store
from experiment_manager.stores.memory import MemoryStore
from tests._import_sources import require, tree_digest, write_source

STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed", "RUNNING": "crashed"}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[Any]]]:
    """``file`` and ``sqlite``: the source and what MlflowClient reads back from it."""
    require("mlflow")
    root = tmp_path_factory.mktemp("mlflow")
    file_runs = write_source(
        "mlflow_writer.py",
        (root / "mlruns").as_uri(),
        root / "artifacts-file",
        root / "file.json",
        env={"MLFLOW_ALLOW_FILE_STORE": "true"},
    )
    db_runs = write_source(
        "mlflow_writer.py",
        f"sqlite:///{root / 'mlflow.db'}",
        root / "artifacts-db",
        root / "db.json",
    )
    return {"file": (root / "mlruns", file_runs), "sqlite": (root / "mlflow.db", db_runs)}


def _history(store: Store, experiment_id: str) -> list[dict[str, Any]]:
    return store.read_history(experiment_id)


def _same_number(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def check_version(version: dict[str, Any], run: dict[str, Any], source: Path) -> None:
    """Every field MLflow has for the run, read back from the imported version."""
    assert version["config_name"] == run["name"]
    assert version["status"] == STATUS[run["status"]]
    assert version["created_at"] == iso(run["start_time"] / 1000)
    if run["status"] == "RUNNING":
        assert version["ended_at"] is None
        assert version["duration"] is None
    else:
        assert version["ended_at"] == iso(run["end_time"] / 1000)
        assert version["duration"] == pytest.approx((run["end_time"] - run["start_time"]) / 1000)
    # Params: the text MLflow keeps is str() of the imported value, always.
    assert set(version["hyperparameters"]) == set(run["params"])
    for key, text in run["params"].items():
        assert str(version["hyperparameters"][key]) == text, key
    assert version["metadata"] == {**DEFAULT_METADATA, **run["tags"]}
    assert set(version["metrics"]) == set(run["metrics"])
    for key, points in run["metrics"].items():
        values = version["metrics"][key]
        assert len(values) == len(points), key
        assert all(_same_number(v, p[0]) for v, p in zip(values, points, strict=True)), key
        assert version["steps"][key] == [p[1] for p in points], key
        assert [round(t * 1000) for t in version["timestamps"][key]] == [p[2] for p in points]
    assert version["checkpoints"] == run["artifacts"]
    assert [d["abspath"] for d in version["checkpoint_details"]] == run["artifacts"]
    assert all(d["exists"] for d in version["checkpoint_details"])
    origin = version["imported_from"]
    assert origin["tool"] == "mlflow"
    assert origin["source"] == str(source)
    assert origin["run_id"] == run["run_id"]
    assert origin["experiment"] == run["experiment"]
    assert origin["status"] == run["status"]


@pytest.fixture(params=["folder", "memory", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """Every backend: the import goes through the store interface only."""
    if request.param == "memory":
        return MemoryStore()
    if request.param == "postgres":
        return ExperimentManager(request.getfixturevalue("postgres_uri")).store
    return ExperimentManager(tmp_path / "logs").store


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_every_field_of_every_run_reads_back(
    sources: dict[str, tuple[Path, list[Any]]], kind: str, target: Store
) -> None:
    source, runs = sources[kind]
    report = import_mlflow(source, store=target)
    assert report.ok
    assert not report.skipped
    assert len(report.imported) == len(runs) == 5  # the deleted run is left out
    assert target.experiment_ids() == ["Vision-baseline", "other-exp-2"]
    by_id = {run["run_id"]: run for run in runs}
    baseline = _history(target, "Vision-baseline")
    # Versions in start-time order.
    assert [v["config_name"] for v in baseline] == [
        "resnet-b",
        "resnet-a",
        "resnet-c",
        "still-running",
    ]
    for version in [*baseline, *_history(target, "other-exp-2")]:
        check_version(version, by_id[version["imported_from"]["run_id"]], source)
    first = next(v for v in baseline if v["config_name"] == "resnet-a")
    # The lossless parse: numbers and bools where str() gives the text back, else text.
    assert first["hyperparameters"] == {
        "lr": 0.01,
        "batch_size": 32,
        "optimizer": "adam",
        "eps": 1e-08,
        "use_amp": True,
        "padded": "007",
    }
    assert first["environment"]["git"]["commit"] == "abc123"
    assert len(first["metrics"]["loss"]) == 51
    assert first["steps"]["loss"][-1] == 1000
    assert math.isnan(first["metrics"]["val_loss"][0])
    assert [Path(p).name for p in first["checkpoints"]] == ["model.pt", "model.pt"]


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_reimport_adds_nothing_and_source_is_unchanged(
    sources: dict[str, tuple[Path, list[Any]]], kind: str, tmp_path: Path
) -> None:
    source, _ = sources[kind]
    before = tree_digest(source.parent)
    manager = ExperimentManager(tmp_path / "logs")
    first = import_mlflow(source, tmp_path / "logs")
    history = json.dumps(manager.read_history("Vision-baseline"))  # NaN compares as text
    again = import_mlflow(source, tmp_path / "logs")
    assert again.imported == []
    assert again.ok
    assert sorted(s["run_id"] for s in again.skipped) == sorted(i["run_id"] for i in first.imported)
    assert {s["version"] for s in again.skipped if s["experiment_id"] == "Vision-baseline"} == {
        1,
        2,
        3,
        4,
    }
    assert json.dumps(manager.read_history("Vision-baseline")) == history
    assert tree_digest(source.parent) == before  # nothing written, no journal left beside it


def test_both_stores_into_one_experiment_id(
    sources: dict[str, tuple[Path, list[Any]]], tmp_path: Path
) -> None:
    report = import_mlflow(sources["file"][0], tmp_path, experiment_id="all-runs")
    assert {item["experiment_id"] for item in report.imported} == {"all-runs"}
    other = import_mlflow(sources["sqlite"][0], tmp_path, experiment_id="all-runs")
    assert [item["version"] for item in other.imported] == [6, 7, 8, 9, 10]
    assert ExperimentManager(tmp_path).store.experiment_ids() == ["all-runs"]
    with pytest.raises(InvalidExperimentIdError):
        import_mlflow(sources["file"][0], tmp_path, experiment_id="../up")


def test_dry_run_reads_everything_and_writes_nothing(
    sources: dict[str, tuple[Path, list[Any]]], tmp_path: Path
) -> None:
    report = import_mlflow(sources["sqlite"][0], tmp_path / "logs", dry_run=True)
    assert report.dry_run
    assert len(report.imported) == 5
    assert not (tmp_path / "logs").exists()
    real = import_mlflow(sources["sqlite"][0], tmp_path / "logs")
    assert [(i["experiment_id"], i["version"], i["points"]) for i in real.imported] == [
        (i["experiment_id"], i["version"], i["points"]) for i in report.imported
    ]


def test_damaged_runs_are_reported_and_the_rest_import(
    sources: dict[str, tuple[Path, list[Any]]], tmp_path: Path
) -> None:
    source = tmp_path / "mlruns"
    shutil.copytree(sources["file"][0], source)
    runs = {run["name"]: run for run in sources["file"][1]}
    metric_run = next(source.glob(f"*/{runs['resnet-a']['run_id']}"))
    with open(metric_run / "metrics" / "loss", "a") as file:
        file.write("this is not a point\n")
    meta_run = next(source.glob(f"*/{runs['resnet-b']['run_id']}"))
    (meta_run / "meta.yaml").write_text("run_id: [unclosed\n")
    before = tree_digest(source)
    report = import_mlflow(source, tmp_path / "logs")
    assert not report.ok
    failed = {item["path"]: item["reason"] for item in report.failed}
    assert set(failed) == {str(metric_run), str(meta_run)}
    assert "not 'timestamp value [step]'" in failed[str(metric_run)]
    assert sorted(i["name"] for i in report.imported) == ["other-run", "resnet-c", "still-running"]
    assert tree_digest(source) == before
    # Once repaired, the runs that failed import and the others are skipped.
    shutil.rmtree(source)
    shutil.copytree(sources["file"][0], source)
    again = import_mlflow(source, tmp_path / "logs")
    assert sorted(i["name"] for i in again.imported) == ["resnet-a", "resnet-b"]
    assert len(again.skipped) == 3


def test_a_source_that_is_not_mlflow_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    with pytest.raises(InvalidArgumentError, match="neither an mlruns/ folder"):
        import_mlflow(junk, tmp_path / "logs")
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        import_mlflow(tmp_path / "missing", tmp_path / "logs")
    assert not (tmp_path / "logs").exists()


def test_report_is_plain_json(sources: dict[str, tuple[Path, list[Any]]]) -> None:
    report = import_mlflow(sources["file"][0], store=MemoryStore())
    data = report.to_dict()
    assert isinstance(report, ImportReport)
    assert data["ok"] is True
    assert data["tool"] == "mlflow"
    assert {"experiment_id", "version", "run_id", "path", "points", "notes"} <= set(
        data["imported"][0]
    )


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[Any]]]:
    """Runs with a name and a note, and a SCHEDULED run, in a file store and a database."""
    require("mlflow")
    root = tmp_path_factory.mktemp("mlflow-curated")
    file_runs = write_source(
        "mlflow_curation_writer.py",
        (root / "mlruns").as_uri(),
        root / "file.json",
        env={"MLFLOW_ALLOW_FILE_STORE": "true"},
    )
    db_runs = write_source(
        "mlflow_curation_writer.py", f"sqlite:///{root / 'mlflow.db'}", root / "db.json"
    )
    return {"file": (root / "mlruns", file_runs), "sqlite": (root / "mlflow.db", db_runs)}


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_run_name_and_note_are_the_versions_name_and_note(
    curated: dict[str, tuple[Path, list[Any]]], kind: str, tmp_path: Path
) -> None:
    source, runs = curated[kind]
    import_mlflow(source, tmp_path)
    manager = ExperimentManager(tmp_path)
    noted, queued, unnamed = manager.read_history("curated")
    # Stored as a version started with a name (and given a note) stores them.
    made = ExperimentManager(tmp_path / "made")
    made.start_experiment("noted", {}, {}, name="noted")
    made.set_note("noted", 1, runs[0]["tags"]["mlflow.note.content"])
    made.end_experiment()
    [reference] = made.read_history("noted")
    for key in ("name", "note"):
        assert noted[key] == reference[key], key
    assert [e["action"] for e in noted["events"]] == [e["action"] for e in reference["events"]]
    assert noted["note"] == "lr too high\nrerun with 0.01"
    assert "tags" not in noted  # MLflow's tags are key-value pairs: metadata, as before
    assert noted["metadata"]["mlflow.note.content"] == noted["note"]
    assert manager.set_name("curated", 1, "renamed")["events"][-1]["action"] == "rename"
    # MLflow names every run (a made-up name when none is given): that is its name too.
    assert unnamed["name"] == unnamed["config_name"] == runs[2]["name"]
    assert "note" not in unnamed
    assert queued["name"] == "queued"


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_a_scheduled_run_reads_as_crashed(
    curated: dict[str, tuple[Path, list[Any]]], kind: str
) -> None:
    source, runs = curated[kind]
    assert runs[1]["status"] == "SCHEDULED"  # as MLflow reads it back
    store = MemoryStore()
    import_mlflow(source, store=store)
    queued = next(v for v in store.read_history("curated") if v["config_name"] == "queued")
    assert queued["status"] == "crashed"
    assert queued["imported_from"]["status"] == "SCHEDULED"
    assert queued["ended_at"] is None
    assert queued["duration"] is None


def test_reimport_into_postgres_adds_nothing(
    sources: dict[str, tuple[Path, list[Any]]], postgres_uri: str
) -> None:
    source, runs = sources["file"]
    store = ExperimentManager(postgres_uri).store
    first = import_mlflow(source, store=store)
    assert len(first.imported) == len(runs)
    history = {eid: json.dumps(store.read_history(eid)) for eid in store.experiment_ids()}
    latest = {eid: store.latest_version(eid) for eid in store.experiment_ids()}
    again = import_mlflow(source, postgres_uri)  # a new connection, as a later run makes
    assert again.imported == []
    assert sorted(s["run_id"] for s in again.skipped) == sorted(r["run_id"] for r in runs)
    fresh = ExperimentManager(postgres_uri).store
    assert {eid: fresh.latest_version(eid) for eid in fresh.experiment_ids()} == latest
    assert {eid: json.dumps(fresh.read_history(eid)) for eid in fresh.experiment_ids()} == history


def test_a_version_removed_and_emptied_is_imported_again(
    sources: dict[str, tuple[Path, list[Any]]], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from experiment_manager.cli import main

    source, runs = sources["file"]
    before = tree_digest(source.parent)
    logs = ["--log-dir", str(tmp_path / "logs")]

    def expm(*args: str) -> Any:
        result = CliRunner().invoke(main, [*logs, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    expm("import", "mlflow", str(source))
    manager = ExperimentManager(tmp_path / "logs")
    removed = manager.get_version("Vision-baseline", 2)
    expm("rm", "Vision-baseline@2")
    # In the trash it is still there (restorable): an import skips it.
    assert "5 already imported" in expm("import", "mlflow", str(source)).stdout
    expm("gc", "--now")
    again = import_mlflow(source, tmp_path / "logs")
    assert [(i["run_id"], i["version"]) for i in again.imported] == [
        (removed["imported_from"]["run_id"], 5)  # a new number: 2 is never reused
    ]
    assert len(again.skipped) == len(runs) - 1
    back = manager.get_version("Vision-baseline", 5)
    for key in ("config_name", "hyperparameters", "metrics", "steps", "status"):
        assert json.dumps(back[key]) == json.dumps(removed[key]), key
    assert tree_digest(source.parent) == before  # gc removed none of the source's files
