"""``expm migrate`` and ``expm sync``: move versions between stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from experiment_manager._ranges import format_versions
from experiment_manager.cli import _format
from experiment_manager.cli._common import (
    EXIT_CORRUPT,
    Output,
    Progress,
    json_option,
    progress_option,
)

if TYPE_CHECKING:
    from experiment_manager.transfer import TransferReport

__all__ = ["migrate", "sync"]


def _ids_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--id",
        "experiment_ids",
        multiple=True,
        metavar="ID",
        help="Only this experiment (repeat for more) [default: every one].",
    )(function)


def _dry_run_option(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--replace-changed",
        is_flag=True,
        help="Replace DEST's copy of a version that changed in SOURCE since it was copied "
        "(a crashed run resumed, a tag added); changes made to that copy in DEST are lost.",
    )(function)
    return click.option(
        "--dry-run", is_flag=True, help="Only report what would be copied; write nothing."
    )(function)


@click.command()
@click.argument("source")
@click.argument("dest")
@_ids_option
@_dry_run_option
@progress_option
@json_option
@click.pass_context
def migrate(
    ctx: click.Context,
    *,
    source: str,
    dest: str,
    experiment_ids: tuple[str, ...],
    dry_run: bool,
    replace_changed: bool,
    progress: bool | None,
    as_json: bool,
) -> None:
    r"""Copy every experiment and version from SOURCE to DEST, keeping version numbers.

    SOURCE and DEST are folders or database URIs (postgresql://user@host/db).
    Every point, checkpoint record and status is copied as it is, so
    read_history gives the same on both sides; SOURCE is only read. Run it again
    at any time, also after it was killed: what DEST already holds is checked and
    only the rest is copied. A version still running is copied by a later run,
    once it has ended (and, as numbers are kept, so are the versions after it).

    DEST must hold nothing of an experiment, or exactly the versions an earlier
    run copied; anything else is a conflict, reported before anything is written
    (exit 1). A version that changed in SOURCE since it was copied is such a
    conflict, unless --replace-changed replaces DEST's copy. A history that cannot
    be read is reported and the others are still copied (exit 3). --json prints the
    library's TransferReport.to_dict().

    \b
    Example:
        expm migrate runs/ postgresql://me@db.example.org/tracking
        expm migrate --dry-run --id mnist runs/ backup/
    """
    from experiment_manager.transfer import migrate as run_migrate

    _run(
        ctx,
        run_migrate,
        "Migrating versions",
        {
            "source": source,
            "dest": dest,
            "experiment_ids": list(experiment_ids) or None,
            "dry_run": dry_run,
            "replace_changed": replace_changed,
        },
        progress=progress,
        as_json=as_json,
    )


@click.command()
@click.argument("source")
@click.argument("dest")
@_ids_option
@_dry_run_option
@progress_option
@json_option
@click.pass_context
def sync(
    ctx: click.Context,
    *,
    source: str,
    dest: str,
    experiment_ids: tuple[str, ...],
    dry_run: bool,
    replace_changed: bool,
    progress: bool | None,
    as_json: bool,
) -> None:
    r"""Append the versions logged offline in SOURCE to the shared store DEST, once each.

    Each version of SOURCE (a folder) that DEST does not hold yet gets DEST's
    next number for its experiment id and an "origin" field: the host and folder
    it came from, its number there and when it was synced. Running it again
    syncs nothing twice. A version still running is skipped and reported, and
    synced by a later run once it has ended. A version that changed in SOURCE
    since it was synced is reported, or with --replace-changed replaces its copy
    (which keeps its number and origin). A history that cannot be read is
    reported with its path and the others are still synced (exit 3). --json
    prints the library's TransferReport.to_dict().

    \b
    Example:
        expm sync ~/offline-runs postgresql://me@db.example.org/tracking
        expm sync --dry-run --json node7-logs/ team-logs/
    """
    from experiment_manager.transfer import sync as run_sync

    _run(
        ctx,
        run_sync,
        "Syncing versions",
        {
            "source": source,
            "dest": dest,
            "experiment_ids": list(experiment_ids) or None,
            "dry_run": dry_run,
            "replace_changed": replace_changed,
        },
        progress=progress,
        as_json=as_json,
    )


def _run(
    ctx: click.Context,
    call: Callable[..., TransferReport],
    label: str,
    arguments: dict[str, Any],
    *,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Call ``migrate`` or ``sync`` with a progress bar, print the report, set the exit code."""
    output = Output(as_json)
    bar: Progress | None = None

    def report_progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress(label, total, progress)
        bar.total = total
        bar.update(done)

    try:
        report = call(**arguments, progress=report_progress)
    finally:
        if bar is not None:
            bar.close()
    if output.mode == "json":
        output.json(report.to_dict())
    else:
        _echo_report(output, report)
    if not report.ok:
        ctx.exit(EXIT_CORRUPT)


def _echo_report(output: Output, report: TransferReport) -> None:
    safe = _format.safe_text
    verb = {"migrate": "migrated", "sync": "synced"}[report.operation]
    done = f"would be {verb}" if report.dry_run else verb
    note = " (dry run: nothing was written)" if report.dry_run else ""
    click.echo(
        f"{report.copied_versions} version(s) of {len(report.copied)} experiment(s) {done} "
        f"from {safe(report.source)} to {safe(report.dest)}{note}"
    )
    for item in report.copied:
        line = f"  {safe(item['experiment_id'])}: {format_versions(item['versions'])}"
        if item["dest_versions"] != item["versions"]:
            line += f" -> {format_versions(item['dest_versions'])}"
        click.echo(line)
    click.echo(f"{report.present} version(s) already in the destination.")
    if report.replaced:
        click.echo()
        title = "To replace in the destination" if report.dry_run else "Replaced in the destination"
        click.echo(output.style(f"{title} (changed in the source since copied):", fg="yellow"))
        for entry in report.replaced:
            click.echo(f"  {safe(entry['experiment_id'])} v{entry['dest_version']}")
    if report.skipped:
        click.echo()
        click.echo(output.style("Not copied this time:", fg="yellow"))
        for entry in report.skipped:
            click.echo(
                f"  {safe(entry['experiment_id'])} v{entry['version']}: {safe(entry['reason'])}"
            )
    if report.foreign:
        click.echo()
        click.echo("Not histories (left alone):")
        for entry in report.foreign:
            click.echo(f"  {entry['store']}: {safe(entry['path'])}")
    if report.corrupt:
        click.echo()
        click.echo(
            output.style(
                "Unreadable histories (left as they are; the others were copied):",
                fg="red",
                bold=True,
            )
        )
        for entry in report.corrupt:
            click.echo(f"  {entry['store']}: {safe(entry['path'])}: {safe(entry['reason'])}")
