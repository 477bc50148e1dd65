"""The ``model:`` section of a run config: which adapter serves the predictions.

A union discriminated by ``kind`` (:data:`ModelConfig`); every kind has ``artifacts_dir``, the
directory holding the reference profile (and, for ``driftline``, the trained model):

* ``driftline`` (the default, so ``model: {artifacts_dir: artifacts}`` keeps meaning what it
  always did): the MLP ``driftline train`` writes (``model.pt``), with its rule-based fallback.
* ``torchscript``: a ``torch.jit`` file (``path``).
* ``pytorch``: ``entry_point`` (``package.module:factory`` or ``file.py:factory``) builds the
  ``nn.Module``; ``state_dict`` is loaded into it with ``torch.load(weights_only=True)``.
* ``none``: the model runs elsewhere; predictions and scores are read from the events
  (the schema's ``outputs``).

The two torch kinds take the model input from ``preprocessing`` (:class:`PreprocessingConfig`,
applied by :mod:`model.adapters.preprocessing`) and say what the module returns in
``returns``: a tensor or a tuple whose elements are, in order, named ``logits`` or
``probabilities`` (exactly one), ``score`` and ``embedding`` (the penultimate layer).

.. code-block:: yaml

    model:
      kind: torchscript
      artifacts_dir: artifacts-mine      # driftline profile --output-dir artifacts-mine
      path: models/classifier.ts
      returns: [logits]
      preprocessing:
        features: [age, region, has_garage]
        standardise: profile             # numeric fields: (x - reference mean) / reference std
        missing: impute                  # reference mean / most frequent category

Example
-------
>>> from driftline.configs import build_config
>>> from pydantic import BaseModel
>>> class Run(BaseModel):
...     model: ModelConfig = Field(default_factory=TrainedModelConfig)
>>> Run.model_validate({"model": {"artifacts_dir": "artifacts"}}).model.kind
'driftline'
>>> Run.model_validate({"model": {"kind": "none", "score": "risk"}}).model.score
'risk'
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from driftline.configs import ConfigModel, key_error

__all__ = [
    "MODEL_KINDS",
    "ModelConfig",
    "PreprocessingConfig",
    "PyTorchModelConfig",
    "ScalingConfig",
    "ServedElsewhereConfig",
    "TorchModelConfig",
    "TorchScriptModelConfig",
    "TrainedModelConfig",
]

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]
#: what an element of a torch model's return value is
ReturnName = Literal["logits", "probabilities", "score", "embedding"]
# the JSON Schema states what the validators check, for editors and other validators
_UNIQUE: dict[str, Any] = {"uniqueItems": True}
#: ``package.module:factory`` or ``path/to/file.py:factory`` (the factory may be ``Class.method``)
ENTRY_POINT_PATTERN = r"^[^:\s]+:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class ScalingConfig(ConfigModel):
    """A declared standardisation of one numeric field: ``(x - mean) / std``."""

    mean: float
    std: float = Field(gt=0.0)


class PreprocessingConfig(ConfigModel):
    """How decoded fields become the model's input matrix (see
    :mod:`model.adapters.preprocessing`).

    ``features`` is the input order (schema field names; default: every schema field, in
    schema order). Numeric fields are standardised with the reference profile's mean and std
    (``standardise: profile``) unless ``scaling`` declares their own; booleans are 0/1;
    categorical fields are one-hot over the profile's categories plus one "other" column
    (known categories beyond the profile's top ones; unseen ones too, unless
    ``unseen_category: zeros``). ``missing``: ``impute`` (the reference mean; for a
    categorical, its most frequent category), ``constant`` (``fill_value`` in the field's own
    units; for a categorical, all zeros) or ``refuse`` (every feature must be required in the
    schema, so the decoder dead-letters events without it).
    """

    features: list[Name] | None = Field(None, min_length=1, json_schema_extra=_UNIQUE)
    standardise: Literal["profile", "none"] = "profile"
    scaling: dict[str, ScalingConfig] = Field(default_factory=dict)
    unseen_category: Literal["other", "zeros"] = "other"
    missing: Literal["impute", "constant", "refuse"] = "impute"
    fill_value: float = 0.0

    @model_validator(mode="after")
    def _check(self) -> PreprocessingConfig:
        if self.features is not None:
            seen: dict[str, int] = {}
            for i, name in enumerate(self.features):
                if seen.setdefault(name, i) != i:
                    raise key_error(f"features[{i}]", f"{name!r} is already features[{seen[name]}]")
            for name in self.scaling:
                if name not in seen:
                    raise key_error(f"scaling.{name}", f"{name!r} is not in features")
        return self


class _ModelSection(ConfigModel):
    artifacts_dir: str = Field("artifacts", min_length=1)


class TrainedModelConfig(_ModelSection):
    """The model ``driftline train`` wrote into ``artifacts_dir`` (``model.pt`` and
    ``reference_profile.json``), served with its rule-based fallback and input guard."""

    kind: Literal["driftline"] = "driftline"


class TorchModelConfig(_ModelSection):
    """Keys shared by the ``torchscript`` and ``pytorch`` kinds.

    ``classes`` default to the schema's ``outputs.classes``; ``batch_size`` rows go through the
    module at a time; ``dtype: auto`` feeds the dtype of the module's first floating parameter
    (float32 if it has none).
    """

    classes: list[Name] | None = Field(None, min_length=2, json_schema_extra=_UNIQUE)
    returns: list[ReturnName] = Field(
        default_factory=lambda: ["logits"], min_length=1, json_schema_extra={
            **_UNIQUE, "contains": {"enum": ["logits", "probabilities"]}, "minContains": 1,
            "maxContains": 1})
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    batch_size: int = Field(8192, ge=1)
    dtype: Literal["auto", "float32", "float64"] = "auto"

    @model_validator(mode="after")
    def _check_outputs(self) -> TorchModelConfig:
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise key_error("classes", "must not repeat a class")
        for i, name in enumerate(self.returns):
            if name in self.returns[:i]:
                raise key_error(f"returns[{i}]", f"{name!r} is named twice")
        heads = [name for name in self.returns if name in ("logits", "probabilities")]
        if len(heads) != 1:
            raise key_error("returns", "must name exactly one of logits, probabilities, got "
                            f"{self.returns}")
        return self


class TorchScriptModelConfig(TorchModelConfig):
    """A TorchScript file (``torch.jit.save``), loaded with ``torch.jit.load``."""

    kind: Literal["torchscript"]
    path: str = Field(min_length=1)


class PyTorchModelConfig(TorchModelConfig):
    """``entry_point(**factory_kwargs)`` builds the module; the tensors of ``state_dict`` (a
    file of ``torch.save(module.state_dict())``) are loaded with ``weights_only=True``."""

    kind: Literal["pytorch"]
    entry_point: str = Field(pattern=ENTRY_POINT_PATTERN)
    factory_kwargs: dict[str, Any] = Field(default_factory=dict)
    state_dict: str = Field(min_length=1)


class ServedElsewhereConfig(_ModelSection):
    """No model in driftline: the events carry the prediction and/or the score.

    ``score`` says what the schema's ``outputs.score`` is: the served class's ``confidence``,
    a free ``risk`` score, or (two classes) the ``positive_probability`` of the second class.
    """

    kind: Literal["none"]
    score: Literal["confidence", "risk", "positive_probability"] = "confidence"


def _default_kind(data: Any) -> Any:
    """A section without ``kind`` is the ``driftline`` kind (the configs before adapters)."""
    if isinstance(data, dict) and "kind" not in data:
        return {"kind": "driftline", **data}
    return data


#: ``kind`` -> config class
MODEL_KINDS: dict[str, type[_ModelSection]] = {
    "driftline": TrainedModelConfig, "torchscript": TorchScriptModelConfig,
    "pytorch": PyTorchModelConfig, "none": ServedElsewhereConfig}


def _config_key(key: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("config_key", "{key}: {message}", {"key": key, "message": message})


def _fields_below(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the config model at ``loc`` below ``model`` (through dicts and lists)."""
    tp: Any = model
    for part in loc:
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            tp = tp.model_fields[part].annotation if part in tp.model_fields else None
        else:
            tp = typing.get_args(tp)[-1] if typing.get_args(tp) else None
        while typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _untagged(error: Any) -> dict[str, Any]:
    """One pydantic error of the union, reported at ``model.path`` (not
    ``model.torchscript.path``) and in the words of :mod:`configs`."""
    loc, kind, ctx = tuple(error["loc"]), error["type"], error.get("ctx") or {}
    tag = str(loc[0]) if loc and loc[0] in MODEL_KINDS else None
    loc = loc[1:] if tag is not None else loc
    problem: Any = PydanticCustomError(kind, error["msg"], ctx)
    if kind == "union_tag_invalid":
        problem, loc = _config_key("kind", f"unknown model kind {ctx.get('tag')!r} (kinds: "
                                   f"{', '.join(sorted(MODEL_KINDS))})"), ()
    elif kind == "extra_forbidden" and tag is not None:
        allowed = sorted(_fields_below(MODEL_KINDS[tag], loc[:-1]))
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        owners = [k for k, cls in MODEL_KINDS.items() if loc[-1] in cls.model_fields]
        if len(loc) == 1 and owners and not hint:
            hint = f"a key of kind {', '.join(owners)}; "
        where = f" for kind {tag}" if len(loc) == 1 else ""
        problem = _config_key(str(loc[-1]), f"unknown key{where} ({hint}allowed: "
                              f"{', '.join(allowed)})")
        loc = loc[:-1]
    elif kind == "string_pattern_mismatch" and loc == ("entry_point",):
        problem, loc = _config_key("entry_point", "must be 'package.module:factory' or "
                                   f"'path/to/file.py:factory', got {error['input']!r}"), ()
    return {"type": problem, "loc": loc, "input": error["input"]}


def _untag_errors(data: Any, handler: Callable[[Any], Any]) -> Any:
    try:
        return handler(data)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(
            exc.title, [_untagged(error) for error in exc.errors()]) from None


#: the ``model:`` section, discriminated by ``kind`` (default ``driftline``)
ModelConfig = Annotated[
    TrainedModelConfig | TorchScriptModelConfig | PyTorchModelConfig | ServedElsewhereConfig,
    Field(discriminator="kind"), BeforeValidator(_default_kind), WrapValidator(_untag_errors)]
