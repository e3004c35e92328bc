"""Build step: put the dashboard's chart library (uPlot, from npm) into the package.

Third-party browser code is not kept in this repository. ``package.json`` names the
npm packages the dashboard serves and ``package-lock.json`` pins each one's version and
sha512 integrity. When a wheel (or an editable install) is built, this hook copies the
files listed in :data:`VENDOR` into ``src/experiment_manager/web/static/vendor/``
(ignored by git, shipped in the wheel and the sdist), taking them from

1. ``node_modules/`` when ``npm ci`` has been run (works offline), or else
2. the package's tarball from the npm registry (``$NPM_CONFIG_REGISTRY`` or
   https://registry.npmjs.org), checked against the lockfile's integrity before any
   file is extracted.

Without either (no registry reachable, no ``npm ci``), an install from a clone still
works: the wheel is built without the chart library and the build says so in one line;
``expm ui`` then says how to get it. An sdist, or a wheel built with
``EXPM_REQUIRE_CHART_LIBRARY=1``, fails instead (one line on stderr, exit code 1), so a
release always carries it; a wheel built from the sdist takes the sdist's copy.

Files already in place are kept when the stamp beside them names the pinned version
and their sha512 digests still match the ones recorded when they were written, so
rebuilding is offline and a changed file is never shipped.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

from hatchling.builders.config import BuilderConfig
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: npm package -> {file inside the package: name under static/vendor/}.
VENDOR = {
    "uplot": {
        "dist/uPlot.iife.min.js": "uPlot.iife.min.js",
        "dist/uPlot.min.css": "uPlot.min.css",
        "LICENSE": "uPlot.LICENSE.txt",
    },
}
TARGET = Path("src/experiment_manager/web/static/vendor")
STAMP = ".versions.json"
#: Set to 1 to make a wheel build fail when the chart library cannot be had (release).
REQUIRE_ENV = "EXPM_REQUIRE_CHART_LIBRARY"


class VendorError(RuntimeError):
    """A vendored package could not be fetched or did not match its lockfile entry."""


def _locked(root: Path, name: str) -> dict[str, Any]:
    lock = json.loads((root / "package-lock.json").read_text(encoding="utf-8"))
    entry = lock.get("packages", {}).get(f"node_modules/{name}")
    if not entry or "version" not in entry or "integrity" not in entry:
        raise VendorError(f"package-lock.json pins no version and integrity for {name!r}")
    return dict(entry)


def _check_integrity(name: str, data: bytes, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise VendorError(f"{name}: unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    if actual != expected:
        raise VendorError(f"{name}: the downloaded tarball does not match package-lock.json")


def _from_registry(name: str, entry: dict[str, Any]) -> dict[str, bytes]:
    registry = (
        os.environ.get("NPM_CONFIG_REGISTRY")
        or os.environ.get("npm_config_registry")  # noqa: SIM112 (npm spells it so)
        or "https://registry.npmjs.org"
    ).rstrip("/")
    url = entry.get("resolved") or f"{registry}/{name}/-/{name}-{entry['version']}.tgz"
    if not url.startswith("https://"):
        raise VendorError(f"{name}: refusing a non-https tarball URL {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https only)
            data = response.read()
    except OSError as error:
        raise VendorError(
            f"could not download {url} ({error}); run `npm ci` in the project folder "
            "(then the build copies from node_modules/) or set NPM_CONFIG_REGISTRY"
        ) from error
    _check_integrity(name, data, entry["integrity"])
    wanted = {f"package/{inner}": inner for inner in VENDOR[name]}
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            inner = wanted.get(member.name)
            if inner is not None and member.isfile():
                extracted = archive.extractfile(member)
                if extracted is not None:
                    found[inner] = extracted.read()
    return found


def _from_node_modules(root: Path, name: str, version: str) -> dict[str, bytes] | None:
    folder = root / "node_modules" / name
    try:
        installed = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if installed.get("version") != version:
        return None
    try:
        return {inner: (folder / inner).read_bytes() for inner in VENDOR[name]}
    except OSError:
        return None


def _digests(paths: list[Path]) -> dict[str, str] | None:
    """sha512 of each file by name, or None when one is missing."""
    try:
        return {path.name: hashlib.sha512(path.read_bytes()).hexdigest() for path in paths}
    except OSError:
        return None


def vendor(root: Path) -> list[Path]:
    """Make sure every file of :data:`VENDOR` is in place at its pinned version.

    Args:
        root: The project folder (holding package-lock.json).

    Returns:
        The vendored files and the stamp naming their versions.

    Raises:
        VendorError: A package could not be fetched, or its tarball failed the check.
    """
    target = root / TARGET
    stamp_path = target / STAMP
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stamp = {}
    written: list[Path] = []
    for name, files in VENDOR.items():
        entry = _locked(root, name)
        paths = [target / out for out in files.values()]
        if stamp.get(name) == {"version": entry["version"], "sha512": _digests(paths)}:
            written.extend(paths)
            continue
        contents = _from_node_modules(root, name, entry["version"]) or _from_registry(name, entry)
        missing = sorted(set(files) - set(contents))
        if missing:
            raise VendorError(f"{name} {entry['version']} has no {', '.join(missing)}")
        target.mkdir(parents=True, exist_ok=True)
        for inner, out in files.items():
            temporary = target / f".{out}.tmp"
            temporary.write_bytes(contents[inner])
            os.replace(temporary, target / out)
            written.append(target / out)
        stamp[name] = {"version": entry["version"], "sha512": _digests(paths)}
    temporary = target / f"{STAMP}.tmp"
    temporary.write_text(json.dumps(stamp, sort_keys=True), encoding="utf-8")
    os.replace(temporary, stamp_path)
    return [*written, stamp_path]


def required(target: str) -> bool:
    """Whether a build of ``target`` must carry the chart library (or fail).

    An sdist is built for release, and so is any build with :data:`REQUIRE_ENV` set to
    1. Everything else (``pip install .`` from a clone, of the core or any extra) goes on
    without it: only the dashboard's charts need it, and ``expm ui`` says how to get it.

    Args:
        target: Hatch's target name, ``wheel`` or ``sdist``.

    Returns:
        True when a missing chart library is an error.
    """
    return target == "sdist" or os.environ.get(REQUIRE_ENV, "") == "1"


class VendorHook(BuildHookInterface[BuilderConfig]):
    """Runs :func:`vendor` before the wheel (or editable wheel) or the sdist is built."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Vendor the browser files and make sure the wheel or sdist includes them.

        Without a reachable registry and without ``node_modules/``, a wheel is built
        without them (one line on stderr says so) unless :func:`required`.

        Args:
            version: ``standard`` or ``editable``.
            build_data: Hatch's build data (files are added to ``artifacts``, or to
                ``force_include`` for the sdist).

        Raises:
            SystemExit: The files could not be had and the build requires them: one line
                on stderr says why and what to do (a traceback through the build
                frontend would bury it).
        """
        root = Path(self.root)
        try:
            paths = vendor(root)
        except VendorError as error:
            reason = " ".join(str(error).split())  # one line, whatever the error held
            if required(self.target_name):
                why = "an sdist" if self.target_name == "sdist" else f"{REQUIRE_ENV}=1"
                print(
                    f"experiment-manager: error: this build ({why}) must carry the "
                    f"dashboard's chart library, which could not be had: {reason}",
                    file=sys.stderr,
                    flush=True,
                )
                raise SystemExit(1) from None
            print(
                f"experiment-manager: built without the dashboard's chart library ({reason})",
                file=sys.stderr,
            )
            return
        for path in paths:
            relative = path.relative_to(root).as_posix()
            if self.target_name == "sdist":
                build_data["force_include"][str(path)] = relative
            else:
                build_data["artifacts"].append(relative)
