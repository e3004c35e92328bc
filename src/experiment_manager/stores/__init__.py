"""Storage backends behind :class:`~experiment_manager.ExperimentManager`.

Backends are imported on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from experiment_manager.stores.base import Store
    from experiment_manager.stores.files import FileStore
    from experiment_manager.stores.memory import MemoryStore

__all__ = ["FileStore", "MemoryStore", "Store", "open_store"]

_HOMES = {
    "Store": "experiment_manager.stores.base",
    "FileStore": "experiment_manager.stores.files",
    "MemoryStore": "experiment_manager.stores.memory",
}


def open_store(log_dir: str | os.PathLike[str], *, lock_timeout: float = 60.0) -> Store:
    """The backend a ``log_dir`` names: a folder (created on the first write).

    Args:
        log_dir: A folder path.
        lock_timeout: Seconds a writer waits for another live writer of the same
            experiment.

    Returns:
        The store.

    Example:
        >>> import tempfile
        >>> type(open_store(tempfile.mkdtemp())).__name__
        'FileStore'
    """
    from pathlib import Path

    from experiment_manager.stores.files import FileStore

    return FileStore(Path(os.path.abspath(os.fspath(log_dir))), lock_timeout=lock_timeout)


def __getattr__(name: str) -> Any:
    """Import a backend class the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
