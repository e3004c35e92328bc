"""Read W&B offline run folders (``wandb/offline-run-*/run-*.wandb``) without syncing.

A ``.wandb`` file is W&B's transaction log: a 7-byte header (``:W&B``, magic
``0xBEE1``, version 0), then LevelDB-style records in 32 KiB blocks, each with a
CRC-32 (seeded with the record type), a length and a type (full, or first / middle /
last part of a record split across blocks). Each record is a protobuf ``Record`` of
``wandb.proto.wandb_internal_pb2`` (the one thing taken from the ``wandb`` package).

The run record gives the id, project, name, tags, notes and config (the name, tags
and notes also become the version's ``name``, ``tags`` and ``note``); config records
update the config; history records are the rows (``_step``, ``_timestamp``; values
that are not numbers, such as bools and text, are left out and counted per key for
the report); summary records the summary; the exit record the exit code. The file
is read a block at a time, so a run record of any size (a big config) is read. A file
cut short (the process was killed, a copy was interrupted) is read up to the last
whole record, and the report says how many bytes were left unread; without an exit
record the run is ``crashed``.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from experiment_manager.importers._common import RunData, RunRef, Series

__all__ = ["read_records", "scan_run_folders", "stream_records"]

_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
_BLOCK = 32 * 1024
_RECORD_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_UNKNOWN_PROJECT = "wandb"

#: Files W&B writes into ``files/`` itself; the others were saved by the user.
_OWN_FILES = frozenset(
    (
        "config.yaml",
        "conda-environment.yaml",
        "diff.patch",
        "output.log",
        "requirements.txt",
        "wandb-metadata.json",
        "wandb-summary.json",
    )
)


class TruncatedError(Exception):
    """Where the readable part of a ``.wandb`` file ends, and why.

    Attributes:
        offset: Bytes that were read whole.
        size: The file's size.
        reason: What was found at ``offset``.
    """

    def __init__(self, offset: int, size: int, reason: str) -> None:
        self.offset = offset
        self.size = size
        self.reason = reason
        super().__init__(f"{size - offset} of {size} bytes unread from byte {offset}: {reason}")


def read_records(data: bytes) -> Iterator[bytes]:
    """The whole records of a ``.wandb`` file's bytes, in order.

    Args:
        data: The file's bytes.

    Yields:
        Each record's bytes (a serialized ``Record``).

    Raises:
        TruncatedError: After the last whole record, when bytes remain that are not
            whole records (a file cut short or damaged).
        ValueError: The data does not start with the ``.wandb`` header.

    Example:
        >>> list(read_records(_HEADER))
        []
    """
    return stream_records(io.BytesIO(data), len(data))


class _Window:
    """A file read forward a block at a time, holding only the bytes not yet parsed."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.buffer = b""
        self.start = 0  # the file offset of buffer[0]

    def get(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer at the end of the file)."""
        end = offset + length
        have = self.start + len(self.buffer)
        if end > have:
            parts = [self.buffer[offset - self.start :]]
            while have < end:
                chunk = self.stream.read(max(_BLOCK, end - have))
                if not chunk:
                    break
                parts.append(chunk)
                have += len(chunk)
            self.buffer = b"".join(parts)
            self.start = offset
        return self.buffer[offset - self.start : end - self.start]

    def zeros_to_end(self, offset: int) -> bool:
        """Whether everything from ``offset`` to the end of the file is zero bytes."""
        if self.get(offset, _BLOCK).strip(b"\0"):
            return False
        while chunk := self.stream.read(_BLOCK):
            if chunk.strip(b"\0"):
                return False
        return True


def stream_records(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """The whole records of a ``.wandb`` file, read a block at a time.

    Only the record being read is held in memory, so a run record of any size
    (a big config) is read, and reading the first records reads only their blocks.

    Args:
        stream: The file, opened for binary reading at its start.
        size: The file's size (reported when the file is cut short).

    Yields:
        Each record's bytes (a serialized ``Record``).

    Raises:
        TruncatedError: After the last whole record, when bytes remain that are not
            whole records (a file cut short or damaged).
        ValueError: The file does not start with the ``.wandb`` header.

    Example:
        >>> list(stream_records(io.BytesIO(_HEADER), len(_HEADER)))
        []
    """
    window = _Window(stream)
    if window.get(0, len(_HEADER)) != _HEADER:
        raise ValueError("not a .wandb file (no W&B header)")
    offset = len(_HEADER)
    good = offset  # the end of the last whole record
    parts: list[bytes] | None = None
    while True:
        left = _BLOCK - offset % _BLOCK
        if left < _RECORD_HEADER:  # a block's tail too short for a header is padding
            if len(window.get(offset, left)) < left:
                break
            offset += left
            continue
        header = window.get(offset, _RECORD_HEADER)
        if not header:
            break
        size = max(size, offset + len(header))
        if len(header) < _RECORD_HEADER:
            raise TruncatedError(good, size, "a record header is cut short")
        checksum, length, kind = struct.unpack("<IHB", header)
        if checksum == 0 and length == 0 and kind == 0:
            if window.zeros_to_end(offset):
                return  # zeros to the end: space written ahead, nothing more
            raise TruncatedError(good, size, "an empty record header")
        body = window.get(offset + _RECORD_HEADER, length)
        if len(body) < length:
            raise TruncatedError(good, size, "a record is cut short")
        if zlib.crc32(body, zlib.crc32(bytes((kind,)))) != checksum:
            raise TruncatedError(good, size, "a record's checksum does not match")
        offset += _RECORD_HEADER + length
        if kind == _FULL and parts is None:
            good = offset
            yield body
        elif kind == _FIRST and parts is None:
            parts = [body]
        elif kind == _MIDDLE and parts is not None:
            parts.append(body)
        elif kind == _LAST and parts is not None:
            parts.append(body)
            good = offset
            yield b"".join(parts)
            parts = None
        else:
            raise TruncatedError(good, size, f"a record of type {kind} out of place")
    if parts is not None:
        raise TruncatedError(good, max(size, offset), "the last record's parts end early")


def _key(item: Any) -> str:
    return ".".join(item.nested_key) if item.nested_key else str(item.key)


def _json(text: str) -> Any:
    return json.loads(text)  # the stdlib parser: W&B writes NaN and Infinity as such


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if isinstance(value, float) else value


def _update(target: dict[str, Any], item: Any) -> None:
    key = _key(item)
    if key == "_wandb" or key.startswith("_wandb."):
        return
    target[key] = _json(item.value_json)


class _Run:
    """What the records of one ``.wandb`` file say, gathered as they are read."""

    def __init__(self, file: Path, project: str) -> None:
        self.run_id = file.stem.removeprefix("run-")
        self.project = project
        self.name = self.run_id
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.metrics: dict[str, Series] = {}
        self.metadata: dict[str, Any] = {}
        self.started: float | None = None
        self.ended: float | None = None
        self.status = "crashed"
        self.tool_status: str | None = None
        self.error: dict[str, str] | None = None
        self.last_time: float | None = None
        self.title: str | None = None
        self.tags: list[str] = []
        self.note: str | None = None
        self.left_out: dict[str, int] = {}

    def record(self, record: Any) -> None:
        kind = record.WhichOneof("record_type")
        handler = getattr(self, f"on_{kind}", None)
        if handler is not None:
            handler(getattr(record, kind))

    def on_run(self, run: Any) -> None:
        self.run_id = run.run_id or self.run_id
        self.project = run.project or self.project
        self.name = run.display_name or self.run_id
        self.title = run.display_name or None
        self.tags = list(run.tags)
        self.note = run.notes or None
        if run.HasField("start_time"):
            self.started = run.start_time.seconds + run.start_time.nanos / 1e9
        self.on_config(run.config)
        self.metadata.update(
            {
                "wandb.project": run.project,
                "wandb.entity": run.entity,
                "wandb.group": run.run_group,
                "wandb.job_type": run.job_type,
                "wandb.tags": list(run.tags),
                "wandb.notes": run.notes,
                "wandb.host": run.host,
            }
        )

    def on_config(self, config: Any) -> None:
        for item in config.update:
            _update(self.config, item)
        for item in config.remove:
            self.config.pop(_key(item), None)

    def on_summary(self, summary: Any) -> None:
        for item in summary.update:
            _update(self.summary, item)
        for item in summary.remove:
            self.summary.pop(_key(item), None)

    def on_history(self, history: Any) -> None:
        row = {_key(item): _json(item.value_json) for item in history.item}
        step = row.get("_step")
        if step is None and history.HasField("step"):
            step = history.step.num
        time = _number(row.get("_timestamp"))
        if time is not None:
            self.last_time = time
        for key, value in row.items():
            if key.startswith("_"):
                continue  # W&B's own columns
            number = _number(value)
            if number is None:  # bools, text, media, tables: counted for the report
                self.left_out[key] = self.left_out.get(key, 0) + 1
                continue
            series = self.metrics.get(key)
            if series is None:
                series = self.metrics[key] = Series()
            series.add(number, int(step) if step is not None else None, time)

    def on_exit(self, exit_record: Any) -> None:
        code = exit_record.exit_code
        self.tool_status = f"exit code {code}"
        self.status = "finished" if code == 0 else "failed"
        if code != 0:
            self.error = {"type": "ExitCode", "message": f"the run exited with code {code}"}
        if self.started is not None and exit_record.runtime:
            self.ended = self.started + exit_record.runtime


def _load(file: Path, project: str) -> RunData:
    from wandb.proto import wandb_internal_pb2

    state = _Run(file, project)
    notes: list[str] = []
    records = 0
    try:
        with open(file, "rb") as handle:
            for body in stream_records(handle, os.fstat(handle.fileno()).st_size):
                state.record(wandb_internal_pb2.Record.FromString(body))  # type: ignore[attr-defined]
                records += 1
    except TruncatedError as cut:
        if records == 0:
            raise ValueError(f"{file}: no record could be read: {cut}") from None
        notes.append(f"{file}: {cut}")
    if state.ended is None and state.status != "crashed":
        state.ended = state.last_time
    files_dir = file.parent / "files"
    artifacts = []
    if files_dir.is_dir():
        artifacts = sorted(
            os.path.abspath(path)  # the run's own entry, a link to the file or not
            for path in files_dir.rglob("*")
            if path.is_file() and path.relative_to(files_dir).as_posix() not in _OWN_FILES
        )
    return RunData(
        run_id=state.run_id,
        path=str(file),
        experiment=state.project,
        name=state.name,
        started=state.started,
        ended=state.ended,
        status=state.status,
        tool_status=state.tool_status,
        hyperparameters=state.config,
        metadata={**state.metadata, "summary": state.summary},
        metrics=state.metrics,
        artifacts=artifacts,
        error=state.error,
        notes=notes,
        title=state.title,
        tags=state.tags,
        note=state.note,
        left_out=dict(sorted(state.left_out.items())),  # W&B writes a row's keys in any order
    )


def _run_files(root: Path) -> list[Path]:
    if root.is_file() and root.suffix == ".wandb":
        return [root]
    for base in (root, root / "wandb"):
        found = sorted(base.glob("*run-*/run-*.wandb"))
        if found:
            return found
    return sorted(root.glob("run-*.wandb"))


def scan_run_folders(root: Path) -> tuple[list[RunRef], list[dict[str, Any]]]:
    """Every offline run under a folder, not read yet.

    Args:
        root: A ``wandb/`` folder, the folder holding it, one run's folder, or one
            ``.wandb`` file.

    Returns:
        The runs, ordered by the time in their folder's name, and nothing that
        failed (a damaged run fails when it is loaded).

    Example:
        >>> import tempfile
        >>> scan_run_folders(Path(tempfile.mkdtemp()))
        ([], [])
    """
    refs = []
    for file in _run_files(root):
        project, started = _head(file)
        refs.append(
            RunRef(
                run_id=file.stem.removeprefix("run-"),
                path=str(file),
                experiment=project,
                started=started,
                load=lambda f=file, p=project: _load(f, p),  # type: ignore[misc]
            )
        )
    return refs, []


def _head(file: Path) -> tuple[str, float | None]:
    """The project and start time from the run record near a file's start."""
    from wandb.proto import wandb_internal_pb2

    try:
        with open(file, "rb") as handle:
            # Read up to the run record only, however large it is (a big config).
            for body in stream_records(handle, os.fstat(handle.fileno()).st_size):
                record = wandb_internal_pb2.Record.FromString(body)  # type: ignore[attr-defined]
                if record.WhichOneof("record_type") == "run":
                    run = record.run
                    started = None
                    if run.HasField("start_time"):
                        started = run.start_time.seconds + run.start_time.nanos / 1e9
                    return run.project or _UNKNOWN_PROJECT, started
    except Exception:  # damaged or short: reported when the run is loaded
        return _UNKNOWN_PROJECT, None
    return _UNKNOWN_PROJECT, None
