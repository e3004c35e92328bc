"""The history document: its shape check, and its bytes assembled from version records.

A document is ``{"format": 2, "experiment_id": ..., "versions": [record, ...]}``
written compactly, so each version's record is one contiguous run of bytes: a writer
that changes a few versions copies every other record's bytes as they are, and the
:mod:`layout <.stores._layout>` it writes beside the document tells readers where each
record lies.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiment_manager import _serialize
from experiment_manager.errors import (
    CorruptHistoryError,
    NotAHistoryError,
    UnsupportedFormatError,
)
from experiment_manager.stores import _record_shape, _shared_columns

__all__ = ["Chunk", "assemble", "check_document", "plan"]


#: A record's bytes, or where it lies in the document a new one is made from.
Chunk = bytes | memoryview | tuple[int, int]


def assemble(
    experiment_id: str, format_version: int, records: Sequence[tuple[int, int, bytes | memoryview]]
) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """The bytes of a document holding the given records, and where each lies.

    Args:
        experiment_id: The experiment.
        format_version: The document's format number.
        records: ``(version, revision, encoded record)`` in version order.

    Returns:
        The document and ``(version, start, end, revision)`` per record.

    Example:
        >>> data, spans = assemble("exp", 2, [(1, 1, b'{"version":1}')])
        >>> data, spans
        (b'{"format":2,"experiment_id":"exp","versions":[{"version":1}]}', [(1, 46, 59, 1)])
    """
    parts, spans, _ = plan(experiment_id, format_version, records)
    (data,) = parts
    assert not isinstance(data, tuple)
    return bytes(data), spans


def plan(
    experiment_id: str,
    format_version: int,
    records: Sequence[tuple[int, int, Chunk]],
    prefix: tuple[int, int] | None = None,
) -> tuple[list[Chunk], list[tuple[int, int, int, int]], int]:
    """A document holding the given records, as runs of new bytes and of an older one.

    A record given as ``(start, end)`` is copied from the document the new one is made
    from, which must have been assembled here (so consecutive records there are
    separated by one comma): records consecutive in both become one run, so a new
    document that mostly repeats an older one is a handful of runs, however many
    records it holds.

    Args:
        experiment_id: The experiment.
        format_version: The document's format number.
        records: ``(version, revision, chunk)`` in version order: the encoded record,
            or where it lies in the older document.
        prefix: The older document's first records, ``(start, end)``, kept where
            they are ahead of ``records`` (``start`` is where the head ends): a
            writer that changes only the last versions does not list the others.

    Returns:
        The runs (bytes, or ``(start, end)`` in the older document), then
        ``(version, start, end, revision)`` per record of ``records`` in the new
        document (those of ``prefix`` do not move), then its size.

    Raises:
        ValueError: ``prefix`` does not start where the head ends.

    Example:
        >>> old, _ = assemble("exp", 2, [(1, 1, b'{"version":1}'), (2, 1, b'{"version":2}')])
        >>> parts, spans, size = plan("exp", 2, [(1, 1, (46, 59)), (2, 1, (60, 73)),
        ...                                      (3, 1, b'{"version":3}')])
        >>> parts[1:]
        [(46, 73), b',{"version":3}]}']
        >>> spans[2], size
        ((3, 74, 87, 1), 89)
        >>> parts, spans, size = plan("exp", 2, [(3, 1, b'{"version":3}')], prefix=(46, 73))
        >>> parts[1:], spans, size
        ([(46, 73), b',{"version":3}]}'], [(3, 74, 87, 1)], 89)
    """
    head = b'{"format":%d,"experiment_id":%s,"versions":[' % (
        format_version,
        _serialize.dumps(experiment_id),
    )
    parts: list[Chunk] = [head]
    spans = []
    offset = len(head)
    if prefix is not None:
        if prefix[0] != offset:
            raise ValueError(f"the records kept start at byte {prefix[0]}, not {offset}")
        parts.append(prefix)
        offset = prefix[1]
    for position, (version, revision, chunk) in enumerate(records, start=prefix is not None):
        if isinstance(chunk, tuple):
            start, end = chunk
            length = end - start
            last = parts[-1]
            if position and isinstance(last, tuple) and last[1] + 1 == start:
                parts[-1] = (last[0], end)  # the comma between them comes along
                offset += 1
                spans.append((version, offset, offset + length, revision))
                offset += length
                continue
        else:
            length = len(chunk)
        if position:
            parts.append(b",")
            offset += 1
        parts.append(chunk)
        spans.append((version, offset, offset + length, revision))
        offset += length
    parts.append(b"]}")
    # New bytes next to each other become one run: one write each.
    merged: list[Chunk] = []
    run: list[bytes | memoryview] = []
    for part in parts:
        if isinstance(part, tuple):
            if run:
                merged.append(b"".join(run))
                run = []
            merged.append(part)
        else:
            run.append(part)
    merged.append(b"".join(run))
    return merged, spans, offset + 2


def check_document(path: Path, document: Any, experiment_id: str, supported: int) -> None:
    """Check that parsed JSON has the shape of a history document.

    Args:
        path: The file it came from, for error messages.
        document: The parsed JSON.
        experiment_id: The id the file should belong to.
        supported: The newest format number this library reads.

    Raises:
        UnsupportedFormatError: The format number is newer than this library reads.
        NotAHistoryError: The JSON is not an object, or an object with neither
            ``format`` nor ``versions`` (a foreign file, such as a stray config).
        CorruptHistoryError: Anything else is wrong with the shape.
    """
    if not isinstance(document, dict):
        raise NotAHistoryError(path, f"a JSON {type(document).__name__}, not an object")
    if "format" not in document and "versions" not in document:
        raise NotAHistoryError(path, "a JSON object without 'format' and 'versions'")
    found = document.get("format")
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise CorruptHistoryError(path, f"missing or invalid format number {found!r}")
    if found > supported:
        raise UnsupportedFormatError(path, found, supported)
    if document.get("experiment_id") != experiment_id:
        raise CorruptHistoryError(
            path, f"holds experiment {document.get('experiment_id')!r}, not {experiment_id!r}"
        )
    versions = document.get("versions")
    if not isinstance(versions, list):
        raise CorruptHistoryError(path, "'versions' is not a list")
    for index, version in enumerate(versions):
        check_record(path, version, f"versions[{index}]", experiment_id)


def check_record(path: Path, version: Any, where: str, experiment_id: str | None = None) -> None:
    """Check the shape of one stored version record.

    Args:
        path: The file it came from, for error messages.
        version: The parsed record.
        where: Where it is in the file, for error messages.
        experiment_id: The experiment it must belong to (its ``experiment_id``, when
            present, must be this).

    Raises:
        CorruptHistoryError: The record does not have the shape of a version.
    """
    if not (
        isinstance(version, dict)
        and type(version.get("version")) is int
        and isinstance(version.get("metrics", {}), dict)
        and isinstance(version.get("checkpoints", []), list)
    ):
        raise CorruptHistoryError(path, f"{where} is not a valid version record")
    if not all(type(p) is str for p in version.get("checkpoints", [])):
        raise CorruptHistoryError(path, f"{where}.checkpoints holds a non-string")
    for name, values in version.get("metrics", {}).items():
        if not _valid_metric_list(values):
            raise CorruptHistoryError(path, f"{where}.metrics[{name!r}] is not a list of numbers")
    owner = version.get("experiment_id", experiment_id)
    if experiment_id is not None and owner != experiment_id:
        raise CorruptHistoryError(
            path, f"{where}.experiment_id is {owner!r}, not {experiment_id!r}"
        )
    wrong = _shared_columns.problem(version) or _record_shape.problem(version)
    if wrong is not None:
        raise CorruptHistoryError(path, f"{where}.{wrong}")


def _valid_metric_list(values: Any) -> bool:
    """A stored metric list: numbers and the three non-finite names, nothing else."""
    if type(values) is not list:
        return False
    kinds = set(map(type, values))
    if kinds <= _serialize.PLAIN_NUMBERS:
        return True
    if kinds <= _serialize.PLAIN_NUMBERS | {str}:
        return all(v in _serialize.NONFINITE_NAMES for v in values if type(v) is str)
    return False
