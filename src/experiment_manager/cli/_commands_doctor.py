"""``expm doctor``: check a log folder and repair what is safe to repair."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from experiment_manager.cli import _format
from experiment_manager.cli._common import (
    EXIT_CORRUPT,
    Output,
    Progress,
    json_option,
    progress_option,
)

if TYPE_CHECKING:
    from experiment_manager.doctor import DoctorReport

__all__ = ["doctor"]

#: Below this many histories no progress bar is shown unless --progress asks for one.
_PROGRESS_FROM = 20


@click.command()
@click.option("--dry-run", is_flag=True, help="Only report what would be done; change nothing.")
@progress_option
@json_option
@click.pass_context
def doctor(ctx: click.Context, *, dry_run: bool, progress: bool | None, as_json: bool) -> None:
    r"""Check every history and journal in the log folder; repair what is safe.

    Parses every history (one that cannot be parsed is reported and never touched),
    marks versions whose process died as crashed after folding in their streamed
    points, deletes journals already folded and stale temporary files, and reports
    files it cannot place (such as orphan journals) for a person to look at.
    Names a *.json that is not a history (a stray config.json) as foreign and
    leaves it alone, and lists recorded checkpoints that are missing or changed
    (neither is a sign of damage: the exit code stays 0 for them).
    Exits with 3 when a corrupt history or a file it cannot place was found. --json prints
    the library's DoctorReport.to_dict().

    \b
    Example:
        expm doctor --dry-run
        expm --log-dir runs doctor
    """
    from experiment_manager.doctor import doctor as run_doctor

    output = Output(as_json)
    log_dir = ctx.find_root().obj["log_dir"]
    bar: Progress | None = None

    def report_progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            wanted = (
                progress if progress is not None else (None if total >= _PROGRESS_FROM else False)
            )
            bar = Progress("Checking histories", total, wanted)
        bar.update(done)

    try:
        report = run_doctor(log_dir, dry_run=dry_run, progress=report_progress)
    finally:
        if bar is not None:
            bar.close()
    if output.mode == "json":
        output.json(report.to_dict())
    else:
        _echo_report(output, report)
    if not report.healthy:
        ctx.exit(EXIT_CORRUPT)


def _echo_report(output: Output, report: DoctorReport) -> None:
    safe = _format.safe_text
    would = report.dry_run
    note = " (dry run: nothing was changed)" if would else ""
    click.echo(f"Checked {report.histories} history file(s) in {safe(report.log_dir)}{note}")
    sections: list[tuple[str, list[str], dict[str, object]]] = [
        (
            "Corrupt histories (left untouched; fix or move them by hand)",
            [f"{safe(item['path'])}: {safe(item['reason'])}" for item in report.corrupt],
            {"fg": "red", "bold": True},
        ),
        (
            "Not histories (foreign files, left alone)",
            [f"{safe(item['path'])}: {safe(item['reason'])}" for item in report.foreign],
            {},
        ),
        (
            "Checkpoints missing or changed since they were added",
            [
                f"{safe(item['experiment_id'])} v{item['version']}: {safe(item['path'])} "
                f"({item['status']})"
                for item in report.checkpoints
            ],
            {"fg": "yellow"},
        ),
        (
            "Crashed runs to mark as crashed" if would else "Crashed runs marked as crashed",
            [
                f"{safe(item['experiment_id'])} v{item['version']}"
                + (f" ({item['points']} streamed point(s) folded in)" if "points" in item else "")
                for item in report.crashed
            ],
            {"fg": "yellow"},
        ),
        (
            "Files to remove" if would else "Removed",
            [safe(path) for path in report.removed],
            {},
        ),
        (
            "Kept for a person to look at",
            [f"{safe(item['path'])}: {safe(item['reason'])}" for item in report.kept],
            {"fg": "yellow", "bold": True},
        ),
    ]
    for title, lines, style in sections:
        if not lines:
            continue
        click.echo()
        click.echo(output.style(f"{title}:", **style))
        for line in lines:
            click.echo(f"  {line}")
    click.echo()
    if report.healthy and report.checkpoints:
        click.echo(
            output.style(
                f"Histories healthy; {len(report.checkpoints)} checkpoint(s) missing or changed.",
                fg="yellow",
            )
        )
    elif report.healthy:
        click.echo(output.style("Healthy.", fg="green"))
    else:
        problems = []
        if report.corrupt:
            problems.append(f"{len(report.corrupt)} corrupt history file(s)")
        if report.kept:
            problems.append(f"{len(report.kept)} file(s) kept for a look")
        click.echo(output.style("Not healthy: " + ", ".join(problems) + ".", fg="red"))
