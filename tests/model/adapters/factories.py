"""Modules and factories the ``pytorch`` adapter tests name as ``entry_point``
(``tests.model.adapters.factories:<name>``), including ones that misbehave."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn


def save_scripted(module: nn.Module, path: Path) -> Path:
    """``torch.jit.script`` + ``torch.jit.save`` without torch 2.13's deprecation warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(module.eval()), str(path))
    return path


class SmallNet(nn.Module):
    """``inputs -> hidden (ReLU) -> logits`` (float32)."""

    def __init__(self, n_inputs: int = 7, n_classes: int = 3, hidden: int = 8) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"hidden must be positive, got {hidden}")
        self.body = nn.Sequential(nn.Linear(n_inputs, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class ScoredNet(SmallNet):
    """Returns ``(logits, score, embedding)``: a score per row and the hidden layer."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # type: ignore[override]
        hidden = self.body(x)
        return self.head(hidden), hidden.sum(dim=1, keepdim=True), hidden


class ProbabilityNet(SmallNet):
    """Returns class probabilities (softmax inside the module)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.body(x)), dim=1)


class InferenceModeProbe(SmallNet):
    """Records whether each forward pass ran under ``torch.inference_mode`` and its rows."""

    def __init__(self, n_inputs: int = 7, n_classes: int = 3) -> None:
        super().__init__(n_inputs, n_classes)
        self.calls: list[tuple[bool, int, torch.dtype]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((torch.is_inference_mode_enabled(), int(x.shape[0]), x.dtype))
        return super().forward(x)


class Misbehaving(nn.Module):
    """Fails in one of the ways a served model can: ``raise``, ``wide`` (one column too many),
    ``nan``, ``rows`` (one row too few), ``tuple`` (two outputs for one), ``numpy``
    (not a tensor), ``negative`` (probabilities below 0)."""

    def __init__(self, mode: str, n_classes: int = 3) -> None:
        super().__init__()
        self.mode = mode
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor):  # type: ignore[no-untyped-def]
        n = x.shape[0]
        logits = torch.zeros(n, self.n_classes)
        if self.mode == "raise":
            raise RuntimeError("CUDA out of memory (pretend)")
        if self.mode == "wide":
            return torch.zeros(n, self.n_classes + 1)
        if self.mode == "nan":
            logits[n // 2, 0] = float("nan")
        if self.mode == "rows":
            return logits[1:]
        if self.mode == "tuple":
            return logits, logits
        if self.mode == "numpy":
            return logits.numpy()
        if self.mode == "negative":
            logits[:, 0], logits[:, 1] = -0.5, 1.5
        return logits


def build_small_net(n_inputs: int = 7, n_classes: int = 3, hidden: int = 8) -> SmallNet:
    """The factory of the ``pytorch`` tests."""
    return SmallNet(n_inputs, n_classes, hidden)


def failing_factory(**kwargs: object) -> nn.Module:
    """A factory that raises, as a bad ``factory_kwargs`` would make a real one."""
    raise ValueError("hidden must be positive, got -1")


def not_a_module() -> dict[str, int]:
    """A factory that returns something other than a module."""
    return {"weights": 1}


NOT_CALLABLE = 3
