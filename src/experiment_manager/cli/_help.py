"""How help is laid out: whole command summaries, and no line broken at a hyphen.

click cuts each command's summary in ``expm --help`` to fit one line ("Export versions
(all, or those of ID) to CSV, JSON, JSON..."), and wraps text at hyphens, so an install
hint reads ``pip install "experiment-`` / ``manager[parquet]"``. Here summaries are the
whole first sentence, wrapped, and words are only ever broken at spaces.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import click

__all__ = ["HelpContext", "HelpFormatter", "format_commands"]


@contextlib.contextmanager
def _whole_words() -> Iterator[None]:
    """While formatting, click's text wrapper breaks lines at spaces only."""
    try:
        from click import _textwrap
    except ImportError:  # pragma: no cover - a click without it wraps as it likes
        yield
        return
    original = _textwrap.TextWrapper

    class _Wrapper(original):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("break_on_hyphens", False)
            kwargs.setdefault("break_long_words", False)
            super().__init__(*args, **kwargs)

    _textwrap.TextWrapper = _Wrapper  # type: ignore[misc]
    try:
        yield
    finally:
        _textwrap.TextWrapper = original  # type: ignore[misc]


class HelpFormatter(click.HelpFormatter):
    """click's formatter, breaking lines at spaces only (never inside a word or name).

    Example:
        >>> formatter = HelpFormatter(width=40)
        >>> formatter.write_text('Needs pyarrow: pip install "experiment-manager[parquet]".')
        >>> print(formatter.getvalue())
        Needs pyarrow: pip install
        "experiment-manager[parquet]".
        <BLANKLINE>
    """

    def write_text(self, text: str) -> None:
        """Write wrapped text (see :class:`click.HelpFormatter`).

        Args:
            text: The paragraphs.
        """
        with _whole_words():
            super().write_text(text)

    def write_dl(
        self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2
    ) -> None:
        """Write a definition list (see :class:`click.HelpFormatter`).

        Args:
            rows: ``(term, definition)`` pairs.
            col_max: The widest first column.
            col_spacing: Spaces between the columns.
        """
        with _whole_words():
            super().write_dl(rows, col_max, col_spacing)


class HelpContext(click.Context):
    """A context whose help uses :class:`HelpFormatter`."""

    formatter_class = HelpFormatter


def format_commands(group: click.Group, ctx: click.Context, formatter: click.HelpFormatter) -> None:
    """List a group's commands with their whole first sentence, wrapped (never cut).

    Args:
        group: The group.
        ctx: Its context.
        formatter: Where the help is written.
    """
    rows = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        rows.append((name, command.get_short_help_str(limit=sys.maxsize)))
    if rows:
        with formatter.section("Commands"):
            formatter.write_dl(rows)
