"""Write one W&B offline run whose run record is larger than 256 KiB, with wandb itself.

Run as ``python wandb_big_writer.py DIR EXPECTED_JSON`` with ``WANDB_MODE=offline``.
The run has a config of about 400 KiB (so the run record, which carries the config,
spans many of the file's 32 KiB blocks), a name, tags (one with a space, which this
library's tags cannot hold), notes, and history rows with bool, text and ``None``
values beside the numbers. The expected file holds what was logged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import wandb


def main() -> None:
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    root.mkdir(parents=True, exist_ok=True)
    config = {"lr": 0.1, "vocabulary": [f"word-{i:06d}" for i in range(30_000)]}
    tags = ["big", "has space", "v3"]
    run = wandb.init(
        project="Big Config",
        dir=str(root),
        name="big-run",
        config=config,
        tags=tags,
        notes="first line\nsecond line",
    )
    rows = 12
    for step in range(rows):
        run.log(
            {
                "loss": 1.0 / (step + 1),
                "improved": step % 2 == 0,
                "phase": "warmup" if step < 4 else "main",
                "missing": None,
            },
            step=step,
        )
    run.summary["best"] = {"loss": 1.0 / rows, "notes": "x" * 300_000}
    run_id = run.id
    run.finish()
    out.write_text(
        json.dumps(
            {
                "run_id": run_id,
                "name": "big-run",
                "config": config,
                "tags": tags,
                "notes": "first line\nsecond line",
                "rows": rows,
                "loss": [1.0 / (step + 1) for step in range(rows)],
            }
        )
    )


if __name__ == "__main__":
    main()
