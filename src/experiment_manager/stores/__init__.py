"""Storage backends behind :class:`~experiment_manager.ExperimentManager`.

Backends are imported on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from experiment_manager.stores._locations import is_database_uri, redact

if TYPE_CHECKING:
    from experiment_manager.stores.base import Store
    from experiment_manager.stores.files import FileStore
    from experiment_manager.stores.memory import MemoryStore
    from experiment_manager.stores.postgres import PostgresStore

__all__ = [
    "FileStore",
    "MemoryStore",
    "PostgresStore",
    "Store",
    "is_database_uri",
    "open_store",
    "redact",
]

_HOMES = {
    "Store": "experiment_manager.stores.base",
    "FileStore": "experiment_manager.stores.files",
    "MemoryStore": "experiment_manager.stores.memory",
    "PostgresStore": "experiment_manager.stores.postgres",
}


def open_store(log_dir: str | os.PathLike[str], *, lock_timeout: float = 60.0) -> Store:
    """The backend a ``log_dir`` names: a PostgreSQL URI, or a folder.

    ``postgresql://`` and ``postgres://`` URIs open a PostgreSQL store (the
    ``postgres`` extra); anything else is a folder, created on the first write.

    Args:
        log_dir: A folder path, or ``postgresql://user:password@host:port/database``.
        lock_timeout: Seconds a writer waits for another live writer of the same
            experiment.

    Returns:
        The store.

    Raises:
        StoreConnectionError: A database that cannot be reached or refused the login.
        MissingDependencyError: A database URI without the ``postgres`` extra.

    Example:
        >>> import tempfile
        >>> type(open_store(tempfile.mkdtemp())).__name__
        'FileStore'
    """
    location = os.fspath(log_dir)
    if isinstance(location, str) and is_database_uri(location):
        from experiment_manager.stores.postgres import PostgresStore

        return PostgresStore(location, lock_timeout=lock_timeout)
    from pathlib import Path

    from experiment_manager.stores.files import FileStore

    return FileStore(Path(os.path.abspath(location)), lock_timeout=lock_timeout)


def __getattr__(name: str) -> Any:
    """Import a backend class the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
