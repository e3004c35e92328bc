"""An importer whose reader library cannot be imported says which extra installs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from experiment_manager.cli import main
from experiment_manager.errors import MissingDependencyError
from experiment_manager.importers import import_mlflow, import_tensorboard, import_wandb

EXTRA = 'needs the "import" extra: pip install "experiment-manager[import]"'


@pytest.mark.parametrize(
    ("tool", "module", "call"),
    [
        ("tensorboard", "tensorboard", import_tensorboard),
        ("wandb", "wandb", import_wandb),
        ("mlflow", "yaml", import_mlflow),  # an mlruns/ folder; a database needs nothing
    ],
)
def test_a_missing_reader_is_a_typed_error_naming_the_extra(
    tool: str, module: str, call: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import <module>` now fails
    with pytest.raises(MissingDependencyError) as caught:
        call(tmp_path, tmp_path / "logs")  # type: ignore[operator]
    assert caught.value.extra == "import"
    package = {"yaml": "PyYAML"}.get(module, module)
    assert str(caught.value) == f"importing from {tool} (the {package} package) {EXTRA}"
    assert isinstance(caught.value, ImportError)
    assert not (tmp_path / "logs").exists()


def test_the_cli_prints_one_line_and_exits_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    result = CliRunner().invoke(
        main, ["--log-dir", str(tmp_path / "logs"), "import", "tensorboard", str(tmp_path)]
    )
    assert result.exit_code == 4
    assert result.stderr == (
        f"error: importing from tensorboard (the tensorboard package) {EXTRA}\n"
    )
    assert result.stdout == ""
