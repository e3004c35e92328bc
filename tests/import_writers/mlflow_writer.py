"""Write MLflow runs with MLflow itself, then record what MLflow reads back.

Run as ``python mlflow_writer.py TRACKING_URI ARTIFACT_ROOT EXPECTED_JSON`` (a
``file:`` URI makes a file store, which needs ``MLFLOW_ALLOW_FILE_STORE=true``; a
``sqlite:`` URI a database). The expected file holds, per run, what
``MlflowClient`` returns: info, params, tags, every metric's history and the
artifact files.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

T0 = 1_700_000_000_000  # ms


def write(client: MlflowClient, artifact_root: Path) -> list[str]:
    main = client.create_experiment("Vision baseline", artifact_location=str(artifact_root / "e1"))
    other = client.create_experiment("other/exp 2", artifact_location=str(artifact_root / "e2"))
    runs = []

    run = client.create_run(main, start_time=T0 + 1000, run_name="resnet-a")
    rid = run.info.run_id
    client.log_batch(
        rid,
        params=[
            Param("lr", "0.01"),
            Param("batch_size", "32"),
            Param("optimizer", "adam"),
            Param("eps", "1e-08"),
            Param("use_amp", "True"),
            Param("padded", "007"),
        ],
        tags=[RunTag("team", "vision"), RunTag("mlflow.source.git.commit", "abc123")],
    )
    metrics = []
    for step in range(50):
        metrics.append(Metric("loss", 1.0 / (step + 1), T0 + 2000 + step * 10, step))
        metrics.append(Metric("train/acc", step / 50, T0 + 2000 + step * 10, step))
    metrics.append(Metric("val_loss", math.nan, T0 + 9000, 3))
    metrics.append(Metric("val_loss", 0.25, T0 + 9100, 7))
    client.log_batch(rid, metrics=metrics)
    client.log_metric(rid, "loss", 0.001, timestamp=T0 + 9999, step=1000)
    checkpoint = artifact_root / "model.pt"
    checkpoint.write_bytes(b"weights")
    client.log_artifact(rid, str(checkpoint), "checkpoints")
    client.log_artifact(rid, str(checkpoint))
    client.set_terminated(rid, "FINISHED", end_time=T0 + 20_000)
    runs.append(rid)

    run = client.create_run(main, start_time=T0 + 500, run_name="resnet-b")
    client.log_param(run.info.run_id, "lr", "0.1")
    client.log_metric(run.info.run_id, "loss", 2.5, timestamp=T0 + 600, step=0)
    client.set_terminated(run.info.run_id, "FAILED", end_time=T0 + 700)
    runs.append(run.info.run_id)

    run = client.create_run(main, start_time=T0 + 3000, run_name="resnet-c")
    client.set_terminated(run.info.run_id, "KILLED", end_time=T0 + 3500)
    runs.append(run.info.run_id)

    run = client.create_run(main, start_time=T0 + 4000, run_name="still-running")
    client.log_metric(run.info.run_id, "loss", 1.5, timestamp=T0 + 4100, step=1)
    runs.append(run.info.run_id)

    deleted = client.create_run(main, start_time=T0 + 5000, run_name="deleted")
    client.set_terminated(deleted.info.run_id, "FINISHED", end_time=T0 + 5100)
    client.delete_run(deleted.info.run_id)

    run = client.create_run(other, start_time=T0 + 100, run_name="other-run")
    client.log_param(run.info.run_id, "depth", "18")
    client.log_metric(run.info.run_id, "score", -3, timestamp=T0 + 150, step=0)
    client.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 200)
    runs.append(run.info.run_id)
    return runs


def read_back(client: MlflowClient, run_id: str) -> dict[str, Any]:
    run = client.get_run(run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    metrics = {
        key: [[m.value, m.step, m.timestamp] for m in client.get_metric_history(run_id, key)]
        for key in run.data.metrics
    }
    root = Path(run.info.artifact_uri.removeprefix("file://"))
    artifacts = sorted(str(p.resolve()) for p in root.rglob("*") if p.is_file())
    return {
        "run_id": run_id,
        "experiment": experiment.name,
        "name": run.info.run_name,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "params": dict(run.data.params),
        "tags": dict(run.data.tags),
        "metrics": metrics,
        "artifacts": artifacts,
    }


def main() -> None:
    uri, artifact_root, expected = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    artifact_root.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=uri)
    runs = write(client, artifact_root)
    expected.write_text(json.dumps([read_back(client, rid) for rid in runs]))


if __name__ == "__main__":
    main()
