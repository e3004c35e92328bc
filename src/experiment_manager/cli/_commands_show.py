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
    status_cell,
)

__all__ = ["diff", "show", "show_document"]

_SUMMARY_STATS = ("count", "last", "min", "max", "mean")
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
@click.argument("ref", metavar="ID[@VERSION]")
@click.option(
    "-v",
    "--version",
    "version_option",
    type=click.IntRange(min=1),
    help="The version (instead of @VERSION; for ids that themselves end in @<digits>).",
)
@click.option("--points", is_flag=True, help="Print every metric point (step, value, time).")
@json_option
@click.pass_context
def show(
    ctx: click.Context, ref: str, version_option: int | None, points: bool, as_json: bool
) -> None:
    r"""Show everything recorded for one version (the latest by default).

    Configuration, status and timing, error, hyperparameters, metadata, metric
    summaries (count, last, min, max, mean; every point with --points), checkpoints
    (with whether each file is still there) and the captured environment.
    --json prints the library's get_version(ID, VERSION), with metrics, steps and
    timestamps replaced by metric_summaries unless --points is given.

    \b
    Example:
        expm show demo_logreg
        expm show demo_logreg@2 --points
        expm show demo_logreg@latest --json
    """
    output = Output(as_json)
    experiment_id, version = (ref, version_option) if version_option else parse_ref(ref)
    manager = get_manager(ctx)
    record = manager.get_version(experiment_id, version)
    if output.mode == "json":
        output.json(show_document(record, points))
        return
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
    click.echo(
        _format.render_table(
            headers, rows, right=[1, 2], max_width=60, stylist=output.stylist, indent=2
        )
    )


@click.command()
@click.argument("experiment_id", metavar="ID")
@click.argument("versions", nargs=-1, required=True, type=click.IntRange(min=1), metavar="V1 V2...")
@output_options
@click.pass_context
def diff(
    ctx: click.Context, experiment_id: str, versions: tuple[int, ...], as_json: bool, as_csv: bool
) -> None:
    r"""Compare versions: what changed, and their metric summaries side by side.

    Lists the hyperparameters, metadata and environment entries whose values differ
    (nested keys dotted; a key a version lacks shows as -), then the count, last,
    min, max and mean of every metric in each version. --json prints the library's
    compare(ID, [V1, V2, ...]) (version keys become strings).

    \b
    Example:
        expm diff demo_logreg 1 2
        expm diff demo_logreg 1 2 3 --json
    """
    output = Output(as_json, as_csv)
    if len(versions) < 2:
        raise click.UsageError("give at least two versions to compare")
    if len(set(versions)) != len(versions):
        raise click.UsageError("a version is given twice")
    comparison = get_manager(ctx).compare(experiment_id, list(versions))
    if output.mode == "json":
        output.json(comparison)
        return
    columns = [f"v{version}" for version in versions]
    if output.mode == "csv":
        output.csv(_diff_rows(comparison, versions), ["section", "key", *columns])
        return
    for title, section in (
        ("Hyperparameters", "hyperparameters"),
        ("Metadata", "metadata"),
        ("Environment", "environment"),
    ):
        changed = comparison[section]
        if not changed:
            click.echo(f"{_heading(output, title.upper())}  (no differences)")
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
        click.echo()
    metrics = comparison["metrics"]
    names = list(dict.fromkeys(name for version in versions for name in metrics[version]))
    if not names:
        click.echo(f"{_heading(output, 'METRICS')}  (none recorded)")
        return
    rows = []
    for name in names:
        for stat in _SUMMARY_STATS:
            cells = [
                _format.format_value((metrics[version].get(name) or {}).get(stat))
                for version in versions
            ]
            rows.append([_format.safe_text(name) if stat == "count" else "", stat, *cells])
    click.echo(
        _format.render_table(
            ["METRICS", "", *columns],
            rows,
            right=range(2, 2 + len(versions)),
            stylist=output.stylist,
        )
    )


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
