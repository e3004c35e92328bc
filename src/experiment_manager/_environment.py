"""What a run was launched from: code version, interpreter, machine, command line."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from typing import Any

from experiment_manager.stores._locations import redact_text

#: Libraries whose version is recorded when the program has already imported them.
TRACKED_LIBRARIES = ("numpy", "torch", "jax", "tensorflow", "sklearn", "pandas")


def _git_state(cwd: str) -> dict[str, Any] | None:
    """Commit, branch and dirty flag of the git work tree at ``cwd``, or None."""
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],  # noqa: S607
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    commit: str | None = None
    branch: str | None = None
    dirty = False
    for line in done.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2]
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2]
            branch = None if head == "(detached)" else head
        elif not line.startswith("#"):
            dirty = True
    return {"commit": commit, "branch": branch, "dirty": dirty}


def capture_environment() -> dict[str, Any]:
    """Describe the process starting a run.

    Returns:
        ``python`` (version), ``implementation``, ``platform``, ``hostname``, ``pid``,
        ``argv``, ``cwd``, ``git`` (``commit``, ``branch``, ``dirty`` of the working
        directory's repository, or None outside one or without git) and
        ``libraries`` (versions of numpy, torch, jax, tensorflow, sklearn and pandas
        when the program has imported them; nothing is imported here).

    Example:
        >>> env = capture_environment()
        >>> sorted(env)[:3]
        ['argv', 'cwd', 'git']
    """
    cwd = os.getcwd()
    libraries = {}
    for name in TRACKED_LIBRARIES:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None)
        if isinstance(version, str):
            libraries[name] = version
    return {
        # A database URI given on the command line keeps its password out of records.
        "argv": [redact_text(arg) for arg in sys.argv],
        "cwd": cwd,
        "git": _git_state(cwd),
        "hostname": socket.gethostname(),
        "implementation": platform.python_implementation(),
        "libraries": libraries,
        "pid": os.getpid(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def process_identity() -> dict[str, Any]:
    """The few facts that say which process holds a run, for resume records.

    Returns:
        ``pid`` and ``hostname``.

    Example:
        >>> sorted(process_identity())
        ['hostname', 'pid']
    """
    return {"pid": os.getpid(), "hostname": socket.gethostname()}
