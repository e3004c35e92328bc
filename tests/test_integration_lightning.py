"""The Lightning logger on the real framework: a tiny model trained on CPU for a few steps."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager, InvalidArgumentError
from tests._frameworks import require

ROOT = Path(__file__).resolve().parent.parent

pl = require("lightning.pytorch")
from experiment_manager.integrations.lightning import ExperimentManagerLogger  # noqa: E402
from tests._lightning_model import loaders, make_module  # noqa: E402

Tiny = make_module(pl.LightningModule)


def _trainer(tmp_path: Path, logger: Any, package: Any = pl, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": 2,
        "logger": logger,
        "log_every_n_steps": 1,
        "default_root_dir": str(tmp_path / "root"),
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    }
    settings.update(options)
    return package.Trainer(**settings)


def _history(log_dir: Path, experiment_id: str) -> list[dict[str, Any]]:
    return ExperimentManager(log_dir).read_history(experiment_id)


def test_fit_records_hyperparameters_steps_checkpoints_and_status(
    tmp_path: Path, log_dir: Path
) -> None:
    logger = ExperimentManagerLogger(
        log_dir, config_name="tiny", metadata={"dataset_version": "random-v1"}
    )
    checkpoint = pl.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=-1)
    trainer = _trainer(tmp_path, logger, callbacks=[checkpoint])
    train, val = loaders(batches=4)
    model = Tiny(lr=0.05, optimizer={"name": "sgd", "momentum": {"value": 0.0}})
    trainer.fit(model, train, val)

    assert (logger.name, logger.version) == ("tiny", 1)
    [entry] = _history(log_dir, "tiny")
    assert entry["status"] == "finished"
    assert entry["metadata"]["dataset_version"] == "random-v1"
    assert entry["hyperparameters"] == {
        "lr": 0.05,
        "optimizer": {"name": "sgd", "momentum": {"value": 0.0}},  # nested, not a string
        "fail_at": -1,
    }
    assert "hyperparameter_changes" not in entry  # the first log_hyperparams only adds
    # every training step at full resolution, at the global step
    assert entry["steps"]["train_loss"] == list(range(8))
    assert len(entry["metrics"]["train_loss"]) == 8
    assert all(isinstance(v, float) for v in entry["metrics"]["train_loss"])
    assert entry["steps"]["val_loss"] == [3, 7]
    # one checkpoint per epoch, by reference, with the step and the monitored score
    details = entry["checkpoint_details"]
    assert [d["step"] for d in details] == [4, 8]
    assert [d["metrics"]["val_loss"] for d in details] == pytest.approx(
        entry["metrics"]["val_loss"]
    )
    for detail in details:
        assert detail["exists"]
        assert Path(detail["abspath"]).is_file()
        assert Path(detail["abspath"]).is_relative_to(tmp_path / "root" / "tiny" / "version_1")
    assert entry["checkpoints"] == [d["path"] for d in details]
    best = ExperimentManager(log_dir).best_checkpoint("val_loss", experiment_id="tiny")
    assert best is not None
    assert best["path"] == checkpoint.best_model_path

    # trainer.test afterwards goes on in the same version and ends it again
    trainer.test(model, val)
    [entry] = _history(log_dir, "tiny")
    assert entry["status"] == "finished"
    assert len(entry["metrics"]["test_loss"]) == 1
    assert [r["from_status"] for r in entry["resumed"]] == ["finished"]


def test_a_failing_fit_ends_failed_with_the_error(tmp_path: Path, log_dir: Path) -> None:
    logger = ExperimentManagerLogger(log_dir, experiment_id="fails")
    trainer = _trainer(tmp_path, logger)
    train, val = loaders()
    with pytest.raises(FloatingPointError):
        trainer.fit(Tiny(fail_at=2), train, val)
    [entry] = _history(log_dir, "fails")
    assert entry["status"] == "failed"
    assert entry["error"] == {"type": "FloatingPointError", "message": "loss is NaN at step 2"}
    assert entry["steps"]["train_loss"] == [0, 1]  # what was logged before is kept


def test_keyboard_interrupt_ends_killed(tmp_path: Path, log_dir: Path) -> None:
    class Interrupt(pl.Callback):  # type: ignore[misc,name-defined]
        def on_train_batch_end(self, *args: Any) -> None:
            raise KeyboardInterrupt

    logger = ExperimentManagerLogger(log_dir, experiment_id="ctrl_c")
    trainer = _trainer(tmp_path, logger, callbacks=[Interrupt()])
    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):  # Lightning exits after a KeyboardInterrupt
            trainer.fit(Tiny(), *loaders())
    finally:
        signal.signal(signal.SIGINT, previous)  # Lightning ignores SIGINT from then on
    [entry] = _history(log_dir, "ctrl_c")
    assert entry["status"] == "killed"
    assert entry["error"]["type"] == "KeyboardInterrupt"


def test_changed_hyperparameters_are_recorded(tmp_path: Path, log_dir: Path) -> None:
    logger = ExperimentManagerLogger(log_dir, experiment_id="changes", hyperparameters={"seed": 1})
    trainer = _trainer(tmp_path, logger, max_epochs=1)
    trainer.fit(Tiny(lr=0.1), *loaders())
    logger.log_hyperparams({"lr": 0.01, "note": {"why": "plateau"}})  # resumes: it had ended
    logger.finalize("success")
    [entry] = _history(log_dir, "changes")
    assert entry["hyperparameters"]["seed"] == 1
    assert entry["hyperparameters"]["lr"] == 0.01
    assert entry["hyperparameters"]["note"] == {"why": "plateau"}
    [change] = entry["hyperparameter_changes"]
    assert (change["key"], change["from"], change["to"]) == ("lr", 0.1, 0.01)


def test_namespace_and_omegaconf_hyperparameters_with_missing_values(
    tmp_path: Path, log_dir: Path
) -> None:
    omegaconf = require("omegaconf")
    config = omegaconf.OmegaConf.create(
        {
            "model": {"width": 8, "depth": "${data.features}"},
            "data": {"features": 4, "path": "???"},  # Hydra's mandatory value, unset
            "seeds": [0, "???"],
            "note": "${oops}",  # cannot be resolved
        }
    )

    class Configured(Tiny):  # type: ignore[misc,valid-type]
        def __init__(self, cfg: Any) -> None:
            super().__init__()
            self.cfg = cfg

        def on_train_start(self) -> None:
            self.logger.log_hyperparams(argparse.Namespace(batch_size=8, tags=["a", "b"]))
            self.logger.log_hyperparams(self.cfg)

    logger = ExperimentManagerLogger(log_dir, experiment_id="configs")
    _trainer(tmp_path, logger, max_epochs=1).fit(Configured(config), *loaders())
    [entry] = _history(log_dir, "configs")
    assert entry["status"] == "finished"
    written = {
        "model": {"width": 8, "depth": 4},  # the interpolation resolved
        "data": {"features": 4, "path": "???"},
        "seeds": [0, "???"],
        "note": "${oops}",
    }
    assert entry["hyperparameters"] == {
        "lr": 0.1,
        "optimizer": None,
        "fail_at": -1,
        "cfg": written,  # save_hyperparameters saw cfg: Lightning logs it at the start
        "batch_size": 8,
        "tags": ["a", "b"],
        **written,
    }
    assert entry["steps"]["train_loss"] == [0, 1, 2, 3]


def test_resume_continues_a_version(tmp_path: Path, log_dir: Path) -> None:
    first = ExperimentManagerLogger(log_dir, experiment_id="long")
    trainer = _trainer(tmp_path, first, max_epochs=1)
    model = Tiny()
    trainer.fit(model, *loaders())
    saved = tmp_path / "resume.ckpt"
    trainer.save_checkpoint(saved)
    second = ExperimentManagerLogger(log_dir, experiment_id="long", resume=True)
    _trainer(tmp_path, second, max_epochs=2).fit(Tiny(), *loaders(), ckpt_path=str(saved))
    [entry] = _history(log_dir, "long")
    assert second.version == 1
    assert entry["steps"]["train_loss"] == list(range(8))  # steps go on from the checkpoint
    assert entry["status"] == "finished"
    with pytest.raises(InvalidArgumentError, match="experiment_id"):
        ExperimentManagerLogger(log_dir, resume=True)


def test_system_metrics_through_the_logger(tmp_path: Path, log_dir: Path) -> None:
    require("psutil")

    class Slow(pl.Callback):  # type: ignore[misc,name-defined]
        def on_train_batch_end(self, *args: Any) -> None:
            import time

            time.sleep(0.1)  # a few sampling intervals per batch

    logger = ExperimentManagerLogger(log_dir, experiment_id="sys", system_metrics=0.05)
    _trainer(tmp_path, logger, max_epochs=1, callbacks=[Slow()]).fit(Tiny(), *loaders())
    [entry] = _history(log_dir, "sys")
    assert len(entry["metrics"]["system/cpu_percent"]) >= 1
    assert entry["steps"]["train_loss"] == [0, 1, 2, 3]


def test_pytorch_lightning_package_name(tmp_path: Path, log_dir: Path) -> None:
    ptl = require("pytorch_lightning")
    logger = ExperimentManagerLogger(log_dir, experiment_id="ptl")
    trainer = _trainer(tmp_path, logger, package=ptl, max_epochs=1)
    trainer.fit(make_module(ptl.LightningModule)(lr=0.2), *loaders())
    [entry] = _history(log_dir, "ptl")
    assert entry["status"] == "finished"
    assert entry["hyperparameters"]["lr"] == 0.2
    assert entry["steps"]["train_loss"] == [0, 1, 2, 3]


@pytest.mark.slow
def test_ddp_on_cpu_only_rank_zero_writes(tmp_path: Path, log_dir: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "tests._lightning_ddp", str(log_dir), str(tmp_path / "root")],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = sorted(line for line in result.stdout.splitlines() if line.startswith("rank="))
    assert [line.split()[:2] for line in lines] == [
        ["rank=0", "version=1"],
        ["rank=1", "version=None"],
    ]
    [entry] = _history(log_dir, "ddp")  # one version for the run, not one per rank
    assert entry["status"] == "finished"
    rank0_pid = int(lines[0].split("pid=")[1])
    assert entry["environment"]["pid"] == rank0_pid
    # 32 samples, 2 ranks, batch 8: 2 steps per epoch, each logged once
    assert entry["steps"]["train_loss"] == [0, 1, 2, 3]
    steps = [d["step"] for d in entry["checkpoint_details"][:-1]]
    assert steps == [2, 4][: len(steps)]
    assert steps
    assert entry["checkpoints"][-1] == "rank0.txt"  # rank 1's experiment did nothing
    assert "rank1.txt" not in entry["checkpoints"]
    assert sorted(p.name for p in log_dir.iterdir() if p.suffix == ".json") == ["ddp.json"]
