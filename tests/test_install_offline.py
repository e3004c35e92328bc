"""Installing from a clone when the npm registry cannot be reached.

The build hook fetches the dashboard's chart library from npm; without a registry (and
without ``npm ci``) a wheel of the core and of every extra still builds, saying so in one
line, while an sdist (built for release) refuses to be made without it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import hatch_build
import pytest

ROOT = Path(__file__).resolve().parent.parent
_UNREACHABLE = "https://127.0.0.1:9"  # nothing listens on the discard port


def _clone(tmp_path: Path) -> Path:
    """The files a clone has (the vendored folder, built locally, left out)."""
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("pyproject.toml", "hatch_build.py", "package.json", "package-lock.json"):
        shutil.copy2(ROOT / name, clone / name)
    for name in ("README.md", "LICENSE", ".gitignore"):  # .gitignore keeps node_modules out
        shutil.copy2(ROOT / name, clone / name)
    shutil.copytree(
        ROOT / "src",
        clone / "src",
        ignore=shutil.ignore_patterns("__pycache__", "vendor", "*.egg-info"),
    )
    return clone


def _env() -> dict[str, str]:
    env = dict(os.environ, NPM_CONFIG_REGISTRY=_UNREACHABLE, PIP_NO_INDEX="1")
    env.pop("npm_config_registry", None)
    env.pop(hatch_build.REQUIRE_ENV, None)
    return env


@pytest.mark.timeout(300)
def test_a_wheel_builds_without_the_registry_and_says_so_in_one_line(tmp_path: Path) -> None:
    clone = _clone(tmp_path)
    out = tmp_path / "wheels"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-v",
            "-w",
            str(out),
            str(clone),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    notes = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "built without the dashboard's chart library" in line
    ]
    assert len(notes) == 1, notes
    assert "npm ci" in notes[0]
    assert "NPM_CONFIG_REGISTRY" in notes[0]
    assert "Traceback" not in result.stderr
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "experiment_manager/manager.py" in names
    assert not [name for name in names if "/vendor/" in name]
    # The license travels with the package, and `pip show` has a License field to show.
    assert "License: MIT" in metadata.splitlines()
    assert any(name.endswith("licenses/LICENSE") for name in names)


@pytest.mark.timeout(300)
def test_a_release_build_refuses_to_go_without_the_chart_library(tmp_path: Path) -> None:
    clone = _clone(tmp_path)
    sdist = _hatchling(clone, "sdist", _env())
    assert sdist.returncode != 0
    assert "could not download" in sdist.stdout + sdist.stderr
    assert not list(clone.glob("dist/*.tar.gz"))
    wheel = _hatchling(clone, "wheel", dict(_env(), **{hatch_build.REQUIRE_ENV: "1"}))
    assert wheel.returncode != 0


@pytest.mark.timeout(300)
def test_the_sdist_carries_the_chart_library(tmp_path: Path) -> None:
    clone = _clone(tmp_path)
    _node_modules(clone)
    result = _hatchling(clone, "sdist", _env())
    assert result.returncode == 0, result.stderr
    (sdist,) = (clone / "dist").glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert any(name.endswith("web/static/vendor/uPlot.iife.min.js") for name in names)
    assert any(name.endswith("/LICENSE") for name in names)


def test_only_release_builds_require_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hatch_build.REQUIRE_ENV, raising=False)
    assert not hatch_build.required("wheel")
    assert hatch_build.required("sdist")
    monkeypatch.setenv(hatch_build.REQUIRE_ENV, "1")
    assert hatch_build.required("wheel")


def _closed_registry() -> str:
    """An https registry URL on a local port nothing listens on (npm unreachable)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"https://127.0.0.1:{port}"


def _release_env() -> dict[str, str]:
    """A release build (the setting on) with the npm registry unreachable."""
    registry = _closed_registry()
    return dict(
        _env(),
        NPM_CONFIG_REGISTRY=registry,
        npm_config_registry=registry,
        **{hatch_build.REQUIRE_ENV: "1"},
    )


def _pip_wheel(source: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",  # a cached wheel would skip the build being tested
            "-w",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _hatchling(clone: Path, target: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``hatchling build -t target`` in ``clone``, as a release script runs it."""
    return subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", target],
        cwd=clone,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _node_modules(clone: Path) -> str:
    """Leave the chart library's files in ``clone/node_modules`` as ``npm ci`` does.

    Returns:
        The version package-lock.json pins.
    """
    lock = json.loads((clone / "package-lock.json").read_text(encoding="utf-8"))
    version: str = lock["packages"]["node_modules/uplot"]["version"]
    folder = clone / "node_modules" / "uplot"
    for inner in hatch_build.VENDOR["uplot"]:
        (folder / inner).parent.mkdir(parents=True, exist_ok=True)
        (folder / inner).write_bytes(b"/* " + inner.encode() + b" */")
    (folder / "package.json").write_text(json.dumps({"version": version}), encoding="utf-8")
    return version


@pytest.mark.timeout(300)
def test_a_wheel_built_from_the_sdist_carries_the_chart_library_without_npm(
    tmp_path: Path,
) -> None:
    clone = _clone(tmp_path)
    version = _node_modules(clone)
    script = b"/* uPlot " + version.encode() + b", from node_modules */ var uPlot = {};"
    (clone / "node_modules" / "uplot" / "dist" / "uPlot.iife.min.js").write_bytes(script)
    sdist_build = _hatchling(clone, "sdist", _release_env())
    assert sdist_build.returncode == 0, sdist_build.stderr
    (sdist,) = (clone / "dist").glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert not [name for name in names if "node_modules" in name]  # only the vendored copy
    # The wheel is built from the sdist alone (as pip and build do), npm out of reach,
    # with the setting that makes a missing chart library an error.
    out = tmp_path / "wheels"
    wheel_build = _pip_wheel(sdist, out, _release_env())
    output = wheel_build.stdout + wheel_build.stderr
    assert wheel_build.returncode == 0, output[-3000:]
    assert "chart library" not in output
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("experiment_manager/web/static/vendor/uPlot.iife.min.js")
        names = archive.namelist()
    assert shipped == script
    assert "experiment_manager/web/static/vendor/uPlot.LICENSE.txt" in names
    assert "experiment_manager/web/static/vendor/uPlot.min.css" in names


@pytest.mark.timeout(300)
def test_a_required_build_without_the_chart_library_fails_with_one_clear_line(
    tmp_path: Path,
) -> None:
    clone = _clone(tmp_path)  # no node_modules, no vendored copy, npm out of reach
    out = tmp_path / "wheels"
    result = _pip_wheel(clone, out, _release_env())
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert not list(out.glob("*.whl"))
    assert "Traceback" not in output
    lines = [line.strip() for line in output.splitlines() if "experiment-manager: " in line]
    assert len(lines) == 1, output[-3000:]
    (line,) = lines
    assert line.startswith("experiment-manager: error: this build (EXPM_REQUIRE_CHART_LIBRARY=1)")
    assert "chart library" in line
    assert "could not download https://127.0.0.1:" in line
    assert "npm ci" in line
    assert "NPM_CONFIG_REGISTRY" in line
    # The same line, alone on stderr, from the backend itself, for a wheel and an sdist.
    for target, why in (("wheel", "EXPM_REQUIRE_CHART_LIBRARY=1"), ("sdist", "an sdist")):
        built = _hatchling(clone, target, _release_env())
        assert built.returncode == 1, built.stderr
        (alone,) = built.stderr.strip().splitlines()
        assert alone.startswith(f"experiment-manager: error: this build ({why}) must carry")
        assert not list(clone.glob("dist/*"))
