"""Checkpoints as differences from the fresh pipeline: a real pipeline's state survives strip ->
JSON -> fill exactly, is several times smaller, and a state of another template is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from driftline.executor.detection import InProcessDetection, PartitionBatch, StateMismatchError
from driftline.executor.state_record import encode_state, load_state
from driftline.executor.state_template import (
    SAME,
    TEMPLATE_KEY,
    fill_template,
    strip_template,
    template_digest,
)
from tests.executor.pipeline_helpers import fast_config
from tests.executor.test_forked_detection import Setup, _records


@pytest.fixture
def made(loaded_model: Any, artifacts_dir: Path, tmp_path: Path) -> Setup:
    return Setup(loaded_model, fast_config(artifacts_dir, checkpoint={"dir": str(tmp_path)}))


def test_a_pipeline_state_round_trips_through_its_difference(made: Setup) -> None:
    local = made.in_process()
    local.open(0)
    local.submit([PartitionBatch("events", 0, _records([1, 13])[:900])])
    local.collect()
    full = local.state(0)
    stored = load_state(encode_state(strip_template(full, made.template)))
    assert len(encode_state(stored)) * 2 < len(encode_state(full))
    assert fill_template(stored, made.template) == full
    # a state stored whole (an older checkpoint) is taken as it is
    assert fill_template(full, made.template) == full


def test_a_backend_with_the_template_captures_the_difference(made: Setup) -> None:
    backend = InProcessDetection(made.decoder, made.make_pipeline, made.template)
    backend.open(2)
    backend.submit([PartitionBatch("events", 2, _records([2])[:300])])
    backend.collect()
    from driftline.executor.detection import CheckpointAt

    backend.capture([CheckpointAt("events", 2, 300)])
    ((_, payload),) = backend.captured()
    stored = load_state(payload)
    assert stored[TEMPLATE_KEY] == template_digest(made.template)
    assert stored["calibration"] == SAME and stored["counters"] != SAME
    assert fill_template(stored, made.template) == backend.state(2)


def test_a_state_of_another_template_is_refused() -> None:
    template = {"reference": [1.0, 2.0], "window": [0.5]}
    stored = strip_template({"reference": [1.0, 2.0], "window": [0.7]}, template)
    assert stored["reference"] == SAME and stored["window"] == [0.7]
    with pytest.raises(ValueError, match="another fresh-pipeline template"):
        fill_template(stored, {"reference": [1.0, 2.5], "window": [0.5]})

    def make(state: Any) -> Any:
        return fill_template(dict(state), {"reference": [3.0], "window": []})

    backend = InProcessDetection(None, make)  # type: ignore[arg-type]
    with pytest.raises(StateMismatchError, match="another fresh-pipeline template"):
        backend.open(0, stored)
