"""The one exception hierarchy of experiment_manager.

Every error the library raises on purpose derives from :class:`ExperimentManagerError`
and also from the builtin exception that fits it, so ``except ValueError`` keeps
working for code that does not know this package. Each error carries the offending
value as an attribute.

Example:
    >>> from experiment_manager.errors import InvalidExperimentIdError
    >>> try:
    ...     raise InvalidExperimentIdError("../x", "contains a path separator")
    ... except ValueError as error:
    ...     print(error.experiment_id)
    ../x
"""

from __future__ import annotations

import errno
import math
import reprlib
from pathlib import Path

__all__ = [
    "ActiveRunEndedWarning",
    "CorruptHistoryError",
    "ExperimentIdCollisionError",
    "ExperimentManagerError",
    "ExperimentManagerWarning",
    "ExperimentNotFoundError",
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
    "SerializationError",
    "StorageError",
    "StoreConnectionError",
    "TransferConflictError",
    "UnsupportedFormatError",
    "UnsupportedSchemaError",
]


class _BoundedRepr(reprlib.Repr):
    """A ``repr`` whose cost does not grow with the value: depth and lengths are capped.

    A plain ``repr`` of a rejected value can itself fail (``RecursionError`` for a
    mapping nested thousands deep, ``ValueError`` past the int-to-str digit limit), or
    take seconds for a huge container, which would hide the error being reported.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        # Generous enough that the first ``limit`` characters match a plain repr.
        self.maxlevel = 6
        self.maxstring = self.maxlong = self.maxother = 2 * limit
        self.maxlist = self.maxtuple = self.maxdict = limit // 2
        self.maxset = self.maxfrozenset = self.maxdeque = self.maxarray = limit // 2

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() <= 1024:
            return super().repr_int(x, level)
        digits = int(x.bit_length() * math.log10(2)) + 1  # within one of the true count
        return f"<int of about {digits} digits>"


_REPR = _BoundedRepr(80)


def _short(value: object, limit: int = 80) -> str:
    """Return ``repr(value)``, cut to ``limit`` characters so messages stay one line."""
    try:
        shown = _REPR.repr(value)
    except Exception:  # a user type whose __repr__ itself raises
        shown = f"<{type(value).__name__} object>"
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


class ExperimentManagerError(Exception):
    """Base class of every error raised on purpose by experiment_manager."""


class InvalidExperimentIdError(ExperimentManagerError, ValueError):
    """An experiment id that is not a safe file name.

    Attributes:
        experiment_id: The rejected id, exactly as given.
        reason: Why it was rejected.
    """

    def __init__(self, experiment_id: object, reason: str) -> None:
        self.experiment_id = experiment_id
        self.reason = reason
        super().__init__(f"invalid experiment id {experiment_id!r}: {reason}")


class ExperimentIdCollisionError(InvalidExperimentIdError):
    """A new experiment id that differs from an existing one only by letter case.

    ``exp`` and ``Exp`` would be two experiments on Linux but one file on macOS and
    Windows, so a new id is refused when an experiment of the same name in another case
    exists; use the existing id.

    Attributes:
        experiment_id: The refused id.
        existing: The experiment it collides with.
    """

    def __init__(self, experiment_id: str, existing: str) -> None:
        self.existing = existing
        super().__init__(
            experiment_id,
            f"experiment {existing!r} exists, and ids that differ only by letter case "
            f"share one file on macOS and Windows; use {existing!r}",
        )


class InvalidArgumentError(ExperimentManagerError, TypeError, ValueError):
    """An argument of the wrong type or with a value the call cannot accept.

    Attributes:
        argument: The parameter's name.
        value: The rejected value.
    """

    def __init__(self, argument: str, value: object, reason: str) -> None:
        self.argument = argument
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {argument} {_short(value)}: {reason}")


class InvalidMetricError(ExperimentManagerError, TypeError, ValueError):
    """A metric name or value that cannot be logged; nothing of the call was written.

    Attributes:
        metric: The metric's name.
        value: The rejected value.
    """

    def __init__(self, metric: object, value: object, reason: str) -> None:
        self.metric = metric
        self.value = value
        self.reason = reason
        super().__init__(f"metric {metric!r}: {reason} (got {_short(value)})")


class SerializationError(ExperimentManagerError, TypeError, ValueError):
    """A value with no faithful JSON form.

    Attributes:
        key_path: Where the value sits, such as ``hyperparameters.optimizer.betas[1]``.
        value: The rejected value.
    """

    def __init__(self, key_path: str, value: object, reason: str) -> None:
        self.key_path = key_path
        self.value = value
        self.reason = reason
        super().__init__(f"{key_path}: {reason} (got {_short(value)})")


class NoActiveExperimentError(ExperimentManagerError, RuntimeError):
    """A call that needs an active experiment was made without one."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        super().__init__(
            f"{operation}() needs an active experiment: call "
            "start_experiment(config_name, hyperparameters, metadata) first"
        )


class RunActiveError(ExperimentManagerError, RuntimeError):
    """A version that another live process (or another manager) is running.

    Attributes:
        experiment_id: The experiment.
        version: The version.
    """

    def __init__(self, experiment_id: str, version: int) -> None:
        self.experiment_id = experiment_id
        self.version = version
        super().__init__(
            f"{experiment_id!r} version {version} is still running in another process "
            "or manager; end it there first"
        )


class ExperimentNotFoundError(ExperimentManagerError, LookupError):
    """An experiment id, or one of its versions, that has no record.

    Attributes:
        experiment_id: The id looked up.
        version: The version looked up, or None for the experiment as a whole.
    """

    def __init__(self, experiment_id: str, version: int | None = None) -> None:
        self.experiment_id = experiment_id
        self.version = version
        what = f"{experiment_id!r}" if version is None else f"{experiment_id!r} version {version}"
        super().__init__(f"no experiment {what}")


class CorruptHistoryError(ExperimentManagerError, ValueError):
    """A history file that cannot be parsed or does not have the expected shape.

    The file is left exactly as it is; nothing is ever written over it.

    Attributes:
        path: The file.
        reason: What is wrong with it.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"corrupt history file {str(self.path)!r}: {reason}")


class NotAHistoryError(CorruptHistoryError):
    """A ``*.json`` in the log folder that is not a history at all (a stray ``config.json``).

    It is no experiment's history, so listings and searches skip it and ``expm doctor``
    names it as foreign; like a damaged history, it is never written over.

    Attributes:
        path: The file.
        reason: What it holds instead.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(path, reason)
        self.args = (f"{str(self.path)!r} is not a history file ({reason}); it is left alone",)


class UnsupportedFormatError(CorruptHistoryError):
    """A history file written in a newer format than this version of the library reads.

    Attributes:
        found: The format number in the file.
        supported: The newest format this library reads.
    """

    def __init__(self, path: str | Path, found: object, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            path, f"format {found!r} is newer than {supported}; upgrade experiment-manager"
        )


_READ_ONLY = frozenset((errno.EACCES, errno.EPERM, errno.EROFS))


class StorageError(ExperimentManagerError, OSError):
    """A write the storage refused (a full disk, a file-size limit, a path made unusable).

    Nothing of the call that raised it was stored: what earlier calls stored stays
    readable, and the same call may be made again once the cause is fixed.

    Attributes:
        path: The file or folder that could not be written.
        reason: The operating system's words for it.
    """

    def __init__(self, path: str | Path, error: OSError) -> None:
        self.path = Path(path)
        self.reason = error.strerror or str(error)
        if error.errno in _READ_ONLY:
            self.reason += (
                " (the log folder is read-only for this process: make it writable, or "
                "give a log_dir this process may write to)"
            )
        elif error.errno == errno.ENOSPC:
            self.reason += " (free some space; the call can then be made again)"
        super().__init__(error.errno, f"could not write {str(self.path)!r}: {self.reason}")

    def __str__(self) -> str:
        """The message, without the errno prefix ``OSError`` would add."""
        return f"could not write {str(self.path)!r}: {self.reason}"


class TransferConflictError(ExperimentManagerError, ValueError):
    """``migrate`` found versions in the destination that are not the source's.

    A migration keeps version numbers, so the destination must hold nothing of an
    experiment, or exactly the versions an earlier (maybe killed) migration copied.
    Raised before anything is written when that does not hold.

    Attributes:
        experiment_id: The experiment.
        version: The first version that differs (or is missing), or None.
        reason: What differs.
    """

    def __init__(self, experiment_id: str, version: int | None, reason: str) -> None:
        self.experiment_id = experiment_id
        self.version = version
        self.reason = reason
        where = f"{experiment_id!r}" if version is None else f"{experiment_id!r} version {version}"
        super().__init__(f"cannot migrate {where}: {reason}")


class LockTimeoutError(ExperimentManagerError, TimeoutError):
    """Another live process held an experiment's lock for longer than the timeout.

    Attributes:
        lock_path: The lock file.
        timeout: Seconds waited.
    """

    def __init__(self, lock_path: str | Path, timeout: float) -> None:
        self.lock_path = Path(lock_path)
        self.timeout = timeout
        super().__init__(
            f"could not lock {str(self.lock_path)!r} within {timeout:g} s: "
            "another live process is holding it"
        )


class StoreConnectionError(ExperimentManagerError, ConnectionError):
    """A database store that cannot be reached, refused the login, or went away.

    The message names the server by its URI with the password hidden, and says what
    to check; it never holds a password.

    Attributes:
        location: The store's URI, password replaced by ``***``.
        reason: What went wrong, as the driver or the server said it.
        hint: What to check.
    """

    def __init__(self, location: str, reason: str, hint: str) -> None:
        self.location = location
        self.reason = reason
        self.hint = hint
        super().__init__(f"cannot use the store {location!r}: {reason} ({hint})")


class UnsupportedSchemaError(ExperimentManagerError, RuntimeError):
    """A database whose schema was made by a newer version of experiment_manager.

    Nothing is written to it; upgrade the library to use it.

    Attributes:
        location: The store's URI, password replaced by ``***``.
        found: The schema version in the database.
        supported: The newest schema version this library knows.
    """

    def __init__(self, location: str, found: int, supported: int) -> None:
        self.location = location
        self.found = found
        self.supported = supported
        super().__init__(
            f"the store {location!r} has schema version {found}, newer than the "
            f"{supported} this version of experiment_manager knows: upgrade it "
            '(pip install -U "experiment-manager[postgres]")'
        )


class MissingDependencyError(ExperimentManagerError, ImportError):
    """A feature whose optional dependency is not installed.

    Attributes:
        feature: What needs it.
        extra: The extra that installs it (``pip install "experiment-manager[<extra>]"``).
        missing: What is missing when the extra is installed but something it leaves to
            the user is not (e.g. Keras's backend), else None.
    """

    def __init__(self, feature: str, extra: str, missing: str | None = None) -> None:
        self.feature = feature
        self.extra = extra
        self.missing = missing
        if missing is None:
            message = (
                f'{feature} needs the "{extra}" extra: pip install "experiment-manager[{extra}]"'
            )
        else:
            message = f"{feature} needs {missing}"
        super().__init__(message)


class QuerySyntaxError(ExperimentManagerError, ValueError):
    """A search query that does not parse.

    Attributes:
        query: The whole query text.
        position: 0-based index of the offending character in ``query``.
        reason: What was expected there.
    """

    def __init__(self, query: str, position: int, reason: str) -> None:
        self.query = query
        self.position = position
        self.reason = reason
        super().__init__(f"{reason} at position {position}\n  {query}\n  {' ' * position}^")


class ExperimentManagerWarning(UserWarning):
    """Base class of the warnings experiment_manager gives (``warnings.warn``)."""


class ActiveRunEndedWarning(ExperimentManagerWarning):
    """``start_experiment`` ended the version this manager had running, as finished.

    One manager runs one version at a time (the specification's rule); starting another
    ends the first. Call ``end_experiment()`` first (or use ``with manager.experiment``)
    to choose how it ends; use another ``ExperimentManager`` to run two at once.
    """


class MissingCheckpointWarning(ExperimentManagerWarning):
    """``add_checkpoint`` recorded a path that does not exist (yet).

    It is recorded all the same (size and time unknown); ``expm doctor`` and
    ``verify_checkpoints`` report it as missing while it is.
    """
