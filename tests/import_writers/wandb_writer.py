"""Write W&B offline runs with wandb itself.

Run as ``python wandb_writer.py DIR EXPECTED_JSON`` with ``WANDB_MODE=offline``. The
expected file holds, per run id, what was logged: config, every history row's values
and step with the wall-clock bounds of its ``log`` call, the summary, the exit code
and the saved files.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import wandb


def one_run(root: Path, name: str, exit_code: int, rows: int) -> dict[str, Any]:
    config = {
        "lr": 0.01,
        "layers": [64, 32],
        "optimizer": {"name": "adam", "beta": 0.9},
        # Longer than two of the file's 32 KiB blocks: one record in first/middle/last parts.
        "prompt": "x" * 70_000,
    }
    run = wandb.init(
        project="vision sweep",
        dir=str(root),
        name=name,
        config=config,
        tags=["baseline", "v2"],
        notes="a note",
        group="g1",
        job_type="train",
    )
    history = []
    for step in range(rows):
        values = {"loss": 1.0 / (step + 1), "acc": step / rows}
        if step % 5 == 0:
            values["val/loss"] = 2.0 / (step + 1)
        before = time.time()
        run.log({**values, "caption": "text is not a metric"}, step=step * 2)
        history.append({"step": step * 2, "values": values, "time": [before, time.time()]})
    run.summary["best_acc"] = 0.75
    saved = root / f"{name}-model.bin"
    saved.write_bytes(b"weights")
    wandb.save(str(saved), base_path=str(root), policy="now")
    run_id = run.id
    run.finish(exit_code=exit_code)
    return {
        "run_id": run_id,
        "name": name,
        "config": config,
        "history": history,
        "summary": {"best_acc": 0.75},
        "exit_code": exit_code,
        "files": [saved.name],
    }


def main() -> None:
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    root.mkdir(parents=True, exist_ok=True)
    runs = [one_run(root, "good", 0, 40), one_run(root, "broken", 1, 5)]
    out.write_text(json.dumps(runs))


if __name__ == "__main__":
    main()
