"""System metrics: the sampler thread, its CPU path for real, its GPU path on a fake NVML."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager, InvalidArgumentError, MissingCheckpointWarning
from experiment_manager._system_metrics import Probe, SystemSampler, sampling_interval
from tests._frameworks import require
from tests._util import wait_until


def _system(entry: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: v for k, v in entry["metrics"].items() if k.startswith("system/")}


@pytest.fixture(autouse=True)
def _sampling_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPM_SYSTEM_METRICS", raising=False)


def test_interval_argument() -> None:
    assert sampling_interval(True) == 10.0
    assert sampling_interval(0.5) == 0.5
    assert sampling_interval(False) is None
    for bad in (0, -1, float("nan"), float("inf"), "10", None):
        with pytest.raises(InvalidArgumentError, match="system_metrics"):
            ExperimentManager("unused", system_metrics=bad)  # type: ignore[arg-type]


def test_environment_variable_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("0", "false", "OFF", " no "):
        monkeypatch.setenv("EXPM_SYSTEM_METRICS", value)
        assert sampling_interval(True) is None
    monkeypatch.setenv("EXPM_SYSTEM_METRICS", "1")
    assert sampling_interval(True) == 10.0


def test_cpu_path_for_real_through_the_journal(log_dir: Path) -> None:
    require("psutil")
    manager = ExperimentManager(log_dir, system_metrics=0.05, capture_environment=False)
    manager.start_experiment("sys", {}, {})
    for step in range(3):
        assert manager.log({"loss": 1.0 / (step + 1)}) == step

    def sampled() -> bool:
        return len(_system(manager.read_history("sys")[0]).get("system/cpu_percent", [])) >= 3

    wait_until(sampled)  # visible while running: the points are in the journal
    # the sampler's own step axis leaves the user's default steps alone
    assert manager.log({"loss": 0.1}) == 3
    manager.end_experiment()
    entry = manager.read_history("sys")[0]
    system = _system(entry)
    expected = {
        "system/cpu_percent",
        "system/memory_percent",
        "system/memory_used_mb",
        "system/process_cpu_percent",
        "system/process_memory_rss_mb",
        "system/disk_usage_percent",
        "system/disk_read_mb",
        "system/disk_write_mb",
        "system/network_sent_mb",
        "system/network_received_mb",
    }
    assert expected <= set(system)
    samples = len(system["system/cpu_percent"])
    assert entry["steps"]["system/cpu_percent"] == list(range(samples))
    assert all(0 <= v <= 100 * 64 for v in system["system/cpu_percent"])
    assert all(0 < v <= 100 for v in system["system/memory_percent"])
    assert all(v > 1 for v in system["system/process_memory_rss_mb"])
    times = entry["timestamps"]["system/cpu_percent"]
    assert times == sorted(times)
    assert entry["steps"]["loss"] == [0, 1, 2, 3]
    # ended: the thread is gone and writes nothing more
    assert not [t for t in threading.enumerate() if t.name == "expm-system-metrics"]
    time.sleep(0.2)
    assert manager.read_history("sys")[0]["metrics"] == entry["metrics"]


def test_resume_continues_sample_numbers(log_dir: Path) -> None:
    require("psutil")
    manager = ExperimentManager(log_dir, system_metrics=0.05, capture_environment=False)
    manager.start_experiment("sys", {}, {})
    manager.log({"loss": 1.0}, step=0)
    wait_until(lambda: len(_system(manager.read_history("sys")[0]).get("system/cpu_percent", [])))
    manager.end_experiment()
    before = manager.read_history("sys")[0]["steps"]["system/cpu_percent"]
    manager.resume_experiment("sys")
    assert manager.log({"loss": 0.5}) == 1  # after the user's last step, not the samples'
    wait_until(
        lambda: len(manager.read_history("sys")[0]["steps"]["system/cpu_percent"]) > len(before)
    )
    manager.end_experiment()
    steps = manager.read_history("sys")[0]["steps"]["system/cpu_percent"]
    assert steps == list(range(len(steps)))


def _sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "expm-system-metrics"]


def test_on_by_default_and_a_short_run_records_only_what_it_logged(log_dir: Path) -> None:
    require("psutil")
    # The specification's example, as written: a plain manager, metrics logged at once.
    manager = ExperimentManager(log_dir=str(log_dir))
    record = manager.start_experiment(
        config_name="mnist_baseline",
        hyperparameters={"learning_rate": 0.01, "batch_size": 32, "epochs": 10},
        metadata={"precision": "float32", "model_size": "medium", "dataset_version": "v1.0"},
    )
    assert len(_sampler_threads()) == 1  # sampling while the version runs
    manager.log_metrics(
        {
            "loss": [0.5, 0.4, 0.3, 0.25],
            "accuracy": [0.85, 0.88, 0.90, 0.92],
            "val_loss": [0.52, 0.45, 0.38, 0.33],
        }
    )
    with pytest.warns(MissingCheckpointWarning):  # the example saves no file
        manager.add_checkpoint("checkpoints/model_epoch_5.npz")
    history = manager.read_history(record.experiment_id)
    # The first sample comes one interval (10 s) after the start: none in a short run.
    assert sorted(history[0]["metrics"]) == ["accuracy", "loss", "val_loss"]
    assert history[0]["metrics"]["accuracy"] == [0.85, 0.88, 0.90, 0.92]
    manager.end_experiment()
    assert _sampler_threads() == []  # ended with the version
    assert sorted(manager.read_history(record.experiment_id)[0]["metrics"]) == [
        "accuracy",
        "loss",
        "val_loss",
    ]


def test_off_with_the_argument_and_by_environment(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("psutil")
    quiet = ExperimentManager(log_dir, system_metrics=False, capture_environment=False)
    quiet.start_experiment("quiet", {}, {})
    assert _sampler_threads() == []
    quiet.end_experiment()
    monkeypatch.setenv("EXPM_SYSTEM_METRICS", "0")
    for manager in (
        ExperimentManager(log_dir, capture_environment=False),
        ExperimentManager(log_dir, system_metrics=0.01, capture_environment=False),
    ):
        manager.start_experiment("quiet", {}, {})
        assert _sampler_threads() == []
        time.sleep(0.1)  # ten intervals of the second manager: it would have sampled
        manager.end_experiment()
    for entry in ExperimentManager(log_dir).read_history("quiet"):
        assert _system(entry) == {}


def test_without_the_system_extra_no_thread_and_nothing_fails(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on an install without psutil and nvidia-ml-py: neither can be imported.
    monkeypatch.setitem(__import__("sys").modules, "psutil", None)
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)
    for setting in (True, 0.01):
        manager = ExperimentManager(log_dir, system_metrics=setting, capture_environment=False)
        with manager.experiment("bare", {}):
            assert _sampler_threads() == []
            manager.log({"loss": 0.5})
            time.sleep(0.05)
    for entry in manager.read_history("bare"):
        assert entry["status"] == "finished"
        assert sorted(entry["metrics"]) == ["loss"]


class _Memory:
    used = 3 * 1024 * 1024 * 1024
    total = 12 * 1024 * 1024 * 1024


class _NVMLError(Exception):
    pass


def _fake_nvml(gpus: int) -> types.ModuleType:
    calls: list[str] = []
    nvml = types.ModuleType("pynvml")
    nvml.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
    nvml.calls = calls  # type: ignore[attr-defined]
    nvml.nvmlInit = lambda: calls.append("init")  # type: ignore[attr-defined]
    nvml.nvmlShutdown = lambda: calls.append("shutdown")  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetCount = lambda: gpus  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetHandleByIndex = lambda i: f"gpu{i}"  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(  # type: ignore[attr-defined]
        gpu=40 + int(h[-1]), memory=10
    )
    nvml.nvmlDeviceGetMemoryInfo = lambda h: _Memory()  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetTemperature = lambda h, sensor: 61  # type: ignore[attr-defined]

    def power(handle: str) -> int:
        if handle == "gpu1":  # a GPU without a power sensor
            raise _NVMLError("Not Supported")
        return 187_500  # milliwatts

    nvml.nvmlDeviceGetPowerUsage = power  # type: ignore[attr-defined]
    return nvml


def test_gpu_path_on_a_fake_nvml(log_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_nvml(gpus=2)
    monkeypatch.setitem(__import__("sys").modules, "pynvml", fake)
    manager = ExperimentManager(log_dir, system_metrics=0.05, capture_environment=False)
    manager.start_experiment("gpu", {}, {})
    wait_until(
        lambda: (
            len(manager.read_history("gpu")[0]["metrics"].get("system/gpu/1/temperature_c", []))
            >= 2
        )
    )
    manager.end_experiment()
    metrics = manager.read_history("gpu")[0]["metrics"]
    assert metrics["system/gpu/0/utilization_percent"][0] == 40.0
    assert metrics["system/gpu/1/utilization_percent"][0] == 41.0
    assert metrics["system/gpu/0/memory_used_mb"][0] == 3072.0
    assert metrics["system/gpu/0/memory_percent"][0] == 25.0
    assert metrics["system/gpu/0/temperature_c"][0] == 61.0
    assert metrics["system/gpu/0/power_w"][0] == 187.5
    assert "system/gpu/1/power_w" not in metrics  # refused reading left out, others kept
    assert fake.calls[0] == "init"
    assert fake.calls[-1] == "shutdown"


def test_nothing_to_sample_writes_nothing(log_dir: Path) -> None:
    # without psutil and without NVML (as on a machine without the extra)
    probe = Probe(str(log_dir), psutil=None, nvml=None)
    assert not probe.available
    assert probe.sample() == {}
    written: list[Any] = []

    def write(values: dict[str, float], step: int, wall_time: float) -> bool:
        written.append(values)
        return True

    sampler = SystemSampler(write, 0.01, str(log_dir), probe=probe)
    sampler.start()
    time.sleep(0.1)
    sampler.stop()
    assert written == []


def test_nvml_without_a_driver_leaves_out_the_gpu(log_dir: Path) -> None:
    broken = types.ModuleType("pynvml")

    def init() -> None:
        raise _NVMLError("Driver Not Loaded")

    broken.nvmlInit = init  # type: ignore[attr-defined]
    probe = Probe(str(log_dir), nvml=broken)
    assert not any("gpu" in name for name in probe.sample())
    probe.close()


def test_expm_plot_shows_a_system_metric(log_dir: Path, tmp_path: Path) -> None:
    require("psutil")
    manager = ExperimentManager(log_dir, system_metrics=0.05, capture_environment=False)
    manager.start_experiment("sys", {}, {})
    manager.log({"loss": 1.0})

    def sampled() -> bool:
        return len(_system(manager.read_history("sys")[0]).get("system/cpu_percent", [])) >= 4

    wait_until(sampled)
    manager.end_experiment()
    values = manager.read_history("sys")[0]["metrics"]["system/cpu_percent"]

    def expm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "experiment_manager", "--log-dir", str(log_dir), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    result = expm("plot", "sys", "-m", "system/cpu_percent", "--width", "16")
    assert result.returncode == 0, result.stderr
    title, line = result.stdout.splitlines()
    assert title == "system/cpu_percent of sys"
    label, spark, *stats = line.split()
    assert label == "v1"
    assert 1 <= len(spark) <= 16
    assert set(spark) <= set("▁▂▃▄▅▆▇█")
    assert stats[0] == f"n={len(values)}"
    assert [stats[1], float(stats[2]), stats[3], float(stats[4])] == [
        "min",
        pytest.approx(min(values), rel=1e-5, abs=1e-9),
        "max",
        pytest.approx(max(values), rel=1e-5, abs=1e-9),
    ]
    # a second system metric, as a PNG
    require("matplotlib")
    target = tmp_path / "rss.png"
    result = expm("plot", "sys", "-m", "system/process_memory_rss_mb", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote 1 curve(s)" in result.stderr
