"""Stored form to the form readers get: numbers decoded, bookkeeping removed."""

from __future__ import annotations

from typing import Any

from experiment_manager import _serialize

__all__ = ["PRIVATE_KEYS", "decode_summary", "decode_version"]

#: Keys kept in the stored form for the library's own bookkeeping, not returned.
PRIVATE_KEYS = ("_journal_offset", "_journal_segment", "_revision")


def decode_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """Turn a stored summary into the decoded form readers get (in place).

    Args:
        summary: A summary as :func:`.stores._index.summarize` made it.

    Returns:
        The same dict, aggregates as numbers and tags decoded.

    Example:
        >>> decode_summary({"metric_summaries": {"loss": {"last": "NaN", "min": 1}}})
        {'metric_summaries': {'loss': {'last': nan, 'min': 1}}}
    """
    for key in ("hyperparameters", "metadata"):
        if key in summary:
            summary[key] = _serialize.from_json(summary[key])
    for aggregates in (summary.get("metric_summaries") or {}).values():
        for key in ("last", "min", "max", "mean"):
            if isinstance(aggregates.get(key), str):
                aggregates[key] = float(aggregates[key])
    return summary


def decode_version(stored: dict[str, Any]) -> dict[str, Any]:
    """Turn one stored version into the dict ``read_history`` returns.

    Args:
        stored: A version in stored form; it is modified and returned.

    Returns:
        The version with metric values (superseded ones too) as numbers,
        non-finite tags in hyperparameters and metadata turned back into floats,
        and private bookkeeping keys removed.

    Example:
        >>> decode_version({"metrics": {"acc": [1, "-Infinity"]}, "hyperparameters": {}})
        {'metrics': {'acc': [1, -inf]}, 'hyperparameters': {}}
    """
    for key in PRIVATE_KEYS:
        stored.pop(key, None)
    for key in ("hyperparameters", "metadata", "hyperparameter_changes"):
        if key in stored:
            stored[key] = _serialize.from_json(stored[key])
    metrics = stored.get("metrics")
    if metrics:
        stored["metrics"] = {
            name: _serialize.decode_metric_values(values) for name, values in metrics.items()
        }
    superseded = stored.get("superseded")
    if isinstance(superseded, dict):  # points a resume from a step set aside, kept
        for moved in superseded.values():
            if isinstance(moved, dict) and isinstance(moved.get("values"), list):
                moved["values"] = _serialize.decode_metric_values(moved["values"])
    details = stored.get("checkpoint_details")
    if details:
        for detail in details:
            if detail.get("metrics"):
                detail["metrics"] = {
                    name: _serialize.decode_metric_values([value])[0]
                    for name, value in detail["metrics"].items()
                }
    return stored
