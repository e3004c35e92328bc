"""Write TensorBoard runs for the edge cases, with torch's and tensorboardX's writers.

Run as ``python tensorboard_extra_writer.py LOGDIR EXPECTED_JSON``. Runs (folders
under LOGDIR):

- ``hp_torch``: scalars, then torch's ``SummaryWriter.add_hparams``, which writes the
  hyperparameters and ``metric_dict`` into a sub-folder of its own (named by the time);
- ``hp_tbx``: the same with tensorboardX's ``add_hparams`` (which keeps a bool a bool);
- ``failed``: a session that ended in failure (the hparams plugin's session end with
  ``STATUS_FAILURE``, built as torch's ``hparams()`` builds its session end);
- ``long``: one tag with 12,345 scalars (TensorBoard's own loader keeps 10,000).

The expected file holds, per run, what was written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

T0 = 1_700_000_000.0
LONG = 12_345


def f32(value: float) -> float:
    return float(np.float32(value))


def hp_torch(logdir: Path) -> dict[str, Any]:
    from torch.utils.tensorboard import SummaryWriter

    hp = {"lr": 0.01, "nesterov": True, "optimizer": "sgd", "layers": 3}
    with SummaryWriter(str(logdir / "hp_torch")) as writer:
        for step in range(5):
            writer.add_scalar("loss", 1.0 / (step + 1), step, walltime=T0 + step)
        writer.add_hparams(hp, {"hparam/accuracy": 0.875}, global_step=4)
    return {"hparams": hp, "loss": [f32(1.0 / (s + 1)) for s in range(5)], "metric": 0.875}


def hp_tbx(logdir: Path) -> dict[str, Any]:
    from tensorboardX import SummaryWriter

    hp = {"lr": 0.5, "nesterov": True, "amp": False, "optimizer": "adam"}
    with SummaryWriter(str(logdir / "hp_tbx")) as writer:
        for step in range(3):
            writer.add_scalar("loss", 2.0 - step, step, walltime=T0 + step)
        writer.add_hparams(hp, {"hparam/accuracy": 0.5}, name="hparams_run", global_step=2)
    return {"hparams": hp, "loss": [2.0 - s for s in range(3)], "metric": 0.5}


def failed(logdir: Path) -> dict[str, Any]:
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    end_time = T0 + 50
    with SummaryWriter(str(logdir / "failed")) as writer:
        experiment, start, _ = hparams({"lr": 0.3}, {"loss": 0.0})
        writer.file_writer.add_summary(experiment, walltime=T0)
        writer.file_writer.add_summary(start, walltime=T0)
        writer.add_scalar("loss", 9.5, 0, walltime=T0 + 1)
        content = plugin_data_pb2.HParamsPluginData(
            session_end_info=plugin_data_pb2.SessionEndInfo(
                status=api_pb2.STATUS_FAILURE, end_time_secs=end_time
            ),
            version=metadata.PLUGIN_DATA_VERSION,
        )
        plugin = SummaryMetadata.PluginData(
            plugin_name=metadata.PLUGIN_NAME, content=content.SerializeToString()
        )
        end = Summary(
            value=[
                Summary.Value(
                    tag=metadata.SESSION_END_INFO_TAG, metadata=SummaryMetadata(plugin_data=plugin)
                )
            ]
        )
        writer.file_writer.add_summary(end, walltime=end_time)
    return {"end_time": end_time, "hparams": {"lr": 0.3}}


def long(logdir: Path) -> dict[str, Any]:
    from tensorboardX import SummaryWriter

    values = [f32(np.sin(step / 100)) for step in range(LONG)]
    with SummaryWriter(str(logdir / "long")) as writer:
        for step, value in enumerate(values):
            writer.add_scalar("wave", value, step, walltime=T0 + step / 1000)
    return {"values": values}


def main() -> None:
    logdir, out = Path(sys.argv[1]), Path(sys.argv[2])
    expected = {
        "hp_torch": hp_torch(logdir),
        "hp_tbx": hp_tbx(logdir),
        "failed": failed(logdir),
        "long": long(logdir),
    }
    out.write_text(json.dumps(expected))


if __name__ == "__main__":
    main()
