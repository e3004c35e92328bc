"""Sources for the importer tests, written by the real tools in a child process.

Each writer script in ``tests/import_writers/`` logs runs with the tool's own library
and saves what it logged (or what the tool reads back) as JSON, which the tests
compare the imported versions with. :func:`mlruns` lays out a plain file store by hand,
for the tests of how an import reads and stores runs rather than of what it reads.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

WRITERS = Path(__file__).resolve().parent / "import_writers"


def require(*modules: str) -> None:
    """Fail in CI (CI=true installs the test extra) or skip elsewhere when a module is missing."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (pip install '.[test]')"
    if os.environ.get("CI"):
        pytest.fail(f"{message}, but the test extra has it")
    pytest.skip(message)


def write_source(script: str, *args: str | Path, env: dict[str, str] | None = None) -> Any:
    """Run a writer script; return the JSON it saved as its last argument."""
    environment = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_GIT": "true",
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, str(WRITERS / script), *map(str, args)],
        capture_output=True,
        env=environment,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-4000:]
    return json.loads(Path(args[-1]).read_text())


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root`` (or ``root`` itself) with its SHA-256 and mode."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if not p.is_dir())
    found = {}
    for path in files:
        if path.is_symlink():
            found[str(path)] = (os.readlink(path), 0)
        else:
            found[str(path)] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode)
    return found


def mlruns(root: Path, runs: int, steps: int) -> Path:
    """A file store of ``runs`` finished runs, two metrics of ``steps`` points each.

    Laid out as MLflow's file store lays out runs: a hand-made copy, for the tests of
    how an import reads and stores runs (MLflow would take long to log as many).
    """
    experiment = root / "1"
    experiment.mkdir(parents=True)
    (experiment / "meta.yaml").write_text(
        "artifact_location: file:///nowhere\nexperiment_id: '1'\n"
        "lifecycle_stage: active\nname: held\n"
    )
    for number in range(runs):
        run_id = f"a{number:031x}"
        folder = experiment / run_id
        (folder / "metrics").mkdir(parents=True)
        (folder / "meta.yaml").write_text(
            f"artifact_uri: file:///nowhere\nend_time: {1_700_000_100_000 + number}\n"
            f"experiment_id: '1'\nlifecycle_stage: active\nrun_id: {run_id}\n"
            f"run_uuid: {run_id}\nstart_time: {1_700_000_000_000 + number}\nstatus: 3\n"
        )
        for metric in ("loss", "acc"):
            lines = (f"{1_700_000_000_000 + s * 10} {(number + s) / 7} {s}\n" for s in range(steps))
            (folder / "metrics" / metric).write_text("".join(lines))
    return experiment
