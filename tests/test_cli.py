"""The ``expm`` command line, run in-process (CliRunner) and as real subprocesses."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from experiment_manager import ExperimentManager
from experiment_manager.cli import _commands_list, _common, main
from experiment_manager.doctor import doctor
from experiment_manager.export import wide_rows
from experiment_manager.query import metric_summary
from experiment_manager.stores import files
from tests import _frameworks, _reference_table
from tests._postgres import Databases, server_uri
from tests._util import (
    across_processes,
    assert_same,
    files_only,
    run_python,
    strict_loads,
    tree,
    write_script,
    written_through,
)

pytestmark = pytest.mark.usefixtures("each_store")

EVIL = "\x1b[31mred\u202eevil"
EVIL_SHOWN = "\\x1b[31mred\\u202eevil"
NAN = float("nan")
INF = float("inf")

CRASHING_WRITER = """\
import sys
import time

from experiment_manager import ExperimentManager

manager = ExperimentManager(sys.argv[1])
manager.start_experiment("crashy", {"lr": 0.3}, {})
for i in range(25):
    manager.log({"loss": 1.0 / (i + 1)}, step=i)
print("ready", flush=True)
time.sleep(120)
"""


def make_crashed_run(log_dir: Path | str, scripts: Path) -> None:
    """Start a writer subprocess, let it log, and SIGKILL it."""
    script = write_script(scripts, "crashing_writer.py", CRASHING_WRITER)
    process = subprocess.Popen(
        [sys.executable, str(script), str(log_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    finally:
        process.kill()  # SIGKILL on POSIX
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def build_logs(root: Path, log_dir: Path | str) -> Path | str:
    """A store with finished, failed and crashed runs, NaN values and hostile text."""
    manager = ExperimentManager(log_dir)
    checkpoint = root / "model.pt"
    checkpoint.write_bytes(b"weights")
    hyper = {"lr": 0.1, "opt": {"name": "adam", "betas": [0.9, 0.99]}, "eps": NAN}
    with manager.experiment("mnist", hyper, {"precision": "fp32"}):
        for i in range(30):
            acc = NAN if i == 5 else i / 30
            manager.log({"loss": 1.0 / (i + 1), "acc": acc}, step=i * 10)
        manager.add_checkpoint(checkpoint, step=290, metrics={"loss": 0.1})
    with (
        contextlib.suppress(RuntimeError),
        manager.experiment("mnist", {"lr": 0.01, "opt": {"name": "sgd"}}, {}),
    ):
        manager.log_metrics({"loss": [0.5, INF, 0.3]})
        raise RuntimeError("diverged")
    with manager.experiment("mnist", {"lr": 0.05, "opt": {"name": "adam"}}, {}):
        manager.log_metrics({"loss": [0.4, 0.2], "acc": [0.7, 0.8]})
    with manager.experiment(EVIL, {EVIL: 1, "note": EVIL}, {EVIL: EVIL}, experiment_id="evil"):
        manager.log_metrics({EVIL: [1.0, 2.0], "ok": [3.0]})
    make_crashed_run(log_dir, root / "scripts")
    return log_dir


#: The stores a module's shared logs are built on (see :func:`module_store`).
MODULE_STORES = ["small", "big", "postgres"]


def module_store(
    kind: str, root: Path, build: Callable[[Path | str], Path | str]
) -> Iterator[Path | str]:
    """``build`` run on an empty store of one kind; yields its ``log_dir`` for a module.

    ``small`` and ``big`` are folders under ``root`` (``big`` built with every call kept
    in a version file, merged by readers); ``postgres`` is a fresh database on the test
    server, dropped afterwards. Commands get the folder or URI as ``--log-dir``.
    """
    if kind == "postgres":
        databases = Databases(server_uri())
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("EXPM_SPOOL_DIR", str(root / "spool"))
            try:
                yield build(databases.new())
            finally:
                databases.close()
        return
    with pytest.MonkeyPatch.context() as patch:
        if kind == "big":  # only while it is built: two modules' stores may be alive at once
            patch.setattr(files, "DIRECT_BYTES", 0)
            patch.setattr(files, "REFRESH_SECONDS", 3600.0)
        built = build(root / "logs")
    yield built


@pytest.fixture(scope="module", params=MODULE_STORES)
def logs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path | str]:
    """:func:`build_logs` once per store of :data:`MODULE_STORES`."""
    root = tmp_path_factory.mktemp("cli")
    yield from module_store(request.param, root, lambda log_dir: build_logs(root, log_dir))


#: For a test of the shared :func:`logs`, whose parameter chooses the store: ``each_store``
#: must patch nothing, or it would open another store for the same ``--log-dir``.
on_logs = pytest.mark.parametrize("each_store", ["small"], indirect=True)


@pytest.fixture(scope="module")
def manager(logs: Path | str) -> ExperimentManager:
    return ExperimentManager(logs)


def run(logs: Path | str | None, *args: str, **kwargs: Any) -> Result:
    prefix = ["--log-dir", str(logs)] if logs is not None else []
    return CliRunner().invoke(main, [*prefix, *args], **kwargs)


def plain(value: Any) -> Any:
    """The library's value as strict JSON data (written independently of the CLI)."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def parsed_json(result: Result) -> Any:
    return strict_loads(result.stdout)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def assert_no_raw_escapes(text: str) -> None:
    assert "\x1b" not in text
    assert "\u202e" not in text


# -- ls -------------------------------------------------------------------------------


@on_logs
def test_ls_table_lists_every_experiment(logs: Path | str) -> None:
    result = run(logs, "ls")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["EXPERIMENT", "VERSIONS", "LAST", "ACTIVITY", "STATUS", "METRICS"]
    by_id = {line.split()[0]: line for line in lines[1:]}
    assert set(by_id) == {"crashy", "evil", "mnist"}
    assert "1 failed" in by_id["mnist"]
    assert "2 finished" in by_id["mnist"]
    assert "1 crashed" in by_id["crashy"]
    assert "acc, loss" in by_id["mnist"]
    assert by_id["mnist"].split()[1] == "3"


@on_logs
def test_ls_json_equals_the_library(logs: Path | str, manager: ExperimentManager) -> None:
    result = run(logs, "ls", "--json")
    assert result.exit_code == 0
    assert_same(parsed_json(result), plain(manager.list_experiments()))


@on_logs
def test_ls_csv(logs: Path | str) -> None:
    result = run(logs, "ls", "--csv")
    assert result.exit_code == 0
    rows = {row["experiment_id"]: row for row in csv_rows(result.stdout)}
    assert rows["mnist"]["versions"] == "3"
    assert rows["mnist"]["status_counts.failed"] == "1"
    assert json.loads(rows["mnist"]["metric_names"]) == ["acc", "loss"]


@on_logs
def test_json_and_csv_together_is_a_usage_error(logs: Path | str) -> None:
    result = run(logs, "ls", "--json", "--csv")
    assert result.exit_code == 2
    assert "cannot be used together" in result.stderr


def test_ls_of_a_missing_folder_says_so(tmp_path: Path) -> None:
    result = run(tmp_path / "nothing", "ls")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no experiments" in result.stderr
    assert "does not exist" in result.stderr


# -- history --------------------------------------------------------------------------


@on_logs
def test_history_table(logs: Path | str) -> None:
    result = run(logs, "history", "mnist")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    for title in ("VERSION", "STATUS", "CREATED", "DURATION", "lr", "opt.name", "eps"):
        assert title in header
    assert "loss (last)" in header
    assert "acc (last)" in header
    assert [row.split()[0] for row in rows] == ["1", "2", "3"]
    assert rows[0].split()[1] == "finished"
    assert rows[1].split()[1] == "failed"
    assert "nan" in rows[0].split()  # eps
    assert "0.01" in rows[1].split()
    assert rows[1].split()[-1] == "0.3"  # last loss of the failed run


@on_logs
def test_history_columns_can_be_chosen(logs: Path | str) -> None:
    result = run(logs, "history", "mnist", "-p", "opt.betas", "-m", "loss")
    header = result.stdout.splitlines()[0]
    assert "opt.betas" in header
    assert "lr" not in header.split()
    assert "acc (last)" not in header


def _history_options(options: tuple[str, ...], flag: str) -> list[str]:
    return [options[i + 1] for i in range(0, len(options), 2) if options[i] == flag]


HISTORY_OPTIONS = [(), ("-p", "opt.betas", "-p", "nope", "-m", "loss", "-m", "nope"), ("-m", "acc")]


@on_logs
@pytest.mark.parametrize("options", HISTORY_OPTIONS, ids=["default", "chosen", "one-metric"])
@pytest.mark.parametrize("experiment", ["mnist", "evil", "crashy"])
def test_history_table_is_the_reference_table_of_list_versions(
    logs: Path | str, manager: ExperimentManager, experiment: str, options: tuple[str, ...]
) -> None:
    # The table is built from version_table, column by column; it must be exactly
    # what the row-by-row renderer drew from list_versions.
    result = run(logs, "history", experiment, *options)
    assert result.exit_code == 0, result.output
    expected = _reference_table.history(
        manager.list_versions(experiment),
        _history_options(options, "-p"),
        _history_options(options, "-m"),
    )
    assert result.stdout == expected + "\n"


def build_varied_logs(log_dir: Path | str) -> Path | str:
    """Histories with every kind of cell: nested, empty, textual and huge values, wide
    and hostile text, non-finite numbers, an empty metric and a crashed run."""
    manager = ExperimentManager(log_dir, capture_environment=False)
    nested = {"name": "sgd", "betas": [0.9, 0.99]}
    runs: list[tuple[dict[str, Any], dict[str, list[float]], str]] = [
        ({"lr": 0.1, "opt": nested, "n": 3}, {"loss": [0.5, 0.25], "acc": [0.1, NAN]}, "finished"),
        ({"lr": "0.5", "opt": {"betas": []}, "long": "x" * 70}, {"loss": [INF]}, "failed"),
        ({}, {"loss": [1e-9, 123456789.0], "acc": [-INF]}, "finished"),
        ({"lr": NAN, "flag": True, EVIL: "实验", "deep": {"a": {}}}, {"empty": []}, "killed"),
        ({"lr": 1e300, "n": 2**63 - 1}, {"loss": [-0.0], "损失": [1.5], "acc": [3]}, "finished"),
    ]
    for hyperparameters, metrics, status in runs:
        manager.start_experiment("mix", hyperparameters, {}, "mix")
        manager.log_metrics(metrics)
        manager.end_experiment(status)
    fields = {"config_name": "mix", "status": "running", "metrics": {"loss": [0.7, 0.6]}}
    manager.store.create_version("mix", {**fields, "hyperparameters": {"lr": 0.2}})
    for number in range(3):
        manager.start_experiment("same", {"lr": 0.1}, {}, "same")
        manager.log_metrics({"loss": [number / 10], "ints": [number]})
        manager.end_experiment()
    return log_dir


@pytest.fixture(scope="module", params=MODULE_STORES)
def varied(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path | str]:
    """:func:`build_varied_logs` once per store of :data:`MODULE_STORES`."""
    yield from module_store(request.param, tmp_path_factory.mktemp("varied"), build_varied_logs)


@on_logs
@pytest.mark.parametrize(
    "options",
    [(), ("-p", "lr", "-p", "opt.betas", "-p", "nope", "-m", "loss", "-m", "损失"), ("-p", "n")],
    ids=["default", "chosen", "one-param"],
)
@pytest.mark.parametrize("experiment", ["mix", "same"])
def test_history_of_varied_values_is_the_reference_table(
    varied: Path | str, experiment: str, options: tuple[str, ...]
) -> None:
    manager = ExperimentManager(varied)
    result = run(varied, "history", experiment, *options)
    assert result.exit_code == 0, result.output
    params, metrics = _history_options(options, "-p"), _history_options(options, "-m")
    versions = manager.list_versions(experiment)
    assert result.stdout == _reference_table.history(versions, params, metrics) + "\n"

    def bracket(text: str, style: Any) -> str:
        return f"[{text}]" if style else text

    table = manager.version_table(experiment)
    styled = _commands_list._history_table(table, params, metrics, bracket)
    assert styled == _reference_table.history(versions, params, metrics, bracket)


@on_logs
def test_history_of_varied_values_in_a_subprocess(varied: Path | str, tmp_path: Path) -> None:
    done = run_python(
        ["-m", "experiment_manager", "--log-dir", str(varied), "history", "mix"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    versions = ExperimentManager(varied).list_versions("mix")
    assert [v["status"] for v in versions][-1] == "crashed"
    assert done.stdout == _reference_table.history(versions) + "\n"
    assert_no_raw_escapes(done.stdout)


@on_logs
def test_history_json_equals_list_versions(logs: Path | str, manager: ExperimentManager) -> None:
    result = run(logs, "history", "mnist", "--json")
    assert result.exit_code == 0
    assert_same(parsed_json(result), plain(manager.list_versions("mnist")))


@on_logs
def test_history_csv_has_the_export_columns(logs: Path | str, manager: ExperimentManager) -> None:
    result = run(logs, "history", "mnist", "--csv")
    rows = csv_rows(result.stdout)
    expected = wide_rows(manager.list_versions("mnist"))
    assert list(rows[0]) == list(expected[0])
    assert [row["version"] for row in rows] == ["1", "2", "3"]
    assert rows[0]["hyperparameters.eps"] == "nan"
    assert rows[1]["metrics.loss.max"] == "inf"


@on_logs
def test_history_never_loads_points(logs: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    from experiment_manager._reads import ReadsMixin
    from experiment_manager.stores.base import Store

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("points were loaded")

    monkeypatch.setattr(Store, "read_history", forbidden)
    monkeypatch.setattr(ReadsMixin, "get_version", forbidden)
    for args in (["history", "mnist"], ["history", "crashy", "--json"], ["ls"]):
        result = run(logs, *args)
        assert result.exit_code == 0, result.output


@on_logs
def test_history_of_an_unknown_id_exits_1(logs: Path | str) -> None:
    result = run(logs, "history", "nope")
    assert result.exit_code == 1
    assert result.stderr == "error: no experiment 'nope'\n"
    assert result.stdout == ""


# -- show -----------------------------------------------------------------------------


@on_logs
def test_show_defaults_to_the_latest_version(logs: Path | str) -> None:
    result = run(logs, "show", "mnist")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split()[:4] == ["mnist", "@", "version", "3"]


@on_logs
def test_show_a_version_in_full(logs: Path | str, tmp_path: Path) -> None:
    result = run(logs, "show", "mnist@1")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for section in ("Hyperparameters", "Metadata", "Metrics", "Checkpoints", "Environment"):
        assert f"\n{section}\n" in out
    assert "opt.betas" in out
    assert "[0.9,0.99]" in out
    assert "precision" in out
    assert "fp32" in out
    metrics = out.split("\nMetrics\n")[1].split("\n\n")[0].splitlines()
    assert metrics[0].split() == ["NAME", "COUNT", "LAST", "MIN", "MAX", "MEAN"]
    loss = next(line.split() for line in metrics if line.split()[0] == "loss")
    assert loss[1:5] == ["30", "0.0333333", "0.0333333", "1"]
    assert "model.pt" in out
    assert " ok " in out.split("\nCheckpoints\n")[1]
    environment = out.split("\nEnvironment\n")[1]
    assert "implementation  CPython" in environment or "implementation" in environment
    assert "argv" in environment
    assert "Points of" not in out  # summaries, not every point


@on_logs
def test_show_points(logs: Path | str) -> None:
    result = run(logs, "show", "mnist@1", "--points")
    assert result.exit_code == 0
    points = result.stdout.split("Points of loss")[1].split("\n\n")[0].splitlines()
    assert points[1].split() == ["INDEX", "STEP", "VALUE", "TIMESTAMP"]
    assert len(points) == 2 + 30
    assert points[-1].split()[:3] == ["29", "290", repr(1.0 / 30)]
    acc = result.stdout.split("Points of acc")[1].splitlines()
    assert acc[7].split()[:3] == ["5", "50", "nan"]


@on_logs
def test_show_failed_run_shows_its_error(logs: Path | str) -> None:
    result = run(logs, "show", "mnist", "--version", "2")
    assert result.exit_code == 0
    assert "RuntimeError: diverged" in result.stdout
    assert "failed" in result.stdout.splitlines()[0]


@on_logs
def test_show_json_equals_the_library(logs: Path | str, manager: ExperimentManager) -> None:
    record = manager.get_version("mnist", 1)
    with_points = run(logs, "show", "mnist@1", "--json", "--points")
    assert with_points.exit_code == 0
    assert_same(parsed_json(with_points), plain(record))

    summary = run(logs, "show", "mnist@1", "--json")
    expected = {k: v for k, v in record.items() if k not in ("metrics", "steps", "timestamps")}
    expected["metric_summaries"] = {
        name: dict(metric_summary(values, record["steps"].get(name)))
        for name, values in record["metrics"].items()
    }
    assert_same(parsed_json(summary), plain(expected))
    # the same summaries list_versions gives
    assert_same(
        parsed_json(summary)["metric_summaries"],
        plain(manager.list_versions("mnist")[0]["metric_summaries"]),
    )


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope", "error: no experiment 'nope'"),
        ("mnist@9", "error: no experiment 'mnist' version 9"),
    ],
)
@on_logs
def test_show_unknown_exits_1(logs: Path | str, ref: str, message: str) -> None:
    result = run(logs, "show", ref)
    assert result.exit_code == 1
    assert result.stderr.strip() == message
    assert "Traceback" not in result.output


@on_logs
def test_debug_shows_the_exception(logs: Path | str) -> None:
    from experiment_manager.errors import ExperimentNotFoundError

    result = run(logs, "--debug", "show", "nope")
    assert isinstance(result.exception, ExperimentNotFoundError)


# -- diff -----------------------------------------------------------------------------


@on_logs
def test_diff_table(logs: Path | str) -> None:
    result = run(logs, "diff", "mnist", "1", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["HYPERPARAMETERS", "v1", "v2"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:5]}
    assert rows["lr"] == ["0.1", "0.01"]
    assert rows["opt.name"] == ["adam", "sgd"]
    assert rows["eps"] == ["nan", "-"]
    assert "precision" in result.stdout
    metrics = result.stdout.split("METRICS")[1].splitlines()
    assert metrics[1].split() == ["loss", "count", "30", "3"]
    assert ["max", "1", "inf"] in [line.split() for line in metrics]


@on_logs
def test_diff_json_equals_compare(logs: Path | str, manager: ExperimentManager) -> None:
    result = run(logs, "diff", "mnist", "1", "2", "3", "--json")
    assert result.exit_code == 0
    assert_same(parsed_json(result), plain(manager.compare("mnist", [1, 2, 3])))


@on_logs
def test_diff_csv(logs: Path | str) -> None:
    result = run(logs, "diff", "mnist", "1", "2", "--csv")
    rows = csv_rows(result.stdout)
    assert list(rows[0]) == ["section", "key", "v1", "v2"]
    lr = next(row for row in rows if row["key"] == "lr")
    assert (lr["section"], lr["v1"], lr["v2"]) == ("hyperparameters", "0.1", "0.01")
    assert {"section": "metrics", "key": "loss.max", "v1": "1.0", "v2": "inf"} in rows


@pytest.mark.parametrize(
    ("args", "code"),
    [(["mnist", "1"], 2), (["mnist", "1", "1"], 2), (["mnist", "1", "7"], 1), (["x", "1", "2"], 1)],
)
@on_logs
def test_diff_errors(logs: Path | str, args: list[str], code: int) -> None:
    result = run(logs, "diff", *args)
    assert result.exit_code == code, result.output


# -- search ---------------------------------------------------------------------------


@on_logs
def test_search_table_shows_the_fields_of_the_query(logs: Path | str) -> None:
    result = run(
        logs, "search", "hp.lr < 0.2 and metrics.loss.min < 1", "--order-by", "metrics.loss.min"
    )
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert "hyperparameters.lr" in header
    assert "metrics.loss.min" in header
    assert [(row.split()[0], row.split()[1]) for row in rows] == [
        ("mnist", "1"),
        ("mnist", "3"),
        ("mnist", "2"),
    ]


@on_logs
def test_search_json_equals_the_library(logs: Path | str, manager: ExperimentManager) -> None:
    query, order = "status in ('finished', 'crashed')", "-metrics.loss.last"
    result = run(logs, "search", query, "--order-by", order, "--limit", "3", "--json")
    assert result.exit_code == 0
    expected = manager.search(query, order_by=order, limit=3)
    assert len(expected) == 3
    assert_same(parsed_json(result), plain(expected))


@on_logs
def test_search_one_experiment_csv(logs: Path | str) -> None:
    result = run(logs, "search", "status = 'failed'", "-e", "mnist", "--csv")
    assert result.exit_code == 0
    rows = csv_rows(result.stdout)
    assert [(row["experiment_id"], row["version"]) for row in rows] == [("mnist", "2")]


@on_logs
def test_search_without_matches_is_an_answer(logs: Path | str) -> None:
    result = run(logs, "search", "hp.lr > 100")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "0 versions match\n"
    as_json = run(logs, "search", "hp.lr > 100", "--json")
    assert as_json.exit_code == 0
    assert strict_loads(as_json.stdout) == []


@on_logs
def test_search_suggests_the_field_a_typo_meant(logs: Path | str) -> None:
    result = run(logs, "search", "hp.lrr > 0.001 and metrics.los.min < 1")
    assert result.exit_code == 0
    assert "0 versions match" in result.stderr
    assert "no version has hp.lrr; did you mean hp.lr?" in result.stderr
    assert "no version has metrics.los.min; did you mean metrics.loss.min?" in result.stderr
    assert "did you mean" not in run(logs, "search", "hp.lr > 0.001").stderr


@on_logs
def test_search_unknown_experiment_exits_1(logs: Path | str) -> None:
    result = run(logs, "search", "-e", "nope")
    assert result.exit_code == 1
    assert "no experiment 'nope'" in result.stderr


@pytest.mark.parametrize(
    ("query", "position"),
    [("hp.lr <", 7), ("metrics.loss.median < 1", 0), ("hp.lr > 0.1 and (status = 'x'", 16)],
)
@on_logs
def test_malformed_query_shows_the_position(logs: Path | str, query: str, position: int) -> None:
    result = run(logs, "search", query)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert lines[0].endswith(f"at position {position}")
    assert lines[1] == f"  {query}"
    assert lines[2] == "  " + " " * position + "^"
    assert "Traceback" not in result.output


@on_logs
def test_malformed_order_by_exits_2(logs: Path | str) -> None:
    result = run(logs, "search", "--order-by", "metrics.loss")
    assert result.exit_code == 2
    assert "^" in result.stderr


# -- export ---------------------------------------------------------------------------


@on_logs
@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "parquet"])
def test_export_formats(logs: Path | str, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"runs.{fmt}"
    result = run(logs, "export", "mnist", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert f"wrote 3 versions to {target} ({fmt})" in result.stderr
    if fmt == "csv":
        rows = csv_rows(target.read_text(encoding="utf-8"))
        assert [row["version"] for row in rows] == ["1", "2", "3"]
    elif fmt == "json":
        rows = strict_loads(target.read_text(encoding="utf-8"))
        assert rows[0]["hyperparameters.eps"] == "NaN"
        assert rows[1]["metrics.loss.max"] == "Infinity"
    elif fmt == "jsonl":
        lines = target.read_text(encoding="utf-8").splitlines()
        assert [strict_loads(line)["version"] for line in lines] == [1, 2, 3]
    else:
        import pyarrow.parquet as pq

        assert pq.read_table(target).column("version").to_pylist() == [1, 2, 3]


@on_logs
def test_export_long_with_query_to_stdout(logs: Path | str, manager: ExperimentManager) -> None:
    result = run(logs, "export", "--long", "-q", "status = 'failed'", "-f", "jsonl", "-o", "-")
    assert result.exit_code == 0, result.output
    rows = [strict_loads(line) for line in result.stdout.splitlines()]
    assert [row["value"] for row in rows] == [0.5, "Infinity", 0.3]
    assert {row["version"] for row in rows} == {2}


@on_logs
def test_export_progress_when_asked(logs: Path | str, tmp_path: Path) -> None:
    target = tmp_path / "points.csv"
    result = run(logs, "export", "--long", "-o", str(target), "--progress")
    assert result.exit_code == 0, result.output
    total = 30 + 30 + 3 + 2 + 2 + 2 + 1 + 25
    assert f"Exporting rows: {total}/{total}" in result.stderr
    assert len(csv_rows(target.read_text(encoding="utf-8"))) == total
    quiet = run(logs, "export", "--long", "-o", str(target))
    assert "Exporting rows" not in quiet.stderr


@on_logs
def test_export_nothing_exits_1(logs: Path | str, tmp_path: Path) -> None:
    assert run(logs, "export", "nope", "-o", str(tmp_path / "a.csv")).exit_code == 1
    assert not (tmp_path / "a.csv").exists()
    result = run(logs, "export", "-q", "hp.lr > 100", "-o", str(tmp_path / "b.csv"))
    assert result.exit_code == 1
    assert "nothing to export" in result.stderr


@on_logs
def test_export_needs_an_output(logs: Path | str) -> None:
    assert run(logs, "export").exit_code == 2


# -- plot -----------------------------------------------------------------------------


@on_logs
def test_plot_writes_a_png(logs: Path | str, tmp_path: Path) -> None:
    _frameworks.require("matplotlib")
    target = tmp_path / "loss.png"
    result = run(logs, "plot", "mnist", "-m", "loss", "--versions", "1-3", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target.stat().st_size > 1000
    assert "wrote 3 curve(s)" in result.stderr


def block_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)


@on_logs
def test_plot_sparklines_need_no_matplotlib(
    logs: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    block_matplotlib(monkeypatch)
    result = run(logs, "plot", "mnist", "-m", "loss", "--width", "20")
    assert result.exit_code == 0, result.output
    title, *lines = result.stdout.splitlines()
    assert title == "loss of mnist"
    assert [line.split()[0] for line in lines] == ["v1", "v2", "v3"]
    first = lines[0].split()
    assert len(first[1]) == 20
    assert set(first[1]) <= set("▁▂▃▄▅▆▇█")
    assert first[1][0] == "█"  # loss starts at its maximum, 1.0
    assert first[2:] == ["n=30", "min", "0.0333333", "max", "1", "last", "0.0333333"]
    assert "(1 non-finite)" in lines[1]
    assert "n=3" in lines[1]


@on_logs
def test_plot_image_without_matplotlib_is_a_clear_error(
    logs: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block_matplotlib(monkeypatch)
    result = run(logs, "plot", "mnist", "-m", "loss", "-o", str(tmp_path / "x.png"))
    assert result.exit_code == 1
    assert 'pip install "experiment-manager[plot]"' in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.png").exists()


@on_logs
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["mnist", "-m", "nope"], 1, "metrics logged: acc, loss"),
        (["mnist", "-m", "loss", "--versions", "1,9"], 1, "version 9"),
        (["mnist", "-m", "loss", "--versions", "x"], 2, "not a version list"),
        (["nope", "-m", "loss"], 1, "no experiment 'nope'"),
    ],
)
def test_plot_errors(logs: Path | str, args: list[str], code: int, message: str) -> None:
    result = run(logs, "plot", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr


# -- doctor ---------------------------------------------------------------------------


@pytest.fixture
def mess(tmp_path: Path) -> tuple[Path, bytes]:
    """A log folder with a crashed run, a corrupt history, an orphan journal, a stale temp."""
    log_dir = tmp_path / "logs"
    with ExperimentManager(log_dir).experiment("good", {"lr": 0.1}) as _:
        pass
    make_crashed_run(log_dir, tmp_path / "scripts")
    corrupt = b'{"format": 1, "experiment_id": "broken", "versions": ['
    (log_dir / "broken.json").write_bytes(corrupt)
    orphan = log_dir / ".expm" / "journals" / "ghost"
    orphan.mkdir(parents=True)
    (orphan / "1.0.jsonl").write_text('{"s": 0, "m": {"loss": 1.0}}\n', encoding="utf-8")
    (log_dir / ".good.json.tmp").write_bytes(b"half a histo")
    return log_dir, corrupt


@files_only  # the mess is folder files: an orphan journal, a stale temp, a corrupt file
def test_doctor_dry_run_changes_nothing(mess: tuple[Path, bytes]) -> None:
    log_dir, _ = mess
    before = tree(log_dir)
    result = run(log_dir, "doctor", "--dry-run")
    assert result.exit_code == 3, result.output
    assert "dry run" in result.stdout
    assert "crashy v1" in result.stdout
    assert tree(log_dir) == before


@written_through
def test_doctor_repairs_what_is_safe_and_reports_the_rest(mess: tuple[Path, bytes]) -> None:
    log_dir, corrupt = mess
    result = run(log_dir, "doctor")
    assert result.exit_code == 3, result.output
    out = result.stdout
    assert "Checked 3 history file(s)" in out
    assert f"{log_dir / 'broken.json'}: not valid JSON" in out
    assert "crashy v1 (25 streamed point(s) folded in)" in out
    assert str(log_dir / ".good.json.tmp") in out
    assert f"{log_dir / '.expm' / 'journals' / 'ghost' / '1.0.jsonl'}: orphan journal" in out
    assert "Not healthy: 1 corrupt history file(s), 1 file(s) kept for a look." in out
    assert (log_dir / "broken.json").read_bytes() == corrupt
    assert not (log_dir / ".good.json.tmp").exists()
    assert (log_dir / ".expm" / "journals" / "ghost" / "1.0.jsonl").exists()
    history = strict_loads((log_dir / "crashy.json").read_text(encoding="utf-8"))
    assert history["versions"][0]["status"] == "crashed"
    assert len(history["versions"][0]["metrics"]["loss"]) == 25
    again = run(log_dir, "doctor")
    assert again.exit_code == 3
    assert "Crashed runs" not in again.stdout
    assert (log_dir / "broken.json").read_bytes() == corrupt


@files_only
def test_doctor_json_equals_the_library(mess: tuple[Path, bytes]) -> None:
    log_dir, _ = mess
    result = run(log_dir, "doctor", "--dry-run", "--json")
    assert result.exit_code == 3
    assert_same(parsed_json(result), plain(doctor(log_dir, dry_run=True).to_dict()))


@across_processes
def test_doctor_progress_when_asked(
    tmp_path: Path, each_store: str, process_log_dir: Callable[[Path], str]
) -> None:
    log_dir = tmp_path / "logs"
    manager = ExperimentManager(log_dir, capture_environment=False)
    for experiment_id in ("a", "b", "c"):
        with manager.experiment("cfg", {}, experiment_id=experiment_id):
            manager.log({"loss": 1.0})
    checked = 3
    if each_store in ("small", "big"):  # a history that cannot be read is counted too
        (log_dir / "broken.json").write_bytes(b'{"format": 1, "experiment_id": "broken", "ver')
        checked = 4
    # A command of its own, as a user runs it: only a folder or URI names the store.
    args = ["-m", "experiment_manager", "--log-dir", process_log_dir(log_dir)]
    result = run_python([*args, "doctor", "--dry-run", "--progress"], cwd=tmp_path)
    assert result.returncode == (3 if checked == 4 else 0), result.stderr
    assert f"Checking histories: {checked}/{checked}" in result.stderr


def test_doctor_healthy_folder_exits_0(tmp_path: Path) -> None:
    with ExperimentManager(tmp_path).experiment("good", {"lr": 0.1}):
        pass
    result = run(tmp_path, "doctor")
    assert result.exit_code == 0
    assert "Healthy." in result.stdout


# -- corrupt data ---------------------------------------------------------------------


@files_only
def test_corrupt_history_exits_3(mess: tuple[Path, bytes]) -> None:
    log_dir, corrupt = mess
    shown = run(log_dir, "show", "broken")
    assert shown.exit_code == 3
    assert shown.stderr.startswith("error: corrupt history file")
    assert len(shown.stderr.splitlines()) == 1
    listed = run(log_dir, "ls")
    assert listed.exit_code == 3
    assert "corrupt" in listed.stdout
    assert "good" in listed.stdout
    assert "warning: 1 history file(s) cannot be read" in listed.stderr
    assert (log_dir / "broken.json").read_bytes() == corrupt


@files_only
@pytest.mark.parametrize("shape", [[], ["--long"]], ids=["wide", "long"])
def test_export_of_everything_names_each_skipped_history_and_exits_3(
    mess: tuple[Path, bytes], tmp_path: Path, shape: list[str]
) -> None:
    log_dir, corrupt = mess
    (log_dir / "torn.json").write_bytes(b'{"format": 1, "experiment_id": "torn", "vers')
    target = tmp_path / "all.jsonl"
    result = run(log_dir, "export", *shape, "-o", str(target))
    assert result.exit_code == 3, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings[0].startswith("warning: skipped broken: corrupt history file 'broken.json'")
    assert warnings[1].startswith("warning: skipped torn: corrupt history file 'torn.json'")
    assert warnings[2] == (
        "warning: 2 history file(s) cannot be read and were not exported; run `expm doctor`"
    )
    assert str(log_dir) not in result.stderr
    # The readable histories are exported all the same ("good" has no metric values).
    exported = {strict_loads(line)["experiment_id"] for line in target.read_text().splitlines()}
    assert exported == ({"crashy"} if shape else {"good", "crashy"})
    assert (log_dir / "broken.json").read_bytes() == corrupt
    # Exporting a readable experiment by name does not look at the others.
    named = run(log_dir, "export", "good", "-o", str(tmp_path / "good.csv"))
    assert named.exit_code == 0, named.output
    assert "warning" not in named.stderr


@files_only
def test_export_of_everything_reports_skipped_histories_from_a_subprocess(
    mess: tuple[Path, bytes], tmp_path: Path
) -> None:
    log_dir, _ = mess
    args = ["-m", "experiment_manager", "--log-dir", str(log_dir), "export", "-f", "csv"]
    result = run_python([*args, "-q", "status = 'finished'", "-o", "-"], cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "warning: skipped broken: corrupt history file 'broken.json'" in result.stderr
    assert [row["experiment_id"] for row in csv_rows(result.stdout)] == ["good"]


# -- hostile stored text --------------------------------------------------------------


@on_logs
@pytest.mark.parametrize(
    "args",
    [
        ["ls"],
        ["ls", "--csv"],
        ["history", "evil"],
        ["history", "evil", "--csv"],
        ["show", "evil"],
        ["show", "evil", "--points"],
        ["search", "hp.note contains 'red'"],
        ["search", "-e", "evil", "--csv"],
        ["plot", "evil", "-m", EVIL, "--width", "10"],
    ],
)
def test_stored_escape_sequences_are_neutralised(logs: Path | str, args: list[str]) -> None:
    result = run(logs, *args)
    assert result.exit_code == 0, result.output
    assert_no_raw_escapes(result.output)
    # shown escaped: as \x1b in text, as \u001b where a list is shown as JSON text
    assert EVIL_SHOWN in result.stdout or "\\u001b[31mred\\u202eevil" in result.stdout


@on_logs
def test_hostile_text_in_json_is_escaped_and_exact(
    logs: Path | str, manager: ExperimentManager
) -> None:
    for args in (["history", "evil", "--json"], ["show", "evil", "--json", "--points"]):
        result = run(logs, *args)
        assert_no_raw_escapes(result.stdout)
        assert "\\u001b[31mred\\u202eevil" in result.stdout
    record = parsed_json(result)
    assert record["config_name"] == EVIL
    assert record["hyperparameters"] == {EVIL: 1, "note": EVIL}
    assert_same(record, plain(manager.get_version("evil")))


@on_logs
def test_diff_of_hostile_text(logs: Path | str, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    other = ExperimentManager(log_dir, capture_environment=False)
    other.start_experiment("x", {"k": "plain"}, {})
    other.start_experiment("x", {"k": EVIL, EVIL: 2}, {})
    other.end_experiment()
    for args in (["diff", "x", "1", "2"], ["diff", "x", "1", "2", "--csv"]):
        result = run(log_dir, *args)
        assert result.exit_code == 0
        assert_no_raw_escapes(result.output)
        assert EVIL_SHOWN in result.stdout


@on_logs
def test_typed_hostile_id_is_neutralised_in_errors(logs: Path | str) -> None:
    for ref in ("\x1b[31mx", "a\u202eb", "a\x9bb"):
        result = run(logs, "show", ref)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: invalid experiment id")
        assert_no_raw_escapes(result.stderr)
        assert "\x9b" not in result.stderr
    query = run(logs, "search", "hp.\x1b[2J = ")
    assert query.exit_code == 2
    assert_no_raw_escapes(query.stderr)


@on_logs
def test_colours_only_where_wanted(logs: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    plain_run = run(logs, "ls")
    assert "\x1b" not in plain_run.output
    monkeypatch.setattr(_common, "should_color", lambda stream=None: True)
    coloured = run(logs, "ls", color=True)
    assert "\x1b[32m2 finished\x1b[0m" in coloured.stdout
    assert "\x1b[31mred" not in coloured.stdout  # stored text still neutralised
    assert "\u202e" not in coloured.stdout
    assert EVIL_SHOWN in coloured.stdout
    assert "\x1b[" not in run(logs, "ls", "--json").stdout  # never in JSON


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_should_color_respects_no_color_and_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    assert _common.should_color(FakeTTY())
    assert not _common.should_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _common.should_color(FakeTTY())
    monkeypatch.setenv("NO_COLOR", "")
    assert _common.should_color(FakeTTY())
    monkeypatch.setenv("TERM", "dumb")
    assert not _common.should_color(FakeTTY())


# -- help and the demo ----------------------------------------------------------------


COMMANDS = ["ls", "history", "show", "diff", "search", "export", "plot", "doctor", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_an_example_in_its_help(command: str) -> None:
    result = run(None, command, "--help")
    assert result.exit_code == 0
    example = result.stdout.split("Example:\n")[1].split("\n\n")[0].splitlines()
    assert example
    assert all(line.startswith("      expm ") for line in example), example


def test_group_help_documents_the_exit_codes() -> None:
    result = run(None, "-h")
    assert result.exit_code == 0
    assert "Exit codes:\n" in result.stdout
    for code in range(4):
        assert f"\n      {code}  " in result.stdout
    assert "EXPM_LOG_DIR" in result.stdout
    assert set(COMMANDS) <= set(main.commands)


def test_demo_still_works(tmp_path: Path) -> None:
    _frameworks.require("numpy")
    result = run(tmp_path / "logs", "demo", "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert "Done in" in result.stdout
    assert len(ExperimentManager(tmp_path / "logs").list_versions("demo_logreg")) == 4


# -- real subprocesses ----------------------------------------------------------------


def expm(
    logs: Path | str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **(env or {})}
    environment.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "experiment_manager", "--log-dir", str(logs), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env=environment,
        check=False,
    )


@on_logs
def test_subprocess_ls_reads_expm_log_dir(logs: Path | str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "experiment_manager", "ls", "--json"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env={**os.environ, "EXPM_LOG_DIR": str(logs)},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [e["experiment_id"] for e in strict_loads(result.stdout)] == ["crashy", "evil", "mnist"]


@on_logs
def test_subprocess_commands(logs: Path | str, tmp_path: Path) -> None:
    """Each command once as a real process: exit codes, output, no escapes, no colour."""
    checks: list[tuple[list[str], int, str]] = [
        (["history", "mnist"], 0, "finished"),
        (["show", "evil@1"], 0, EVIL_SHOWN),
        (["diff", "mnist", "1", "3"], 0, "HYPERPARAMETERS"),
        (["search", "status = 'crashed'", "--json"], 0, '"crashy"'),
        (["search", "hp.lr <"], 2, "^"),
        (["show", "nope"], 1, "error: no experiment 'nope'"),
        (["export", "-o", str(tmp_path / "all.json")], 0, "wrote 5 versions"),
        (["plot", "mnist", "-m", "acc", "--width", "12"], 0, "acc of mnist"),
        (["doctor", "--dry-run"], 0, "Healthy."),
    ]
    for args, code, needle in checks:
        result = expm(logs, *args)
        assert result.returncode == code, (args, result.stderr)
        assert needle in result.stdout + result.stderr, (args, result.stdout, result.stderr)
        assert_no_raw_escapes(result.stdout + result.stderr)
        assert "Traceback" not in result.stderr
    assert len(strict_loads((tmp_path / "all.json").read_text(encoding="utf-8"))) == 5


def test_subprocess_corrupt_exit_3_and_demo(mess: tuple[Path, bytes], tmp_path: Path) -> None:
    log_dir, _ = mess
    assert expm(log_dir, "show", "broken").returncode == 3
    assert expm(log_dir, "doctor").returncode == 3
    _frameworks.require("numpy")
    demo = run_python(
        ["-m", "experiment_manager", "--log-dir", str(tmp_path / "demo"), "demo", "--epochs", "1"],
        cwd=tmp_path,
    )
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "demo" / "demo_logreg.json").exists()
