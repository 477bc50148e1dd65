"""Training: fit the network and the fallback, check the quality gate, build the profile, save.

Reproducibility: the run seeds torch (``torch.manual_seed``) and its own shuffling generator
from ``optimiser.seed``, turns on ``torch.use_deterministic_algorithms`` and runs on
``optimiser.num_threads`` intra-op threads (default 1: a different thread count may reorder
floating-point reductions). Both settings are restored afterwards. The same config and data
therefore give the same weights, bit for bit, and the same ``model_sha256``.

Example
-------
>>> from driftline.model.config import TrainConfig
>>> from driftline.model.train import fit
>>> config = TrainConfig()
>>> config.optimiser.epochs = 2
>>> result = fit(config)
>>> len(result.profile.model_sha256)
64
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

from driftline.dataloader.insurance import GROUP_NAMES, InsuranceData, load_split
from driftline.model.artifacts import save_artifacts
from driftline.model.config import OptimiserConfig, QualityConfig, TrainConfig
from driftline.model.fallback import InputGuard, RuleFallback
from driftline.model.metrics import accuracy, macro_f1
from driftline.model.network import GroupNet, state_dict_sha256
from driftline.model.predict import serve
from driftline.model.profile import Histogram, ReferenceProfile, data_sha256, runtime_versions

__all__ = ["QualityGateError", "TrainResult", "check_quality", "fit", "train_and_save",
           "train_network"]


class QualityGateError(RuntimeError):
    """The trained model misses a quality invariant of the config; nothing was saved."""


@dataclass
class TrainResult:
    """A trained model, its fallback and profile, and its quality on the test split."""

    network: GroupNet
    rules: RuleFallback
    guard: InputGuard
    profile: ReferenceProfile
    test_accuracy: float
    test_macro_f1: float
    train_seconds: float


@contextmanager
def _deterministic(num_threads: int) -> Iterator[None]:
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous_deterministic)
        torch.set_num_threads(previous_threads)


def train_network(train: InsuranceData, hidden_sizes: list[int], risk_head: bool,
                  optimiser: OptimiserConfig) -> GroupNet:
    """Train a :class:`GroupNet` on ``train`` with AdamW on shuffled mini-batches."""
    with _deterministic(optimiser.num_threads):
        torch.manual_seed(optimiser.seed)
        generator = torch.Generator().manual_seed(optimiser.seed)
        network = GroupNet(train.features.shape[1], hidden_sizes, len(GROUP_NAMES), risk_head)
        network.set_standardisation(train.features.mean(axis=0), train.features.std(axis=0),
                                    float(train.risk.mean()), float(train.risk.std()))
        X = torch.from_numpy(train.features)
        y = torch.from_numpy(train.group)
        risk = (torch.from_numpy(train.risk) - network.risk_mean) / network.risk_std
        adam = torch.optim.AdamW(network.parameters(), lr=optimiser.learning_rate,
                                 weight_decay=optimiser.weight_decay)
        network.train()
        for _ in range(optimiser.epochs):
            order = torch.randperm(X.shape[0], generator=generator)
            for start in range(0, X.shape[0], optimiser.batch_size):
                rows = order[start:start + optimiser.batch_size]
                logits, predicted_risk = network(X[rows])
                loss = functional.cross_entropy(logits, y[rows])
                if predicted_risk is not None and optimiser.risk_loss_weight > 0:
                    loss = loss + optimiser.risk_loss_weight * functional.mse_loss(
                        predicted_risk, risk[rows])
                adam.zero_grad()
                loss.backward()
                adam.step()
        return network.eval()


def check_quality(quality: QualityConfig, test_accuracy: float, test_macro_f1: float,
                  ) -> list[str]:
    """Human-readable list of the quality invariants the model misses (empty: all met)."""
    failures = []
    if test_accuracy < quality.min_accuracy:
        failures.append(f"test accuracy {test_accuracy:.4f} < quality.min_accuracy "
                        f"{quality.min_accuracy}")
    if test_macro_f1 < quality.min_macro_f1:
        failures.append(f"test macro-F1 {test_macro_f1:.4f} < quality.min_macro_f1 "
                        f"{quality.min_macro_f1}")
    return failures


def _build_profile(config: TrainConfig, network: GroupNet, rules: RuleFallback,
                   guard: InputGuard, train: InsuranceData, reference: InsuranceData,
                   ) -> ReferenceProfile:
    served = serve(network, rules, guard, reference.features)
    n_buckets = config.profile.histogram_buckets
    n_classes = len(GROUP_NAMES)
    label_counts = np.bincount(served.labels, minlength=n_classes)
    prediction_histograms = {
        "label": Histogram([float(c) for c in range(n_classes - 1)],
                           [int(c) for c in label_counts]),
        "confidence": Histogram.from_reference(served.confidence, n_buckets),
    }
    if served.risk is not None:
        prediction_histograms["risk"] = Histogram.from_reference(served.risk, n_buckets)
    return ReferenceProfile(
        **ReferenceProfile.describe_features(reference.features, list(reference.feature_names),
                                             config.profile.quantile_levels, n_buckets),
        class_names=list(GROUP_NAMES),
        prediction_histograms=prediction_histograms,
        class_distribution=[float(c) for c in label_counts / label_counts.sum()],
        baseline_error_rate=float(np.mean(served.labels != reference.group)),
        baseline_model_error_rate=float(np.mean(served.model_labels != reference.group)),
        baseline_fallback_rate=float(np.mean(served.used_fallback)),
        training_data_sha256=data_sha256(train.features, train.group, train.risk),
        model_sha256=state_dict_sha256(network.state_dict()),
        versions=runtime_versions(),
    )


def fit(config: TrainConfig) -> TrainResult:
    """Train network and fallback, evaluate on the test split, build the reference profile."""
    data_dir = config.data.data_dir
    train = load_split("train", data_dir)
    test = load_split("test", data_dir)
    reference = load_split("reference", data_dir)
    started = time.perf_counter()
    network = train_network(train, config.network.hidden_sizes, config.network.risk_head,
                            config.optimiser)
    rules = RuleFallback(train.feature_names, config.fallback.rule_features,
                         config.fallback.rule_bins).fit(train.features, train.group, train.risk,
                                                        n_classes=len(GROUP_NAMES))
    guard = InputGuard.from_reference(reference.features, config.fallback.range_margin,
                                      config.fallback.min_confidence, config.fallback.enabled)
    served = serve(network, rules, guard, test.features)
    profile = _build_profile(config, network, rules, guard, train, reference)
    return TrainResult(network=network, rules=rules, guard=guard, profile=profile,
                       test_accuracy=accuracy(test.group, served.labels),
                       test_macro_f1=macro_f1(test.group, served.labels, len(GROUP_NAMES)),
                       train_seconds=time.perf_counter() - started)


def train_and_save(config: TrainConfig, output_dir: str | Path | None = None,
                   ) -> tuple[TrainResult, Path]:
    """:func:`fit`, then save to ``output_dir`` (default ``config.output_dir``).

    Raises
    ------
    QualityGateError
        If the served predictions on the test split miss ``config.quality``; nothing is
        written in that case.
    """
    result = fit(config)
    failures = check_quality(config.quality, result.test_accuracy, result.test_macro_f1)
    if failures:
        raise QualityGateError("model not saved: " + "; ".join(failures))
    directory = Path(output_dir if output_dir is not None else config.output_dir)
    save_artifacts(directory, result.network, result.rules, result.guard, result.profile,
                   list(GROUP_NAMES))
    return result, directory
