"""Typed configuration: dataclasses filled from a JSON/YAML file, then CLI flags, validated once.

A setting's range or allowed values are declared beside it (``seed: int = bounded(0, ge=0)``)
and checked generically; a config's optional ``problems() -> list[str]`` holds only the checks
that span fields or registries. :func:`load_config` merges the sources, rejects unknown keys and
wrong types, and raises one :class:`ConfigError` listing every problem.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from vidray.errors import ConfigError, InputError
from vidray.io import storage

T = TypeVar("T")
_BOUND = "vidray.bound"  # key of a field's Bound in its dataclass metadata


@dataclasses.dataclass(frozen=True)
class Bound:
    """What values a setting allows: a range (``ge``/``gt``/``le``/``lt``) or ``choices``; None always passes."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple | None = None
    note: str = ""  # why, shown after the rule: "(-1 = retry forever)"

    def problem(self, name: str, value: Any) -> str | None:
        """``"name must be >= 1, got 0"`` if ``value`` breaks the bound, else None."""
        if value is None:
            return None
        note = f" {self.note}" if self.note else ""
        if self.choices is not None:
            if value in self.choices:
                return None
            return f"{name} must be one of {', '.join(map(str, self.choices))}{note}, got {value!r}"
        try:
            if ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                    and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt)):
                return None
        except TypeError:  # not a number (a config built in code, not through from_dict)
            pass
        return f"{name} must be {self.rule()}{note}, got {value!r}"

    def rule(self) -> str:
        """The range in words: ``>= 1``, ``in 0..51``, ``in [0, 1)``."""
        low, high = (self.ge if self.ge is not None else self.gt), (self.le if self.le is not None else self.lt)
        if low is not None and high is not None:
            if self.ge is not None and self.le is not None and all(isinstance(v, int) for v in (low, high)):
                return f"in {low}..{high}"
            return f"in {'[' if self.ge is not None else '('}{low}, {high}{']' if self.le is not None else ')'}"
        for op, v in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)):
            if v is not None:
                return f"{op} {v}"
        return "anything"


def bounded(default: Any = dataclasses.MISSING, *, ge=None, gt=None, le=None, lt=None, choices=None, note: str = "",
            default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field whose allowed values are declared once: ``fps: int = bounded(10, ge=1)``."""
    bound = Bound(ge, gt, le, lt, tuple(choices) if choices is not None else None, note)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={_BOUND: bound})


def config_problems(config, prefix: str = "") -> list[str]:
    """Every problem with a built config: declared bounds of every field (nested configs included,
    named ``outer.inner``), then the config's own cross-field ``problems()``."""
    problems = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        bound = f.metadata.get(_BOUND)
        problem = bound.problem(prefix + f.name, value) if bound is not None else None
        if problem:
            problems.append(problem)
        if _is_config(value):
            problems += config_problems(value, f"{prefix}{f.name}.")
        elif isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                if _is_config(item):
                    problems += config_problems(item, f"{prefix}{f.name}[{i}].")
    if hasattr(config, "problems"):
        problems += [prefix + p for p in config.problems()]
    return problems


def _is_config(value) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def read_config_file(path: str | os.PathLike) -> dict:
    """Read a JSON or YAML mapping from ``path`` (a local path or a URI such as ``s3://bucket/films.json``)."""
    if storage.local_path(path) is not None:
        path = storage.local_path(path) if storage.is_uri(path) else Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist", source=str(path))
        text = path.read_text(encoding="utf-8")
    else:
        try:
            if not storage.exists(path):
                raise ConfigError(f"config file {path} does not exist", source=str(path))
            text = storage.read_bytes(path).decode("utf-8")
        except InputError as exc:
            raise ConfigError(f"config file {path}: {exc.reason}", source=str(path)) from exc
    try:
        if str(path).lower().endswith((".yaml", ".yml")):
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
    """Check keys and types of ``values`` against ``cls``, build it, and validate it (a mapping
    given for a nested config dataclass is built the same way)."""
    config, problems = _build(cls, values, "")
    if problems:
        raise ConfigError(problems, source=source)
    return config


def _build(cls: type[T], values: dict, prefix: str) -> tuple[T | None, list[str]]:
    """(config, []) or (None, problems): keys, types, required settings, then bounds and ``problems()``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    problems = [f"{prefix}unknown setting {k!r} (known: {', '.join(sorted(fields))})"
                for k in values if k not in fields]
    kwargs = {}
    for name, value in values.items():
        if name not in fields:
            continue
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            kwargs[name], nested = _build(hint, value, f"{prefix}{name}.")
            problems += nested
            continue
        ok, converted = _coerce(value, hint)
        if ok:
            kwargs[name] = converted
        else:
            problems.append(f"{prefix}{name}: expected {_type_name(hint)}, got {value!r}")
    problems += [f"{prefix}{name} is required" for name, f in fields.items() if f.init and name not in values and
                 f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if problems:
        return None, problems
    config = cls(**kwargs)
    problems = config_problems(config, prefix)
    return (None if problems else config), problems


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
