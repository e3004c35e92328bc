"""What the framework integrations share.

Turning a framework's settings into hyperparameters, its logs into metric values, and
an exception into the status a version ends with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from experiment_manager import _serialize
from experiment_manager.errors import SerializationError

__all__ = ["ending_for", "hyperparameters_of", "plain_metrics", "score_of"]


def hyperparameters_of(value: object) -> dict[str, Any]:
    """A framework's settings as hyperparameters, never failing the training over one.

    Dicts and config objects (``Namespace``, dataclasses, pydantic, OmegaConf) keep
    their nested keys. A value with no JSON form (a module, a function, a dtype) is
    kept as its ``str``, as a training run must not stop because a setting cannot be
    stored exactly.

    Args:
        value: A mapping or config object; anything else gives ``{}``.

    Returns:
        JSON-ready hyperparameters.

    Example:
        >>> import argparse
        >>> hyperparameters_of(argparse.Namespace(lr=0.1, act=max))
        {'lr': 0.1, 'act': '<built-in function max>'}
    """
    mapping = value if isinstance(value, Mapping) else _serialize.config_mapping(value)
    if mapping is None:
        return {}
    out = _lenient(mapping, 0)
    return out if isinstance(out, dict) else {}


def _lenient(value: object, depth: int) -> Any:
    try:
        return _serialize.to_json(value, "hyperparameters")
    except SerializationError:
        pass
    if depth < 32:
        omegaconf = _omegaconf_lenient(value, depth)
        if omegaconf is not None:
            return omegaconf
        mapping = value if isinstance(value, Mapping) else None
        if mapping is None:
            try:
                mapping = _serialize.config_mapping(value)
            except SerializationError:
                mapping = None
        if mapping is not None:
            return {str(k): _lenient(v, depth + 1) for k, v in mapping.items()}
        if isinstance(value, (list, tuple)):
            return [_lenient(v, depth + 1) for v in value]
    text = str(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _omegaconf_lenient(value: object, depth: int) -> dict[str, Any] | list[Any] | None:
    """An OmegaConf config that has no strict JSON form, key by key, or None if not one.

    A missing mandatory value stays ``"???"`` and an interpolation that cannot be
    resolved stays its ``${...}`` text: reading either raises, and iterating the config
    reads every value.
    """
    if not type(value).__module__.startswith("omegaconf"):
        return None
    import omegaconf

    if not isinstance(value, (omegaconf.DictConfig, omegaconf.ListConfig)):
        return None
    keys: list[Any] = (
        list(value.keys()) if isinstance(value, omegaconf.DictConfig) else list(range(len(value)))
    )
    items: list[tuple[Any, Any]] = []
    for key in keys:
        try:
            if omegaconf.OmegaConf.is_missing(value, key):
                items.append((key, "???"))
                continue
            item = value[key]
        except omegaconf.errors.OmegaConfBaseException:
            node = value._get_node(key)  # the text as written, unresolved
            item = node._value() if isinstance(node, omegaconf.Node) else "???"
        items.append((key, _lenient(item, depth + 1)))
    if isinstance(value, omegaconf.ListConfig):
        return [item for _, item in items]
    return {str(key): item for key, item in items}


def plain_metrics(values: Mapping[str, Any]) -> dict[str, float]:
    """The entries of a framework's logs that are one real number, as floats.

    Scalar tensors and numpy scalars become floats (NaN and infinities are kept);
    strings, arrays of several values and ``None`` are left out.

    Args:
        values: Metric name to value, as a framework hands them over.

    Returns:
        Metric name to float.

    Example:
        >>> plain_metrics({"loss": 0.5, "lr": [0.1, 0.2], "name": "x", "ok": True})
        {'loss': 0.5}
    """
    out: dict[str, float] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not name or isinstance(value, (bool, str)):
            continue
        number = value
        if hasattr(value, "numel") and callable(value.numel):  # a torch tensor
            if value.numel() != 1:
                continue
            number = value.item()
        elif hasattr(value, "size") and hasattr(value, "item"):  # numpy, jax
            if getattr(value, "size", 0) != 1:
                continue
            number = value.item()
        try:
            out[name] = float(number)
        except (TypeError, ValueError):
            continue
        if isinstance(number, bool):
            del out[name]
    return out


def ending_for(error: BaseException | None) -> tuple[str, BaseException | str | None]:
    """The status (and error) a version ends with after training stopped on ``error``.

    Args:
        error: What escaped the training, or None for a normal end.

    Returns:
        ``("finished", None)``, ``("killed", error)`` for ``KeyboardInterrupt``, or
        ``("failed", error)``.

    Example:
        >>> ending_for(None)
        ('finished', None)
        >>> ending_for(KeyboardInterrupt())[0], ending_for(ValueError("nan"))[0]
        ('killed', 'failed')
    """
    if error is None:
        return "finished", None
    if isinstance(error, KeyboardInterrupt):
        return "killed", error
    if isinstance(error, SystemExit) and error.code in (None, 0):
        return "finished", None
    return "failed", error


def score_of(value: object) -> float | None:
    """A monitored score as a float, or None when there is none.

    Args:
        value: A number, scalar tensor or None.

    Returns:
        The float (NaN and infinities kept), or None.

    Example:
        >>> score_of(None), score_of(0.25)
        (None, 0.25)
    """
    return plain_metrics({"v": value}).get("v")
