"""The model the executor serves, whatever its kind: :func:`load_served_model`.

``model.kind: driftline`` is the insurance network with its artifacts
(:class:`model.artifacts.LoadedModel`). A model whose inputs include vector or image fields
(``torchscript`` / ``pytorch``, :mod:`model.adapters`) is served through its adapter by
:class:`AdapterModel`, which gives the pipeline the same surface -- ``profile``,
``class_names``, ``predict`` -- plus what the reduced detectors need: the vector fields of the
schema, their reference sample (beside the profile) and the adapter (BBSD runs the model).
The executor's decoder of such a model is a :class:`executor.vector_decode.VectorEventDecoder`
(:func:`event_decoder`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from driftline.executor.decode import EventDecoder, reference_ranges
from driftline.model.adapters.base import InputBatch, Predictions

__all__ = ["AdapterModel", "event_decoder", "load_served_model"]


class AdapterModel:
    """A model adapter with its schema and reference profile, served by the pipeline.

    Parameters
    ----------
    adapter : model.adapters.base.ModelAdapter
        Predicts a batch of decoded columns.
    schema : dataloader.schema.EventSchema
        The event schema the profile was built from.
    profile : model.profile.ReferenceProfile
        Its ``model_sha256`` is replaced by the adapter's (a checkpoint then never resumes on
        other weights).
    artifacts_dir : str or Path
        Where ``driftline profile`` wrote the profile, the vector samples and the reducers.
    """

    def __init__(self, adapter: Any, schema: Any, profile: Any,
                 artifacts_dir: str | Path) -> None:
        from driftline.model.profile_vectors import read_vector_samples

        self.adapter = adapter
        self.schema = schema
        self.artifacts_dir = Path(artifacts_dir)
        self.profile = dataclasses.replace(profile, model_sha256=str(adapter.model_sha256))
        self.class_names = list(adapter.class_names)
        self.vector_fields = [f for f in schema.array_fields if f.name in profile.vectors]
        self.vector_samples = read_vector_samples(self.artifacts_dir, profile.vectors)

    @property
    def feature_names(self) -> list[str]:
        """The numeric features (the columns of ``X``)."""
        return list(self.profile.feature_names)

    def predict(self, X: np.ndarray, vectors: Mapping[str, np.ndarray] | None = None,
                ) -> Predictions:
        """The adapter's predictions for numeric rows ``X`` and the vector fields' blocks."""
        batch = InputBatch(numeric=X, numeric_names=self.feature_names,
                           vectors=dict(vectors or {}))
        return self.adapter.predict(batch)

    def reference_inputs(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(X, vectors)`` of the reference sample's rows where every vector field has a
        value (the numeric columns of those rows when the profile samples them alike, else
        none: a vector model's numeric inputs are then left to the column detectors)."""
        present = np.all([~np.isnan(block).any(axis=1)
                          for block in self.vector_samples.values()], axis=0)
        vectors = {name: block[present] for name, block in self.vector_samples.items()}
        n = int(present.sum())
        X = np.empty((n, 0))
        if self.feature_names:
            matrix = self.profile.reference_matrix()
            if len(matrix) == len(present):
                X = matrix[present]
            else:
                raise ValueError("the profile's numeric and vector reference samples differ "
                                 f"in rows ({len(matrix)} and {len(present)}); rebuild it "
                                 "with driftline profile")
        return X, vectors


def load_served_model(config: Any, *, base_dir: str | Path = ".") -> Any:
    """The served model of a ``model:`` section: :class:`model.artifacts.LoadedModel` for
    ``kind: driftline``, :class:`AdapterModel` for a model reading vector or image fields.
    Raises :class:`model.artifacts.ArtifactError` (one line) when it cannot be loaded."""
    from driftline.model.adapters.base import ModelLoadError
    from driftline.model.adapters.config import TrainedModelConfig
    from driftline.model.adapters.loading import load_model_adapter, load_reference, resolve
    from driftline.model.artifacts import ArtifactError, load_artifacts

    if isinstance(config, TrainedModelConfig):
        return load_artifacts(resolve(config.artifacts_dir, base_dir))
    try:
        schema, schema_path, profile = load_reference(config, base_dir=base_dir)
        if not profile.vectors:
            raise ArtifactError(f"model.kind {config.kind}: the executor serves this kind for "
                                "events with vector or image fields; the profile in "
                                f"{config.artifacts_dir} has none")
        adapter = load_model_adapter(config, schema=schema, schema_path=schema_path,
                                     profile=profile, base_dir=base_dir)
        return AdapterModel(adapter, schema, profile, resolve(config.artifacts_dir, base_dir))
    except (ModelLoadError, ValueError) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(str(exc)) from None


def event_decoder(model: Any, range_tolerance: float | None = None) -> EventDecoder:
    """The decoder of the served model's events (vector fields included when it has any)."""
    from driftline.executor.vector_decode import VectorEventDecoder

    ranges = (reference_ranges(model.profile, range_tolerance)
              if range_tolerance is not None and model.profile.feature_names else None)
    if isinstance(model, AdapterModel):
        return VectorEventDecoder(model.feature_names, model.vector_fields,
                                  n_classes=len(model.class_names), ranges=ranges)
    return EventDecoder(model.profile.feature_names, n_classes=len(model.class_names),
                        ranges=ranges)
