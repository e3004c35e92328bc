"""Versions run by another process, driven over its stdin and stdout (see :data:`RUNNER`)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests._util import write_script

# A process that runs `rounds` versions one after another (options: a JSON object, as
# :meth:`Plan.options` writes it). Each version logs the static metric "static" first if
# asked, streams `points` points of "loss" (and "acc" if asked) and says "ready <v>";
# then a line "end" on stdin ends it cleanly ("ended <v>") and starts the next round,
# anything else (or SIGKILL) leaves it running in the history: crashed.
RUNNER = """\
import json
import sys

from experiment_manager import ExperimentManager

ACC = {"tenths": lambda i: i / 10, "sevenths": lambda i: (i % 7) / 7}

log_dir, experiment_id = sys.argv[1], sys.argv[2]
points, rounds = int(sys.argv[3]), int(sys.argv[4])
options = json.loads(sys.argv[5])
manager = ExperimentManager(log_dir, capture_environment=False)
for round_number in range(rounds):
    hyperparameters = dict(options["hyperparameters"])
    if options["round_hyperparameter"]:
        hyperparameters["round"] = round_number
    record = manager.start_experiment(
        "runner", hyperparameters, {}, experiment_id=experiment_id
    )
    if options["static"]:
        manager.log_metrics({"static": [1.0, 2.0]})
    for i in range(points):
        values = {"loss": 1.0 / (i + 1)}
        if options["acc"] is not None:
            values["acc"] = ACC[options["acc"]](i)
        manager.log(values, step=options["step_scale"] * i)
    print(f"ready {record.version}", flush=True)
    if sys.stdin.readline().strip() != "end":
        break
    manager.end_experiment()
    print(f"ended {record.version}", flush=True)
"""


@dataclass(frozen=True)
class Plan:
    """What a :class:`Runner` runs (passed to :data:`RUNNER` as JSON).

    ``rounds`` versions of ``points`` points each, with hyperparameters
    ``hyperparameters`` (plus ``"round": <round number>`` if ``round_hyperparameter``),
    the static metric ``"static": [1.0, 2.0]`` if ``static``, point ``i`` of "loss" at
    step ``step_scale * i`` and an "acc" next to it: ``i / 10`` ("tenths"),
    ``(i % 7) / 7`` ("sevenths") or none.
    """

    points: int
    rounds: int = 1
    hyperparameters: Mapping[str, Any] = field(default_factory=lambda: {"lr": 0.5})
    round_hyperparameter: bool = False
    static: bool = True
    step_scale: int = 10
    acc: Literal["tenths", "sevenths"] | None = None

    def options(self) -> str:
        return json.dumps(
            {
                "hyperparameters": dict(self.hyperparameters),
                "round_hyperparameter": self.round_hyperparameter,
                "static": self.static,
                "step_scale": self.step_scale,
                "acc": self.acc,
            }
        )


class Runner:
    """A process running :data:`RUNNER` on ``plan``; it has not said "ready" yet when made."""

    def __init__(self, script: Path, log_dir: Path | str, experiment_id: str, plan: Plan) -> None:
        self.version: int | None = None
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(log_dir),
                experiment_id,
                str(plan.points),
                str(plan.rounds),
                plan.options(),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def expect(self, word: str) -> int:
        """Read the next line, which must be ``<word> <version>``; return the version."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith(word):
            self.process.kill()
            _, err = self.process.communicate(timeout=30)
            raise AssertionError(f"runner said {line!r}, expected {word!r}; stderr:\n{err}")
        return int(line.split()[1])

    def ready(self) -> int:
        """Wait for the version being run to say "ready"; remember and return it."""
        self.version = self.expect("ready")
        return self.version

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        """SIGKILL the process: the version it runs is left crashed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        assert self.process.returncode == -signal.SIGKILL

    def end(self) -> None:
        """End the version of a one-round runner cleanly, and wait for the process to exit."""
        self.send("end")
        self.expect("ended")
        self.process.wait(timeout=30)
        assert self.process.returncode == 0

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


class Runners:
    """Starts :class:`Runner` processes from one script, and closes them all at the end."""

    def __init__(self, folder: Path) -> None:
        self.script = write_script(folder, "runner.py", RUNNER)
        self.started: list[Runner] = []

    def __call__(self, log_dir: Path | str, experiment_id: str, plan: Plan) -> Runner:
        runner = Runner(self.script, log_dir, experiment_id, plan)
        self.started.append(runner)
        return runner

    def close(self) -> None:
        for runner in self.started:
            runner.close()
