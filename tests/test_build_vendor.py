"""The build step that puts the dashboard's chart library into the package (hatch_build.py).

No network here: the registry download is replaced by a local function, and the
integrity check is exercised on real bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import hatch_build
import pytest

FILES = {
    "dist/uPlot.iife.min.js": b"var uPlot=function(){};",
    "dist/uPlot.min.css": b".uplot{}",
    "LICENSE": b"MIT License",
}


@pytest.fixture(autouse=True)
def default_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever registry this machine is set up with, the tests expect npm's own."""
    monkeypatch.delenv("NPM_CONFIG_REGISTRY", raising=False)
    monkeypatch.delenv("npm_config_registry", raising=False)


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def project(tmp_path: Path, version: str = "1.6.32", digest: str = "sha512-AAAA") -> Path:
    lock = {"packages": {"node_modules/uplot": {"version": version, "integrity": digest}}}
    (tmp_path / "package-lock.json").write_text(json.dumps(lock), encoding="utf-8")
    return tmp_path


def node_modules(root: Path, version: str) -> None:
    folder = root / "node_modules" / "uplot"
    for name, data in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / "package.json").write_text(json.dumps({"version": version}), encoding="utf-8")


def vendored(root: Path) -> dict[str, bytes]:
    folder = root / hatch_build.TARGET
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_copies_from_node_modules_and_stamps_the_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path)
    node_modules(root, "1.6.32")
    monkeypatch.setattr(hatch_build, "_from_registry", lambda *a: pytest.fail("no download"))
    written = hatch_build.vendor(root)
    assert sorted(p.name for p in written) == [
        ".versions.json",
        "uPlot.LICENSE.txt",
        "uPlot.iife.min.js",
        "uPlot.min.css",
    ]
    files = vendored(root)
    assert files["uPlot.iife.min.js"] == FILES["dist/uPlot.iife.min.js"]
    assert files["uPlot.LICENSE.txt"] == FILES["LICENSE"]
    stamp = json.loads(files[".versions.json"])["uplot"]
    assert stamp["version"] == "1.6.32"
    assert (
        stamp["sha512"]["uPlot.iife.min.js"]
        == hashlib.sha512(FILES["dist/uPlot.iife.min.js"]).hexdigest()
    )
    assert not [name for name in files if name.endswith(".tmp")]


def test_files_in_place_at_the_pinned_version_are_kept_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path)
    node_modules(root, "1.6.32")
    hatch_build.vendor(root)
    (root / "node_modules").rename(root / "gone")
    monkeypatch.setattr(hatch_build, "_from_registry", lambda *a: pytest.fail("no download"))
    assert len(hatch_build.vendor(root)) == 4


def test_a_new_pin_downloads_and_checks_the_tarball(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tarball({**FILES, "dist/uPlot.iife.min.js": b"var uPlot=2;"})
    root = project(tmp_path, "2.0.0", integrity(data))
    node_modules(root, "1.6.32")  # an older install: not used for the new pin
    calls: list[str] = []

    def fake_urlopen(url: str, timeout: float) -> Any:
        calls.append(url)
        return io.BytesIO(data)

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    hatch_build.vendor(root)
    assert calls == ["https://registry.npmjs.org/uplot/-/uplot-2.0.0.tgz"]
    assert vendored(root)["uPlot.iife.min.js"] == b"var uPlot=2;"
    assert json.loads(vendored(root)[".versions.json"])["uplot"]["version"] == "2.0.0"


def test_a_vendored_file_changed_since_it_was_written_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path)
    node_modules(root, "1.6.32")
    hatch_build.vendor(root)
    script = root / hatch_build.TARGET / "uPlot.iife.min.js"
    script.write_bytes(b"alert('changed')")
    hatch_build.vendor(root)
    assert script.read_bytes() == FILES["dist/uPlot.iife.min.js"]


def test_a_registry_set_the_npm_way_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tarball(FILES)
    root = project(tmp_path, "2.0.0", integrity(data))
    calls: list[str] = []
    monkeypatch.setenv("npm_config_registry", "https://npm.example.org/")

    def fake_urlopen(url: str, timeout: float) -> Any:
        calls.append(url)
        return io.BytesIO(data)

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    hatch_build.vendor(root)
    assert calls == ["https://npm.example.org/uplot/-/uplot-2.0.0.tgz"]


def test_a_tarball_that_fails_the_integrity_check_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tarball(FILES)
    root = project(tmp_path, "2.0.0", integrity(good))
    tampered = tarball({**FILES, "dist/uPlot.iife.min.js": b"alert(1)"})
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: io.BytesIO(tampered))
    with pytest.raises(hatch_build.VendorError, match="does not match"):
        hatch_build.vendor(root)
    assert not (root / hatch_build.TARGET).exists()


def test_a_missing_file_or_pin_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    partial = tarball({"dist/uPlot.iife.min.js": b"x"})
    root = project(tmp_path, "2.0.0", integrity(partial))
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: io.BytesIO(partial))
    with pytest.raises(hatch_build.VendorError, match="has no"):
        hatch_build.vendor(root)
    (root / "package-lock.json").write_text('{"packages": {}}', encoding="utf-8")
    with pytest.raises(hatch_build.VendorError, match="pins no version"):
        hatch_build.vendor(root)


def test_the_project_pins_uplot_with_an_integrity_hash() -> None:
    root = Path(__file__).resolve().parent.parent
    entry = hatch_build._locked(root, "uplot")
    assert entry["integrity"].startswith("sha512-")
    package = json.loads((root / "package.json").read_text(encoding="utf-8"))
    assert package["dependencies"]["uplot"] == entry["version"]
