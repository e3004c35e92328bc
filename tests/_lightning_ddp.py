"""Run by the Lightning DDP test: two CPU processes train one model (gloo backend).

Usage: ``python -m tests._lightning_ddp LOG_DIR ROOT_DIR``. Lightning starts the
second rank by running this same command again with its rank in the environment.
"""

from __future__ import annotations

import os
import sys

import lightning.pytorch as pl

from experiment_manager.integrations.lightning import ExperimentManagerLogger
from tests._lightning_model import loaders, make_module


def main() -> None:
    log_dir, root = sys.argv[1], sys.argv[2]
    logger = ExperimentManagerLogger(log_dir, config_name="ddp", system_metrics=False)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=2,
        logger=logger,
        log_every_n_steps=1,
        default_root_dir=root,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[pl.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=1)],
    )
    train, val = loaders(batches=4)
    trainer.fit(make_module(pl.LightningModule)(lr=0.05), train, val)
    # every rank may call the experiment; rank 0's call is recorded, the others do nothing
    manager = logger.experiment
    manager.resume_experiment("ddp")
    manager.add_checkpoint(f"rank{trainer.global_rank}.txt")
    manager.end_experiment()
    # each rank says what its logger saw, for the test to compare
    print(f"rank={trainer.global_rank} version={logger.version} pid={os.getpid()}", flush=True)


if __name__ == "__main__":
    main()
