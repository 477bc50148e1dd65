"""Model adapters: one protocol for every way a monitored model's predictions arrive.

``load_model_adapter(config.model)`` (:mod:`model.adapters.loading`) gives a
:class:`~model.adapters.base.ModelAdapter` for the run config's ``model:`` section
(:mod:`model.adapters.config`): ``driftline`` (the trained insurance MLP with its fallback),
``torchscript``, ``pytorch`` or ``none`` (predictions in the events). The pipeline calls
:func:`~model.adapters.serving.run_model` once per batch. Importing this package does not import
torch.
"""

from driftline.model.adapters.base import (
    InputBatch,
    ModelAdapter,
    ModelError,
    ModelInput,
    ModelLoadError,
    Predictions,
)
from driftline.model.adapters.config import MODEL_KINDS, ModelConfig, PreprocessingConfig
from driftline.model.adapters.loading import load_model_adapter

__all__ = [
    "MODEL_KINDS",
    "InputBatch",
    "ModelAdapter",
    "ModelConfig",
    "ModelError",
    "ModelInput",
    "ModelLoadError",
    "Predictions",
    "PreprocessingConfig",
    "load_model_adapter",
]
