"""What every reader relies on in a stored version record, checked once where it is parsed.

A history may be edited by hand, restored from elsewhere or damaged. Readers (summaries,
search, the CLI, the dashboard, exports) take the shape below for granted, so a record
that breaks it is refused here, with the field named, instead of failing later with an
internal error in whichever reader touches the field first.

Every field is optional (format 1 files and hand-made ones may lack some) except
``version``; a field that is present must have its documented type:

* ``created_at``, ``ended_at``: ISO 8601 text (or null); ``duration``: a finite number
  (or null); ``status``: one of the run statuses (or null).
* ``experiment_id``: text (or null); ``config_name``: text.
* ``hyperparameters``, ``metadata``: objects; ``environment``, ``error``: objects or null.
* ``steps``, ``timestamps``: objects (or null) of per-metric lists as long as the
  metric's values (or a ``$same`` reference, see :mod:`._shared_columns`); a step is an int from
  0 to 2**63 - 1, a time a finite number of seconds between 1970 and 9999.
* ``checkpoint_details``: a list of objects whose known keys have their types.
* ``downtime``: a finite number (or null); ``superseded``: an object (or null).
* ``resumed``: a list of objects; ``_revision``, ``_journal_segment``,
  ``_journal_offset``: non-negative ints.
* Nothing in a record is nested deeper than :data:`MAX_DEPTH` levels.

Example:
    >>> problem({"version": 1, "timestamps": {"loss": ["noon"]}, "metrics": {"loss": [1]}})
    "timestamps['loss'][0] is 'noon', not a time (seconds since 1970) or null"
    >>> problem({"version": 1, "created_at": "2024-01-01T00:00:00+00:00"}) is None
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

__all__ = ["MAX_DEPTH", "STATUSES", "problem"]

#: How deep a record may nest (values written by the library nest at most 64 levels
#: inside a field, so this leaves room for the record's own levels).
MAX_DEPTH = 100
#: The run statuses a record may hold.
STATUSES = frozenset(("running", "finished", "failed", "killed", "crashed"))
_MAX_STEP = 2**63 - 1
_MAX_TIME = 253402300799.0  # 9999-12-31T23:59:59Z, the last second datetime can show
_POINT_KEYS = ("metrics", "steps", "timestamps")
_NONFINITE = frozenset(("NaN", "Infinity", "-Infinity"))


def _short(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a{'n object' if isinstance(value, dict) else ' list'}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _is_text(value: Any) -> bool:
    return type(value) is str


def _is_time_text(value: Any) -> bool:
    if type(value) is not str or len(value) > 64:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_step(value: Any) -> bool:
    return type(value) is int and 0 <= value <= _MAX_STEP


def _is_epoch(value: Any) -> bool:
    return type(value) in (int, float) and 0 <= value <= _MAX_TIME


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _is_nonfinite_name(value: Any) -> bool:
    return type(value) is str and value in _NONFINITE


def _is_object(value: Any) -> bool:
    return type(value) is dict


def _is_list(value: Any) -> bool:
    return type(value) is list


def _is_status(value: Any) -> bool:
    return type(value) is str and value in STATUSES


Check = Callable[[Any], bool]

#: field -> (check, whether null is allowed, what it should be)
_FIELDS: dict[str, tuple[Check, bool, str]] = {
    "experiment_id": (_is_text, True, "text"),
    "created_at": (_is_time_text, True, "an ISO 8601 time"),
    "config_name": (_is_text, False, "text"),
    "hyperparameters": (_is_object, False, "an object"),
    "metadata": (_is_object, False, "an object"),
    "status": (_is_status, True, f"one of {', '.join(sorted(STATUSES))}"),
    "ended_at": (_is_time_text, True, "an ISO 8601 time"),
    "duration": (_is_number, True, "a finite number of seconds"),
    "error": (_is_object, True, "an object"),
    "environment": (_is_object, True, "an object"),
    "resumed": (_is_list, True, "a list"),
    "steps": (_is_object, True, "an object"),
    "timestamps": (_is_object, True, "an object"),
    "checkpoint_details": (_is_list, True, "a list"),
    "downtime": (_is_number, True, "a finite number of seconds"),
    "superseded": (_is_object, True, "an object"),
    "_revision": (_is_count, False, "a non-negative int"),
    "_journal_segment": (_is_count, False, "a non-negative int"),
    "_journal_offset": (_is_count, False, "a non-negative int"),
}

_DETAIL_FIELDS: dict[str, tuple[Check, str]] = {
    "path": (_is_text, "text"),
    "abspath": (_is_text, "text"),
    "step": (_is_step, "a step (an int from 0)"),
    "added_at": (_is_time_text, "an ISO 8601 time"),
    "exists": (lambda value: type(value) is bool, "true or false"),
    "size": (_is_count, "a size in bytes"),
    "mtime": (_is_epoch, "a time (seconds since 1970)"),
    "sha256": (_is_text, "text"),
    "metrics": (_is_object, "an object"),
}

_ERROR_FIELDS = ("type", "message")
_RESUME_FIELDS: dict[str, tuple[Check, str]] = {
    "at": (_is_time_text, "an ISO 8601 time"),
    "from_status": (_is_text, "text"),
    "pid": (_is_int, "an int"),
    "hostname": (_is_text, "text"),
    "from_step": (_is_step, "a step (an int from 0)"),
    "step": (_is_step, "a step (an int from 0)"),
}


def problem(record: dict[str, Any]) -> str | None:
    """What is wrong with a parsed record's fields, or None when readers can rely on it.

    ``version``, ``metrics`` and ``checkpoints`` are checked by the caller; this checks
    every other field (see the module's description).

    Args:
        record: A version in stored form, as parsed (a dict).

    Returns:
        The first problem found, naming the field, or None.
    """
    for key, (check, nullable, expected) in _FIELDS.items():
        if key not in record:
            continue
        value = record[key]
        if value is None and nullable:
            continue
        if not check(value):
            return f"{key} is {_short(value)}, not {expected}"
    return (
        _columns_problem(record, "steps", _is_step, "a step (an int from 0)")
        or _columns_problem(record, "timestamps", _is_epoch, "a time (seconds since 1970)")
        or _details_problem(record.get("checkpoint_details"))
        or _error_problem(record.get("error"))
        or _resumed_problem(record.get("resumed"))
        or _depth_problem(record)
    )


def _columns_problem(record: dict[str, Any], key: str, check: Check, expected: str) -> str | None:
    columns = record.get(key)
    if not columns:
        return None
    metrics = record.get("metrics") or {}
    for name, stored in columns.items():
        column = stored
        if type(column) is dict:  # a reference, checked by _shared_columns.problem
            column = columns.get(column.get("$same"))
            if type(column) is not list:
                continue
        if type(column) is not list:
            return f"{key}[{name!r}] is {_short(column)}, not a list"
        values = metrics.get(name)
        if type(values) is list and len(column) != len(values):
            return (
                f"{key}[{name!r}] holds {len(column)} entries for {len(values)} values of "
                f"metric {name!r}"
            )
        for index, item in enumerate(column):
            if item is not None and not check(item):
                return f"{key}[{name!r}][{index}] is {_short(item)}, not {expected} or null"
    return None


def _details_problem(details: Any) -> str | None:
    if not details:
        return None
    for index, detail in enumerate(details):
        if type(detail) is not dict:
            return f"checkpoint_details[{index}] is {_short(detail)}, not an object"
        for key, (check, expected) in _DETAIL_FIELDS.items():
            value = detail.get(key)
            if value is not None and not check(value):
                return f"checkpoint_details[{index}].{key} is {_short(value)}, not {expected}"
        if type(detail.get("path")) is not str:
            return f"checkpoint_details[{index}] has no path"
        for name, value in (detail.get("metrics") or {}).items():
            if not (_is_number(value) or value is None or _is_nonfinite_name(value)):
                return (
                    f"checkpoint_details[{index}].metrics[{name!r}] is {_short(value)}, "
                    "not a number"
                )
    return None


def _error_problem(error: Any) -> str | None:
    if not error:
        return None
    for key in _ERROR_FIELDS:
        value = error.get(key)
        if value is not None and type(value) is not str:
            return f"error.{key} is {_short(value)}, not text"
    return None


def _resumed_problem(resumed: Any) -> str | None:
    if not resumed:
        return None
    for index, entry in enumerate(resumed):
        if type(entry) is not dict:
            return f"resumed[{index}] is {_short(entry)}, not an object"
        for key, (check, expected) in _RESUME_FIELDS.items():
            value = entry.get(key)
            if value is not None and not check(value):
                return f"resumed[{index}].{key} is {_short(value)}, not {expected}"
    return None


def _depth_problem(record: dict[str, Any]) -> str | None:
    """Whether anything but the point lists (checked flat above) nests too deep."""
    stack: list[tuple[Any, int, str]] = [
        (value, 2, key) for key, value in record.items() if key not in _POINT_KEYS
    ]
    while stack:
        value, depth, where = stack.pop()
        if type(value) is dict:
            children: Any = value.values()
        elif type(value) is list:
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            return f"{where} is nested deeper than {MAX_DEPTH} levels"
        stack.extend((child, depth + 1, where) for child in children)
    return None
