"""Import a framework a test needs: CI (CI=true) installs it, so there it must be present."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require(name: str) -> ModuleType:
    """Import ``name``; fail in CI when it is missing, skip with the reason elsewhere."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is in the test extra but cannot be imported: {error}")
        # Also at a module's top, where it skips the whole module.
        pytest.skip(
            f"{name} is not installed (pip install '.[test]'): {error}", allow_module_level=True
        )
