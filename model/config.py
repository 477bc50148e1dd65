"""Schema of ``configs/train.yaml``, validated by :func:`configs.load_config`.

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
from dataclasses import dataclass, field
from pathlib import Path

from driftline.configs import CONFIG_DIR, load_config
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


@dataclass
class DataConfig:
    """Where the insurance CSV files live (``None``: the copy packaged in ``dataloader/data``)."""

    data_dir: str | None = None


@dataclass
class NetworkConfig:
    """Shape of the MLP."""

    hidden_sizes: list[int] = field(default_factory=lambda: [32, 32])
    risk_head: bool = True

    def __post_init__(self) -> None:
        if not self.hidden_sizes:
            raise ValueError("hidden_sizes: must list at least one layer width")
        if any(width < 1 for width in self.hidden_sizes):
            raise ValueError(f"hidden_sizes: widths must be >= 1, got {self.hidden_sizes}")


@dataclass
class OptimiserConfig:
    """Training loop: Adam on mini-batches, fixed seed, fixed thread count."""

    seed: int = field(default=7, metadata={"min": 0})
    epochs: int = field(default=60, metadata={"min": 1, "max": 10_000})
    batch_size: int = field(default=64, metadata={"min": 1})
    learning_rate: float = field(default=0.005, metadata={"exclusive_min": 0.0, "max": 1.0})
    weight_decay: float = field(default=0.0, metadata={"min": 0.0})
    risk_loss_weight: float = field(default=0.5, metadata={"min": 0.0})
    num_threads: int = field(default=1, metadata={"min": 1, "max": 64})


@dataclass
class QualityConfig:
    """Invariants on the test split; training refuses to save a model that misses one."""

    min_accuracy: float = field(default=0.7, metadata={"min": 0.0, "max": 1.0})
    min_macro_f1: float = field(default=0.7, metadata={"min": 0.0, "max": 1.0})


@dataclass
class FallbackConfig:
    """When the rule-based fallback replaces the network's prediction.

    A row falls back if a feature lies outside the reference ``[min, max]`` widened by
    ``range_margin`` times the reference range on each side, or if the network's largest class
    probability is below ``min_confidence``. The rules are per-bucket majority classes over
    ``rule_features``, each cut into ``rule_bins`` training-quantile buckets (binary features
    keep their two values).
    """

    enabled: bool = True
    range_margin: float = field(default=0.1, metadata={"min": 0.0})
    min_confidence: float = field(default=0.4, metadata={"min": 0.0, "max": 1.0})
    rule_features: list[str] = field(
        default_factory=lambda: ["age", "emergency_braking", "miles"]
    )
    rule_bins: int = field(default=4, metadata={"min": 1, "max": 50})

    def __post_init__(self) -> None:
        if not self.rule_features:
            raise ValueError("rule_features: must name at least one feature")
        unknown = [name for name in self.rule_features if name not in FEATURE_NAMES]
        if unknown:
            raise ValueError(
                f"rule_features: unknown feature {unknown[0]!r}; features are {list(FEATURE_NAMES)}"
            )


@dataclass
class ProfileConfig:
    """Contents of ``reference_profile.json``."""

    histogram_buckets: int = field(default=10, metadata={"min": 2, "max": 100})
    quantile_levels: list[float] = field(
        default_factory=lambda: [0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0]
    )

    def __post_init__(self) -> None:
        levels = self.quantile_levels
        if not levels or any(not 0.0 <= q <= 1.0 for q in levels):
            raise ValueError(f"quantile_levels: must be non-empty and in [0, 1], got {levels}")
        if any(b <= a for a, b in itertools.pairwise(levels)):
            raise ValueError(f"quantile_levels: must be strictly increasing, got {levels}")


@dataclass
class TrainConfig:
    """Everything ``driftline train`` needs."""

    output_dir: str = "artifacts"
    data: DataConfig = field(default_factory=DataConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    optimiser: OptimiserConfig = field(default_factory=OptimiserConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    fallback: FallbackConfig = field(default_factory=FallbackConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)


def load_train_config(path: str | Path = DEFAULT_CONFIG_PATH) -> TrainConfig:
    """Read and validate a training config file."""
    return load_config(path, TrainConfig)
