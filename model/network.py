"""The PyTorch network: a small MLP over standardised features, predicting the risk group.

Standardisation (training-split mean and std) is stored as buffers inside the module, so it is
part of ``state_dict`` and of the weights hash: a model can never be paired with the wrong
scaling. An optional second head regresses the (standardised) ``risk`` target.

Example
-------
>>> import numpy as np, torch
>>> from driftline.model.network import GroupNet
>>> net = GroupNet(n_features=5, hidden_sizes=[8], n_classes=3, risk_head=True)
>>> net.set_standardisation(np.zeros(5), np.ones(5), risk_mean=0.0, risk_std=1.0)
>>> logits, risk = net(torch.zeros(4, 5, dtype=torch.float64))
>>> tuple(logits.shape), tuple(risk.shape)
((4, 3), (4,))
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["GroupNet", "state_dict_sha256"]

_MIN_STD = 1e-12


class GroupNet(nn.Module):
    """MLP ``features -> hidden (ReLU) ... -> class logits`` with an optional risk head.

    Parameters
    ----------
    n_features : int
        Number of input columns.
    hidden_sizes : sequence of int
        Width of each hidden layer.
    n_classes : int
        Number of output classes.
    risk_head : bool
        Whether to add a linear head regressing ``risk`` from the last hidden layer.
    """

    def __init__(self, n_features: int, hidden_sizes: Sequence[int], n_classes: int,
                 risk_head: bool) -> None:
        super().__init__()
        if n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        if not hidden_sizes or any(int(w) < 1 for w in hidden_sizes):
            raise ValueError(f"hidden_sizes must be non-empty positive widths, got {hidden_sizes}")
        self.n_features = int(n_features)
        self.hidden_sizes = [int(w) for w in hidden_sizes]
        self.n_classes = int(n_classes)
        self.has_risk_head = bool(risk_head)
        layers: list[nn.Module] = []
        width = self.n_features
        for hidden in self.hidden_sizes:
            layers += [nn.Linear(width, hidden, dtype=torch.float64), nn.ReLU()]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.class_head = nn.Linear(width, self.n_classes, dtype=torch.float64)
        self.risk_head = nn.Linear(width, 1, dtype=torch.float64) if risk_head else None
        self.register_buffer("feature_mean", torch.zeros(self.n_features, dtype=torch.float64))
        self.register_buffer("feature_std", torch.ones(self.n_features, dtype=torch.float64))
        self.register_buffer("risk_mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("risk_std", torch.ones((), dtype=torch.float64))

    def set_standardisation(self, mean: np.ndarray, std: np.ndarray, risk_mean: float,
                            risk_std: float) -> None:
        """Store the training statistics used to scale inputs and the risk target."""
        mean = np.asarray(mean, dtype=np.float64)
        std = np.asarray(std, dtype=np.float64)
        if mean.shape != (self.n_features,) or std.shape != (self.n_features,):
            raise ValueError(f"mean and std must have shape ({self.n_features},), got "
                             f"{mean.shape} and {std.shape}")
        with torch.no_grad():
            self.feature_mean.copy_(torch.from_numpy(mean))
            # A constant training column would divide by zero; leave it unscaled instead.
            self.feature_std.copy_(torch.from_numpy(np.where(std > _MIN_STD, std, 1.0)))
            self.risk_mean.fill_(float(risk_mean))
            self.risk_std.fill_(float(risk_std) if risk_std > _MIN_STD else 1.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Class logits ``(n, n_classes)`` and standardised risk ``(n,)`` (or ``None``)."""
        hidden = self.body((x - self.feature_mean) / self.feature_std)
        logits = self.class_head(hidden)
        risk = self.risk_head(hidden).squeeze(-1) if self.risk_head is not None else None
        return logits, risk

    def architecture(self) -> dict[str, object]:
        """Constructor arguments, enough to rebuild the module before ``load_state_dict``."""
        return {
            "n_features": self.n_features,
            "hidden_sizes": list(self.hidden_sizes),
            "n_classes": self.n_classes,
            "risk_head": self.has_risk_head,
        }


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over the tensors of ``state`` (names sorted; name, dtype, shape and bytes)."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()
