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

__all__ = [
    "HEADER_LIMIT",
    "decode",
    "describes",
    "encode",
    "header_describes",
    "read_listing",
    "update",
]

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
        b'{"format":5,"source":[1,2,3,4],"generation":"0","versions":1,"plain":true,"length":375}'
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


def update(
    data: bytes,
    source: list[int],
    changed: dict[int, dict[str, Any]],
    versions: list[int],
) -> bytes | None:
    """An index file with some entries replaced or added, the others copied as bytes.

    A writer that changed a few versions of a big history rewrites only their lines
    and the listing, instead of parsing and encoding every entry.

    Args:
        data: The current index file (describing the previous history).
        source: The identity of the new history file.
        changed: Version number to its new entry, for every version that changed or
            is new.
        versions: Every version of the new history, in order.

    Returns:
        The new file's content, or None when ``data`` is not a valid index of this
        format or the versions were not only changed and appended (the caller then
        builds the index afresh).

    Example:
        >>> from experiment_manager.stores._index import summarize_all
        >>> old = encode([1, 2, 3, 4], summarize_all([{"version": 1, "metrics": {}}], None))
        >>> new = summarize_all([{"version": 2, "metrics": {"loss": [0.5]}}], None)[0]
        >>> index = decode(update(old, [5, 6, 7, 8], {2: new}, [1, 2]))
        >>> index["source"], [e["summary"]["version"] for e in index["versions"]]
        ([5, 6, 7, 8], [1, 2])
    """
    end = data.find(b"\n", 0, HEADER_LIMIT)
    if end < 0:
        return None
    header = _header(data[: end + 1], len(data))
    listing_end = data.find(b"\n", end + 1)
    if header is None or listing_end < 0:
        return None
    try:
        listing = _serialize.loads(data[end + 1 : listing_end])
    except ValueError:
        return None
    if not _listing.is_valid(listing, header["versions"]):
        return None
    old_versions = listing["version"]
    if versions[: len(old_versions)] != old_versions:
        return None  # versions removed or reordered
    lines = data[listing_end + 1 :].split(b"\n")
    if len(lines) != len(old_versions) + 1 or lines[-1]:
        return None
    encoded = {version: _serialize.dumps(entry) for version, entry in changed.items()}
    body_lines: list[bytes] = []
    for row, version in enumerate(versions):
        line = encoded.get(version)
        if line is None:
            if row >= len(old_versions):
                return None  # a new version without an entry
            line = lines[row]
        elif row < len(old_versions):
            _listing.set_row(listing, row, changed[version]["summary"])
        else:
            _listing.add_row(listing, changed[version]["summary"])
        body_lines.append(line)
    # The listing holds values of the entries: plain if the old one was and no new
    # entry holds a mark.
    marks = b"".join(encoded.values()) if header["plain"] else b"$"
    plain = not any(mark in marks for mark in _DECODING_MARKS)
    listing_line = _serialize.dumps(listing)
    body = b"\n".join([listing_line, *body_lines]) + b"\n"
    new_header = {
        "format": INDEX_FORMAT,
        "source": source,
        "generation": header["generation"],
        "versions": len(versions),
        "plain": plain,
        "length": len(body),
    }
    return _serialize.dumps(new_header) + b"\n" + body


def header_describes(line: bytes, size: int, source: list[int]) -> bool:
    """Whether an index's header line says it describes the history of identity ``source``.

    Args:
        line: The index file's first line, newline included.
        size: The index file's size in bytes.
        source: A history file's identity.

    Returns:
        True when the header is valid for a file of that size and names that history.

    Example:
        >>> data = encode([1, 2, 3, 4], [])
        >>> header_describes(data.splitlines(True)[0], len(data), [1, 2, 3, 4])
        True
    """
    header = _header(line, size)
    return header is not None and header["source"] == source


def describes(data: bytes, source: list[int]) -> bool:
    """Whether an index file's header says it describes the history of identity ``source``.

    Args:
        data: The index file's content.
        source: A history file's identity.

    Returns:
        True when the header is valid and names that history (the rest is not checked).

    Example:
        >>> describes(encode([1, 2, 3, 4], []), [1, 2, 3, 4])
        True
    """
    end = data.find(b"\n", 0, HEADER_LIMIT)
    header = None if end < 0 else _header(data[: end + 1], len(data))
    return header is not None and header["source"] == source


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
