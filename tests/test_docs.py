"""The documentation contract: examples run, public names are documented."""

from __future__ import annotations

import doctest
import importlib
import inspect
import os
import pkgutil
import re
from pathlib import Path

import pytest

import experiment_manager

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(experiment_manager.__path__, "experiment_manager.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if name == "experiment_manager._system_metrics":  # its examples show the default: on
        monkeypatch.delenv("EXPM_SYSTEM_METRICS", raising=False)
    try:
        module = importlib.import_module(name)
    except experiment_manager.MissingDependencyError as missing:  # a framework integration
        if os.environ.get("CI"):  # the test extra installs every framework
            raise
        pytest.skip(str(missing))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"


def _public_callables() -> list[tuple[str, object]]:
    found = []
    for name in experiment_manager.__all__:
        obj = getattr(experiment_manager, name)
        if inspect.isclass(obj) and obj.__module__ == "experiment_manager.manager":
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and callable(member):
                    found.append((f"ExperimentManager.{attr}", member))
        elif inspect.isfunction(obj):
            found.append((name, obj))
    for attr, member in vars(experiment_manager._reads.ReadsMixin).items():
        if not attr.startswith("_") and callable(member):
            found.append((f"ExperimentManager.{attr}", member))
    return found


@pytest.mark.parametrize(("name", "obj"), _public_callables())
def test_public_methods_have_args_returns_and_an_example(name: str, obj: object) -> None:
    doc = inspect.getdoc(obj) or ""
    assert "Example:" in doc, f"{name} has no example"
    signature = inspect.signature(obj)  # type: ignore[arg-type]
    takes_arguments = any(p for p in signature.parameters if p != "self")
    if takes_arguments:
        assert "Args:" in doc, f"{name} documents no arguments"


def test_every_public_name_is_exported_and_documented() -> None:
    for name in experiment_manager.__all__:
        assert hasattr(experiment_manager, name), name
        obj = getattr(experiment_manager, name)
        if inspect.isclass(obj):
            assert obj.__doc__, f"{name} has no docstring"


def test_every_public_error_and_warning_is_exported_and_in_the_error_table() -> None:
    from experiment_manager import errors

    public = [
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj)
        and not name.startswith("_")
        and obj.__module__ == errors.__name__
        and issubclass(obj, (errors.ExperimentManagerError, errors.ExperimentManagerWarning))
    ]
    assert {"RunActiveError", "QuerySyntaxError", "StoreConnectionError"} <= set(public)
    usage = (ROOT / "docs" / "usage.md").read_text(encoding="utf-8")
    table = usage.split("## Errors", 1)[1].split("\n## ", 1)[0]
    for name in public:
        assert name in experiment_manager.__all__, name
        assert getattr(experiment_manager, name) is getattr(errors, name)
        assert f"`{name}`" in table, f"{name} is not in docs/usage.md's error table"


def test_readme_quickstart_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "README has no python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    history = experiment_manager.ExperimentManager("my_experiments").read_history("mnist_baseline")
    assert [h["version"] for h in history] == [1]
    assert history[0]["metrics"]["accuracy"] == [0.85, 0.88, 0.90, 0.92]
