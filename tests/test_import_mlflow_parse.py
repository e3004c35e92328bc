"""Reading an MLflow file store's files: every point bit for bit, as MLflow reads it.

The metric files are read in bulk (orjson for lines of plain numbers, a split for
lines with NaN or infinities, line by line otherwise); each way must give exactly the
values ``float()`` and ``int()`` give for every token, which is what MLflow's reader
does. The sources are written by MLflow itself where MLflow can write them, and by
hand for the forms only other writers (or damage) produce.
"""

from __future__ import annotations

import math
import os
import random
import struct
import sys
from collections.abc import Iterable, Mapping
from decimal import Decimal, getcontext
from pathlib import Path
from typing import Any

import pytest

from experiment_manager.importers import _common, import_mlflow
from experiment_manager.importers._mlflow_files import (
    SharedColumns,
    _key_files,
    _parse_numbers,
    _yaml,
    read_metric_file,
)
from experiment_manager.stores.memory import MemoryStore
from tests import _frameworks
from tests._import_sources import mlruns, require, write_source


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def reference(data: bytes) -> list[tuple[bytes, int, float]]:
    """Each line read token by token, as MLflow's reader does (float, int, int / 1000)."""
    points = []
    for line in data.splitlines():
        fields = line.split()
        if fields:
            step = int(fields[2]) if len(fields) >= 3 else 0
            points.append((bits(float(fields[1])), step, int(fields[0]) / 1000))
    return points


def read(path: Path) -> list[tuple[bytes, int | None, float | None]]:
    series = read_metric_file(path)
    assert len(series.values) == len(series.steps) == len(series.times)
    for value in series.values:
        assert type(value) is float
    return [
        (bits(value), step, time)
        for value, step, time in zip(series.values, series.steps, series.times, strict=True)
    ]


def plain_numbers(data: bytes) -> bool:
    """Whether the orjson reading takes the file (else it goes to a slower reading)."""
    return _parse_numbers(data, data.count(b"\n"), SharedColumns()) is not None


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run MLflow logged awkward values into, and what MlflowClient reads back."""
    require("mlflow")
    root = tmp_path_factory.mktemp("odd")
    return dict(
        write_source(
            "mlflow_odd_values.py",
            root / "mlruns",
            root / "expected.json",
            env={"MLFLOW_ALLOW_FILE_STORE": "true"},
        ),
        root=root / "mlruns",
    )


@pytest.mark.parametrize("metric", ["plain", "odd", "short", "with_dataset"])
def test_awkward_values_read_back_bit_for_bit(odd: dict[str, Any], metric: str) -> None:
    path = Path(odd["metrics"]) / metric
    got = read(path)
    expected = [
        (bits(float.fromhex(value)), step, stamp / 1000)
        for value, step, stamp in odd["history"][metric]
    ]
    assert got == expected
    # The reading each file takes: plain numbers in bulk, NaN/inf and short or long
    # lines by the other ways, which give the same bits.
    assert plain_numbers(path.read_bytes()) == (metric == "plain")
    assert got == reference(path.read_bytes()) or metric == "with_dataset"


def test_awkward_values_through_the_import(odd: dict[str, Any]) -> None:
    store = MemoryStore()
    report = import_mlflow(odd["root"], store=store)
    assert report.ok, report.failed
    (version,) = store.read_history("odd-values")
    for metric, history in odd["history"].items():
        values = version["metrics"][metric]
        assert [bits(float(v)) for v in values] == [bits(float.fromhex(h[0])) for h in history]
        assert version["steps"][metric] == [h[1] for h in history]
        assert version["timestamps"][metric] == [h[2] / 1000 for h in history]
    assert math.copysign(1, version["metrics"]["plain"][1]) == -1  # -0.0 kept
    assert math.isnan(version["metrics"]["odd"][5])


def _random_texts(rng: random.Random) -> list[str]:
    texts: list[str] = []
    while len(texts) < 4000:  # every kind of double, as repr writes it
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(value):
            texts.append(repr(value))
    for _ in range(3000):  # long decimals, rounded by the reader
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 40)))
        exponent = rng.randint(-340, 300)
        texts.append(f"{rng.choice(['', '-'])}{digits[0]}.{digits[1:] or '0'}e{exponent}")
    getcontext().prec = 800
    for _ in range(3000):  # exactly half way between two doubles: round half to even
        value = abs(struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0])
        above = math.nextafter(value, math.inf)
        if math.isfinite(above) and value > 1e-300 and above < 1e300:
            texts.append(format((Decimal(value) + Decimal(above)) / 2, "e"))
    texts += ["1", "-3", "12345678901234567890", "18446744073709551616", "9007199254740993"]
    texts += ["1e-400", "-1e-400", "2.4703282292062328e-324", "0.0", "-0.0", "-0e5"]
    return texts


def test_random_values_in_bulk_match_float_of_each_token(tmp_path: Path) -> None:
    texts = _random_texts(random.Random(20261203))
    lines = [f"{1_700_000_000_000 + i} {text} {i}\n" for i, text in enumerate(texts)]
    path = tmp_path / "values"
    path.write_text("".join(lines))
    assert plain_numbers(path.read_bytes())
    assert read(path) == reference(path.read_bytes())


@pytest.mark.parametrize(
    "text",
    [
        "1 -0 2\n",  # -0 as an int would lose the sign of -0.0
        "1 1e400 2\n",  # past the largest double: inf, as float() reads it
        "1 +1 2\n",  # not JSON, but float() reads it
        "1 .5 2\n1 5. 3\n1 01 4\n1 1_000 5\n",
        "1 0.5 2\r\n3 0.25 4\r\n",  # written on Windows
        "1 NaN 2\n3 Infinity 4\n5 -inf 6\n7 nan 8\n",
        "1 0.5 2\n3 0.25 4",  # no newline at the end
        "1 0.5\n2 0.25\n",  # no steps: step 0
        "1 0.5 2\n\n3 0.25 4\n",  # a blank line
        "1  0.5 2\n",  # two spaces
        "1\t0.5\t2\n",
        "12345678901234567890123 0.5 2\n",  # a stamp past 64 bits
        "1 0.5 12345678901234567890123\n",  # a step past 64 bits
    ],
)
def test_other_writers_lines_read_as_float_and_int_read_them(tmp_path: Path, text: str) -> None:
    path = tmp_path / "metric"
    path.write_bytes(text.encode())
    assert read(path) == reference(text.encode())


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("1 0.5 2\n1.5 0.5 3\n", 2),  # a fractional timestamp
        ("1 0.5 2\n2 0.5 1e3\n", 2),  # a step that is no int
        ("1 0.5 2 3\n4 0.5\n", 1),  # four fields then two: the counts add up, lines do not
        ("1 0.5 2\n3 0.25 4\n5 0.12", None),  # cut in the middle of a line: step 0
        ("1 0.5 2\n3 abc 4\n", 2),
        ("1 0.5 2\n3 0.5 [4]\n", 2),
        ("1 0.5 2\n3 0.5 true\n", 2),
        ("1,0.5,2\n", 1),
    ],
)
def test_damaged_lines_are_named_or_read_as_mlflow_reads_them(
    tmp_path: Path, text: str, line: int | None
) -> None:
    path = tmp_path / "metric"
    path.write_bytes(text.encode())
    if line is None:
        assert read(path) == reference(text.encode())
        return
    with pytest.raises(ValueError, match=f"line {line} is not 'timestamp value"):
        read_metric_file(path)


def test_metrics_logged_together_share_one_steps_and_one_times_list(tmp_path: Path) -> None:
    same = "".join(f"{1000 + i} {i / 7} {i}\n" for i in range(50))
    other_values = "".join(f"{1000 + i} {i / 3} {i}\n" for i in range(50))
    other_times = "".join(f"{2000 + i} {i / 3} {i}\n" for i in range(50))
    with_nan = "".join(f"{1000 + i} {'nan' if i == 3 else i} {i}\n" for i in range(50))
    # The same length, first and last entries; another one in the middle.
    middle = "".join(f"{1000 + i + (i == 25)} {i} {i + (i == 25)}\n" for i in range(50))
    shared = SharedColumns()
    series = []
    for number, text in enumerate([same, other_values, other_times, with_nan, middle]):
        path = tmp_path / str(number)
        path.write_text(text)
        series.append(read_metric_file(path, shared))
    first = series[0]
    assert series[1].steps is first.steps
    assert series[1].times is first.times
    assert series[1].values == [i / 3 for i in range(50)]
    assert series[2].steps is first.steps
    assert series[2].times is not first.times
    assert series[2].times == [(2000 + i) / 1000 for i in range(50)]
    assert series[3].times is first.times  # read the other way, shared all the same
    assert math.isnan(series[3].values[3])
    assert series[4].steps is not first.steps
    assert series[4].steps[25] == 26
    assert series[4].times is not first.times
    assert series[4].times[25] == 1.026
    alone = read_metric_file(tmp_path / "1")
    assert alone.times == first.times
    assert alone.times is not first.times


@pytest.mark.parametrize(
    "text",
    [
        "run_id: 99d222e6af2e43de8ac04e4fec1cb9b4\n",
        "run_id: 0b1010\n",  # a binary int in YAML 1.1
        "run_id: 0b10ab\n",
        "run_id: 12345\n",
        "run_id: 1e5\n",
        "run_id: 1.5e5\n",
        "run_id: 0x1f\n",
        "run_id: 190:20:30\n",
        "run_id: 2026-12-03\n",
        "run_id: deadbeef\n",
        "run_id: e\n",
        "run_id: 00000000000000000000000000000000\n",
        "run_id: '0123'\nstatus: 3\ntags: []\nname: null\nuser_id: yes\n",
    ],
)
def test_meta_yaml_reads_as_yaml_does(tmp_path: Path, text: str) -> None:
    yaml = _frameworks.require("yaml")
    path = tmp_path / "meta.yaml"
    path.write_text(text)
    assert _yaml(path) == yaml.safe_load(text)


def test_key_files_walk_sub_folders_like_os_walk(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    for key in ["loss", "train/acc", "train/z/deep", "a", "train/b", "val/loss"]:
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_text("1 1.0 0\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x").write_text("1 1.0 0\n")
    os.symlink(tmp_path / "elsewhere", folder / "linked")  # os.walk does not enter it
    expected = {}
    for parent, dirs, names in os.walk(folder):
        dirs.sort()
        prefix = os.path.relpath(parent, folder).replace(os.sep, "/") + "/"
        for name in sorted(names):
            expected[prefix.removeprefix("./") + name] = os.path.join(parent, name)
    found = _key_files(folder)
    assert list(found.items()) == list(expected.items())
    assert list(found) == ["a", "loss", "train/acc", "train/b", "train/z/deep", "val/loss"]
    assert _key_files(tmp_path / "missing") == {}


def test_an_import_holds_one_runs_points_at_a_time(tmp_path: Path) -> None:
    """Each run is read when the store has encoded the one before, which is let go of then.

    Counted in small-object blocks (what the points are made of) at each run's
    progress call, against what one run read whole holds.
    """
    root = tmp_path / "mlruns"
    runs, steps = 10, 5000
    experiment = mlruns(root, runs, steps)
    one_run = experiment / f"a{0:031x}"
    before = sys.getallocatedblocks()
    shared = SharedColumns()
    held = [read_metric_file(one_run / "metrics" / m, shared) for m in ("loss", "acc")]
    per_run = sys.getallocatedblocks() - before
    del held, shared
    assert per_run > 2 * steps  # the values, steps and times are what a run holds

    blocks: list[int] = []

    def progress(done: int, total: int) -> None:
        blocks.append(sys.getallocatedblocks())

    import_mlflow(root, tmp_path / "warm-up", dry_run=True)  # the modules an import loads
    report = import_mlflow(root, tmp_path / "logs", progress=progress)
    assert report.ok
    assert len(report.imported) == runs
    assert len(blocks) == runs
    # From the first run on, what is held does not grow by the runs read before.
    grown = [count - blocks[0] for count in blocks]
    assert max(grown) < per_run // 2, (per_run, grown)


class CountingStore(MemoryStore):
    """A memory store that counts its ``add_versions`` calls and the records of each."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def add_versions(self, experiment_id: str, records: Iterable[Mapping[str, Any]]) -> list[int]:
        taken = list(records)
        self.calls.append(len(taken))
        return super().add_versions(experiment_id, taken)


@pytest.mark.parametrize(
    ("points", "seconds", "calls"),
    [(2_000_000, 5.0, [6]), (250, 5.0, [2, 2, 2]), (2_000_000, 0.0, [1] * 6)],
)
def test_a_batch_ends_at_its_points_or_its_seconds(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    points: int,
    seconds: float,
    calls: list[int],
) -> None:
    """Runs go to the store in batches bounded by points and by time spent reading."""
    monkeypatch.setattr(_common, "_BATCH_POINTS", points)
    monkeypatch.setattr(_common, "_BATCH_SECONDS", seconds)
    mlruns(tmp_path / "mlruns", 6, 100)  # 200 points a run
    store = CountingStore()
    report = import_mlflow(tmp_path / "mlruns", store=store)
    assert report.ok
    assert store.calls == calls
    assert [entry["version"] for entry in report.imported] == [1, 2, 3, 4, 5, 6]
    assert store.latest_version("held") == 6
