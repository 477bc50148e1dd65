"""The ``none`` adapter: the model is served elsewhere and its outputs come in the events.

Most teams log what their model served alongside the inputs: the predicted class
(``outputs.prediction`` of the schema) and/or a score (``outputs.score``). This adapter turns
those decoded columns into :class:`~model.adapters.base.Predictions` without any model in
driftline (and without importing torch). What the score means is the config's ``score``:

* ``confidence``: the probability of the served class (``confidence``; no class probabilities);
* ``risk``: a free score (``risk``; confidence unknown, NaN);
* ``positive_probability``: the probability ``p`` of the second of two classes, so the class
  probabilities are ``[1 - p, p]``; the served class is the event's prediction or, when it has
  none, the more probable class; the confidence is that class's probability.

An event without a prediction (optional ``outputs.prediction``) has label -1 unless the
score gives it. A confidence or probability outside [0, 1] is a
:class:`~model.adapters.base.ModelError` (the served model sent an impossible value).

Example
-------
>>> import numpy as np
>>> from driftline.model.adapters.base import InputBatch
>>> adapter = ServedElsewhereAdapter(["legit", "fraud"], "positive_probability",
...                                  has_prediction=False, has_score=True)
>>> batch = InputBatch(numeric=np.empty((2, 0)), numeric_names=[], score=[0.75, 0.5])
>>> served = adapter.predict(batch)
>>> served.labels.tolist(), served.confidence.tolist(), served.probabilities.tolist()
([1, 1], [0.75, 0.5], [[0.25, 0.75], [0.5, 0.5]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from driftline.model.adapters.base import (
    ModelAdapter,
    ModelError,
    ModelInput,
    ModelLoadError,
    Predictions,
)

__all__ = ["ServedElsewhereAdapter", "served_elsewhere_adapter"]


class ServedElsewhereAdapter(ModelAdapter):
    """Predictions read from the events (see the module docstring).

    Parameters
    ----------
    class_names : sequence of str
        The schema's ``outputs.classes`` (may be empty with a score only).
    score : str
        ``"confidence"``, ``"risk"`` or ``"positive_probability"``.
    has_prediction, has_score : bool
        Whether the schema declares ``outputs.prediction`` / ``outputs.score``.
    profile : ReferenceProfile, optional
        The reference profile.
    """

    kind = "none"

    def __init__(self, class_names: Sequence[str], score: str, *, has_prediction: bool,
                 has_score: bool, profile: Any = None) -> None:
        if not (has_prediction or has_score):
            raise ValueError("the events carry neither a prediction nor a score")
        if score == "positive_probability" and len(class_names) != 2:
            raise ValueError(f"score positive_probability needs two classes, got "
                             f"{list(class_names)}")
        self.class_names = list(class_names)
        self.score = score
        self.has_prediction = has_prediction
        self.has_score = has_score
        self.model_sha256 = ""
        self.input_names: list[str] = []
        self.profile = profile

    def _predict(self, batch: ModelInput) -> Predictions:
        n = len(batch)
        labels = (np.asarray(batch.prediction, dtype=np.int64) if self.has_prediction
                  else np.full(n, -1, dtype=np.int64))
        scores = np.asarray(batch.score, dtype=np.float64) if self.has_score else np.full(n,
                                                                                         np.nan)
        if self.score != "risk":
            outside = (scores < 0.0) | (scores > 1.0)
            if outside.any():
                row = int(np.flatnonzero(outside)[0])
                raise ModelError(f"the events' score ({self.score}) must be in [0, 1]; row "
                                 f"{row} has {float(scores[row])!r}")
        probabilities = None
        confidence = np.full(n, np.nan)
        risk = None
        if self.score == "confidence":
            confidence = scores
        elif self.score == "risk":
            risk = scores
        else:
            probabilities = np.column_stack([1.0 - scores, scores])
            more_probable = np.where(np.isnan(scores), -1, scores >= 0.5).astype(np.int64)
            labels = np.where(labels >= 0, labels, more_probable)
            confidence = np.where(labels == 1, scores, np.where(labels == 0, 1.0 - scores,
                                                                np.nan))
        return Predictions(labels=labels, probabilities=probabilities, confidence=confidence,
                           used_fallback=np.zeros(n, dtype=bool), risk=risk,
                           model_labels=labels)

    def describe(self) -> dict[str, Any]:
        """What the events carry."""
        return {**super().describe(), "score": self.score if self.has_score else None,
                "prediction": self.has_prediction}


def served_elsewhere_adapter(schema: Any, score: str, profile: Any = None,
                             schema_path: Any = None) -> ServedElsewhereAdapter:
    """The adapter for events of ``schema``; :class:`ModelLoadError` when the schema's
    ``outputs`` do not carry what the config's ``score`` needs."""
    outputs = schema.outputs
    if outputs.prediction is None and outputs.score is None:
        raise ModelLoadError(schema_path, "outputs", "model kind none reads the prediction or "
                             "the score from the events, but the schema declares neither "
                             "outputs.prediction nor outputs.score")
    if score != "confidence" and outputs.score is None:
        raise ModelLoadError(schema_path, "outputs.score", f"model.score is {score}, but the "
                             "schema declares no outputs.score")
    classes = list(outputs.classes or [])
    if score == "positive_probability" and len(classes) != 2:
        raise ModelLoadError(schema_path, "outputs.classes", f"model.score "
                             f"positive_probability needs two classes, got {classes}")
    return ServedElsewhereAdapter(classes, score, has_prediction=outputs.prediction is not None,
                                  has_score=outputs.score is not None, profile=profile)
