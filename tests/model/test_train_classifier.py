"""The example-training helper: reproducible training (same seed, same weights), a TorchScript
file that reloads through the adapter with its preprocessing pinned, high accuracy on a
learnable data set, the embedding variant for BBSD, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from driftline.configs import build_config
from driftline.dataloader.schema import load_schema
from driftline.model.adapters.base import ModelLoadError
from driftline.model.adapters.config import TorchScriptModelConfig
from driftline.model.adapters.loading import load_model_adapter
from driftline.model.adapters.torch_models import METADATA_FILE, load_torchscript_module
from driftline.model.reference_rows import read_reference_rows
from driftline.model.train_classifier import (
    TabularClassifierWithEmbedding,
    TrainingOptions,
    train_classifier,
    train_torchscript,
)
from tests.model.tabular_data import Tabular

FAST = TrainingOptions(hidden_sizes=(16,), epochs=15, seed=2)


def config(tabular: Tabular, path: Path, **extra: object) -> TorchScriptModelConfig:
    return build_config({"kind": "torchscript", "artifacts_dir": str(tabular.artifacts),
                         "path": str(path), **extra}, TorchScriptModelConfig)


def test_training_is_reproducible() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    first, second = (train_classifier(X, y, 2, TrainingOptions(hidden_sizes=(8,), epochs=5))
                     for _ in range(2))
    for a, b in zip(first.module.state_dict().values(), second.module.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    assert first.n_train == 320 and first.n_validation == 80
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 2\)"):
        train_classifier(X, y + 1, 2)


def test_train_torchscript_writes_a_model_the_adapter_serves(tabular: Tabular,
                                                             tmp_path: Path) -> None:
    model_config = config(tabular, tmp_path / "model.ts")
    path, result = train_torchscript(model_config, tabular.reference, FAST)
    assert result.validation_accuracy > 0.9 and result.train_accuracy > 0.9
    _, metadata = load_torchscript_module(path)
    assert metadata["classes"] == ["low", "mid", "high"]
    assert metadata["inputs"][-1] == "garage" and set(metadata["scaling"]) == {"x", "garage"}
    adapter = load_model_adapter(model_config)
    rows, labels = read_reference_rows(tabular.reference, load_schema(tabular.schema),
                                       adapter.profile)
    served = adapter.predict(rows)
    with torch.no_grad():
        expected = result.module(torch.from_numpy(
            adapter.preprocessor.transform(rows)).float()).argmax(dim=1).numpy()
    np.testing.assert_array_equal(served.labels, expected)
    assert (served.labels == labels).mean() > 0.9
    train_torchscript(model_config, tabular.reference, FAST)  # same seed: the same file
    assert load_model_adapter(model_config).model_sha256 == adapter.model_sha256


def test_the_embedding_variant_returns_the_last_hidden_layer(tabular: Tabular,
                                                            tmp_path: Path) -> None:
    model_config = config(tabular, tmp_path / "embed.ts", returns=["logits", "embedding"])
    _, result = train_torchscript(model_config, tabular.directory / "reference.parquet",
                                  TrainingOptions(hidden_sizes=(12, 6), epochs=2))
    assert isinstance(result.module, TabularClassifierWithEmbedding)
    adapter = load_model_adapter(model_config)
    rows, _ = read_reference_rows(tabular.reference, load_schema(tabular.schema),
                                  adapter.profile)
    assert adapter.predict(rows).embedding.shape == (2000, 6)
    assert METADATA_FILE == "driftline.json"


def test_refusals(tabular: Tabular, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model.returns: the trained classifier returns "
                       r"\[logits\] or \[logits, embedding\], not \['probabilities'\]"):
        train_torchscript(config(tabular, tmp_path / "m.ts", returns=["probabilities"]),
                          tabular.reference)
    with pytest.raises(ValueError, match="validation_fraction must be in"):
        TrainingOptions(validation_fraction=1.0)
