"""experiment_manager: a local-first, crash-safe experiment tracker.

Example:
    >>> from experiment_manager import ExperimentManager, ExperimentRecord
"""

from experiment_manager.errors import (
    CorruptHistoryError,
    ExperimentManagerError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    InvalidExperimentIdError,
    InvalidMetricError,
    LockTimeoutError,
    MissingDependencyError,
    NoActiveExperimentError,
    SerializationError,
    StorageError,
    StoreConnectionError,
    UnsupportedFormatError,
    UnsupportedSchemaError,
)
from experiment_manager.manager import DEFAULT_METADATA, ExperimentManager
from experiment_manager.models import ExperimentRecord, VersionTable

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_METADATA",
    "CorruptHistoryError",
    "ExperimentManager",
    "ExperimentManagerError",
    "ExperimentNotFoundError",
    "ExperimentRecord",
    "InvalidArgumentError",
    "InvalidExperimentIdError",
    "InvalidMetricError",
    "LockTimeoutError",
    "MissingDependencyError",
    "NoActiveExperimentError",
    "SerializationError",
    "StorageError",
    "StoreConnectionError",
    "UnsupportedFormatError",
    "UnsupportedSchemaError",
    "VersionTable",
    "__version__",
]
