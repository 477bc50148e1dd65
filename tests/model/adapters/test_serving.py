"""The pipeline's model stage: a decoded batch on which the model raises, returns the wrong
shape or non-finite values becomes one ``model_error`` dead letter per event (key = event id,
offset and timestamp kept, original bytes restored by ``with_originals``); a good batch gives
predictions; the next batch is served again."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from driftline.configs import build_config
from driftline.dataloader.schema import load_schema
from driftline.executor.decoded import with_originals
from driftline.executor.schema_decoder import SchemaDecoder
from driftline.model.adapters.config import PreprocessingConfig
from driftline.model.adapters.preprocessing import Preprocessor
from driftline.model.adapters.serving import MODEL_ERROR, run_model
from driftline.model.adapters.torch_models import TorchModelAdapter
from driftline.model.profile_files import read_profile
from tests.model.adapters.factories import Misbehaving, SmallNet
from tests.model.tabular_data import Tabular, events

CLASSES = ["low", "mid", "high"]


def adapter(tabular: Tabular, module: Any) -> TorchModelAdapter:
    pre = Preprocessor(build_config({}, PreprocessingConfig), load_schema(tabular.schema),
                       read_profile(tabular.artifacts))
    return TorchModelAdapter("pytorch", module, pre, CLASSES, ["logits"])


def decoded(tabular: Tabular, start: int, n: int) -> tuple[Any, list[bytes]]:
    rows = slice(start, start + n)
    values = events(tabular.x[rows], tabular.city[rows], tabular.garage[rows])
    values = [v.replace(b'"event_id"', b'"timestamp": %d.25, "event_id"' % (1000 + i))
              for i, v in enumerate(values)]
    decoder = SchemaDecoder.from_profile(load_schema(tabular.schema),
                                         read_profile(tabular.artifacts))
    batch = decoder.decode_batch(values, topic="events", partition=2,
                                 offsets=list(range(100 + start, 100 + start + n)))
    return batch, values


@pytest.mark.parametrize(("mode", "detail"), [
    ("raise", "RuntimeError: CUDA out of memory (pretend)"),
    ("wide", "the model's logits have shape (40, 4), expected (40, 3) (one column per class)"),
    ("nan", "the model's logits are not finite in 1 of 40 rows (first: row 20)"),
])
def test_a_failing_batch_becomes_model_error_dead_letters(tabular: Tabular, mode: str,
                                                          detail: str) -> None:
    batch, values = decoded(tabular, 0, 40)
    outcome = run_model(adapter(tabular, Misbehaving(mode)), batch)
    assert outcome.predictions is None and str(outcome.error) == detail
    letters = outcome.dead_letters
    assert [d.reason for d in letters] == [MODEL_ERROR] * 40
    assert [d.offset for d in letters] == list(range(100, 140))
    assert [d.key for d in letters] == [f"e{i}".encode() for i in range(40)]
    assert {(d.topic, d.partition, d.detail) for d in letters} == {("events", 2, detail)}
    assert [d.timestamp_ms for d in letters[:2]] == [1_000_250, 1_001_250]
    originals = {100 + i: (value, f"e{i}".encode(), None) for i, value in enumerate(values)}
    assert [d.value for d in with_originals(letters, originals)] == values


def test_a_good_batch_is_served_and_one_failure_does_not_stop_the_next(
        tabular: Tabular) -> None:
    flaky = adapter(tabular, SmallNet())
    first, _ = decoded(tabular, 0, 30)
    assert run_model(flaky, first).predictions.labels.shape == (30,)
    flaky.module = Misbehaving("raise")
    assert len(run_model(flaky, decoded(tabular, 30, 30)[0]).dead_letters) == 30
    flaky.module = SmallNet().eval()
    outcome = run_model(flaky, decoded(tabular, 60, 30)[0])
    assert outcome.error is None and outcome.dead_letters == []
    assert np.isfinite(outcome.predictions.probabilities).all()
