"""Parquet keeps the types a reader expects: times as timestamps, lists as lists."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from experiment_manager import ExperimentManager


def test_parquet_columns_have_their_types(tmp_path: Path) -> None:
    manager = ExperimentManager(tmp_path / "logs", capture_environment=False)
    with manager.experiment("cfg", {"layers": [64, 32], "lr": 0.1}, experiment_id="exp"):
        manager.log({"loss": 0.5}, step=1)
    with manager.experiment("cfg", {"layers": [128], "lr": 0.2}, experiment_id="exp"):
        manager.log({"loss": 0.25}, step=1)
    manager.start_experiment("cfg", {"layers": "[64]", "lr": 0.3}, {}, experiment_id="text")
    manager.end_experiment()
    moment = pa.timestamp("us", tz="UTC")

    manager.export(tmp_path / "wide.parquet", "parquet", experiment_id="exp")
    wide = pq.read_table(tmp_path / "wide.parquet")
    assert wide.schema.field("created_at").type == moment
    assert wide.schema.field("ended_at").type == moment
    assert wide.column_names[:7] == [
        "experiment_id",
        "version",
        "status",
        "config_name",
        "created_at",
        "ended_at",
        "duration",
    ]
    assert wide.schema.field("hyperparameters.layers").type == pa.list_(pa.int64())
    assert wide.column("hyperparameters.layers").to_pylist() == [[64, 32], [128]]
    records = manager.list_versions("exp")
    for got, record in zip(wide.column("created_at").to_pylist(), records, strict=True):
        assert got == datetime.fromisoformat(record["created_at"])

    manager.export(tmp_path / "text.parquet", "parquet", experiment_id="text")
    text = pq.read_table(tmp_path / "text.parquet")  # a string that looks like a list
    assert text.column("hyperparameters.layers").to_pylist() == ["[64]"]

    manager.export(tmp_path / "long.parquet", "parquet", experiment_id="exp", shape="long")
    long = pq.read_table(tmp_path / "long.parquet")
    assert long.schema.field("timestamp").type == moment
    (history_time,) = manager.read_history("exp")[0]["timestamps"]["loss"]
    first = long.column("timestamp").to_pylist()[0]
    assert abs(first - datetime.fromtimestamp(history_time, timezone.utc)).total_seconds() < 1e-5

    # CSV keeps the JSON text of a list, as before.
    manager.export(tmp_path / "wide.csv", "csv", experiment_id="exp")
    assert '"[64,32]"' in (tmp_path / "wide.csv").read_text()
