"""SIGKILL a streaming writer at random moments: every step whose log() returned survives."""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager
from tests._util import Writer, assert_same, history_path, strict_loads, write_script

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"),
]

ROUNDS = 50
EXPERIMENT_ID = "stream_kill"

#: Logs without pause; after each log() returns, reports "<step> <i>" on stdout.
WRITER = """\
import sys

from experiment_manager import ExperimentManager

log_dir, round_number, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
manager = ExperimentManager(log_dir, capture_environment=False)
if mode == "new":
    record = manager.start_experiment("kill", {}, {}, experiment_id="stream_kill")
else:
    record = manager.resume_experiment("stream_kill", version=int(mode))
print("version", record.version, flush=True)
special = (float("nan"), float("inf"), float("-inf"), 5e-324)
i = 0
while True:
    step = manager.log({"x": round_number * 1000 + i / 3, "special": special[i % 4]})
    print(step, i, flush=True)
    i += 1
"""

SPECIAL = (float("nan"), float("inf"), float("-inf"), 5e-324)


def _x(round_number: int, i: int) -> float:
    return round_number * 1000 + i / 3


class StreamWriter(Writer):
    """WRITER for one round; it announces itself with "version <version>"."""

    def __init__(self, script: Path, log_dir: Path, round_number: int, mode: str) -> None:
        super().__init__(
            script, [str(log_dir), str(round_number), mode], "version", keep_stderr=True
        )

    @property
    def version(self) -> int | None:
        for line in self.lines:
            if line.startswith("version"):
                return int(line.split()[1])
        return None

    def reported(self) -> list[tuple[int, int]]:
        return [
            (int(step), int(i))
            for step, i in (line.split() for line in self.lines if line[0].isdigit())
        ]


@dataclass
class Known:
    """What one version is known to hold after the last check."""

    steps: list[int] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    special: list[float] = field(default_factory=list)
    resumes: int = 0


def _check_files_are_strict_json(log_dir: Path) -> None:
    strict_loads(history_path(log_dir, EXPERIMENT_ID).read_text(encoding="utf-8"))
    for journal in (log_dir / ".expm" / "journals").rglob("*.jsonl"):
        data = journal.read_bytes()
        for line in data[: data.rfind(b"\n") + 1].splitlines():
            strict_loads(line)


def _series(record: dict[str, Any]) -> tuple[list[int], list[float], list[float]]:
    steps = record.get("steps", {})
    metrics = record.get("metrics", {})
    return steps.get("x", []), metrics.get("x", []), metrics.get("special", [])


def test_sigkill_at_random_moments_loses_no_returned_step(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("EXPM_KILL_SEED", "20261129")))
    log_dir = tmp_path / "logs"
    script = write_script(tmp_path / "scripts", "writer.py", WRITER)
    known: dict[int, Known] = {}
    mix = ["new" if n % 3 == 0 else "resume" for n in range(1, ROUNDS)]
    rng.shuffle(mix)
    modes = ["new", *mix]  # a new version first, then new versions and resumes mixed
    started = time.monotonic()
    resumed_rounds = new_rounds = early_kills = 0

    for round_number, mode in enumerate(modes):
        target = rng.choice(sorted(known)) if mode == "resume" and known else None
        writer = StreamWriter(
            script, log_dir, round_number, "new" if target is None else str(target)
        )
        early = rng.random() < 0.15
        if early:  # anywhere from interpreter start-up to the first points
            time.sleep(rng.uniform(0.0, 0.35))
        else:
            assert writer.announced.wait(timeout=30), "the writer never started"
            time.sleep(rng.uniform(0.0, 0.03))
        errors = writer.kill()
        context = f"round {round_number} ({mode}, version {writer.version}): {errors[-500:]}"
        if not history_path(log_dir, EXPERIMENT_ID).exists():
            assert writer.version is None, context
            continue
        _check_files_are_strict_json(log_dir)

        history = {r["version"]: r for r in ExperimentManager(log_dir).read_history(EXPERIMENT_ID)}
        assert all(r["status"] == "crashed" for r in history.values()), context
        assert set(known) <= set(history), context
        version = writer.version
        if version is None:
            early_kills += 1  # killed before it said which version: nothing was reported
            assert writer.reported() == [], context
        else:
            assert version == (target if target is not None else max(history)), context
            if target is None:
                new_rounds += 1
                assert version not in known, context
            else:
                resumed_rounds += 1

        for number, record in history.items():
            before = known.get(number, Known())
            steps, xs, specials = _series(record)
            resumes = len(record["resumed"])
            if number != version:
                # Untouched this round, except that an early kill may have resumed it
                # or created it (without points) before saying so.
                assert steps == before.steps, context
                assert_same(xs, before.x)
                assert resumes in (before.resumes, before.resumes + 1), context
            else:
                reported = writer.reported()
                first = max(before.steps) + 1 if before.steps else 0
                expected_steps = [*before.steps, *(step for step, _ in reported)]
                expected_x = [*before.x, *(_x(round_number, i) for _, i in reported)]
                expected_special = [*before.special, *(SPECIAL[i % 4] for _, i in reported)]
                assert [step for step, _ in reported] == list(
                    range(first, first + len(reported))
                ), context
                # log() may have returned once more just before the kill, unreported.
                if len(steps) == len(expected_steps) + 1:
                    i = len(reported)
                    expected_steps.append(first + len(reported))
                    expected_x.append(_x(round_number, i))
                    expected_special.append(SPECIAL[i % 4])
                assert steps == expected_steps, context
                assert_same(xs, expected_x)
                assert_same(specials, expected_special)
                if target is not None:
                    assert resumes == before.resumes + 1, context
                    assert record["resumed"][-1]["from_status"] == "crashed", context
            if record["resumed"]:
                assert all(e["from_status"] == "crashed" for e in record["resumed"]), context
            known[number] = Known(steps, xs, specials, resumes)

    elapsed = time.monotonic() - started
    assert new_rounds >= 5
    assert resumed_rounds >= 5
    assert sum(len(k.steps) for k in known.values()) > ROUNDS  # they really streamed
    assert elapsed < 120, f"{elapsed:.0f} s"
    print(
        f"{new_rounds} new, {resumed_rounds} resumed, {early_kills} killed early, "
        f"{sum(len(k.steps) for k in known.values())} points, {elapsed:.1f} s"
    )
