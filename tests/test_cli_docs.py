"""docs/cli.md is generated from the commands' help texts and must stay in step with them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click

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
    # This tree's package, also when PYTHONPATH names it relative to the project folder.
    source = str(DOC.parent.parent / "src")
    pythonpath = os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])])
    result = subprocess.run(
        [sys.executable, "-m", "experiment_manager.cli._docgen"],
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": pythonpath},
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


# A word cut at a hyphen ("experiment-" / "manager[parquet]", "--replace-" / "changed").
_SPLIT_AT_HYPHEN = re.compile(r"\w-$")
# A stray space after a bar inside a token ("<last|min|max|mean| count>"): two source lines
# that click joined with a space.
_SPACE_AFTER_BAR = re.compile(r"\w\|\s")


def _option_names(command: click.Command) -> list[str]:
    return [
        name
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden
        for name in [*param.opts, *param.secondary_opts]
    ]


def _help_texts() -> list[tuple[str, str, list[str]]]:
    """Every command's --help (at widths a terminal may have) and docs/cli.md's section.

    Returns:
        ``(where, text, the command's option names)`` triples.
    """
    from click.testing import CliRunner

    doc = DOC.read_text(encoding="utf-8")
    texts = []
    for path in [[], *([name] for name in main.commands)]:
        command = main.commands[path[0]] if path else main
        names = _option_names(command)
        for width in (50, 60, 72, 80, 100, 120):
            result = CliRunner().invoke(main, [*path, "--help"], terminal_width=width)
            assert result.exit_code == 0, (path, result.output)
            texts.append((f"expm {' '.join(path)} --help at {width}", result.output, names))
        title = f"### `{' '.join(['expm', *path])}`\n"
        texts.append(
            (f"docs/cli.md {title.strip()}", doc.split(title, 1)[1].split("\n### ")[0], names)
        )
    texts.append(("docs/cli.md", doc, []))
    return texts


def test_help_and_docs_never_split_a_word_or_name() -> None:
    assert "--replace-changed" in _option_names(main.commands["sync"])
    for where, text, option_names in _help_texts():
        lines = text.splitlines()
        for number, line in enumerate(lines, 1):
            stripped = line.rstrip()
            assert not _SPLIT_AT_HYPHEN.search(stripped), (where, number, line)
            assert not _SPACE_AFTER_BAR.search(stripped), (where, number, line)
            # A lone "-" (stdin/stdout) ends a line only in an example command line.
            if stripped.endswith(" -"):
                assert "expm " in stripped, (where, number, line)
        if "pip install" in " ".join(text.split()):
            assert '"experiment-manager[' in text, where
        # Every option of the command is shown whole, on one line.
        for name in option_names:
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), (where, name)


def test_the_install_hint_and_the_bar_list_are_whole_in_export_help() -> None:
    from click.testing import CliRunner

    for width in (50, 60, 80, 88):
        text = CliRunner().invoke(main, ["export", "--help"], terminal_width=width).output
        assert 'pip install "experiment-manager[parquet]"' in " ".join(text.split()), width
        assert '"experiment-manager[parquet]"' in text, width
        assert "metrics.<name>.<last|min|max|mean|count>" in text, width
    section = DOC.read_text(encoding="utf-8").split("### `expm export`")[1].split("### ")[0]
    assert '"experiment-manager[parquet]"' in section
    assert "metrics.<name>.<last|min|max|mean|count>" in section
