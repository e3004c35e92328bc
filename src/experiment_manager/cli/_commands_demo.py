"""``expm demo``: train a small model under several settings, one version per run."""

from __future__ import annotations

import time

import click

from experiment_manager.cli import _format
from experiment_manager.cli._common import CliError
from experiment_manager.stores import is_database_uri, redact

__all__ = ["demo"]


@click.command()
@click.option("--epochs", default=15, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--checkpoint-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where checkpoint files go [default: <log-dir>/checkpoints; ./checkpoints "
    "when the log dir is a database URI].",
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
        raise CliError('the demo needs numpy: pip install "experiment-manager[demo]"') from None
    log_dir = ctx.find_root().obj["log_dir"]
    database = is_database_uri(str(log_dir))
    safe_dir = _format.safe_text(redact(str(log_dir)))  # a database URI's password hidden
    click.echo(
        f"Training {len(_demo.DEMO_SETTINGS)} runs of {_demo.DEMO_EXPERIMENT_ID!r} "
        f"for {epochs} epochs each; history in {safe_dir}"
    )
    started = time.perf_counter()
    results = _demo.run_demo(
        log_dir, checkpoint_dir=checkpoint_dir, epochs=epochs, progress=click.echo
    )
    click.echo()
    click.echo(_demo.format_results(results))
    click.echo()
    where = (
        f"{safe_dir}, experiment {_demo.DEMO_EXPERIMENT_ID}"
        if database
        else f"{safe_dir}/{_demo.DEMO_EXPERIMENT_ID}.json"
    )
    click.echo(f"Done in {time.perf_counter() - started:.1f} s. History: {where}")
