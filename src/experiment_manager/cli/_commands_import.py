"""``expm import``: runs of MLflow, TensorBoard or W&B offline folders as versions."""

from __future__ import annotations

import click

from experiment_manager.cli import _format
from experiment_manager.cli._common import (
    EXIT_CORRUPT,
    Output,
    Progress,
    echo_error,
    json_option,
    progress_option,
)
from experiment_manager.importers import TOOLS, ImportReport

__all__ = ["import_command"]


@click.command("import")
@click.argument("tool", type=click.Choice(TOOLS))
@click.argument("source", type=click.Path(exists=True))
@click.option(
    "--experiment-id",
    metavar="ID",
    help="Put every run into this experiment id [default: each run's experiment or "
    "project name, slugged; for TensorBoard the SOURCE folder's name].",
)
@click.option("--dry-run", is_flag=True, help="Read everything, print what would be imported.")
@progress_option
@json_option
@click.pass_context
def import_command(
    ctx: click.Context,
    *,
    tool: str,
    source: str,
    experiment_id: str | None,
    dry_run: bool,
    progress: bool | None,
    as_json: bool,
) -> None:
    r"""Import the runs of another tool from SOURCE, each as a version.

    \b
    mlflow       an mlruns/ folder (file store) or an MLflow SQLite database
    tensorboard  a log folder: every folder in it holding event files is a run
    wandb        W&B offline runs: a wandb/ folder or one offline-run-* folder

    Every param, tag or config value, every metric point (value, step, time), the
    status and the artifact paths (by reference, never copied) are imported; see
    docs/importers.md for how each tool's fields map. Each version records its
    origin (tool, source, run id), so importing again skips the runs already
    imported. A run that cannot be read is reported with its path and the others
    are imported (exit code 3); a truncated W&B file is imported as far as it can be
    read, with a warning. SOURCE is only ever read. Progress goes to stderr on a
    terminal (or always with --progress); --json prints the library's
    ImportReport.to_dict(). Needs the "import" extra (pip install
    "experiment-manager[import]"), except for an MLflow SQLite database.

    \b
    Example:
        expm import mlflow mlruns/
        expm import mlflow mlflow.db --experiment-id baseline --dry-run
        expm --log-dir runs import tensorboard tb_logs/ --json
        expm import wandb wandb/
    """
    from experiment_manager.importers import import_runs

    output = Output(as_json)
    log_dir = ctx.find_root().obj["log_dir"]
    bar: Progress | None = None

    def report_progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress(f"Importing {tool} runs", total, progress)
        bar.update(done)

    try:
        report = import_runs(
            tool,
            source,
            log_dir,
            experiment_id=experiment_id,
            dry_run=dry_run,
            progress=report_progress,
        )
    finally:
        if bar is not None:
            bar.close()
    for item in report.imported:
        for note in item["notes"]:
            echo_error(f"{item['run_id']}: {note}", prefix="warning")
        if item["left_out"]:  # bools, text, media: not metric values here
            counts = ", ".join(f"{key} ({count})" for key, count in item["left_out"].items())
            echo_error(
                f"{item['run_id']}: values that are not numbers left out: {counts}", prefix="note"
            )
    if output.mode == "json":
        output.json(report.to_dict())
    else:
        _echo_report(output, report)
    if not report.ok:
        ctx.exit(EXIT_CORRUPT)


def _echo_report(output: Output, report: ImportReport) -> None:
    safe = _format.safe_text
    verb = "Would import" if report.dry_run else "Imported"
    click.echo(
        f"{verb} {len(report.imported)} run(s) from {safe(report.source)}; "
        f"{len(report.skipped)} already imported, {len(report.failed)} unreadable"
        + (" (dry run: nothing was written)" if report.dry_run else "")
    )
    for item in report.imported:
        artifacts = item["artifacts"]
        click.echo(
            f"  {safe(item['experiment_id'])} v{item['version']}  {safe(item['name'])}  "
            f"({safe(item['status'])}, {item['points']} point(s), {artifacts} artifact(s))"
        )
    if report.failed:
        click.echo()
        click.echo(output.style("Unreadable runs (not imported):", fg="red", bold=True))
        for item in report.failed:
            click.echo(f"  {safe(item['path'])}: {safe(item['reason'])}")
