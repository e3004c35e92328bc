"""Sources for the importer tests, written by the real tools in a child process.

Each writer script in ``tests/import_writers/`` logs runs with the tool's own library
and saves what it logged (or what the tool reads back) as JSON, which the tests
compare the imported versions with.
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
