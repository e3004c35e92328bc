"""The per-version columns files under ``<log_dir>/.expm/columns/<id>/<v>.bin``.

They hold a finished version's points as float64 arrays so the dashboard can plot a
curve without parsing the history. They are derived data: a reader must get exactly
the numbers the history holds, or None (and fall back to the history) whenever the
file is missing, damaged, of another fingerprint, or no longer describes the history.
Checked here: the encoding itself (``stores._columns``), and how ``FileStore`` writes,
rewrites, removes and serves the files as versions start, end, resume and change.
"""

from __future__ import annotations

import math
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiment_manager import ExperimentManager, _serialize
from experiment_manager.stores import _atomic, _columns, _index, _index_file
from experiment_manager.stores._columns import StepRange, encode, read
from experiment_manager.stores.files import FileStore
from experiment_manager.web._series import columns_of


@pytest.fixture(autouse=True)
def columns_for_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The histories here are small: keep and read their columns files all the same."""
    monkeypatch.setattr(_columns, "MIN_BYTES_PER_VERSION", 0)


FINGERPRINT: list[Any] = [1, "finished", "2024-01-01T00:00:00+00:00", 0, 0, 3]
KINDS = ("values", "steps", "times")


def floats_of(column: memoryview | StepRange) -> list[float]:
    if isinstance(column, StepRange):
        return [column.start + column.stride * i for i in range(column.count)]
    return list(struct.unpack(f"<{len(column) // 8}d", column))


def same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def assert_floats(column: memoryview | StepRange, expected: list[Any]) -> None:
    got = floats_of(column)
    want = [math.nan if v is None else float(v) for v in expected]
    assert len(got) == len(want)
    assert all(same(g, w) for g, w in zip(got, want, strict=True)), (got, want)


def write(path: Path, stored: dict[str, Any], fingerprint: list[Any] = FINGERPRINT) -> bytes:
    data = encode(stored, fingerprint)
    assert data is not None
    path.write_bytes(data)
    return data


# -- the encoding ---------------------------------------------------------------------

values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["NaN", "Infinity", "-Infinity"]),
    st.integers(-(2**53), 2**53),
    st.integers(-(2**63), 2**63),
)
optional_ints = st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63)), max_size=8)
optional_floats = st.lists(st.one_of(st.none(), st.floats(allow_nan=False)), max_size=8)
metric_names = st.sampled_from(["loss", "acc", "lr"])


@st.composite
def stored_versions(draw: st.DrawFn) -> dict[str, Any]:
    metrics = draw(st.dictionaries(metric_names, st.lists(values, max_size=8), max_size=3))
    stored: dict[str, Any] = {"version": 1, "metrics": metrics}
    for field, column in (("steps", optional_ints), ("timestamps", optional_floats)):
        if draw(st.booleans()):
            names = draw(st.lists(st.sampled_from(sorted(metrics) or ["loss"]), unique=True))
            stored[field] = {name: draw(column) for name in names}
    return stored


@settings(max_examples=150, deadline=None)
@given(stored_versions())
def test_read_gives_back_every_stored_point(stored: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "1.bin"
        write(path, stored)
        for name in ("loss", "acc", "lr"):
            found = read(path, FINGERPRINT, name, KINDS)
            assert found is not None
            if name not in stored["metrics"]:
                assert found == {}
                continue
            for kind, field in _columns.KINDS.items():
                column = (stored.get(field) or {}).get(name)
                if column is None:
                    assert kind not in found
                else:
                    assert_floats(found[kind], column)
            assert set(read(path, FINGERPRINT, name, ("values",)) or {}) == {"values"}


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([0, 10], StepRange(0.0, 10.0, 2)),
        ([5, 15, 25, 35], StepRange(5.0, 10.0, 4)),
        (list(range(3, 30_000, 3)), StepRange(3.0, 3.0, 9999)),
    ],
)
def test_even_int_steps_are_stored_as_a_range(
    tmp_path: Path, steps: list[int], expected: StepRange
) -> None:
    path = tmp_path / "1.bin"
    write(path, {"metrics": {"loss": [1.0] * len(steps)}, "steps": {"loss": steps}})
    found = read(path, FINGERPRINT, "loss", ("steps",))
    assert found == {"steps": expected}
    assert type(found["steps"]) is StepRange
    assert (type(found["steps"].start), type(found["steps"].stride)) == (float, float)
    assert_floats(found["steps"], steps)


@pytest.mark.parametrize(
    "steps",
    [
        [0, 10, 25],
        [3, 2, 1],
        [5, 5, 5],
        [0, 1.0, 2],
        [0, 1, 2.0],
        [0, None, 2],
        [None, 1, 2],
        [7],
        [],
        [2**60, 2**60 + 1024, 2**60 + 2048],
        [-5, 5, 15],  # negative: start + stride * i could lose precision on the way
        [-(2**53 - 1) + (2**50 + 1) * i for i in range(12)],
    ],
)
def test_other_steps_are_stored_as_they_are(tmp_path: Path, steps: list[Any]) -> None:
    path = tmp_path / "1.bin"
    write(path, {"metrics": {"loss": [0.5] * len(steps)}, "steps": {"loss": steps}})
    found = read(path, FINGERPRINT, "loss", ("steps",))
    assert found is not None
    assert isinstance(found["steps"], memoryview)
    assert_floats(found["steps"], steps)


@pytest.mark.parametrize(
    "column", [[1.0, "oops"], ["nan"], ["inf"], [[1.0]], [{"a": 1}], [None], 1.0, "NaN"]
)
def test_a_value_that_is_not_a_number_encodes_as_none(column: Any) -> None:
    assert encode({"metrics": {"ok": [1.0], "loss": column}}, FINGERPRINT) is None


VALID: dict[str, Any] = {
    "metrics": {"loss": [0.5, "NaN", 0.25], "acc": [0.1, 0.2]},
    "steps": {"loss": [0, 3, 4], "acc": [0, 10]},
    "timestamps": {"loss": [1.5, None, 2.5], "acc": [3.0, 4.0]},
}


def split(data: bytes) -> tuple[dict[str, Any], bytes]:
    end = data.index(b"\n")
    return _serialize.loads(data[:end]), data[end + 1 :]


def edit_header(change: Callable[[dict[str, Any]], object]) -> Callable[[Path, bytes], None]:
    def apply(path: Path, data: bytes) -> None:
        header, payload = split(data)
        change(header)
        path.write_bytes(_serialize.dumps(header) + b"\n" + payload)

    return apply


def symlink(path: Path, data: bytes) -> None:
    target = path.with_name("real.bin")
    target.write_bytes(data)
    os.symlink(target, path)


def flip_payload(path: Path, data: bytes) -> None:
    header, payload = split(data)
    offset = len(data) - len(payload) + header["metrics"]["loss"]["values"][0] + 3
    path.write_bytes(data[:offset] + bytes([data[offset] ^ 0x10]) + data[offset + 1 :])


def misalign(path: Path, data: bytes) -> None:
    header, payload = split(data)
    offset, count, _ = header["metrics"]["loss"]["values"]
    moved = payload[offset + 4 : offset + 4 + 8 * (count - 1)]
    header["metrics"]["loss"]["values"] = [offset + 4, count - 1, zlib.crc32(moved)]
    path.write_bytes(_serialize.dumps(header) + b"\n" + payload)


def replace_header(text: bytes) -> Callable[[Path, bytes], object]:
    return lambda path, data: path.write_bytes(text + split(data)[1])


def spec(metric: str, kind: str, change: Callable[[Any], object]) -> Callable[[Path, bytes], None]:
    return edit_header(lambda header: change(header["metrics"][metric][kind]))


def set_item(key: Any, value: Any) -> Callable[[Any], None]:
    return lambda target: target.__setitem__(key, value)


def edit_length(change: Callable[[int], Any]) -> Callable[[Path, bytes], None]:
    return edit_header(lambda header: header.update(length=change(header["length"])))


DAMAGE = [
    ("other fingerprint", lambda p, _: write(p, VALID, [*FINGERPRINT[:-1], 4]), "loss"),
    ("missing", lambda p, _: None, "loss"),
    ("symlink", symlink, "loss"),
    ("truncated", lambda p, d: p.write_bytes(d[:-1]), "loss"),
    ("extra byte", lambda p, d: p.write_bytes(d + b"\0"), "loss"),
    ("flipped payload byte", flip_payload, "loss"),
    ("empty", lambda p, _: p.write_bytes(b""), "loss"),
    ("no newline", lambda p, d: p.write_bytes(d[: d.index(b"\n")]), "loss"),
    ("garbage header", replace_header(b"garbage\n"), "loss"),
    ("not json", replace_header(b'{"format":1,\n'), "loss"),
    ("header a list", replace_header(b"[1]\n"), "loss"),
    ("format 2", edit_header(set_item("format", 2)), "loss"),
    ("no format", edit_header(lambda h: h.pop("format")), "loss"),
    ("length too big", edit_length(lambda n: n + 8), "loss"),
    ("length too small", edit_length(lambda n: n - 1), "loss"),
    ("length a string", edit_length(str), "loss"),
    ("metrics a list", edit_header(set_item("metrics", [])), "loss"),
    ("metric a list", edit_header(lambda h: h["metrics"].update(loss=[0, 3, 0])), "loss"),
    ("offset not aligned", misalign, "loss"),
    ("negative offset", spec("loss", "values", set_item(0, -8)), "loss"),
    ("negative count", spec("loss", "values", set_item(1, -1)), "loss"),
    ("past the end", spec("acc", "times", lambda s: s.__setitem__(1, s[1] + 1)), "acc"),
    ("spec too short", spec("loss", "values", lambda s: s.pop()), "loss"),
    ("spec of floats", spec("loss", "values", set_item(0, 0.0)), "loss"),
    ("range missing key", spec("acc", "steps", lambda r: r.pop("count")), "acc"),
    ("range extra key", spec("acc", "steps", set_item("end", 20.0)), "acc"),
    ("range int start", spec("acc", "steps", set_item("start", 0)), "acc"),
    ("range string stride", spec("acc", "steps", set_item("stride", "10")), "acc"),
    ("range float count", spec("acc", "steps", set_item("count", 2.0)), "acc"),
    ("range negative count", spec("acc", "steps", set_item("count", -1)), "acc"),
]


@pytest.mark.parametrize(("damage", "metric"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_a_file_that_does_not_check_out_reads_as_none(
    tmp_path: Path, damage: Callable[[Path, bytes], object], metric: str
) -> None:
    good = tmp_path / "good.bin"
    data = write(good, VALID)
    assert read(good, FINGERPRINT, metric, KINDS) is not None
    path = tmp_path / "1.bin"
    damage(path, data)
    assert read(path, FINGERPRINT, metric, KINDS) is None


# -- the store ------------------------------------------------------------------------


def new_manager(log_dir: Path) -> tuple[ExperimentManager, FileStore]:
    manager = ExperimentManager(log_dir, capture_environment=False)
    assert isinstance(manager.store, FileStore)
    return manager, manager.store


def run(manager: ExperimentManager, points: list[float], status: str = "finished") -> None:
    manager.start_experiment("exp", {"lr": 0.125}, {}, experiment_id="exp")
    for step, value in enumerate(points):
        manager.log({"loss": value, "acc": -value}, step=step * 10)
    manager.log_metrics({"loss": [math.nan, math.inf]})
    manager.end_experiment(status)


def files(store: FileStore, version: int) -> list[Path]:
    """The columns files of a version (one per state: normally one at most)."""
    return sorted(store.columns_folder("exp").glob(f"{version}.*.bin"))


def assert_columns_match_history(manager: ExperimentManager, store: FileStore) -> None:
    records = manager.read_history("exp")
    for metric in ("loss", "acc", "absent"):
        found = store.metric_columns("exp", metric, KINDS)
        assert found is not None
        assert [(v, s) for v, s, _ in found[1]] == [(r["version"], r["status"]) for r in records]
        for (_, _, arrays), record in zip(found[1], records, strict=True):
            expected = columns_of(record, metric)
            for kind, want in zip(
                KINDS, (expected.values, expected.steps, expected.times), strict=True
            ):
                got = np.array(floats_of(arrays[kind]) if kind in arrays else [])
                np.testing.assert_array_equal(got, want)


def test_a_finished_version_is_served_and_a_running_one_is_not(tmp_path: Path) -> None:
    manager, store = new_manager(tmp_path)
    run(manager, [0.5, 0.25, 0.125])
    assert len(files(store, 1)) == 1
    assert_columns_match_history(manager, store)
    run(manager, [1.0], "failed")
    assert_columns_match_history(manager, store)

    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    manager.log({"loss": 3.0}, step=1)
    manager.log_metrics({"loss": [4.0]})
    assert store.metric_columns("exp", "loss", KINDS) is None
    assert files(store, 3) == []
    manager.end_experiment()
    assert_columns_match_history(manager, store)


def test_a_resumed_version_is_written_again(tmp_path: Path) -> None:
    manager, store = new_manager(tmp_path)
    run(manager, [0.5, 0.25])
    run(manager, [2.0])
    [old_file] = files(store, 1)
    before = old_file.read_bytes()
    manager.resume_experiment("exp", 1)
    manager.log({"loss": 0.0625})
    assert store.metric_columns("exp", "loss", KINDS) is None
    manager.add_checkpoint("model.pt")
    manager.end_experiment()
    [new_file] = files(store, 1)  # the old state's file is gone
    assert new_file.name != old_file.name
    after = new_file.read_bytes()
    assert split(after)[0]["fingerprint"] != split(before)[0]["fingerprint"]
    assert_columns_match_history(manager, store)
    found = store.metric_columns("exp", "loss", ("values",))
    assert found is not None
    assert floats_of(found[1][0][2]["values"])[-1] == 0.0625


def test_a_deleted_file_is_written_back_at_the_next_write(tmp_path: Path) -> None:
    manager, store = new_manager(tmp_path)
    run(manager, [0.5, 0.25])
    files(store, 1)[0].unlink()
    assert store.metric_columns("exp", "loss", KINDS) is None
    run(manager, [1.0])
    assert len(files(store, 1)) == 1
    assert_columns_match_history(manager, store)


def test_a_file_of_an_older_state_is_replaced_at_the_next_write(tmp_path: Path) -> None:
    # What a writer killed between the index and the columns file leaves behind.
    manager, store = new_manager(tmp_path)
    run(manager, [0.5, 0.25])
    [current] = files(store, 1)
    stale = current.with_name("1.0123456789abcdef.bin")
    current.rename(stale)
    assert store.metric_columns("exp", "loss", KINDS) is None
    run(manager, [1.0])
    assert files(store, 1) == [current]
    assert_columns_match_history(manager, store)


def test_a_file_of_a_version_not_in_the_history_is_removed(tmp_path: Path) -> None:
    manager, store = new_manager(tmp_path)
    run(manager, [0.5])
    [current] = files(store, 1)
    stray = current.with_name("99.0123456789abcdef.bin")
    shutil.copyfile(current, stray)
    manager.start_experiment("exp", {}, {}, experiment_id="exp")
    assert not stray.exists()
    assert files(store, 1) == [current]


@pytest.mark.parametrize(
    ("old", "new"), [(b'"lr":0.125', b'"lr":0.375'), (b"[0.5,0.25,", b"[0.5,0.75,")]
)
def test_a_hand_edited_history_is_not_served_from_old_files(
    tmp_path: Path, old: bytes, new: bytes
) -> None:
    manager, store = new_manager(tmp_path)
    run(manager, [0.5, 0.25])
    path = store.history_path("exp")
    data = path.read_bytes()
    assert data.count(old) == 1
    path.write_bytes(data.replace(old, new))
    assert store.metric_columns("exp", "loss", KINDS) is None


def test_a_hand_edited_value_is_not_served_after_the_index_is_rebuilt(tmp_path: Path) -> None:
    manager, store = new_manager(tmp_path)
    run(manager, [0.5, 0.25])
    path = store.history_path("exp")
    path.write_bytes(path.read_bytes().replace(b"[0.5,0.25,", b"[0.5,0.75,"))
    manager.list_versions("exp")  # rebuilds the index for the edited history
    assert_columns_match_history(manager, store)  # and the columns files with it
    found = store.metric_columns("exp", "loss", ("values",))
    assert found is not None
    assert floats_of(found[1][0][2]["values"])[1] == 0.75


def test_a_write_after_a_hand_edit_makes_every_file_afresh(tmp_path: Path) -> None:
    manager, store = new_manager(tmp_path)
    run(manager, [0.5, 0.25])
    path = store.history_path("exp")
    path.write_bytes(path.read_bytes().replace(b"[0.5,0.25,", b"[0.5,0.75,"))
    run(manager, [1.0])  # no read in between: the write finds the index stale
    assert_columns_match_history(manager, store)


def test_a_version_that_cannot_be_encoded_loses_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager, store = new_manager(tmp_path)
    run(manager, [0.5, 0.25])
    assert len(files(store, 1)) == 1
    manager.resume_experiment("exp", 1)
    manager.log({"loss": 0.125})
    monkeypatch.setattr(_columns, "encode", lambda stored, fingerprint: None)
    manager.end_experiment()
    assert files(store, 1) == []
    assert store.metric_columns("exp", "loss", KINDS) is None
    assert manager.read_history("exp")[0]["metrics"]["loss"][-1] == 0.125


def assert_ends_with_every_point(tmp_path: Path) -> FileStore:
    manager, store = new_manager(tmp_path)
    run(manager, [0.5, 0.25, 0.125])
    loss = manager.read_history("exp")[0]["metrics"]["loss"]
    assert loss[:3] == [0.5, 0.25, 0.125]
    assert len(loss) == 5
    assert manager.read_history("exp")[0]["status"] == "finished"
    return store


def edit_history(store: FileStore) -> None:
    """Change a value by hand, keeping every count (the fingerprints stay the same)."""
    path = store.history_path("exp")
    data = path.read_bytes()
    assert data.count(b"[0.5,0.25,") == 1
    path.write_bytes(data.replace(b"[0.5,0.25,", b"[0.5,0.75,"))


def test_a_rebuild_killed_between_the_index_and_the_files_serves_nothing_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager, store = new_manager(tmp_path)
    run(manager, [0.5, 0.25])
    run(manager, [1.0])
    edit_history(store)
    real = _columns.encode
    calls: list[int] = []

    def killed_after_one(stored: dict[str, Any], fingerprint: list[Any]) -> bytes | None:
        if calls:
            raise KeyboardInterrupt  # the process dies here: nothing else runs
        calls.append(1)
        return real(stored, fingerprint)

    monkeypatch.setattr(_columns, "encode", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        manager.list_versions("exp")  # rebuilds the index, then the files
    monkeypatch.setattr(_columns, "encode", real)
    # The new index describes the edited history; the old files are not its files.
    assert store.metric_columns("exp", "loss", KINDS) is None
    manager.list_versions("exp")
    assert store.metric_columns("exp", "loss", KINDS) is None  # still missing: no writer yet
    run(manager, [2.0])
    assert_columns_match_history(manager, store)
    assert len(files(store, 1)) == 1  # the old generation's files are gone


def test_an_index_written_by_an_older_library_is_rebuilt_with_new_files(
    tmp_path: Path,
) -> None:
    manager, store = new_manager(tmp_path)
    run(manager, [0.5, 0.25])
    edit_history(store)
    # What the library before generations wrote after reading the edited history: a
    # valid format 3 index of it, and the columns files left as they were.
    history = store.history_path("exp")
    document = _serialize.loads(history.read_bytes())
    entries = _index.summarize_all(document["versions"], None)
    data = _index_file.encode(_atomic.file_identity(history.stat()), entries)
    header, _, rest = data.partition(b"\n")
    fields = _serialize.loads(header)
    old_header = {k: v for k, v in fields.items() if k != "generation"} | {"format": 3}
    store.index_path("exp").write_bytes(_serialize.dumps(old_header) + b"\n" + rest)
    assert store.metric_columns("exp", "loss", KINDS) is None
    manager.list_versions("exp")  # a format 3 index is rebuilt, with a new generation
    assert_columns_match_history(manager, store)


def test_a_full_disk_does_not_fail_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = _atomic.write_atomic

    def full(path: Path, data: bytes, **options: Any) -> None:
        if path.name.endswith(".bin"):
            raise OSError(28, "No space left on device", str(path))
        real(path, data, **options)

    monkeypatch.setattr(_atomic, "write_atomic", full)
    store = assert_ends_with_every_point(tmp_path)
    assert store.metric_columns("exp", "loss", KINDS) is None
    assert store.history_path("exp").stat().st_size > 0
    store.history_path("exp").touch()  # a reader's index rebuild must not fail either
    assert [v["version"] for v in store.summaries("exp")] == [1]


def test_a_columns_write_refused_does_not_fail_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _atomic.write_atomic

    def refuse_bin(path: Path, data: bytes, **options: Any) -> None:
        if path.name.endswith(".bin"):
            raise PermissionError(path)
        real(path, data, **options)

    monkeypatch.setattr(_atomic, "write_atomic", refuse_bin)
    store = assert_ends_with_every_point(tmp_path)
    assert store.metric_columns("exp", "loss", KINDS) is None


def test_an_unreadable_columns_folder_does_not_fail_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / ".expm" / "columns" / "exp"
    real = os.listdir

    def refuse(path: Any = ".") -> list[str]:
        if Path(path) == folder:
            raise PermissionError(path)
        return real(path)

    monkeypatch.setattr(os, "listdir", refuse)
    assert_ends_with_every_point(tmp_path)
