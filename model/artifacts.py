"""Saving and loading the trained model (``model.pt``) with its reference profile.

``model.pt`` holds only tensors and plain Python values, so it loads with
``torch.load(weights_only=True)``: the network's architecture and ``state_dict`` (including the
standardisation buffers), the feature and class names, the fitted rule-based fallback, the input
guard and the SHA-256 of the weights. ``reference_profile.json`` sits beside it.
:func:`load_artifacts` refuses a pair whose weights hash or feature names disagree.

Example
-------
>>> import tempfile
>>> from driftline.dataloader.insurance import load_month
>>> from driftline.model.artifacts import load_artifacts
>>> from driftline.model.config import TrainConfig
>>> from driftline.model.train import train_and_save
>>> config = TrainConfig()
>>> config.optimiser.epochs, config.quality.min_accuracy, config.quality.min_macro_f1 = 2, 0, 0
>>> with tempfile.TemporaryDirectory() as directory:
...     _ = train_and_save(config, directory)
...     loaded = load_artifacts(directory)
>>> predictions = loaded.predict(load_month(36).features)
>>> predictions.probabilities.shape, predictions.used_fallback.dtype
((1500, 3), dtype('bool'))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from driftline.model.fallback import InputGuard, RuleFallback
from driftline.model.network import GroupNet, state_dict_sha256
from driftline.model.predict import Predictions, check_features, network_outputs, serve
from driftline.model.profile import ReferenceProfile
from driftline.model.profile_files import MODEL_FILE, PROFILE_FILE

__all__ = [
    "MODEL_FILE",
    "PROFILE_FILE",
    "ArtifactError",
    "LoadedModel",
    "Predictions",
    "load_artifacts",
    "save_artifacts",
]

_MODEL_FORMAT_VERSION = 1


class ArtifactError(ValueError):
    """The model or profile file is missing, unreadable or does not match the other."""


class LoadedModel:
    """A trained network with its fallback and reference profile, ready to predict.

    Parameters
    ----------
    network : GroupNet
        The trained network (put in eval mode here).
    rules : RuleFallback
        The fitted rule-based fallback.
    guard : InputGuard
        Decides which rows use the rules.
    profile : ReferenceProfile
        The reference profile saved with the model.
    class_names : list of str
        Class names by label.
    batch_size : int, default 8192
        Rows per forward pass in :meth:`predict`.
    """

    def __init__(self, network: GroupNet, rules: RuleFallback, guard: InputGuard,
                 profile: ReferenceProfile, class_names: list[str], batch_size: int = 8192,
                 ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.network = network.eval()
        self.rules = rules
        self.guard = guard
        self.profile = profile
        self.class_names = list(class_names)
        self.batch_size = int(batch_size)

    @property
    def feature_names(self) -> list[str]:
        """Input column order."""
        return list(self.profile.feature_names)

    def predict_network(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The network alone: class probabilities ``(n, n_classes)`` and risk (or ``None``)."""
        X = check_features(X, self.profile.feature_names)
        return network_outputs(self.network, X, self.batch_size)

    def predict(self, X: np.ndarray) -> Predictions:
        """Serve predictions for ``X`` (shape ``(n, n_features)``, finite values)."""
        X = check_features(X, self.profile.feature_names)
        return serve(self.network, self.rules, self.guard, X, self.batch_size)


def _write_atomically(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_artifacts(directory: str | Path, network: GroupNet, rules: RuleFallback,
                   guard: InputGuard, profile: ReferenceProfile, class_names: list[str],
                   ) -> tuple[Path, Path]:
    """Write ``model.pt`` and ``reference_profile.json`` into ``directory``; return both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone() for k, v in network.state_dict().items()}
    weights_hash = state_dict_sha256(state)
    if profile.model_sha256 != weights_hash:
        raise ArtifactError("profile.model_sha256 does not match the network's weights")
    payload = {
        "format_version": _MODEL_FORMAT_VERSION,
        "architecture": network.architecture(),
        "state_dict": state,
        "feature_names": list(profile.feature_names),
        "class_names": list(class_names),
        "fallback_rules": rules.to_dict(),
        "input_guard": guard.to_dict(),
        "model_sha256": weights_hash,
    }
    model_path = directory / MODEL_FILE
    profile_path = directory / PROFILE_FILE
    _write_atomically(model_path, lambda p: torch.save(payload, p))
    _write_atomically(profile_path, lambda p: p.write_text(profile.to_json() + "\n"))
    return model_path, profile_path


def load_artifacts(directory: str | Path = "artifacts") -> LoadedModel:
    """Load ``model.pt`` and ``reference_profile.json`` from ``directory`` and check they match.

    Raises
    ------
    ArtifactError
        If a file is missing or unreadable, the weights do not hash to the recorded value, or
        the profile belongs to other weights or other features.
    """
    directory = Path(directory)
    model_path = directory / MODEL_FILE
    profile_path = directory / PROFILE_FILE
    for path in (model_path, profile_path):
        if not path.is_file():
            raise ArtifactError(f"{path}: not found (run `driftline train` first)")
    try:
        payload = torch.load(model_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise ArtifactError(f"{model_path}: cannot load model: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format_version") != _MODEL_FORMAT_VERSION:
        raise ArtifactError(f"{model_path}: not a driftline model file (format version "
                            f"{_MODEL_FORMAT_VERSION} expected)")
    try:
        profile = ReferenceProfile.from_json(profile_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ArtifactError(f"{profile_path}: cannot read profile: {exc}") from None

    weights_hash = state_dict_sha256(payload["state_dict"])
    if weights_hash != payload["model_sha256"]:
        raise ArtifactError(f"{model_path}: weights hash {weights_hash[:12]} differs from the "
                            f"recorded {payload['model_sha256'][:12]} (corrupt file?)")
    if profile.model_sha256 != weights_hash:
        raise ArtifactError(
            f"{profile_path}: profile was built for model weights {profile.model_sha256[:12]}, "
            f"but {model_path} has weights {weights_hash[:12]}; retrain or copy the matching pair"
        )
    if list(profile.feature_names) != list(payload["feature_names"]):
        raise ArtifactError(f"{profile_path}: feature_names {profile.feature_names} differ from "
                            f"the model's {payload['feature_names']}")
    network = GroupNet(**payload["architecture"])
    network.load_state_dict(payload["state_dict"])
    return LoadedModel(network, RuleFallback.from_dict(payload["fallback_rules"]),
                       InputGuard.from_dict(payload["input_guard"]), profile,
                       list(payload["class_names"]))
