"""Read one metric of every version without parsing the rest of the history.

The versions' columns files (:mod:`experiment_manager.stores._columns`) are read when
they are all there and current: raw float64 arrays, no parsing at all. Otherwise the
history file itself is read as follows.

Drawing curves needs one metric's values (and their steps or times) of a few versions,
but parsing a whole history into Python objects costs about 90 ns per number: half a
second for an 88 MB history of 20 versions x 100,000 points, most of it numbers that
are not drawn. Here the file is read in two passes that each use a library made for
it: msgspec decodes the document's outline into typed structs, keeping every metric
list as an unparsed slice of the file (it validates the outline and skips everything
else without building objects), and simdjson turns just the wanted slices into
float64 buffers at C speed, without a Python object per number.

This is an optimisation only, never an authority: whenever the file holds anything
this reader does not expect (a running version, whose points are partly in its
journal; a value that is not a number or a non-finite name; any shape problem; JSON
that does not parse), it returns None and the caller reads the history the ordinary
way (``read_history``), which merges journals and reports corrupt files.

Example:
    >>> import tempfile
    >>> from experiment_manager import ExperimentManager
    >>> manager = ExperimentManager(tempfile.mkdtemp())
    >>> _ = manager.start_experiment("exp", {}, {})
    >>> _ = [manager.log({"loss": v}, step=10 * i) for i, v in enumerate([0.5, float("nan")])]
    >>> _ = manager.end_experiment()
    >>> read = manager.store.read_metric("exp", "loss", "step")
    >>> [(v.version, v.status, v.columns.steps.tolist()) for v in read.versions]
    [(1, 'finished', [0.0, 10.0])]
    >>> read.versions[0].columns.values.tolist()
    [0.5, nan]
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeGuard

import msgspec
import numpy as np
import simdjson

from experiment_manager._serialize import NONFINITE_NAMES
from experiment_manager.stores import _atomic
from experiment_manager.stores._columns import StepRange
from experiment_manager.stores._metric_read import Columns, MetricRead, VersionColumns
from experiment_manager.stores.base import FORMAT_VERSION

if TYPE_CHECKING:
    from experiment_manager.stores.files import FileStore

__all__ = ["read_metric"]


class _UnexpectedError(Exception):
    """Something this reader leaves to the ordinary read path."""


class _Version(msgspec.Struct):
    """What curves need of a stored version; every other field is skipped unparsed."""

    version: int
    status: str
    metrics: dict[str, msgspec.Raw] = {}
    steps: dict[str, msgspec.Raw] = {}
    timestamps: dict[str, msgspec.Raw] = {}


class _History(msgspec.Struct):
    format: int
    experiment_id: str
    versions: list[_Version]


_OUTLINE = msgspec.json.Decoder(_History)


def read_metric(store: FileStore, experiment_id: str, metric: str, x: str) -> MetricRead | None:
    """Read one metric of every version of a history, or None to read it the usual way.

    Args:
        store: The file store.
        experiment_id: A validated experiment id.
        metric: The metric's name.
        x: The x axis the columns are for: ``step`` reads the steps, ``time`` the
            times, ``index`` neither.

    Returns:
        The metric's columns per version, or None when the history is missing, has
        a running version, or holds anything unexpected.
    """
    stored = _from_columns(store, experiment_id, metric, x)
    if stored is not None:
        return stored
    read = _atomic.read_with_stat(store.history_path(experiment_id))
    if read is None:
        return None
    data, info = read
    try:
        versions = _versions(_OUTLINE.decode(data), experiment_id, metric, x)
    except (_UnexpectedError, msgspec.ValidationError, msgspec.DecodeError, ValueError):
        return None
    return MetricRead(identity=_atomic.file_identity(info), versions=versions)


def _from_columns(store: FileStore, experiment_id: str, metric: str, x: str) -> MetricRead | None:
    """The read from the versions' columns files, when every one is there and current."""
    kinds = ("values", *(("steps",) if x == "step" else ("times",) if x == "time" else ()))
    found = store.metric_columns(experiment_id, metric, kinds)
    if found is None:
        return None
    identity, versions = found
    out = []
    for version, status, arrays in versions:
        column = {kind: _array(arrays.get(kind)) for kind in kinds}
        columns = Columns(
            values=column["values"],
            steps=column.get("steps", _EMPTY),
            times=column.get("times", _EMPTY),
        )
        out.append(VersionColumns(version=version, status=status, columns=columns))
    return MetricRead(identity=identity, versions=out)


_EMPTY = np.empty(0)


def _array(column: memoryview | StepRange | None) -> np.ndarray:
    if column is None:
        return _EMPTY
    if isinstance(column, StepRange):
        return column.start + column.stride * np.arange(column.count, dtype=np.float64)
    return np.frombuffer(column, dtype="<f8")


def _versions(history: _History, experiment_id: str, metric: str, x: str) -> list[VersionColumns]:
    if history.experiment_id != experiment_id or not 1 <= history.format <= FORMAT_VERSION:
        raise _UnexpectedError
    out: list[VersionColumns] = []
    for entry in history.versions:
        if entry.version < 1 or entry.status == "running":
            # A running version's newest points are in its journal: the full read merges them.
            raise _UnexpectedError
        columns = Columns(
            values=_numbers(entry.metrics.get(metric), values=True),
            steps=_numbers(_shared(entry.steps, metric) if x == "step" else None, values=False),
            times=_numbers(
                _shared(entry.timestamps, metric) if x == "time" else None, values=False
            ),
        )
        out.append(VersionColumns(version=entry.version, status=entry.status, columns=columns))
    out.sort(key=lambda v: v.version)
    if len({v.version for v in out}) != len(out):
        raise _UnexpectedError
    return out


def _shared(columns: dict[str, msgspec.Raw], metric: str) -> msgspec.Raw | None:
    """A metric's steps or times, following a ``{"$same": other}`` reference once."""
    raw = columns.get(metric)
    if raw is None or not bytes(raw).startswith(b"{"):
        return raw
    try:
        reference = msgspec.json.decode(bytes(raw), type=dict[str, str])
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise _UnexpectedError from None
    other = reference.get("$same")
    if len(reference) != 1 or other is None or other == metric:
        raise _UnexpectedError
    target = columns.get(other)
    if target is None or not bytes(target).startswith(b"["):
        raise _UnexpectedError
    return target


def _numbers(raw: msgspec.Raw | None, *, values: bool) -> np.ndarray:
    """A JSON array of numbers as float64: from simdjson's buffer when all are numbers.

    Metric values may also be the names of non-finite numbers (as the store writes
    them); steps and times may be null (a value logged without one), read as NaN.
    """
    if raw is None:
        return np.empty(0)
    text = bytes(raw)
    if b"[" in text[1:] or b"{" in text:
        # Nested lists or objects: simdjson would flatten them into numbers, and
        # no valid list of numbers (or of names of non-finite numbers) holds either.
        raise _UnexpectedError
    array = simdjson.Parser().parse(text)
    if not isinstance(array, simdjson.Array):
        raise _UnexpectedError
    try:
        return np.frombuffer(array.as_buffer(of_type="d"), dtype=np.float64)
    except TypeError:  # a string or null among the numbers: convert one by one
        pass
    out = np.empty(len(array))
    for index, item in enumerate(array):
        if isinstance(item, float) or _is_int(item):
            out[index] = item
        elif values and isinstance(item, str) and item in NONFINITE_NAMES:
            out[index] = float(item)  # "NaN", "Infinity", "-Infinity" parse as floats
        elif item is None and not values:
            out[index] = math.nan
        else:
            raise _UnexpectedError
    return out


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
