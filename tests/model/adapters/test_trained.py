"""The ``driftline`` kind is today's insurance model: on the insurance reference and on a
drifted production month, decoded from JSON events by the schema decoder, it serves exactly what
``LoadedModel.predict`` serves (network with its rule-based fallback), bit for bit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from driftline.configs import build_config
from driftline.dataloader.insurance import DATA_DIR, FEATURE_NAMES, load_month
from driftline.dataloader.schema import load_schema
from driftline.executor.decode import encode_event
from driftline.executor.schema_decoder import SchemaDecoder
from driftline.model.adapters.base import InputBatch, ModelError, ModelLoadError
from driftline.model.adapters.config import TrainedModelConfig
from driftline.model.adapters.loading import load_model_adapter
from driftline.model.artifacts import load_artifacts


def assert_same(served: object, expected: object) -> None:
    for name, value in dataclasses.asdict(expected).items():  # type: ignore[call-overload]
        if value is None:
            assert getattr(served, name) is None, name
        else:
            np.testing.assert_array_equal(getattr(served, name), value, err_msg=name)


def test_the_insurance_configuration_serves_exactly_todays_predictions(
        artifacts_dir: Path) -> None:
    config = build_config({"artifacts_dir": str(artifacts_dir)}, TrainedModelConfig)
    adapter = load_model_adapter(config)
    loaded = load_artifacts(artifacts_dir)
    reference = InputBatch.from_profile(loaded.profile)
    assert_same(adapter.predict(reference), loaded.predict(reference.numeric))
    assert adapter.kind == "driftline" and adapter.class_names == ["high", "medium", "low"]
    assert adapter.model_sha256 == loaded.profile.model_sha256
    assert adapter.input_names == list(FEATURE_NAMES)


def test_decoded_events_of_a_drifted_month_give_todays_predictions(artifacts_dir: Path) -> None:
    month = load_month(36)
    values = [encode_event(f"m36-{i}", dict(zip(FEATURE_NAMES, row, strict=True)), int(group))
              for i, (row, group) in enumerate(zip(month.features, month.group, strict=True))]
    decoder = SchemaDecoder(load_schema(DATA_DIR / "schema.yaml"))
    batch = decoder.decode_batch(values, topic="insurance", partition=0,
                                 offsets=list(range(len(values))))
    assert not batch.dead_letters
    adapter = load_model_adapter(build_config({"artifacts_dir": str(artifacts_dir)},
                                              TrainedModelConfig))
    served = adapter.predict(batch)
    assert_same(served, load_artifacts(artifacts_dir).predict(month.features))
    assert served.used_fallback.any()  # month 36 leaves the reference range: rules serve some


def test_columns_are_picked_by_name_and_bad_values_are_a_model_error(
        artifacts_dir: Path) -> None:
    adapter = load_model_adapter(build_config({"artifacts_dir": str(artifacts_dir)},
                                              TrainedModelConfig))
    X = load_month(1).features[:50]
    shuffled = [4, 2, 0, 3, 1]
    batch = InputBatch(numeric=X[:, shuffled], numeric_names=[FEATURE_NAMES[i] for i in shuffled])
    assert_same(adapter.predict(batch), adapter.model.predict(X))
    X = X.copy()
    X[7, 2] = np.nan
    with pytest.raises(ModelError, match=r"ValueError: X\[7, 2\] \('braking_distance'\) is not "
                       "finite"):
        adapter.predict(InputBatch(numeric=X, numeric_names=list(FEATURE_NAMES)))
    empty = adapter.predict(InputBatch(numeric=np.empty((0, 5)), numeric_names=list(FEATURE_NAMES)))
    assert empty.probabilities.shape == (0, 3) and empty.risk.shape == (0,)


def test_missing_artifacts_name_the_key_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as info:
        load_model_adapter(build_config({"artifacts_dir": str(tmp_path)}, TrainedModelConfig))
    assert str(info.value) == (f"model.artifacts_dir: {tmp_path}/model.pt: not found (run "
                               "`driftline train` first)")
