"""The ``none`` kind: predictions and scores decoded from the events become ``Predictions``
as the config's ``score`` says, without torch; impossible scores are a ``ModelError``; a
schema that does not carry what the kind needs is refused at load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftline.configs import build_config
from driftline.dataloader.schema import EventSchema
from driftline.executor.schema_decoder import SchemaDecoder
from driftline.model.adapters.base import InputBatch, ModelError, ModelLoadError
from driftline.model.adapters.served import ServedElsewhereAdapter, served_elsewhere_adapter


def schema(**outputs: Any) -> EventSchema:
    return build_config({"fields": [{"name": "x", "type": "numeric"}],
                         "outputs": {"classes": ["legit", "fraud"], **outputs}}, EventSchema)


SERVED = schema(prediction={"path": "served.class", "optional": True},
                score={"path": "served.score", "optional": True})


def decoded(events: list[dict[str, Any]]) -> Any:
    values = [json.dumps({"event_id": f"e{i}", "x": 1.0, "served": e}).encode()
              for i, e in enumerate(events)]
    batch = SchemaDecoder(SERVED).decode_batch(values, topic="t", partition=0,
                                               offsets=list(range(len(values))))
    assert not batch.dead_letters
    return batch


EVENTS = [{"class": "fraud", "score": 0.9}, {"class": 0, "score": 0.7}, {"score": 0.2},
          {"class": "legit"}, {}]


def test_confidence_scores_are_the_served_classs_confidence() -> None:
    served = served_elsewhere_adapter(SERVED, "confidence").predict(decoded(EVENTS))
    assert served.labels.tolist() == [1, 0, -1, 0, -1]
    np.testing.assert_array_equal(served.confidence, [0.9, 0.7, 0.2, np.nan, np.nan])
    assert served.probabilities is None and served.risk is None
    assert not served.used_fallback.any()


def test_positive_probability_gives_class_probabilities() -> None:
    served = served_elsewhere_adapter(SERVED, "positive_probability").predict(decoded(EVENTS))
    assert served.labels.tolist() == [1, 0, 0, 0, -1]  # row 2: the more probable class
    np.testing.assert_allclose(served.probabilities[:3], [[0.1, 0.9], [0.3, 0.7], [0.8, 0.2]])
    np.testing.assert_allclose(served.confidence[:3], [0.9, 0.3, 0.8])
    assert np.isnan(served.confidence[3:]).all() and np.isnan(served.probabilities[3:]).all()


def test_risk_scores_are_passed_on_unchecked() -> None:
    adapter = served_elsewhere_adapter(SERVED, "risk")
    batch = decoded([{"class": 1, "score": 17.5}, {"class": 0, "score": -3.0}])
    served = adapter.predict(batch)
    assert served.risk.tolist() == [17.5, -3.0] and np.isnan(served.confidence).all()


@pytest.mark.parametrize("score", ["confidence", "positive_probability"])
def test_a_score_outside_zero_one_is_a_model_error(score: str) -> None:
    adapter = served_elsewhere_adapter(SERVED, score)
    with pytest.raises(ModelError, match=rf"the events' score \({score}\) must be in \[0, 1\]; "
                       r"row 1 has 1.5"):
        adapter.predict(decoded([{"class": 1, "score": 0.5}, {"class": 1, "score": 1.5}]))


@pytest.mark.parametrize(("outputs", "score", "message"), [
    ({}, "confidence", "s.yaml: outputs: model kind none reads the prediction or the score "
     "from the events, but the schema declares neither outputs.prediction nor outputs.score"),
    ({"prediction": {"path": "p"}}, "risk", "s.yaml: outputs.score: model.score is risk, but "
     "the schema declares no outputs.score"),
])
def test_a_schema_without_the_outputs_is_refused(outputs: dict[str, Any], score: str,
                                                 message: str) -> None:
    with pytest.raises(ModelLoadError) as info:
        served_elsewhere_adapter(schema(**outputs), score, schema_path="s.yaml")
    assert str(info.value) == message


def test_positive_probability_needs_two_classes() -> None:
    three = build_config({"fields": [{"name": "x", "type": "numeric"}], "outputs": {
        "classes": ["a", "b", "c"], "score": {"path": "s"}}}, EventSchema)
    with pytest.raises(ModelLoadError, match=r"outputs.classes: model.score positive_probability "
                       r"needs two classes, got \['a', 'b', 'c'\]"):
        served_elsewhere_adapter(three, "positive_probability")
    with pytest.raises(ValueError, match="neither a prediction nor a score"):
        ServedElsewhereAdapter([], "confidence", has_prediction=False, has_score=False)


def test_a_score_only_stream_without_classes() -> None:
    scores = build_config({"fields": [{"name": "x", "type": "numeric"}],
                           "outputs": {"score": {"path": "s"}}}, EventSchema)
    adapter = served_elsewhere_adapter(scores, "risk")
    served = adapter.predict(InputBatch(numeric=[[1.0]], numeric_names=["x"], score=[4.0]))
    assert adapter.class_names == [] and served.labels.tolist() == [-1]


def test_the_none_kind_does_not_import_torch(tmp_path: Path) -> None:
    code = ("import sys\n"
            "from driftline.model.adapters import InputBatch\n"
            "from driftline.model.adapters.served import ServedElsewhereAdapter\n"
            "from driftline.model.adapters.serving import run_model\n"
            "import driftline.executor.config\n"
            "a = ServedElsewhereAdapter(['a', 'b'], 'confidence', has_prediction=True, "
            "has_score=True)\n"
            "a.predict(InputBatch(numeric=[[1.0]], numeric_names=['x'], prediction=[1], "
            "score=[0.5]))\n"
            "print('torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip() == "False"
