"""The ``driftline`` adapter: the MLP ``driftline train`` writes, with its rule-based fallback.

A thin layer over :class:`model.artifacts.LoadedModel`: it picks the model's feature columns
from the batch by name (no copy when the batch already has them in order) and returns exactly
what ``LoadedModel.predict`` serves (network, or the rules where the input guard says so),
checked like every adapter's output. The model's own standardisation buffers do the scaling,
so there is no preprocessing section.

Example
-------
>>> import tempfile
>>> from driftline.model.adapters.base import InputBatch
>>> from driftline.model.artifacts import load_artifacts
>>> from driftline.model.config import TrainConfig
>>> from driftline.model.train import train_and_save
>>> config = TrainConfig()
>>> config.optimiser.epochs, config.quality.min_accuracy, config.quality.min_macro_f1 = 1, 0, 0
>>> with tempfile.TemporaryDirectory() as directory:
...     _ = train_and_save(config, directory)
...     adapter = TrainedModelAdapter(load_artifacts(directory))
>>> batch = InputBatch.from_profile(adapter.profile)
>>> served = adapter.predict(batch)
>>> bool((served.labels == adapter.model.predict(batch.numeric).labels).all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from driftline.model.adapters.base import (
    ModelAdapter,
    ModelError,
    ModelInput,
    ModelLoadError,
    Predictions,
    column_positions,
    finite_output,
)

__all__ = ["TrainedModelAdapter", "load_trained_adapter"]


class TrainedModelAdapter(ModelAdapter):
    """Serves a :class:`model.artifacts.LoadedModel` (see the module docstring)."""

    kind = "driftline"

    def __init__(self, model: Any) -> None:
        self.model = model
        self.profile = model.profile
        self.class_names = list(model.class_names)
        self.model_sha256 = model.profile.model_sha256
        self.input_names = list(model.feature_names)
        self._identity: list[str] | None = None

    def _columns(self, batch: ModelInput) -> np.ndarray:
        if self._identity is not None and batch.numeric_names == self._identity:
            return batch.numeric
        if list(batch.numeric_names) == self.input_names:
            self._identity = list(batch.numeric_names)
            return batch.numeric
        return batch.numeric[:, column_positions(self.input_names, batch.numeric_names,
                                                 "numeric")]

    def _predict(self, batch: ModelInput) -> Predictions:
        X = self._columns(batch)
        if X.shape[0] == 0:
            n_classes = len(self.class_names)
            risk = None if not self.model.network.has_risk_head else np.empty(0)
            empty = np.empty(0, dtype=np.int64)
            return Predictions(empty, np.empty((0, n_classes)), np.empty(0),
                               np.empty(0, dtype=bool), risk, empty)
        served = self.model.predict(X)
        if served.probabilities is None:
            raise ModelError("the model served no class probabilities")
        finite_output(served.probabilities, "probabilities")
        if served.risk is not None:
            finite_output(served.risk, "risk")
        return served


def load_trained_adapter(artifacts_dir: Any) -> TrainedModelAdapter:
    """Load ``model.pt`` and ``reference_profile.json`` from ``artifacts_dir``."""
    from driftline.model.artifacts import ArtifactError, load_artifacts

    try:
        return TrainedModelAdapter(load_artifacts(artifacts_dir))
    except ArtifactError as exc:
        raise ModelLoadError(None, "model.artifacts_dir", str(exc)) from None
