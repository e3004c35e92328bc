"""Filter, sort and search lists of records with parsed queries and sort specifications."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from experiment_manager.errors import InvalidArgumentError
from experiment_manager.query._parser import Query, parse_order_by, parse_query
from experiment_manager.query._values import _is_nan

R = TypeVar("R", bound=Mapping[str, Any])


def _as_query(query: str | Query | None) -> Query | None:
    if query is None or isinstance(query, Query):
        return query
    if isinstance(query, str):
        return parse_query(query)
    raise InvalidArgumentError("query", query, "must be a string, a Query or None")


def filter_records(records: Iterable[R], query: str | Query | None) -> list[R]:
    """Keep the records that match a query.

    Args:
        records: Records to filter.
        query: A query text, a parsed :class:`Query`, or None to keep everything.

    Returns:
        The matching records, in their original order (the same objects).

    Raises:
        QuerySyntaxError: ``query`` is a text that does not parse.
        InvalidArgumentError: ``query`` has the wrong type.

    Example:
        >>> records = [{"version": 1, "status": "failed"}, {"version": 2}]
        >>> filter_records(records, "not status = 'failed'")
        [{'version': 2}]
    """
    parsed = _as_query(query)
    if parsed is None:
        return list(records)
    return [record for record in records if parsed.matches(record)]


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return 2, value
    if isinstance(value, (int, float)):
        return 0, value
    if isinstance(value, str):
        return 1, value
    return 3, repr(value)


def sort_records(records: Iterable[R], order_by: str | None) -> list[R]:
    """Sort records by one or more fields.

    Missing fields, None and NaN sort last whatever the direction; the sort is stable.
    Values of different types are grouped, in this order whatever the direction:
    numbers, then strings, then bools, then anything else (by ``repr``).

    Args:
        records: Records to sort.
        order_by: A sort specification (see :func:`parse_order_by`), or None to keep
            the order.

    Returns:
        A new list of the same record objects.

    Raises:
        QuerySyntaxError: ``order_by`` does not parse.
        InvalidArgumentError: ``order_by`` has the wrong type.

    Example:
        >>> records = [{"version": 1}, {"version": 3}, {}, {"version": 2}]
        >>> sort_records(records, "version desc")
        [{'version': 3}, {'version': 2}, {'version': 1}, {}]
    """
    result = list(records)
    if order_by is None:
        return result
    for ref, descending in reversed(parse_order_by(order_by)):
        present: list[tuple[tuple[int, Any], R]] = []
        missing: list[R] = []
        for record in result:
            found, value = ref.lookup(record)
            if not found or value is None or _is_nan(value):
                missing.append(record)
            else:
                present.append((_sort_key(value), record))
        present.sort(key=lambda pair: pair[0], reverse=descending)
        present.sort(key=lambda pair: pair[0][0])  # type groups keep their order
        result = [record for _, record in present] + missing
    return result


def search_records(
    records: Iterable[R],
    query: str | Query | None = None,
    order_by: str | None = None,
    limit: int | None = None,
) -> list[R]:
    """Filter, then sort, then cut records: the one call behind a search.

    Args:
        records: Records to search.
        query: A filter (see :func:`parse_query`), or None for all records.
        order_by: A sort specification (see :func:`parse_order_by`), or None.
        limit: The most records to return, or None for all.

    Returns:
        The selected records (the same objects).

    Raises:
        QuerySyntaxError: ``query`` or ``order_by`` does not parse.
        InvalidArgumentError: ``limit`` is not a non-negative int, or an argument has
            the wrong type.

    Example:
        >>> records = [{"version": v, "duration": d} for v, d in [(1, 9.0), (2, 3.0), (3, 5.0)]]
        >>> [r["version"] for r in search_records(records, "duration > 4", "duration", 1)]
        [3]
    """
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise InvalidArgumentError("limit", limit, "must be a non-negative int or None")
    parsed = _as_query(query)  # parse both before doing any work
    if order_by is not None:
        parse_order_by(order_by)
    result = sort_records(filter_records(records, parsed), order_by)
    return result if limit is None else result[:limit]
