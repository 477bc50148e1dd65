"""Resolving a ``pytorch`` model's factory and loading its ``state_dict`` file safely.

``entry_point`` is ``package.module:factory`` (imported from ``sys.path``) or
``path/to/file.py:factory`` (loaded from that file, relative to the config's base directory);
the factory may be a dotted attribute (``Class.create``). The ``state_dict`` file is read with
``torch.load(weights_only=True)``: a file that would need to unpickle Python objects (code) is
refused. Every problem is a one-line :class:`~model.adapters.base.ModelLoadError`.

Example
-------
>>> resolve_entry_point("driftline.model.network:GroupNet").__name__
'GroupNet'
>>> try:
...     resolve_entry_point("driftline.model.network:NoSuchNet", source="run.yaml")
... except ModelLoadError as exc:
...     print(exc)
run.yaml: model.entry_point: module 'driftline.model.network' has no attribute 'NoSuchNet'
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pickle
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from driftline.model.adapters.base import ModelLoadError

__all__ = ["build_module", "load_state_dict_file", "resolve_entry_point"]

_KEY = "model.entry_point"
_LISTED = 4


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def _module_from_file(path: Path, source: Any) -> Any:
    if not path.is_file():
        raise ModelLoadError(source, _KEY, f"{path}: no such file")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"driftline_model_factory_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(source, _KEY, f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look their module up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ModelLoadError(path, _KEY, f"importing it raised {_first_line(exc)}") from None
    return module


def resolve_entry_point(entry_point: str, base_dir: str | Path = ".",
                        source: Any = None) -> Callable[..., Any]:
    """The callable named by ``entry_point`` (see the module docstring)."""
    module_part, _, attribute = entry_point.rpartition(":")
    if not module_part or not attribute:
        raise ModelLoadError(source, _KEY, f"must be 'package.module:factory' or "
                             f"'path/to/file.py:factory', got {entry_point!r}")
    if module_part.endswith(".py"):
        path = Path(module_part)
        module = _module_from_file(path if path.is_absolute() else Path(base_dir) / path,
                                   source)
    else:
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            raise ModelLoadError(source, _KEY, f"cannot import module {module_part!r}: "
                                 f"{exc}") from None
        except Exception as exc:
            raise ModelLoadError(source, _KEY, f"importing module {module_part!r} raised "
                                 f"{_first_line(exc)}") from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ModelLoadError(source, _KEY, f"module {module_part!r} has no attribute "
                                 f"{attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ModelLoadError(source, _KEY, f"{entry_point!r} is a {type(target).__name__}, "
                             "not a callable factory")
    return target


def build_module(entry_point: str, kwargs: Mapping[str, Any], base_dir: str | Path = ".",
                 source: Any = None) -> Any:
    """``factory(**kwargs)`` of ``entry_point``, checked to be a ``torch.nn.Module``."""
    from torch import nn

    factory = resolve_entry_point(entry_point, base_dir, source)
    try:
        module = factory(**kwargs)
    except Exception as exc:
        raise ModelLoadError(source, _KEY, f"factory {entry_point!r} raised "
                             f"{_first_line(exc)}") from None
    if not isinstance(module, nn.Module):
        raise ModelLoadError(source, _KEY, f"factory {entry_point!r} returned a "
                             f"{type(module).__name__}, not a torch.nn.Module")
    return module


def _unpickler_error(exc: BaseException) -> str:
    """The one informative line of torch's long weights-only error ("" if none)."""
    _, _, rest = str(exc).partition("WeightsUnpickler error:")
    line = next((line.strip() for line in rest.splitlines() if line.strip()), "")
    return line.split(". Please")[0]


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    return f"{names[:_LISTED]}{more}"


def load_state_dict_file(path: str | Path, module: Any, entry_point: str) -> None:
    """Load the tensors of ``path`` into ``module`` (strict), with ``weights_only=True``."""
    import torch

    key = "model.state_dict"
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(path, key, "no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _unpickler_error(exc)
        if reason.startswith("Unsupported global"):  # a Python object, i.e. code, in the file
            raise ModelLoadError(path, key, f"refused by torch.load(weights_only=True): "
                                 f"{reason}; save only tensors, with "
                                 "torch.save(module.state_dict(), path)") from None
        raise ModelLoadError(path, key, f"cannot load (not a torch.save file?): "
                             f"{reason or _first_line(exc)}") from None
    except Exception as exc:
        raise ModelLoadError(path, key, f"cannot load: {_first_line(exc)}") from None
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]  # a checkpoint that nests the state_dict
    if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ModelLoadError(path, key, f"is not a state_dict (a mapping of parameter names to "
                             f"tensors), got {type(state).__name__}")
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing keys {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_listed(unexpected)}")
    for name in sorted(set(expected) & set(state)):
        if tuple(expected[name].shape) != tuple(state[name].shape):
            problems.append(f"{name!r} has shape {tuple(state[name].shape)} in the file, "
                            f"{tuple(expected[name].shape)} in the module")
            break
    if problems:
        raise ModelLoadError(path, key, f"does not match the module of {entry_point!r}: "
                             + "; ".join(problems))
    try:
        module.load_state_dict(state, strict=True)
    except Exception as exc:
        raise ModelLoadError(path, key, f"cannot be loaded into the module of "
                             f"{entry_point!r}: {_first_line(exc)}") from None
