"""The specification's examples, copied verbatim, run as scripts and do what they print."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from tests._util import (
    DEFAULT_METADATA_KEYS,
    SPEC_KEYS,
    load_history_file,
    run_python,
    strict_loads,
    write_script,
)

# Every test runs on each backend: small and big folder histories, memory and PostgreSQL.
pytestmark = pytest.mark.usefixtures("each_store")

SPEC_FILE = Path("/work/shared/seed/experiment-manager-spec.txt")

# The start_experiment, log_metrics, add_checkpoint and read_history examples of the
# specification, in the order the specification gives them.
MNIST_EXAMPLE = """\
from experiment_manager import ExperimentManager

manager = ExperimentManager(log_dir="my_experiments")

record = manager.start_experiment(
    config_name="mnist_baseline",
    hyperparameters={
        "learning_rate": 0.01,
        "batch_size": 32,
        "epochs": 10
    },
    metadata={
        "precision": "float32",
        "model_size": "medium",
        "dataset_version": "v1.0"
    }
)

print(f"Started experiment {record.experiment_id} v{record.version}")

manager.log_metrics({
    "loss": [0.5, 0.4, 0.3, 0.25],
    "accuracy": [0.85, 0.88, 0.90, 0.92],
    "val_loss": [0.52, 0.45, 0.38, 0.33]
})

manager.add_checkpoint("checkpoints/model_epoch_5.npz")
manager.add_checkpoint("checkpoints/model_final.npz")

history = manager.read_history("mnist_baseline")
for entry in history:
    print(f"Version {entry['version']}: accuracy = {entry['metrics'].get('accuracy', [])}")
"""

# The "Complete Workflow Example" of the specification.
WORKFLOW_EXAMPLE = """\
from experiment_manager import ExperimentManager
import numpy as np

# Initialize manager
manager = ExperimentManager(log_dir="experiments/logs")

# Start experiment
record = manager.start_experiment(
    config_name="neural_net_experiment",
    hyperparameters={
        "learning_rate": 0.001,
        "batch_size": 64,
        "epochs": 20,
        "optimizer": "sgd"
    },
    metadata={
        "precision": "float16",
        "model_size": "large",
        "dataset_version": "v2.1",
        "hardware_constraint_mode": "memory_limited"
    }
)

# Simulate training and log metrics
train_losses = []
train_accuracies = []

for epoch in range(20):
    # ... training code ...
    train_losses.append(np.random.uniform(0.3, 0.1))
    train_accuracies.append(np.random.uniform(0.85, 0.95))

    # Save checkpoint every 5 epochs
    if (epoch + 1) % 5 == 0:
        checkpoint_path = f"checkpoints/model_epoch_{epoch+1}.npz"
        # ... save model ...
        manager.add_checkpoint(checkpoint_path)

# Log final metrics
manager.log_metrics({
    "loss": train_losses,
    "accuracy": train_accuracies
})

# View experiment history
history = manager.read_history(record.experiment_id)
print(f"Total versions: {len(history)}")
for h in history:
    print(f"  v{h['version']}: {h['created_at']}")
"""


def _normalise(code: str) -> list[str]:
    return [line.rstrip() for line in code.strip().splitlines() if line.strip()]


@pytest.mark.skipif(not SPEC_FILE.exists(), reason="the specification is not available here")
def test_examples_are_verbatim_copies_of_the_specification() -> None:
    spec = _normalise(SPEC_FILE.read_text(encoding="utf-8"))
    spec_text = "\n".join(spec)
    # The workflow example is one block of the specification.
    assert "\n".join(_normalise(WORKFLOW_EXAMPLE)) in spec_text
    # The mnist example is four blocks (start, log_metrics, add_checkpoint, read_history),
    # each appearing in the specification in this order.
    blocks = MNIST_EXAMPLE.strip().split("\n\n")
    chunks = [
        "\n\n".join(blocks[0:3]),  # import, constructor, start_experiment
        blocks[3],  # print
        blocks[4],  # log_metrics
        blocks[5],  # add_checkpoint
        blocks[6],  # read_history
    ]
    position = 0
    for chunk in chunks:
        normalised = "\n".join(_normalise(chunk))
        found = spec_text.find(normalised, position)
        assert found >= 0, f"not in the specification (after offset {position}):\n{normalised}"
        position = found + len(normalised)


def _run(tmp_path: Path, name: str, code: str) -> list[str]:
    script = write_script(tmp_path / "scripts", name, code)
    workdir = tmp_path / "run"
    workdir.mkdir(exist_ok=True)
    result = run_python([str(script)], cwd=workdir)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_mnist_example_prints_and_writes_what_it_implies(tmp_path: Path) -> None:
    lines = _run(tmp_path, "mnist_example.py", MNIST_EXAMPLE)
    assert lines == [
        "Started experiment mnist_baseline v1",
        "Version 1: accuracy = [0.85, 0.88, 0.9, 0.92]",
    ]

    workdir = tmp_path / "run"
    # The relative log dir is taken from the working directory; nothing else is created
    # there (checkpoint paths are only recorded, not written).
    assert sorted(p.name for p in workdir.iterdir()) == ["my_experiments"]
    log_dir = workdir / "my_experiments"
    assert (log_dir / "mnist_baseline.json").is_file()

    document = load_history_file(log_dir, "mnist_baseline")
    assert document["format"] == 2
    assert document["experiment_id"] == "mnist_baseline"
    assert len(document["versions"]) == 1
    version = document["versions"][0]
    assert set(SPEC_KEYS) <= set(version)
    assert version["experiment_id"] == "mnist_baseline"
    assert version["version"] == 1
    assert datetime.fromisoformat(version["created_at"]).tzinfo is not None
    assert version["config_name"] == "mnist_baseline"
    assert version["hyperparameters"] == {"learning_rate": 0.01, "batch_size": 32, "epochs": 10}
    assert version["metadata"] == {
        "precision": "float32",
        "model_size": "medium",
        "dataset_version": "v1.0",
        "hardware_constraint_mode": "unspecified",
    }
    assert version["metrics"] == {
        "loss": [0.5, 0.4, 0.3, 0.25],
        "accuracy": [0.85, 0.88, 0.90, 0.92],
        "val_loss": [0.52, 0.45, 0.38, 0.33],
    }
    assert version["checkpoints"] == [
        "checkpoints/model_epoch_5.npz",
        "checkpoints/model_final.npz",
    ]

    # Running the same script again makes version 2 of the same experiment.
    lines = _run(tmp_path, "mnist_example.py", MNIST_EXAMPLE)
    assert lines == [
        "Started experiment mnist_baseline v2",
        "Version 1: accuracy = [0.85, 0.88, 0.9, 0.92]",
        "Version 2: accuracy = [0.85, 0.88, 0.9, 0.92]",
    ]
    document = load_history_file(log_dir, "mnist_baseline")
    assert [v["version"] for v in document["versions"]] == [1, 2]


def test_complete_workflow_example_prints_and_writes_what_it_implies(tmp_path: Path) -> None:
    lines = _run(tmp_path, "workflow_example.py", WORKFLOW_EXAMPLE)
    assert len(lines) == 2, lines
    assert lines[0] == "Total versions: 1"
    match = re.fullmatch(r"  v1: (\S+)", lines[1])
    assert match is not None, lines[1]
    printed_created_at = match.group(1)
    assert datetime.fromisoformat(printed_created_at).tzinfo is not None

    workdir = tmp_path / "run"
    assert sorted(p.name for p in workdir.iterdir()) == ["experiments"]
    log_dir = workdir / "experiments" / "logs"
    text = (log_dir / "neural_net_experiment.json").read_text(encoding="utf-8")
    document = strict_loads(text)
    assert document["format"] == 2
    assert document["experiment_id"] == "neural_net_experiment"
    [version] = document["versions"]
    assert set(SPEC_KEYS) <= set(version)
    assert version["experiment_id"] == "neural_net_experiment"
    assert version["version"] == 1
    assert version["created_at"] == printed_created_at
    assert version["config_name"] == "neural_net_experiment"
    assert version["hyperparameters"] == {
        "learning_rate": 0.001,
        "batch_size": 64,
        "epochs": 20,
        "optimizer": "sgd",
    }
    assert version["metadata"] == {
        "precision": "float16",
        "model_size": "large",
        "dataset_version": "v2.1",
        "hardware_constraint_mode": "memory_limited",
    }
    assert set(DEFAULT_METADATA_KEYS) <= set(version["metadata"])
    # numpy float64 values are stored as plain JSON numbers.
    losses = version["metrics"]["loss"]
    accuracies = version["metrics"]["accuracy"]
    assert set(version["metrics"]) == {"loss", "accuracy"}
    assert len(losses) == 20
    assert len(accuracies) == 20
    assert all(type(x) is float and 0.1 <= x <= 0.3 for x in losses), losses
    assert all(type(x) is float and 0.85 <= x <= 0.95 for x in accuracies), accuracies
    assert version["checkpoints"] == [f"checkpoints/model_epoch_{n}.npz" for n in (5, 10, 15, 20)]

    lines = _run(tmp_path, "workflow_example.py", WORKFLOW_EXAMPLE)
    assert lines[0] == "Total versions: 2"
    assert lines[1] == f"  v1: {printed_created_at}"
    assert lines[2].startswith("  v2: ")
    assert len(lines) == 3
