"""Preprocessing declared in the config: decoded columns -> the model's input matrix.

:class:`Preprocessor` is built once from a :class:`~model.adapters.config.PreprocessingConfig`,
the event schema and the reference profile, and then turns each batch (numeric columns and
categorical codes, :class:`~model.adapters.base.ModelInput`) into a float64 matrix whose
columns are :attr:`Preprocessor.input_names`, in ``features`` order:

* numeric field ``x``: one column ``x``, ``(x - mean) / std`` with the profile's mean and
  population std (``standardise: profile``; a constant reference column keeps std 1) or the
  declared ``scaling``; raw with ``standardise: none`` and no declared scaling;
* boolean field ``b``: one column ``b``, 0/1 as decoded;
* categorical field ``c`` with profile categories ``k1 .. kK``: columns ``c=k1 .. c=kK`` and
  ``c=__other__``. A category the profile pooled into "other" sets ``c=__other__``; an unseen
  one too (``unseen_category: other``) or no column (``zeros``);
* vector or image field ``v`` of ``size`` values: columns ``v[0] .. v[size-1]``, its values as
  decoded (images flattened in row-major order; the model reshapes them). A whole vector is not
  imputed, so a vector feature must be required in the schema.

Missing values (NaN, the vocabulary's missing code): ``impute`` uses the reference mean
(numeric and boolean) or the most frequent reference category; ``constant`` uses
``fill_value`` (numeric and boolean, before scaling) or no column (categorical); ``refuse``
is accepted only when every feature is required in the schema, so a missing value never
reaches the model (the decoder dead-letters the event); one that does anyway is a
:class:`~model.adapters.base.ModelError`.

Example
-------
>>> import numpy as np
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import EventSchema
>>> from driftline.model.adapters.base import InputBatch
>>> from driftline.model.adapters.config import PreprocessingConfig
>>> from driftline.model.profile import CategoricalProfile, ReferenceProfile
>>> schema = build_config({"fields": [{"name": "age", "type": "numeric", "optional": True},
...     {"name": "city", "type": "categorical"}]}, EventSchema)
>>> profile = ReferenceProfile([], {}, [], {}, [], {}, {"age": 40.0}, {"age": 10.0}, {}, {}, [],
...     None, None, 0.0, 100, "", "",
...     categorical={"city": CategoricalProfile(["paris", "rome"], [60, 30], other_count=10)})
>>> pre = Preprocessor(build_config({}, PreprocessingConfig), schema, profile)
>>> pre.input_names
['age', 'city=paris', 'city=rome', 'city=__other__']
>>> batch = InputBatch(numeric=[[50.0], [np.nan]], numeric_names=["age"],
...                    categorical=[[1], [3]], categorical_names=["city"])  # rome, unseen
>>> pre.transform(batch).tolist()
[[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.dataloader.schema import (
    ARRAY_FIELD_TYPES,
    BooleanField,
    CategoricalField,
    EventSchema,
    NumericField,
)
from driftline.model.adapters.base import ModelError, ModelInput, ModelLoadError, column_positions
from driftline.model.adapters.config import PreprocessingConfig

__all__ = ["OTHER_COLUMN", "Preprocessor"]

#: suffix of the one-hot column of "other" categories
OTHER_COLUMN = "__other__"
_MIN_STD = 1e-12
_NO_COLUMN = -1
_REFUSED = -2


@dataclass(frozen=True)
class _OneHot:
    """One categorical field's block of columns."""

    name: str
    start: int
    width: int
    columns_of_codes: np.ndarray  # code -> column within the block, _NO_COLUMN or _REFUSED


class Preprocessor:
    """Builds the model input from decoded columns (see the module docstring).

    Parameters
    ----------
    config : PreprocessingConfig
        The declared preprocessing.
    schema : EventSchema
        The event schema (field names and types).
    profile : ReferenceProfile
        The reference profile (means, stds, category vocabularies) built for ``schema``.
    source : str, optional
        The config file, named in :class:`ModelLoadError` messages.
    schema_path, profile_path : str, optional
        The schema and profile files, named in messages.
    key : str
        Dotted config key of ``config``, for messages.
    """

    def __init__(self, config: PreprocessingConfig, schema: EventSchema, profile: Any, *,
                 source: Any = None, schema_path: Any = None, profile_path: Any = None,
                 key: str = "model.preprocessing") -> None:
        self.config = config
        specs = {spec.name: spec for spec in schema.fields}
        names = config.features if config.features is not None else schema.field_names
        where = f" {schema_path}" if schema_path else ""
        for i, name in enumerate(names):
            if name not in specs:
                raise ModelLoadError(source, f"{key}.features[{i}]", f"field {name!r} is not "
                                     f"in the schema{where} (fields: {', '.join(specs)})")
        for name in config.scaling:
            if name not in specs:
                raise ModelLoadError(source, f"{key}.scaling.{name}", f"field {name!r} is not "
                                     f"in the schema{where} (fields: {', '.join(specs)})")
            if not isinstance(specs[name], NumericField):
                raise ModelLoadError(source, f"{key}.scaling.{name}", f"field {name!r} is "
                                     f"{getattr(specs[name], 'type', '')}; only numeric fields "
                                     "are scaled")
        if config.missing == "refuse":
            optional = [name for name in names if specs[name].optional]
            if optional:
                raise ModelLoadError(source, f"{key}.missing", f"refuse needs required "
                                     f"features, but field {optional[0]!r} is optional in the "
                                     f"schema{where}; make it required or impute it")
        self.input_names: list[str] = []
        numeric: list[tuple[str, int, float, float, float]] = []
        self.one_hot: list[_OneHot] = []
        #: (field, first column, size) of each vector or image feature
        self.vector_blocks: list[tuple[str, int, int]] = []
        for i, name in enumerate(names):
            spec = specs[name]
            if isinstance(spec, ARRAY_FIELD_TYPES):
                if spec.optional:
                    raise ModelLoadError(source, f"{key}.features[{i}]", f"field {name!r} is "
                                         f"an optional {spec.type} field in the schema{where}; "
                                         "a whole vector is not imputed: make it required")
                self.vector_blocks.append((name, len(self.input_names), spec.size))
                self.input_names += [f"{name}[{j}]" for j in range(spec.size)]
                continue
            if isinstance(spec, CategoricalField):
                block = self._one_hot(name, profile, source, profile_path, key)
                self.one_hot.append(block)
                continue
            mean, std = 0.0, 1.0
            if name in config.scaling:
                mean, std = config.scaling[name].mean, config.scaling[name].std
            elif config.standardise == "profile" and not isinstance(spec, BooleanField):
                mean, std = self._reference(profile, name, "standardise", source, profile_path,
                                            key)
                std = std if std > _MIN_STD else 1.0
            fill = np.nan
            if config.missing == "impute":
                fill = self._reference(profile, name, "missing", source, profile_path, key)[0]
            elif config.missing == "constant":
                fill = config.fill_value
            numeric.append((name, len(self.input_names), mean, std, fill))
            self.input_names.append(name)
        self.numeric_fields = [entry[0] for entry in numeric]
        self._numeric_columns = np.array([entry[1] for entry in numeric], dtype=np.intp)
        self._mean = np.array([entry[2] for entry in numeric], dtype=np.float64)
        self._std = np.array([entry[3] for entry in numeric], dtype=np.float64)
        self._fill = np.array([entry[4] for entry in numeric], dtype=np.float64)
        self._positions: tuple[list[str], list[str], np.ndarray, np.ndarray] | None = None

    @staticmethod
    def _reference(profile: Any, name: str, why: str, source: Any, profile_path: Any,
                   key: str) -> tuple[float, float]:
        if name not in profile.mean or name not in profile.std:
            raise ModelLoadError(profile_path or source, f"{key}.{why}", f"the profile has no "
                                 f"mean/std of field {name!r}; build it with driftline profile "
                                 "from this schema")
        return float(profile.mean[name]), float(profile.std[name])

    def _one_hot(self, name: str, profile: Any, source: Any, profile_path: Any,
                 key: str) -> _OneHot:
        entry = profile.categorical.get(name)
        if entry is None:
            raise ModelLoadError(profile_path or source, f"{key}.features", f"the profile has "
                                 f"no categories of field {name!r}; build it with driftline "
                                 "profile from this schema")
        vocabulary = entry.vocabulary()
        k = len(vocabulary.categories)
        columns = np.arange(vocabulary.size, dtype=np.intp)
        columns[vocabulary.other_code] = k
        columns[vocabulary.unseen_code] = k if self.config.unseen_category == "other" else (
            _NO_COLUMN)
        missing = self.config.missing
        columns[vocabulary.missing_code] = (
            (int(np.argmax(entry.counts)) if k else k) if missing == "impute"
            else _NO_COLUMN if missing == "constant" else _REFUSED)
        start = len(self.input_names)
        self.input_names += [f"{name}={category}" for category in vocabulary.categories]
        self.input_names.append(f"{name}={OTHER_COLUMN}")
        return _OneHot(name, start, k + 1, columns)

    @property
    def width(self) -> int:
        """Number of input columns."""
        return len(self.input_names)

    def scaling(self) -> dict[str, list[float]]:
        """``{numeric field: [mean, std]}`` applied (``[0, 1]`` when unscaled)."""
        return {name: [float(m), float(s)] for name, m, s in zip(
            self.numeric_fields, self._mean, self._std, strict=True)}

    def _positions_in(self, batch: ModelInput) -> tuple[np.ndarray, np.ndarray]:
        cached = self._positions
        if cached is not None and cached[0] == batch.numeric_names and (
                cached[1] == batch.categorical_names):
            return cached[2], cached[3]
        numeric = column_positions(self.numeric_fields, batch.numeric_names, "numeric")
        codes = column_positions([block.name for block in self.one_hot],
                                 batch.categorical_names, "categorical")
        self._positions = (list(batch.numeric_names), list(batch.categorical_names), numeric,
                           codes)
        return numeric, codes

    def transform(self, batch: ModelInput) -> np.ndarray:
        """The ``(len(batch), width)`` float64 input matrix of ``batch``."""
        numeric_at, codes_at = self._positions_in(batch)
        n = len(batch)
        out = np.zeros((n, self.width), dtype=np.float64)
        if numeric_at.size:
            values = batch.numeric[:, numeric_at]
            missing = np.isnan(values)
            if missing.any():
                self._fill_missing(values, missing)
            out[:, self._numeric_columns] = (values - self._mean) / self._std
        for name, start, size in self.vector_blocks:
            values = batch.vectors.get(name) if hasattr(batch, "vectors") else None
            if values is None or values.shape != (n, size):
                raise ModelError(f"the batch has no ({n}, {size}) block of vector field {name!r}"
                                 " (it was not decoded with this schema)")
            if np.isnan(values).any():
                raise ModelError(f"vector field {name!r} has no value in "
                                 f"{int(np.isnan(values).any(axis=1).sum())} rows")
            out[:, start:start + size] = values
        rows = np.arange(n)
        for block, at in zip(self.one_hot, codes_at, strict=True):
            codes = np.asarray(batch.categorical[:, at])
            lookup = block.columns_of_codes
            if n and (codes.min() < 0 or codes.max() >= lookup.size):
                raise ModelError(f"categorical codes of field {block.name!r} are outside the "
                                 f"profile's vocabulary [0, {lookup.size}): the batch was not "
                                 "decoded with this profile")
            columns = lookup[codes]
            if (columns == _REFUSED).any():
                raise ModelError(f"field {block.name!r} has no value in "
                                 f"{int((columns == _REFUSED).sum())} rows and "
                                 "preprocessing.missing is refuse")
            hit = columns >= 0
            out[rows[hit], block.start + columns[hit]] = 1.0
        return out

    def _fill_missing(self, values: np.ndarray, missing: np.ndarray) -> None:
        refused = missing & np.isnan(self._fill)
        if refused.any():
            column = int(np.flatnonzero(refused.any(axis=0))[0])
            raise ModelError(f"field {self.numeric_fields[column]!r} has no value in "
                             f"{int(refused[:, column].sum())} rows and preprocessing.missing "
                             "is refuse")
        np.copyto(values, np.broadcast_to(self._fill, values.shape), where=missing)
