"""Read an MLflow file store (``mlruns/``) without MLflow.

The layout: ``mlruns/<experiment id>/meta.yaml`` names an experiment; each run is a
folder beside it with its own ``meta.yaml``, ``params/<key>`` and ``tags/<key>``
(the file's text is the value; a key with ``/`` is a sub-folder) and
``metrics/<key>`` with one line per point: ``<timestamp ms> <value> [<step>]``.
Deleted experiments (in ``.trash``) and deleted runs are left out.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson

from experiment_manager.importers import _mlflow
from experiment_manager.importers._common import RunData, RunRef, Series

__all__ = ["SharedColumns", "read_metric_file", "scan_file_store"]

# File-store status numbers (mlflow.entities.RunStatus).
_STATUS_NAMES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*): ?(.*)")
_INT = re.compile(r"0|-?[1-9][0-9]*")
_QUOTED = re.compile(r"'((?:[^']|'')*)'")
_WORD = re.compile(r"[A-Za-z][^#]*")
# A run id (32 hex digits) may start with a digit; with a letter among them and no
# "0b" in front (YAML 1.1's binary int) no YAML resolver reads it as other than text.
_HEX = re.compile(r"(?!0b)[0-9a-f]*[a-f][0-9a-f]*")
# Plain words YAML 1.1 reads as something else than a string.
_SPECIAL = frozenset(("y", "n", "yes", "no", "true", "false", "on", "off", "null"))


def _flat_value(text: str) -> tuple[bool, Any]:
    """One value of a flat ``meta.yaml`` line, when it is one of the few plain forms."""
    if _INT.fullmatch(text):
        return True, int(text)
    quoted = _QUOTED.fullmatch(text)
    if quoted:
        return True, quoted.group(1).replace("''", "'")
    if text == "null":
        return True, None
    if text == "[]":
        return True, []
    if _HEX.fullmatch(text):
        return True, text
    if (
        _WORD.fullmatch(text)
        and ": " not in text
        and text == text.rstrip()
        and text.lower() not in _SPECIAL
    ):
        return True, text
    return False, None


def _yaml(path: Path) -> dict[str, Any]:
    """Read a ``meta.yaml``.

    MLflow writes flat ``key: value`` lines, read here directly; anything else (nested
    values, other scalars) goes to PyYAML's safe loader.
    """
    with open(path, "rb") as file:
        raw = file.read()
    text = raw.decode("utf-8", "surrogateescape")
    data: dict[str, Any] = {}
    for line in text.splitlines():
        match = _LINE.fullmatch(line)
        if match is None:
            break
        known, value = _flat_value(match.group(2))
        if not known or match.group(1) in data:
            break
        data[match.group(1)] = value
    else:
        if data:
            return data
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loaded = yaml.load(raw, Loader=loader)  # noqa: S506 (a safe loader)
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: not a mapping")
    return loaded


def _key_files(folder: Path) -> dict[str, str]:
    """Key to file of a ``params``/``tags``/``metrics`` folder (keys may hold ``/``)."""
    found: dict[str, str] = {}
    _walk(str(folder), "", found)
    return found


def _walk(parent: str, prefix: str, found: dict[str, str]) -> None:
    """Files of ``parent`` (sorted), then those of its sub-folders, as ``os.walk`` goes.

    A folder that cannot be listed (none at all, as a run without params) is passed
    over, as ``os.walk`` does.
    """
    try:
        with os.scandir(parent) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError:
        return
    folders = []
    for entry in entries:
        if entry.is_dir():
            if not entry.is_symlink():  # os.walk lists it as a folder, not entered
                folders.append(entry)
        else:
            found[prefix + entry.name] = entry.path
    for entry in folders:
        _walk(entry.path, prefix + entry.name + "/", found)


def read_metric_file(path: str | Path, shared: SharedColumns | None = None) -> Series:
    r"""Every point of one metric file, in the order it was logged.

    Each value is exactly what ``float()`` reads from its text (as MLflow's own
    reader does: NaN, infinities and ``-0.0`` included), each step and timestamp what
    ``int()`` reads. A line holds ``timestamp value`` (step 0, as MLflow reads it),
    ``timestamp value step``, or ``timestamp value step dataset digest`` (MLflow 3
    writes this for metrics tied to a dataset; the step is kept, the dataset's name
    and digest are not).

    Args:
        path: ``metrics/<key>`` of a run.
        shared: The columns of the run's metrics read before: a steps or times list
            equal to one of them is handed out as that same list (metrics logged
            together share them; the store then keeps them once, and they are
            built once).

    Returns:
        The values, steps and times (milliseconds turned into seconds, exactly
        ``ms / 1000``).

    Raises:
        ValueError: A line is not ``timestamp value [step]``.

    Example:
        >>> import tempfile
        >>> file = Path(tempfile.mkdtemp()) / "loss"
        >>> _ = file.write_text("1700000000000 0.5 0\n1700000000500 nan 1\n")
        >>> series = read_metric_file(file)
        >>> series.values[0], series.steps, series.times
        (0.5, [0, 1], [1700000000.0, 1700000000.5])
    """
    with open(path, "rb") as file:
        data = file.read()
    series = _parse_whole(data, shared if shared is not None else SharedColumns())
    if series is not None:
        return series
    series = Series()
    lines = data.splitlines()
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) not in (2, 3, 5):
                raise ValueError
            step = int(fields[2]) if len(fields) >= 3 else 0
            series.add(float(fields[1]), step, int(fields[0]) / 1000)
        except ValueError:
            shown = line[:80].decode("utf-8", "backslashreplace")
            raise ValueError(
                f"{path}: line {number} is not 'timestamp value [step]': {shown!r}"
            ) from None
    return series


# What a line of plain numbers holds besides its two spaces and newline: the bytes of
# JSON numbers (a subset of what float() and int() read, with the same values), and
# the carriage return of a file written on Windows.
_NUMBER_BYTES = b"0123456789.eE+-\r"
_NOT_SEPARATORS = bytes(sorted(set(range(256)) - set(b" \n")))
_TO_COMMAS = bytes.maketrans(b" \n", b",,")


def _parse_whole(data: bytes, shared: SharedColumns) -> Series | None:
    """A file of whole ``timestamp value step`` lines, in a few C-level passes.

    Returns None for anything else (a line of two or five fields, a bad line), which
    is then read line by line, and a bad line named.
    """
    lines = _lines(data.translate(None, _NUMBER_BYTES))
    if lines is not None:
        series = _parse_numbers(data, lines, shared)
        if series is not None:
            return series
    # Words too (nan, inf): every line still exactly three fields.
    lines = _lines(data.translate(None, _NOT_SEPARATORS))
    if lines is None:
        return None
    tokens = data.split()
    if len(tokens) != 3 * lines:
        return None
    try:
        stamps = list(map(int, tokens[0::3]))
        values = list(map(float, tokens[1::3]))
        steps: list[int | None] = list(map(int, tokens[2::3]))
    except ValueError:
        return None
    return Series(values=values, steps=shared.steps(steps), times=shared.times(stamps))


def _lines(rest: bytes) -> int | None:
    """How many lines of three fields a file has, told by what is left between them.

    ``rest`` is the file with its fields taken out: two spaces and a newline per line
    (the last newline optional) give the count of lines; anything else gives None.
    """
    whole, tail = divmod(len(rest), 3)
    if not rest or tail == 1:
        return None
    shape = b"  \n" * whole + (b"  " if tail else b"")
    return whole + (tail == 2) if rest == shape else None


def _parse_numbers(data: bytes, lines: int, shared: SharedColumns) -> Series | None:
    """Lines of three plain numbers, read as one JSON array (orjson parses in C).

    A JSON number parses to the float ``float()`` gives its text (correctly rounded,
    as Python's is) or to ``int()``'s int; an integer value is turned into that float.
    ``-0``, the one integer text whose float (``-0.0``) the int would lose, is left to
    the token-by-token reading. None when a stamp or step is not an integer or the
    text is not JSON (``1.``, ``+1``, ``01``): read otherwise then.
    """
    text = bytearray(b"[")
    text += data.translate(_TO_COMMAS)
    if text[-1] == ord(","):
        text[-1] = ord("]")
    else:
        text.append(ord("]"))
    try:
        flat = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if len(flat) != 3 * lines:
        return None
    stamps: list[int] = flat[0::3]
    steps: list[int | None] = flat[2::3]
    values: list[float] = flat[1::3]
    # Only numbers are there: a sum is an int only when every term is.
    if type(sum(stamps)) is not int or type(sum(steps)) is not int:  # type: ignore[arg-type]
        return None
    if set(map(type, values)) != {float}:
        if b" -0 " in data:  # only an int value can have been -0
            return None
        values = list(map(float, values))
    # JSON has no NaN or infinity, and orjson refuses a number too big for a float.
    return Series(values=values, steps=shared.steps(steps), times=shared.times(stamps), finite=True)


class SharedColumns:
    """The steps and times lists of one run's metrics, each distinct one kept once.

    Example:
        >>> shared = SharedColumns()
        >>> first = shared.times([1500, 2500])
        >>> first, shared.times([1500, 2500]) is first
        ([1.5, 2.5], True)
    """

    def __init__(self) -> None:
        self._steps: dict[tuple[int, Any, Any], list[list[int | None]]] = {}
        self._times: dict[tuple[int, Any, Any], list[tuple[list[int], list[float | None]]]] = {}

    def steps(self, steps: list[int | None]) -> list[int | None]:
        """``steps``, or the equal list met before.

        Args:
            steps: A metric's steps.

        Returns:
            The list to keep.
        """
        known = self._steps.setdefault(_mark(steps), [])
        for other in known:
            if other == steps:
                return other
        known.append(steps)
        return steps

    def times(self, stamps: list[int]) -> list[float | None]:
        """The seconds of ``stamps`` (milliseconds), each exactly ``ms / 1000``.

        Args:
            stamps: A metric's timestamps in milliseconds.

        Returns:
            The times, the list made for equal stamps before if there is one.
        """
        known = self._times.setdefault(_mark(stamps), [])
        for other, times in known:
            if other == stamps:
                return times
        # Python's int / int is correctly rounded: the float nearest ms / 1000.
        made: list[float | None] = [stamp / 1000 for stamp in stamps]
        known.append((stamps, made))
        return made


def _mark(column: list[Any]) -> tuple[int, Any, Any]:
    """What two equal lists have in common, cheap to compare first."""
    return (len(column), column[0], column[-1]) if column else (0, None, None)


def _texts(folder: Path) -> dict[str, str]:
    found = {}
    for key, path in _key_files(folder).items():
        with open(path, "rb") as file:
            found[key] = file.read().decode("utf-8", "surrogateescape")
    return found


def _load(run_dir: Path, meta: dict[str, Any], experiment: str) -> RunData:
    run_id = str(meta.get("run_id") or meta.get("run_uuid"))
    status = meta.get("status")
    status_name = _STATUS_NAMES.get(status, str(status)) if isinstance(status, int) else str(status)
    shared = SharedColumns()
    metrics = {
        key: read_metric_file(file, shared) for key, file in _key_files(run_dir / "metrics").items()
    }
    notes: list[str] = []
    folder, note = _mlflow.local_artifact_dir(meta.get("artifact_uri"), run_dir / "artifacts")
    if note:
        notes.append(note)
    return _mlflow.build_run(
        run_id=run_id,
        path=str(run_dir),
        experiment=experiment,
        run_name=meta.get("run_name") or None,
        status=status_name,
        start_ms=meta.get("start_time"),
        end_ms=meta.get("end_time"),
        user=meta.get("user_id"),
        params=_texts(run_dir / "params"),
        tags=_texts(run_dir / "tags"),
        metrics=metrics,
        artifacts=_mlflow.artifact_files(folder),
        notes=notes,
    )


def _experiment_dirs(root: Path) -> list[Path]:
    if (root / "meta.yaml").is_file():  # SOURCE is one experiment's folder
        return [root]
    return sorted(
        child
        for child in root.iterdir()
        if child.is_dir() and not child.name.startswith(".") and (child / "meta.yaml").is_file()
    )


def scan_file_store(root: Path) -> tuple[list[RunRef], list[dict[str, Any]]]:
    """Every live run of every live experiment of a file store, not read yet.

    Args:
        root: The ``mlruns/`` folder (or one experiment's folder in it).

    Returns:
        The runs, and ``{"path", "reason"}`` of experiments and runs whose
        ``meta.yaml`` cannot be read.

    Example:
        >>> import tempfile
        >>> scan_file_store(Path(tempfile.mkdtemp()))
        ([], [])
    """
    refs: list[RunRef] = []
    failed: list[dict[str, Any]] = []
    for experiment_dir in _experiment_dirs(root):
        try:
            experiment_meta = _yaml(experiment_dir / "meta.yaml")
        except Exception as error:  # a damaged experiment is reported; the rest go on
            failed.append({"path": str(experiment_dir / "meta.yaml"), "reason": str(error)})
            continue
        if experiment_meta.get("lifecycle_stage") == "deleted":
            continue
        name = str(experiment_meta.get("name") or experiment_dir.name)
        for run_dir in sorted(experiment_dir.iterdir()):
            meta_path = run_dir / "meta.yaml"
            if not run_dir.is_dir() or not meta_path.exists():
                continue
            try:
                meta = _yaml(meta_path)
            except Exception as error:
                failed.append({"path": str(run_dir), "run_id": run_dir.name, "reason": str(error)})
                continue
            if not (meta.get("run_id") or meta.get("run_uuid")):
                continue  # a logged model's or dataset's folder, not a run
            if meta.get("lifecycle_stage") == "deleted":
                continue
            start = meta.get("start_time")
            refs.append(
                RunRef(
                    run_id=str(meta.get("run_id") or meta.get("run_uuid")),
                    path=str(run_dir),
                    experiment=name,
                    started=start / 1000 if isinstance(start, (int, float)) else None,
                    load=lambda d=run_dir, m=meta, n=name: _load(d, m, n),  # type: ignore[misc]
                )
            )
    return refs, failed
