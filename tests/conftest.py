"""Fixtures shared by the test modules (a module may define its own of the same name)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager
from tests._runner import Runners


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture
def manager(log_dir: Path) -> Iterator[ExperimentManager]:
    """A manager on ``log_dir``; a version it left active is ended after the test."""
    manager = ExperimentManager(log_dir)
    yield manager
    if manager.active_experiment is not None:
        manager.end_experiment()


@pytest.fixture
def runners(tmp_path: Path) -> Iterator[Runners]:
    """Starts versions in other processes (see :mod:`tests._runner`); closes them after."""
    started = Runners(tmp_path / "scripts")
    yield started
    started.close()
