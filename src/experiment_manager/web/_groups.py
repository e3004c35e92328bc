"""Versions grouped by a hyperparameter or a tag: each group's curve as mean and band.

Every version of a group is resampled onto one grid of x values shared by all groups
(linear interpolation between its own points, nothing outside its own x range, NaN
and infinite points left out), and at each grid point the group's ``mean``, ``min``,
``max``, ``std`` (population) and ``count`` of versions are taken. The dashboard
draws the mean with a min-max or ±std band.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["group_key", "group_rows", "group_versions", "resample_groups"]

#: The key of versions without the hyperparameter, or without any tag.
NONE_KEY = "(none)"


def _text(value: Any) -> str:
    if value is None:
        return NONE_KEY
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def group_key(by: str) -> tuple[str, str]:
    """Parse what to group by: ``tag``, ``name``, ``config_name`` or ``hp:<dotted key>``.

    Args:
        by: The text.

    Returns:
        ``(kind, key)``.

    Raises:
        ValueError: Anything else.

    Example:
        >>> group_key("hp:opt.name"), group_key("tag")
        (('hp', 'opt.name'), ('tag', ''))
    """
    if by in ("tag", "name", "config_name"):
        return by, ""
    if by.startswith("hp:") and len(by) > 3:
        return "hp", by[3:]
    raise ValueError(by)


def _keys_of(summary: Mapping[str, Any], kind: str, key: str) -> list[str]:
    """The groups one version falls in (a version with two tags is in both)."""
    if kind == "tag":
        return [str(t) for t in summary.get("tags") or []] or [NONE_KEY]
    if kind == "hp":
        value: Any = summary.get("hyperparameters") or {}
        for part in key.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return [_text(value)]
    return [_text(summary.get(kind))]


def group_rows(
    summaries: Sequence[Mapping[str, Any]], rows: Sequence[int], by: str
) -> tuple[list[int], list[str], list[dict[str, Any]]]:
    """The versions table's rows grouped: each group's members together, in row order.

    Args:
        summaries: The versions' summaries.
        rows: Indices into ``summaries``, in the table's (sorted, filtered) order.
        by: What to group by (see :func:`group_key`).

    Returns:
        ``(rows, keys, groups)``: the rows group after group (groups in order of
        their keys, members in the given order; a version in two groups appears in
        both), each row's group key, and ``[{"key", "count", "versions"}]``.

    Example:
        >>> summaries = [{"version": 1, "tags": ["a"]}, {"version": 2, "tags": ["a", "b"]},
        ...              {"version": 3}]
        >>> rows, keys, groups = group_rows(summaries, [2, 1, 0], "tag")
        >>> rows, keys
        ([2, 1, 0, 1], ['(none)', 'a', 'a', 'b'])
        >>> [(g["key"], g["count"], g["versions"]) for g in groups]
        [('(none)', 1, [3]), ('a', 2, [2, 1]), ('b', 1, [2])]
    """
    kind, key = group_key(by)
    members: dict[str, list[int]] = {}
    for row in rows:
        for name in _keys_of(summaries[row], kind, key):
            members.setdefault(name, []).append(row)
    out_rows: list[int] = []
    out_keys: list[str] = []
    groups = []
    for name in sorted(members):
        found = members[name]
        out_rows += found
        out_keys += [name] * len(found)
        versions = [summaries[row]["version"] for row in found]
        groups.append({"key": name, "count": len(found), "versions": versions})
    return out_rows, out_keys, groups


def group_versions(summaries: Sequence[Mapping[str, Any]], by: str) -> dict[str, list[int]]:
    """Which versions fall in which group (a version with two tags is in both).

    Args:
        summaries: The versions' summaries.
        by: What to group by (see :func:`group_key`).

    Returns:
        Group key (text) to its versions, groups in order of their keys.

    Example:
        >>> group_versions([{"version": 1, "hyperparameters": {"lr": 0.1}},
        ...                 {"version": 2, "hyperparameters": {"lr": 0.1}},
        ...                 {"version": 3, "hyperparameters": {}}], "hp:lr")
        {'(none)': [3], '0.1': [1, 2]}
    """
    kind, key = group_key(by)
    groups: dict[str, list[int]] = {}
    for summary in summaries:
        for name in _keys_of(summary, kind, key):
            groups.setdefault(name, []).append(summary["version"])
    return {name: groups[name] for name in sorted(groups)}


def resample_groups(
    groups: Mapping[str, Sequence[int]],
    series: Callable[[int], tuple[np.ndarray, np.ndarray]],
    points: int,
) -> dict[str, Any]:
    """Each group's mean, min, max, std and count on one shared grid of x values.

    Args:
        groups: Group key to its versions.
        series: A version's ``(xs, ys)``, xs ascending.
        points: How many grid points.

    Returns:
        ``{"x": grid, "groups": [{"key", "versions", "count", "mean", "min", "max",
        "std"}]}``; ``count`` is per grid point; NaN where no version of the group has
        points there.

    Example:
        >>> data = {1: (np.array([0., 1., 2.]), np.array([1., 2., 3.])),
        ...         2: (np.array([0., 2.]), np.array([3., 5.]))}
        >>> out = resample_groups({"a": [1, 2]}, data.__getitem__, 3)
        >>> out["x"], out["groups"][0]["mean"], out["groups"][0]["min"]
        ([0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    """
    curves: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for versions in groups.values():
        for version in versions:
            if version not in curves:
                xs, ys = series(version)
                keep = np.isfinite(xs) & np.isfinite(ys)
                curves[version] = (xs[keep], ys[keep])
    lows = [xs[0] for xs, _ in curves.values() if len(xs)]
    highs = [xs[-1] for xs, _ in curves.values() if len(xs)]
    if not lows:
        return {"x": [], "groups": [_empty(k, v) for k, v in groups.items()]}
    grid = np.linspace(min(lows), max(highs), max(2, points))
    out = []
    for key, versions in groups.items():
        rows = []
        for version in versions:
            xs, ys = curves[version]
            if len(xs) == 0:
                continue
            row = np.interp(grid, xs, ys)
            row[(grid < xs[0]) | (grid > xs[-1])] = np.nan
            rows.append(row)
        if not rows:
            out.append(_empty(key, versions))
            continue
        stack = np.vstack(rows)
        with warnings.catch_warnings():  # a grid point no version reaches is NaN, quietly
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(stack, axis=0)
            std = np.nanstd(stack, axis=0)
        out.append(
            {
                "key": key,
                "versions": list(versions),
                "count": np.sum(np.isfinite(stack), axis=0).tolist(),
                "mean": _listed(mean),
                "min": _listed(np.fmin.reduce(stack, axis=0)),
                "max": _listed(np.fmax.reduce(stack, axis=0)),
                "std": _listed(std),
            }
        )
    return {"x": grid.tolist(), "groups": out}


def _listed(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def _empty(key: str, versions: Sequence[int]) -> dict[str, Any]:
    return {
        "key": key,
        "versions": list(versions),
        "count": [],
        "mean": [],
        "min": [],
        "max": [],
        "std": [],
    }
