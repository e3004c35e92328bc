"""``expm plot``: a metric's curve per version, as terminal sparklines or an image file."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from experiment_manager._resume_marks import resume_marks
from experiment_manager.cli import _format
from experiment_manager.cli._common import (
    EXIT_NOT_FOUND,
    CliError,
    Output,
    get_manager,
    parse_versions,
)
from experiment_manager.errors import ExperimentNotFoundError

__all__ = ["plot", "render_sparklines", "version_label"]


def version_label(record: Mapping[str, Any]) -> str:
    """A version's label in a legend: ``v3``, and its name when one was given.

    Args:
        record: The version's record.

    Returns:
        The label (its name is not repeated when it is just the config name).

    Example:
        >>> version_label({"version": 3, "config_name": "a", "name": "baseline"})
        'v3 baseline'
        >>> version_label({"version": 4, "config_name": "a"})
        'v4'
    """
    name = record.get("name")
    named = isinstance(name, str) and name and name != record.get("config_name")
    return f"v{record['version']} {name}" if named else f"v{record['version']}"


_IMAGE_FORMATS = ("png", "svg", "pdf")


@click.command()
@click.argument("experiment_id", metavar="ID")
@click.option(
    "-m", "--metric", metavar="NAME", help="The metric to plot [default: list the metrics]."
)
@click.option(
    "--versions",
    metavar="LIST",
    help="Versions to plot, e.g. 1,2,5-7 [default: every version that logged the metric].",
)
@click.option(
    "-o",
    "--output",
    "target",
    type=click.Path(dir_okay=False),
    help="Write an image (PNG; .svg and .pdf also work) instead of printing sparklines. "
    'Needs matplotlib (pip install "experiment-manager[plot]").',
)
@click.option(
    "-w",
    "--width",
    type=click.IntRange(min=8, max=2000),
    help="Sparkline width in characters [default: fits the terminal].",
)
@click.option(
    "--shared-y",
    is_flag=True,
    help="Draw every sparkline on one scale [default: each on its own, from its min to max].",
)
@click.option(
    "--all", "show_all", is_flag=True, help="Plot archived versions too (never those in the trash)."
)
@click.pass_context
def plot(
    ctx: click.Context,
    *,
    experiment_id: str,
    metric: str | None,
    versions: str | None,
    target: str | None,
    width: int | None,
    shared_y: bool,
    show_all: bool,
) -> None:
    r"""Plot one metric of an experiment, one curve per version.

    Without -m, lists the metrics the versions logged. Without -o, prints a
    sparkline per version with its min, max and last value: x is the step (every
    line shares one step axis, so a shorter run draws a shorter line), and each
    line has its own scale unless --shared-y. Long series are resampled to the
    width by taking each column's minimum and maximum, so a single spike stays
    visible; NaN and infinite values leave gaps (and are counted). A resumed
    version has a line of ^ under its sparkline at the step it went on from
    (points a resume from a step superseded are not drawn). With -o, draws every
    point against its step with matplotlib, a dashed line where a version was
    resumed.

    \b
    Example:
        expm plot demo_logreg
        expm plot demo_logreg -m val_loss --versions 1-3
        expm plot demo_logreg -m val_loss --versions 1,3 -o val_loss.png
    """
    wanted = parse_versions(versions) if versions else None
    records = get_manager(ctx).read_history(experiment_id)
    if not show_all:  # archived versions are left out of charts unless asked for
        records = [record for record in records if not record.get("archived")]
    if not records:
        raise ExperimentNotFoundError(experiment_id)
    if metric is None:
        _echo_metrics(experiment_id, records)
        return
    by_version = {record["version"]: record for record in records}
    if wanted is not None:
        missing = [version for version in wanted if version not in by_version]
        if missing:
            raise ExperimentNotFoundError(experiment_id, missing[0])
        chosen = [by_version[version] for version in wanted]
    else:
        chosen = [record for record in records if metric in (record.get("metrics") or {})]
    if not any(metric in (record.get("metrics") or {}) for record in chosen):
        known = sorted({name for record in records for name in record.get("metrics") or {}})
        hint = f"; metrics logged: {', '.join(known)}" if known else "; no metrics were logged"
        raise CliError(
            f"no version of {experiment_id!r} logged metric {metric!r}{hint}", EXIT_NOT_FOUND
        )
    if target is not None:
        written = _write_image(experiment_id, metric, chosen, Path(target))
        click.echo(
            f"wrote {len(chosen)} curve(s) of {_format.safe_text(metric)!s} to "
            f"{_format.safe_text(target)} ({written})",
            err=True,
        )
        return
    if width is None:
        width = max(16, min(200, shutil.get_terminal_size((100, 24)).columns - 60))
    output = Output()
    click.echo(
        output.style(
            f"{_format.safe_text(metric)} of {_format.safe_text(experiment_id)}", bold=True
        )
    )
    click.echo(render_sparklines(chosen, metric, width, shared_y=shared_y))


def _echo_metrics(experiment_id: str, records: Sequence[Mapping[str, Any]]) -> None:
    counts: dict[str, list[int]] = {}
    for record in records:
        for name, values in (record.get("metrics") or {}).items():
            seen = counts.setdefault(name, [0, 0])
            seen[0] += 1
            seen[1] += len(values)
    if not counts:
        click.echo(f"no version of {_format.safe_text(experiment_id)} logged a metric", err=True)
        return
    rows: list[list[_format.Cell]] = [
        [_format.safe_text(name), str(used), str(points)]
        for name, (used, points) in sorted(counts.items())
    ]
    click.echo(_format.render_table(["METRIC", "VERSIONS", "POINTS"], rows, right=[1, 2]))
    click.echo(f"plot one with: expm plot {_format.safe_text(experiment_id)} -m NAME", err=True)


def _stats(values: Sequence[Any]) -> tuple[list[float], int]:
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return finite, len(values) - len(finite)


def _xs(record: Mapping[str, Any], metric: str, values: Sequence[Any]) -> list[int]:
    """The steps of a metric's values, or their indexes when some value has no step."""
    steps = (record.get("steps") or {}).get(metric) or []
    if len(steps) == len(values) and all(type(step) is int for step in steps):
        return list(steps)
    return list(range(len(values)))


def _mark_column(
    x: float, width: int, x_low: float, x_high: float, *, stride: int, aligned: bool
) -> int | None:
    """The column of step ``x`` on a line that :func:`_format.resample_by_x` drew.

    ``aligned``: every step of that line falls on the stride (then, if they fit, each
    step has a column of its own, as there).
    """
    if not x_low <= x <= x_high:
        return None
    span = x_high - x_low
    if span / stride + 1 <= width and aligned:
        return int((x - x_low) / stride)  # one column per step
    buckets = max(2, width) // 2
    return 2 * (min(buckets - 1, int((x - x_low) / span * buckets)) if span > 0 else 0)


def _resume_row(record: Mapping[str, Any], line_width: int, place: Any) -> tuple[str, str] | None:
    """The ``^`` line under a resumed version's sparkline, and what it marks."""
    marks = resume_marks(record.get("resumed"), "step")
    columns = [(place(mark["x"]), mark["label"]) for mark in marks]
    columns = [(column, label) for column, label in columns if column is not None]
    if not columns:
        return None
    line = [" "] * line_width
    for column, _ in columns:
        line[min(column, line_width - 1)] = "^"
    return "".join(line), "^ " + "; ".join(label for _, label in columns)


def render_sparklines(
    records: Sequence[Mapping[str, Any]], metric: str, width: int, *, shared_y: bool = False
) -> str:
    """One line per version: label, sparkline, count, min, max, last.

    x is the step (the index for values logged without one), on one axis for every
    line; y runs from each line's own min to max, or with ``shared_y`` from the min to
    the max of them all. Under a resumed version's line, a line of ``^`` marks the
    step it went on from.

    Args:
        records: Full records (with ``metrics`` and ``steps``).
        metric: The metric's name.
        width: The sparkline's width in characters.
        shared_y: One scale for every line.

    Returns:
        The lines, joined by newlines.

    Example:
        >>> records = [{"version": 1, "metrics": {"loss": [3, 2, 1, 9, 0]}},
        ...            {"version": 2, "metrics": {"loss": [30, 10]},
        ...             "steps": {"loss": [0, 4]}}]
        >>> print(render_sparklines(records, "loss", 10))
        v1  ▃▃▂█▁  n=5  min 0  max 9  last 0
        v2  █   ▁  n=2  min 10  max 30  last 10
    """
    series = {record["version"]: (record.get("metrics") or {}).get(metric) for record in records}
    by_version = {record["version"]: record for record in records}
    xs = {
        record["version"]: _xs(record, metric, series[record["version"]] or [])
        for record in records
    }
    every_x = [x for values in xs.values() for x in values]
    x_low, x_high = (min(every_x), max(every_x)) if every_x else (0, 0)
    finite_all = [v for values in series.values() for v in _stats(values or [])[0]]
    labels = {record["version"]: version_label(record) for record in records}
    label_width = max(len(label) for label in labels.values())
    stride = _format.step_stride(xs.values())
    points = {
        v: _format.resample_by_x(xs[v], values or [], width, x_low, x_high, stride=stride)
        for v, values in series.items()
    }
    line_width = max(len(p) for p in points.values())
    rows: list[list[_format.Cell]] = []
    for version, values in series.items():
        if values is None:
            rows.append([labels[version].ljust(label_width), " " * line_width, "(not logged)"])
            continue
        finite, other = _stats(values)
        scale = finite_all if shared_y else finite
        low, high = (min(scale), max(scale)) if scale else (0.0, 0.0)
        line = _format.sparkline(points[version], low, high).ljust(line_width)
        stats = f"n={len(values)}"
        if finite:
            stats += (
                f"  min {_format.format_number(min(finite))}"
                f"  max {_format.format_number(max(finite))}"
            )
        stats += f"  last {_format.format_value(values[-1]) if values else '-'}"
        if other:
            stats += f"  ({other} non-finite)"
        rows.append([labels[version].ljust(label_width), line, stats])
        aligned = all(((x - x_low) / stride).is_integer() for x in xs[version])
        marked = _resume_row(
            by_version[version],
            line_width,
            lambda x, aligned=aligned: _mark_column(
                x, width, x_low, x_high, stride=stride, aligned=aligned
            ),
        )
        if marked is not None:
            rows.append([" " * label_width, *marked])
    return "\n".join("  ".join(str(cell) for cell in row).rstrip() for row in rows)


def _write_image(
    experiment_id: str, metric: str, records: Sequence[Mapping[str, Any]], target: Path
) -> str:
    """Draw the curves with matplotlib into ``target``; return the format written."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise CliError(
            'writing an image needs matplotlib: pip install "experiment-manager[plot]" '
            "(or leave out -o for terminal sparklines)",
            EXIT_NOT_FOUND,
        ) from None
    suffix = target.suffix.lower().lstrip(".")
    fmt = suffix if suffix in _IMAGE_FORMATS else "png"
    figure = Figure(figsize=(8, 4.5), dpi=100)
    axes = figure.subplots()
    for record in records:
        values = (record.get("metrics") or {}).get(metric)
        if not values:
            continue
        steps = (record.get("steps") or {}).get(metric) or []
        if len(steps) == len(values) and all(step is not None for step in steps):
            xs: list[Any] = list(steps)
        else:
            xs = list(range(len(values)))
        ys = [float(v) if math.isfinite(v) else math.nan for v in values]
        (line,) = axes.plot(xs, ys, label=_mpl_text(version_label(record)), linewidth=1.2)
        for mark in resume_marks(record.get("resumed"), "step"):
            axes.axvline(mark["x"], color=line.get_color(), linestyle="--", linewidth=0.9)
            axes.annotate(
                _mpl_text(f"{version_label(record)} {mark['label']}"),
                (mark["x"], 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -3),
                textcoords="offset points",
                va="top",
                fontsize=8,
                color=line.get_color(),
            )
    axes.set_title(_mpl_text(f"{experiment_id}: {metric}"))
    axes.set_xlabel("step")
    axes.set_ylabel(_mpl_text(metric))
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        figure.savefig(temporary, format=fmt)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return fmt


def _mpl_text(text: str) -> str:
    """Escape ``$`` so matplotlib does not read a name as math text."""
    return _format.safe_text(text).replace("$", r"\$")
