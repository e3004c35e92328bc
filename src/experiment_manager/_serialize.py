"""Values to strict JSON and back; pure functions, no I/O.

Stored documents are RFC 8259 JSON: no ``NaN`` or ``Infinity`` tokens anywhere.

* Metric values are numbers. A non-finite value is stored as one of the strings
  ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``; a metric list holds nothing else that is
  a string, so reading it back is unambiguous.
* In hyperparameters and metadata a non-finite float is stored as the object
  ``{"$float": "NaN"}`` (or ``"Infinity"`` / ``"-Infinity"``). A mapping of the user's
  whose only key is ``"$float"`` is therefore refused.

Conversions of hyperparameters and metadata (see :func:`to_json`): numpy scalars and
arrays, tuples, sets (sorted), ``pathlib`` paths, ``datetime``/``date``/``time``
(ISO 8601), ``Enum`` (its value), and configuration objects, nested keys kept (see
:func:`config_mapping`): dataclass instances, ``argparse.Namespace``, pydantic models
and OmegaConf/Hydra configs (interpolations resolved). Keys that are
int, float, bool or None become strings as ``json`` would write them; any other key
type, or two keys that would become the same string, is refused.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import math
import numbers
import os
import sys
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from experiment_manager.errors import InvalidArgumentError, InvalidMetricError, SerializationError

__all__ = [
    "config_mapping",
    "decode_metric_values",
    "dumps",
    "from_json",
    "loads",
    "metric_point",
    "metric_values",
    "strict_json",
    "to_json",
]

FLOAT_TAG = "$float"
NONFINITE_NAMES = frozenset(("NaN", "Infinity", "-Infinity"))
_MAX_DEPTH = 64
_ORJSON_MAX_DEPTH = 254  # orjson refuses a container nested this deep
# What orjson reads back as an int; beyond it a number would silently become a float.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def _nonfinite_name(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (a lone surrogate cannot)."""
    if text.isascii():  # a flag check on the str object: the common case costs nothing
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _field(path: str, key: str) -> str:
    """The key path of ``key`` under ``path``, with a lone surrogate shown escaped."""
    return f"{path}.{key.encode('utf-8', 'backslashreplace').decode('utf-8')}"


def _array_like(value: object) -> bool:
    """Whether ``value`` is a numpy/torch/jax array or scalar with a ``tolist``."""
    return hasattr(value, "__array__") and hasattr(value, "tolist")


def _json_key(key: object, parent: str) -> str:
    if isinstance(key, str):
        if not _encodable(key):
            raise SerializationError(_field(parent, key), key, "mapping key is not valid Unicode")
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, numbers.Integral):
        try:
            return str(int(key))
        except ValueError:  # more digits than int-to-str conversion allows
            digits = int(int(key).bit_length() * math.log10(2)) + 1
            where = f"{parent}.<int of about {digits} digits>"
            raise SerializationError(where, key, "integer key has too many digits") from None
    if isinstance(key, float) and math.isfinite(key):
        return repr(key)
    raise SerializationError(
        f"{parent}.{key!r}", key, "mapping keys must be str, int, float, bool or None"
    )


def to_json(value: object, path: str = "value") -> Any:
    """Convert ``value`` to plain JSON data (dicts, lists, str, int, float, bool, None).

    Args:
        value: What to convert.
        path: Where the value sits, used in error messages (``hyperparameters.lr``).

    Returns:
        A new structure; the input is never modified.

    Raises:
        SerializationError: Something has no faithful JSON form; the error names its path.

    Example:
        >>> from pathlib import Path
        >>> to_json({"dir": Path("/data"), "betas": (0.9, 0.99), "eps": float("inf")})
        {'dir': '/data', 'betas': [0.9, 0.99], 'eps': {'$float': 'Infinity'}}
    """
    return _to_json(value, path, 0)


def _to_json(value: object, path: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise SerializationError(path, value, f"nested deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if not _encodable(value):
            raise SerializationError(path, value, "string is not valid Unicode")
        return str(value)
    if isinstance(value, enum.Enum):
        return _to_json(value.value, path, depth + 1)
    if isinstance(value, numbers.Integral):
        return _check_int(path, int(value))
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else {FLOAT_TAG: _nonfinite_name(value)}
    if type(value).__module__.startswith("omegaconf"):  # before Mapping: DictConfig is one
        container = _omegaconf_container(value, path)
        if container is not None:
            return _to_json(container, path, depth + 1)
    if isinstance(value, Mapping):
        return _mapping_to_json(value, path, depth)
    if isinstance(value, (list, tuple)):
        return [_to_json(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        try:
            ordered = sorted(value)
        except TypeError:
            raise SerializationError(path, value, "set elements cannot be ordered") from None
        return [_to_json(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(ordered)]
    if isinstance(value, os.PathLike):
        return _to_json(os.fspath(value), path, depth + 1)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if _array_like(value):
        return _to_json(value.tolist(), path, depth + 1)  # type: ignore[attr-defined]
    if isinstance(value, numbers.Real):  # numpy floating scalars, Fraction
        try:
            number = float(value)
        except OverflowError:  # a Fraction of huge ints, for one
            raise SerializationError(path, value, "number is too large for a float") from None
        return _to_json(number, path, depth + 1)
    config = config_mapping(value, path)
    if config is not None:
        return _mapping_to_json(config, path, depth)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray, memoryview)):
        # OmegaConf's ListConfig and other sequences that are not lists
        return [_to_json(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise SerializationError(path, value, f"{type(value).__name__} has no JSON form")


def _omegaconf_container(value: object, path: str) -> object:
    """An OmegaConf config as plain containers (its module is loaded if it is one)."""
    module = type(value).__module__
    if not module.startswith("omegaconf"):
        return None
    import omegaconf

    if not isinstance(value, omegaconf.Container):
        return None
    try:
        return omegaconf.OmegaConf.to_container(value, resolve=True, throw_on_missing=True)
    except omegaconf.errors.OmegaConfBaseException as error:  # a missing value, a bad ${...}
        reason = str(error).splitlines()[0]
        raise SerializationError(path, value, f"config cannot be resolved: {reason}") from None


def config_mapping(value: object, path: str = "value") -> Mapping[Any, Any] | None:
    """The fields of a configuration object, or None if ``value`` is not one.

    Recognised: dataclass instances, ``argparse.Namespace`` and
    ``types.SimpleNamespace``, pydantic models (v2 ``model_dump``, v1 ``dict``),
    OmegaConf ``DictConfig`` (interpolations resolved; Hydra's configs are these),
    and attrs classes. Values are converted further by :func:`to_json`.

    Args:
        value: Anything.
        path: Where it sits, for error messages.

    Returns:
        A mapping of its fields (one level; nested objects are left as they are),
        or None.

    Raises:
        SerializationError: An OmegaConf config has a missing mandatory value or an
            interpolation that cannot be resolved.

    Example:
        >>> import argparse
        >>> config_mapping(argparse.Namespace(lr=0.1, layers=[64, 64]))
        {'lr': 0.1, 'layers': [64, 64]}
        >>> config_mapping(3) is None
        True
    """
    if isinstance(value, type):
        return None
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    container = _omegaconf_container(value, path)
    if isinstance(container, Mapping):
        return container
    kind = type(value)
    argparse = sys.modules.get("argparse")  # a Namespace means argparse is loaded
    if isinstance(value, types.SimpleNamespace) or (
        argparse is not None and isinstance(value, argparse.Namespace)
    ):
        return dict(vars(value))
    if hasattr(kind, "model_fields") and callable(getattr(value, "model_dump", None)):
        dumped = value.model_dump()  # type: ignore[attr-defined]  # pydantic v2
        return dumped if isinstance(dumped, Mapping) else None
    if hasattr(kind, "__fields__") and callable(getattr(value, "dict", None)):
        dumped = value.dict()  # type: ignore[attr-defined]  # pydantic v1
        return dumped if isinstance(dumped, Mapping) else None
    fields = getattr(kind, "__attrs_attrs__", None)
    if fields is not None:
        return {field.name: getattr(value, field.name) for field in fields}
    return None


def _mapping_to_json(value: Mapping[Any, Any], path: str, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = _json_key(key, path)
        if name in out:
            raise SerializationError(
                f"{path}.{name}", key, f"two keys would both be written as {name!r}"
            )
        out[name] = _to_json(item, f"{path}.{name}", depth + 1)
    if len(out) == 1 and FLOAT_TAG in out:
        raise SerializationError(
            f"{path}.{FLOAT_TAG}", value, f"a mapping whose only key is {FLOAT_TAG!r} is reserved"
        )
    return out


def strict_json(value: Any) -> Any:
    """Make plain data strict JSON the way every output of the library writes it.

    Non-finite floats become the strings ``"NaN"``, ``"Infinity"`` and
    ``"-Infinity"``; mapping keys become strings as ``json`` writes them (``1`` ->
    ``"1"``, ``None`` -> ``"null"``); tuples become lists. Used by exports, ``--json``
    output and the dashboard's API.

    Args:
        value: Plain data (dicts, lists, numbers, strings, None).

    Returns:
        A new structure that a strict encoder accepts.

    Example:
        >>> strict_json({1: [float("nan"), float("-inf"), 0.5], "t": (True, None)})
        {'1': ['NaN', '-Infinity', 0.5], 't': [True, None]}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return _nonfinite_name(value)
    if isinstance(value, Mapping):
        return {_output_key(key): strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def _output_key(key: object) -> str:
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def from_json(value: Any) -> Any:
    """Undo the tagging of non-finite floats done by :func:`to_json`.

    Args:
        value: Plain JSON data as read from a history file.

    Returns:
        The same data with every ``{"$float": ...}`` object turned back into a float.

    Example:
        >>> from_json({"eps": {"$float": "-Infinity"}, "lr": 0.1})
        {'eps': -inf, 'lr': 0.1}
    """
    if isinstance(value, dict):
        if len(value) == 1 and value.get(FLOAT_TAG) in NONFINITE_NAMES:
            return float(value[FLOAT_TAG])
        return {key: from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json(item) for item in value]
    return value


def _metric_number(name: str, value: object) -> int | float | str:
    """One metric value in stored form: int, finite float, or a non-finite name."""
    if isinstance(value, bool):
        raise InvalidMetricError(name, value, "booleans are not metric values")
    if isinstance(value, numbers.Integral):
        if not _INT_MIN <= int(value) <= _INT_MAX:
            raise InvalidMetricError(name, value, "integers must fit in 64 bits")
        return int(value)
    if isinstance(value, numbers.Real):
        try:
            number = float(value)
        except OverflowError:  # a Fraction of huge ints, for one
            raise InvalidMetricError(name, value, "number is too large for a float") from None
        return number if math.isfinite(number) else _nonfinite_name(number)
    raise InvalidMetricError(name, value, "metric values must be real numbers")


def _check_name(name: object, value: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidMetricError(name, value, "metric names must be non-empty strings")
    if not _encodable(name):
        raise InvalidMetricError(name, value, "metric name is not valid Unicode")
    return name


PLAIN_NUMBERS = frozenset((int, float))


def _plain_and_in_range(items: Sequence[Any], kinds: set[type]) -> bool:
    """Whether plain ints and floats need no conversion: all finite, all within 64 bits."""
    if int in kinds:
        ints = [item for item in items if type(item) is int]
        if min(ints) < _INT_MIN or max(ints) > _INT_MAX:
            return False
    # Only after the ints are known to be in range: isfinite() of a huge int overflows.
    return float not in kinds or all(map(math.isfinite, items))


def metric_values(name: object, value: object) -> list[int | float | str]:
    """Validate one metric's value(s) and return them in stored form.

    A scalar is one value; a list, tuple, range or one-dimensional array is many.

    Args:
        name: The metric name (a non-empty str).
        value: A number, or a flat sequence of numbers.

    Returns:
        A new list of ints, finite floats and the strings ``"NaN"``, ``"Infinity"``,
        ``"-Infinity"`` for non-finite values.

    Raises:
        InvalidMetricError: The name is not a non-empty str of valid Unicode, or a value
            is not a real number (bools, strings, None and nested sequences included;
            a number too large for a float or, for ints, for 64 bits).

    Example:
        >>> metric_values("loss", [0.5, float("nan"), 3])
        [0.5, 'NaN', 3]
    """
    name = _check_name(name, value)
    items: object = value
    if _array_like(value):
        items = value.tolist()  # type: ignore[attr-defined]
    if isinstance(items, (list, tuple, range)):
        kinds = set(map(type, items))
        if kinds <= PLAIN_NUMBERS and _plain_and_in_range(items, kinds):
            return list(items)  # checked in C-level passes: finite floats, 64-bit ints
        out: list[int | float | str] = []
        for item in items:
            if isinstance(item, (list, tuple, Mapping)) or (
                _array_like(item) and getattr(item, "ndim", 0) > 0
            ):
                raise InvalidMetricError(name, value, "metric values must be a flat sequence")
            out.append(_metric_number(name, item))
        return out
    if isinstance(items, (Mapping, str, bytes, set, frozenset)) or (
        isinstance(items, Iterable) and not isinstance(items, numbers.Real)
    ):
        raise InvalidMetricError(name, value, "metric values must be real numbers")
    return [_metric_number(name, items)]


def metric_point(metrics: object) -> dict[str, int | float | str]:
    """Validate one step's metrics (one number per name) and return them in stored form.

    This is the hot path of streaming: a plain dict of ASCII str names to finite
    Python floats and ints is checked in one pass and returned as it is, without a
    copy.

    Args:
        metrics: A mapping of metric name to one real number.

    Returns:
        A dict of name to int, finite float or non-finite name; possibly ``metrics``
        itself (never modified).

    Raises:
        InvalidArgumentError: ``metrics`` is not a mapping.
        InvalidMetricError: A name is not a non-empty str of valid Unicode or a value
            is not one real number (that fits a float, or 64 bits for an int); the
            error names the metric.

    Example:
        >>> metric_point({"loss": 0.25, "lr": float("inf")})
        {'loss': 0.25, 'lr': 'Infinity'}
    """
    if type(metrics) is dict:
        for name, value in metrics.items():
            kind = type(value)
            if (
                type(name) is not str
                or not name
                or not name.isascii()
                or not (
                    (kind is float and value - value == 0.0)
                    or (kind is int and _INT_MIN <= value <= _INT_MAX)
                )
            ):
                break
        else:
            return metrics
    if not isinstance(metrics, Mapping):
        raise InvalidArgumentError(
            "metrics", metrics, f"must be a dict, not {type(metrics).__name__}"
        )
    out: dict[str, int | float | str] = {}
    for name, value in metrics.items():
        _check_name(name, value)
        item = value.tolist() if _array_like(value) else value
        if isinstance(item, (list, tuple, Mapping)):
            raise InvalidMetricError(name, value, "log() takes one number per metric")
        out[name] = _metric_number(name, item)
    return out


def decode_metric_values(values: list[Any]) -> list[int | float]:
    """Turn stored metric values back into numbers.

    Args:
        values: A metric list as stored.

    Returns:
        The same list object when it holds no non-finite values, else a new list with
        ``float("nan")``, ``float("inf")`` or ``float("-inf")`` in their places.

    Example:
        >>> decode_metric_values([1.0, "Infinity"])
        [1.0, inf]
    """
    if str in set(map(type, values)):
        return [float(item) if type(item) is str else item for item in values]
    return values


def _check_int(path: str, value: int) -> int:
    if not _INT_MIN <= value <= _INT_MAX:
        raise SerializationError(path, value, "integers must fit in 64 bits")
    return value


def dumps(document: Any) -> bytes:
    """Encode plain JSON data as strict UTF-8 JSON.

    Args:
        document: Data already made JSON-safe by :func:`to_json` and :func:`metric_values`.

    Returns:
        The encoded bytes; floats keep their exact value when read back.

    Raises:
        SerializationError: The data holds something that is not JSON (a bug, or
            hand-made input that skipped :func:`to_json`).

    Example:
        >>> dumps({"a": [1, 0.1]})
        b'{"a":[1,0.1]}'
    """
    import orjson  # deferred: keeps `import experiment_manager` cheap

    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError as error:
        path, value = _first_unencodable(document)
        raise SerializationError(path, value, str(error)) from error


def _first_unencodable(document: Any) -> tuple[str, object]:
    """The key path and value of the first part of ``document`` that orjson refuses.

    Walked with an explicit stack, so a document nested deeper than the interpreter's
    recursion limit is located too; ``("document", document)`` if nothing is found.
    """
    stack: list[tuple[str, Any, int]] = [("document", document, 0)]
    while stack:
        path, value, depth = stack.pop()
        if value is None or isinstance(value, (bool, float)):
            continue
        if isinstance(value, str):
            if not _encodable(value):
                return path, value
        elif isinstance(value, int):
            if not _INT_MIN <= value <= _INT_MAX:
                return path, value
        elif isinstance(value, (dict, list, tuple)) and depth >= _ORJSON_MAX_DEPTH:
            return path, value
        elif isinstance(value, dict):
            children = []
            for key, item in value.items():
                if not isinstance(key, str):
                    return f"{path}.{key!r}", key
                if not _encodable(key):
                    return _field(path, key), key
                children.append((_field(path, key), item, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(value, (list, tuple)):
            children = [(f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value)]
            stack.extend(reversed(children))
        else:
            return path, value
    return "document", document


#: The most bytes (as JSON) a version's hyperparameters, or its metadata, may take. A
#: version's record is rewritten by later calls of the run, so a 50 MB value would make
#: every one of them pay for it; big things belong in files (a checkpoint, a path).
MAX_FIELD_BYTES = 1 << 20


def check_size(field: str, value: Any, limit: int = MAX_FIELD_BYTES) -> None:
    """Refuse a value (in stored form) whose JSON is bigger than ``limit`` bytes.

    The error names the part that makes it too big: the key whose value alone is
    over the limit, followed down while one key's is (``hyperparameters['model']
    ['weights']``), else the field's biggest key.

    Args:
        field: Its name, for the error (``hyperparameters``, ``metadata``).
        value: The value in stored form (see :func:`to_json`).
        limit: The most bytes allowed.

    Raises:
        InvalidArgumentError: The value is too big; its ``argument`` is the field
            and key (``metadata['blob']``), and it says both sizes.

    Example:
        >>> check_size("metadata", {"note": "short"})
        >>> try:
        ...     check_size("metadata", {"note": "x" * 100, "id": 1}, limit=64)
        ... except ValueError as error:
        ...     print(error.argument)
        metadata['note']
    """
    size = len(dumps(value))
    if size <= limit:
        return
    path, part, part_size = field, value, size
    while isinstance(part, (dict, list)) and part:
        children = part.items() if isinstance(part, dict) else enumerate(part)
        key, child, child_size = max(
            ((key, child, len(dumps(child))) for key, child in children), key=lambda c: c[2]
        )
        if child_size <= limit and path != field:
            break  # no one key of this part is too big: the part as a whole is
        shown = repr(key) if len(repr(key)) <= 80 else repr(key)[:77] + "..."
        path, part, part_size = f"{path}[{shown}]", child, child_size
        if child_size <= limit:
            break  # the field's biggest key, none being too big alone
    raise InvalidArgumentError(
        path,
        f"{part_size:,} bytes of JSON",
        f"{field} take {size:,} bytes, more than the limit of {limit:,} bytes; keep big "
        "values in a file and record its path",
    )


#: The most characters of an exception's message a failed version's ``error`` keeps:
#: the head and the tail, with a marker saying how many were cut between them.
MAX_ERROR_CHARS = 8_192


def error_details(kind: str, message: str, limit: int = MAX_ERROR_CHARS) -> dict[str, str]:
    r"""A failed version's ``error``: the exception's type in full, its message bounded.

    A lone surrogate (say from an undecodable file name) is kept escaped (``\udcff``),
    so the record can be written. A message longer than ``limit`` characters keeps its
    head and its tail, joined by a marker naming how many characters were cut.

    Args:
        kind: The exception's type name.
        message: Its message.
        limit: The most characters kept of the message, the marker included.

    Returns:
        ``{"type": kind, "message": message}``, both valid UTF-8.

    Example:
        >>> error_details("ValueError", "a" * 50 + "b" * 50, limit=60)["message"]
        'aaaaaaaaaaaa [... 76 of 100 characters cut ...] bbbbbbbbbbbb'
    """
    kind = kind.encode("utf-8", "backslashreplace").decode("utf-8")
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(message) > limit:
        cut = len(message) - limit
        for _ in range(3):  # the marker's own length changes how much is cut
            marker = f" [... {cut:,} of {len(message):,} characters cut ...] "
            kept = max(limit - len(marker), 0)
            cut = len(message) - kept
        head = kept // 2
        tail = kept - head
        message = message[:head] + marker + (message[-tail:] if tail else "")
    return {"type": kind, "message": message}


def loads(data: bytes | memoryview) -> Any:
    """Parse strict JSON (``NaN`` and ``Infinity`` tokens are errors).

    Args:
        data: UTF-8 JSON text (a view of part of a buffer is read without a copy).

    Returns:
        The parsed data.

    Raises:
        ValueError: The text is not strict JSON.

    Example:
        >>> loads(b'{"a": [1, 2.5]}')
        {'a': [1, 2.5]}
    """
    import orjson

    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ValueError(str(error)) from None
