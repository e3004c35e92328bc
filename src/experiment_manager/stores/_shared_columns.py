"""Steps and times stored once for the metrics that share them.

``log()`` gives every metric of one call the same step and wall time, so a version that
logs ten metrics per step would store each step's time ten times (18 bytes each). On
disk, a ``steps`` or ``timestamps`` list equal to an earlier metric's is written as
``{"$same": "<that metric>"}``; readers get the lists back in full.

Example:
    >>> record = {"timestamps": {"loss": [1.5, 2.5], "acc": [1.5, 2.5]}, "steps": {}}
    >>> packed = pack(record)
    >>> packed["timestamps"]
    {'loss': [1.5, 2.5], 'acc': {'$same': 'loss'}}
    >>> unpack(packed)["timestamps"]
    {'loss': [1.5, 2.5], 'acc': [1.5, 2.5]}
"""

from __future__ import annotations

from typing import Any

__all__ = ["KEYS", "pack", "problem", "unpack"]

#: The fields whose per-metric lists may be shared.
KEYS = ("steps", "timestamps")
_SAME = "$same"


def pack(record: dict[str, Any]) -> dict[str, Any]:
    """The record to write: each list equal to an earlier metric's becomes a reference.

    Args:
        record: A version in stored form (not changed).

    Returns:
        A shallow copy with packed ``steps`` and ``timestamps`` (the record itself
        when there is nothing to share).
    """
    out = record
    for key in KEYS:
        columns = record.get(key)
        if type(columns) is not dict or len(columns) < 2:
            continue
        packed: dict[str, Any] = {}
        first_of: dict[tuple[int, Any, Any], list[str]] = {}
        shared = False
        for name, column in columns.items():
            if type(column) is not list or not column:
                packed[name] = column
                continue
            mark = (len(column), column[0], column[-1])
            same = next(
                (other for other in first_of.get(mark, ()) if columns[other] == column), None
            )
            if same is None:
                first_of.setdefault(mark, []).append(name)
                packed[name] = column
            else:
                packed[name] = {_SAME: same}
                shared = True
        if shared:
            if out is record:
                out = dict(record)
            out[key] = packed
    return out


def problem(record: dict[str, Any]) -> str | None:
    """What is wrong with a record's references, or None.

    Args:
        record: A version in stored form, as read.

    Returns:
        A description of the first bad reference, or None when every reference names
        another metric's list.
    """
    for key in KEYS:
        columns = record.get(key)
        if type(columns) is not dict:
            continue
        for name, column in columns.items():
            if type(column) is dict:
                other = column.get(_SAME)
                if len(column) != 1 or type(other) is not str or other == name:
                    return f"{key}[{name!r}] is neither a list nor a reference to another"
                if type(columns.get(other)) is not list:
                    return f"{key}[{name!r}] refers to {other!r}, which holds no list"
    return None


def unpack(record: dict[str, Any]) -> dict[str, Any]:
    """Give every reference its list back (in place; see :func:`problem` first).

    Args:
        record: A version in stored form, as read.

    Returns:
        The same record.
    """
    for key in KEYS:
        columns = record.get(key)
        if type(columns) is not dict:
            continue
        for name, column in columns.items():
            if type(column) is dict:
                columns[name] = list(columns[column[_SAME]])
    return record
