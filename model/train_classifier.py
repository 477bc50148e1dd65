"""Training a small classifier on a tabular reference file and saving it as TorchScript.

For the worked examples (and anyone without a model yet): given a ``torchscript`` model
section of a run config (its ``artifacts_dir`` holds the profile and schema written by
``driftline profile``, its ``preprocessing`` says how fields become inputs),
:func:`train_torchscript` reads the reference file's rows and labels
(:func:`model.reference_rows.read_reference_rows`), preprocesses them exactly as the adapter
will at run time, trains a :class:`TabularClassifier` (an MLP; cross-entropy, Adam on shuffled
mini-batches, fixed seed, one intra-op thread and deterministic kernels, so a run is
reproducible), holds out ``validation_fraction`` of the labelled rows to report accuracy on, and
saves the module at the config's ``path`` with the input columns, classes and scaling it was
trained on (:func:`model.adapters.torch_models.save_torchscript`). The saved file is then loaded
back through the adapter and must reproduce the validation accuracy.

With ``returns: [logits, embedding]`` in the config the module also returns its last hidden
layer (BBSD's penultimate-layer representation).

Example
-------
>>> import numpy as np
>>> X = np.array([[-1.0], [-0.5], [0.5], [1.0]] * 25)
>>> y = (X[:, 0] > 0).astype(np.int64)
>>> result = train_classifier(X, y, n_classes=2, options=TrainingOptions(
...     hidden_sizes=(4,), epochs=40, validation_fraction=0.25))
>>> result.train_accuracy, result.validation_accuracy, result.n_validation
(1.0, 1.0, 25)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from driftline.model.adapters.base import ModelLoadError
from driftline.model.adapters.config import TorchScriptModelConfig
from driftline.model.adapters.loading import load_model_adapter, load_reference, resolve
from driftline.model.adapters.preprocessing import Preprocessor
from driftline.model.adapters.torch_models import save_torchscript
from driftline.model.reference_rows import read_reference_rows

__all__ = ["TabularClassifier", "TabularClassifierWithEmbedding", "TrainingOptions",
           "TrainingResult", "train_classifier", "train_torchscript"]


class TabularClassifier(nn.Module):
    """MLP ``inputs -> hidden (ReLU) ... -> class logits`` in float32.

    Parameters
    ----------
    n_inputs : int
        Width of the preprocessed input.
    hidden_sizes : sequence of int
        Width of each hidden layer.
    n_classes : int
        Number of classes.
    """

    def __init__(self, n_inputs: int, hidden_sizes: Sequence[int], n_classes: int) -> None:
        super().__init__()
        if n_inputs < 1 or n_classes < 2 or not hidden_sizes or min(hidden_sizes) < 1:
            raise ValueError(f"need n_inputs >= 1, n_classes >= 2 and positive hidden sizes, "
                             f"got {n_inputs}, {n_classes}, {list(hidden_sizes)}")
        layers: list[nn.Module] = []
        width = n_inputs
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, int(hidden)), nn.ReLU()]
            width = int(hidden)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(n, n_classes)``."""
        return self.head(self.body(x))


class TabularClassifierWithEmbedding(TabularClassifier):
    """:class:`TabularClassifier` whose forward also returns the last hidden layer."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        """Class logits ``(n, n_classes)`` and the last hidden layer ``(n, hidden)``."""
        hidden = self.body(x)
        return self.head(hidden), hidden


@dataclass(frozen=True)
class TrainingOptions:
    """Knobs of :func:`train_classifier` (``driftline train-classifier`` options)."""

    hidden_sizes: tuple[int, ...] = (32, 32)
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 0.01
    weight_decay: float = 0.0
    validation_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got "
                             f"{self.validation_fraction}")


@dataclass
class TrainingResult:
    """The trained module and how well it does."""

    module: TabularClassifier
    train_accuracy: float
    validation_accuracy: float | None
    n_train: int
    n_validation: int
    seconds: float
    validation_rows: np.ndarray


@contextmanager
def _reproducible(seed: int) -> Iterator[None]:
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)


def _accuracy(module: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.inference_mode():
        output = module(X)
        logits = output[0] if isinstance(output, tuple) else output
        return float((logits.argmax(dim=1) == y).double().mean())


def train_classifier(X: np.ndarray, labels: np.ndarray, n_classes: int,
                     options: TrainingOptions | None = None, embedding: bool = False,
                     ) -> TrainingResult:
    """Train a :class:`TabularClassifier` on the preprocessed matrix ``X`` and class indices
    ``labels`` (see the module docstring)."""
    options = options or TrainingOptions()
    X = np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if X.ndim != 2 or labels.shape != (X.shape[0],):
        raise ValueError(f"X must be (n, width) and labels (n,), got {X.shape} and "
                         f"{labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be class indices in [0, {n_classes})")
    order = np.random.default_rng(options.seed).permutation(X.shape[0])
    n_validation = round(options.validation_fraction * X.shape[0])
    validation, train = order[:n_validation], order[n_validation:]
    if train.size == 0:
        raise ValueError("no rows left to train on")
    cls = TabularClassifierWithEmbedding if embedding else TabularClassifier
    started = time.perf_counter()
    with _reproducible(options.seed):
        module = cls(X.shape[1], options.hidden_sizes, n_classes)
        optimiser = torch.optim.Adam(module.parameters(), lr=options.learning_rate,
                                     weight_decay=options.weight_decay)
        loss_of = nn.CrossEntropyLoss()
        inputs, targets = torch.from_numpy(X), torch.from_numpy(labels)
        generator = torch.Generator().manual_seed(options.seed)
        train_rows = torch.from_numpy(train)
        for _ in range(options.epochs):
            shuffled = train_rows[torch.randperm(train_rows.numel(), generator=generator)]
            for batch in shuffled.split(options.batch_size):
                optimiser.zero_grad()
                output = module(inputs[batch])
                logits = output[0] if isinstance(output, tuple) else output
                loss_of(logits, targets[batch]).backward()
                optimiser.step()
        module.eval()
        train_accuracy = _accuracy(module, inputs[train_rows], targets[train_rows])
        validation_accuracy = (_accuracy(module, inputs[torch.from_numpy(validation)],
                                         targets[torch.from_numpy(validation)])
                               if n_validation else None)
    return TrainingResult(module, train_accuracy, validation_accuracy, int(train.size),
                          n_validation, time.perf_counter() - started, validation)


def train_torchscript(config: TorchScriptModelConfig, reference: str | Path,
                      options: TrainingOptions | None = None, *, base_dir: str | Path = ".",
                      source: Any = None, delimiter: str | None = None,
                      ) -> tuple[Path, TrainingResult]:
    """Train on the reference file and save the TorchScript file at ``config.path``; return
    the path and the training result (see the module docstring)."""
    if config.returns not in (["logits"], ["logits", "embedding"]):
        raise ModelLoadError(source, "model.returns", f"the trained classifier returns [logits] "
                             f"or [logits, embedding], not {config.returns}")
    schema, schema_path, profile = load_reference(config, base_dir=base_dir, source=source)
    if schema.outputs.label is None:
        raise ModelLoadError(schema_path, "outputs.label", "training needs labels, but the "
                             "schema declares no outputs.label")
    classes = list(config.classes or schema.outputs.classes or [])
    preprocessor = Preprocessor(config.preprocessing, schema, profile, source=source,
                                schema_path=schema_path)
    rows, labels = read_reference_rows(reference, schema, profile, delimiter=delimiter)
    labelled = labels >= 0
    X = preprocessor.transform(rows)[labelled]
    result = train_classifier(X, labels[labelled], len(classes), options,
                              embedding="embedding" in config.returns)
    path = save_torchscript(result.module, resolve(config.path, base_dir), preprocessor,
                            classes)
    adapter = load_model_adapter(config, schema=schema, schema_path=schema_path,
                                 profile=profile, base_dir=base_dir, source=source)
    if result.validation_accuracy is not None:
        served = adapter.predict(rows).labels[labelled][result.validation_rows]
        reloaded = float((served == labels[labelled][result.validation_rows]).mean())
        if abs(reloaded - result.validation_accuracy) > 1e-6:
            raise RuntimeError(f"{path}: the saved model's validation accuracy {reloaded:.4f} "
                               f"differs from the trained one's {result.validation_accuracy:.4f}")
    return path, result
