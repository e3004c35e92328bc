r"""Where each version's record lies in a history document (derived, rebuilt when stale).

``.expm/layout/<id>.bin`` lets one version be read (and the document be rewritten)
without parsing the whole document: a header line of strict JSON, then one record of
four little-endian signed 64-bit integers per version, in version order::

    {"format":1,"source":[ino,size,mtime_ns,ctime_ns],"versions":2,"running":[2],
     "fold_seconds":0.25,"crc32":C}\n
    <version, start, end, revision> x versions

``start``/``end`` are byte offsets of the version's record (a JSON object) in the
document, ``revision`` its ``_revision`` (0 for records written by format 1), ``crc32``
the CRC-32 of those records' bytes. ``fold_seconds`` is how long the write of the
document took (assembling it, making it durable, its derived files): writers space
the next fold by it, whichever process they run in; a file without it (written by an
older library) counts as 0. The file describes the document only while ``source``
equals the document's :func:`~.stores._atomic.file_identity`; otherwise it is ignored.

Example:
    >>> data = encode([1, 2, 3, 4], [(1, 10, 20, 1), (2, 21, 40, 3)], [2], 0.25)
    >>> layout = decode(data, [1, 2, 3, 4])
    >>> layout.span(2), layout.running, layout.latest, layout.fold_seconds
    ((21, 40, 3), [2], 2, 0.25)
    >>> decode(data, [1, 2, 3, 5]) is None
    True
"""

from __future__ import annotations

import functools
import struct
import sys
import zlib
from array import array
from collections.abc import Sequence

import orjson

__all__ = ["LAYOUT_FORMAT", "Layout", "decode", "encode"]

#: The number written as ``"format"`` in the header line.
LAYOUT_FORMAT = 1

_RECORD = struct.Struct("<qqqq")
_HEADER_LIMIT = 1 << 24
# A larger figure is damage, not a measurement: it would stop folds for days.
_MAX_FOLD_SECONDS = 3600.0


class Layout:
    """The spans of a document's versions.

    Looking one version up (and the latest number) costs a binary search over the
    packed records, not a list per field: each write of a big history does it.

    Args:
        numbers: ``version, start, end, revision`` per version, flat, versions ascending.
        running: Versions stored as ``running`` in the document.
        fold_seconds: How long writing the document took (0 when unknown).
    """

    def __init__(
        self, numbers: Sequence[int], running: list[int], fold_seconds: float = 0.0
    ) -> None:
        self._numbers = numbers
        self.running = running
        self.fold_seconds = fold_seconds

    @functools.cached_property
    def versions(self) -> list[int]:
        """Version numbers, ascending."""
        return list(self._numbers[0::4])

    @functools.cached_property
    def starts(self) -> list[int]:
        """Byte offset where each version's record starts."""
        return list(self._numbers[1::4])

    @functools.cached_property
    def ends(self) -> list[int]:
        """Byte offset just after each version's record."""
        return list(self._numbers[2::4])

    @functools.cached_property
    def revisions(self) -> list[int]:
        """Each version's ``_revision``."""
        return list(self._numbers[3::4])

    def numbers(self, count: int) -> array[int]:
        """The first ``count`` records' numbers, flat (``version, start, end, revision``).

        Args:
            count: How many records.

        Returns:
            A new array (a copy of bytes, not a pass in Python).
        """
        head = self._numbers[: 4 * count]
        if isinstance(head, array):
            return head
        out = array("q")
        if isinstance(head, memoryview):
            out.frombytes(head.tobytes())
        else:
            out.extend(head)
        return out

    def encode(self, source: list[int]) -> bytes:
        """The layout file of this layout's document, whose identity is ``source``.

        Args:
            source: The document's file identity.

        Returns:
            The file's bytes (as :func:`encode` makes them).
        """
        numbers = self._numbers
        if not isinstance(numbers, array) or numbers.typecode != "q":
            numbers = array("q", numbers)
        return _encode_numbers(source, numbers, self.running, self.fold_seconds)

    @property
    def latest(self) -> int:
        """The highest version number (0 for none)."""
        return self._numbers[-4] if self._numbers else 0

    def span(self, version: int) -> tuple[int, int, int] | None:
        """``(start, end, revision)`` of a version, or None when it is not there."""
        numbers = self._numbers
        low, high = 0, len(numbers) // 4
        while low < high:
            middle = (low + high) // 2
            if numbers[4 * middle] < version:
                low = middle + 1
            else:
                high = middle
        if low == len(numbers) // 4 or numbers[4 * low] != version:
            return None
        return numbers[4 * low + 1], numbers[4 * low + 2], numbers[4 * low + 3]


def encode(
    source: list[int],
    spans: Sequence[tuple[int, int, int, int]],
    running: Sequence[int],
    fold_seconds: float = 0.0,
) -> bytes:
    """The layout file of a document.

    Args:
        source: The document's file identity.
        spans: ``(version, start, end, revision)`` per version, in version order.
        running: Versions stored as ``running``.
        fold_seconds: How long writing the document took.

    Returns:
        The file's bytes.
    """
    numbers = array("q", [number for span in spans for number in span])
    return _encode_numbers(source, numbers, running, fold_seconds)


def _encode_numbers(
    source: list[int], numbers: array[int], running: Sequence[int], fold_seconds: float
) -> bytes:
    if sys.byteorder != "little":
        numbers = array("q", numbers)
        numbers.byteswap()
    body = numbers.tobytes()
    header = {
        "format": LAYOUT_FORMAT,
        "source": source,
        "versions": len(numbers) // 4,
        "running": sorted(running),
        "fold_seconds": round(fold_seconds, 6),
        "crc32": zlib.crc32(body),
    }
    return orjson.dumps(header, option=orjson.OPT_APPEND_NEWLINE) + body


def decode(data: bytes, source: list[int]) -> Layout | None:
    """Read a layout file, if it describes the document of identity ``source``.

    Args:
        data: The file's bytes.
        source: The document's current file identity.

    Returns:
        The layout, or None when the file is stale, of another format or damaged.
    """
    end = data.find(b"\n", 0, _HEADER_LIMIT)
    if end < 0:
        return None
    try:
        header = orjson.loads(data[:end])
    except orjson.JSONDecodeError:
        return None
    if (
        type(header) is not dict
        or header.get("format") != LAYOUT_FORMAT
        or header.get("source") != source
        or type(header.get("versions")) is not int
        or type(header.get("running")) is not list
    ):
        return None
    count = header["versions"]
    body = memoryview(data)[end + 1 :]
    # Each write of a big history reads it: a CRC, not a pass in Python, checks it.
    if len(body) != count * _RECORD.size or header.get("crc32") != zlib.crc32(body):
        return None
    numbers: Sequence[int]
    if sys.byteorder == "little":
        numbers = body.cast("q")
    else:
        swapped = array("q")
        swapped.frombytes(body)
        swapped.byteswap()
        numbers = swapped
    seconds = header.get("fold_seconds", 0.0)
    if type(seconds) not in (int, float) or not 0 <= seconds < _MAX_FOLD_SECONDS:
        seconds = 0.0
    return Layout(numbers, [v for v in header["running"] if type(v) is int], float(seconds))
