"""Generate ``docs/cli.md`` from the commands' help texts.

Run ``python -m experiment_manager.cli._docgen > docs/cli.md`` after changing a
command; a test fails while the file is out of date.
"""

from __future__ import annotations

import sys

import click

from experiment_manager.cli._main import EXIT_CODES, LOG_DIR_ENV, main

__all__ = ["HELP_WIDTH", "command_help", "render"]

#: Width the help texts are wrapped to, so the page does not depend on the terminal.
HELP_WIDTH = 88

_INTRO = f"""\
# `expm` command line reference

<!-- Generated from the commands' help texts by
     `python -m experiment_manager.cli._docgen > docs/cli.md`; do not edit by hand. -->

`expm` (also `python -m experiment_manager`) reads the experiment histories in a log
folder: `--log-dir DIR`, else the `{LOG_DIR_ENV}` environment variable, else
`experiments/logs`. Commands are thin wrappers over the library's calls
(`list_experiments`, `list_versions`, `get_version`, `search`, `compare`, `export`,
`doctor`), so what they print is what the Python API returns.

## Output

- Listing commands (`ls`, `history`, `search`, `diff`) print aligned tables; `--json`
  prints strict JSON (RFC 8259: NaN and infinities as the strings `"NaN"`,
  `"Infinity"`, `"-Infinity"`) equal to the library's result for the same call, and
  `--csv` prints CSV. `show` and `doctor` have `--json` too.
- Colours are used only when the output is a terminal, and never when the `NO_COLOR`
  environment variable is set (or `TERM=dumb`).
- Every stored text (ids, names, keys, values, paths, messages) is printed with
  control characters, C1 codes and bidirectional overrides shown as escapes such as
  `\\x1b` or `\\u202e`, so what a run stored cannot drive your terminal. In `--json`
  output such characters are `\\u` escapes, so the data parses back exactly.
- Errors are one line on stderr, `error: ...`; add `--debug` for a traceback.
- Long work (`export`, `doctor`, `migrate`, `sync`) reports progress on stderr when it
  is a terminal, or always with `--progress`.

## Exit codes

| Code | Meaning |
| ---- | ------- |
"""

_ENVIRONMENT = f"""
## Environment

| Variable | Effect |
| -------- | ------ |
| `{LOG_DIR_ENV}` | The log folder when `--log-dir` is not given. |
| `NO_COLOR` | Set to anything non-empty to turn colours off. |

## Commands
"""


def command_help(path: list[str]) -> str:
    """The ``--help`` text of ``expm`` or one of its commands, at a fixed width.

    Args:
        path: ``[]`` for the group, ``["ls"]`` for ``expm ls``.

    Returns:
        The help text.

    Example:
        >>> command_help(["ls"]).splitlines()[0]
        'Usage: expm ls [OPTIONS]'
    """
    # Each command's own context class, so the page wraps as the terminal help does
    # (whole words, never broken at a hyphen).
    context: click.Context = main.context_class(
        main,
        info_name="expm",
        terminal_width=HELP_WIDTH,
        max_content_width=HELP_WIDTH,
        **main.context_settings,
    )
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(context, name)
        assert found is not None, name
        command = found
        context = command.context_class(command, info_name=name, parent=context)
    return command.get_help(context)


def render() -> str:
    """The whole ``docs/cli.md`` page.

    Returns:
        Markdown text ending with one newline.
    """
    parts = [_INTRO]
    parts.extend(f"| {code} | {meaning} |\n" for code, meaning in EXIT_CODES)
    parts.append(_ENVIRONMENT)
    context = click.Context(main, info_name="expm")
    sections: list[tuple[str, list[str]]] = [("expm", [])] + [
        (f"expm {name}", [name]) for name in main.list_commands(context)
    ]
    for title, path in sections:
        parts.append(f"\n### `{title}`\n\n```text\n{command_help(path).rstrip()}\n```\n")
    return "".join(parts)


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render())
