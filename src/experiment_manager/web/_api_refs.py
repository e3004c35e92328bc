"""The API over versions of several experiments: ``/api/compare`` and ``/api/series``.

Versions are named ``id@version`` in a comma-separated ``refs`` parameter (the search
page's selection). Both read what the one-experiment endpoints read: summaries for
the comparison, the history cache's curves for the overlay. A version in the trash, or
an archived one without ``all=1``, answers 404 (see :mod:`._visibility`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from experiment_manager import _ranges
from experiment_manager._naming import validate_experiment_id
from experiment_manager._resume_marks import resume_marks
from experiment_manager.errors import InvalidArgumentError
from experiment_manager.web import _params, _visibility
from experiment_manager.web._api import (
    _NO_STORE,
    _cache,
    _endpoint,
    _listings,
    _manager,
    _series_entry,
    _superseded_entry,
)
from experiment_manager.web._downsample import DEFAULT_BUCKETS, MAX_BUCKETS
from experiment_manager.web._responses import prepared_json
from experiment_manager.web._series import X_AXES

__all__ = ["MAX_REFS", "compare", "parse_refs", "series"]

#: The most versions one request may name.
MAX_REFS = 100


def parse_refs(text: str | None) -> list[tuple[str, int]]:
    """Parse ``refs=a@1,b@2-4,5`` into ``(experiment_id, version)`` pairs, in order.

    Each ``id@`` takes a version list as the CLI reads one (``a@1-3``); a part without
    ``@`` goes on with the experiment before it (``a@1,3,5-7``), as ``expm diff`` does.

    Args:
        text: The parameter's text.

    Returns:
        The pairs, without repeats.

    Raises:
        InvalidArgumentError: Missing, malformed (naming the part), a bad range, or
            more than :data:`MAX_REFS` versions.
        InvalidExperimentIdError: An id is not a safe experiment id.

    Example:
        >>> parse_refs("mnist@1, other@12")
        [('mnist', 1), ('other', 12)]
        >>> parse_refs("a@1-3,b@2,5")
        [('a', 1), ('a', 2), ('a', 3), ('b', 2), ('b', 5)]
    """
    if text is None or not text.strip():
        raise InvalidArgumentError("refs", text, "is required (such as refs=mnist@1,other@2)")
    pairs: dict[tuple[str, int], None] = {}
    current: str | None = None
    for part in text.split(","):
        experiment_id, at, spec = part.strip().rpartition("@")
        if at and experiment_id:
            current = validate_experiment_id(experiment_id)
        elif current is None or at:
            raise InvalidArgumentError("refs", part.strip(), "is not id@version")
        numbers = _ranges.parse_versions(spec, argument="refs")
        if len(pairs) + len(numbers) > MAX_REFS:
            raise InvalidArgumentError("refs", text, f"names more than {MAX_REFS} versions")
        pairs.update(dict.fromkeys((current, number) for number in numbers))
    return list(pairs)


def _check_served(request: Request, refs: list[tuple[str, int]]) -> None:
    archived = _visibility.include_archived(request.query_params)
    by_experiment: dict[str, list[int]] = {}
    for experiment_id, number in refs:
        by_experiment.setdefault(experiment_id, []).append(number)
    for experiment_id, numbers in by_experiment.items():
        _visibility.served_versions(_listings(request), experiment_id, numbers, archived)


@_endpoint
def compare(request: Request) -> Any:
    """``GET /api/compare?refs=a@1,b@2``: what differs between versions of any experiments."""
    query = request.query_params
    refs = parse_refs(query.get("refs"))
    all_fields = (query.get("all_fields") or "").lower() in _params.TRUE
    _check_served(request, refs)
    return _manager(request).compare_versions(refs, all_fields=all_fields)


@_endpoint
def series(request: Request) -> Any:
    """``GET /api/series?metric=&refs=&x=&buckets=``: one metric of versions of any experiments.

    ``superseded=1`` adds each version's superseded points, as ``/series`` does.
    """
    query = request.query_params
    metric = _params.required("metric", query.get("metric"))
    refs = parse_refs(query.get("refs"))
    x = _params.choice("x", query.get("x"), X_AXES)
    buckets = _params.integer("buckets", query.get("buckets"), DEFAULT_BUCKETS, 0, MAX_BUCKETS)
    _check_served(request, refs)
    archived = _visibility.include_archived(query)
    superseded = _params.flag("superseded", query.get("superseded"))
    out = []
    for experiment_id, number in refs:
        curves = _cache(request).curves(experiment_id, metric, x)
        entry = _series_entry(
            number, curves.status(number), curves.series(number, x), (None, None), buckets
        )
        # Where the version was resumed, as the experiment page's chart marks it.
        listed = _listings(request).of_versions(experiment_id, [number], include_archived=archived)
        resumed = listed[number].get("resumed") if number in listed else None
        if superseded:
            bounds = (x, None, None, buckets)
            entry["superseded"] = _superseded_entry(request, experiment_id, metric, number, bounds)
        out.append(
            {
                "experiment_id": experiment_id,
                "ref": f"{experiment_id}@{number}",
                **entry,
                "resumes": resume_marks(resumed, x),
            }
        )
    return prepared_json({"metric": metric, "x": x, "series": out}, _NO_STORE)
