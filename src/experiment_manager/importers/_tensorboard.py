"""Read TensorBoard event files with tensorboard's protobufs (no TensorFlow needed).

Every folder under SOURCE that holds ``*tfevents*`` files is one run; its files are
read whole, in name order (no sampling, unlike TensorBoard's ``EventAccumulator``),
and a file cut short or damaged is read up to the first bad record, which the report
names (tensorboard's own loader stops there without a word).
Scalars are taken in both spellings: ``simple_value`` (``SummaryWriter`` by default,
tensorboardX) and a scalar tensor under the ``scalars`` plugin (TF2's
``tf.summary.scalar``, ``SummaryWriter(new_style=True)``). The hparams plugin's
session data gives the hyperparameters (a whole number written as a double becomes an
int) and, when a session end was written, the status.

``SummaryWriter.add_hparams`` (torch's and tensorboardX's) writes its hyperparameters
and metric values into a sub-folder of the run's folder, which holds nothing else; such
a folder is read as part of the run it lies in, not as a run of its own.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from experiment_manager.importers._common import RunData, RunRef, Series

__all__ = ["event_files", "read_events", "scan_event_folders"]

# hparams plugin session status (tensorboard.plugins.hparams.api_pb2.Status).
_SESSION_STATUS = {1: "finished", 2: "failed", 3: "crashed"}


def event_files(folder: Path) -> list[Path]:
    """The event files directly in a folder, in name order (the order they were written).

    Args:
        folder: A run folder.

    Returns:
        The files.

    Example:
        >>> event_files(Path("/nonexistent"))
        []
    """
    try:
        names = sorted(name for name in os.listdir(folder) if "tfevents" in name)
    except OSError:
        return []
    return [folder / name for name in names if (folder / name).is_file()]


def _hparam(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "list_value":
        return [_hparam(item) for item in value.list_value.values]
    return None


class _Reader:
    """The state of reading one run: its series, hyperparameters and times."""

    def __init__(self) -> None:
        from tensorboard.util import tensor_util

        self.make_ndarray = tensor_util.make_ndarray
        self.metrics: dict[str, Series] = {}
        self.plugins: dict[str, str] = {}
        self.hyperparameters: dict[str, Any] = {}
        self.status = "finished"
        self.tool_status: str | None = None
        self.first: float | None = None
        self.last: float | None = None
        self.ended: float | None = None

    def add(self, tag: str, value: float, step: int, time: float) -> None:
        series = self.metrics.get(tag)
        if series is None:
            series = self.metrics[tag] = Series()
        series.add(value, step, time)

    def event(self, event: Any) -> None:
        time = event.wall_time
        if self.first is None or time < self.first:
            self.first = time
        if self.last is None or time > self.last:
            self.last = time
        if not event.HasField("summary"):
            return
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            tag = value.tag
            if kind == "simple_value":
                self.add(tag, float(value.simple_value), event.step, time)
                continue
            if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
                # TF writes a tag's metadata with its first value only.
                self.plugins[tag] = value.metadata.plugin_data.plugin_name
            plugin = self.plugins.get(tag)
            if kind == "tensor" and plugin == "scalars":
                array = self.make_ndarray(value.tensor)
                if array.size == 1:
                    self.add(tag, float(array.reshape(()).item()), event.step, time)
            elif plugin == "hparams":
                self.hparams(value.metadata.plugin_data.content)

    def hparams(self, content: bytes) -> None:
        from tensorboard.plugins.hparams import plugin_data_pb2

        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        which = data.WhichOneof("data")
        if which == "session_start_info":
            for key, value in data.session_start_info.hparams.items():
                self.hyperparameters[key] = _hparam(value)
        elif which == "session_end_info":
            end = data.session_end_info
            self.tool_status = {0: "STATUS_UNKNOWN", 1: "STATUS_SUCCESS", 2: "STATUS_FAILURE"}.get(
                end.status, "STATUS_RUNNING"
            )
            self.status = _SESSION_STATUS.get(end.status, "finished")
            if end.end_time_secs:
                self.ended = end.end_time_secs


def read_events(data: bytes) -> Iterator[bytes]:
    """The serialized events of an event file's bytes (TFRecord framing), in order.

    Each record is a little-endian 64-bit length, its masked CRC-32C, the data and
    the data's CRC. The length's checksum is checked (so junk is not taken for a
    record); the data's is not (it would cost a pure-Python CRC of every byte), but
    each event must parse.

    Args:
        data: The file's bytes.

    Yields:
        Each record's data.

    Raises:
        ValueError: At the first record that is cut short or damaged, naming its
            byte offset (the records before it were yielded).

    Example:
        >>> list(read_events(b""))
        []
    """
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    offset, size = 0, len(data)
    while offset < size:
        if offset + 12 > size:
            raise ValueError(f"cut short at byte {offset} of {size}")
        header = data[offset : offset + 8]
        (length,) = struct.unpack("<Q", header)
        (checksum,) = struct.unpack_from("<I", data, offset + 8)
        if masked_crc32c(header) != checksum:
            raise ValueError(f"damaged at byte {offset} of {size} (bad length checksum)")
        end = offset + 12 + length + 4
        if end > size:
            raise ValueError(f"cut short at byte {offset} of {size}")
        yield data[offset + 12 : offset + 12 + length]
        offset = end


#: A folder bigger than this is not taken for ``add_hparams``' output (a few events).
_HPARAMS_FOLDER_BYTES = 1 << 20


def _hparams_only(files: list[Path]) -> bool:
    """Whether event files are what ``add_hparams`` writes in its sub-folder, and only that.

    That is: the hparams plugin's experiment and session start, and scalars of the
    metrics the experiment names (the ``metric_dict`` values), nothing else.
    """
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.hparams import plugin_data_pb2

    try:
        if sum(file.stat().st_size for file in files) > _HPARAMS_FOLDER_BYTES:
            return False
        metrics: set[str] = set()
        scalars: set[str] = set()
        started = False
        for file in files:
            for record in read_events(file.read_bytes()):
                event = event_pb2.Event.FromString(record)
                for value in event.summary.value if event.HasField("summary") else ():
                    plugin = value.metadata.plugin_data
                    if plugin.plugin_name == "hparams":
                        data = plugin_data_pb2.HParamsPluginData.FromString(plugin.content)
                        which = data.WhichOneof("data")
                        if which == "experiment":
                            metrics.update(m.name.tag for m in data.experiment.metric_infos)
                        started = started or which == "session_start_info"
                    elif value.WhichOneof("value") == "simple_value":
                        scalars.add(value.tag)
                    else:
                        return False
    except Exception:  # damaged: then it is a run of its own, and reported as such
        return False
    return started and scalars <= metrics


def _load(
    folder: Path, root: Path, run_id: str, experiment: str, attached: tuple[Path, ...] = ()
) -> RunData:
    from tensorboard.compat.proto import event_pb2

    reader = _Reader()
    notes: list[str] = []
    files = event_files(folder)
    read_any = False
    # add_hparams' sub-folders after the run's own files: their values are the last word.
    for file in [*files, *(file for sub in attached for file in event_files(sub))]:
        count = 0
        try:
            for record in read_events(file.read_bytes()):
                reader.event(event_pb2.Event.FromString(record))
                count += 1
        except Exception as error:  # a damaged file: keep what came before it
            notes.append(f"{file}: read {count} event(s), the rest is unreadable: {error}")
        read_any = read_any or count > 0
    if not read_any:
        raise ValueError(f"{folder}: no event could be read ({'; '.join(notes)})")
    relative = folder.relative_to(root).as_posix()
    return RunData(
        run_id=run_id,
        path=str(folder),
        experiment=experiment,
        name=root.name if relative == "." else relative,
        started=reader.first,
        ended=reader.ended if reader.ended is not None else reader.last,
        status=reader.status,
        tool_status=reader.tool_status,
        hyperparameters=reader.hyperparameters,
        metadata={
            "tensorboard.run": relative,
            "tensorboard.event_files": [f.name for f in files],
            **(
                {
                    "tensorboard.hparams_folders": [
                        sub.relative_to(folder).as_posix() for sub in attached
                    ]
                }
                if attached
                else {}
            ),
        },
        metrics=reader.metrics,
        notes=notes,
    )


def scan_event_folders(root: Path) -> tuple[list[RunRef], list[dict[str, Any]]]:
    """Every run (folder holding event files) under a TensorBoard log folder.

    A run's id is its folder relative to ``root`` and its first event file's name
    (``train/events.out.tfevents.1700000000.host.12.0``), which does not change when
    the folder is copied elsewhere.

    Args:
        root: The log folder (``--logdir`` of TensorBoard), or one run's folder.

    Returns:
        The runs (ordered by their first event file's time), and nothing that failed
        (a run that cannot be read fails when it is loaded).

    Example:
        >>> import tempfile
        >>> scan_event_folders(Path(tempfile.mkdtemp()))
        ([], [])
    """
    refs = []
    experiment = root.name
    found: dict[Path, list[Path]] = {}
    for parent, dirs, _ in os.walk(root):
        dirs.sort()
        files = event_files(Path(parent))
        if files:
            found[Path(parent)] = files
    # add_hparams' sub-folders belong to the run whose folder holds them.
    attached: dict[Path, list[Path]] = {}
    for folder, files in found.items():
        if folder != root and folder.parent in found and _hparams_only(files):
            attached.setdefault(folder.parent, []).append(folder)
    hparams_folders = {sub for subs in attached.values() for sub in subs}
    for folder, files in found.items():
        if folder in hparams_folders:
            continue
        relative = folder.relative_to(root).as_posix()
        run_id = f"{relative}/{files[0].name}"
        try:
            started: float | None = files[0].stat().st_mtime
            parts = files[0].name.split(".")
            stamp = parts[parts.index("tfevents") + 1]
            started = float(stamp) if stamp.isdigit() else started
        except (OSError, ValueError, IndexError):
            started = None
        refs.append(
            RunRef(
                run_id=run_id,
                path=str(folder),
                experiment=experiment,
                started=started,
                load=functools.partial(
                    _load, folder, root, run_id, experiment, tuple(attached.get(folder, ()))
                ),
            )
        )
    return refs, []
