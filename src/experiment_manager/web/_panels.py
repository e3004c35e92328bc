"""The workspace's panels: an experiment's metrics grouped as the dashboard lays them out.

Metrics are grouped by the prefix before their first ``/`` (``train/loss`` and
``train/acc`` in ``train``); metrics without one come first (group ``""``) and
``system/`` metrics last, in a group of their own. ``static/panels.js`` groups the
same way, so ``GET /api/experiments/{id}/panels`` is the JSON twin of the grid.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["SYSTEM_GROUP", "group_metrics"]

#: The group of the metrics the system sampler logs (``system/cpu_percent``...).
SYSTEM_GROUP = "system"


def group_metrics(names: Iterable[str]) -> list[dict[str, Any]]:
    """Group metric names into the workspace's panel groups.

    Args:
        names: Metric names.

    Returns:
        ``[{"name", "system", "metrics"}]``: ungrouped metrics first, then groups by
        name, ``system`` last; metrics sorted within each group (by code point, as
        the browser sorts them).

    Example:
        >>> groups = group_metrics(["system/cpu", "val/loss", "loss", "train/loss", "train/a"])
        >>> [(g["name"], g["metrics"]) for g in groups][:2]
        [('', ['loss']), ('train', ['train/a', 'train/loss'])]
        >>> [g["name"] for g in groups]
        ['', 'train', 'val', 'system']
    """
    groups: dict[str, list[str]] = {}
    for name in names:
        cut = name.find("/")
        groups.setdefault(name[:cut] if cut > 0 else "", []).append(name)

    def rank(group: str) -> tuple[int, str]:
        return (0 if group == "" else 2 if group == SYSTEM_GROUP else 1, group)

    return [
        {"name": group, "system": group == SYSTEM_GROUP, "metrics": sorted(groups[group])}
        for group in sorted(groups, key=rank)
    ]
