"""How messages shown to others name files: relative to the log folder.

Errors raised by the stores name files by absolute path, which is right in a traceback
on the user's own machine. Text that leaves it (the dashboard's answers) or that lists
many files (``expm export``'s warnings) names them relative to the log folder instead,
as ``broken.json`` rather than ``/home/me/project/experiments/logs/broken.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["relative_to_log_dir"]


def relative_to_log_dir(text: str, log_dir: str | os.PathLike[str]) -> str:
    """Name every file under ``log_dir`` in ``text`` relative to ``log_dir``.

    The folder is removed where it is followed by a separator, in its given and its
    resolved spelling, both as written and as ``repr`` escapes it (messages quote
    paths with ``!r``, which doubles Windows backslashes).

    Args:
        text: A message, such as ``str(error)`` of a ``CorruptHistoryError``.
        log_dir: The log folder.

    Returns:
        The message with ``<log_dir>/`` taken out of every path.

    Example:
        >>> relative_to_log_dir("corrupt history file '/srv/logs/a.json': bad", "/srv/logs")
        "corrupt history file 'a.json': bad"
    """
    folder = os.fspath(log_dir)
    spellings = {folder, str(Path(folder).resolve())}
    prefixes: set[str] = set()
    for spelling in spellings:
        prefix = spelling.rstrip("/" + os.sep) + os.sep
        prefixes.update((prefix, repr(prefix)[1:-1]))
    # The longest first: a resolved spelling may extend the given one.
    for prefix in sorted(prefixes, key=len, reverse=True):
        text = text.replace(prefix, "")
    return text
