"""A version's metric columns as raw float64 arrays: derived data for plotting.

Drawing a curve needs one metric's values and steps (or times) of a few versions.
Reading them from the JSON history means scanning the whole file, which holds every
metric of every version; for long curves that is most of the cost of a dashboard's
first chart. So each finished version's points are also written, once per state of
the version, as little-endian float64 arrays that a reader takes with one read per
array and no parsing. The file is named after the version and its index fingerprint
(:func:`file_name`), so a writer knows which files are current from their names::

    {"format":1,"fingerprint":[...],"length":B,"metrics":{"loss":{"values":[0,3,c],"steps":{"start":0,"stride":10,"count":3}}}}
    <B bytes: the arrays, back to back>

Each array is ``[offset, count, crc32]`` into the bytes after the header line. Steps
that count up evenly (``0, 10, 20, ...``) are stored as their start, stride and count
only. A missing step or time is NaN; a list the version does not have is left out.

The file is an optimisation only, never an authority: a reader opens the file named
after the version's index entry (the index itself describing the current history
file), and uses it when its ``fingerprint`` is that entry's and every part it reads
checks out (shape, bounds, CRC). Anything else reads as None, and the caller reads
the history.

Example:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "1.bin"
    >>> stored = {"metrics": {"loss": [0.5, "NaN"]}, "steps": {"loss": [0, 10]}}
    >>> _ = path.write_bytes(encode(stored, [1, "finished"]))
    >>> found = read(path, [1, "finished"], "loss", ("values", "steps"))
    >>> found["values"].cast("d").tolist(), found["steps"]
    ([0.5, nan], StepRange(start=0.0, stride=10.0, count=2))
    >>> read(path, [1, "crashed"], "loss", ("values",)) is None
    True
"""

from __future__ import annotations

import hashlib
import os
import sys
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from experiment_manager import _serialize
from experiment_manager.stores import _atomic

__all__ = [
    "COLUMNS_FORMAT",
    "KINDS",
    "MIN_BYTES_PER_VERSION",
    "StepRange",
    "encode",
    "file_name",
    "read",
]

COLUMNS_FORMAT = 1

#: The arrays a metric may have, and the stored field each comes from.
KINDS = {"values": "metrics", "steps": "steps", "times": "timestamps"}

#: Columns files are kept only for histories of at least this many bytes per version:
#: below it, opening a file per version costs more than parsing the history's outline
#: (which the dashboard does then), and the files would only take disk space. Measured
#: for 11 metrics, reading one metric from columns files against the outline: 5 KiB
#: per version (5,000 versions x 20 points) 726 against 399 ms; 13 KiB 261 against
#: 220 ms; 29 KiB 149 against 160 ms; 49 KiB 113 against 173 ms; 510 KiB (200 versions
#: x 2,000 points) 30 against 248 ms. The files cost 8 bytes per value and per time,
#: about as much again as the history itself holds: below 256 KiB per version (10
#: metrics x 1,000 steps) the saving of a few tens of milliseconds is not worth it.
MIN_BYTES_PER_VERSION = 256 * 1024

# The header holds a version's fingerprint and one small entry per metric; a header
# longer than this is not one this module wrote.
_HEADER_LIMIT = 16 * 2**20
_FIRST_READ = 4096
_ITEM = 8
_SWAP = sys.byteorder != "little"


@dataclass(frozen=True)
class StepRange:
    """Evenly spaced steps: ``start + stride * i`` for ``i`` in ``range(count)``."""

    start: float
    stride: float
    count: int


def file_name(version: int, generation: str, fingerprint: list[Any]) -> str:
    """The name of a version's columns file, after the state it was made from.

    The digest covers this module's format, the index's generation (which changes
    whenever the history was changed by something else than this library) and the
    version's fingerprint, so a file is only ever found for the state of the version
    it was made from, and a writer sees which files are current from their names.

    Args:
        version: The version number.
        generation: The index's generation token.
        fingerprint: The version's index fingerprint.

    Returns:
        ``<version>.<16 hex digits>.bin``.

    Example:
        >>> file_name(3, "0", [3, "finished", None, 0, 0, 10])
        '3.9fae59d4845ca27f.bin'
    """
    marks = [COLUMNS_FORMAT, generation, fingerprint]
    digest = hashlib.sha256(_serialize.dumps(marks)).hexdigest()[:16]
    return f"{version}.{digest}.bin"


def encode(stored: dict[str, Any], fingerprint: list[Any]) -> bytes | None:
    """The bytes of a version's columns file.

    Args:
        stored: A version in stored form.
        fingerprint: Its index fingerprint (see :func:`.stores._index.fingerprint`).

    Returns:
        The file's content, or None when a point is not a number (nothing is written;
        readers then use the history).

    Example:
        >>> encode({"metrics": {"loss": [1, "oops"]}}, [1]) is None
        True
    """
    payload = bytearray()
    metrics: dict[str, dict[str, Any]] = {}
    for name, values in (stored.get("metrics") or {}).items():
        entry: dict[str, Any] = {}
        for kind, field in KINDS.items():
            column = values if kind == "values" else (stored.get(field) or {}).get(name)
            if column is None:
                continue
            if kind == "steps":
                steps = _step_range(column)
                if steps is not None:
                    entry[kind] = asdict(steps)
                    continue
            numbers = _floats(column, names=kind == "values")
            if numbers is None:
                return None
            if _SWAP:
                numbers.byteswap()
            data = numbers.tobytes()
            entry[kind] = [len(payload), len(numbers), zlib.crc32(data)]
            payload += data
        metrics[name] = entry
    header = {
        "format": COLUMNS_FORMAT,
        "fingerprint": fingerprint,
        "length": len(payload),
        "metrics": metrics,
    }
    return _serialize.dumps(header) + b"\n" + bytes(payload)


def _floats(column: Any, *, names: bool) -> array[float] | None:
    """A stored list as float64, or None if it holds anything but numbers.

    A missing step or time (None) becomes NaN; among values, the names of non-finite
    numbers become those numbers.
    """
    if type(column) is not list:
        return None
    try:
        return array("d", column)
    except TypeError:
        pass  # a name, a None or something else: convert one by one below
    out = array("d", bytes(_ITEM * len(column)))
    for index, item in enumerate(column):
        kind = type(item)
        if kind is float or kind is int:
            out[index] = item
        elif item is None and not names:
            out[index] = float("nan")
        elif names and kind is str and item in _serialize.NONFINITE_NAMES:
            out[index] = float(item)
        else:
            return None
    return out


def _step_range(column: Any) -> StepRange | None:
    """The steps as a range when they are ints counting up by one positive stride."""
    if type(column) is not list or len(column) < 2 or type(column[0]) is not int:
        return None
    start = column[0]
    stride = column[1] - start if type(column[1]) is int else 0
    # Non-negative, so that every start + stride * i on the way is exact in float64.
    if start < 0 or stride <= 0 or start + stride * len(column) >= 2**53:
        return None
    if column != list(range(start, start + stride * len(column), stride)):
        return None
    # Equal to ints, but a float among them would make this lossy: check the types.
    if set(map(type, column)) != {int}:
        return None
    return StepRange(float(start), float(stride), len(column))


def read(
    path: Path, fingerprint: list[Any], metric: str, kinds: Sequence[str]
) -> dict[str, memoryview | StepRange] | None:
    """Read some arrays of one metric from a columns file, when it can be trusted.

    Args:
        path: The file.
        fingerprint: The version's current fingerprint, from an index that describes
            the current history.
        metric: The metric's name.
        kinds: The arrays wanted, among :data:`KINDS`.

    Returns:
        Each wanted array the version has: little-endian float64 bytes in a
        ``memoryview`` (``memoryview.cast("d")`` on little-endian machines), or a
        :class:`StepRange`. ``{}`` when the version does not have the metric. None
        when the file is missing, unreadable, of another fingerprint or damaged.
    """
    try:
        fd = os.open(path, _atomic.READ_FLAGS)
    except OSError:
        return None
    try:
        return _read(fd, fingerprint, metric, kinds)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read(
    fd: int, fingerprint: list[Any], metric: str, kinds: Sequence[str]
) -> dict[str, memoryview | StepRange] | None:
    head = _read_at(fd, _FIRST_READ, 0)
    end = head.find(b"\n")
    while end < 0 and len(head) < _HEADER_LIMIT:
        more = _read_at(fd, len(head), len(head))
        if not more:
            return None
        end = more.find(b"\n")
        end = -1 if end < 0 else len(head) + end
        head += more
    if end < 0:
        return None
    try:
        header = _serialize.loads(head[:end])
    except ValueError:
        return None
    if (
        type(header) is not dict
        or header.get("format") != COLUMNS_FORMAT
        or header.get("fingerprint") != fingerprint
        or type(header.get("length")) is not int
        or os.fstat(fd).st_size != end + 1 + header["length"]
        or type(header.get("metrics")) is not dict
    ):
        return None
    entry = header["metrics"].get(metric)
    if entry is None:
        return {}
    if type(entry) is not dict:
        return None
    out: dict[str, memoryview | StepRange] = {}
    for kind in kinds:
        spec = entry.get(kind)
        if spec is None:
            continue
        column = _column(fd, spec, end + 1, header["length"])
        if column is None:
            return None
        out[kind] = column
    return out


def _column(fd: int, spec: Any, base: int, length: int) -> memoryview | StepRange | None:
    if type(spec) is dict:
        start, stride, count = spec.get("start"), spec.get("stride"), spec.get("count")
        if (
            len(spec) == 3
            and type(start) is float
            and type(stride) is float
            and type(count) is int
            and count >= 0
        ):
            return StepRange(start, stride, count)
        return None
    if type(spec) is not list or len(spec) != 3 or any(type(item) is not int for item in spec):
        return None
    offset, count, crc = spec
    if offset < 0 or count < 0 or offset % _ITEM or offset + count * _ITEM > length:
        return None
    data = _read_at(fd, count * _ITEM, base + offset)
    if len(data) != count * _ITEM or zlib.crc32(data) != crc:
        return None
    return memoryview(data)


def _read_at(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes from ``offset`` (fewer only at the end of the file)."""
    os.lseek(fd, offset, os.SEEK_SET)
    chunks = []
    while size > 0:
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
