"""Filter, sort, summarise and compare experiment records; pure and store-independent.

A *record* is a plain dict holding one version of an experiment, as returned by
``read_history``. This module never reads or writes files: every function takes records
and returns records (the same dict objects, never copies) or plain data about them.

The filter language is small and SQL-like::

    hp.lr < 0.01 and metrics.loss.min <= 0.3
    status in ('failed', 'crashed') or not metadata.precision = 'float32'
    hyperparameters.`learning rate` > 0.1 and metrics."val acc".max >= 0.8

Fields:
    ``hyperparameters.<key>[.<key>...]`` (also ``params.`` and ``hp.``),
    ``metadata.<key>...``, ``environment.<key>...``,
    ``metrics.<name>.<agg>`` with agg one of last, min, max, mean, count,
    and ``status``, ``version``, ``created_at``, ``ended_at``, ``config_name``,
    ``experiment_id``, ``duration``, ``checkpoints``.

Semantics:
    A missing field makes a comparison false (so ``not (...)`` of it is true), except
    ``= null``, which matches a missing field or None. Numbers compare with numbers (a
    bool is not a number), strings with strings, bools only for (in)equality; comparing
    incompatible types is false, never an error. ``contains`` is a substring test on
    strings, membership on lists and key membership on dicts. NaN metric values are
    ignored by min, max and mean; count counts every value.

Modules, each importing only from those listed before it:
    ``_values`` (value helpers and :data:`AGGREGATES`), ``_ast`` (:class:`FieldRef`,
    the nodes and the comparison semantics), ``_lexer`` (the tokenizer), ``_parser``
    (:class:`Query`, :func:`parse_query`, :func:`parse_order_by`), ``_records``
    (filter, sort, search) and ``_summary`` (metric summaries, the best record,
    comparisons of versions). Import every name from ``experiment_manager.query``.

Example:
    >>> records = [
    ...     {"version": 1, "hyperparameters": {"lr": 0.1}, "metrics": {"loss": [0.9, 0.4]}},
    ...     {"version": 2, "hyperparameters": {"lr": 0.01}, "metrics": {"loss": [0.7, 0.2]}},
    ... ]
    >>> [r["version"] for r in search_records(records, "hp.lr < 1", "-metrics.loss.min")]
    [1, 2]
    >>> best_record(records, "loss")["version"]
    2
"""

from __future__ import annotations

# The ``X as X`` imports are not in __all__: they let the examples below, run from this
# package through ``__test__``, name the errors and the literal type.
from experiment_manager.errors import InvalidArgumentError as InvalidArgumentError
from experiment_manager.errors import QuerySyntaxError as QuerySyntaxError
from experiment_manager.query._ast import (
    BoolOp,
    Comparison,
    FieldRef,
    Membership,
    Node,
    Not,
)
from experiment_manager.query._ast import Scalar as Scalar
from experiment_manager.query._parser import Query, parse_order_by, parse_query
from experiment_manager.query._records import filter_records, search_records, sort_records
from experiment_manager.query._summary import (
    MetricSummary,
    RecordComparison,
    best_record,
    compare_records,
    compare_summaries,
    metric_summary,
)
from experiment_manager.query._values import AGGREGATES

__all__ = [
    "AGGREGATES",
    "BoolOp",
    "Comparison",
    "FieldRef",
    "Membership",
    "MetricSummary",
    "Node",
    "Not",
    "Query",
    "RecordComparison",
    "best_record",
    "compare_records",
    "compare_summaries",
    "filter_records",
    "metric_summary",
    "parse_order_by",
    "parse_query",
    "search_records",
    "sort_records",
]

# ``doctest.testmod(experiment_manager.query)`` only collects objects defined in the
# module it is given (and skips methods defined elsewhere), so name the re-exported
# objects whose docstrings hold examples for them to keep running from the package.
__test__ = {
    "FieldRef": FieldRef,
    "FieldRef.lookup": FieldRef.lookup,
    "Comparison": Comparison,
    "Membership": Membership,
    "BoolOp": BoolOp,
    "Not": Not,
    "Query": Query,
    "Query.matches": Query.matches,
    "parse_query": parse_query,
    "parse_order_by": parse_order_by,
    "filter_records": filter_records,
    "sort_records": sort_records,
    "search_records": search_records,
    "metric_summary": metric_summary,
    "best_record": best_record,
    "compare_records": compare_records,
    "compare_summaries": compare_summaries,
}
