"""System metrics: a background thread that samples the machine while a version runs.

Every ``interval`` seconds the sampler reads CPU and memory use (of the machine and of
this process), disk and network I/O since sampling began, and, where ``nvidia-ml-py``
finds GPUs, each GPU's utilisation, memory, temperature and power. The values are
logged as ``system/...`` metrics through the version's journal, like points from
``log()``, with the sample's time and the sample number as step (so they never move
the default step of the user's points). ``psutil`` and ``nvidia-ml-py`` come with the
``system`` extra; without psutil nothing is sampled and nothing fails, without NVML
(or without a GPU) the GPU metrics are left out.

Sampling is on by default (every 10 s) wherever psutil or NVML can be imported; the
first sample is taken one interval after the version starts, so a short run records
none. ``EXPM_SYSTEM_METRICS=0`` (or ``false``/``off``/``no``) turns sampling off for
every manager of the process, whatever the code asks.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

from experiment_manager._run import SYSTEM_PREFIX
from experiment_manager.errors import ExperimentManagerError, InvalidArgumentError

__all__ = [
    "DEFAULT_INTERVAL",
    "ENVIRONMENT_VARIABLE",
    "Probe",
    "SystemSampler",
    "can_sample",
    "sampling_interval",
]

#: Seconds between two samples when sampling is turned on with ``True``.
DEFAULT_INTERVAL = 10.0
#: Set to ``0`` to turn system metrics off for the whole process.
ENVIRONMENT_VARIABLE = "EXPM_SYSTEM_METRICS"
_OFF = frozenset({"0", "false", "off", "no"})
_MIB = 1024.0 * 1024.0


def sampling_interval(setting: object) -> float | None:
    """The seconds between samples that a ``system_metrics`` argument asks for.

    Args:
        setting: ``False`` (off), ``True`` (every :data:`DEFAULT_INTERVAL` seconds)
            or a positive number of seconds.

    Returns:
        The interval, or None when sampling is off (also whenever the environment
        variable ``EXPM_SYSTEM_METRICS`` is ``0``).

    Raises:
        InvalidArgumentError: ``setting`` is not a bool or a positive finite number.

    Example:
        >>> sampling_interval(True), sampling_interval(2.5), sampling_interval(False)
        (10.0, 2.5, None)
    """
    if isinstance(setting, bool):
        interval = DEFAULT_INTERVAL if setting else None
    elif isinstance(setting, (int, float)) and math.isfinite(setting) and setting > 0:
        interval = float(setting)
    else:
        raise InvalidArgumentError(
            "system_metrics", setting, "must be True, False or a positive number of seconds"
        )
    if os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() in _OFF:
        return None
    return interval


def can_sample() -> bool:
    """Whether psutil or NVML (``pynvml``) can be imported, without importing them.

    Returns:
        False on an install without the ``system`` extra: no sampler thread is then
        started at all.

    Example:
        >>> isinstance(can_sample(), bool)
        True
    """
    for name in ("psutil", "pynvml"):
        if sys.modules.get(name) is not None:
            return True
        try:
            if importlib.util.find_spec(name) is not None:
                return True
        except (ImportError, ValueError):  # blocked (None in sys.modules) or broken
            continue
    return False


_IMPORT: Any = object()  # the default of Probe's modules: import them


def _import(name: str) -> ModuleType | None:
    try:
        return __import__(name)
    except ImportError:
        return None


class Probe:
    """Reads one sample of the machine's state.

    Args:
        disk_path: A path on the disk whose usage is reported (the log folder).
        psutil: The psutil module (by default imported; None: no CPU metrics).
        nvml: The ``pynvml`` module (by default imported; None: no GPU metrics).

    Example:
        >>> probe = Probe(".")
        >>> sample = probe.sample()
        >>> probe.close()
    """

    def __init__(
        self,
        disk_path: str,
        *,
        psutil: ModuleType | None = _IMPORT,
        nvml: ModuleType | None = _IMPORT,
    ) -> None:
        self._disk_path = disk_path
        self._psutil = _import("psutil") if psutil is _IMPORT else psutil
        self._process: Any = None
        self._io_start: dict[str, float] = {}
        if self._psutil is not None:
            self._process = self._psutil.Process()
            # cpu_percent measures since the previous call: the first one primes it.
            self._psutil.cpu_percent(interval=None)
            self._process.cpu_percent(interval=None)
            self._io_start = self._io_counters()
        self._nvml = _import("pynvml") if nvml is _IMPORT else nvml
        self._gpus: list[Any] = []
        if self._nvml is not None:
            try:
                self._nvml.nvmlInit()
                count = self._nvml.nvmlDeviceGetCount()
                self._gpus = [self._nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            except Exception:  # no driver, no GPU: NVML raises its own NVMLError
                self._nvml = None
                self._gpus = []

    @property
    def available(self) -> bool:
        """Whether anything can be sampled (psutil or a GPU was found)."""
        return self._psutil is not None or bool(self._gpus)

    def _io_counters(self) -> dict[str, float]:
        assert self._psutil is not None
        out: dict[str, float] = {}
        with _quiet():
            disk = self._psutil.disk_io_counters()
            if disk is not None:
                out["disk_read_mb"] = disk.read_bytes / _MIB
                out["disk_write_mb"] = disk.write_bytes / _MIB
        with _quiet():
            net = self._psutil.net_io_counters()
            if net is not None:
                out["network_sent_mb"] = net.bytes_sent / _MIB
                out["network_received_mb"] = net.bytes_recv / _MIB
        return out

    def sample(self) -> dict[str, float]:
        """Read the machine's state now.

        Returns:
            Metric name (``system/...``) to value; a reading the OS or the driver
            refuses is left out.
        """
        values: dict[str, float] = {}
        ps = self._psutil
        if ps is not None:
            with _quiet():
                values["cpu_percent"] = float(ps.cpu_percent(interval=None))
            with _quiet():
                memory = ps.virtual_memory()
                values["memory_percent"] = float(memory.percent)
                values["memory_used_mb"] = (memory.total - memory.available) / _MIB
            with _quiet():
                values["process_cpu_percent"] = float(self._process.cpu_percent(interval=None))
            with _quiet():
                values["process_memory_rss_mb"] = self._process.memory_info().rss / _MIB
            with _quiet():
                values["disk_usage_percent"] = float(ps.disk_usage(self._disk_path).percent)
            for name, total in self._io_counters().items():
                values[name] = total - self._io_start.get(name, total)
        for index, handle in enumerate(self._gpus):
            values.update(self._gpu_sample(index, handle))
        return {SYSTEM_PREFIX + name: value for name, value in values.items()}

    def _gpu_sample(self, index: int, handle: Any) -> dict[str, float]:
        nvml = self._nvml
        assert nvml is not None
        prefix = f"gpu/{index}/"
        out: dict[str, float] = {}
        with _quiet():
            out[prefix + "utilization_percent"] = float(
                nvml.nvmlDeviceGetUtilizationRates(handle).gpu
            )
        with _quiet():
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            out[prefix + "memory_used_mb"] = memory.used / _MIB
            if memory.total:
                out[prefix + "memory_percent"] = 100.0 * memory.used / memory.total
        with _quiet():
            sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
            out[prefix + "temperature_c"] = float(nvml.nvmlDeviceGetTemperature(handle, sensor))
        with _quiet():
            out[prefix + "power_w"] = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0  # mW
        return out

    def close(self) -> None:
        """Let go of NVML."""
        if self._nvml is not None:
            with _quiet():
                self._nvml.nvmlShutdown()
            self._nvml = None
            self._gpus = []


class _quiet:  # noqa: N801 (used as a statement: `with _quiet():`)
    """Skip one reading that fails: an unsupported sensor must not lose the others."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, Exception)


#: Writes one sample (values, step, wall time); returns False once the run is over.
WriteSample = Callable[[dict[str, float], int, float], bool]


class SystemSampler:
    """The background thread that samples a :class:`Probe` and writes each sample.

    The first sample is taken one interval after :meth:`start`, so a short run gets
    none and costs nothing.

    Args:
        write: Called with each sample, its step and time; returns False when the
            run has ended (the thread then stops).
        interval: Seconds between samples.
        disk_path: Path whose disk usage is reported.
        first_step: The step of the first sample (one more than a resumed
            version's last sample).
        probe: What to sample (default: a :class:`Probe` made in the thread).

    Example:
        >>> got = []
        >>> sampler = SystemSampler(lambda v, s, t: got.append(s) or True, 0.01, ".")
        >>> sampler.start()
        >>> sampler.stop()
    """

    def __init__(
        self,
        write: WriteSample,
        interval: float,
        disk_path: str,
        first_step: int = 0,
        probe: Probe | None = None,
    ) -> None:
        self._write = write
        self._interval = interval
        self._disk_path = disk_path
        self._step = first_step
        self._probe = probe
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="expm-system-metrics", daemon=True)

    def start(self) -> None:
        """Start sampling in the background."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sampling and wait (at most ``timeout`` seconds) for the thread to end.

        Args:
            timeout: Seconds to wait.
        """
        self.stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        try:
            probe = self._probe if self._probe is not None else Probe(self._disk_path)
        except Exception as error:  # a broken psutil install must not stop training
            _warn(f"system metrics are off: {error}")
            return
        try:
            if not probe.available:
                return
            while not self.stopped.wait(self._interval):
                values = probe.sample()
                if not values:
                    continue
                if not self._write(values, self._step, time.time()):
                    return
                self._step += 1
        except ExperimentManagerError as error:  # a full disk: stop sampling, say so once
            _warn(f"system metrics stopped: {error}")
        finally:
            probe.close()


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=2)
