"""The ``expm`` command group, its global options and its error handling."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from experiment_manager.errors import ExperimentManagerError

DEFAULT_LOG_DIR = "experiments/logs"
LOG_DIR_ENV = "EXPM_LOG_DIR"


class _Group(click.Group):
    """Turns library errors into one line on stderr (a traceback only with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ExperimentManagerError as error:
            if ctx.meta.get("expm.debug"):
                raise
            click.echo(f"error: {error}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-dir",
    envvar=LOG_DIR_ENV,
    default=DEFAULT_LOG_DIR,
    show_default=True,
    type=click.Path(file_okay=False),
    help=f"Folder of the experiment histories (environment: {LOG_DIR_ENV}).",
)
@click.option("--debug", is_flag=True, help="Show a full traceback on errors.")
@click.version_option(package_name="experiment-manager")
@click.pass_context
def main(ctx: click.Context, log_dir: str, debug: bool) -> None:
    r"""Track machine-learning experiments in crash-safe, versioned JSON histories.

    \b
    Example:
        expm --log-dir runs demo
    """
    ctx.ensure_object(dict)
    ctx.obj["log_dir"] = log_dir
    ctx.meta["expm.debug"] = debug


@main.command()
@click.option("--epochs", default=15, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--checkpoint-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where checkpoint files go [default: <log-dir>/checkpoints].",
)
@click.pass_context
def demo(ctx: click.Context, epochs: int, checkpoint_dir: str | None) -> None:
    r"""Train a small model under several settings, tracking each run as a version.

    A logistic-regression classifier is trained on a generated dataset with four
    hyperparameter settings; every run becomes a version of the experiment
    ``demo_logreg`` with per-epoch metrics and real checkpoint files. Needs numpy
    (pip install "experiment-manager[demo]").

    \b
    Example:
        expm --log-dir runs demo --epochs 10
    """
    try:
        import numpy  # noqa: F401  # checked here to give a useful message

        from experiment_manager import _demo
    except ModuleNotFoundError:
        raise click.ClickException(
            'the demo needs numpy: pip install "experiment-manager[demo]"'
        ) from None
    log_dir = ctx.obj["log_dir"]
    click.echo(
        f"Training {len(_demo.DEMO_SETTINGS)} runs of {_demo.DEMO_EXPERIMENT_ID!r} "
        f"for {epochs} epochs each; history in {log_dir}"
    )
    started = time.perf_counter()
    results = _demo.run_demo(
        log_dir, checkpoint_dir=checkpoint_dir, epochs=epochs, progress=click.echo
    )
    click.echo()
    click.echo(_demo.format_results(results))
    click.echo()
    click.echo(
        f"Done in {time.perf_counter() - started:.1f} s. "
        f"History: {log_dir}/{_demo.DEMO_EXPERIMENT_ID}.json"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
