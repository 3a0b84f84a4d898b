"""Typed configuration: dataclasses filled from a JSON/YAML file, then CLI flags, validated once.

Each config dataclass has a ``problems() -> list[str]`` method; :func:`load_config` merges
the sources, rejects unknown keys and wrong types, and raises one :class:`ConfigError`
listing every problem.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from vidray.errors import ConfigError

T = TypeVar("T")


def read_config_file(path: str | os.PathLike) -> dict:
    """Read a JSON or YAML mapping from ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist", source=str(path))
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is a config error
        raise ConfigError(f"cannot parse: {exc}", source=str(path)) from exc
    if not isinstance(data, dict):
        raise ConfigError("must hold a mapping of settings", source=str(path))
    return data


def load_config(cls: type[T], path: str | os.PathLike | None = None, overrides: dict | None = None) -> T:
    """Build ``cls`` from defaults ← file at ``path`` ← non-None ``overrides``; validate."""
    values: dict[str, Any] = {}
    source = "config"
    if path is not None:
        values.update(read_config_file(path))
        source = str(path)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return from_dict(cls, values, source=source)


def from_dict(cls: type[T], values: dict, source: str = "config") -> T:
    """Check keys and types of ``values`` against ``cls``, build it, and validate it."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    problems = [f"unknown setting {k!r} (known: {', '.join(sorted(fields))})" for k in values if k not in fields]
    kwargs = {}
    for name, value in values.items():
        if name in fields:
            ok, converted = _coerce(value, hints[name])
            if ok:
                kwargs[name] = converted
            else:
                problems.append(f"{name}: expected {_type_name(hints[name])}, got {value!r}")
    if problems:
        raise ConfigError(problems, source=source)
    config = cls(**kwargs)
    problems = config.problems() if hasattr(config, "problems") else []
    if problems:
        raise ConfigError(problems, source=source)
    return config


def _coerce(value: Any, hint: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return True, None
        for arg in args:
            if arg is type(None):
                continue
            ok, converted = _coerce(value, arg)
            if ok:
                return True, converted
        return False, value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False, value
        item_type = args[0] if args else Any
        out = []
        for item in value:
            ok, converted = _coerce(item, item_type)
            if not ok:
                return False, value
            out.append(converted)
        return True, tuple(out) if origin is tuple else out
    if origin is dict or hint is dict:
        return isinstance(value, dict), value
    if hint is Any:
        return True, value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if hint is str:
        return isinstance(value, (str, os.PathLike)), str(value) if isinstance(value, (str, os.PathLike)) else value
    return isinstance(value, hint), value


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def to_dict(config) -> dict:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))
