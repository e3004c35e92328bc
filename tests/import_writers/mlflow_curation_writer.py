"""Write MLflow runs with a name, a note and the SCHEDULED status, with MLflow itself.

Run as ``python mlflow_curation_writer.py TRACKING_URI EXPECTED_JSON`` (a ``file:``
URI needs ``MLFLOW_ALLOW_FILE_STORE=true``). Runs of the experiment "curated":

- ``noted``: a run name and a note (the ``mlflow.note.content`` tag the MLflow UI
  writes), finished;
- ``queued``: a run set to SCHEDULED (what a run queued by a project backend has);
- a run created without a name (MLflow makes one up and records it as
  ``mlflow.runName``, as it does for every run).

The expected file holds, per run, what ``MlflowClient`` reads back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

T0 = 1_700_000_000_000  # ms
NOTE = "lr too high\nrerun with 0.01"


def main() -> None:
    uri, expected = sys.argv[1], Path(sys.argv[2])
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("curated")
    noted = client.create_run(experiment, start_time=T0, run_name="noted")
    client.set_tag(noted.info.run_id, "mlflow.note.content", NOTE)
    client.log_metric(noted.info.run_id, "loss", 0.5, timestamp=T0 + 10, step=0)
    client.set_terminated(noted.info.run_id, "FINISHED", end_time=T0 + 100)
    queued = client.create_run(experiment, start_time=T0 + 200, run_name="queued")
    client.update_run(queued.info.run_id, status="SCHEDULED")
    unnamed = client.create_run(experiment, start_time=T0 + 300)
    client.set_terminated(unnamed.info.run_id, "FINISHED", end_time=T0 + 400)
    runs = []
    for run_id in (noted.info.run_id, queued.info.run_id, unnamed.info.run_id):
        run = client.get_run(run_id)
        runs.append(
            {
                "run_id": run_id,
                "name": run.info.run_name,
                "status": run.info.status,
                "tags": dict(run.data.tags),
            }
        )
    expected.write_text(json.dumps(runs))


if __name__ == "__main__":
    main()
