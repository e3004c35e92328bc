"""export() and to_dataframe(): files read back with independent parsers.

Expected rows are computed here from ``read_history`` (the points), flattened by the
documented rules, so the files are checked against the data, not against the code
that wrote them.
"""

from __future__ import annotations

import builtins
import csv
import json
import math
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import experiment_manager.export as export_module
from experiment_manager import ExperimentManager
from experiment_manager import _serialize as serialize
from experiment_manager.cli import main
from experiment_manager.errors import (
    ExperimentManagerError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    QuerySyntaxError,
)
from tests._util import across_processes, assert_same, strict_loads, write_script

# Every test runs on every store (see each_store in conftest.py): small and big folder
# histories, the in-memory store and PostgreSQL; files_only tests look at folder files.
pytestmark = pytest.mark.usefixtures("each_store")

NAN = math.nan
INF = math.inf
LEADING = ("experiment_id", "version", "status", "config_name", "created_at", "ended_at")
AGGREGATES = ("last", "min", "max", "mean", "count")
LONG_COLUMNS = ["experiment_id", "version", "metric", "index", "step", "timestamp", "value"]
TEXT_FORMATS = ("csv", "json", "jsonl")
ALL_FORMATS = (*TEXT_FORMATS, "parquet")


@pytest.fixture
def manager(tmp_path: Path) -> ExperimentManager:
    """Two experiments with nested hyperparameters, non-finite values and streamed steps."""
    manager = ExperimentManager(tmp_path / "logs", capture_environment=False)
    manager.start_experiment(
        "cfg_a",
        {"lr": 0.1, "opt": {"name": "sgd", "betas": [0.9, 0.99]}, "flag": True, "eps": NAN},
        {"note": "first"},
        experiment_id="alpha",
    )
    manager.log_metrics({"loss": [0.5, NAN, 0.25, INF]})
    manager.log({"acc": 0.3}, step=5)
    manager.log({"acc": -INF}, step=7)
    manager.end_experiment()
    manager.start_experiment(
        "cfg_a",
        {"lr": 0.01, "opt": {"name": "adam", "betas": [0.8, 0.9]}, "flag": False, "eps": 1e-8},
        {"note": "second"},
        experiment_id="alpha",
    )
    manager.log_metrics({"loss": [0.4, 0.3]})
    manager.end_experiment("failed")
    manager.start_experiment(
        "cfg_b", {"lr": 0.5, "layers": {"enc": {"depth": 3}}}, {}, experiment_id="beta"
    )
    manager.log_metrics({"loss": [NAN]})
    manager.log({"val": 1.0})
    manager.log({"val": 2.0})
    manager.end_experiment("killed")
    return manager


# -- expected rows, computed here -----------------------------------------------------


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _aggregate(values: list[Any], agg: str) -> Any:
    if agg == "count":
        return len(values)
    if agg == "last":
        return values[-1] if values else None
    usable = [v for v in values if not _is_nan(v)]
    if not usable:
        return None
    if agg == "min":
        return min(usable)
    if agg == "max":
        return max(usable)
    try:
        return math.fsum(usable) / len(usable)
    except ValueError:
        return NAN


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    elif isinstance(value, (list, Mapping)):
        out[prefix] = json.dumps(value, separators=(",", ":"))
    else:
        out[prefix] = value


def _records(manager: ExperimentManager, experiment_id: str | None) -> list[dict[str, Any]]:
    ids = [experiment_id] if experiment_id else ["alpha", "beta"]
    return [record for i in ids for record in manager.read_history(i)]


def expected_wide(
    manager: ExperimentManager,
    experiment_id: str | None = None,
    keep: Any = None,
) -> list[dict[str, Any]]:
    rows = []
    for record in _records(manager, experiment_id):
        if keep is not None and not keep(record):
            continue
        row: dict[str, Any] = {key: record.get(key) for key in LEADING}
        row["duration"] = record.get("duration")
        _flatten("hyperparameters", record["hyperparameters"], row)
        _flatten("metadata", record["metadata"], row)
        for name in sorted(record["metrics"]):
            for agg in AGGREGATES:
                row[f"metrics.{name}.{agg}"] = _aggregate(record["metrics"][name], agg)
        rows.append(row)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return [{column: row.get(column) for column in columns} for row in rows]


def expected_long(
    manager: ExperimentManager, experiment_id: str | None = None, keep: Any = None
) -> list[dict[str, Any]]:
    rows = []
    for record in _records(manager, experiment_id):
        if keep is not None and not keep(record):
            continue
        steps = record.get("steps") or {}
        times = record.get("timestamps") or {}
        for name, values in record["metrics"].items():
            for index, value in enumerate(values):
                rows.append(
                    {
                        "experiment_id": record["experiment_id"],
                        "version": record["version"],
                        "metric": name,
                        "index": index,
                        "step": steps[name][index] if name in steps else None,
                        "timestamp": times[name][index] if name in times else None,
                        "value": value,
                    }
                )
    return rows


def expected(manager: ExperimentManager, shape: str, **kwargs: Any) -> list[dict[str, Any]]:
    return (expected_wide if shape == "wide" else expected_long)(manager, **kwargs)


# -- reading the files back -----------------------------------------------------------


def _json_form(value: Any) -> Any:
    """A value as strict JSON output holds it: non-finite floats as their names."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _csv_form(value: Any) -> str:
    return "" if value is None else str(value)


def _parquet_form(key: str, value: Any) -> Any:
    """What Parquet holds for a row's value: times as UTC timestamps, lists as lists."""
    if value is None:
        return None
    if key in ("created_at", "ended_at"):
        return datetime.fromisoformat(value).timestamp()
    if key == "timestamp":  # microseconds, as Parquet keeps them
        return datetime.fromtimestamp(value, timezone.utc).timestamp()
    if key.startswith(("hyperparameters.", "metadata.")) and str(value).startswith("["):
        return json.loads(value)  # the rows' JSON text of a list
    return value


def read_back(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_table(path).to_pylist())
    text = path.read_text(encoding="utf-8")
    if fmt == "json":
        loaded = strict_loads(text)
        assert isinstance(loaded, list)
        return loaded
    if fmt == "jsonl":
        assert text == "" or text.endswith("\n")
        return [strict_loads(line) for line in text.splitlines()]
    raise AssertionError(fmt)


def assert_file_holds(path: Path, fmt: str, rows: list[dict[str, Any]]) -> None:
    found = read_back(path, fmt)
    assert len(found) == len(rows)
    for got, want in zip(found, rows, strict=True):
        assert list(got) == list(want)  # the same columns, in the same order
        if fmt == "csv":
            assert got == {key: _csv_form(value) for key, value in want.items()}
        elif fmt == "parquet":
            times = {k: v.timestamp() if isinstance(v, datetime) else v for k, v in got.items()}
            assert_same(times, {key: _parquet_form(key, value) for key, value in want.items()})
        else:
            assert_same(got, {key: _json_form(value) for key, value in want.items()})


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


#: What a store of the test keeps under ``tmp_path``: the folder store its log folder,
#: the PostgreSQL store its local journals (see tests/conftest.py). Not export output.
STORE_ENTRIES = ("logs", "spool")


def outputs(folder: Path) -> list[str]:
    """:func:`listing` of ``folder`` without the entries the store keeps there."""
    return [name for name in listing(folder) if name not in STORE_ENTRIES]


# -- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("shape", ["wide", "long"])
def test_export_round_trips(
    manager: ExperimentManager, tmp_path: Path, fmt: str, shape: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / f"runs.{fmt}"
    rows = expected(manager, shape)
    assert len(rows) == (3 if shape == "wide" else 11)
    assert manager.export(target, fmt, shape=shape) == len(rows)
    assert_file_holds(target, fmt, rows)
    assert listing(out) == [target.name]  # no temp file left behind


def test_wide_columns_flatten_nested_hyperparameters(manager: ExperimentManager) -> None:
    rows = expected_wide(manager)
    columns = list(rows[0])
    assert columns[:7] == [*LEADING, "duration"]
    assert "hyperparameters.opt.name" in columns
    assert "hyperparameters.layers.enc.depth" in columns
    assert "hyperparameters.opt" not in columns
    assert rows[0]["hyperparameters.opt.betas"] == "[0.9,0.99]"
    assert rows[2]["hyperparameters.layers.enc.depth"] == 3
    assert rows[2]["hyperparameters.opt.name"] is None
    assert rows[0]["metrics.acc.min"] == -INF
    assert rows[0]["metrics.loss.max"] == INF
    assert rows[2]["metrics.loss.min"] is None  # only NaN
    assert _is_nan(rows[2]["metrics.loss.last"])


def test_non_finite_values_in_each_format(manager: ExperimentManager, tmp_path: Path) -> None:
    for fmt in TEXT_FORMATS:
        manager.export(tmp_path / f"w.{fmt}", fmt)
    first_csv = read_back(tmp_path / "w.csv", "csv")[0]
    assert first_csv["hyperparameters.eps"] == "nan"
    assert first_csv["metrics.loss.max"] == "inf"
    assert first_csv["metrics.acc.min"] == "-inf"
    for fmt in ("json", "jsonl"):
        (tmp_path / f"w.{fmt}").read_text(encoding="utf-8")
        first = read_back(tmp_path / f"w.{fmt}", fmt)[0]
        assert first["hyperparameters.eps"] == "NaN"
        assert first["metrics.loss.max"] == "Infinity"
        assert first["metrics.acc.min"] == "-Infinity"
    manager.export(tmp_path / "l.json", "json", shape="long")
    values = [row["value"] for row in read_back(tmp_path / "l.json", "json")]
    assert values[:4] == [0.5, "NaN", 0.25, "Infinity"]
    assert "-Infinity" in values


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("shape", ["wide", "long"])
def test_export_applies_the_query_and_the_experiment(
    manager: ExperimentManager, tmp_path: Path, fmt: str, shape: str
) -> None:
    target = tmp_path / f"q.{fmt}"
    query = "hyperparameters.lr < 0.2 and metrics.loss.count >= 2"
    rows = expected(
        manager,
        shape,
        keep=lambda r: r["hyperparameters"]["lr"] < 0.2 and len(r["metrics"]["loss"]) >= 2,
    )
    assert manager.export(target, fmt, query=query, shape=shape) == len(rows)
    assert {(r["experiment_id"], r["version"]) for r in rows} == {("alpha", 1), ("alpha", 2)}
    assert_file_holds(target, fmt, rows)

    only_beta = expected(manager, shape, experiment_id="beta")
    assert manager.export(target, fmt, experiment_id="beta", shape=shape) == len(only_beta)
    assert_file_holds(target, fmt, only_beta)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_export_of_no_rows(manager: ExperimentManager, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"none.{fmt}"
    assert manager.export(target, fmt, query="version > 99") == 0
    assert read_back(target, fmt) == []


def test_export_reports_progress_every_ten_thousand_rows(tmp_path: Path) -> None:
    manager = ExperimentManager(tmp_path / "logs", capture_environment=False)
    manager.start_experiment("cfg", {}, {}, experiment_id="big")
    manager.log_metrics({"x": [float(i) for i in range(25_000)]})
    manager.end_experiment()
    calls: list[int] = []
    target = tmp_path / "big.jsonl"
    assert manager.export(target, "jsonl", shape="long", progress=calls.append) == 25_000
    assert calls == [10_000, 20_000]
    lines = target.read_text(encoding="utf-8").splitlines()
    assert strict_loads(lines[24_999])["value"] == 24_999.0


def test_export_errors_create_no_file(manager: ExperimentManager, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with pytest.raises(InvalidArgumentError):
        manager.export(target, "xlsx")
    with pytest.raises(InvalidArgumentError):
        manager.export(target, "csv", shape="tall")
    with pytest.raises(QuerySyntaxError):
        manager.export(target, "csv", query="hp.lr <")
    with pytest.raises(ExperimentNotFoundError):
        manager.export(target, "csv", experiment_id="gamma")
    with pytest.raises(ExperimentNotFoundError):
        manager.export(tmp_path / "out.parquet", "parquet", experiment_id="gamma")
    assert outputs(tmp_path) == []


def test_parquet_with_a_column_of_mixed_types(tmp_path: Path) -> None:
    # The same hyperparameter may be a number in one version and a string in another
    # ("lr": 0.1, then "lr": "auto"); CSV and JSON export that fine. Parquet must either
    # write it or refuse with the library's documented error, not a raw pyarrow one.
    manager = ExperimentManager(tmp_path / "logs", capture_environment=False)
    for lr in (0.1, "auto"):
        manager.start_experiment("cfg", {"lr": lr}, {}, experiment_id="mixed")
        manager.end_experiment()
    target = tmp_path / "mixed.parquet"
    failure: Exception | None = None
    try:
        written = manager.export(target, "parquet")
    except Exception as error:  # checked below: only the library's own errors are fine
        failure = error
    if failure is not None:
        assert isinstance(failure, ExperimentManagerError), repr(failure)
        assert not target.exists()
        return
    assert written == 2
    rows = read_back(target, "parquet")
    assert [(r["experiment_id"], r["version"]) for r in rows] == [("mixed", 1), ("mixed", 2)]
    assert [str(r["hyperparameters.lr"]) for r in rows] == ["0.1", "auto"]


# -- to_dataframe ---------------------------------------------------------------------


def _frame_value_matches(got: Any, want: Any) -> bool:
    """pandas turns None into NaN (or None) and ints beside a None into floats."""
    import pandas as pd

    if want is None:
        return bool(pd.isna(got))
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(want, bool):
        return type(got).__name__ in ("bool", "bool_") and bool(got) is want
    return bool(got == want)


@pytest.mark.parametrize("shape", ["wide", "long"])
def test_to_dataframe_equals_the_rows(manager: ExperimentManager, shape: str) -> None:
    rows = expected(manager, shape)
    frame = manager.to_dataframe(shape=shape)
    assert list(frame.columns) == list(rows[0])
    assert len(frame) == len(rows)
    for got, want in zip(frame.to_dict("records"), rows, strict=True):
        for column, value in want.items():
            assert _frame_value_matches(got[column], value), (column, got[column], value)
    filtered = manager.to_dataframe(query="status = 'killed'", shape=shape)
    assert set(filtered["experiment_id"]) == {"beta"}
    assert len(manager.to_dataframe(experiment_id="alpha", shape=shape)) == len(
        expected(manager, shape, experiment_id="alpha")
    )
    with pytest.raises(InvalidArgumentError):
        manager.to_dataframe(shape="tall")


# -- atomicity ------------------------------------------------------------------------


class BoomError(RuntimeError):
    pass


def _failing(rows: Any, after: int) -> Iterator[dict[str, Any]]:
    for number, row in enumerate(rows):
        if number == after:
            raise BoomError("the row source failed midway")
        yield row


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("shape", ["wide", "long"])
def test_a_failing_row_source_leaves_the_target_unchanged(
    manager: ExperimentManager,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    shape: str,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / f"runs.{fmt}"
    target.write_bytes(b"previous export, must survive")
    real_wide, real_long = export_module.wide_rows, export_module.long_rows
    monkeypatch.setattr(export_module, "wide_rows", lambda records: _failing(real_wide(records), 2))
    monkeypatch.setattr(
        export_module,
        "long_rows",
        lambda records, **options: _failing(real_long(records, **options), 5),
    )
    with pytest.raises(BoomError):
        manager.export(target, fmt, shape=shape)
    assert target.read_bytes() == b"previous export, must survive"
    assert listing(out) == [target.name]


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_a_failing_text_writer_leaves_the_target_unchanged(
    manager: ExperimentManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    target = tmp_path / f"runs.{fmt}"
    target.write_bytes(b"old")
    calls = {"n": 0}

    def fail_on_third(real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 3:
                raise BoomError("disk full")
            return real(*args, **kwargs)

        return call

    # JSON rows go through the serializer, CSV rows through DictWriter.writerow.
    monkeypatch.setattr(serialize, "dumps", fail_on_third(serialize.dumps))
    monkeypatch.setattr(csv.DictWriter, "writerow", fail_on_third(csv.DictWriter.writerow))
    with pytest.raises(BoomError):
        manager.export(target, fmt, shape="long")
    assert calls["n"] == 3
    assert target.read_bytes() == b"old"
    assert outputs(tmp_path) == [target.name]


def test_a_failing_parquet_writer_leaves_the_target_unchanged(
    manager: ExperimentManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    target = tmp_path / "runs.parquet"
    target.write_bytes(b"old")

    def half_written(table: Any, where: Any, *args: Any, **kwargs: Any) -> None:
        where.write(b"PAR1 half a file")  # the export's own temp file, open for writing
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", half_written)
    with pytest.raises(OSError, match="disk full"):
        manager.export(target, "parquet")
    assert target.read_bytes() == b"old"
    assert outputs(tmp_path) == [target.name]


def test_a_successful_export_replaces_the_target(
    manager: ExperimentManager, tmp_path: Path
) -> None:
    for fmt in ALL_FORMATS:
        target = tmp_path / f"runs.{fmt}"
        target.write_bytes(b"old")
        manager.export(target, fmt)
        assert_file_holds(target, fmt, expected_wide(manager))
    assert outputs(tmp_path) == sorted(f"runs.{fmt}" for fmt in ALL_FORMATS)


# -- optional dependencies ------------------------------------------------------------


def test_parquet_without_pyarrow_names_the_extra(
    manager: ExperimentManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in sys.modules if n == "pyarrow" or n.startswith("pyarrow.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    target = tmp_path / "runs.parquet"
    target.write_bytes(b"old")
    with pytest.raises(InvalidArgumentError) as error:
        manager.export(target, "parquet")
    assert 'pip install "experiment-manager[parquet]"' in str(error.value)
    assert target.read_bytes() == b"old"
    assert outputs(tmp_path) == ["runs.parquet"]
    # The text formats do not need it.
    manager.export(tmp_path / "runs.csv", "csv")
    assert len(read_back(tmp_path / "runs.csv", "csv")) == 3


def _hide(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == package or name.startswith(package + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_parquet_without_pyarrow_via_import_hook(
    manager: ExperimentManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hide(monkeypatch, "pyarrow")
    with pytest.raises(InvalidArgumentError, match=r"experiment-manager\[parquet\]"):
        manager.export(tmp_path / "runs.parquet", "parquet", shape="long")
    assert not (tmp_path / "runs.parquet").exists()


def test_to_dataframe_without_pandas_names_the_extra(
    manager: ExperimentManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(InvalidArgumentError) as error:
        manager.to_dataframe()
    assert 'pip install "experiment-manager[pandas]"' in str(error.value)
    monkeypatch.undo()
    _hide(monkeypatch, "pandas")
    with pytest.raises(InvalidArgumentError, match=r"experiment-manager\[pandas\]"):
        manager.to_dataframe(shape="long")


# -- the temp file: exclusive, never through a link, one per export -----------------


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_a_symlink_planted_at_the_temp_name_is_never_written_through(
    manager: ExperimentManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"someone else's file")
    target = out / f"runs.{fmt}"
    # The fixed name older versions used, and the exact random names this export will
    # draw first: a link to the victim and a dangling link (which a plain O_CREAT open
    # would create the file behind).
    names = iter(["planted", "dangling", "free"])
    monkeypatch.setattr(secrets, "token_hex", lambda size: next(names))
    planted = {
        out / f".runs.{fmt}.tmp": victim,
        out / f".runs.{fmt}.planted.tmp": victim,
        out / f".runs.{fmt}.dangling.tmp": tmp_path / "created-behind-a-link",
    }
    for link, pointee in planted.items():
        link.symlink_to(pointee)
    manager.export(target, fmt)
    assert victim.read_bytes() == b"someone else's file"
    assert not (tmp_path / "created-behind-a-link").exists()
    for link, pointee in planted.items():
        assert link.is_symlink()
        assert link.readlink() == pointee
    assert not target.is_symlink()
    assert_file_holds(target, fmt, expected_wide(manager))
    assert listing(out) == sorted([target.name, *(link.name for link in planted)])


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_expm_export_does_not_follow_a_planted_temp_symlink(
    manager: ExperimentManager, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"someone else's file")
    (out / f".runs.{fmt}.tmp").symlink_to(victim)
    target = out / f"runs.{fmt}"
    result = CliRunner().invoke(
        main, ["--log-dir", str(manager.log_dir), "export", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert victim.read_bytes() == b"someone else's file"
    assert_file_holds(target, fmt, expected_wide(manager))
    assert listing(out) == sorted([target.name, f".runs.{fmt}.tmp"])


def test_an_export_into_a_missing_folder_fails_and_leaves_nothing(
    manager: ExperimentManager, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        manager.export(tmp_path / "missing" / "runs.csv", "csv")
    assert outputs(tmp_path) == []


CONCURRENT_EXPORTER = """\
import sys
import time
from pathlib import Path

from experiment_manager import ExperimentManager

log_dir, fmt, own, shared, start_at, rounds = sys.argv[1:]
manager = ExperimentManager(log_dir)
manager.export(own, fmt)  # this process's output, to compare the shared file with
while time.time() < float(start_at):
    time.sleep(0.001)
for _ in range(int(rounds)):
    manager.export(shared, fmt)
print("done", flush=True)
"""


def _fill(log_dir: Path, label: str, versions: int) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    for version in range(versions):
        manager.start_experiment(label, {"label": label, "i": version}, {})
        manager.log_metrics({"loss": [float(i) for i in range(version + 1)]})
        manager.end_experiment()


@across_processes
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_two_processes_exporting_to_one_target_never_mix_their_outputs(
    tmp_path: Path, fmt: str, process_log_dir: Callable[[Path], str]
) -> None:
    script = write_script(tmp_path / "scripts", "exporter.py", CONCURRENT_EXPORTER)
    shared = tmp_path / "out" / f"runs.{fmt}"
    shared.parent.mkdir()
    _fill(tmp_path / "logs_a", "a", 40)
    _fill(tmp_path / "logs_b", "b", 60)
    start_at = time.time() + 1.5  # both interpreters are up by then
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                process_log_dir(tmp_path / f"logs_{label}"),
                fmt,
                str(tmp_path / f"own_{label}.{fmt}"),
                str(shared),
                repr(start_at),
                "40",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label in ("a", "b")
    ]
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        assert stdout == "done\n"
    own = {(tmp_path / f"own_{label}.{fmt}").read_bytes() for label in ("a", "b")}
    assert len(own) == 2
    assert shared.read_bytes() in own
    assert listing(shared.parent) == [shared.name]
