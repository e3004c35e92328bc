"""Where a version was resumed, as marks on a chart's x axis: what charts draw.

``resume_experiment`` records each resume in the version's ``resumed`` list: its time
(``at``), the step the run goes on from (``step``) and, when it superseded the points
logged before at a step or later, that step (``from_step``). The dashboard's charts
and ``expm plot`` draw a vertical marker there, labelled; the superseded points
themselves are not in ``metrics``, so no chart draws them.

Example:
    >>> resumed = [{"at": "2026-01-01T00:00:10+00:00", "from_status": "crashed",
    ...             "step": 15, "from_step": 15}]
    >>> [(m["x"], m["label"]) for m in resume_marks(resumed, "step")]
    [(15, 'resumed from step 15')]
    >>> resume_marks(resumed, "time")[0]["x"]
    1767225610.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

__all__ = ["resume_marks"]


def _step(entry: Mapping[str, Any]) -> int | None:
    for key in ("from_step", "step"):  # an entry of an older version has neither
        value = entry.get(key)
        if type(value) is int:
            return value
    return None


def _seconds(at: Any) -> float | None:
    if not isinstance(at, str):
        return None
    try:
        return datetime.fromisoformat(at).timestamp()
    except ValueError:
        return None


def _label(entry: Mapping[str, Any]) -> str:
    from_step, step = entry.get("from_step"), entry.get("step")
    if type(from_step) is int:
        return f"resumed from step {from_step}"
    if type(step) is int:
        return f"resumed at step {step}"
    return "resumed"


def resume_marks(resumed: Sequence[Mapping[str, Any]] | None, x: str) -> list[dict[str, Any]]:
    """The resumes of one version placed on an x axis.

    Args:
        resumed: The version's ``resumed`` entries (None or empty: never resumed).
        x: The axis: ``step`` (a mark at the step the run went on from), ``time``
            (at the resume's time, Unix seconds) or ``index`` (no marks: a value's
            position in one metric's list says nothing of when it was logged).

    Returns:
        One ``{"x", "label", "at", "from_status", "from_step"}`` per resume that has
        a place on the axis, in the order of the resumes.

    Example:
        >>> resume_marks([{"at": "2026-01-01T00:00:00+00:00", "step": 20}], "step")[0]["label"]
        'resumed at step 20'
    """
    marks: list[dict[str, Any]] = []
    for entry in resumed or []:
        if not isinstance(entry, Mapping):
            continue
        place: float | int | None
        if x == "step":
            place = _step(entry)
        elif x == "time":
            place = _seconds(entry.get("at"))
        else:
            place = None
        if place is None:
            continue
        from_step = entry.get("from_step")
        marks.append(
            {
                "x": place,
                "label": _label(entry),
                "at": entry.get("at"),
                "from_status": entry.get("from_status"),
                "from_step": from_step if type(from_step) is int else None,
            }
        )
    return marks
