"""The vision example's model: a small CNN on the 8x8 digits, saved as TorchScript.

:class:`DigitsCNN` takes the 64 pixels of an image (0..16, row-major: the ``pixels[0..63]``
input columns of the example's schema) and returns ``(probabilities, embedding)``: the softmax
over the ten digits and the 64-wide penultimate layer -- a ``torchscript`` run config declares
``returns: [probabilities, embedding]``, and BBSD reads either. Architecture: pixels / 16 ->
3x3 convolution (16 channels, padding 1), ReLU, 2x2 max pooling -> 3x3 convolution (32), ReLU,
2x2 max pooling -> linear 128 -> 64, ReLU (the embedding) -> linear 64 -> 10, softmax.

:func:`train_digits_cnn` trains it on the ``train`` part of
:func:`dataloader.digits.load_digits_split` (cross-entropy, Adam, shuffled mini-batches, fixed
seed, one intra-op thread and deterministic kernels: a run is reproducible).
:func:`export_digits_example` writes what the example needs into a directory: ``model.ts`` (with
the input columns and classes it was trained on, :func:`model.adapters.torch_models.
save_torchscript`), and the ``reference`` and ``test`` parts as JSON Lines events of the schema
(``digits_reference.jsonl``, ``digits_test.jsonl``) for ``driftline profile`` and a replay.

Example
-------
>>> from driftline.dataloader.digits import load_digits_split
>>> split = load_digits_split(seed=0)
>>> trained = train_digits_cnn(split.train, epochs=2)
>>> probabilities, embedding = trained.module(torch.zeros(3, 64))
>>> tuple(probabilities.shape), tuple(embedding.shape)
((3, 10), (3, 64))
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from driftline.configs import build_config
from driftline.dataloader.digits import (
    CLASS_NAMES,
    DATA_DIR,
    PIXEL_MAX,
    ImageSet,
    digits_events,
    load_digits_split,
)
from driftline.dataloader.schema import load_schema
from driftline.model.adapters.config import PreprocessingConfig
from driftline.model.adapters.preprocessing import Preprocessor
from driftline.model.adapters.torch_models import save_torchscript

__all__ = ["EMBEDDING_WIDTH", "DigitsCNN", "TrainedDigits", "export_digits_example",
           "train_digits_cnn"]

EMBEDDING_WIDTH = 64


class DigitsCNN(nn.Module):
    """Pixels ``(n, 64)`` -> ``(probabilities (n, 10), embedding (n, 64))`` (module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.hidden = nn.Sequential(nn.Linear(32 * 2 * 2, EMBEDDING_WIDTH), nn.ReLU())
        self.head = nn.Linear(EMBEDDING_WIDTH, len(CLASS_NAMES))
        self.pixel_max = float(PIXEL_MAX)

    def logits_and_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits and the penultimate layer."""
        embedding = self.hidden(self.features(x.reshape(-1, 1, 8, 8) / self.pixel_max))
        return self.head(embedding), embedding

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, embedding = self.logits_and_embedding(x)
        return torch.softmax(logits, dim=1), embedding


@dataclass
class TrainedDigits:
    """The trained module, its accuracy on the training images and the seconds it took."""

    module: DigitsCNN
    train_accuracy: float
    seconds: float

    def accuracy(self, images: ImageSet) -> float:
        """Share of ``images`` classified correctly."""
        with torch.inference_mode():
            probabilities, _ = self.module(torch.from_numpy(images.flat()))
        return float((probabilities.argmax(dim=1).numpy() == images.labels).mean())


def train_digits_cnn(train: ImageSet, *, epochs: int = 40, batch_size: int = 64,
                     learning_rate: float = 3e-3, seed: int = 0) -> TrainedDigits:
    """Train a :class:`DigitsCNN` on ``train`` (see the module docstring)."""
    if epochs < 1 or batch_size < 1 or not learning_rate > 0:
        raise ValueError(f"epochs and batch_size must be >= 1 and learning_rate > 0, got "
                         f"{epochs}, {batch_size}, {learning_rate}")
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    state = torch.random.get_rng_state()
    started = time.perf_counter()
    try:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        torch.manual_seed(seed)
        module = DigitsCNN()
        optimiser = torch.optim.Adam(module.parameters(), lr=learning_rate)
        loss_of = nn.CrossEntropyLoss()
        inputs = torch.from_numpy(train.flat())
        targets = torch.from_numpy(train.labels)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            for batch in torch.randperm(len(train), generator=generator).split(batch_size):
                optimiser.zero_grad()
                logits, _ = module.logits_and_embedding(inputs[batch])
                loss_of(logits, targets[batch]).backward()
                optimiser.step()
        module.eval()
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
        torch.random.set_rng_state(state)
    trained = TrainedDigits(module, 0.0, time.perf_counter() - started)
    trained.train_accuracy = trained.accuracy(train)
    return trained


def export_digits_example(directory: str | Path, *, seed: int = 0,
                          epochs: int = 40) -> dict[str, Path | float]:
    """Train the CNN and write ``model.ts``, ``digits_reference.jsonl`` and
    ``digits_test.jsonl`` into ``directory``; return the paths and accuracies."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    split = load_digits_split(seed)
    trained = train_digits_cnn(split.train, epochs=epochs, seed=seed)
    schema = load_schema(DATA_DIR / "schema.yaml")
    preprocessor = Preprocessor(build_config({"features": ["pixels"], "standardise": "none",
                                              "missing": "refuse"}, PreprocessingConfig),
                                schema, profile=None)
    model_path = save_torchscript(trained.module, directory / "model.ts", preprocessor,
                                  CLASS_NAMES)
    out: dict[str, Path | float] = {"model": model_path}
    for part in ("reference", "test"):
        path = directory / f"digits_{part}.jsonl"
        images = getattr(split, part)
        path.write_text("".join(json.dumps(event) + "\n"
                                for event in digits_events(images, part)), encoding="utf-8")
        out[part] = path
        out[f"{part}_accuracy"] = trained.accuracy(images)
    out["train_accuracy"] = trained.train_accuracy
    return out

