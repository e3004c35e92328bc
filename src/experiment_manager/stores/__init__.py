"""Storage backends behind :class:`~experiment_manager.ExperimentManager`."""

from experiment_manager.stores.base import Store
from experiment_manager.stores.files import FileStore
from experiment_manager.stores.memory import MemoryStore

__all__ = ["FileStore", "MemoryStore", "Store"]
