"""The adapter protocol: one way to get predictions for a batch of decoded events.

Every model kind (:mod:`model.adapters.config`) is a :class:`ModelAdapter`:
``adapter.predict(batch)`` takes the columns of a batch (:class:`ModelInput`, which
:class:`executor.schema_decoder.DecodedBatch` is) and returns :class:`Predictions`: the served
class, its confidence, the class probabilities (BBSD's input), an optional score, an optional
embedding (the penultimate layer) and which rows the rule-based fallback served. Each adapter
also names its ``class_names`` and the ``model_sha256`` of its model file, so that a detector
checkpoint is never resumed on another model.

Whatever goes wrong while predicting (the model raises, returns the wrong shape, non-finite
values or probabilities that are not probabilities; the input has a value the preprocessing
refuses) is raised as :class:`ModelError`, and only that: the pipeline dead-letters the batch
with reason ``model_error`` (:func:`model.adapters.serving.run_model`) and keeps running.
A model that cannot be loaded is a :class:`ModelLoadError` (one line naming the file and the
config key) before anything runs.

Example
-------
>>> import numpy as np
>>> batch = InputBatch(numeric=np.array([[1.0], [2.0]]), numeric_names=["x"])
>>> len(batch), batch.categorical.shape
(2, (2, 0))
>>> probabilities = class_probabilities(np.array([[0.0, 0.0], [0.0, np.log(3.0)]]), "logits", 2)
>>> predictions_from(probabilities).labels.tolist(), probabilities[1].round(2).tolist()
([0, 1], [0.25, 0.75])
>>> try:
...     class_probabilities(np.array([[0.2, 0.3, 0.5]]), "probabilities", 2)
... except ModelError as exc:
...     print(exc)
the model's probabilities have shape (1, 3), expected (1, 2) (one column per class)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = [
    "InputBatch",
    "ModelAdapter",
    "ModelError",
    "ModelInput",
    "ModelLoadError",
    "Predictions",
    "class_probabilities",
    "column_positions",
    "finite_output",
    "predictions_from",
]

#: row sums of declared probabilities may differ from 1 by this much (float32 softmax)
PROBABILITY_SUM_TOLERANCE = 1e-3


class ModelError(RuntimeError):
    """The model failed on a batch (raised, wrong shape, non-finite or invalid outputs, or an
    input the preprocessing refuses); the batch's events become ``model_error`` dead letters."""


class ModelLoadError(ValueError):
    """The model cannot be loaded or does not fit the schema, profile or config (one line:
    ``<file>: model.<key>: <problem>``; the file or the key is left out when unknown)."""

    def __init__(self, path: Any, key: str, message: str) -> None:
        self.path = None if path is None else str(path)
        self.key = key
        super().__init__(": ".join(part for part in (self.path, key, message) if part))


class ModelInput(Protocol):
    """The columns an adapter reads (a :class:`executor.schema_decoder.DecodedBatch` has them):
    ``numeric`` ``(n, len(numeric_names))`` float64 (numeric and boolean fields, NaN: no
    value), ``categorical`` ``(n, len(categorical_names))`` integer codes of the profile's
    category vocabularies, and the event's own ``prediction`` (class index, -1: none) and
    ``score`` (NaN: none); ``vectors`` maps each vector or image field to its ``(n, size)``
    float32 block (a NaN row: no value)."""

    numeric: np.ndarray
    numeric_names: list[str]
    categorical: np.ndarray
    categorical_names: list[str]
    prediction: np.ndarray
    score: np.ndarray
    vectors: Mapping[str, np.ndarray]

    def __len__(self) -> int: ...


@dataclass
class InputBatch:
    """A :class:`ModelInput` built by hand (tests, training, benchmarks); absent parts are
    empty columns / "none" values."""

    numeric: np.ndarray
    numeric_names: list[str]
    categorical: np.ndarray | None = None
    categorical_names: list[str] = field(default_factory=list)
    prediction: np.ndarray | None = None
    score: np.ndarray | None = None
    vectors: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.numeric = np.asarray(self.numeric, dtype=np.float64)
        if self.numeric.ndim != 2 or self.numeric.shape[1] != len(self.numeric_names):
            raise ValueError(f"numeric must have shape (n, {len(self.numeric_names)}), got "
                             f"{self.numeric.shape}")
        n = self.numeric.shape[0]
        if self.categorical is None:
            self.categorical = np.zeros((n, len(self.categorical_names)), dtype=np.int32)
        self.categorical = np.asarray(self.categorical, dtype=np.int32).reshape(
            n, len(self.categorical_names))
        self.prediction = (np.full(n, -1, dtype=np.int64) if self.prediction is None
                           else np.asarray(self.prediction, dtype=np.int64))
        self.score = (np.full(n, np.nan) if self.score is None
                      else np.asarray(self.score, dtype=np.float64))
        if self.prediction.shape != (n,) or self.score.shape != (n,):
            raise ValueError(f"prediction and score must have shape ({n},), got "
                             f"{self.prediction.shape} and {self.score.shape}")
        self.vectors = {name: np.asarray(block, dtype=np.float32)
                        for name, block in self.vectors.items()}
        for name, block in self.vectors.items():
            if block.ndim != 2 or block.shape[0] != n:
                raise ValueError(f"vectors[{name!r}] must have shape ({n}, size), got "
                                 f"{block.shape}")

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    @classmethod
    def from_profile(cls, profile: Any) -> InputBatch:
        """The reference rows of a profile whose features are all numeric and complete (the
        ``driftline train`` profile): ``reference_samples`` as one row per reference row."""
        if profile.categorical:
            raise ValueError("the profile has categorical features, whose reference rows it "
                             "does not keep")
        lengths = {len(profile.reference_samples[n]) for n in profile.feature_names}
        if len(lengths) > 1:
            raise ValueError("the profile's reference samples have missing values, so they "
                             "are not aligned rows")
        return cls(profile.reference_matrix(), list(profile.feature_names))


@dataclass(frozen=True)
class Predictions:
    """What the model serves for a batch of ``n`` rows.

    Attributes
    ----------
    labels : ndarray of int64, shape (n,)
        Served class (the rules' class where ``used_fallback``; -1 where an event of a ``none``
        model carries no prediction).
    probabilities : ndarray of float64, shape (n, n_classes), or None
        Class probabilities of whichever predictor served the row (``None`` when the model
        gives none: a ``none`` model without a probability score).
    confidence : ndarray of float64, shape (n,)
        Probability of the served class (NaN where unknown).
    used_fallback : ndarray of bool, shape (n,)
        Rows served by the rule-based fallback.
    risk : ndarray of float64, shape (n,) or None
        The model's score or risk output (the rules' cell mean where ``used_fallback``).
    model_labels : ndarray of int64, shape (n,)
        The model's own class for every row, fallback or not.
    embedding : ndarray of float64, shape (n, d), or None
        The model's penultimate layer, when it returns one (``returns: [..., embedding]``).
    """

    labels: np.ndarray
    probabilities: np.ndarray | None
    confidence: np.ndarray
    used_fallback: np.ndarray
    risk: np.ndarray | None
    model_labels: np.ndarray
    embedding: np.ndarray | None = None


class ModelAdapter(ABC):
    """A loaded model of one kind (see the module docstring).

    Attributes
    ----------
    kind : str
        The config ``kind``.
    class_names : list of str
        Class names by index (empty for a ``none`` model that has only scores).
    model_sha256 : str
        SHA-256 identifying the model's weights ("" without a model).
    input_names : list of str
        Columns of the model's input matrix after preprocessing ([] without a model).
    profile : ReferenceProfile
        The reference profile the adapter was built against.
    """

    kind: str = ""
    class_names: list[str]
    model_sha256: str
    input_names: list[str]
    profile: Any

    def predict(self, batch: ModelInput) -> Predictions:
        """Predictions for every row of ``batch``; any failure is a :class:`ModelError`."""
        try:
            return self._predict(batch)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"{type(exc).__name__}: {exc}") from exc

    @abstractmethod
    def _predict(self, batch: ModelInput) -> Predictions:
        """The kind's own prediction (may raise anything; :meth:`predict` wraps it)."""

    def describe(self) -> dict[str, Any]:
        """What was loaded, for ``driftline check-model`` and logs."""
        return {"kind": self.kind, "classes": list(self.class_names),
                "inputs": list(self.input_names), "model_sha256": self.model_sha256}


def finite_output(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` as float64, or :class:`ModelError` naming the first non-finite row."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(values.shape[0], -1).any(axis=1))
        raise ModelError(f"the model's {what} are not finite in {rows.size} of "
                         f"{values.shape[0]} rows (first: row {int(rows[0])})")
    return values


def class_probabilities(output: np.ndarray, returns: str, n_classes: int) -> np.ndarray:
    """Class probabilities from the model's class output (``returns`` ``"logits"``: softmax;
    ``"probabilities"``: checked to be probabilities), or :class:`ModelError`."""
    output = np.asarray(output)
    n = output.shape[0] if output.ndim else 0
    if output.shape != (n, n_classes):
        raise ModelError(f"the model's {returns} have shape {tuple(output.shape)}, expected "
                         f"({n}, {n_classes}) (one column per class)")
    values = finite_output(output, returns)
    if returns == "logits":
        shifted = np.exp(values - values.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    tolerance = PROBABILITY_SUM_TOLERANCE
    bad = (values < -tolerance).any(axis=1) | (values > 1 + tolerance).any(axis=1) | (
        np.abs(values.sum(axis=1) - 1.0) > tolerance)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ModelError(f"the model's probabilities of row {row} are not a distribution "
                         f"(values {np.round(values[row], 4).tolist()}); declare returns: "
                         "[logits] if the model returns logits")
    return values


def predictions_from(probabilities: np.ndarray, risk: np.ndarray | None = None,
                     embedding: np.ndarray | None = None) -> Predictions:
    """:class:`Predictions` of a model without fallback: the most probable class."""
    labels = np.argmax(probabilities, axis=1).astype(np.int64)
    return Predictions(labels=labels, probabilities=probabilities,
                       confidence=probabilities.max(axis=1, initial=0.0),
                       used_fallback=np.zeros(labels.shape[0], dtype=bool), risk=risk,
                       model_labels=labels, embedding=embedding)


def column_positions(wanted: Sequence[str], available: Sequence[str], what: str) -> np.ndarray:
    """Positions of ``wanted`` names in ``available``; :class:`ModelError` names a missing one."""
    index = {name: i for i, name in enumerate(available)}
    missing = [name for name in wanted if name not in index]
    if missing:
        raise ModelError(f"the batch has no {what} column {missing[0]!r} (it has "
                         f"{list(available)})")
    return np.array([index[name] for name in wanted], dtype=np.intp)
