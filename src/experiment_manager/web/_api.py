"""The JSON endpoints: parse the request, call the library, answer strict JSON.

Each endpoint is a thin wrapper over one of the manager's read calls
(``list_experiments``, ``search``, ``get_version``, ``compare``), over the cached,
sorted and filtered listing of an experiment's versions (:mod:`._listing`) or, for
curves, over the cached metric columns (:mod:`._cache`), the series builder
(:mod:`._series`) and the downsampler (:mod:`._downsample`). Endpoints are plain
functions; Starlette runs them in its thread pool. See ``docs/dashboard.md`` and
``/api/openapi.json`` for what each one takes and returns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from experiment_manager._naming import validate_experiment_id
from experiment_manager._paths import relative_to_log_dir
from experiment_manager._resume_marks import resume_marks
from experiment_manager.errors import (
    ExperimentManagerError,
    ExperimentNotFoundError,
    InvalidArgumentError,
)
from experiment_manager.query import BoolOp, FieldRef, Node, Not, parse_order_by, parse_query
from experiment_manager.stores._metric_read import SeriesRequest
from experiment_manager.web import _listing, _params, _visibility
from experiment_manager.web._downsample import DEFAULT_BUCKETS, MAX_BUCKETS, downsample
from experiment_manager.web._openapi import document as openapi_document
from experiment_manager.web._responses import (
    RequestError,
    StrictJSONResponse,
    error_response,
    prepared_json,
    status_for,
    strict_numbers,
)
from experiment_manager.web._series import X_AXES, Series, columns_of, points_after, prepare

if TYPE_CHECKING:
    from experiment_manager.manager import ExperimentManager
    from experiment_manager.web._cache import HistoryCache
    from experiment_manager.web._listing import VersionListings

__all__ = [
    "MAX_PANEL_METRICS",
    "compare",
    "experiment",
    "experiments",
    "openapi",
    "panel_series",
    "points",
    "search",
    "series",
    "version",
]

#: The most metrics one ``/panels/series`` request may name.
MAX_PANEL_METRICS = 64

Endpoint = Callable[[Request], Response]
_NO_STORE = {"Cache-Control": "no-store"}


def _endpoint(function: Callable[[Request], Any]) -> Endpoint:
    """Turn a function returning plain data into an endpoint with the API's errors."""

    @functools.wraps(function)
    def endpoint(request: Request) -> Response:
        try:
            result = function(request)
        except RequestError as refusal:
            return error_response(refusal)
        except ExperimentManagerError as error:
            if status_for(error) is None:
                raise
            return error_response(error, _manager(request).log_dir)
        if isinstance(result, Response):
            return result
        return StrictJSONResponse(result, headers=_NO_STORE)

    return endpoint


def _manager(request: Request) -> ExperimentManager:
    manager: ExperimentManager = request.app.state.manager
    return manager


def _cache(request: Request) -> HistoryCache:
    cache: HistoryCache = request.app.state.cache
    return cache


def _listings(request: Request) -> VersionListings:
    listings: VersionListings = request.app.state.listings
    return listings


def _experiment_id(request: Request) -> str:
    return validate_experiment_id(request.path_params["experiment_id"])


def _version(request: Request, experiment_id: str) -> int:
    return _params.version_number(experiment_id, request.path_params["version"])


@_endpoint
def experiments(request: Request) -> Any:
    """``GET /api/experiments``: one summary per experiment (corrupt ones with ``error``)."""
    manager = _manager(request)
    listed = manager.list_experiments()
    for entry in listed:
        if "error" in entry:  # the message names the file: not by its absolute path
            entry["error"] = relative_to_log_dir(entry["error"], manager.log_dir)
    return {"experiments": listed}


def _fields_of(node: Node) -> Iterator[FieldRef]:
    """Every field a parsed query names, left to right."""
    if isinstance(node, BoolOp):
        for operand in node.operands:
            yield from _fields_of(operand)
    elif isinstance(node, Not):
        yield from _fields_of(node.operand)
    else:
        yield node.field


def _searched_fields(query: str | None, order_by: str | None) -> list[FieldRef]:
    """The fields a search filters and orders by, each once, in the order written."""
    refs: list[FieldRef] = []
    if query:
        refs += _fields_of(parse_query(query).node)
    if order_by:
        refs += [ref for ref, _ in parse_order_by(order_by)]
    return list({str(ref): ref for ref in refs}.values())


def _page_bounds(query: Mapping[str, str]) -> tuple[int, int | None]:
    offset = _params.integer("offset", query.get("offset"), 0, 0)
    limit_text = query.get("limit")
    limit = None if not limit_text else _params.integer("limit", limit_text, 0, 0)
    return offset, limit


@_endpoint
def search(request: Request) -> Any:
    """``GET /api/search``: versions matching a filter, over one experiment or all, paged."""
    query = request.query_params
    text, order_by = query.get("q") or None, query.get("order_by") or None
    offset, limit = _page_bounds(query)
    manager = _manager(request)
    # Archived versions only with all=1, as the other endpoints and `expm search --all`.
    matched = manager.search(
        text,
        experiment_id=query.get("experiment") or None,
        order_by=order_by,
        include_archived=_visibility.include_archived(query),
    )
    results = matched[offset:] if limit is None else matched[offset : offset + limit]
    refs = _searched_fields(text, order_by)
    # The histories the search skipped, named by their file relative to the log folder.
    damaged = [
        {
            "experiment_id": entry["experiment_id"],
            "error": relative_to_log_dir(entry["error"], manager.log_dir),
        }
        for entry in matched.damaged
    ]
    return {
        "results": results,
        "count": len(results),
        "total": len(matched),
        "offset": offset,
        "limit": limit,
        "fields": [str(ref) for ref in refs],
        "values": [[ref.lookup(result)[1] for ref in refs] for result in results],
        "damaged": damaged,
    }


@_endpoint
def experiment(request: Request) -> Any:
    """``GET /api/experiments/{id}``: its versions' summaries, sorted, filtered and paged."""
    experiment_id = _experiment_id(request)
    query = request.query_params
    key = _listing.parse_sort(query.get("sort"))
    order = _params.choice("order", query.get("order"), _listing.ORDERS)
    offset, limit = _page_bounds(query)
    wanted = _params.version_list("versions", query.get("versions"))
    by = query.get("group_by") or None
    if by is not None:
        _check_group_key(by, "group_by")
    # Archived versions are listed only when asked for (as `expm history --all`).
    archived = _visibility.include_archived(query)
    listing = _listings(request).get(experiment_id, include_archived=archived)
    rows = listing.select(key, order == "desc", query.get("filter") or "", wanted).tolist()
    body: dict[str, Any] = {"experiment_id": experiment_id}
    if by is not None:
        from experiment_manager.web._groups import group_rows

        # Members of a group are listed together (a version with two tags twice), so a
        # page of rows is a page of the grouped table.
        rows, keys, found = group_rows(listing.summaries, rows, by)
        body.update(group_by=by, groups=found)
    page = rows[offset:] if limit is None else rows[offset : offset + limit]
    if by is not None:
        body["row_groups"] = keys[offset:] if limit is None else keys[offset : offset + limit]
    if offset == 0:
        # The page asks for its panels' curves next: read them meanwhile.
        names = [entry["name"] for entry in listing.columns().get("metrics") or []]
        prefetcher = getattr(request.app.state, "prefetcher", None)
        if prefetcher is not None:
            prefetcher.start(
                experiment_id,
                listing.identity,
                names,
                versions=len(listing.summaries),
                live=listing.live,
            )
    body.update(
        total=len(rows),
        offset=offset,
        limit=limit,
        sort=key.name,
        order=order,
        versions=[listing.summaries[i] for i in page],
        version_count=len(listing.summaries),
        status_counts=listing.status_counts(),
        columns=listing.columns(),
    )
    return body


def _check_group_key(by: str, name: str) -> None:
    from experiment_manager.web import _groups

    try:
        _groups.group_key(by)
    except ValueError:
        raise InvalidArgumentError(name, by, "must be tag, name, config_name or hp:<key>") from None


@_endpoint
def panels(request: Request) -> Any:
    """``GET /api/experiments/{id}/panels``: its metrics, grouped as the workspace shows them."""
    from experiment_manager.web._panels import group_metrics

    experiment_id = _experiment_id(request)
    listing = _listings(request).get(experiment_id)
    names = [entry["name"] for entry in listing.columns().get("metrics") or []]
    return {"experiment_id": experiment_id, "groups": group_metrics(names)}


@_endpoint
def hparams(request: Request) -> Any:
    """``GET /api/experiments/{id}/hparams?metric=&agg=``: hyperparameters against a metric."""
    from experiment_manager.query import AGGREGATES
    from experiment_manager.web._hparams import hparam_rows

    experiment_id = _experiment_id(request)
    query = request.query_params
    metric = query.get("metric") or None
    agg = _params.choice("agg", query.get("agg"), AGGREGATES)
    listing = _listings(request).get(experiment_id)
    names = [entry["name"] for entry in listing.columns().get("metrics") or []]
    if metric is not None and metric not in names:
        raise InvalidArgumentError("metric", metric, "is not a metric of this experiment")
    body = hparam_rows(listing.summaries, metric, agg)
    return {"experiment_id": experiment_id, "metric": metric, "agg": agg, "metrics": names, **body}


@_endpoint
def groups(request: Request) -> Any:
    """``GET /api/experiments/{id}/groups?metric=&by=&versions=``: groups' mean and band."""
    from experiment_manager.web import _groups

    experiment_id = _experiment_id(request)
    query = request.query_params
    metric = _params.required("metric", query.get("metric"))
    x = _params.choice("x", query.get("x"), X_AXES)
    by = _params.required("by", query.get("by"))
    _check_group_key(by, "by")
    points = _params.integer("points", query.get("points"), 200, 2, MAX_BUCKETS)
    wanted = _params.version_list("versions", query.get("versions"))
    archived = _visibility.include_archived(query)
    listing = _listings(request).get(experiment_id, include_archived=archived)
    summaries = listing.summaries
    if wanted is not None:
        known = {s["version"]: s for s in summaries}
        missing = [v for v in wanted if v not in known]
        if missing:
            raise ExperimentNotFoundError(experiment_id, missing[0])
        summaries = [known[v] for v in wanted]
    curves = _cache(request).curves(experiment_id, metric, x)

    def series(number: int) -> Any:
        prepared = curves.series(number, x)
        return prepared.xs, prepared.ys

    found = _groups.resample_groups(_groups.group_versions(summaries, by), series, points)
    body = {"experiment_id": experiment_id, "metric": metric, "x_axis": x, "by": by, **found}
    return prepared_json(body, _NO_STORE)


@_endpoint
def version(request: Request) -> Any:
    """``GET /api/experiments/{id}/versions/{v}``: the full record (``?download=1``)."""
    experiment_id = _experiment_id(request)
    number = _version(request, experiment_id)
    download = _params.flag("download", request.query_params.get("download"))
    record = _cache(request).get(experiment_id).record(number)
    headers = dict(_NO_STORE)
    if download:
        name = f"{experiment_id}-v{number}.json"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return StrictJSONResponse(record, headers=headers)


@_endpoint
def compare(request: Request) -> Any:
    """``GET /api/experiments/{id}/compare?versions=1-3``: what differs between versions.

    As ``expm diff`` and ``/api/compare``, the fields that differ between any two runs
    (``environment.pid``, ``argv``) are left out and named in ``hidden`` unless
    ``all_fields=1``.
    """
    from experiment_manager._compare import ALWAYS_DIFFERENT

    experiment_id = _experiment_id(request)
    query = request.query_params
    versions = _params.version_list("versions", query.get("versions"))
    if versions is None:
        raise InvalidArgumentError("versions", None, "is required (such as versions=1,2)")
    all_fields = (query.get("all_fields") or "").lower() in _params.TRUE
    archived = _visibility.include_archived(query)
    _visibility.served_versions(_listings(request), experiment_id, versions, archived)
    found = _manager(request).compare(experiment_id, versions)
    hidden = []
    if not all_fields:
        for dotted in ALWAYS_DIFFERENT:
            section, _, key = dotted.partition(".")
            if key in found.get(section, {}):
                del found[section][key]
                hidden.append(dotted)
    found["hidden"] = hidden
    return found


def _series_entry(
    version: int,
    status: Any,
    prepared: Series,
    bounds: tuple[float | None, float | None],
    buckets: int,
) -> dict[str, Any]:
    lo, hi = prepared.select(*bounds)
    xs, ys, exact = downsample(prepared.xs, prepared.ys, buckets, lo=lo, hi=hi)
    return {
        "version": version,
        "status": status,
        "total": prepared.total,
        "in_range": hi - lo,
        "exact": exact,
        "x": strict_numbers(xs),
        "y": strict_numbers(ys),
    }


def _superseded_entry(
    request: Request,
    experiment_id: str,
    metric: str,
    number: int,
    bounds: tuple[str, float | None, float | None, int],
) -> dict[str, Any]:
    """The points of ``metric`` a resume from a step superseded in one version, reduced.

    They are kept in the version's ``superseded`` field, out of its ``metrics``; read
    from that one version only when asked for (``superseded=1``).
    """
    x, start, end, buckets = bounds
    moved = (_manager(request).get_version(experiment_id, number).get("superseded") or {}).get(
        metric
    ) or {}
    record = {
        group: {metric: moved.get(key) or []}
        for group, key in (("metrics", "values"), ("steps", "steps"), ("timestamps", "timestamps"))
    }
    entry = _series_entry(
        number, None, prepare(columns_of(record, metric), x), (start, end), buckets
    )
    return {key: entry[key] for key in ("total", "in_range", "exact", "x", "y")}


def _series_bounds(query: Mapping[str, str]) -> tuple[str, float | None, float | None, int]:
    """The x axis, range and bucket count of a series request."""
    x = _params.choice("x", query.get("x"), X_AXES)
    start = _params.number("start", query.get("start"))
    end = _params.number("end", query.get("end"))
    if start is not None and end is not None and start > end:
        raise InvalidArgumentError("start", query.get("start"), "must not be greater than end")
    buckets = _params.integer("buckets", query.get("buckets"), DEFAULT_BUCKETS, 0, MAX_BUCKETS)
    return x, start, end, buckets


def _metric_series(
    request: Request,
    experiment_id: str,
    *,
    metric: str,
    wanted: list[int] | None,
    archived: bool,
    bounds: tuple[str, float | None, float | None, int],
    superseded: bool = False,
) -> list[dict[str, Any]]:
    """One metric of the served versions (``wanted``, or every served one), reduced.

    With ``superseded``, each entry also has ``superseded``: the points a resume from
    a step superseded, reduced the same way (``total``, ``in_range``, ``exact``,
    ``x``, ``y``; empty when there are none).
    """
    x, start, end, buckets = bounds
    curves = _cache(request).curves(experiment_id, metric, x)
    numbers = _visibility.served_versions(
        _listings(request), experiment_id, wanted, archived, curves.versions
    )
    store = _manager(request).store
    view = SeriesRequest(x, start, end, buckets)
    # Each version's resumes, marked on the chart.
    summaries = _listings(request).of_versions(experiment_id, numbers, include_archived=archived)
    resumed = {number: summary.get("resumed") for number, summary in summaries.items()}
    out = []
    for number in numbers:
        status = curves.status(number)
        marks: dict[str, Any] = {"resumes": resume_marks(resumed.get(number), x)}
        # A database reduces an ended version's points itself: only those kept travel.
        reduced = (
            None if status == "running" else store.read_series(experiment_id, metric, number, view)
        )
        if superseded:
            marks["superseded"] = _superseded_entry(request, experiment_id, metric, number, bounds)
        if reduced is not None:
            reduced["x"], reduced["y"] = strict_numbers(reduced["x"]), strict_numbers(reduced["y"])
            out.append({"version": number, "status": status, **reduced, **marks})
            continue
        prepared = curves.series(number, x)
        entry = functools.partial(_series_entry, number, status, prepared, (start, end), buckets)
        # The unzoomed, reduced view is asked for again and again: keep it. Zooms and
        # full-resolution copies are computed each time.
        keep = start is None and end is None and buckets > 0
        reduced_view = curves.memo(("view", number, x, buckets), entry) if keep else entry()
        out.append({**reduced_view, **marks})
    return out


@_endpoint
def series(request: Request) -> Any:
    """``GET /api/experiments/{id}/series``: one metric of several versions, downsampled."""
    experiment_id = _experiment_id(request)
    query = request.query_params
    metric = _params.required("metric", query.get("metric"))
    bounds = _series_bounds(query)
    wanted = _params.version_list("versions", query.get("versions"))
    archived = _visibility.include_archived(query)
    out = _metric_series(
        request,
        experiment_id,
        metric=metric,
        wanted=wanted,
        archived=archived,
        bounds=bounds,
        superseded=_params.flag("superseded", query.get("superseded")),
    )
    return prepared_json({"metric": metric, "x": bounds[0], "series": out}, _NO_STORE)


@_endpoint
def panel_series(request: Request) -> Any:
    """``GET /api/experiments/{id}/panels/series?metric=a&metric=b``: several metrics at once.

    The workspace asks for every panel on screen in one request (one round trip, one
    parse) instead of one per panel.
    """
    experiment_id = _experiment_id(request)
    query = request.query_params
    metrics = list(dict.fromkeys(name for name in query.getlist("metric") if name))
    if not metrics:
        raise InvalidArgumentError("metric", None, "is required (one or more metric=)")
    if len(metrics) > MAX_PANEL_METRICS:
        raise InvalidArgumentError(
            "metric", len(metrics), f"names more than {MAX_PANEL_METRICS} metrics"
        )
    bounds = _series_bounds(query)
    wanted = _params.version_list("versions", query.get("versions"))
    archived = _visibility.include_archived(query)
    superseded = _params.flag("superseded", query.get("superseded"))
    results = [
        {
            "metric": metric,
            "series": _metric_series(
                request,
                experiment_id,
                metric=metric,
                wanted=wanted,
                archived=archived,
                bounds=bounds,
                superseded=superseded,
            ),
        }
        for metric in metrics
    ]
    return prepared_json({"x": bounds[0], "results": results}, _NO_STORE)


@_endpoint
def points(request: Request) -> Any:
    """``GET /api/experiments/{id}/versions/{v}/points``: the points from index ``after`` on."""
    experiment_id = _experiment_id(request)
    number = _version(request, experiment_id)
    query = request.query_params
    metric = _params.required("metric", query.get("metric"))
    x = _params.choice("x", query.get("x"), X_AXES)
    after = _params.integer("after", query.get("after"), 0, 0)
    # One version, read on its own: a live chart polls this while the run goes on.
    record = _manager(request).get_version(experiment_id, number)
    if not _visibility.visible_record(record):  # in the trash: as /versions/{v} answers
        raise ExperimentNotFoundError(experiment_id, number)
    xs, ys = points_after(record, metric, x, after)
    total = len((record.get("metrics") or {}).get(metric) or [])
    body = {
        "version": number,
        "status": record.get("status"),
        "total": total,
        "x": strict_numbers(xs),
        "y": strict_numbers(ys),
    }
    return prepared_json(body, _NO_STORE)


@_endpoint
def openapi(request: Request) -> Any:
    """``GET /api/openapi.json``: the OpenAPI 3.1 description of every route."""
    return openapi_document(edits=bool(getattr(request.app.state, "allow_edits", False)))
