"""The integrations cost nothing unless used: no framework is loaded by the package."""

from __future__ import annotations

import subprocess
import sys

import pytest

FRAMEWORKS = ("torch", "lightning", "pytorch_lightning", "keras", "transformers")


@pytest.mark.parametrize(
    ("system_metrics", "expected"), [(False, []), (True, ["psutil", "pynvml"])]
)
def test_importing_the_package_loads_no_framework(
    system_metrics: bool, expected: list[str]
) -> None:
    names = (*FRAMEWORKS, "psutil", "pynvml")
    code = (
        "import sys, time, tempfile, experiment_manager, experiment_manager.integrations\n"
        "from experiment_manager import ExperimentManager\n"
        f"m = ExperimentManager(tempfile.mkdtemp(), system_metrics={system_metrics})\n"
        "m.start_experiment('e', {}, {}); m.log({'loss': 1.0}); time.sleep(0.5)\n"
        "m.end_experiment()\n"
        f"print(sorted(name for name in {names!r} if name in sys.modules))\n"
    )
    environment = {"PATH": "/usr/bin:/bin"}  # without EXPM_SYSTEM_METRICS
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=environment,
    )
    # the sampler's own thread imports psutil (and NVML) when sampling is on
    assert result.stdout.strip() == str(expected), result.stdout
