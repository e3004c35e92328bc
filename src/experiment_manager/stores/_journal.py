"""Folding streamed points into a stored version, keeping steps and times aligned.

A journal line is ``{"m": {name: value, ...}, "s": step, "t": wall_time}`` with values
in stored form. ``steps[name]`` and ``timestamps[name]`` exist for metrics that have
streamed points and are parallel to ``metrics[name]`` (None for values that came from
``log_metrics``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from experiment_manager import _serialize
from experiment_manager.errors import CorruptHistoryError

__all__ = ["apply_journal", "extend"]


def extend(
    record: dict[str, Any],
    metrics: Mapping[str, Sequence[Any]],
    steps: Mapping[str, Sequence[Any]],
    timestamps: Mapping[str, Sequence[float]],
) -> None:
    """Extend metric lists; ``steps``/``timestamps`` stay parallel where they exist."""
    stored_metrics = record.setdefault("metrics", {})
    for name, values in metrics.items():
        column = stored_metrics.setdefault(name, [])
        if name in steps or name in record.get("steps", {}):
            _align(record, name, len(column))
            record["steps"][name].extend(steps.get(name, [None] * len(values)))
            record["timestamps"][name].extend(timestamps.get(name, [None] * len(values)))
        column.extend(values)


def _align(record: dict[str, Any], name: str, length: int) -> None:
    """Give metric ``name`` step and time lists as long as its ``length`` values."""
    for key in ("steps", "timestamps"):
        column = record.setdefault(key, {}).setdefault(name, [])
        if len(column) < length:
            column.extend([None] * (length - len(column)))


def apply_journal(record: dict[str, Any], data: bytes, source: str) -> None:
    """Append the points of complete journal lines to a stored version (in place).

    Each line is ``{"m": {name: value, ...}, "s": step, "t": wall_time}`` with values
    in stored form.

    Args:
        record: The version's stored dict.
        data: Complete lines (ending with a newline).
        source: Names the journal in error messages.

    Raises:
        CorruptHistoryError: A line cannot be parsed.
    """
    metrics = record.setdefault("metrics", {})
    steps = record.setdefault("steps", {})
    times = record.setdefault("timestamps", {})
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            point = _serialize.loads(line)
            step, wall, values = point["s"], point["t"], point["m"]
            items = values.items()
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CorruptHistoryError(source, f"line {number} is not a journal point") from None
        for name, value in items:
            column = metrics.setdefault(name, [])
            if name not in steps:
                _align(record, name, len(column))
            column.append(value)
            steps[name].append(step)
            times[name].append(wall)
