"""SIGKILL a writer at random moments: the history stays valid and keeps every returned call."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager
from tests._util import Writer, load_history_file, write_script

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

ROUNDS = 24
EXPERIMENT_ID = "killed_run"

WRITER = """\
import sys

from experiment_manager import ExperimentManager

log_dir, round_number = sys.argv[1], int(sys.argv[2])
manager = ExperimentManager(log_dir, lock_timeout=30)
record = manager.start_experiment(
    "kill_test", {"round": round_number}, {}, experiment_id="killed_run"
)
print(f"started {record.version}", flush=True)
for i in range(100_000):
    manager.log_metrics({"i": i, "x": [round_number + i / 1000, -i]})
    print(f"metric {i}", flush=True)
    manager.add_checkpoint(f"round{round_number}/ckpt_{i}.pt")
    print(f"checkpoint {i}", flush=True)
"""


def _writer(script: Path, log_dir: Path, round_number: int) -> Writer:
    """Start WRITER for one round; it announces itself with "started <version>"."""
    return Writer(script, [str(log_dir), str(round_number)], "started", keep_stderr=False)


def _round_version(document: Any, round_number: int, context: str) -> dict[str, Any] | None:
    mine = [v for v in document["versions"] if v["hyperparameters"] == {"round": round_number}]
    assert len(mine) <= 1, context
    return mine[0] if mine else None


def _counts(version: dict[str, Any], round_number: int, context: str) -> tuple[int, int]:
    """Check that a round's version holds whole calls, in order; return their counts."""
    metrics = version["metrics"]
    logged = len(metrics.get("i", []))
    assert metrics.get("i", []) == list(range(logged)), context
    expected_x: list[float] = []
    for i in range(logged):
        expected_x += [round_number + i / 1000, -i]
    assert metrics.get("x", []) == expected_x, context
    saved = len(version["checkpoints"])
    assert version["checkpoints"] == [f"round{round_number}/ckpt_{i}.pt" for i in range(saved)]
    assert saved in (logged - 1, logged), context
    return logged, saved


def _check_round(
    document: Any, round_number: int, lines: list[str], seed: int
) -> tuple[int, int] | None:
    """Check the round's version against what its writer reported; return its counts."""
    context = f"round {round_number}, seed {seed}, reported {lines[-3:]}"
    version = _round_version(document, round_number, context)
    started = [int(line.split()[1]) for line in lines if line.startswith("started")]
    if started:
        assert version is not None, context
        assert version["version"] == started[0], context
    if version is None:
        return None
    logged, saved = _counts(version, round_number, context)
    # Every call reported as returned is there; at most the one call in flight when
    # the writer died is there too, and it is there whole.
    metrics_returned = sum(1 for line in lines if line.startswith("metric"))
    checkpoints_returned = sum(1 for line in lines if line.startswith("checkpoint"))
    assert metrics_returned <= logged <= metrics_returned + 1, context
    assert checkpoints_returned <= saved <= checkpoints_returned + 1, context
    return logged, saved


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkilled_writers_never_lose_returned_calls(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    log_dir = tmp_path / "logs"
    script = write_script(tmp_path, "writer.py", WRITER)
    path = log_dir / f"{EXPERIMENT_ID}.json"
    finished_rounds: dict[int, tuple[int, int] | None] = {}
    kills_while_logging = 0
    started_at = time.monotonic()

    for round_number in range(ROUNDS):
        writer = _writer(script, log_dir, round_number)
        try:
            if round_number % 4 == 3:
                # Anywhere from interpreter start-up to the first calls.
                time.sleep(rng.uniform(0.0, 0.4))
            else:
                assert writer.announced.wait(timeout=30), f"writer never started (seed {seed})"
                time.sleep(rng.uniform(0.0, 0.25))
        finally:
            writer.kill()
        if writer.lines and writer.lines[-1] != writer.lines[0]:
            kills_while_logging += 1

        if path.exists():
            # The file is always complete strict JSON (no NaN/Infinity tokens, no torn write).
            load_history_file(log_dir, EXPERIMENT_ID)
        # Calls kept in version files (the history grew big) are folded by the next
        # writer or doctor; flush() does it now, and then the file holds every call.
        ExperimentManager(log_dir).store.flush(EXPERIMENT_ID)
        if not path.exists():
            assert not writer.lines, f"started but no history file (seed {seed})"
            finished_rounds[round_number] = None
            continue
        document = load_history_file(log_dir, EXPERIMENT_ID)
        assert document["format"] == 2
        assert document["experiment_id"] == EXPERIMENT_ID
        versions = [v["version"] for v in document["versions"]]
        assert versions == list(range(1, len(versions) + 1)), f"seed {seed}"
        finished_rounds[round_number] = _check_round(document, round_number, writer.lines, seed)
        # Earlier rounds are untouched by later writers and kills.
        for earlier, counts in finished_rounds.items():
            context = f"round {earlier} after round {round_number}, seed {seed}"
            version = _round_version(document, earlier, context)
            if counts is None:
                assert version is None, context
            else:
                assert version is not None, context
                assert _counts(version, earlier, context) == counts, context

        # A new manager can still start and log on the same id, at once.
        manager = ExperimentManager(log_dir, lock_timeout=10)
        record = manager.start_experiment("after_kill", {"after": round_number}, {}, EXPERIMENT_ID)
        assert record.version == len(versions) + 1
        manager.log_metrics({"after": round_number})
        manager.add_checkpoint(f"after{round_number}.pt")
        last = manager.read_history(EXPERIMENT_ID)[-1]
        assert last["version"] == record.version
        assert last["metrics"] == {"after": [round_number]}
        assert last["checkpoints"] == [f"after{round_number}.pt"]
        assert not (log_dir / f".{EXPERIMENT_ID}.json.tmp").exists()

    assert kills_while_logging >= ROUNDS // 2, f"too few kills hit a running writer (seed {seed})"
    assert time.monotonic() - started_at < 90
