"""The transformers callback on the real Trainer: a BERT built from a tiny config, on CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager, InvalidArgumentError
from tests._frameworks import require

torch = require("torch")
transformers = require("transformers")
require("accelerate")  # the Trainer needs it
from experiment_manager.integrations.transformers import ExperimentManagerCallback  # noqa: E402


class _Data(torch.utils.data.Dataset):  # type: ignore[misc,name-defined]
    def __init__(self, size: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 50, (size, 8), generator=generator)
        self.labels = (self.ids.sum(dim=1) % 2).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def _model() -> Any:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,
    )
    return transformers.BertForSequenceClassification(config)  # no download: random weights


def _arguments(tmp_path: Path, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "output_dir": str(tmp_path / "out"),
        "max_steps": 6,
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "save_steps": 3,
        "eval_strategy": "steps",
        "eval_steps": 3,
        "metric_for_best_model": "loss",
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
        "seed": 0,
    }
    settings.update(options)
    return transformers.TrainingArguments(**settings)


def _history(log_dir: Path, experiment_id: str) -> list[dict[str, Any]]:
    return ExperimentManager(log_dir).read_history(experiment_id)


def test_train_records_arguments_config_logs_checkpoints(tmp_path: Path, log_dir: Path) -> None:
    callback = ExperimentManagerCallback(log_dir, experiment_id="bert", hyperparameters={"k": 1})
    trainer = transformers.Trainer(
        model=_model(),
        args=_arguments(tmp_path),
        train_dataset=_Data(24),
        eval_dataset=_Data(8),
        callbacks=[callback],
    )
    trainer.train()
    [entry] = _history(log_dir, "bert")
    assert entry["status"] == "finished"
    hyper = entry["hyperparameters"]
    assert hyper["k"] == 1
    assert hyper["training_arguments"]["learning_rate"] == 1e-3
    assert hyper["training_arguments"]["max_steps"] == 6
    assert hyper["model_config"]["hidden_size"] == 16
    assert hyper["model_config"]["num_hidden_layers"] == 1
    # every training log at its global step; evaluations at theirs
    assert entry["steps"]["loss"] == [1, 2, 3, 4, 5, 6]
    assert entry["steps"]["learning_rate"] == [1, 2, 3, 4, 5, 6]
    assert entry["steps"]["eval_loss"] == [3, 6]
    history_losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert entry["metrics"]["loss"] == pytest.approx(history_losses)
    assert entry["steps"]["train_runtime"] == [6]
    # each checkpoint folder by reference with its step and the monitored value
    details = entry["checkpoint_details"]
    assert [Path(d["path"]).name for d in details] == ["checkpoint-3", "checkpoint-6"]
    assert [d["step"] for d in details] == [3, 6]
    assert [d["metrics"]["eval_loss"] for d in details] == pytest.approx(
        entry["metrics"]["eval_loss"]
    )
    assert all(d["exists"] and Path(d["abspath"]).is_dir() for d in details)


def test_an_exception_escaping_train_ends_failed(tmp_path: Path, log_dir: Path) -> None:
    class Broken(_Data):
        reads = 0

        def __getitem__(self, i: int) -> dict[str, Any]:
            Broken.reads += 1
            if Broken.reads > 16:  # the fifth batch of 4
                raise OSError("shard 3 is unreadable")
            return super().__getitem__(i)

    callback = ExperimentManagerCallback(log_dir, experiment_id="broken")
    arguments = _arguments(tmp_path, eval_strategy="no", metric_for_best_model=None, save_steps=2)
    trainer = transformers.Trainer(
        model=_model(), args=arguments, train_dataset=Broken(24), callbacks=[callback]
    )
    with pytest.raises(OSError, match="shard 3"):
        trainer.train()
    [entry] = _history(log_dir, "broken")
    assert entry["status"] == "failed"
    assert entry["error"] == {"type": "OSError", "message": "shard 3 is unreadable"}
    # what was logged and saved before the failure is kept
    logged = [e["step"] for e in trainer.state.log_history if "loss" in e]
    assert len(logged) >= 2
    assert entry["steps"]["loss"] == logged
    assert [d["step"] for d in entry["checkpoint_details"]] == [2]


def test_added_later_a_failing_step_ends_failed_and_ctrl_c_killed(
    tmp_path: Path, log_dir: Path
) -> None:
    class Stop(transformers.TrainerCallback):  # type: ignore[misc,name-defined]
        def __init__(self, error: BaseException) -> None:
            self.error = error

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == 2:
                raise self.error

    callback = ExperimentManagerCallback(log_dir, experiment_id="later")
    trainer = transformers.Trainer(
        model=_model(),
        args=_arguments(tmp_path, eval_strategy="no", save_strategy="no"),
        train_dataset=_Data(24),
    )
    trainer.add_callback(callback)  # not there for on_init_end
    trainer.add_callback(Stop(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    trainer.pop_callback(Stop)
    trainer.add_callback(Stop(ValueError("bad batch")))
    with pytest.raises(ValueError, match="bad batch"):
        trainer.train()  # wrapped now, as a whole
    first, second = _history(log_dir, "later")
    assert second["status"] == "failed"
    assert second["error"] == {"type": "ValueError", "message": "bad batch"}
    assert first["status"] == "killed"  # raised in a callback event of the running train()
    assert first["steps"]["loss"] == [1]  # step 2 ended before it was logged


def test_bad_arguments(log_dir: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="experiment_id"):
        ExperimentManagerCallback(log_dir, resume=True)
