"""The ``expm`` command group, its global options and its error handling."""

from __future__ import annotations

import os
import sys
import textwrap
from typing import Any

import click

from experiment_manager.cli import _format, _help
from experiment_manager.cli._common import (
    EXIT_CORRUPT,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_PORT_IN_USE,
    EXIT_STORE,
    EXIT_USAGE,
    echo_error,
)
from experiment_manager.errors import (
    CorruptHistoryError,
    ExperimentManagerError,
    InvalidArgumentError,
    MissingDependencyError,
    NotAHistoryError,
    QuerySyntaxError,
    StoreConnectionError,
    UnsupportedSchemaError,
)
from experiment_manager.stores._locations import redact_text

DEFAULT_LOG_DIR = "experiments/logs"
LOG_DIR_ENV = "EXPM_LOG_DIR"

#: The exit codes of every command, with their meaning (also in the group's help).
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success"),
    (EXIT_NOT_FOUND, "not found or no match: unknown experiment or version, empty result"),
    (EXIT_USAGE, "usage error: bad option or argument, malformed query"),
    (
        EXIT_CORRUPT,
        "corrupt data: a history file that cannot be parsed (doctor: also files it "
        "could not place)",
    ),
    (
        EXIT_STORE,
        "store unavailable: a database that cannot be reached, refused the login or "
        "has a newer schema, or a missing extra",
    ),
    (
        EXIT_PORT_IN_USE,
        "port in use: `expm ui` cannot listen on its --port (another server has it; "
        "--port 0 picks a free one)",
    ),
)


def exit_codes_help() -> str:
    r"""The "Exit codes:" block of ``expm --help``, made from :data:`EXIT_CODES`.

    Returns:
        A paragraph click prints as it is (it starts with ``\b``), each meaning
        wrapped under its code.

    Example:
        >>> print(exit_codes_help().splitlines()[2])
            0  success
    """
    lines = ["\b", "Exit codes:"]
    for code, meaning in EXIT_CODES:
        wrapped = textwrap.wrap(meaning, 66, break_on_hyphens=False, break_long_words=False)
        lines.append(f"    {code}  {wrapped[0]}")
        lines.extend(f"       {line}" for line in wrapped[1:])
    return "\n".join(lines)


def query_error_text(error: QuerySyntaxError) -> str:
    """Describe a query error in three lines: reason, the query, a caret under the spot.

    Args:
        error: The error.

    Returns:
        The text; the query is made safe and the caret accounts for escapes and wide
        characters before the offending position.

    Example:
        >>> print(query_error_text(QuerySyntaxError("hp.lr <", 7, "expected a value")))
        expected a value at position 7
          hp.lr <
                 ^
    """
    query = error.query if isinstance(error.query, str) else str(error.query)
    position = max(0, min(error.position, len(query)))
    column = _format.display_width(_format.safe_text(query[:position]))
    reason = _format.safe_text(error.reason)
    return f"{reason} at position {error.position}\n  {_format.safe_text(query)}\n  {' ' * column}^"


def describe_error(error: Exception) -> tuple[str, int]:
    """Return the message and exit code for an error a command raised.

    Args:
        error: The error.

    Returns:
        ``(message, exit_code)``.
    """
    if isinstance(error, QuerySyntaxError):
        return query_error_text(error), EXIT_USAGE
    if isinstance(error, NotAHistoryError):  # some other tool's file: no such experiment
        return str(error), EXIT_NOT_FOUND
    if isinstance(error, CorruptHistoryError):
        return f"{error} (run `expm doctor` to check the log folder)", EXIT_CORRUPT
    if isinstance(error, InvalidArgumentError) and error.argument == "log_dir":
        return str(error), EXIT_USAGE  # a malformed --log-dir URI (already redacted)
    if isinstance(error, (StoreConnectionError, UnsupportedSchemaError, MissingDependencyError)):
        return str(error), EXIT_STORE
    if isinstance(error, ExperimentManagerError):
        return str(error), EXIT_NOT_FOUND
    if isinstance(error, OSError):
        return str(error), EXIT_NOT_FOUND
    name = type(error).__name__
    return f"unexpected {name}: {error} (run with --debug for a traceback)", EXIT_NOT_FOUND


class _Group(click.Group):
    """Turns errors into one line on stderr and an exit code (a traceback only with --debug)."""

    context_class = _help.HelpContext

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands with whole summaries (see :mod:`._help`)."""
        _help.format_commands(self, ctx, formatter)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # The reader of our output went away (`expm ls | head`): stop quietly.
            _silence_stdout()
            ctx.exit(EXIT_NOT_FOUND)
        except Exception as error:
            if ctx.meta.get("expm.debug"):
                raise
            message, code = describe_error(error)
            # Whatever raised it, a database URI's password is not printed.
            echo_error(redact_text(message))
            ctx.exit(code)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests)
        pass


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-dir",
    envvar=LOG_DIR_ENV,
    default=DEFAULT_LOG_DIR,
    show_default=True,
    type=click.Path(file_okay=False),
    help=(
        f"Folder of the experiment histories, or a postgresql:// URI (environment: {LOG_DIR_ENV})."
    ),
)
@click.option("--debug", is_flag=True, help="Show a full traceback on errors.")
@click.version_option(package_name="experiment-manager")
@click.pass_context
def main(ctx: click.Context, log_dir: str, debug: bool) -> None:
    r"""Track machine-learning experiments in crash-safe, versioned JSON histories.

    Every command reads the histories in --log-dir (or $EXPM_LOG_DIR). Listing
    commands print aligned tables for people; --json (strict JSON, equal to the
    library's result) and --csv are for scripts. Colours are used only on a
    terminal and never when NO_COLOR is set.

    The exit codes (listed here from EXIT_CODES when the group is registered):

    \b
    Example:
        expm --log-dir runs demo
        expm --log-dir runs ls
        expm --log-dir runs show demo_logreg@2
    """
    ctx.ensure_object(dict)
    ctx.obj["log_dir"] = log_dir
    ctx.meta["expm.debug"] = debug


def keep_blocks(command: click.Command) -> None:
    r"""Make the ``\b`` lines of a raw docstring mark click's no-rewrap paragraphs.

    Help texts are raw docstrings (pydocstyle asks for raw strings around
    backslashes), so their ``\b`` is two characters; click looks for ``\x08``.

    Args:
        command: A command whose ``help`` came from a raw docstring.
    """
    command.context_class = _help.HelpContext  # whole words in the help
    if command.help:
        command.help = "\n".join(
            line.replace("\\b", "\b") if line.strip() == "\\b" else line
            for line in command.help.splitlines()
        )


def _register() -> None:
    from experiment_manager.cli import (
        _commands_curate,
        _commands_demo,
        _commands_doctor,
        _commands_export,
        _commands_import,
        _commands_list,
        _commands_plot,
        _commands_show,
        _commands_transfer,
        _commands_ui,
    )

    for command in (
        _commands_list.ls,
        _commands_list.history,
        _commands_show.show,
        _commands_show.diff,
        _commands_list.search,
        _commands_export.export,
        _commands_import.import_command,
        _commands_plot.plot,
        _commands_curate.tag,
        _commands_curate.untag,
        _commands_curate.note,
        _commands_curate.rename,
        _commands_curate.archive,
        _commands_curate.unarchive,
        _commands_curate.rm,
        _commands_curate.restore,
        _commands_curate.trash,
        _commands_curate.gc,
        _commands_doctor.doctor,
        _commands_transfer.migrate,
        _commands_transfer.sync,
        _commands_demo.demo,
        _commands_ui.ui,
    ):
        keep_blocks(command)
        main.add_command(command)
    # One list of exit codes, in this help and in docs/cli.md alike.
    assert main.help is not None
    main.help = main.help.replace(
        "The exit codes (listed here from EXIT_CODES when the group is registered):",
        textwrap.indent(exit_codes_help(), "    ").lstrip(),
    )
    keep_blocks(main)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
