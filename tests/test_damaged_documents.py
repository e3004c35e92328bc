"""A generated corpus of damaged history documents, through every reader.

Each case sets one field of the format to a wrong JSON type (or nests it deep, or
makes it huge) in an otherwise healthy history. Every reader must then either work
(the value is one the format allows) or raise ``CorruptHistoryError`` naming the file;
never an internal exception. The CLI answers exit code 3 with one line naming the
file, and the dashboard an error answer with no traceback or absolute path.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from experiment_manager import ExperimentManager
from experiment_manager.cli import main as cli_main
from experiment_manager.doctor import doctor
from experiment_manager.errors import (
    CorruptHistoryError,
    ExperimentNotFoundError,
    NotAHistoryError,
)

warnings.filterwarnings("ignore", message=".*httpx.*")  # TestClient's deprecation note
from starlette.testclient import TestClient  # noqa: E402

from experiment_manager.web import create_app  # noqa: E402

WRONG_VALUES: list[Any] = [None, True, -1, 1.5, -1e308, 2**64 - 1, "", "x", [], ["x"], {"a": 1}]
_FREE_FORM = ("hyperparameters", "metadata", "environment")
_DEEP = "__DEEP__"
_HUGE = "__HUGE__"


def _healthy_document(tmp: Path) -> dict[str, Any]:
    """A history whose version 1 uses every field of the format."""
    manager = ExperimentManager(tmp, capture_environment=True)
    checkpoint = tmp / "model.bin"
    checkpoint.write_bytes(b"weights")
    try:
        with manager.experiment("bad", {"lr": 0.1}, experiment_id="bad"):
            manager.log({"loss": 1.0, "acc": 0.5}, step=0)
            manager.log({"loss": 0.5, "acc": 0.6}, step=1)
            manager.log_metrics({"loss": [0.4]})
            manager.add_checkpoint(str(checkpoint), step=1, metrics={"loss": 0.5})
            raise RuntimeError("boom")  # the version ends failed, with an error
    except RuntimeError:
        pass
    manager.resume_experiment("bad")
    manager.log({"loss": 0.3}, step=2)
    manager.end_experiment()
    with manager.experiment("bad", {"lr": 0.2}, experiment_id="bad"):
        manager.log({"loss": 0.7}, step=0)
    document: dict[str, Any] = json.loads((tmp / "bad.json").read_text())
    return document


def _paths(document: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Every field of version 1 (and a few of the document) as a path of keys."""
    record = document["versions"][0]
    yield ("format",)
    yield ("experiment_id",)
    yield ("versions",)
    yield ("versions", 0)
    for key, value in record.items():
        yield ("versions", 0, key)
        if isinstance(value, dict):
            # Free-form objects: one key stands for all (their values may be anything).
            inner_keys = list(value)[:1] if key in _FREE_FORM else list(value)
            for inner in inner_keys:
                item = value[inner]
                yield ("versions", 0, key, inner)
                if isinstance(item, list) and item:
                    yield ("versions", 0, key, inner, 0)
        elif isinstance(value, list) and value:
            yield ("versions", 0, key, 0)
            if isinstance(value[0], dict):
                for inner in value[0]:
                    yield ("versions", 0, key, 0, inner)


def _cases() -> list[tuple[tuple[Any, ...], Any]]:
    import tempfile

    document = _healthy_document(Path(tempfile.mkdtemp()))
    cases = [(path, value) for path in _paths(document) for value in WRONG_VALUES]
    for field in ("hyperparameters", "metadata", "environment", "error", "resumed"):
        cases.append((("versions", 0, field), _DEEP))
    cases.append((("versions", 0, "checkpoint_details", 0, "metrics"), _DEEP))
    for path in (("versions", 0, "hyperparameters", "lr"), ("versions", 0, "duration")):
        cases.append((path, _HUGE))
    return cases


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _healthy_document(tmp_path_factory.mktemp("healthy"))


def _write(log_dir: Path, document: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    damaged = copy.deepcopy(document)
    target: Any = damaged
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    text = json.dumps(damaged)
    text = text.replace(json.dumps(_DEEP), '{"a": ' * 1000 + "1" + "}" * 1000)
    text = text.replace(json.dumps(_HUGE), "1" * 5000)
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "bad.json").write_text(text)


def _good(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    with manager.experiment("good", {"lr": 0.1}, experiment_id="good"):
        manager.log({"loss": 0.5})


def _readers(manager: ExperimentManager, tmp: Path) -> dict[str, Callable[[], Any]]:
    return {
        "read_history": lambda: manager.read_history("bad"),
        "list_versions": lambda: manager.list_versions("bad"),
        "version_table": lambda: manager.version_table("bad"),
        "get_version": lambda: manager.get_version("bad", 1),
        "best": lambda: manager.best("bad", "loss"),
        "compare": lambda: manager.compare("bad", [1, 2]),
        "search": lambda: manager.search("metrics.loss.min < 10", experiment_id="bad"),
        "verify_checkpoints": lambda: manager.verify_checkpoints("bad", 1),
        "best_checkpoint": lambda: manager.best_checkpoint("loss", experiment_id="bad"),
        "export": lambda: manager.export(tmp / "out.csv", "csv", experiment_id="bad"),
        "export_long": lambda: manager.export(
            tmp / "out.jsonl", "jsonl", experiment_id="bad", shape="long"
        ),
    }


CASES = _cases()


@pytest.mark.parametrize(
    ("path", "value"),
    CASES,
    ids=[f"{'.'.join(map(str, p))}={str(v)[:12]}" for p, v in CASES],
)
def test_a_damaged_field_is_a_corrupt_history_or_harmless(
    tmp_path: Path, healthy: dict[str, Any], path: tuple[Any, ...], value: Any
) -> None:
    log_dir = tmp_path / "logs"
    _write(log_dir, healthy, path, value)
    _good(log_dir)
    manager = ExperimentManager(log_dir, capture_environment=False)
    refused = []
    for name, call in _readers(manager, tmp_path).items():
        try:
            call()
        except CorruptHistoryError as error:
            refused.append((name, error.path))
        except ExperimentNotFoundError:
            pass  # the damage took the version away (e.g. `versions` set to [])
        # Anything else escapes and fails the test: an internal error.
    listing = {entry["experiment_id"]: entry for entry in manager.list_experiments()}
    assert listing["good"]["versions"] == 1  # one bad file never hides the others
    found = manager.search("metrics.loss.min < 10")
    assert found[-1]["experiment_id"] in ("bad", "good")
    if refused:
        # Refused by one reader, refused by all: validated once, where it is parsed.
        assert len(refused) == len(_readers(manager, tmp_path)), refused
        assert {path for _, path in refused} == {log_dir / "bad.json"}
        assert "error" in listing["bad"]
        # The search over everything skips it, and says so as the listing does.
        assert [r["experiment_id"] for r in found] == ["good"]
        assert found.damaged == [{"experiment_id": "bad", "error": listing["bad"]["error"]}]
        assert "bad.json" in found.damaged[0]["error"]
    else:
        assert "error" not in listing.get("bad", {})
        assert found.damaged == []


# The CLI and the dashboard, on a sample of refused cases.
_SAMPLE = [
    (("versions", 0, "timestamps", "loss", 0), "x"),
    (("versions", 0, "checkpoint_details", 0), 3),
    (("versions", 0, "checkpoint_details"), "x"),
    (("versions", 0, "hyperparameters"), _DEEP),
    (("versions", 0, "created_at"), "yesterday"),
    (("versions", 0, "status"), 7),
    (("versions", 0, "steps", "loss", 0), -1),
]


@pytest.mark.parametrize(("path", "value"), _SAMPLE)
def test_the_cli_names_the_damaged_file_in_one_line_and_exits_3(
    tmp_path: Path, healthy: dict[str, Any], path: tuple[Any, ...], value: Any
) -> None:
    log_dir = tmp_path / "logs"
    _write(log_dir, healthy, path, value)
    _good(log_dir)
    runner = CliRunner()
    for args in (
        ["show", "bad"],
        ["history", "bad"],
        ["diff", "bad", "1", "2"],
        ["plot", "bad", "-m", "loss"],
    ):
        result = runner.invoke(cli_main, ["--log-dir", str(log_dir), *args])
        assert result.exit_code == 3, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, (args, result.output)
        assert lines[0].startswith("error: corrupt history file")
        assert "bad.json" in lines[0]
        assert "Traceback" not in result.output
    result = runner.invoke(cli_main, ["--log-dir", str(log_dir), "ls"])
    assert result.exit_code == 3
    assert "good" in result.output
    assert "corrupt" in result.output
    result = runner.invoke(cli_main, ["--log-dir", str(log_dir), "search", "status = 'finished'"])
    assert result.exit_code == 3
    assert "good" in result.stdout  # the healthy match is shown
    assert "bad" not in result.stdout
    warnings = result.stderr.splitlines()
    assert len(warnings) == 2, result.stderr  # one line for the file, one to sum up
    assert warnings[0].startswith("warning: skipped bad: corrupt history file 'bad.json'")
    assert warnings[1].startswith("warning: 1 history file(s) cannot be read")
    assert str(log_dir) not in result.stderr


@pytest.mark.parametrize(("path", "value"), _SAMPLE)
def test_the_dashboard_answers_an_error_without_internals(
    tmp_path: Path, healthy: dict[str, Any], path: tuple[Any, ...], value: Any
) -> None:
    log_dir = tmp_path / "logs"
    _write(log_dir, healthy, path, value)
    _good(log_dir)
    client = TestClient(
        create_app(log_dir, allowed_hosts=["testserver"]), raise_server_exceptions=False
    )
    listing = client.get("/api/experiments")
    assert listing.status_code == 200
    entries = {e["experiment_id"]: e for e in listing.json()["experiments"]}
    assert entries["good"]["versions"] == 1
    assert "error" in entries["bad"]
    searched = client.get("/api/search", params={"q": "status = 'finished'"})
    assert searched.status_code == 200
    body = searched.json()
    assert [r["experiment_id"] for r in body["results"]] == ["good"]
    assert body["damaged"] == [{"experiment_id": "bad", "error": entries["bad"]["error"]}]
    assert body["damaged"][0]["error"].startswith("corrupt history file 'bad.json'")
    assert str(log_dir) not in searched.text
    for url in (
        "/api/experiments/bad",
        "/api/experiments/bad/versions/1",
        "/api/experiments/bad/versions/1/points",
        "/api/experiments/bad/series?metric=loss",
        "/api/experiments/bad/compare?versions=1,2",
    ):
        answer = client.get(url)
        assert 400 <= answer.status_code < 600, url
        assert "Traceback" not in answer.text, url
        assert str(log_dir) not in answer.text, url
        assert "error" in answer.json(), url


def test_a_stray_json_file_is_not_a_history(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    _good(log_dir)
    (log_dir / "config.json").write_text('{"lr": 0.1, "batch_size": 32}')
    (log_dir / "labels.json").write_text('["cat", "dog"]')
    (log_dir / "junk.json").write_bytes(b"\x00\x00\x00")  # damage, not some other tool's file
    manager = ExperimentManager(log_dir, capture_environment=False)
    listing = {entry["experiment_id"]: entry for entry in manager.list_experiments()}
    assert listing["config"]["foreign"] is True
    assert listing["labels"]["foreign"] is True
    assert "not a history" in listing["config"]["error"]
    assert "foreign" not in listing["junk"]
    # A search skips them all; only the damaged one is reported (the others are no history).
    found = manager.search()
    assert [r["experiment_id"] for r in found] == ["good"]
    assert [d["experiment_id"] for d in found.damaged] == ["junk"]
    with pytest.raises(NotAHistoryError, match="not a history"):
        manager.read_history("config")
    report = doctor(log_dir)
    assert sorted(Path(item["path"]).name for item in report.foreign) == [
        "config.json",
        "labels.json",
    ]
    assert [Path(item["path"]).name for item in report.corrupt] == ["junk.json"]
    (log_dir / "junk.json").unlink()
    report = doctor(log_dir)
    assert report.healthy
    assert report.histories == 1
    assert (log_dir / "config.json").read_text() == '{"lr": 0.1, "batch_size": 32}'
    runner = CliRunner()
    result = runner.invoke(cli_main, ["--log-dir", str(log_dir), "ls"])
    assert result.exit_code == 0, result.output
    assert "good" in result.output
    assert "skipped 'config.json' is not a history" in result.output
    assert "corrupt" not in result.output
    result = runner.invoke(cli_main, ["--log-dir", str(log_dir), "search"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli_main, ["--log-dir", str(log_dir), "doctor"])
    assert result.exit_code == 0, result.output
    assert "Not histories" in result.output
    assert "config.json" in result.output
    result = runner.invoke(cli_main, ["--log-dir", str(log_dir), "show", "config"])
    assert result.exit_code == 1, result.output
    assert "not a history" in result.output
