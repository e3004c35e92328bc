"""experiment_manager: a local-first, crash-safe experiment tracker.

Example:
    >>> from experiment_manager import ExperimentManager, ExperimentRecord
"""

from typing import TYPE_CHECKING, Any

from experiment_manager.errors import (
    ActiveRunEndedWarning,
    CorruptHistoryError,
    ExperimentIdCollisionError,
    ExperimentManagerError,
    ExperimentManagerWarning,
    ExperimentNotFoundError,
    InvalidArgumentError,
    InvalidExperimentIdError,
    InvalidMetricError,
    LockTimeoutError,
    MissingCheckpointWarning,
    MissingDependencyError,
    NoActiveExperimentError,
    NotAHistoryError,
    QuerySyntaxError,
    RunActiveError,
    SerializationError,
    StorageError,
    StoreConnectionError,
    TransferConflictError,
    UnsupportedFormatError,
    UnsupportedSchemaError,
)
from experiment_manager.manager import DEFAULT_METADATA, ExperimentManager
from experiment_manager.models import ExperimentRecord, SearchResults, VersionTable

if TYPE_CHECKING:
    from experiment_manager.transfer import TransferReport, migrate, sync

__version__ = "0.1.0"

# Moving between stores is imported on first use: `import experiment_manager` stays cheap.
_LAZY = {"TransferReport", "migrate", "sync"}

__all__ = [
    "DEFAULT_METADATA",
    "ActiveRunEndedWarning",
    "CorruptHistoryError",
    "ExperimentIdCollisionError",
    "ExperimentManager",
    "ExperimentManagerError",
    "ExperimentManagerWarning",
    "ExperimentNotFoundError",
    "ExperimentRecord",
    "InvalidArgumentError",
    "InvalidExperimentIdError",
    "InvalidMetricError",
    "LockTimeoutError",
    "MissingCheckpointWarning",
    "MissingDependencyError",
    "NoActiveExperimentError",
    "NotAHistoryError",
    "QuerySyntaxError",
    "RunActiveError",
    "SearchResults",
    "SerializationError",
    "StorageError",
    "StoreConnectionError",
    "TransferConflictError",
    "TransferReport",
    "UnsupportedFormatError",
    "UnsupportedSchemaError",
    "VersionTable",
    "__version__",
    "migrate",
    "sync",
]


def __getattr__(name: str) -> Any:
    """Import :mod:`experiment_manager.transfer` the first time one of its names is used."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from experiment_manager import transfer

    return getattr(transfer, name)
