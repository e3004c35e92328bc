"""Streaming keeps memory flat: points go to the journal, not into the process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager
from tests._util import run_python, write_script

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc/self/statm"),
]

POINTS = 300_000
MEASURE_FROM = 50_000
LIMIT = 5 * 1024 * 1024

WRITER = """\
import json
import os
import sys

from experiment_manager import ExperimentManager

PAGE = os.sysconf("SC_PAGE_SIZE")


def resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


log_dir, points, measure_from = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
manager = ExperimentManager(log_dir, capture_environment=False)
manager.start_experiment("memory", {}, {}, experiment_id="memory")
samples = {}
for i in range(points):
    manager.log({"loss": 1.0 / (i + 1), "acc": i * 1e-6, "lr": 0.001})
    if i + 1 == measure_from or (i + 1) % 50_000 == 0:
        samples[i + 1] = resident()
manager.end_experiment()
print(json.dumps(samples))
"""


def test_resident_memory_stays_flat_while_streaming(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    script = write_script(tmp_path / "scripts", "memory.py", WRITER)
    done = run_python(
        [str(script), str(log_dir), str(POINTS), str(MEASURE_FROM)], cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stderr
    samples = {int(k): v for k, v in json.loads(done.stdout).items()}
    assert samples[MEASURE_FROM] > 0
    growth = samples[POINTS] - samples[MEASURE_FROM]
    assert growth < LIMIT, f"resident memory grew {growth / 2**20:.1f} MiB: {samples}"

    (record,) = ExperimentManager(log_dir).read_history("memory")
    assert record["status"] == "finished"
    assert len(record["metrics"]["loss"]) == POINTS
    assert record["steps"]["acc"][-1] == POINTS - 1
    assert record["metrics"]["loss"][-1] == 1.0 / POINTS
