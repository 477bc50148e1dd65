"""The vision example's CNN: accurate on held-out digits, reproducible, and served through the
torchscript adapter from its events exactly as trained; its files are what the example needs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from driftline.dataloader.digits import DATA_DIR, load_digits_split
from driftline.dataloader.schema import load_schema
from driftline.executor.schema_decoder import SchemaDecoder
from driftline.model.adapters.loading import load_model_adapter
from driftline.model.adapters.torch_models import load_torchscript_module
from driftline.model.digits_cnn import train_digits_cnn
from tests.digits_example import model_config


def test_training_is_reproducible_and_accurate() -> None:
    split = load_digits_split(seed=0)
    a = train_digits_cnn(split.train, epochs=15)
    b = train_digits_cnn(split.train, epochs=15)
    for (name, x), (_, y) in zip(a.module.state_dict().items(), b.module.state_dict().items(),
                                 strict=True):
        assert torch.equal(x, y), name
    assert a.accuracy(split.reference) > 0.95


def test_events_are_served_through_the_torchscript_adapter(digits_example: Path) -> None:
    adapter = load_model_adapter(model_config(digits_example))
    lines = (digits_example / "digits_test.jsonl").read_text().splitlines()
    decoder = SchemaDecoder(load_schema(DATA_DIR / "schema.yaml"))
    batch = decoder.decode_batch([line.encode() for line in lines], topic="t", partition=0,
                                 offsets=list(range(len(lines))))
    assert not batch.dead_letters
    served = adapter.predict(batch)
    labels = np.array([json.loads(line)["label"] for line in lines])
    assert (served.labels == labels).mean() > 0.95
    assert served.embedding is not None and served.embedding.shape == (len(lines), 64)
    assert adapter.describe()["inputs"][:2] == ["pixels[0]", "pixels[1]"]
    # the adapter's output is the trained module's on the same pixels
    module, metadata = load_torchscript_module(digits_example / "model.ts")
    with torch.inference_mode():
        probabilities, _ = module(torch.from_numpy(batch.vectors["pixels"]))
    np.testing.assert_allclose(served.probabilities, probabilities.numpy(), atol=1e-6)
    assert metadata is not None and metadata["classes"] == [str(d) for d in range(10)]
