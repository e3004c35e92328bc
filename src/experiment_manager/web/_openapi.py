"""The OpenAPI 3.1 description of every route of the dashboard, written by hand.

A test checks that the app's routes and these paths are the same set, so this
document cannot drift from the server. Served at ``/api/openapi.json``.

Example:
    >>> doc = document()
    >>> doc["openapi"], "/api/experiments/{experiment_id}/series" in doc["paths"]
    ('3.1.0', True)
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["document"]

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _param(name: str, where: str, description: str, schema: dict[str, Any], **more: Any) -> Any:
    return {"name": name, "in": where, "description": description, "schema": schema, **more}


_EXPERIMENT_ID = _param(
    "experiment_id",
    "path",
    "The experiment id: 1 to 128 characters of A-Z a-z 0-9 _ - . + = @, not starting "
    "with . - + = @ and not ending with '.'. Any other id answers 404.",
    {"type": "string", "maxLength": 128},
    required=True,
)
_VERSION = _param(
    "version",
    "path",
    "The version number (a positive integer without leading zeros).",
    {"type": "string", "pattern": "^[1-9][0-9]*$"},
    required=True,
)
_OFFSET = _param(
    "offset",
    "query",
    "Skip this many results of the whole, sorted list.",
    {"type": "integer", "minimum": 0, "default": 0},
)
_METRIC = _param("metric", "query", "The metric's name.", {"type": "string"}, required=True)
_X = _param(
    "x",
    "query",
    "The x axis: step (the logged step; the value's index when it has none), time "
    "(Unix seconds; values without a time are left out) or index (position).",
    {"type": "string", "enum": ["step", "time", "index"], "default": "step"},
)


_SUPERSEDED = _param(
    "superseded",
    "query",
    "1 to add, per series, the points a resume_experiment(..., from_step=N) superseded "
    "(left out of x and y), reduced the same way.",
    {"type": "string", "enum": ["0", "1"], "default": "0"},
)
_ALL = _param(
    "all",
    "query",
    "1 to serve archived versions too. Versions in the trash are never served: one "
    "named answers 404, as an unknown version does.",
    {"type": "string", "enum": ["0", "1"], "default": "0"},
)


_START = _param("start", "query", "Smallest x wanted.", {"type": "number"})
_END = _param("end", "query", "Largest x wanted.", {"type": "number"})
_BUCKETS = _param(
    "buckets",
    "query",
    "Equal-width x buckets; a series with more than 2*buckets points in "
    "range keeps each bucket's min and max point. 0: full resolution.",
    {"type": "integer", "minimum": 0, "maximum": 10000, "default": 1000},
)


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    meaning = {
        400: "A query parameter is missing or invalid, or the query does not parse.",
        404: "Unknown or unsafe experiment id, or unknown version.",
        422: "The experiment's history file cannot be parsed (CorruptHistoryError).",
    }
    return {str(s): _json(_ref("Error"), meaning[s]) for s in statuses}


def _get(
    summary: str,
    parameters: list[Any],
    ok: dict[str, Any],
    *errors: int,
    tag: str = "api",
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "tags": [tag],
            "parameters": parameters,
            "responses": {"200": ok, **_errors(*errors)},
        }
    }


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


_NUMBER = {
    "description": "A number; NaN and infinities as the strings NaN, Infinity, -Infinity.",
    "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}],
}
_STATUS = {
    "type": "string",
    "enum": ["running", "finished", "failed", "killed", "crashed"],
}

_SCHEMAS: dict[str, Any] = {
    "Number": _NUMBER,
    "Status": _STATUS,
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {
                    "type": {"type": "string", "description": "The error's class name."},
                    "message": {"type": "string"},
                    "position": {
                        "type": "integer",
                        "description": "QuerySyntaxError only: 0-based offending character.",
                    },
                },
            }
        },
    },
    "MetricSummary": {
        "type": "object",
        "properties": {
            "last": _ref("Number"),
            "min": _ref("Number"),
            "max": _ref("Number"),
            "mean": _ref("Number"),
            "count": {"type": "integer"},
            "argmin_step": {"type": ["integer", "null"]},
            "argmax_step": {"type": ["integer", "null"]},
        },
    },
    "ExperimentSummary": {
        "type": "object",
        "required": ["experiment_id"],
        "description": "list_experiments(); a corrupt history has only experiment_id and error.",
        "properties": {
            "experiment_id": {"type": "string"},
            "versions": {"type": "integer"},
            "latest_version": {"type": "integer"},
            "first_created": {"type": ["string", "null"]},
            "last_activity": {"type": ["string", "null"]},
            "status_counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "metric_names": {"type": "array", "items": {"type": "string"}},
            "config_names": {"type": "array", "items": {"type": "string"}},
            "error": {"type": "string"},
        },
    },
    "VersionSummary": {
        "type": "object",
        "description": "A version's record without its points (list_versions, search).",
        "required": ["experiment_id", "version"],
        "properties": {
            "experiment_id": {"type": "string"},
            "version": {"type": "integer"},
            "status": _ref("Status"),
            "config_name": {"type": "string"},
            "created_at": {"type": ["string", "null"]},
            "ended_at": {"type": ["string", "null"]},
            "hyperparameters": {"type": "object"},
            "metadata": {"type": "object"},
            "metric_summaries": {
                "type": "object",
                "additionalProperties": _ref("MetricSummary"),
            },
            "checkpoints": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": True,
    },
    "SearchResponse": {
        "type": "object",
        "required": ["results", "count", "total", "offset", "limit", "fields", "values", "damaged"],
        "properties": {
            "results": {"type": "array", "items": _ref("VersionSummary")},
            "count": {"type": "integer", "description": "Results in this answer."},
            "total": {"type": "integer", "description": "Versions matching, in all."},
            "offset": {"type": "integer"},
            "limit": {"type": ["integer", "null"]},
            "fields": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The fields the filter and the order name, each once, "
                "canonical (hp.lr is hyperparameters.lr).",
            },
            "values": {
                "type": "array",
                "items": {"type": "array"},
                "description": "For each result, its value of each field (null: none).",
            },
            "damaged": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["experiment_id", "error"],
                    "properties": {
                        "experiment_id": {"type": "string"},
                        "error": {"type": "string"},
                    },
                },
                "description": "The histories skipped because they cannot be parsed "
                "(searching every experiment), each with the error naming its file "
                "relative to the log folder; empty when every history was read.",
            },
        },
    },
    "KeyColumn": {
        "type": "object",
        "required": ["key", "sort", "varies"],
        "properties": {
            "key": {"type": "string", "description": "Nested keys joined with dots."},
            "sort": {"type": "string", "description": "Its name for the sort parameter."},
            "varies": {"type": "boolean", "description": "Versions have different values."},
        },
    },
    "ListingColumns": {
        "type": "object",
        "description": "What the versions have, to choose the table's columns.",
        "properties": {
            "hyperparameters": {"type": "array", "items": _ref("KeyColumn")},
            "metadata": {"type": "array", "items": _ref("KeyColumn")},
            "metrics": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "sort": {
                            "type": "string",
                            "description": "Sort name without its aggregate (add .last, ...).",
                        },
                    },
                },
            },
            "aggregates": {"type": "array", "items": {"type": "string"}},
            "config_varies": {"type": "boolean"},
            "checkpoints": {"type": "boolean", "description": "Any version has one."},
            "resumed": {"type": "boolean", "description": "Any version was resumed."},
            "errors": {"type": "boolean", "description": "Any version has an error."},
        },
    },
    "VersionPage": {
        "type": "object",
        "required": [
            "experiment_id",
            "total",
            "offset",
            "limit",
            "sort",
            "order",
            "versions",
            "version_count",
            "status_counts",
            "columns",
        ],
        "properties": {
            "experiment_id": {"type": "string"},
            "total": {"type": "integer", "description": "Versions passing the filter."},
            "offset": {"type": "integer"},
            "limit": {"type": ["integer", "null"]},
            "sort": {"type": "string", "description": "The sort column, canonical."},
            "order": {"type": "string", "enum": ["asc", "desc"]},
            "versions": {"type": "array", "items": _ref("VersionSummary")},
            "version_count": {"type": "integer", "description": "Versions in all."},
            "status_counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "columns": _ref("ListingColumns"),
        },
    },
    "Record": {
        "type": "object",
        "description": "get_version(): the full record, as an element of read_history. "
        "Checkpoint paths are data: the server never opens them.",
        "required": ["experiment_id", "version", "metrics"],
        "properties": {
            "experiment_id": {"type": "string"},
            "version": {"type": "integer"},
            "status": _ref("Status"),
            "created_at": {"type": ["string", "null"]},
            "config_name": {"type": "string"},
            "hyperparameters": {"type": "object"},
            "metadata": {"type": "object"},
            "metrics": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": _ref("Number")},
            },
            "steps": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": ["integer", "null"]}},
            },
            "timestamps": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": ["number", "null"]}},
            },
            "checkpoints": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": True,
    },
    "Comparison": {
        "type": "object",
        "description": "compare(): values that differ (dotted key to one value per "
        "version) and each version's metric summaries.",
        "properties": {
            "experiment_id": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "integer"}},
            "hyperparameters": {"type": "object", "additionalProperties": {"type": "array"}},
            "metadata": {"type": "object", "additionalProperties": {"type": "array"}},
            "environment": {"type": "object", "additionalProperties": {"type": "array"}},
            "metrics": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": _ref("MetricSummary"),
                },
            },
            "hidden": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Keys left out that differ between any two runs "
                "(environment.pid, environment.argv); all_fields=1 keeps them.",
            },
        },
    },
    "Series": {
        "type": "object",
        "required": ["version", "status", "total", "in_range", "exact", "x", "y", "resumes"],
        "properties": {
            "version": {"type": "integer"},
            "status": _ref("Status"),
            "total": {"type": "integer", "description": "Values of the metric in the version."},
            "in_range": {"type": "integer", "description": "Points with start <= x <= end."},
            "exact": {"type": "boolean", "description": "True when nothing was reduced."},
            "x": {"type": "array", "items": {"type": "number"}},
            "y": {"type": "array", "items": _ref("Number")},
            "superseded": {
                "type": "object",
                "description": "Only with superseded=1: the points a resume from a step "
                "superseded (kept in the version's superseded field), reduced as x and y "
                "are; on the index axis x is their position among them.",
                "required": ["total", "in_range", "exact", "x", "y"],
                "properties": {
                    "total": {"type": "integer"},
                    "in_range": {"type": "integer"},
                    "exact": {"type": "boolean"},
                    "x": {"type": "array", "items": {"type": "number"}},
                    "y": {"type": "array", "items": _ref("Number")},
                },
            },
            "resumes": {
                "type": "array",
                "description": "Where the version was resumed, on this x axis (the step "
                "it went on from, or the resume's time; none on the index axis): the "
                "chart's markers.",
                "items": {
                    "type": "object",
                    "required": ["x", "label", "at", "from_status", "from_step"],
                    "properties": {
                        "x": {"type": "number"},
                        "label": {"type": "string"},
                        "at": {"type": "string"},
                        "from_status": {"type": ["string", "null"]},
                        "from_step": {"type": ["integer", "null"]},
                    },
                },
            },
        },
    },
    "SeriesResponse": {
        "type": "object",
        "required": ["metric", "x", "series"],
        "properties": {
            "metric": {"type": "string"},
            "x": {"type": "string", "enum": ["step", "time", "index"]},
            "series": {"type": "array", "items": _ref("Series")},
        },
    },
    "Points": {
        "type": "object",
        "required": ["version", "status", "total", "x", "y"],
        "properties": {
            "version": {"type": "integer"},
            "status": _ref("Status"),
            "total": {"type": "integer", "description": "Values of the metric so far."},
            "x": {"type": "array", "items": {"type": "number"}},
            "y": {"type": "array", "items": _ref("Number")},
        },
    },
}

_PATHS: dict[str, Any] = {
    "/": _get("The experiments page (HTML shell).", [], _html("The page."), tag="pages"),
    "/experiments/{experiment_id}": _get(
        "An experiment's page (HTML shell).",
        [_EXPERIMENT_ID],
        _html("The page."),
        404,
        tag="pages",
    ),
    "/compare": _get(
        "Versions of any experiments overlaid and diffed (HTML shell; ?refs=a@1,b@2).",
        [_param("refs", "query", "Comma-separated id@version.", {"type": "string"})],
        _html("The page."),
        tag="pages",
    ),
    "/experiments/{experiment_id}/versions/{version}": _get(
        "A version's page (HTML shell).",
        [_EXPERIMENT_ID, _VERSION],
        _html("The page."),
        404,
        tag="pages",
    ),
    "/static/{name}": _get(
        "A file of the dashboard's static folder, by exact name.",
        [_param("name", "path", "The file name.", {"type": "string"}, required=True)],
        {"description": "The file."},
        404,
        tag="pages",
    ),
    "/static/vendor/{name}": _get(
        "A third-party file shipped in the package (uPlot's script, style sheet and licence).",
        [_param("name", "path", "The file name.", {"type": "string"}, required=True)],
        {"description": "The file."},
        404,
        tag="pages",
    ),
    "/api/experiments": _get(
        "Every experiment's summary (list_experiments).",
        [],
        _json(
            {
                "type": "object",
                "required": ["experiments"],
                "properties": {
                    "experiments": {"type": "array", "items": _ref("ExperimentSummary")}
                },
            },
            "The summaries, sorted by id.",
        ),
    ),
    "/api/search": _get(
        "Versions matching a filter (search), paged; see docs/query-language.md.",
        [
            _param("q", "query", "The filter, such as metrics.loss.min < 0.3.", {"type": "string"}),
            _param("experiment", "query", "Search this experiment only.", {"type": "string"}),
            _param("order_by", "query", "Such as metrics.acc.max desc.", {"type": "string"}),
            _OFFSET,
            _param(
                "limit",
                "query",
                "At most this many results (default: every one from offset on).",
                {"type": "integer", "minimum": 0},
            ),
            _ALL,
        ],
        _json(_ref("SearchResponse"), "The matching version summaries, one page of them."),
        400,
        404,
        422,
    ),
    "/api/experiments/{experiment_id}": _get(
        "The experiment's version summaries, sorted, filtered and paged on the server.",
        [
            _EXPERIMENT_ID,
            _param(
                "sort",
                "query",
                "The column: version, status, created_at, ended_at, last_logged_at, "
                "duration, config_name, error, checkpoints or resumed (their counts), "
                "hyperparameters.<key> (also hp.<key>), metadata.<key>, or "
                "metrics.<name>.<agg> with agg last, min, max, mean or count. Keys are "
                "written as in the query language (backticks around odd ones). Numbers, "
                "then strings (natural order), then booleans, whatever the order; "
                "missing values and NaN last; ties by version.",
                {"type": "string", "default": "version"},
            ),
            _param(
                "order",
                "query",
                "The direction of the sort.",
                {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
            ),
            _OFFSET,
            _param(
                "limit",
                "query",
                "At most this many versions (default: every one from offset on).",
                {"type": "integer", "minimum": 0},
            ),
            _param(
                "filter",
                "query",
                "The page's filter: whitespace-separated terms, each of which must occur "
                "(ignoring case) in the version's text: v<version>, status, config name, "
                "error, and key=value for each hyperparameter and metadata key.",
                {"type": "string"},
            ),
            _param(
                "versions",
                "query",
                "Versions such as 1,3 or 1-6 (ranges inclusive): list only these.",
                {"type": "string"},
            ),
            _param(
                "all",
                "query",
                "1 to list archived versions too (never those in the trash).",
                {"type": "string", "enum": ["0", "1"], "default": "0"},
            ),
            _param(
                "group_by",
                "query",
                "tag, name, config_name or hp:<dotted key>: the rows group after group "
                "(groups in order of their keys, members in the sort order; a version "
                "with two tags in both), with groups ([{key, count, versions}] over every "
                "row passing the filter) and row_groups (each listed row's group key).",
                {"type": "string"},
            ),
        ],
        _json(_ref("VersionPage"), "One page of the experiment's versions."),
        400,
        404,
        422,
    ),
    "/api/experiments/{experiment_id}/versions/{version}": _get(
        "One version's full record (get_version).",
        [
            _EXPERIMENT_ID,
            _VERSION,
            _param(
                "download",
                "query",
                "1 to send it as an attachment named <id>-v<version>.json.",
                {"type": "string", "enum": ["0", "1"]},
            ),
        ],
        _json(_ref("Record"), "The record."),
        400,
        404,
        422,
    ),
    "/api/experiments/{experiment_id}/compare": _get(
        "What differs between versions (compare).",
        [
            _EXPERIMENT_ID,
            _param(
                "versions",
                "query",
                "Two or more versions, such as 1,2 or 1-6 (ranges inclusive).",
                {"type": "string"},
                required=True,
            ),
            _ALL,
            _param(
                "all_fields", "query", "1 to keep environment.pid and argv.", {"type": "string"}
            ),
        ],
        _json(_ref("Comparison"), "The comparison."),
        400,
        404,
        422,
    ),
    "/api/experiments/{experiment_id}/panels": _get(
        "Its metrics grouped into the workspace's panels (prefix before '/', system last).",
        [_EXPERIMENT_ID],
        _json(
            {
                "type": "object",
                "required": ["experiment_id", "groups"],
                "properties": {
                    "experiment_id": {"type": "string"},
                    "groups": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "system", "metrics"],
                            "properties": {
                                "name": {"type": "string"},
                                "system": {"type": "boolean"},
                                "metrics": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    },
                },
            },
            "The groups, in the order they are shown.",
        ),
        404,
        422,
    ),
    "/api/experiments/{experiment_id}/hparams": _get(
        "Hyperparameters that differ against one metric aggregate, one row per version.",
        [
            _EXPERIMENT_ID,
            _param("metric", "query", "The metric of the last axis.", {"type": "string"}),
            _param(
                "agg",
                "query",
                "Its aggregate (default: the first listed).",
                {"type": "string", "enum": ["last", "min", "max", "mean", "count"]},
            ),
        ],
        _json(
            {
                "type": "object",
                "required": ["experiment_id", "metric", "agg", "metrics", "axes", "versions"],
                "properties": {
                    "experiment_id": {"type": "string"},
                    "metric": {"type": ["string", "null"]},
                    "agg": {"type": "string"},
                    "metrics": {"type": "array", "items": {"type": "string"}},
                    "axes": {"type": "array", "items": {"type": "object"}},
                    "versions": {"type": "array", "items": {"type": "object"}},
                },
            },
            "The axes and one row per version.",
        ),
        400,
        404,
        422,
    ),
    "/api/experiments/{experiment_id}/groups": _get(
        "Versions grouped by a hyperparameter or tag: each group's mean, min, max, std.",
        [
            _EXPERIMENT_ID,
            _param("metric", "query", "The metric.", {"type": "string"}, required=True),
            _param(
                "by",
                "query",
                "tag, name, config_name or hp:<dotted key>.",
                {"type": "string"},
                required=True,
            ),
            _param("x", "query", "step, time or index.", {"type": "string"}),
            _param("points", "query", "Grid points (default 200).", {"type": "integer"}),
            _param("versions", "query", "Versions such as 1,3 or 1-6 (all).", {"type": "string"}),
            _ALL,
        ],
        _json(
            {
                "type": "object",
                "required": ["experiment_id", "metric", "x_axis", "x", "by", "groups"],
                "properties": {
                    "experiment_id": {"type": "string"},
                    "metric": {"type": "string"},
                    "x_axis": {"type": "string"},
                    "x": {"type": "array", "items": {"type": "number"}},
                    "by": {"type": "string"},
                    "groups": {"type": "array", "items": {"type": "object"}},
                },
            },
            "The shared grid and each group's curves.",
        ),
        400,
        404,
        422,
    ),
    "/api/compare": _get(
        "What differs between versions of any experiments (compare_versions).",
        [
            _param(
                "refs",
                "query",
                "id@versions, e.g. mnist@1,other@2 or mnist@1-3,5 (ranges inclusive).",
                {"type": "string"},
                required=True,
            ),
            _param(
                "all_fields", "query", "1 to keep environment.pid and argv.", {"type": "string"}
            ),
            _ALL,
        ],
        _json({"type": "object"}, "The comparison: refs, versions, run, hyperparameters, ..."),
        400,
        404,
        422,
    ),
    "/api/series": _get(
        "One metric of versions of any experiments, downsampled (each with its ref).",
        [
            _param(
                "refs",
                "query",
                "id@versions, e.g. mnist@1,other@2 or mnist@1-3,5 (ranges inclusive).",
                {"type": "string"},
                required=True,
            ),
            _param("metric", "query", "The metric.", {"type": "string"}, required=True),
            _param("x", "query", "step, time or index.", {"type": "string"}),
            _param("buckets", "query", "Buckets per curve.", {"type": "integer"}),
            _ALL,
            _SUPERSEDED,
        ],
        _json(
            {"type": "object"},
            "The metric, the x axis and one series per ref (as /series gives it, "
            "with its resumes).",
        ),
        400,
        404,
        422,
    ),
    "/api/experiments/{experiment_id}/series": _get(
        "One metric of several versions, min/max downsampled to x buckets.",
        [
            _EXPERIMENT_ID,
            _METRIC,
            _param(
                "versions",
                "query",
                "Versions such as 1,3 or 1-6 (default: all).",
                {"type": "string"},
            ),
            _X,
            _START,
            _END,
            _BUCKETS,
            _ALL,
            _SUPERSEDED,
        ],
        _json(_ref("SeriesResponse"), "One series per version."),
        400,
        404,
        422,
    ),
    "/api/experiments/{experiment_id}/panels/series": _get(
        "Several metrics of several versions in one request (the workspace's panels).",
        [
            _EXPERIMENT_ID,
            _param(
                "metric",
                "query",
                "A metric's name; repeat it for each metric (at most 64).",
                {"type": "array", "items": {"type": "string"}, "maxItems": 64},
                required=True,
                explode=True,
            ),
            _param(
                "versions",
                "query",
                "Versions such as 1,3 or 1-6 (default: all).",
                {"type": "string"},
            ),
            _X,
            _START,
            _END,
            _BUCKETS,
            _ALL,
            _SUPERSEDED,
        ],
        _json(
            {
                "type": "object",
                "required": ["x", "results"],
                "properties": {
                    "x": {"type": "string"},
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["metric", "series"],
                            "properties": {
                                "metric": {"type": "string"},
                                "series": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                    },
                },
            },
            "Each metric's series, in the order asked (a metric named twice once), each "
            "as /series gives it.",
        ),
        400,
        404,
        422,
    ),
    "/api/experiments/{experiment_id}/versions/{version}/points": _get(
        "A metric's points from index `after` on, for live updates.",
        [
            _EXPERIMENT_ID,
            _VERSION,
            _METRIC,
            _param(
                "after",
                "query",
                "The first index wanted (the total already received).",
                {"type": "integer", "minimum": 0, "default": 0},
            ),
            _X,
        ],
        _json(_ref("Points"), "The new points, in logging order."),
        400,
        404,
        422,
    ),
    "/api/openapi.json": _get(
        "This document.",
        [],
        _json({"type": "object"}, "The OpenAPI 3.1 document."),
    ),
}

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "experiment_manager dashboard",
        "version": "1",
        "description": "JSON API of `expm ui`, read-only unless the server was started "
        "with --allow-edits. Every body is strict JSON "
        '(NaN and infinities as the strings "NaN", "Infinity", "-Infinity"); errors '
        'are {"error": {"type", "message"}}. Only GET and HEAD are accepted.',
    },
    "paths": _PATHS,
    "components": {"schemas": _SCHEMAS},
}


def _post(summary: str, body: dict[str, Any]) -> dict[str, Any]:
    refused = {
        "400": _json(
            _ref("Error"),
            "Not JSON (InvalidJSON), or a field or value refused "
            "(InvalidArgumentError, naming it).",
        ),
        "403": _json(
            _ref("Error"),
            "Not from a page of this server (CrossOriginRequest), or "
            "without the right token (CsrfTokenMissing, CsrfTokenInvalid).",
        ),
        "404": _json(_ref("Error"), "Unknown experiment or version."),
        "413": _json(_ref("Error"), "The body is larger than 1 MiB (RequestTooLarge)."),
        "415": _json(_ref("Error"), "Not application/json (UnsupportedMediaType)."),
    }
    return {
        "post": {
            "summary": summary,
            "tags": ["edits"],
            "parameters": [
                _EXPERIMENT_ID,
                _VERSION,
                _param(
                    "X-Expm-Token",
                    "header",
                    "The server's CSRF token, from the page's <meta name=expm-edit-token>.",
                    {"type": "string"},
                    required=True,
                ),
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}},
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["experiment_id", "version", "name", "tags", "note"],
                        "properties": {
                            "experiment_id": {"type": "string"},
                            "version": {"type": "integer"},
                            "name": {"type": ["string", "null"]},
                            "tags": {"type": "array", "items": {"type": "string"}},
                            "note": {"type": ["string", "null"]},
                        },
                    },
                    "The version's name, tags and note after the change (recorded as an event).",
                ),
                **refused,
            },
        }
    }


_TAGS = {"type": "array", "items": {"type": "string", "maxLength": 64}}
_EDIT_PATHS: dict[str, Any] = {
    "/api/experiments/{experiment_id}/versions/{version}/name": _post(
        "Rename a version (set_name).",
        {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {"name": {"type": "string", "maxLength": 200}},
        },
    ),
    "/api/experiments/{experiment_id}/versions/{version}/tags": _post(
        "Add and remove tags of a version (add_tags, remove_tags).",
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {"add": _TAGS, "remove": _TAGS},
        },
    ),
    "/api/experiments/{experiment_id}/versions/{version}/note": _post(
        "Set or clear a version's note (set_note).",
        {
            "type": "object",
            "required": ["note"],
            "additionalProperties": False,
            "properties": {"note": {"type": ["string", "null"], "maxLength": 100000}},
        },
    ),
}


def document(edits: bool = False) -> dict[str, Any]:
    """Return a fresh copy of the OpenAPI document.

    Args:
        edits: Describe the edit endpoints too (an app with ``allow_edits``).

    Returns:
        The document as plain data.

    Example:
        >>> [p for p in document(edits=True)["paths"] if p.endswith("/tags")]
        ['/api/experiments/{experiment_id}/versions/{version}/tags']
    """
    doc = copy.deepcopy(_DOCUMENT)
    if edits:
        doc["paths"].update(copy.deepcopy(_EDIT_PATHS))
        doc["info"]["description"] += (
            " Started with --allow-edits: POST to the edit endpoints too, JSON bodies "
            "only, from the dashboard's own pages (Origin and the X-Expm-Token header)."
        )
    return doc
