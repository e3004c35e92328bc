"""Log awkward metric values with MLflow's file store, then record what MLflow reads back.

Run as ``python mlflow_odd_values.py MLRUNS_FOLDER EXPECTED_JSON`` (with
``MLFLOW_ALLOW_FILE_STORE=true``). One run gets:

- ``plain``: finite values only (awkward ones: -0.0, 1e308, the smallest subnormal,
  integer-looking floats, ints, 17-digit reprs), big steps and a timestamp past 2**53;
- ``odd``: the same with NaN and both infinities among them;
- ``short``: ``plain`` again, then a line without a step appended by hand (the form
  older MLflow versions wrote; MLflow reads it as step 0);
- ``with_dataset``: points logged with a dataset, which MLflow writes as five fields.

The expected file holds, per metric, what ``MlflowClient.get_metric_history`` returns
(values as ``float.hex()``, so every bit is compared), and for ``with_dataset`` what was
logged (MLflow's own reader gives those points step 0).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

T0 = 1_700_000_000_000  # ms

FINITE = [
    0.0,
    -0.0,
    1.0,
    -3.0,
    3,
    -7,
    2**53 + 1,
    0.1,
    1 / 3,
    2 / 3,
    1e308,
    -1e308,
    1.7976931348623157e308,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    2.225073858507201e-308,
    123456789.0,
    1e16,
    1e22,
    1e23,
    9007199254740993.0,
    0.30000000000000004,
    1.2345678901234567e-300,
    6.02214076e23,
]
STEPS = [0, 1, 2, 10**6, 2**31, 2**53 + 1, 2**62, 2**63 - 1, -1, -(2**63)]
STAMPS = [T0, T0 + 1, T0 + 999, 1, 0, 2**53 + 1, 2**62 + 3, T0 * 3 + 7]


def points(values: list[float]) -> list[tuple[float, int, int]]:
    return [
        (value, STEPS[i % len(STEPS)], STAMPS[i % len(STAMPS)]) for i, value in enumerate(values)
    ]


def main() -> None:
    folder, expected = Path(sys.argv[1]), Path(sys.argv[2])
    client = MlflowClient(tracking_uri=folder.as_uri())
    experiment = client.create_experiment("odd values")
    run = client.create_run(experiment, start_time=T0)
    rid = run.info.run_id
    odd = [*FINITE[:5], math.nan, *FINITE[5:12], math.inf, -math.inf, *FINITE[12:]]
    batch = [Metric("plain", v, t, s) for v, s, t in points(FINITE)]
    batch += [Metric("odd", v, t, s) for v, s, t in points(odd)]
    batch += [Metric("short", v, t, s) for v, s, t in points(FINITE)]
    dataset = [
        Metric("with_dataset", v, t, s, dataset_name="train", dataset_digest="abc123")
        for v, s, t in points(FINITE[:6])
    ]
    client.log_batch(rid, metrics=batch + dataset)
    client.set_terminated(rid, "FINISHED", end_time=T0 + 10)
    metrics = folder / run.info.experiment_id / rid / "metrics"
    with open(metrics / "short", "a") as file:
        file.write(f"{T0 + 5} 0.5\n")
    history = {
        key: [
            [float(m.value).hex(), m.step, m.timestamp] for m in client.get_metric_history(rid, key)
        ]
        for key in ("plain", "odd", "short")
    }
    history["with_dataset"] = [[float(m.value).hex(), m.step, m.timestamp] for m in dataset]
    expected.write_text(json.dumps({"run_id": rid, "metrics": str(metrics), "history": history}))


if __name__ == "__main__":
    main()
