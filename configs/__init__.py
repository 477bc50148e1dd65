"""YAML configuration files, validated by pydantic models.

Each command declares its configuration once, as a (nested) :class:`ConfigModel`: pydantic
validates types, bounds and cross-field rules, rejects unknown keys, and exports the JSON Schema
that editors use to complete and check the YAML files (``driftline config-schema``).
:func:`load_config` reads a YAML file into such a model; any problem becomes a
:class:`ConfigError` with one line per problem, naming the file and the dotted key::

    configs/train.yaml: network.hidden_sizes[1]: Input should be a valid integer, got str 'wide'

Example
-------
>>> from pydantic import Field
>>> class Window(ConfigModel):
...     size: int = Field(500, ge=10)
...     stride: int = 1
>>> try:
...     build_config({"size": 5, "strid": 1}, Window, source="demo.yaml")
... except ConfigError as exc:
...     print(exc)
demo.yaml: size: must be >= 10, got 5
demo.yaml: strid: unknown key (did you mean 'stride'? allowed: size, stride)
>>> build_config({}, Window).size
500
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

__all__ = ["CONFIG_DIR", "ConfigError", "ConfigModel", "build_config", "key_error", "load_config"]

CONFIG_DIR = Path(__file__).resolve().parent

M = TypeVar("M", bound=BaseModel)

# The error type of :func:`key_error`; its context carries the offending key below the model.
_KEY_ERROR = "config_key"
_BOUNDS = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
           "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}
_MAPPING_TYPES = frozenset({"model_type", "model_attributes_type", "dict_type"})


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or does not match its schema."""


class ConfigModel(BaseModel):
    """Base of every config section: unknown keys are errors, values keep their YAML type
    (``true`` is not a number, ``"5"`` is not an int; an int is a valid float), and assigning
    an attribute validates the new value."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)


def key_error(key: str, message: str) -> PydanticCustomError:
    """An error for a model validator to raise about its field ``key`` (dotted, relative to the
    model: ``"months"``, ``"tradeoff.stream"``, ``"detectors[0].streams"``); reported at the
    model's own key joined with ``key``."""
    return PydanticCustomError(_KEY_ERROR, "{key}: {message}", {"key": key, "message": message})


def load_config(path: str | Path, schema: type[M], overrides: dict[str, Any] | None = None) -> M:
    """Read the YAML file at ``path`` and validate it against the model ``schema``.

    ``overrides`` maps dotted keys (``"source.max_events"``) to values applied before validation.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    for dotted, value in (overrides or {}).items():
        _apply_override(data, dotted, value, str(path))
    return build_config(data, schema, source=str(path))


def build_config(data: Any, schema: type[M], source: str = "<config>") -> M:
    """Validate already-parsed data (e.g. from YAML) against the model ``schema``."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_describe_error(error, schema)}" for error in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def _apply_override(data: Any, dotted: str, value: Any, source: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping to apply override {dotted!r}")
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: {dotted}: cannot override inside a non-mapping")
    node[keys[-1]] = value


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _value(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _describe_error(error: ErrorDetails, schema: type[BaseModel]) -> str:
    """``key: message`` for one pydantic error."""
    kind, ctx, loc = error["type"], error.get("ctx") or {}, error["loc"]
    key = _dotted(loc)
    if kind == _KEY_ERROR:
        below = str(ctx["key"])
        key = f"{key}{below}" if below.startswith("[") or not key else f"{key}.{below}"
        return f"{key}: {ctx['message']}"
    key = key or "<top level>"
    if kind in _BOUNDS:
        symbol, name = _BOUNDS[kind]
        return f"{key}: must be {symbol} {ctx[name]}, got {error['input']!r}"
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "extra_forbidden":
        allowed = sorted(_fields_at(schema, loc[:-1]))
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{key}: unknown key ({hint}allowed: {', '.join(allowed)})"
    if kind in _MAPPING_TYPES:
        return f"{key}: expected a mapping, got {_value(error['input'])}"
    if kind == "value_error":
        return f"{key}: {ctx['error']}"
    return f"{key}: {error['msg']}, got {_value(error['input'])}"


def _fields_at(schema: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """Field names of the model found at ``loc`` below ``schema`` (empty if none is)."""
    tp: Any = schema
    for part in (*loc, None):
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next(arg for arg in typing.get_args(tp) if arg is not type(None))
        if part is None:
            break
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(part) if isinstance(part, str) else None
            tp = field.annotation if field is not None else None
        else:
            args = typing.get_args(tp)
            tp = args[-1] if args else None
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []
