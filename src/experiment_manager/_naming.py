"""Experiment ids: which are safe file names, and how a config name becomes one.

An experiment id names a file in ``log_dir``, so it must never be able to point
anywhere else or mean something special to an operating system. A safe id is 1 to 128
characters from ``A-Z a-z 0-9 _ - . + = @``; it does not start with ``.``, ``-``, ``+``,
``=`` or ``@``; it does not end with ``.``; and it is not a Windows device name
(``CON``, ``NUL``, ``COM1``, ... with or without an extension).

Ids given explicitly are checked and rejected when unsafe, never rewritten. Ids derived
from a ``config_name`` that is already safe are the name itself; any other name is
turned into a slug (see :func:`slugify`).

Ids that differ only by letter case (``exp``, ``Exp``) name one file on macOS and
Windows, so a new id that :func:`fold` makes equal to an existing one is refused
(:func:`refuse_case_twin`) wherever an experiment is created.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from experiment_manager.errors import ExperimentIdCollisionError, InvalidExperimentIdError

MAX_ID_LENGTH = 128

_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=@-]*")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_.+=@-]+")
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"COM{i}" for i in range(10)]
    + [f"LPT{i}" for i in range(10)]
    + ["COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"]
)


def unsafe_reason(experiment_id: object) -> str | None:
    """Say why ``experiment_id`` is not a safe id, or return None when it is.

    Args:
        experiment_id: The candidate id.

    Returns:
        A short reason, or None for a safe id.

    Example:
        >>> unsafe_reason("mnist_baseline") is None
        True
        >>> unsafe_reason("../etc")
        'contains a path separator'
    """
    if not isinstance(experiment_id, str):
        return f"must be a str, not {type(experiment_id).__name__}"
    if experiment_id == "":
        return "is empty"
    if experiment_id in (".", ".."):
        return "is a relative path component"
    if "/" in experiment_id or "\\" in experiment_id:
        return "contains a path separator"
    if "\x00" in experiment_id:
        return "contains a NUL character"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in experiment_id):
        return "contains a control character"
    if len(experiment_id) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters ({len(experiment_id)})"
    if experiment_id[0] in ".-+=@":
        return f"starts with {experiment_id[0]!r}"
    if experiment_id.endswith("."):
        return "ends with '.'"
    if _SAFE.fullmatch(experiment_id) is None:
        bad = sorted({ch for ch in experiment_id if _UNSAFE_RUN.fullmatch(ch)})
        return f"contains characters outside A-Z a-z 0-9 _ - . + = @: {''.join(bad)!r}"
    if experiment_id.split(".", 1)[0].upper() in _WINDOWS_DEVICES:
        return "is a reserved device name on Windows"
    return None


def validate_experiment_id(experiment_id: object) -> str:
    """Return ``experiment_id`` unchanged if it is safe, else raise.

    Args:
        experiment_id: The id to check.

    Returns:
        The same id.

    Raises:
        InvalidExperimentIdError: The id is not a safe file name; the error names it.

    Example:
        >>> validate_experiment_id("resnet50-lr0.1")
        'resnet50-lr0.1'
    """
    reason = unsafe_reason(experiment_id)
    if reason is not None:
        raise InvalidExperimentIdError(experiment_id, reason)
    assert isinstance(experiment_id, str)
    return experiment_id


def slugify(config_name: str) -> str:
    """Derive a safe experiment id from a configuration name.

    A name that is already a safe id is returned unchanged. Otherwise the name is
    folded to ASCII (accents dropped, NFKD), every run of other characters becomes
    ``-``, leading characters that may not start an id and trailing dots are
    stripped, and the result is cut to 128 characters. When nothing usable is left
    (``"???"``, ``"实验"``) or the result would be a device name, the id is
    ``config-`` followed by the first 12 hex digits of the name's SHA-256, so
    different names still get different, stable ids.

    Args:
        config_name: The configuration name given to ``start_experiment``.

    Returns:
        A safe experiment id.

    Example:
        >>> slugify("mnist_baseline")
        'mnist_baseline'
        >>> slugify("ResNet 50 / lr=0.1")
        'ResNet-50-lr=0.1'
        >>> slugify("Café au lait")
        'Cafe-au-lait'
    """
    if unsafe_reason(config_name) is None:
        return config_name
    folded = unicodedata.normalize("NFKD", config_name).encode("ascii", "ignore").decode()
    slug = _UNSAFE_RUN.sub("-", folded)
    slug = slug.lstrip(".-+=@")[:MAX_ID_LENGTH].rstrip(".-")
    if unsafe_reason(slug) is None:
        return slug
    import hashlib  # deferred: only names that slug to nothing need it

    digest = hashlib.sha256(config_name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"config-{digest}"


def fold(experiment_id: str) -> str:
    """The form two ids share when one file system would take them for one name.

    Args:
        experiment_id: An id.

    Returns:
        Its NFC normal form, case-folded.

    Example:
        >>> fold("MNIST-Baseline") == fold("mnist-baseline")
        True
    """
    return unicodedata.normalize("NFC", experiment_id).casefold()


def case_twin(experiment_id: str, known: Iterable[str]) -> str | None:
    """The id among ``known`` that only letter case (or normalisation) tells from this one.

    Args:
        experiment_id: The id about to be created.
        known: Ids that exist.

    Returns:
        The first such id, or None (also when ``experiment_id`` itself is known).

    Example:
        >>> case_twin("Exp", ["exp", "other"])
        'exp'
        >>> case_twin("exp", ["exp", "Exp"]) is None
        True
    """
    folded = fold(experiment_id)
    twins = []
    for other in known:
        if other == experiment_id:
            return None
        if fold(other) == folded:
            twins.append(other)
    return min(twins) if twins else None


def refuse_case_twin(experiment_id: str, known: Iterable[str]) -> None:
    """Raise when ``experiment_id`` is new and an id in ``known`` is its case twin.

    Args:
        experiment_id: The id about to be created.
        known: Ids that exist.

    Raises:
        ExperimentIdCollisionError: A twin exists; ``existing`` names it.

    Example:
        >>> refuse_case_twin("exp", ["other"])
        >>> refuse_case_twin("EXP", ["exp"])
        Traceback (most recent call last):
        ...
        experiment_manager.errors.ExperimentIdCollisionError: ...
    """
    twin = case_twin(experiment_id, known)
    if twin is not None:
        raise ExperimentIdCollisionError(experiment_id, twin)
