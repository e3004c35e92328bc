"""docs/cli.md is generated from the commands' help texts and must stay in step with them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from experiment_manager.cli import _docgen, main
from experiment_manager.cli._main import EXIT_CODES, LOG_DIR_ENV

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
REGENERATE = "python -m experiment_manager.cli._docgen > docs/cli.md"


def test_cli_reference_is_up_to_date() -> None:
    assert DOC.exists(), f"docs/cli.md is missing; run `{REGENERATE}`"
    assert DOC.read_text(encoding="utf-8") == _docgen.render(), (
        f"docs/cli.md is out of date with the help texts; run `{REGENERATE}`"
    )


def test_reference_covers_every_command_exit_code_and_the_environment() -> None:
    text = _docgen.render()
    for name in main.commands:
        assert f"### `expm {name}`" in text
        assert f"Usage: expm {name} " in text
    for code, meaning in EXIT_CODES:
        assert f"| {code} | {meaning} |" in text
    assert f"`{LOG_DIR_ENV}`" in text
    assert "NO_COLOR" in text


def test_generator_runs_as_a_module(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "experiment_manager.cli._docgen"],
        capture_output=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8") == _docgen.render()


def test_every_exit_code_constant_is_listed_in_help_and_docs() -> None:
    from click.testing import CliRunner

    from experiment_manager.cli import _common

    constants = {
        name: value
        for name, value in vars(_common).items()
        if name.startswith("EXIT_") and isinstance(value, int)
    }
    listed = [code for code, _ in EXIT_CODES]
    # Each constant once, in order, with nothing listed that no constant names.
    assert sorted(constants.values()) == listed == sorted(set(listed))
    assert constants["EXIT_PORT_IN_USE"] == 5
    help_text = CliRunner().invoke(main, ["--help"], terminal_width=100).output
    block = help_text.split("Exit codes:", 1)[1].split("Example:", 1)[0]
    shown = [int(line.split()[0]) for line in block.splitlines() if line[:8].strip().isdigit()]
    assert shown == listed
    doc = DOC.read_text(encoding="utf-8")
    for code, meaning in EXIT_CODES:
        assert f"| {code} | {meaning} |" in doc
        assert f"      {code}  {meaning.split()[0]}" in doc  # the help, as cli.md shows it
