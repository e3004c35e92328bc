"""An import beside other processes: a writer of the same id waits, a killed import stores nothing.

The folder store reads a batch of runs while it holds the experiment's lock (see
docs/importers.md), so another process's write to the same id waits for the batch
and is numbered after it; an import killed while reading a batch leaves the history
as it was and the lock free, and importing again stores every run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.importers import _common, import_mlflow
from tests._import_sources import mlruns
from tests._util import files_only, wait_until, write_script

pytestmark = [pytest.mark.usefixtures("each_store"), files_only]

LIVE_WRITER = """\
import sys
from pathlib import Path
import pytest

from experiment_manager import ExperimentManager
Path(sys.argv[2]).write_text("waiting")
manager = ExperimentManager(sys.argv[1])
manager.start_experiment("live", {}, {}, experiment_id="shared")
manager.end_experiment()
"""

STALLED_IMPORT = """\
import sys, time
from pathlib import Path
from experiment_manager.importers import _common, import_mlflow

def progress(done, total):
    if done == 3:  # the store holds the lock: runs 2 and 3 were read under it
        Path(sys.argv[3]).write_text("stalled")
        time.sleep(600)

import_mlflow(sys.argv[1], sys.argv[2], experiment_id="shared", progress=progress)
"""


def test_a_writer_of_the_same_id_waits_for_the_batch_being_read(
    tmp_path: Path, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One batch, however long the other process takes to start.
    monkeypatch.setattr(_common, "_BATCH_SECONDS", 600.0)
    mlruns(tmp_path / "mlruns", 6, 200)
    script = write_script(tmp_path, "live.py", LIVE_WRITER)
    marker = tmp_path / "waiting"
    children: list[subprocess.Popen[bytes]] = []

    def progress(done: int, total: int) -> None:
        if done == 2:  # the first run was read before the lock; this one under it
            children.append(
                subprocess.Popen([sys.executable, str(script), str(log_dir), str(marker)])
            )
            wait_until(marker.exists, 60.0, f"{marker} did not appear")
            time.sleep(1.0)  # time enough to take the lock, were it free
            # The other process is still waiting: nothing of its version is there.
            assert ExperimentManager(log_dir).read_history("shared") == []
            assert children[0].poll() is None

    report = import_mlflow(tmp_path / "mlruns", log_dir, experiment_id="shared", progress=progress)
    assert report.ok
    assert children[0].wait(timeout=120) == 0
    versions = ExperimentManager(log_dir).read_history("shared")
    assert [v["version"] for v in versions] == [1, 2, 3, 4, 5, 6, 7]
    assert [entry["version"] for entry in report.imported] == [1, 2, 3, 4, 5, 6]
    assert versions[-1]["config_name"] == "live"
    assert [v["status"] for v in versions] == ["finished"] * 7


def test_an_import_killed_while_reading_a_batch_stores_none_of_it(
    tmp_path: Path, log_dir: Path
) -> None:
    source = tmp_path / "mlruns"
    mlruns(source, 6, 200)
    script = write_script(tmp_path, "stalled.py", STALLED_IMPORT)
    marker = tmp_path / "stalled"
    child = subprocess.Popen([sys.executable, str(script), str(source), str(log_dir), str(marker)])
    try:
        wait_until(marker.exists, 60.0, f"{marker} did not appear")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    assert ExperimentManager(log_dir).read_history("shared") == []

    started = time.monotonic()
    report = import_mlflow(source, log_dir, experiment_id="shared")
    assert time.monotonic() - started < 30  # the killed import's lock went with it
    assert report.ok
    assert [entry["version"] for entry in report.imported] == [1, 2, 3, 4, 5, 6]
    assert report.skipped == []
    versions = ExperimentManager(log_dir).read_history("shared")
    assert len(versions) == 6
    assert [len(v["metrics"]["loss"]) for v in versions] == [200] * 6
