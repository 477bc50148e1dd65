"""YAML configuration files and their validation.

Each command declares its configuration as a (nested) dataclass; :func:`load_config` reads a YAML
file and builds that dataclass, rejecting unknown keys, wrong types and out-of-range values with a
:class:`ConfigError` whose message names the file and the dotted key::

    configs/train.yaml: model.hidden_sizes[1]: expected int, got str 'wide'

Supported field types: ``int``, ``float`` (ints accepted), ``str``, ``bool``, ``list[T]``,
``tuple[T, ...]``, ``dict[str, T]``, ``Literal[...]``, ``T | None`` and nested dataclasses.
Bounds come from field metadata: ``field(default=1, metadata={"min": 0, "max": 10})``; a
dataclass's ``__post_init__`` may raise ``ValueError`` for cross-field checks, reported at that
dataclass's key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

__all__ = ["CONFIG_DIR", "ConfigError", "build_config", "load_config"]

CONFIG_DIR = Path(__file__).resolve().parent

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or does not match its schema."""


def load_config(path: str | Path, schema: type[T], overrides: dict[str, Any] | None = None) -> T:
    """Read the YAML file at ``path`` and validate it against the dataclass ``schema``.

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


def build_config(data: Any, schema: type[T], source: str = "<config>") -> T:
    """Validate already-parsed data (e.g. from YAML) against the dataclass ``schema``."""
    return _convert(data, schema, "", source)


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


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    where = f"{source}: {key or '<top level>'}"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _convert_dataclass(value, tp, key, source)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        errors = []
        for option in non_none:
            try:
                return _convert(value, option, key, source)
            except ConfigError as exc:
                errors.append(str(exc).split(": ", 2)[-1])
        raise ConfigError(f"{where}: {'; or '.join(errors)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {_describe(value)}")
        item_type = args[0] if args else Any
        items = [_convert(v, item_type, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_describe(value)}")
        value_type = args[1] if len(args) == 2 else Any
        result = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"{where}: keys must be strings, got {_describe(k)}")
            result[k] = _convert(v, value_type, _join(key, k), source)
        return result
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected int, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {_describe(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {_describe(value)}")
        return value
    raise ConfigError(f"{where}: unsupported schema type {tp!r}")


def _check_bounds(value: Any, metadata: Any, where: str) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    low, high = metadata.get("min"), metadata.get("max")
    if low is not None and value < low:
        raise ConfigError(f"{where}: must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{where}: must be <= {high}, got {value!r}")
    if metadata.get("exclusive_min") is not None and value <= metadata["exclusive_min"]:
        raise ConfigError(f"{where}: must be > {metadata['exclusive_min']}, got {value!r}")


def _convert_dataclass(value: Any, tp: type, key: str, source: str) -> Any:
    where = f"{source}: {key or '<top level>'}"
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {_describe(value)}")
    fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
    unknown = sorted(set(value) - set(fields), key=str)
    if unknown:
        raise ConfigError(
            f"{source}: {_join(key, str(unknown[0]))}: unknown key (allowed: {sorted(fields)})"
        )
    hints = typing.get_type_hints(tp)
    kwargs = {}
    for name, field in fields.items():
        field_key = _join(key, name)
        if name not in value:
            no_default = (field.default is dataclasses.MISSING
                          and field.default_factory is dataclasses.MISSING)
            if no_default:
                raise ConfigError(f"{source}: {field_key}: required key is missing")
            continue
        converted = _convert(value[name], hints[name], field_key, source)
        _check_bounds(converted, field.metadata, f"{source}: {field_key}")
        kwargs[name] = converted
    try:
        return tp(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
