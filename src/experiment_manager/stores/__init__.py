"""Storage backends behind :class:`~experiment_manager.ExperimentManager`.

Backends are imported on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from experiment_manager.stores.base import Store
    from experiment_manager.stores.files import FileStore
    from experiment_manager.stores.memory import MemoryStore

__all__ = ["FileStore", "MemoryStore", "Store"]

_HOMES = {
    "Store": "experiment_manager.stores.base",
    "FileStore": "experiment_manager.stores.files",
    "MemoryStore": "experiment_manager.stores.memory",
}


def __getattr__(name: str) -> Any:
    """Import a backend class the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
