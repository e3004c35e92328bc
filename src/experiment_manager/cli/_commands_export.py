"""``expm export``: versions or metric points to CSV, JSON, JSON Lines or Parquet."""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import click

from experiment_manager._paths import relative_to_log_dir
from experiment_manager.cli import _format
from experiment_manager.cli._common import (
    EXIT_CORRUPT,
    EXIT_NOT_FOUND,
    CliError,
    Progress,
    echo_error,
    get_manager,
    parse_versions,
    progress_option,
)
from experiment_manager.errors import ExperimentNotFoundError
from experiment_manager.export import FORMATS
from experiment_manager.manager import ExperimentManager

__all__ = ["export"]

_SUFFIXES = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_SUFFIXES.update({".parquet": "parquet", ".pq": "parquet"})


@click.command()
@click.argument("experiment_id", metavar="[ID]", required=False)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Output format [default: from the file's suffix, else csv].",
)
@click.option(
    "-o",
    "--output",
    "target",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help='The file to write (replaced atomically), or "-" for stdout.',
)
@click.option(
    "--long",
    "long_shape",
    is_flag=True,
    help="One row per metric value (metric, index, step, timestamp, value) instead of "
    "one row per version.",
)
@click.option(
    "--include-superseded",
    is_flag=True,
    help="With --long: also the points a resume from a step superseded, and a "
    "superseded column (true for them).",
)
@click.option("-q", "--query", metavar="QUERY", help="Export only versions matching this filter.")
@click.option(
    "--versions",
    "version_list",
    metavar="LIST",
    help="Export only these versions of ID, e.g. 3, 1-6 or 1,3,5-7.",
)
@progress_option
@click.pass_context
def export(
    ctx: click.Context,
    *,
    experiment_id: str | None,
    fmt: str | None,
    target: str,
    long_shape: bool,
    include_superseded: bool,
    query: str | None,
    version_list: str | None,
    progress: bool | None,
) -> None:
    r"""Export versions (all, or those of ID) to CSV, JSON, JSON Lines or Parquet.

    Wide rows (the default) have one row per version: id, version, status, times,
    every hyperparameter and metadata key, and
    metrics.<name>.<last|min|max|mean|count>. --long writes one row per metric value
    instead; points a resume from a step superseded are left out unless
    --include-superseded adds them (with a superseded column). JSON output is strict
    (NaN and infinities as "NaN", "Infinity", "-Infinity"). Parquet needs pyarrow
    (pip install "experiment-manager[parquet]"). The file is written to a new temp
    file beside it and renamed over it when complete. Exits with 1 when there is
    nothing to export. Exporting every experiment skips a history that cannot be
    parsed: each one skipped is named on stderr (its file relative to the log
    folder), the others are exported, and the exit code is 3.

    \b
    Example:
        expm export -o runs.csv
        expm export demo_logreg --long -o points.parquet
        expm export demo_logreg --versions 1-3 -o first.csv
        expm export demo_logreg --long --include-superseded -o all-points.csv
        expm export --query "status = 'finished'" -f jsonl -o - | head
    """
    manager = get_manager(ctx)
    chosen = fmt or _SUFFIXES.get(Path(target).suffix.lower(), "csv")
    if experiment_id is not None and not manager.list_versions(experiment_id):
        raise ExperimentNotFoundError(experiment_id)
    if version_list is not None:
        if experiment_id is None:
            raise click.UsageError("--versions needs an experiment ID")
        versions = parse_versions(version_list)
        known = {summary["version"] for summary in manager.list_versions(experiment_id)}
        missing = [version for version in versions if version not in known]
        if missing:
            raise ExperimentNotFoundError(experiment_id, missing[0])
        # A filter the store evaluates with the rest: only these versions.
        only = f"version in ({', '.join(map(str, versions))})"
        query = f"({query}) and {only}" if query else only
    if target == "-" and chosen == "parquet" and sys.stdout.isatty():
        raise click.UsageError("refusing to write binary Parquet to a terminal; use -o FILE")
    if include_superseded and not long_shape:
        raise click.UsageError("--include-superseded needs --long (one row per point)")
    shape = "long" if long_shape else "wide"
    # The export skips unreadable histories silently; list them to say so.
    skipped = (
        [entry for entry in manager.list_experiments() if "error" in entry]
        if experiment_id is None
        else []
    )
    total = None
    if long_shape and not include_superseded:  # superseded points are not counted
        selected = manager.search(query, experiment_id=experiment_id)
        total = sum(
            int(stats.get("count") or 0)
            for summary in selected
            for stats in (summary.get("metric_summaries") or {}).values()
        )
    # Wide rows are one per version: quick; a bar is shown for them only when asked.
    wanted = progress if progress is not None or long_shape else False
    bar = Progress("Exporting rows", total, wanted)
    try:
        write = (
            functools.partial(_export_to_stdout, manager, fmt=chosen)
            if target == "-"
            else functools.partial(manager.export, target, chosen)
        )
        count = write(
            experiment_id=experiment_id,
            query=query,
            shape=shape,
            progress=bar.update,
            include_superseded=include_superseded,
        )
        bar.update(count)
    finally:
        bar.close()
    if target != "-":
        unit = "metric values" if long_shape else "versions"
        click.echo(f"wrote {count} {unit} to {_format.safe_text(target)} ({chosen})", err=True)
    if skipped:
        for entry in skipped:
            reason = relative_to_log_dir(entry["error"], manager.log_dir)
            echo_error(f"skipped {entry['experiment_id']}: {reason}", prefix="warning")
        echo_error(
            f"{len(skipped)} history file(s) cannot be read and were not exported; "
            "run `expm doctor`",
            prefix="warning",
        )
        ctx.exit(EXIT_CORRUPT)
    if count == 0:
        raise CliError("nothing to export: no version matches", EXIT_NOT_FOUND)


def _export_to_stdout(
    manager: ExperimentManager,
    *,
    fmt: str,
    experiment_id: str | None,
    query: str | None,
    shape: str,
    progress: Callable[[int], None],
    include_superseded: bool,
) -> int:
    """Export to a temporary file, then copy its bytes to stdout."""
    with tempfile.TemporaryDirectory(prefix="expm-export-") as folder:
        path = Path(folder) / f"export.{fmt}"
        count = manager.export(
            path,
            fmt,
            experiment_id=experiment_id,
            query=query,
            shape=shape,
            progress=progress,
            include_superseded=include_superseded,
        )
        stdout = sys.stdout.buffer
        with path.open("rb") as handle:
            shutil.copyfileobj(handle, stdout)
        stdout.flush()
    return count
