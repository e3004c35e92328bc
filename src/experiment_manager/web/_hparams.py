"""Hyperparameters against a metric summary: the data of parallel coordinates and scatter.

One row per version: the value of each hyperparameter that differs between versions
(nested keys dotted) and one aggregate of a metric (``metrics.<name>.<agg>``). An axis
is ``number`` when every value on it is a number (bools are not), else ``category``
with its values listed as text, in the order the browser places them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from experiment_manager.web._listing import flatten

__all__ = ["hparam_rows"]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def hparam_rows(
    summaries: Sequence[Mapping[str, Any]], metric: str | None, agg: str
) -> dict[str, Any]:
    """The axes and rows of the hyperparameter views.

    Args:
        summaries: Every version's summary, in version order.
        metric: The metric whose aggregate is the last axis (None: no metric axis).
        agg: ``last``, ``min``, ``max``, ``mean`` or ``count``.

    Returns:
        ``{"axes": [{"key", "kind", "categories"}], "versions": [{"version",
        "values", "metric"}]}``: the hyperparameters that differ (all of them when
        none does), and per version its value on each axis (None where it has
        none) and the metric's aggregate (None without it).

    Example:
        >>> rows = hparam_rows([
        ...     {"version": 1, "hyperparameters": {"lr": 0.1, "opt": "sgd", "bs": 32},
        ...      "metric_summaries": {"loss": {"min": 0.5}}},
        ...     {"version": 2, "hyperparameters": {"lr": 0.01, "opt": "adam", "bs": 32}}],
        ...     "loss", "min")
        >>> [(a["key"], a["kind"]) for a in rows["axes"]]
        [('lr', 'number'), ('opt', 'category')]
        >>> rows["versions"][1]
        {'version': 2, 'values': [0.01, 'adam'], 'metric': None}
    """
    flats = [
        {".".join(key): value for key, value in flatten(s.get("hyperparameters") or {}).items()}
        for s in summaries
    ]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    varying = [k for k in keys if len({repr(flat.get(k)) for flat in flats}) > 1]
    chosen = varying or keys
    axes: list[dict[str, Any]] = []
    for key in chosen:
        present = [flat[key] for flat in flats if key in flat and flat[key] is not None]
        if present and all(_is_number(v) for v in present):
            axes.append({"key": key, "kind": "number", "categories": None})
        else:
            texts = sorted({_text(flat.get(key)) for flat in flats})
            axes.append({"key": key, "kind": "category", "categories": texts})
    rows = []
    for summary, flat in zip(summaries, flats, strict=True):
        values: list[Any] = []
        for axis in axes:
            value = flat.get(axis["key"])
            values.append(_text(value) if axis["kind"] == "category" else value)
        found = ((summary.get("metric_summaries") or {}).get(metric) or {}) if metric else {}
        number = found.get(agg)
        if not _is_number(number) or (isinstance(number, float) and not math.isfinite(number)):
            number = None
        rows.append({"version": summary["version"], "values": values, "metric": number})
    return {"axes": axes, "versions": rows}
