"""``expm ls``, ``expm history`` and ``expm search``: versions in tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import click

from experiment_manager._paths import relative_to_log_dir
from experiment_manager.cli import _format
from experiment_manager.cli._common import (
    EXIT_CORRUPT,
    STATUS_STYLES,
    Output,
    echo_error,
    get_manager,
    output_options,
    status_cell,
)
from experiment_manager.errors import ExperimentNotFoundError
from experiment_manager.models import VersionTable

__all__ = ["history", "ls", "search"]


def _status_counts(counts: Mapping[str, int]) -> _format.Styled:
    parts: list[tuple[str, Mapping[str, Any]]] = []
    for status, number in sorted(counts.items(), key=lambda item: (-item[1], str(item[0]))):
        if parts:
            parts.append((", ", {}))
        text = _format.safe_text(status)
        parts.append((f"{number} {text}", STATUS_STYLES.get(text, {})))
    return _format.Styled(tuple(parts))


@click.command("ls")
@click.option(
    "--all", "show_all", is_flag=True, help="Show archived versions too (never those in the trash)."
)
@output_options
@click.pass_context
def ls(ctx: click.Context, show_all: bool, as_json: bool, as_csv: bool) -> None:
    r"""List experiments: versions, last activity, status counts and metrics.

    One row per experiment id in the log folder, read from the per-version summaries
    (no metric points are loaded). A history that cannot be parsed is listed as
    corrupt, with a warning, and the exit code is 3. A *.json that is not a history
    at all (a stray config.json) is skipped with a note on stderr.

    \b
    Example:
        expm ls
        expm --log-dir runs ls --json
    """
    output = Output(as_json, as_csv)
    manager = get_manager(ctx)
    listed = manager.list_experiments(include_archived=show_all)
    foreign = [entry for entry in listed if entry.get("foreign")]
    experiments = [entry for entry in listed if not entry.get("foreign")]
    for entry in foreign:
        note = relative_to_log_dir(entry["error"], manager.log_dir)
        echo_error(f"skipped {note}", prefix="note")
    if output.mode == "json":
        output.json(experiments)
    elif output.mode == "csv":
        output.csv([_format.flatten("", entry, {}) for entry in experiments])
    elif experiments:
        rows: list[list[_format.Cell]] = []
        for entry in experiments:
            if "error" in entry:
                rows.append(
                    [
                        _format.safe_text(entry["experiment_id"]),
                        "?",
                        "-",
                        status_cell("corrupt"),
                        _format.safe_text(entry["error"]),
                    ]
                )
                continue
            rows.append(
                [
                    _format.safe_text(entry["experiment_id"]),
                    str(entry["versions"]),
                    _format.format_time(entry.get("last_activity")),
                    _status_counts(entry.get("status_counts") or {}),
                    _format.safe_text(", ".join(entry.get("metric_names") or [])) or "-",
                ]
            )
        headers = ["EXPERIMENT", "VERSIONS", "LAST ACTIVITY", "STATUS", "METRICS"]
        click.echo(_format.render_table(headers, rows, right=[1], stylist=output.stylist))
    else:
        where = manager.log_dir
        missing = "" if isinstance(where, str) or where.is_dir() else " (the folder does not exist)"
        click.echo(f"no experiments in {_format.safe_text(where)}{missing}", err=True)
    _exit_if_unreadable(ctx, experiments)


def _exit_if_unreadable(
    ctx: click.Context, experiments: Sequence[Mapping[str, Any]], *, name_each: bool = False
) -> None:
    """Warn about the histories that cannot be read, and exit with 3 if there are any."""
    corrupt = [entry for entry in experiments if "error" in entry and not entry.get("foreign")]
    if name_each:
        log_dir = get_manager(ctx).log_dir
        for entry in corrupt:
            reason = relative_to_log_dir(entry["error"], log_dir)
            echo_error(f"skipped {entry['experiment_id']}: {reason}", prefix="warning")
    if corrupt:
        echo_error(
            f"{len(corrupt)} history file(s) cannot be read; run `expm doctor`",
            prefix="warning",
        )
        ctx.exit(EXIT_CORRUPT)


def _comparable(value: Any) -> Any:
    """A hashable stand-in for a flattened value (lists and dicts as JSON text)."""
    if isinstance(value, (list, tuple, dict)):
        return _format.json_text(value, indent=None)
    return (type(value).__name__, value)


def _varying_keys(flats: Sequence[Mapping[str, Any]]) -> list[str]:
    """Flattened keys whose values differ between versions (all keys if none do)."""
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    varying = [key for key in keys if _varies([flat.get(key) for flat in flats])]
    return varying if varying and len(flats) > 1 else keys


def _varies(values: Sequence[Any]) -> bool:
    """Whether the values are not all the same (stops at the first difference)."""
    if not values:
        return False
    first = _comparable(values[0])
    return any(_comparable(value) != first for value in values[1:])


def _history_table(
    table: VersionTable,
    params: Sequence[str],
    metrics: Sequence[str],
    stylist: _format.Stylist | None,
) -> str:
    """The history table, built column by column (10,000 versions take milliseconds)."""
    flats = [_format.flatten("", values or {}, {}) for values in table.hyperparameters]
    hp_keys = list(params) or _varying_keys(flats)
    names = list(metrics) or list(table.last)  # sorted by name
    headers = ["VERSION", "STATUS", "CREATED", "DURATION"]
    headers += [_format.safe_text(key) for key in hp_keys]
    headers += [
        _format.safe_text(f"metrics.{name}" if name in hp_keys else name) + " (last)"
        for name in names
    ]
    # A handful of statuses, styled once each.
    distinct = {status for status in table.status if type(status) is str}
    styled = {status: status_cell(status) for status in distinct}
    columns: list[list[_format.Cell]] = [
        [str(version) for version in table.version],
        [styled[status] if type(status) is str else status_cell(status) for status in table.status],
        [_format.format_time(created) for created in table.created_at],
        [_format.format_duration(duration) for duration in table.duration],
    ]
    right = [0]
    right += [index for index in (2, 3) if _format.numeric_column(columns[index])]
    # Names and tags, like hyperparameters, only when they tell versions apart.
    extra: list[tuple[str, list[_format.Cell]]] = []
    if len(set(table.name)) > 1 or any(table.hidden):
        extra.append(("NAME", _name_cells(table)))
    if any(table.tags):
        extra.append(("TAGS", [_format.safe_text(",".join(tags)) or "-" for tags in table.tags]))
    for offset, (title, shown) in enumerate(extra, start=1):
        headers.insert(offset, title)
        columns.insert(offset, shown)
    right = [index + len(extra) if index else index for index in right]
    missing = [None] * len(table)
    values = [[flat.get(key) for flat in flats] for key in hp_keys]
    values += [table.last.get(name, missing) for name in names]
    for column_values in values:
        cells, numeric = _format.format_column(column_values)
        if numeric:
            right.append(len(columns))
        columns.append(list(cells))
    return _format.render_columns(headers, columns, right=right, stylist=stylist)


def _name_cells(table: VersionTable) -> list[_format.Cell]:
    """Each version's name, marked when archived (only listed with --all)."""
    names = table.name or [None] * len(table)
    hidden = table.hidden or [None] * len(table)
    return [
        _format.safe_text(name or "-") + (" (archived)" if reason == "archived" else "")
        for name, reason in zip(names, hidden, strict=True)
    ]


@click.command()
@click.argument("experiment_id", metavar="ID")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY",
    help="Hyperparameter column to show (repeatable; nested keys dotted, e.g. opt.lr) "
    "[default: those that differ between versions].",
)
@click.option(
    "-m",
    "--metric",
    "metrics",
    multiple=True,
    metavar="NAME",
    help="Metric column to show (repeatable) [default: every metric].",
)
@click.option(
    "--all", "show_all", is_flag=True, help="Show archived versions too (never those in the trash)."
)
@output_options
@click.pass_context
def history(
    ctx: click.Context,
    *,
    experiment_id: str,
    show_all: bool,
    params: tuple[str, ...],
    metrics: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
) -> None:
    r"""List the versions of one experiment.

    One row per version: status, start time, duration, the hyperparameters that
    differ between versions and the last value of each metric. Read from the
    per-version summaries; no metric points are loaded. --json prints the
    library's list_versions(ID); --csv prints the same columns as `expm export ID`.

    \b
    Example:
        expm history demo_logreg
        expm history demo_logreg -p learning_rate -m val_accuracy
        expm history demo_logreg --csv > versions.csv
    """
    output = Output(as_json, as_csv)
    manager = get_manager(ctx)
    if output.mode == "table":
        table = manager.version_table(experiment_id, include_archived=show_all)
        if not len(table):
            raise ExperimentNotFoundError(experiment_id)
        click.echo(_history_table(table, params, metrics, output.stylist))
        return
    versions = manager.list_versions(experiment_id, include_archived=show_all)
    if not versions:
        raise ExperimentNotFoundError(experiment_id)
    if output.mode == "json":
        output.json(versions)
        return
    from experiment_manager.export import wide_rows

    output.csv(wide_rows(versions))


def _fields(node: Any) -> Iterator[Any]:
    """Every field a parsed query refers to, in order."""
    from experiment_manager import query as _query

    if isinstance(node, (_query.Comparison, _query.Membership)):
        yield node.field
    elif isinstance(node, _query.BoolOp):
        for operand in node.operands:
            yield from _fields(operand)
    elif isinstance(node, _query.Not):
        yield from _fields(node.operand)


def _known_fields(summaries: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every field name the versions have, spelt as a query names it."""
    known: set[str] = set()
    for summary in summaries:
        for root, short in (("hyperparameters", "hp"), ("metadata", "metadata")):
            flat = _format.flatten("", summary.get(root) or {}, {})
            known.update(f"{short}.{key}" for key in flat)
        known.update(f"metrics.{name}" for name in summary.get("metric_summaries") or {})
    return known


def _field_hints(
    manager: Any, query: str | None, experiment_id: str | None, show_all: bool
) -> list[str]:
    """``did you mean`` for each field of the query that no version has."""
    import difflib

    from experiment_manager import query as _query

    if not query:
        return []
    refs = [ref for ref in _fields(_query.parse_query(query).node) if ref.keys]
    if not refs:
        return []
    ids = (
        [experiment_id]
        if experiment_id
        else [
            entry["experiment_id"]
            for entry in manager.list_experiments(include_archived=show_all)
            if "error" not in entry
        ]
    )
    summaries: list[Mapping[str, Any]] = []
    for known_id in ids:
        summaries.extend(manager.list_versions(known_id, include_archived=show_all))
    known = _known_fields(summaries)
    hints = []
    for ref in refs:
        short = "hp" if ref.root == "hyperparameters" else ref.root
        name = f"{short}.{ref.keys[0] if ref.root == 'metrics' else '.'.join(ref.keys)}"
        if name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        suffix = f".{ref.aggregate}" if ref.aggregate else ""
        shown = _format.safe_text(name + suffix)
        if close:
            hints.append(f"no version has {shown}; did you mean {close[0] + suffix}?")
        else:
            hints.append(f"no version has {shown}")
    return hints


def _columns(query: str | None, order_by: str | None) -> list[Any]:
    """The fields named in the query and the order, to show as extra columns."""
    from experiment_manager import query as _query

    refs: Iterable[Any] = []
    if query:
        refs = list(_fields(_query.parse_query(query).node))
    if order_by:
        refs = [*refs, *(ref for ref, _ in _query.parse_order_by(order_by))]
    shown = {"experiment_id", "version", "name", "status", "created_at"}
    columns: dict[str, Any] = {}
    for ref in refs:
        if str(ref) not in shown:
            columns.setdefault(str(ref), ref)
    return list(columns.values())


@click.command()
@click.argument("query", required=False)
@click.option(
    "-e", "--experiment", "experiment_id", metavar="ID", help="Search this experiment only."
)
@click.option(
    "--order-by",
    metavar="FIELDS",
    help="Sort, e.g. 'metrics.val_loss.min' or 'metrics.acc.max desc, version'.",
)
@click.option("-n", "--limit", type=click.IntRange(min=1), help="Show at most N versions.")
@click.option(
    "--all", "show_all", is_flag=True, help="Show archived versions too (never those in the trash)."
)
@output_options
@click.pass_context
def search(
    ctx: click.Context,
    *,
    query: str | None,
    show_all: bool,
    experiment_id: str | None,
    order_by: str | None,
    limit: int | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    r"""Find versions with the filter language (see docs/query-language.md).

    QUERY compares fields such as hp.lr, metadata.precision, status, duration or
    metrics.<name>.<last|min|max|mean|count>, combined with and, or, not and
    parentheses; omit it to match every version. The fields it names are shown as
    columns. When nothing matches it says "0 versions match" (exit code 0) and
    suggests the closest known name for a field no version has. Exits with 2 when
    the query does not parse (the error points at the offending spot), and with 3
    when a history could not be read (it is named; the others are searched).

    \b
    Example:
        expm search "hp.learning_rate >= 0.1 and metrics.val_accuracy.max > 0.8"
        expm search "status in ('failed', 'crashed')" --json
        expm search --order-by "metrics.loss.min" --limit 3 -e demo_logreg
    """
    output = Output(as_json, as_csv)
    manager = get_manager(ctx)
    results = manager.search(
        query,
        experiment_id=experiment_id,
        order_by=order_by,
        limit=limit,
        include_archived=show_all,
    )
    # An experiment whose every version is hidden is as unknown as one never run; the
    # check reads every summary, so only a search that found nothing pays for it.
    if (
        not results
        and experiment_id is not None
        and not manager.list_versions(experiment_id, include_archived=show_all)
    ):
        raise ExperimentNotFoundError(experiment_id)
    if output.mode == "json":
        output.json(results)
    elif output.mode == "csv":
        from experiment_manager.export import wide_rows

        output.csv(wide_rows(results))
    elif results:
        # Tags, as the names, whenever a matched version has any (not only when the
        # query names them: then the TAGS column stands for that field).
        with_tags = any(record.get("tags") for record in results)
        extra = [ref for ref in _columns(query, order_by) if not (with_tags and str(ref) == "tags")]
        headers = ["EXPERIMENT", "VERSION", "NAME", *(["TAGS"] if with_tags else []), "STATUS"]
        headers += ["CREATED", *(_format.safe_text(str(ref)) for ref in extra)]
        rows: list[list[_format.Cell]] = []
        for record in results:
            row: list[_format.Cell] = [
                _format.safe_text(record.get("experiment_id")),
                str(record.get("version")),
                _format.safe_text(record.get("name") or "-")
                + (" (archived)" if record.get("archived") else ""),
            ]
            if with_tags:
                row.append(_format.safe_text(",".join(record.get("tags") or [])) or "-")
            row += [
                status_cell(record.get("status")),
                _format.format_time(record.get("created_at")),
            ]
            for ref in extra:
                found, value = ref.lookup(record)
                row.append(_format.format_value(value) if found else "-")
            rows.append(row)
        right = [1, *_format.numeric_columns(rows)]
        click.echo(_format.render_table(headers, rows, right=right, stylist=output.stylist))
    if not results:
        # No match is an answer, not an error; a misspelt field is the usual cause.
        click.echo("0 versions match", err=True)
        for hint in _field_hints(manager, query, experiment_id, show_all):
            echo_error(hint, prefix="hint")
    # The histories the search skipped: each named on stderr, then exit code 3.
    _exit_if_unreadable(ctx, results.damaged, name_each=True)
