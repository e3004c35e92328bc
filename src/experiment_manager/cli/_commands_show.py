"""``expm show`` (one version in full) and ``expm diff`` (versions side by side)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from experiment_manager.cli import _format
from experiment_manager.cli._common import (
    Output,
    get_manager,
    json_option,
    output_options,
    parse_ref,
    parse_versions,
    status_cell,
)

__all__ = ["diff", "show", "show_document"]

_SUMMARY_STATS = ("count", "last", "min", "max", "mean")
_WHOLE = 1 << 30  # a cell width nothing reaches: never cut
_CHECK_STYLES: Mapping[str, Mapping[str, Any]] = {
    "ok": {"fg": "green"},
    "missing": {"fg": "red"},
    "changed": {"fg": "yellow"},
}


def show_document(record: Mapping[str, Any], points: bool) -> dict[str, Any]:
    """What ``expm show --json`` prints for a record from ``get_version``.

    Args:
        record: The full record.
        points: Keep every point (``metrics``, ``steps``, ``timestamps``) as stored.

    Returns:
        The record itself with ``points``; otherwise the record with those three
        keys replaced by ``metric_summaries`` (``query.metric_summary`` of each
        metric, as ``list_versions`` gives them).
    """
    if points:
        return dict(record)
    from experiment_manager.query import metric_summary

    steps = record.get("steps") or {}
    document = {
        key: value for key, value in record.items() if key not in ("metrics", "steps", "timestamps")
    }
    document["metric_summaries"] = {
        name: dict(metric_summary(values, steps.get(name)))
        for name, values in (record.get("metrics") or {}).items()
    }
    return document


def _heading(output: Output, title: str) -> str:
    return output.style(title, bold=True)


def _pairs(section: Any) -> str:
    flat = _format.flatten("", section or {}, {})
    if not flat:
        return "  (none)"
    return _format.render_pairs(
        (_format.safe_text(key), _format.format_value(value, digits=None))
        for key, value in flat.items()
    )


@click.command()
@click.argument("ref", metavar="ID[@VERSIONS]")
@click.option(
    "-v",
    "--version",
    "version_option",
    metavar="VERSIONS",
    help="The version, or a list such as 1-3 (instead of @VERSIONS; for ids that "
    "themselves end in @<digits>).",
)
@click.option("--points", is_flag=True, help="Print every metric point (step, value, time).")
@json_option
@click.pass_context
def show(
    ctx: click.Context, ref: str, version_option: str | None, points: bool, as_json: bool
) -> None:
    r"""Show everything recorded for one version (the latest by default), or several.

    Configuration, status and timing, error, hyperparameters, metadata, metric
    summaries (count, last, min, max, mean; every point with --points), checkpoints
    (with whether each file is still there; paths in full) and the captured
    environment. ID@1-3 or ID@1,4 shows each of those versions in turn. --json
    prints the library's get_version(ID, VERSION), with metrics, steps and
    timestamps replaced by metric_summaries unless --points is given (a list of
    them for several versions).

    \b
    Example:
        expm show demo_logreg
        expm show demo_logreg@2 --points
        expm show demo_logreg@1-3
        expm show demo_logreg@latest --json
    """
    output = Output(as_json)
    experiment_id, versions = _show_refs(ref, version_option)
    manager = get_manager(ctx)
    records = [manager.get_version(experiment_id, version) for version in versions]
    if output.mode == "json":
        documents = [show_document(record, points) for record in records]
        output.json(documents if len(versions) > 1 else documents[0])
        return
    for index, record in enumerate(records):
        if index:
            click.echo()
            click.echo(output.style("─" * 40, dim=True))
            click.echo()
        _echo_version(output, manager, record, points)


def _show_refs(ref: str, version_option: str | None) -> tuple[str, list[int | None]]:
    """The experiment and versions ``expm show`` names (None: the latest)."""
    from experiment_manager import _ranges

    if version_option is not None:
        return ref, list(parse_versions(version_option))
    experiment_id, at, spec = ref.rpartition("@")
    if at and experiment_id and _ranges.is_version_list(spec):
        return experiment_id, list(parse_versions(spec))
    experiment_id, version = parse_ref(ref)
    return experiment_id, [version]


def _echo_version(output: Output, manager: Any, record: Mapping[str, Any], points: bool) -> None:
    summary = show_document(record, points=False)["metric_summaries"]
    title = f"{_format.safe_text(record['experiment_id'])} @ version {record['version']}"
    status = status_cell(record.get("status"))
    click.echo(f"{_heading(output, title)}  {_format_styled(output, status)}")
    info: list[tuple[str, str]] = [
        ("config", _format.safe_text(record.get("config_name"))),
        ("created", _format.format_time(record.get("created_at"))),
        ("ended", _format.format_time(record.get("ended_at"))),
        ("duration", _format.format_duration(record.get("duration"))),
    ]
    error = record.get("error")
    if error:
        kind, message = error.get("type", "Error"), error.get("message", "")
        info.append(("error", _format.safe_text(f"{kind}: {message}")))
    for entry in record.get("resumed") or []:
        info.append(
            (
                "resumed",
                f"{_format.format_time(entry.get('at'))} (was "
                f"{_format.safe_text(entry.get('from_status'))}, pid "
                f"{_format.safe_text(entry.get('pid'))} on "
                f"{_format.safe_text(entry.get('hostname'))})",
            )
        )
    click.echo(_format.render_pairs(info))
    for title, key in (("Hyperparameters", "hyperparameters"), ("Metadata", "metadata")):
        click.echo()
        click.echo(_heading(output, title))
        click.echo(_pairs(record.get(key)))
    click.echo()
    click.echo(_heading(output, "Metrics"))
    if summary:
        rows = [
            [_format.safe_text(name)]
            + [_format.format_value(stats.get(stat)) for stat in _SUMMARY_STATS]
            for name, stats in summary.items()
        ]
        headers = ["NAME", *(stat.upper() for stat in _SUMMARY_STATS)]
        click.echo(
            _format.render_table(headers, rows, right=range(1, 6), stylist=output.stylist, indent=2)
        )
    else:
        click.echo("  (none)")
    if points:
        _echo_points(output, record)
    click.echo()
    click.echo(_heading(output, "Checkpoints"))
    _echo_checkpoints(output, manager, record)
    click.echo()
    click.echo(_heading(output, "Environment"))
    environment = record.get("environment")
    click.echo("  (not captured)" if environment is None else _pairs(environment))


def _format_styled(output: Output, cell: _format.Styled) -> str:
    return "".join(output.style(text, **style) for text, style in cell.parts)


def _echo_points(output: Output, record: Mapping[str, Any]) -> None:
    steps = record.get("steps") or {}
    times = record.get("timestamps") or {}
    for name, values in (record.get("metrics") or {}).items():
        click.echo()
        click.echo(_heading(output, f"Points of {_format.safe_text(name)}"))
        name_steps = steps.get(name) or []
        name_times = times.get(name) or []
        rows: list[list[_format.Cell]] = []
        for index, value in enumerate(values):
            step = name_steps[index] if index < len(name_steps) else None
            moment = name_times[index] if index < len(name_times) else None
            rows.append(
                [
                    str(index),
                    _format.format_value(step),
                    _format.format_value(value, digits=None),
                    _format.format_value(moment, digits=None),
                ]
            )
        headers = ["INDEX", "STEP", "VALUE", "TIMESTAMP"]
        click.echo(
            _format.render_table(headers, rows, right=range(4), stylist=output.stylist, indent=2)
        )


def _echo_checkpoints(output: Output, manager: Any, record: Mapping[str, Any]) -> None:
    details = record.get("checkpoint_details") or []
    if not details:
        paths = record.get("checkpoints") or []
        click.echo("\n".join(f"  {_format.safe_text(p)}" for p in paths) or "  (none)")
        return
    checks = manager.verify_checkpoints(record["experiment_id"], record["version"])
    rows: list[list[_format.Cell]] = []
    for detail, check in zip(details, checks, strict=False):
        state = _format.safe_text(check.get("status"))
        metrics = detail.get("metrics") or {}
        rows.append(
            [
                _format.safe_text(detail.get("path")),
                _format.format_value(detail.get("step")),
                _format.format_value(detail.get("size")),
                _format.Styled(((state, _CHECK_STYLES.get(state, {})),)),
                _format.safe_text((detail.get("sha256") or "-")[:12]),
                ", ".join(
                    f"{_format.safe_text(k)}={_format.format_value(v)}" for k, v in metrics.items()
                )
                or "-",
                _format.format_time(detail.get("added_at")),
            ]
        )
    headers = ["PATH", "STEP", "SIZE", "NOW", "SHA256", "METRICS", "ADDED"]
    # Paths are shown whole, however long: they are there to be copied.
    click.echo(
        _format.render_table(
            headers, rows, right=[1, 2], max_width=_WHOLE, stylist=output.stylist, indent=2
        )
    )


def diff_refs(tokens: tuple[str, ...]) -> list[tuple[str, int]]:
    """The versions ``expm diff`` names: ``ID V1 V2...``, ``ID@V...``, or both mixed.

    A version list (``3``, ``1-6``, ``1,3``) names versions of the experiment named
    last; ``ID@VERSIONS`` names an experiment and versions of it; a bare ``ID`` names
    the experiment the version lists after it belong to.

    Args:
        tokens: The arguments as typed.

    Returns:
        ``(experiment_id, version)`` pairs, in the given order.

    Raises:
        click.UsageError: A version list comes before any experiment.

    Example:
        >>> diff_refs(("mnist", "1-2", "other@3"))
        [('mnist', 1), ('mnist', 2), ('other', 3)]
    """
    from experiment_manager import _ranges

    pairs: list[tuple[str, int]] = []
    current: str | None = None
    for token in tokens:
        experiment_id, at, spec = token.rpartition("@")
        if at and experiment_id and _ranges.is_version_list(spec):
            current = experiment_id
            pairs += [(current, v) for v in _version_list(spec)]
        elif current is not None and _ranges.is_version_list(token):
            pairs += [(current, v) for v in _version_list(token)]
        else:
            current = token
    return pairs


def _version_list(text: str) -> list[int]:
    from experiment_manager import _ranges
    from experiment_manager.errors import InvalidArgumentError

    try:
        return _ranges.parse_versions(text)
    except InvalidArgumentError as error:
        raise click.BadParameter(f"{_format.safe_text(text)!r}: {error.reason}") from None


@click.command()
@click.argument("refs", nargs=-1, required=True, metavar="ID V1 V2... | ID@V ID@V...")
@click.option(
    "--all-fields",
    is_flag=True,
    help="Also show fields that differ between any two runs (environment.pid, argv).",
)
@output_options
@click.pass_context
def diff(
    ctx: click.Context, refs: tuple[str, ...], all_fields: bool, as_json: bool, as_csv: bool
) -> None:
    r"""Compare versions: what changed, and their metric summaries side by side.

    Versions of one experiment (ID 1 2, ranges such as 1-6) or of several
    (ID@1 OTHER@2, or mixed: ID 1 OTHER@2). Lists the hyperparameters, metadata and
    environment entries whose values differ (nested keys dotted; a key a version
    lacks shows as -; environment.pid and argv, which differ between any two runs,
    only with --all-fields), each version's config name, name, status and duration,
    then the count, last, min, max and mean of every metric in each version.
    --json prints the library's compare(ID, [V1, V2, ...]) for versions of one
    experiment (version keys become strings) and compare_versions(...) otherwise.

    \b
    Example:
        expm diff demo_logreg 1 2
        expm diff demo_logreg 1-4 --json
        expm diff demo_logreg@1 other_experiment@2
    """
    output = Output(as_json, as_csv)
    pairs = diff_refs(refs)
    if len(pairs) < 2:
        raise click.UsageError("give at least two versions to compare")
    if len(set(pairs)) != len(pairs):
        raise click.UsageError("a version is given twice")
    manager = get_manager(ctx)
    experiments = list(dict.fromkeys(e for e, _ in pairs))
    single = len(experiments) == 1
    if single and output.mode != "table":
        versions = tuple(v for _, v in pairs)
        comparison = manager.compare(experiments[0], list(versions))
        if output.mode == "json":
            output.json(comparison)
        else:
            output.csv(_diff_rows(comparison, versions), ["section", "key", *_columns(versions)])
        return
    found = manager.compare_versions(pairs, all_fields=all_fields)
    if output.mode == "json":
        output.json(found)
        return
    columns = [f"v{v}" for _, v in pairs] if single else list(found["refs"])
    if output.mode == "csv":
        output.csv(_refs_rows(found, columns), ["section", "key", *columns])
        return
    _echo_diff(output, found, columns)


def _columns(versions: tuple[int, ...]) -> list[str]:
    return [f"v{version}" for version in versions]


def _refs_rows(found: Mapping[str, Any], columns: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for section in ("hyperparameters", "metadata", "environment", "run"):
        for key, values in found[section].items():
            row: dict[str, Any] = {"section": section, "key": key}
            row.update(zip(columns, values, strict=True))
            rows.append(row)
    metrics = found["metrics"]
    names = list(dict.fromkeys(name for ref in found["refs"] for name in metrics[ref]))
    for name in names:
        for stat in _SUMMARY_STATS:
            row = {"section": "metrics", "key": f"{name}.{stat}"}
            row.update(
                (column, (metrics[ref].get(name) or {}).get(stat))
                for column, ref in zip(columns, found["refs"], strict=True)
            )
            rows.append(row)
    return rows


def _echo_diff(output: Output, found: Mapping[str, Any], columns: list[str]) -> None:
    for title, section in (
        ("Hyperparameters", "hyperparameters"),
        ("Metadata", "metadata"),
        ("Environment", "environment"),
    ):
        changed = found[section]
        hidden = [key for key in found["hidden"] if key.startswith(section + ".")]
        note = f"  ({', '.join(hidden)} also differ: --all-fields shows them)" if hidden else ""
        if not changed:
            click.echo(f"{_heading(output, title.upper())}  (no differences){note}")
            click.echo()
            continue
        rows = [
            [_format.safe_text(key)] + [_format.format_value(value) for value in values]
            for key, values in changed.items()
        ]
        click.echo(
            _format.render_table(
                [title.upper(), *columns], rows, stylist=output.stylist, max_width=40
            )
        )
        if note:
            click.echo(note.strip())
        click.echo()
    run = found["run"]
    run_rows: list[list[_format.Cell]] = [
        [key, *(_run_cell(key, value) for value in run[key])]
        for key in ("config_name", "name", "status", "duration")
    ]
    click.echo(
        _format.render_table(["RUN", *columns], run_rows, stylist=output.stylist, max_width=40)
    )
    click.echo()
    metrics = found["metrics"]
    refs = list(found["refs"])
    names = list(dict.fromkeys(name for ref in refs for name in metrics[ref]))
    if not names:
        click.echo(f"{_heading(output, 'METRICS')}  (none recorded)")
        return
    table = []
    for name in names:
        for stat in _SUMMARY_STATS:
            cells = [_format.format_value((metrics[ref].get(name) or {}).get(stat)) for ref in refs]
            table.append([_format.safe_text(name) if stat == "count" else "", stat, *cells])
    click.echo(
        _format.render_table(
            ["METRICS", "", *columns],
            table,
            right=range(2, 2 + len(refs)),
            stylist=output.stylist,
        )
    )


def _run_cell(key: str, value: Any) -> _format.Cell:
    if key == "duration":
        return _format.format_duration(value)
    if key == "status":
        return status_cell(value)
    return _format.safe_text(value if value is not None else "-")


def _diff_rows(comparison: Mapping[str, Any], versions: tuple[int, ...]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for section in ("hyperparameters", "metadata", "environment"):
        for key, values in comparison[section].items():
            row: dict[str, Any] = {"section": section, "key": key}
            row.update((f"v{v}", value) for v, value in zip(versions, values, strict=True))
            rows.append(row)
    metrics = comparison["metrics"]
    names = list(dict.fromkeys(name for version in versions for name in metrics[version]))
    for name in names:
        for stat in _SUMMARY_STATS:
            row = {"section": "metrics", "key": f"{name}.{stat}"}
            row.update((f"v{v}", (metrics[v].get(name) or {}).get(stat)) for v in versions)
            rows.append(row)
    return rows
