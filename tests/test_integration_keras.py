"""The Keras 3 callback on the real framework (torch backend, CPU, a few batches)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported

import pytest

from experiment_manager import ExperimentManager, InvalidArgumentError
from tests._frameworks import require

keras = require("keras")
np = require("numpy")
from experiment_manager.integrations.keras import ExperimentManagerCallback  # noqa: E402


def _data(samples: int = 64) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("float32")
    return x, y


def _model() -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)],
        name="mlp",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _history(log_dir: Path, experiment_id: str) -> list[dict[str, Any]]:
    return ExperimentManager(log_dir).read_history(experiment_id)


def test_backend_is_torch() -> None:
    assert keras.backend.backend() == "torch"


def test_fit_records_settings_epochs_batches_checkpoints(tmp_path: Path, log_dir: Path) -> None:
    x, y = _data()
    callback = ExperimentManagerCallback(
        log_dir, experiment_id="mlp", hyperparameters={"data": {"seed": 0}}, log_every_n_batches=2
    )
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "ckpt" / "e{epoch:02d}.keras"), monitor="val_loss"
    )
    model = _model()
    model.make_train_function()  # made now, so the one fit runs is known
    train_function = model.train_function
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=3,
        validation_split=0.25,
        verbose=0,
        callbacks=[callback, checkpoint],  # ours first: it still sees the saves
    )
    [entry] = _history(log_dir, "mlp")
    assert entry["status"] == "finished"
    hyper = entry["hyperparameters"]
    assert hyper["data"] == {"seed": 0}
    assert hyper["fit"]["batch_size"] == 16
    assert hyper["fit"]["epochs"] == 3
    assert hyper["fit"]["validation_split"] == 0.25
    assert hyper["fit"]["steps"] == 3  # 48 training samples / 16
    assert hyper["optimizer"]["class"] == "Adam"
    assert hyper["optimizer"]["learning_rate"] == pytest.approx(0.01)
    assert hyper["model"]["name"] == "mlp"
    assert hyper["model"]["parameters"] == 4 * 8 + 8 + 8 + 1
    assert [layer["class_name"] for layer in hyper["model"]["config"]["layers"]] == [
        "InputLayer",
        "Dense",
        "Dense",
    ]
    # epoch logs at the epoch index, every one
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert entry["steps"][name] == [0, 1, 2], name
    assert entry["metrics"]["val_loss"] == pytest.approx(
        model.history.history["val_loss"], rel=1e-6
    )
    # batch logs every 2 batches at the global batch index (3 batches an epoch)
    assert entry["steps"]["batch/loss"] == [1, 3, 5, 7]
    # each checkpoint file by reference with its epoch and the monitored value
    details = entry["checkpoint_details"]
    assert [Path(d["path"]).name for d in details] == ["e01.keras", "e02.keras", "e03.keras"]
    assert [d["step"] for d in details] == [0, 1, 2]
    assert [d["metrics"]["val_loss"] for d in details] == pytest.approx(
        entry["metrics"]["val_loss"]
    )
    assert all(d["exists"] for d in details)
    # nothing of ours is left on the model or the checkpoint callback
    assert "_save_model" not in vars(checkpoint)
    assert model.train_function is train_function
    assert "evaluate" not in vars(model)


def test_a_failing_training_step_ends_failed(log_dir: Path) -> None:
    class Explodes(keras.layers.Layer):  # type: ignore[misc,name-defined]
        armed = False

        def call(self, inputs: Any) -> Any:
            if Explodes.armed:
                raise FloatingPointError("activations overflowed")
            return inputs

    class Arm(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            Explodes.armed = batch == 1  # the third training step fails

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), Explodes(), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data(32)
    callback = ExperimentManagerCallback(log_dir, experiment_id="boom")
    with pytest.raises(FloatingPointError):
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[callback, Arm()])
    [entry] = _history(log_dir, "boom")
    assert entry["status"] == "failed"
    assert entry["error"]["type"] == "FloatingPointError"
    assert "activations overflowed" in entry["error"]["message"]  # Keras adds its context
    assert entry["steps"]["batch/loss"] == [0, 1]  # logged before the failure, kept


def test_another_callback_failing_ends_failed_and_ctrl_c_killed(log_dir: Path) -> None:
    class Stop(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        def __init__(self, error: BaseException) -> None:
            super().__init__()
            self.error = error

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            raise self.error

    x, y = _data(32)
    callback = ExperimentManagerCallback(log_dir, experiment_id="cb", log_every_n_batches=0)
    with pytest.raises(RuntimeError):
        _model().fit(x, y, epochs=2, verbose=0, callbacks=[callback, Stop(RuntimeError("disk"))])
    with pytest.raises(KeyboardInterrupt):
        _model().fit(x, y, epochs=2, verbose=0, callbacks=[callback, Stop(KeyboardInterrupt())])
    first, second = _history(log_dir, "cb")
    assert (first["status"], first["error"]["message"]) == ("failed", "disk")
    assert second["status"] == "killed"
    assert "batch/loss" not in first["metrics"]  # log_every_n_batches=0
    # on_epoch_end of ours ran before the failing one
    assert first["steps"]["loss"] == [0]


def test_resume_and_bad_arguments(log_dir: Path) -> None:
    x, y = _data(32)
    model = _model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[ExperimentManagerCallback(log_dir, "r")])
    again = ExperimentManagerCallback(log_dir, experiment_id="r", resume=True)
    model.fit(x, y, epochs=3, initial_epoch=1, verbose=0, callbacks=[again])
    [entry] = _history(log_dir, "r")
    assert entry["steps"]["loss"] == [0, 1, 2]
    assert entry["status"] == "finished"
    assert entry["hyperparameters"]["fit"]["initial_epoch"] == 1
    assert [c["key"] for c in entry["hyperparameter_changes"]] == [
        "fit.epochs",
        "fit.initial_epoch",
    ]
    with pytest.raises(InvalidArgumentError, match="log_every_n_batches"):
        ExperimentManagerCallback(log_dir, log_every_n_batches=-1)
    with pytest.raises(InvalidArgumentError, match="experiment_id"):
        ExperimentManagerCallback(log_dir, resume=True)


class _Batches(keras.utils.PyDataset):  # type: ignore[misc,name-defined]
    """Four batches an epoch; reading batch number ``fail_at`` (counted over the fit) raises."""

    def __init__(self, fail_at: int, error: BaseException) -> None:
        super().__init__()
        self.x, self.y = _data(32)
        self.fail_at = fail_at
        self.error = error
        self.reads = 0

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        self.reads += 1
        if self.reads == self.fail_at:
            raise self.error
        return self.x[index * 8 : (index + 1) * 8], self.y[index * 8 : (index + 1) * 8]


def test_a_pydataset_raising_between_steps_ends_failed(log_dir: Path) -> None:
    callback = ExperimentManagerCallback(log_dir, experiment_id="dataset")
    model = _model()
    data = _Batches(fail_at=7, error=OSError("shard 3 is unreadable"))
    with pytest.raises(OSError, match="shard 3"):
        model.fit(data, epochs=3, verbose=0, callbacks=[callback])
    [entry] = _history(log_dir, "dataset")
    assert entry["status"] == "failed"
    assert entry["error"] == {"type": "OSError", "message": "shard 3 is unreadable"}
    # reads: one batch to build the model, the first epoch's four, then the second
    # epoch failed reading its second batch; what was logged before is kept
    assert data.reads == 7
    assert entry["steps"]["loss"] == [0]
    assert entry["steps"]["batch/loss"] == [0, 1, 2, 3, 4]
    assert "evaluate" not in vars(model)
    # the callback serves the next fit as before
    model.fit(_Batches(fail_at=-1, error=OSError()), epochs=1, verbose=0, callbacks=[callback])
    assert [e["status"] for e in _history(log_dir, "dataset")] == ["failed", "finished"]


def test_a_generator_raising_ends_failed_and_ctrl_c_in_it_killed(log_dir: Path) -> None:
    x, y = _data(32)

    def batches(error: BaseException, good: int) -> Any:
        for index in range(good):
            start = index % 4 * 8
            yield x[start : start + 8], y[start : start + 8]
        raise error

    callback = ExperimentManagerCallback(log_dir, experiment_id="generator")
    with pytest.raises(ValueError, match="record 5"):
        _model().fit(
            batches(ValueError("bad record 5"), good=5),
            steps_per_epoch=2,
            epochs=4,
            verbose=0,
            callbacks=[callback],
        )
    with pytest.raises(KeyboardInterrupt):
        _model().fit(
            batches(KeyboardInterrupt(), good=3),
            steps_per_epoch=2,
            epochs=4,
            verbose=0,
            callbacks=[callback],
        )
    failed, killed = _history(log_dir, "generator")
    assert failed["status"] == "failed"
    assert failed["error"] == {"type": "ValueError", "message": "bad record 5"}
    assert failed["steps"]["loss"] == [0, 1]
    assert killed["status"] == "killed"
    assert killed["error"]["type"] == "KeyboardInterrupt"
    assert killed["steps"]["loss"] == [0]


def test_validation_data_raising_ends_failed(log_dir: Path) -> None:
    x, y = _data(32)
    callback = ExperimentManagerCallback(log_dir, experiment_id="validation")
    validation = _Batches(fail_at=2, error=RuntimeError("validation shard missing"))
    with pytest.raises(RuntimeError, match="validation shard"):
        _model().fit(
            x,
            y,
            batch_size=8,
            epochs=2,
            validation_data=validation,
            verbose=0,
            callbacks=[callback],
        )
    [entry] = _history(log_dir, "validation")
    assert (entry["status"], entry["error"]["type"]) == ("failed", "RuntimeError")
    assert entry["steps"]["batch/loss"] == [0, 1, 2, 3]  # the epoch's steps ran


def _import_error(blocked: str, environment: dict[str, str]) -> str:
    """The error importing the integration gives when module ``blocked`` is absent."""
    code = (
        "import sys\n"
        f"sys.modules[{blocked!r}] = None  # imports of it fail as if it were not installed\n"
        "try:\n"
        "    import experiment_manager.integrations.keras\n"
        "except ImportError as error:\n"
        "    print(type(error).__name__, error.missing is None, error, sep='|')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "KERAS_HOME")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, **environment},
        check=True,
    )
    return result.stdout.strip()


def test_a_missing_backend_is_named_not_the_keras_extra(tmp_path: Path) -> None:
    kind, plain, message = _import_error("tensorflow", {"KERAS_BACKEND": "tensorflow"}).split("|")
    assert (kind, plain) == ("MissingDependencyError", "False")
    assert 'backend "tensorflow" (KERAS_BACKEND)' in message
    assert "tensorflow is not installed" in message
    assert "set KERAS_BACKEND to one that is installed (torch" in message
    assert 'needs the "keras" extra' not in message  # keras itself is there

    # the backend chosen in keras.json is the one named
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    message = _import_error("jax", {"KERAS_HOME": str(tmp_path)})
    assert f'backend "jax" ({tmp_path / "keras.json"})' in message
    assert "jax is not installed" in message


def test_missing_keras_names_the_keras_extra() -> None:
    kind, plain, message = _import_error("keras", {"KERAS_BACKEND": "torch"}).split("|")
    assert (kind, plain) == ("MissingDependencyError", "True")
    assert message == (
        'experiment_manager.integrations.keras needs the "keras" extra: '
        'pip install "experiment-manager[keras]"'
    )
