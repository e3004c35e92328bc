"""The layout of an index file: JSON Lines, the cheapest part first.

::

    {"format": 4, "source": [inode, size, mtime_ns, ctime_ns], "generation": G,
     "versions": N, "plain": true, "length": B}
    {"version": [...], "status": [...], ..., "last": {"loss": [...], ...}}
    {"fingerprint": [...], "summary": {...}}
    ... one entry line per version, in version order

The header names the history file the index describes (``source``), its
``generation`` (a random token, new whenever the index is built from a history it did
not describe before, and kept while the library updates it: derived files made from
the history carry it, see :mod:`.stores._columns`), the number of
versions, whether the text is free of non-finite names and tags (``plain``: readers
then skip decoding) and the number of bytes after the header line, so a reader of the
first two lines alone (a listing, see :mod:`.stores._listing`) notices a truncated or
extended file without reading the rest. Entries (full summaries) are parsed only by
the calls that need them. An index of another format, or of another shape, is never
used: readers rebuild it from the history.
"""

from __future__ import annotations

from typing import Any

from experiment_manager import _serialize
from experiment_manager.stores import _listing
from experiment_manager.stores._index import INDEX_FORMAT, is_entry

__all__ = ["HEADER_LIMIT", "decode", "encode", "read_listing"]

#: The most bytes read for the header line. It is about 100 bytes; an index of format
#: 2 or older is a single long line, which is thus rejected without being read whole.
HEADER_LIMIT = 4096

# Text that may hold a non-finite name or a tag. A user's string holding one only
# costs a decoding pass that changes nothing.
_DECODING_MARKS = (b"$", b"NaN", b"Infinity")


def encode(source: list[int], entries: list[dict[str, Any]], generation: str = "0") -> bytes:
    """The bytes of an index file.

    Args:
        source: The identity of the history file the entries describe.
        entries: One ``{"fingerprint", "summary"}`` per version, in version order
            (see :func:`.stores._index.summarize_all`).
        generation: The index's generation token.

    Returns:
        The file's content.

    Example:
        >>> from experiment_manager.stores._index import summarize_all
        >>> entries = summarize_all([{"version": 1, "metrics": {"loss": [0.5]}}], None)
        >>> data = encode([1, 2, 3, 4], entries)
        >>> data.splitlines()[0]
        b'{"format":4,"source":[1,2,3,4],"generation":"0","versions":1,"plain":true,"length":311}'
        >>> decode(data)["versions"] == entries
        True
    """
    listing = _listing.build([entry["summary"] for entry in entries])
    lines = [_serialize.dumps(listing)]
    lines.extend(map(_serialize.dumps, entries))
    body = b"\n".join(lines) + b"\n"
    header = {
        "format": INDEX_FORMAT,
        "source": source,
        "generation": generation,
        "versions": len(entries),
        "plain": not any(mark in body for mark in _DECODING_MARKS),
        "length": len(body),
    }
    return _serialize.dumps(header) + b"\n" + body


def _header(line: bytes, size: int) -> dict[str, Any] | None:
    """The parsed header line of a file of ``size`` bytes, or None if it is not valid."""
    try:
        header = _serialize.loads(line)
    except ValueError:
        return None
    if not (
        type(header) is dict
        and header.get("format") == INDEX_FORMAT
        and type(header.get("source")) is list
        and type(header.get("generation")) is str
        and type(header.get("versions")) is int
        and type(header.get("plain")) is bool
        and type(header.get("length")) is int
        and header["versions"] >= 0
        and len(line) + header["length"] == size
    ):
        return None
    return header


def read_listing(lines: list[bytes], size: int, source: list[int]) -> tuple[Any, bool] | None:
    """The listing of an index, from its first two lines.

    Args:
        lines: The first lines of the index file, as read (newlines included).
        size: The file's size in bytes.
        source: The identity of the current history file.

    Returns:
        The parsed listing and whether it is plain (needs no decoding), or None when
        the index is of another format, is damaged or describes another history file.

    Example:
        >>> data = encode([1, 2, 3, 4], [{"fingerprint": [1], "summary": {"version": 1}}])
        >>> read_listing(data.splitlines(True)[:2], len(data), [1, 2, 3, 4])[0]["version"]
        [1]
        >>> read_listing(data.splitlines(True)[:2], len(data), [1, 2, 3, 5]) is None
        True
    """
    if len(lines) < 2:
        return None
    header = _header(lines[0], size)
    if header is None or header["source"] != source:
        return None
    try:
        listing = _serialize.loads(lines[1])
    except ValueError:
        return None
    if not _listing.is_valid(listing, header["versions"]):
        return None
    return listing, header["plain"]


def decode(data: bytes) -> dict[str, Any] | None:
    """A whole index file: ``{"format", "source", "generation", "plain", "versions"}``.

    ``versions`` holds the entries.

    Every entry is checked (see :func:`.stores._index.is_entry`); the listing line
    is skipped.

    Args:
        data: The file's content.

    Returns:
        The index, or None when the file is not a valid index of this format.

    Example:
        >>> decode(b'{"format": 2, "versions": []}') is None
        True
    """
    end = data.find(b"\n", 0, HEADER_LIMIT)
    if end < 0:
        return None
    header = _header(data[: end + 1], len(data))
    if header is None:
        return None
    listing_end = data.find(b"\n", end + 1)
    if listing_end < 0:
        return None
    # Line by line through a view: no copy of the (large) rest of the file.
    view = memoryview(data)
    entries = []
    start = listing_end + 1
    while start < len(data):
        stop = data.find(b"\n", start)
        if stop < 0:
            return None
        try:
            entries.append(_serialize.loads(view[start:stop]))
        except ValueError:
            return None
        start = stop + 1
    if len(entries) != header["versions"] or not all(map(is_entry, entries)):
        return None
    return {
        "format": INDEX_FORMAT,
        "source": header["source"],
        "generation": header["generation"],
        "plain": header["plain"],
        "versions": entries,
    }
