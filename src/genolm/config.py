"""Typed configs: one ``@dataclass`` per entry point, built from YAML, kwargs or CLI flags.

Precedence: CLI flags override the file, the file overrides the dataclass defaults.
Unknown keys raise :class:`~genolm.errors.ConfigError` naming the nearest valid key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from genolm.errors import ConfigError
from genolm.registry import did_you_mean

C = TypeVar("C")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Coerce strings from the CLI (``--lr 1e-3``) to the field's declared type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except (ConfigError, ValueError, TypeError):
                continue
        raise ConfigError(f"config key '{key}': cannot read {value!r} as {tp}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
        try:
            out = tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}': expected {tp.__name__}, got {value!r}") from None
        if tp is int and isinstance(value, float) and value != out:
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
        return out
    if tp is str:
        if not isinstance(value, str | int | float):
            raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
        return str(value)
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        inner = args[0] if args else Any
        return [_coerce(v, inner, key) for v in value] if inner is not Any else list(value)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return dict(value)
    return value


def from_dict(cls: type[C], data: dict[str, Any], *, source: str = "config") -> C:
    """Build dataclass ``cls`` from ``data``; unknown keys get a "did you mean" error."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        k = key.replace("-", "_")
        if k not in fields:
            raise ConfigError(
                f"{source}: unknown key '{key}'.{did_you_mean(k, list(fields))} "
                f"Valid keys: {', '.join(sorted(fields))}."
            )
        kwargs[k] = _coerce(value, hints[k], k)
    return cls(**kwargs)


def load(cls: type[C], path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> C:
    """``cls`` from YAML file ``path`` (optional), then ``overrides`` (e.g. CLI flags that were set)."""
    data: dict[str, Any] = {}
    source = "config"
    if path is not None:
        source = str(path)
        text = Path(path).read_text()
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
        data.update(loaded)
    for k, v in (overrides or {}).items():
        if v is not None:
            data[k] = v
    return from_dict(cls, data, source=source)


def to_dict(cfg) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg, path: str | Path) -> None:
    from genolm.atomic import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
