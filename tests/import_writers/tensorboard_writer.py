"""Write TensorBoard runs with tensorboardX and torch's SummaryWriter (old and new style),
and TF2-style tensor scalars through tensorboardX's event writer.

Run as ``python tensorboard_writer.py LOGDIR EXPECTED_JSON``. The expected file holds,
per run folder (relative to LOGDIR), every scalar as written (value as the float32
the event stores, step, wall time) and the hyperparameters.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

T0 = 1_700_000_000.0


def f32(value: float) -> float:
    return float(np.float32(value))


def with_tensorboardx(logdir: Path, expected: dict[str, Any]) -> None:
    from tensorboardX import SummaryWriter

    scalars: dict[str, list[list[float]]] = {"loss": [], "lr": []}
    with SummaryWriter(str(logdir / "tbx")) as writer:
        for step in range(30):
            t = T0 + step * 0.5
            writer.add_scalar("loss", 1.0 / (step + 1), step, walltime=t)
            scalars["loss"].append([f32(1.0 / (step + 1)), step, t])
            if step % 10 == 0:
                writer.add_scalar("lr", 0.1 * 0.5 ** (step // 10), step, walltime=t)
                scalars["lr"].append([f32(0.1 * 0.5 ** (step // 10)), step, t])
        writer.add_text("note", "not a scalar", 0, walltime=T0)
        writer.add_histogram("weights", np.arange(10.0), 0, walltime=T0)
    expected["tbx"] = {"scalars": scalars, "hparams": {}}


def with_torch(logdir: Path, expected: dict[str, Any], new_style: bool) -> None:
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    name = "torch_new" if new_style else "torch_old"
    scalars: dict[str, list[list[float]]] = {"train/loss": [], "val/acc": []}
    writer = SummaryWriter(str(logdir / name))
    hp = {"lr": 0.003, "batch_size": 64, "optimizer": "sgd", "nesterov": True}
    experiment, start, end = hparams(hp, {"val/acc": 0.0})
    file_writer: Any = writer.file_writer  # the same run, not add_hparams' sub-folder
    for summary in (experiment, start):
        file_writer.add_summary(summary, walltime=T0)
    for step in range(0, 200, 7):
        t = T0 + 100 + step
        writer.add_scalar("train/loss", 2.0 - step / 100, step, walltime=t, new_style=new_style)
        scalars["train/loss"].append([f32(2.0 - step / 100), step, t])
        if step % 28 == 0:
            writer.add_scalar("val/acc", step / 200, step, walltime=t, new_style=new_style)
            scalars["val/acc"].append([f32(step / 200), step, t])
    file_writer.add_summary(end, walltime=T0 + 400)
    writer.close()
    expected[name] = {"scalars": scalars, "hparams": hp}


def tf2_style(logdir: Path, expected: dict[str, Any]) -> None:
    """Events as TF2's ``tf.summary.scalar`` writes them: a scalar tensor under the
    ``scalars`` plugin, the plugin named in the tag's first event only."""
    from tensorboardX import FileWriter
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto

    writer = FileWriter(str(logdir / "tf2"))
    points: list[list[float]] = []
    for step in range(12):
        value = Summary.Value(
            tag="epoch_loss",
            tensor=TensorProto(dtype="DT_FLOAT", float_val=[3.0 - step / 4]),
        )
        if step == 0:
            value.metadata.CopyFrom(
                SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
            )
        writer.add_summary(Summary(value=[value]), step, walltime=T0 + 1000 + step)
        points.append([f32(3.0 - step / 4), step, T0 + 1000 + step])
    writer.close()
    expected["tf2"] = {"scalars": {"epoch_loss": points}, "hparams": {}}


def main() -> None:
    logdir, out = Path(sys.argv[1]), Path(sys.argv[2])
    expected: dict[str, Any] = {}
    with_tensorboardx(logdir, expected)
    with_torch(logdir, expected, new_style=False)
    with_torch(logdir, expected, new_style=True)
    tf2_style(logdir, expected)
    out.write_text(json.dumps(expected))


if __name__ == "__main__":
    main()
