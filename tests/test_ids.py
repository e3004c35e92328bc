"""Experiment ids name files: hostile ids are refused, derived ids are always safe."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiment_manager import ExperimentManager
from experiment_manager.errors import InvalidExperimentIdError, SerializationError
from tests._util import tree

HOSTILE_IDS = [
    "",
    ".",
    "..",
    "../x",
    "../../x",
    "x/../../y",
    "a/b",
    "a\\b",
    "..\\x",
    "/etc/passwd",
    "/tmp/x",
    "C:\\Windows\\x",
    "C:x",
    "//server/share",
    "x\x00y",
    "\x00",
    ".hidden",
    ".expm",
    "-rf",
    "--help",
    "+x",
    "=x",
    "@x",
    "x.",
    "CON",
    "con",
    "nul.txt",
    "NUL",
    "COM1",
    "lpt9.log",
    "AUX",
    "PRN.json",
    "a" * 129,
    "a" * 300,
    "a\nb",
    "a\rb",
    "a\tb",
    "\x1b[31mred",
    "x\x7f",
    "a b",
    " leading",
    "trailing ",
    "~user",
    "$HOME",
    "a*b",
    "a?b",
    "a:b",
    "a|b",
    'a"b',
    "a<b>",
    "caf\u00e9",
    "\u5b9e\u9a8c",
    "x\u202ey",
    "\ufeffx",
    "x\u2028y",
    "\u2215etc\u2215passwd",
]
NON_STR_IDS: list[Any] = [5, b"abc", ["a"], Path("x"), 1.5]


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A work dir as cwd, inside tmp_path; the log dir is <tmp_path>/area/logs."""
    area = tmp_path / "area"
    (area / "cwd").mkdir(parents=True)
    monkeypatch.chdir(area / "cwd")
    return area


def _assert_rejected(call: Any, bad: Any) -> None:
    with pytest.raises(InvalidExperimentIdError) as caught:
        call()
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.experiment_id == bad
    assert repr(bad) in str(error)


@pytest.mark.parametrize("bad", HOSTILE_IDS + NON_STR_IDS, ids=repr)
def test_hostile_ids_are_refused_and_nothing_is_created(sandbox: Path, bad: Any) -> None:
    tmp_path = sandbox.parent
    parent_before = sorted(os.listdir(tmp_path.parent))
    tmp_path_before = tree(tmp_path)
    manager = ExperimentManager(sandbox / "logs")

    _assert_rejected(lambda: manager.start_experiment("cfg", {"lr": 0.1}, {}, bad), bad)
    _assert_rejected(lambda: manager.read_history(bad), bad)
    assert manager.active_experiment is None

    assert not (sandbox / "logs").exists()
    assert tree(tmp_path) == tmp_path_before
    assert sorted(os.listdir(tmp_path.parent)) == parent_before
    assert not Path("/etc/passwd.json").exists()


def test_hostile_ids_are_refused_when_the_log_dir_exists(sandbox: Path) -> None:
    manager = ExperimentManager(sandbox / "logs")
    manager.start_experiment("good", {}, {})
    manager.log_metrics({"loss": 1.0})
    before = tree(sandbox.parent)
    for bad in HOSTILE_IDS:
        _assert_rejected(lambda bad=bad: manager.start_experiment("cfg", {}, {}, bad), bad)
        _assert_rejected(lambda bad=bad: manager.read_history(bad), bad)
    assert tree(sandbox.parent) == before
    # The active experiment is still the last good one.
    assert manager.active_experiment is not None
    assert manager.active_experiment.experiment_id == "good"


@pytest.mark.parametrize(
    "good",
    ["a", "A-Z_09", "run.v2", "lr=0.1", "user@host", "a+b", "_private", "9lives", "a" * 128],
)
def test_safe_explicit_ids_are_used_unchanged(tmp_path: Path, good: str) -> None:
    manager = ExperimentManager(tmp_path / "logs")
    assert manager.start_experiment("cfg", {}, {}, good).experiment_id == good
    assert (tmp_path / "logs" / f"{good}.json").is_file()
    assert [e["experiment_id"] for e in manager.read_history(good)] == [good]


def _hashed(name: str) -> str:
    return "config-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]


@pytest.mark.parametrize(
    ("config_name", "expected"),
    [
        ("mnist_baseline", "mnist_baseline"),
        ("resnet50-lr0.1", "resnet50-lr0.1"),
        ("ResNet 50 / lr=0.1", "ResNet-50-lr=0.1"),
        ("Caf\u00e9 au lait", "Cafe-au-lait"),
        ("../../etc/passwd", "etc-passwd"),
        ("/etc/passwd", "etc-passwd"),
        ("a\\b/c", "a-b-c"),
        (".hidden", "hidden"),
        ("-rf", "rf"),
        ("run 1.", "run-1"),
        ("x\x00y", "x-y"),
        ("tab\there\n", "tab-here"),
        ("  spaced  out  ", "spaced-out"),
        ("a" * 300, "a" * 128),
        ("???", _hashed("???")),
        ("\u5b9e\u9a8c", _hashed("\u5b9e\u9a8c")),
        ("CON", _hashed("CON")),
        ("nul.txt", _hashed("nul.txt")),
        ("..", _hashed("..")),
        ("/", _hashed("/")),
    ],
)
def test_slug_derivation(tmp_path: Path, config_name: str, expected: str) -> None:
    manager = ExperimentManager(tmp_path / "logs")
    record = manager.start_experiment(config_name, {}, {})
    assert record.experiment_id == expected
    assert record.config_name == config_name
    assert set(os.listdir(tmp_path / "logs")) - {".expm"} == {f"{expected}.json"}
    [entry] = manager.read_history(expected)
    assert entry["config_name"] == config_name
    # Stable: another manager derives the same id, so versions continue.
    assert ExperimentManager(tmp_path / "logs").start_experiment(config_name, {}, {}).version == 2


def test_names_without_usable_characters_get_distinct_ids(tmp_path: Path) -> None:
    manager = ExperimentManager(tmp_path / "logs")
    ids = {manager.start_experiment(name, {}, {}).experiment_id for name in ["???", "!!!", "实验"]}
    assert len(ids) == 3


def test_config_name_that_is_not_valid_unicode_is_refused(tmp_path: Path) -> None:
    manager = ExperimentManager(tmp_path / "logs")
    with pytest.raises(SerializationError):
        manager.start_experiment("bad\ud800name", {}, {})
    assert not (tmp_path / "logs").exists()


SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=@-]{0,127}")
DEVICE = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?", re.IGNORECASE)


def _assert_safe_id(experiment_id: str) -> None:
    assert SAFE_ID.fullmatch(experiment_id), experiment_id
    assert not experiment_id.endswith("."), experiment_id
    assert not DEVICE.fullmatch(experiment_id), experiment_id


def _only_inside_log_dir(root: Path, experiment_id: str) -> None:
    """Everything created under ``root`` is the history file or internal files of log_dir."""
    entries = tree(root)
    assert "logs" in entries
    for name in entries:
        assert name == "logs" or name.startswith("logs/"), name
        parts = name.split("/")
        if len(parts) == 2:
            assert parts[1] in (f"{experiment_id}.json", ".expm"), name


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(config_name=st.text(min_size=1, max_size=200).filter(lambda s: s.strip() != ""))
def test_any_config_name_yields_a_safe_id_inside_log_dir(tmp_path: Path, config_name: str) -> None:
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    manager = ExperimentManager(root / "logs")
    record = manager.start_experiment(config_name, {}, {})
    _assert_safe_id(record.experiment_id)
    assert record.config_name == config_name
    _only_inside_log_dir(root, record.experiment_id)
    [entry] = manager.read_history(record.experiment_id)
    assert entry["config_name"] == config_name
    assert entry["experiment_id"] == record.experiment_id


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    experiment_id=st.text(max_size=140)
    | st.sampled_from(HOSTILE_IDS)
    | st.lists(st.sampled_from(["..", "/", "\\", ".", "a", "\x00", "CON"]), max_size=6).map("".join)
)
def test_any_explicit_id_is_used_as_is_or_refused(tmp_path: Path, experiment_id: str) -> None:
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    manager = ExperimentManager(root / "logs")
    rejected: InvalidExperimentIdError | None = None
    try:
        record = manager.start_experiment("cfg", {}, {}, experiment_id)
    except InvalidExperimentIdError as error:
        rejected = error
    if rejected is not None:
        assert rejected.experiment_id == experiment_id
        assert os.listdir(root) == []
        with pytest.raises(InvalidExperimentIdError):
            manager.read_history(experiment_id)
        return
    assert record.experiment_id == experiment_id
    _assert_safe_id(experiment_id)
    _only_inside_log_dir(root, experiment_id)
    assert len(manager.read_history(experiment_id)) == 1
