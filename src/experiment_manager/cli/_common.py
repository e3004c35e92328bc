"""What every command shares: the manager, output modes, colours, errors, progress."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, TypeVar

import click

from experiment_manager import _ranges
from experiment_manager.cli import _format
from experiment_manager.errors import InvalidArgumentError
from experiment_manager.manager import ExperimentManager

__all__ = [
    "EXIT_CORRUPT",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_PORT_IN_USE",
    "EXIT_STORE",
    "EXIT_USAGE",
    "STATUS_STYLES",
    "CliError",
    "Output",
    "Progress",
    "echo_error",
    "get_manager",
    "json_option",
    "output_options",
    "parse_ref",
    "parse_version_args",
    "parse_versions",
    "progress_option",
    "should_color",
    "status_cell",
    "stylist",
]

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_CORRUPT = 3
EXIT_STORE = 4
EXIT_PORT_IN_USE = 5  # expm ui only: its port is taken (exit codes listed in _main.EXIT_CODES)

#: ``click.style`` arguments of each run status.
STATUS_STYLES: Mapping[str, Mapping[str, Any]] = {
    "finished": {"fg": "green"},
    "running": {"fg": "cyan"},
    "failed": {"fg": "red"},
    "crashed": {"fg": "red", "bold": True},
    "killed": {"fg": "yellow"},
    "corrupt": {"fg": "red", "bold": True},
}

F = TypeVar("F", bound=Callable[..., Any])


def should_color(stream: IO[str] | None = None) -> bool:
    """Whether to colour output written to ``stream`` (stdout by default).

    Colours are used only on a terminal, never when ``NO_COLOR`` is set to a
    non-empty value (https://no-color.org) or ``TERM`` is ``dumb``.

    Args:
        stream: The stream the output goes to.

    Returns:
        True to colour.
    """
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    target = stream if stream is not None else sys.stdout
    try:
        return bool(target.isatty())
    except (AttributeError, ValueError):
        return False


def stylist(color: bool) -> _format.Stylist | None:
    """Return a function styling text with ``click.style``, or None without colour.

    Args:
        color: Whether colours are wanted.

    Returns:
        The stylist for :func:`~experiment_manager.cli._format.render_table`.
    """
    if not color:
        return None

    def style(text: str, arguments: Mapping[str, Any]) -> str:
        return click.style(text, **arguments) if arguments else text

    return style


def status_cell(status: Any) -> _format.Styled:
    """A status as a table cell coloured by its meaning.

    Args:
        status: ``finished``, ``failed``, ...

    Returns:
        The styled cell.
    """
    text = _format.safe_text(status if status is not None else "-")
    return _format.Styled(((text, STATUS_STYLES.get(text, {})),))


class CliError(click.ClickException):
    """An error the CLI reports as one ``error: ...`` line with its own exit code.

    Args:
        message: What went wrong (made safe when shown).
        exit_code: The process exit code.
    """

    def __init__(self, message: str, exit_code: int = EXIT_NOT_FOUND) -> None:
        super().__init__(message)
        # click declares exit_code a class variable; each error here has its own, kept
        # in the instance's __dict__ (which click reads as self.exit_code).
        vars(self)["exit_code"] = exit_code

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the error on stderr."""
        echo_error(self.message)


def echo_error(message: str, *, prefix: str = "error") -> None:
    """Print ``error: message`` on stderr, safely, in red on a terminal.

    Lines after the first (such as a query and its caret) are printed as given;
    callers make them safe.

    Args:
        message: The message; its first line is passed through ``safe_text``.
        prefix: ``error`` or ``warning``.
    """
    first, _, rest = message.partition("\n")
    stderr = sys.stderr
    label = f"{prefix}:"
    if should_color(stderr):
        label = click.style(label, fg="red" if prefix == "error" else "yellow", bold=True)
    click.echo(f"{label} {_format.safe_text(first)}", err=True)
    if rest:
        click.echo(rest, err=True)


def get_manager(ctx: click.Context) -> ExperimentManager:
    """The manager reading the group's ``--log-dir`` (made once per invocation).

    Args:
        ctx: The command's context.

    Returns:
        The manager.
    """
    obj = ctx.find_root().obj
    manager = obj.get("manager")
    if manager is None:
        manager = ExperimentManager(obj["log_dir"], capture_environment=False)
        obj["manager"] = manager
    assert isinstance(manager, ExperimentManager)
    return manager


class Output:
    """How a listing command prints: ``table`` (aligned, for people), ``json`` or ``csv``.

    Args:
        as_json: ``--json`` was given.
        as_csv: ``--csv`` was given.

    Raises:
        click.UsageError: Both were given.
    """

    def __init__(self, as_json: bool = False, as_csv: bool = False) -> None:
        if as_json and as_csv:
            raise click.UsageError("--json and --csv cannot be used together")
        self.mode = "json" if as_json else "csv" if as_csv else "table"
        self.color = self.mode == "table" and should_color()

    @property
    def stylist(self) -> _format.Stylist | None:
        """The stylist for tables (None without colour)."""
        return stylist(self.color)

    def style(self, text: str, **arguments: Any) -> str:
        """Style ``text`` when colouring, else return it.

        Args:
            text: Safe text.
            **arguments: ``click.style`` keyword arguments.

        Returns:
            The (maybe) styled text.
        """
        return click.style(text, **arguments) if self.color else text

    @staticmethod
    def json(value: Any) -> None:
        """Print strict JSON (see :func:`~experiment_manager.cli._format.json_text`).

        Args:
            value: The library's result.
        """
        click.echo(_format.json_text(value))

    @staticmethod
    def csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
        """Print rows as CSV.

        Args:
            rows: Flat rows.
            columns: The columns in order (default: every key of the rows).
        """
        text = _format.csv_text(rows, columns)
        if text:
            click.echo(text, nl=False)


def output_options(function: F) -> F:
    """Add ``--json`` and ``--csv`` to a listing command (as ``as_json``, ``as_csv``).

    Args:
        function: The command's callback.

    Returns:
        The decorated callback.
    """
    function = click.option(
        "--csv",
        "as_csv",
        is_flag=True,
        help="Print CSV for scripts (stored text is shown escaped; for exact values "
        "use `expm export`).",
    )(function)
    return json_option(function)


def json_option(function: F) -> F:
    """Add ``--json`` (as ``as_json``) to a command.

    Args:
        function: The command's callback.

    Returns:
        The decorated callback.
    """
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help='Print the library\'s result as strict JSON (NaN/Infinity as "NaN", '
        '"Infinity", "-Infinity").',
    )(function)


def progress_option(function: F) -> F:
    """Add ``--progress/--no-progress`` (as ``progress``: True, False or None = auto).

    Args:
        function: The command's callback.

    Returns:
        The decorated callback.
    """
    return click.option(
        "--progress/--no-progress",
        "progress",
        default=None,
        help="Report progress on stderr [default: only when stderr is a terminal].",
    )(function)


class Progress:
    """Progress on stderr: a bar on a terminal, counter lines otherwise (when forced).

    Args:
        label: What is being done, e.g. ``"Exporting rows"``.
        total: How many units in all (None when unknown).
        enabled: True or False to force, None to show only when stderr is a terminal.
    """

    def __init__(self, label: str, total: int | None, enabled: bool | None) -> None:
        stderr = sys.stderr
        try:
            tty = bool(stderr.isatty())
        except (AttributeError, ValueError):
            tty = False
        self.enabled = tty if enabled is None else enabled
        self.label = label
        self.total = total
        self.done = 0
        self._bar: Any = None
        if self.enabled and tty and total:
            self._bar = click.progressbar(
                length=total, label=label, file=stderr, show_pos=True, color=should_color(stderr)
            )
            self._bar.__enter__()

    def update(self, done: int) -> None:
        """Report that ``done`` units are finished in all.

        Args:
            done: The running total.
        """
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(done - self.done)
        else:
            of = f"/{self.total}" if self.total else ""
            click.echo(f"{self.label}: {done}{of}", err=True)
        self.done = done

    def close(self) -> None:
        """Finish the bar."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


_REF = re.compile(r"(?P<id>.+)@(?P<version>\d+|latest)")


def parse_ref(ref: str) -> tuple[str, int | None]:
    """Split ``ID@VERSION`` (or ``ID@latest``, or ``ID``) into id and version.

    Args:
        ref: What the user typed.

    Returns:
        ``(id, version)``, version None for the latest.

    Example:
        >>> parse_ref("mnist@3"), parse_ref("mnist"), parse_ref("a@b@latest")
        (('mnist', 3), ('mnist', None), ('a@b', None))
    """
    match = _REF.fullmatch(ref)
    if match is None:
        return ref, None
    version = match.group("version")
    return match.group("id"), None if version == "latest" else int(version)


def parse_versions(text: str) -> list[int]:
    """Parse a version list such as ``1,2,5-7`` (see :mod:`experiment_manager._ranges`).

    Args:
        text: Comma-separated versions and inclusive ranges.

    Returns:
        The versions, in the given order, without repeats.

    Raises:
        click.BadParameter: The text is not such a list.

    Example:
        >>> parse_versions("3,1-2,3")
        [3, 1, 2]
    """
    try:
        return _ranges.parse_versions(text)
    except InvalidArgumentError as error:
        raise click.BadParameter(
            f"{_format.safe_text(error.value)!r} is not a version list: {error.reason} "
            "(e.g. 3, 1-6 or 1,3,5-7)"
        ) from None


def parse_version_args(texts: Sequence[str]) -> list[int]:
    """Join version arguments such as ``1 3 5-7`` or ``1-6`` into one list.

    Args:
        texts: Each argument, itself a version list.

    Returns:
        Every version named, in order, without repeats.

    Raises:
        click.BadParameter: An argument is not a version list.

    Example:
        >>> parse_version_args(["1", "3", "5-7"])
        [1, 3, 5, 6, 7]
    """
    versions: dict[int, None] = {}
    for text in texts:
        versions.update(dict.fromkeys(parse_versions(text)))
    return list(versions)
