"""First-hour rough edges of the CLI: cut paths and summaries, plots, version ranges."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from experiment_manager import ExperimentManager
from experiment_manager.cli import main
from experiment_manager.cli._commands_plot import render_sparklines

LONG_NAME = "a_checkpoint_with_a_rather_long_name_that_goes_on_for_a_while_epoch_0099_final.pt"


def run(logs: Path, *args: str, **kwargs: Any) -> Result:
    return CliRunner().invoke(main, ["--log-dir", str(logs), *args], **kwargs)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    manager = ExperimentManager(tmp_path / "logs", capture_environment=False)
    (tmp_path / LONG_NAME).write_bytes(b"weights")
    for index in range(4):
        with manager.experiment("exp", {"lr": 0.1 * (index + 1)}, experiment_id="exp"):
            for step in range(0, 10 * (index + 1), 2):  # every other step
                manager.log({"loss": 100.0 * index + 1 / (step + 1), "acc": step}, step=step)
            manager.add_checkpoint(str(tmp_path / LONG_NAME), step=2)
    return tmp_path / "logs"


def test_show_prints_checkpoint_paths_whole(logs: Path, tmp_path: Path) -> None:
    result = run(logs, "show", "exp@2", terminal_width=80)
    assert result.exit_code == 0, result.output
    assert str(tmp_path / LONG_NAME) in result.output
    assert "…" not in result.output.split("Checkpoints")[1].split("Environment")[0]


def test_help_summaries_are_whole_and_install_hints_are_never_split(logs: Path) -> None:
    result = run(logs, "--help", terminal_width=80)
    assert result.exit_code == 0
    commands = result.output.split("Commands:")[1]
    assert "..." not in commands
    assert "Export versions (all, or those of ID) to CSV, JSON, JSON Lines or" in commands
    for command in ("export", "plot", "demo", "ui"):
        text = run(logs, command, "--help", terminal_width=60).output
        assert '"experiment-\n' not in text
        for line in text.splitlines():
            assert not line.rstrip().endswith("experiment-"), (command, line)


def test_plot_without_a_metric_lists_the_metrics(logs: Path) -> None:
    result = run(logs, "plot", "exp")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows == [["METRIC", "VERSIONS", "POINTS"], ["acc", "4", "50"], ["loss", "4", "50"]]
    assert "expm plot exp -m NAME" in result.stderr


def test_each_sparkline_has_its_own_scale_unless_shared(logs: Path) -> None:
    own = run(logs, "plot", "exp", "-m", "loss", "-w", "40").stdout.splitlines()[1:]
    # loss is 1/(step+1) plus 100 per version: on its own scale every line starts at
    # the top and falls to the bottom.
    for line in own:
        spark = line.split("  ")[1]
        assert spark[0] == "█"
        assert spark.rstrip()[-1] == "▁"
    shared = run(logs, "plot", "exp", "-m", "loss", "-w", "40", "--shared-y").stdout
    first, *_, last = shared.splitlines()[1:]
    assert set(first.split("  ")[1].strip()) == {"▁"}  # version 1 sits at the bottom
    assert set(last.split("  ")[1].strip()) == {"█"}  # version 4 at the top


def test_sparklines_put_x_at_the_step() -> None:
    records = [
        {"version": 1, "metrics": {"m": [1, 2, 3]}, "steps": {"m": [0, 10, 40]}},
        {"version": 2, "metrics": {"m": [1, 2]}, "steps": {"m": [0, 20]}},
    ]
    lines = render_sparklines(records, "m", 40).splitlines()
    first, second = (line[4:9] for line in lines)  # after "vN  "
    assert first == "▁▅  █"  # steps 0, 10 and 40 on a step axis (10 per column)
    assert second == "▁ █  "  # the same axis: step 20 in the third column


def test_ranges_are_accepted_by_show_plot_and_export(logs: Path, tmp_path: Path) -> None:
    shown = json.loads(run(logs, "show", "exp@1-3", "--json").stdout)
    assert [document["version"] for document in shown] == [1, 2, 3]
    shown = json.loads(run(logs, "show", "exp", "-v", "2,4", "--json").stdout)
    assert [document["version"] for document in shown] == [2, 4]
    text = run(logs, "show", "exp@1,2").stdout
    assert "exp @ version 1" in text
    assert "exp @ version 2" in text
    plotted = run(logs, "plot", "exp", "-m", "loss", "--versions", "2-3").stdout
    assert [line.split()[0] for line in plotted.splitlines()[1:]] == ["v2", "v3"]
    exported = run(logs, "export", "exp", "--versions", "1,3-4", "-o", "-")
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [row["version"] for row in rows] == ["1", "3", "4"]
    assert run(logs, "export", "exp", "--versions", "9", "-o", "-").exit_code == 1
    assert run(logs, "export", "--versions", "1", "-o", "-").exit_code == 2
    assert run(logs, "show", "exp@3-1").exit_code == 2


def test_an_unknown_field_or_aggregate_suggests_the_closest(logs: Path) -> None:
    result = run(logs, "search", "stauts = 'finished'")
    assert result.exit_code == 2
    assert "unknown field 'stauts' (did you mean 'status'?)" in result.stderr
    result = run(logs, "search", "metrics.loss.mni < 1")
    assert "unknown aggregate 'mni' (did you mean 'min'?)" in result.stderr
    result = run(logs, "search", "hp.l < 1")
    assert result.exit_code == 0
    assert "no version has hp.l; did you mean hp.lr?" in result.stderr


def _resumed(log_dir: Path) -> Path:
    """Version 1 resumed from step 15 after 20 steps; version 2, longer, never resumed."""
    manager = ExperimentManager(log_dir, capture_environment=False, system_metrics=False)
    with manager.experiment("cfg", {}, experiment_id="res"):
        for step in range(20):
            manager.log({"loss": 1.0 / (step + 1)}, step=step)
    with manager.resume_experiment("res", from_step=15):
        for step in range(15, 30):
            manager.log({"loss": 0.5 - step / 100})
    with manager.experiment("cfg", {}, experiment_id="res"):
        for step in range(60):
            manager.log({"loss": 1.0}, step=step)
    return log_dir


def test_plot_marks_where_a_version_was_resumed(tmp_path: Path, each_store: str) -> None:
    logs = _resumed(tmp_path / "logs")
    result = run(logs, "plot", "res", "-m", "loss", "--width", "60")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    one = next(i for i, line in enumerate(lines) if line.startswith("v1 "))
    assert "n=30" in lines[one]  # the 5 superseded points are not drawn nor counted
    marker = lines[one + 1]
    assert marker.strip().startswith("^")
    assert marker.rstrip().endswith("^ resumed from step 15")
    # The ^ stands under step 15: 60 steps on 60 columns, one column each (v1's
    # line stops at step 29).
    spark_start = len("v1  ")
    assert marker.index("^") - spark_start == 15
    assert lines[one + 2].startswith("v2 ")  # a version never resumed has no marker line
    image = tmp_path / "loss.svg"
    result = run(logs, "plot", "res", "-m", "loss", "-o", str(image))
    assert result.exit_code == 0, result.output
    svg = image.read_text(encoding="utf-8")
    assert "v1 resumed from step 15" in svg  # the marker's label (matplotlib names text)
    assert "v2 resumed" not in svg
