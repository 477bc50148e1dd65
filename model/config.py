"""Schema of ``configs/train.yaml`` (pydantic models, exported by ``driftline config-schema`` as
``configs/train.schema.json``), validated by :func:`configs.load_config`.

Example
-------
>>> from driftline.configs import CONFIG_DIR, load_config
>>> from driftline.model.config import TrainConfig
>>> config = load_config(CONFIG_DIR / "train.yaml", TrainConfig)
>>> config.quality.min_accuracy > 0
True
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from driftline.configs import CONFIG_DIR, ConfigModel, key_error, load_config
from driftline.dataloader.insurance import FEATURE_NAMES

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DataConfig",
    "FallbackConfig",
    "NetworkConfig",
    "OptimiserConfig",
    "ProfileConfig",
    "QualityConfig",
    "TrainConfig",
    "load_train_config",
]

DEFAULT_CONFIG_PATH = CONFIG_DIR / "train.yaml"


class DataConfig(ConfigModel):
    """Where the insurance CSV files live (``None``: the copy packaged in ``dataloader/data``)."""

    data_dir: str | None = None


class NetworkConfig(ConfigModel):
    """Shape of the MLP."""

    hidden_sizes: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [32, 32], min_length=1)
    risk_head: bool = True


class OptimiserConfig(ConfigModel):
    """Training loop: Adam on mini-batches, fixed seed, fixed thread count."""

    seed: int = Field(7, ge=0)
    epochs: int = Field(60, ge=1, le=10_000)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(0.005, gt=0.0, le=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    risk_loss_weight: float = Field(0.5, ge=0.0)
    num_threads: int = Field(1, ge=1, le=64)


class QualityConfig(ConfigModel):
    """Invariants on the test split; training refuses to save a model that misses one."""

    min_accuracy: float = Field(0.7, ge=0.0, le=1.0)
    min_macro_f1: float = Field(0.7, ge=0.0, le=1.0)


class FallbackConfig(ConfigModel):
    """When the rule-based fallback replaces the network's prediction.

    A row falls back if a feature lies outside the reference ``[min, max]`` widened by
    ``range_margin`` times the reference range on each side, or if the network's largest class
    probability is below ``min_confidence``. The rules are per-bucket majority classes over
    ``rule_features``, each cut into ``rule_bins`` training-quantile buckets (binary features
    keep their two values).
    """

    enabled: bool = True
    range_margin: float = Field(0.1, ge=0.0)
    min_confidence: float = Field(0.4, ge=0.0, le=1.0)
    rule_features: list[str] = Field(
        default_factory=lambda: ["age", "emergency_braking", "miles"], min_length=1)
    rule_bins: int = Field(4, ge=1, le=50)

    @model_validator(mode="after")
    def _check(self) -> FallbackConfig:
        for i, name in enumerate(self.rule_features):
            if name not in FEATURE_NAMES:
                raise key_error(f"rule_features[{i}]", f"unknown feature {name!r}; features are "
                                f"{list(FEATURE_NAMES)}")
        return self


class ProfileConfig(ConfigModel):
    """Contents of ``reference_profile.json``."""

    histogram_buckets: int = Field(10, ge=2, le=100)
    quantile_levels: list[Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=lambda: [0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0],
        min_length=1)

    @model_validator(mode="after")
    def _check(self) -> ProfileConfig:
        levels = self.quantile_levels
        if any(b <= a for a, b in itertools.pairwise(levels)):
            raise key_error("quantile_levels", f"must be strictly increasing, got {levels}")
        return self


class TrainConfig(ConfigModel):
    """Everything ``driftline train`` needs."""

    output_dir: str = "artifacts"
    data: DataConfig = Field(default_factory=DataConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    optimiser: OptimiserConfig = Field(default_factory=OptimiserConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    fallback: FallbackConfig = Field(default_factory=FallbackConfig)
    profile: ProfileConfig = Field(default_factory=ProfileConfig)


def load_train_config(path: str | Path = DEFAULT_CONFIG_PATH) -> TrainConfig:
    """Read and validate a training config file."""
    return load_config(path, TrainConfig)
