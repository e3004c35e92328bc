"""Helpers shared by the test modules: strict JSON, exact comparison, subprocesses."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

#: The eight fields of a record, as the specification lists them.
SPEC_KEYS = (
    "experiment_id",
    "version",
    "created_at",
    "config_name",
    "hyperparameters",
    "metadata",
    "metrics",
    "checkpoints",
)

#: The four metadata keys the specification says are added when missing.
DEFAULT_METADATA_KEYS = ("precision", "model_size", "dataset_version", "hardware_constraint_mode")


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON constant {token!r} in a history file")


def strict_loads(text: str | bytes) -> Any:
    """Parse RFC 8259 JSON: NaN, Infinity and -Infinity tokens are errors."""
    return json.loads(text, parse_constant=_reject_constant)


def history_path(log_dir: Path, experiment_id: str) -> Path:
    return log_dir / f"{experiment_id}.json"


def load_history_file(log_dir: Path, experiment_id: str) -> Any:
    """Read ``<log_dir>/<experiment_id>.json`` with the strict parser."""
    return strict_loads(history_path(log_dir, experiment_id).read_text(encoding="utf-8"))


def float_bits(value: float) -> bytes:
    return struct.pack(">d", value)


def same(a: Any, b: Any) -> bool:
    """Deep equality that is type-strict, NaN-aware and bit-exact for floats.

    ``1 == 1.0 == True`` and ``0.0 == -0.0`` in Python; here they all differ. Any two NaNs
    are the same value (history files store NaN without a payload).
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) or isinstance(b, float):
        if type(a) is not float or type(b) is not float:
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return float_bits(a) == float_bits(b)
    if isinstance(a, int) or isinstance(b, int):
        return type(a) is int and type(b) is int and a == b
    if isinstance(a, dict) or isinstance(b, dict):
        if type(a) is not dict or type(b) is not dict or a.keys() != b.keys():
            return False
        return all(same(a[key], b[key]) for key in a)
    if isinstance(a, list) or isinstance(b, list):
        if type(a) is not list or type(b) is not list or len(a) != len(b):
            return False
        return all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def assert_same(actual: Any, expected: Any) -> None:
    assert same(actual, expected), f"\n actual:   {actual!r}\n expected: {expected!r}"


def table_of(summaries: list[dict[str, Any]], experiment_id: str) -> dict[str, Any]:
    """The version table that ``list_versions`` implies, as ``dataclasses.asdict`` gives it."""
    names = sorted({name for summary in summaries for name in summary["metric_summaries"]})
    return {
        "experiment_id": experiment_id,
        "version": [s["version"] for s in summaries],
        "status": [s.get("status") for s in summaries],
        "created_at": [s.get("created_at") for s in summaries],
        "duration": [s.get("duration") for s in summaries],
        "hyperparameters": [s.get("hyperparameters") or {} for s in summaries],
        "last": {
            name: [
                s["metric_summaries"][name]["last"] if name in s["metric_summaries"] else None
                for s in summaries
            ]
            for name in names
        },
        "name": [s.get("name") for s in summaries],
        "tags": [s.get("tags") or [] for s in summaries],
        "hidden": [
            "archived" if s.get("archived") else None for s in summaries
        ],  # list_versions shows no version in the trash
    }


def assert_table_matches(manager: Any, experiment_id: str) -> None:
    """``version_table`` holds exactly the columns of ``list_versions``."""
    table = manager.version_table(experiment_id)
    assert list(table.last) == sorted(table.last)
    assert_same(
        dataclasses.asdict(table), table_of(manager.list_versions(experiment_id), experiment_id)
    )


def tree(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root`` (relative posix path -> bytes, None for folders)."""
    found: dict[str, bytes | None] = {}
    if not root.exists():
        return found
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        for name in dirs:
            found[(base / name).relative_to(root).as_posix()] = None
        for name in files:
            found[(base / name).relative_to(root).as_posix()] = (base / name).read_bytes()
    return found


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds, naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out{': ' + what if what else ''}"
        time.sleep(0.02)


def write_script(folder: Path, name: str, code: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return path


def run_python(
    args: list[str], cwd: Path, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python <args>`` in ``cwd`` with this interpreter and environment."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
        check=False,
    )


class Writer:
    """A writer subprocess, to be SIGKILLed, whose complete stdout lines are collected.

    ``python <script> <args...>``; :attr:`announced` is set once a line starting with
    ``announcement`` has come. Its stderr is kept (and returned by :meth:`kill`) only if
    ``keep_stderr``.
    """

    def __init__(
        self, script: Path, args: list[str], announcement: str, *, keep_stderr: bool
    ) -> None:
        self.lines: list[str] = []
        self.announced = threading.Event()
        self._announcement = announcement
        self.process = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if keep_stderr else subprocess.DEVNULL,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.endswith("\n"):  # a line cut by the kill was never fully reported
                self.lines.append(line.rstrip("\n"))
                if line.startswith(self._announcement):
                    self.announced.set()

    def kill(self) -> str:
        """SIGKILL the writer, wait for it and its lines; return its stderr ("" if not kept)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()
        errors = ""
        if self.process.stderr is not None:
            errors = self.process.stderr.read()
            self.process.stderr.close()
        assert self.process.returncode == -signal.SIGKILL, (self.process.returncode, errors)
        return errors


#: For a test of a module that runs on every store (``each_store``) but looks at the folder
#: store's own files (a history's bytes, its journals): it runs on small and big folder
#: histories only.
files_only = pytest.mark.parametrize("each_store", ["small", "big"], indirect=True)

#: For a test whose store another process writes or reads: every backend but the
#: in-memory one, which lives in one process. The other process is given
#: ``process_log_dir(log_dir)`` (see tests/conftest.py).
across_processes = pytest.mark.parametrize(
    "each_store", ["small", "big", "postgres"], indirect=True
)

#: For such a test that reads the history document right after a call: only a small
#: history is rewritten by every call (a big one folds its calls in later).
written_through = pytest.mark.parametrize("each_store", ["small"], indirect=True)
