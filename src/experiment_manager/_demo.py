"""The demo: trains a real model under several settings and tracks every run.

A logistic-regression classifier is trained with mini-batch gradient descent on a
two-class dataset generated here (two overlapping Gaussian clouds in 20 dimensions),
once per hyperparameter setting. Every run is a version of one experiment id, logged
through the specification's API; checkpoints are real ``.npz`` files of the weights.
numpy is needed for the demo only (``pip install "experiment-manager[demo]"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiment_manager.manager import ExperimentManager
from experiment_manager.stores._locations import is_database_uri

DEMO_EXPERIMENT_ID = "demo_logreg"

#: (learning rate, L2 penalty, batch size) of each run.
DEMO_SETTINGS: tuple[tuple[float, float, int], ...] = (
    (0.01, 0.0, 32),
    (0.1, 0.0, 32),
    (0.5, 0.001, 64),
    (1.0, 0.01, 128),
)


@dataclass(frozen=True)
class DemoResult:
    """What one demo run ended with."""

    version: int
    learning_rate: float
    l2: float
    batch_size: int
    loss: float
    accuracy: float
    val_accuracy: float
    checkpoints: int


def _make_data(np: Any, seed: int) -> tuple[Any, Any, Any, Any]:
    rng = np.random.default_rng(seed)
    n, dim = 2000, 20
    labels = rng.integers(0, 2, size=n)
    direction = rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    features = rng.normal(size=(n, dim)) + np.outer(2 * labels - 1, direction) * 1.2
    split = int(n * 0.8)
    return features[:split], labels[:split], features[split:], labels[split:]


def _loss_and_accuracy(np: Any, weights: Any, bias: float, x: Any, y: Any) -> tuple[float, float]:
    logits = x @ weights + bias
    probs = 1.0 / (1.0 + np.exp(-logits))
    eps = 1e-12
    loss = -np.mean(y * np.log(probs + eps) + (1 - y) * np.log(1 - probs + eps))
    accuracy = np.mean((probs >= 0.5) == y)
    return float(loss), float(accuracy)


def run_demo(
    log_dir: str | Path,
    *,
    checkpoint_dir: str | Path | None = None,
    epochs: int = 15,
    settings: Sequence[tuple[float, float, int]] = DEMO_SETTINGS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[DemoResult]:
    """Train one model per setting, tracking each run as a version of ``demo_logreg``.

    Args:
        log_dir: Where the experiment history is written.
        checkpoint_dir: Where checkpoint files go; defaults to ``<log_dir>/checkpoints``
            (``checkpoints`` in the current folder when ``log_dir`` is a database URI).
        epochs: Epochs per run; a checkpoint is saved every 5 epochs and at the end.
        settings: (learning rate, L2 penalty, batch size) of each run.
        seed: Seed of the generated dataset (``seed``); the batches are shuffled with
            ``seed + 1`` (``shuffle_seed``). Both are recorded, so a version can be
            reproduced from its hyperparameters alone. Each call adds versions.
        progress: Called with a line of text after each run.

    Returns:
        One result per run, in order.

    Raises:
        ModuleNotFoundError: numpy is not installed.

    Example:
        >>> import tempfile
        >>> results = run_demo(tempfile.mkdtemp(), epochs=2, settings=[(0.1, 0.0, 32)])
        >>> results[0].version
        1
    """
    import numpy as np

    if checkpoint_dir is not None:
        ckpt_root = Path(checkpoint_dir)
    elif is_database_uri(str(log_dir)):  # a URI is no folder: its text must not become one
        ckpt_root = Path("checkpoints")
    else:
        ckpt_root = Path(log_dir) / "checkpoints"
    x_train, y_train, x_val, y_val = _make_data(np, seed)
    manager = ExperimentManager(log_dir=log_dir)
    results: list[DemoResult] = []
    for learning_rate, l2, batch_size in settings:
        record = manager.start_experiment(
            config_name=DEMO_EXPERIMENT_ID,
            hyperparameters={
                "learning_rate": learning_rate,
                "l2": l2,
                "batch_size": batch_size,
                "epochs": epochs,
                "optimizer": "sgd",
                "seed": seed,
                # Everything a run depends on is recorded: equal hyperparameters, equal
                # results, whichever version a run becomes.
                "shuffle_seed": seed + 1,
            },
            metadata={
                "precision": "float64",
                "model_size": f"{x_train.shape[1] + 1} parameters",
                "dataset_version": f"gaussian-2class-seed{seed}",
                "model": "logistic_regression",
            },
        )
        rng = np.random.default_rng(record.hyperparameters["shuffle_seed"])
        weights = np.zeros(x_train.shape[1])
        bias = 0.0
        run_dir = ckpt_root / record.experiment_id / f"v{record.version}"
        run_dir.mkdir(parents=True, exist_ok=True)
        for epoch in range(1, epochs + 1):
            order = rng.permutation(len(x_train))
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                xb, yb = x_train[batch], y_train[batch]
                probs = 1.0 / (1.0 + np.exp(-(xb @ weights + bias)))
                error = probs - yb
                weights -= learning_rate * (xb.T @ error / len(batch) + l2 * weights)
                bias -= learning_rate * float(np.mean(error))
            loss, accuracy = _loss_and_accuracy(np, weights, bias, x_train, y_train)
            val_loss, val_accuracy = _loss_and_accuracy(np, weights, bias, x_val, y_val)
            manager.log_metrics(
                {
                    "loss": loss,
                    "accuracy": accuracy,
                    "val_loss": val_loss,
                    "val_accuracy": val_accuracy,
                }
            )
            if epoch % 5 == 0 or epoch == epochs:
                path = run_dir / f"model_epoch_{epoch}.npz"
                np.savez(path, weights=weights, bias=np.array(bias))
                manager.add_checkpoint(path, step=epoch, metrics={"val_loss": val_loss})
        manager.end_experiment()
        results.append(
            DemoResult(
                version=record.version,
                learning_rate=learning_rate,
                l2=l2,
                batch_size=batch_size,
                loss=record.metrics["loss"][-1],
                accuracy=record.metrics["accuracy"][-1],
                val_accuracy=record.metrics["val_accuracy"][-1],
                checkpoints=len(record.checkpoints),
            )
        )
        if progress is not None:
            progress(
                f"  v{record.version}: lr={learning_rate:g} l2={l2:g} batch={batch_size} "
                f"-> val_accuracy={results[-1].val_accuracy:.3f}"
            )
    return results


def format_results(results: Sequence[DemoResult]) -> str:
    """Render demo results as a fixed-width table.

    Args:
        results: What :func:`run_demo` returned.

    Returns:
        The table, one line per version, with a header.

    Example:
        >>> print(format_results([DemoResult(1, 0.1, 0.0, 32, 0.3, 0.9, 0.88, 3)]))
        version  learning_rate  l2  batch_size  loss    accuracy  val_accuracy  checkpoints
        -------  -------------  --  ----------  ------  --------  ------------  -----------
        1        0.1            0   32          0.3000  0.9000    0.8800        3
    """
    header = (
        "version",
        "learning_rate",
        "l2",
        "batch_size",
        "loss",
        "accuracy",
        "val_accuracy",
        "checkpoints",
    )
    rows = [
        (
            str(r.version),
            f"{r.learning_rate:g}",
            f"{r.l2:g}",
            str(r.batch_size),
            _fixed(r.loss),
            _fixed(r.accuracy),
            _fixed(r.val_accuracy),
            str(r.checkpoints),
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = [header, tuple("-" * w for w in widths), *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _fixed(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else str(value)
