"""The long curves both dashboard benchmarks draw: one metric streamed with ``log()``."""

from __future__ import annotations

import math
import random

from experiment_manager import ExperimentManager


def log_curves(manager: ExperimentManager, versions: int, points: int) -> None:
    """Log ``versions`` versions of experiment ``curves``, ``points`` steps of ``loss`` each.

    Each version decays at its own rate, with a little noise and one spike at a random
    step (which the dashboard's downsampling must keep).

    Args:
        manager: Where to log (the experiment id is ``curves``).
        versions: How many versions.
        points: How many steps per version (every point has a step and a time).

    Example:
        >>> import tempfile
        >>> manager = ExperimentManager(tempfile.mkdtemp(), capture_environment=False)
        >>> log_curves(manager, 2, 10)
        >>> [len(r["metrics"]["loss"]) for r in manager.read_history("curves")]
        [10, 10]
    """
    rng = random.Random(0)
    for version in range(versions):
        manager.start_experiment("curves", {"lr": 10.0**-version}, {}, experiment_id="curves")
        log = manager.log
        spike = rng.randrange(points)
        rate = 1 + version / 4
        for step in range(points):
            loss = math.exp(-rate * step / points) + rng.random() * 0.02
            log({"loss": 5.0 if step == spike else loss}, step)
        manager.end_experiment()
