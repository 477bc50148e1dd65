"""SchemaPipeline: a user's schema events through the streams of the run config.

The categorical series the pipeline reports are checked against scipy's chi-square test of the
window's counts against the reference counts counted here from the reference file (missing
values a category of their own, unseen ones outside the table), at the end of every batch; the
data-quality series against the flags the events carry; the state round trip against an
uninterrupted pipeline.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import numpy as np
import pytest
import yaml

from driftline.configs import build_config
from driftline.detectors.chi_square import ChiSquare
from driftline.executor.config import RunConfig
from driftline.executor.detection import PartitionBatch
from driftline.executor.monitoring import open_monitoring
from driftline.model.profile_builder import build_profile
from driftline.model.profile_files import write_profile
from tests.detectors.test_chi_square import _expected

COLOURS = ["red", "blue", "green"]
SCHEMA = {
    "event_id": {"path": "id"},
    "fields": [{"name": "x", "path": "x", "type": "numeric"},
               {"name": "colour", "path": "colour", "type": "categorical", "optional": True,
                "categories": COLOURS}],
    "outputs": {"classes": ["no", "yes"], "prediction": {"path": "pred"},
                "label": {"path": "label"}},
}
WINDOW = 50


def _rows(rng: np.random.Generator, n: int, frequencies: list[float], *, missing: float = 0.0,
          unseen: float = 0.0, shift: float = 0.0, start: int = 0) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        u = rng.random()
        colour: str | None = (None if u < missing else "purple" if u < missing + unseen else
                              COLOURS[int(rng.choice(3, p=frequencies))])
        pred = "yes" if rng.random() < 0.3 else "no"
        label = pred if rng.random() < 0.9 else ("no" if pred == "yes" else "yes")
        row: dict[str, Any] = {"id": f"e{start + i}", "x": float(rng.normal() + shift),
                               "pred": pred, "label": label}
        if colour is not None:
            row["colour"] = colour
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("schema-pipeline")
    rng = np.random.default_rng(5)
    reference = _rows(rng, 2000, [0.5, 0.3, 0.2], missing=0.05)
    (tmp / "reference.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reference))
    (tmp / "schema.yaml").write_text(yaml.safe_dump(SCHEMA))
    profile, _ = build_profile(tmp / "schema.yaml", tmp / "reference.jsonl")
    write_profile(tmp / "artifacts", profile, tmp / "schema.yaml")
    stream = (_rows(rng, 400, [0.5, 0.3, 0.2], missing=0.05)
              + _rows(rng, 400, [0.2, 0.3, 0.5], missing=0.3, unseen=0.1, shift=6.0,
                      start=400))
    counts = [sum(r.get("colour") == c for r in reference) for c in COLOURS]
    # the detector's reference: the categories, "other" (none), then missing values
    return {"dir": tmp, "stream": stream,
            "reference_counts": [*counts, 0, sum("colour" not in r for r in reference)]}


def _config(setup: dict[str, Any]) -> RunConfig:
    return build_config({
        "model": {"kind": "none", "artifacts_dir": str(setup["dir"] / "artifacts")},
        "metrics": {"enabled": False},
        "detectors": {"calibration": {"n_streams": 10}, "streams": {
            "features": [{"detector": "page_hinkley", "params": {"threshold": 50.0}}],
            "categories": [{"detector": "chi_square",
                            "params": {"window_size": WINDOW, "alpha": 1e-4,
                                       "min_expected": 0.0, "reset_on_drift": False}}],
            "prediction": [{"detector": "page_hinkley", "params": {"threshold": 50.0}}],
            "errors": [{"detector": "ddm", "target_arl0": 500}],
            "data_quality": [{"detector": "ddm", "target_arl0": 500}]}},
    }, RunConfig)


def _batches(rows: list[dict[str, Any]], size: int) -> list[PartitionBatch]:
    records = [(json.dumps(r).encode(), None, i, None) for i, r in enumerate(rows)]
    return [PartitionBatch("events", 0, records[i:i + size])
            for i in range(0, len(records), size)]


def test_categorical_series_equal_scipy_at_every_batch(setup: dict[str, Any]) -> None:
    monitoring = open_monitoring(_config(setup))
    pipeline, decoder = monitoring.pipeline(), monitoring.decoder()
    reference = ChiSquare(setup["reference_counts"], window_size=WINDOW, alpha=1e-4,
                          min_expected=0.0, reset_on_drift=False)
    code = {c: i for i, c in enumerate(COLOURS)}
    window: deque[int] = deque(maxlen=WINDOW)
    detections = 0
    for batch in _batches(setup["stream"], 37):
        result = pipeline.process(decoder.decode_records(batch).events)
        for record in batch.records:
            colour = json.loads(record[0]).get("colour")
            # missing: its own reference cell (code 4); unseen: past the reference (code 5)
            window.append(4 if colour is None else code.get(colour, 5))
        (update,) = [u for u in result.readings.detectors
                     if (u.detector, u.feature) == ("chi_square", "colour")]
        expected = _expected(reference, window)
        assert update.drift == expected.pop("drift")
        for key, value in expected.items():
            assert update.statistics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        detections += update.detections
        (counts,) = result.readings.categories
        assert counts.labels == [*COLOURS, "__other__", "__missing__", "__unseen__"]
        assert counts.counts.tolist() == np.bincount(
            [4 if json.loads(r[0]).get("colour") is None
             else code.get(json.loads(r[0])["colour"], 5) for r in batch.records],
            minlength=6).tolist()
    assert detections > 0  # the shifted frequencies and the unseen colour are detected


def test_data_quality_series_flag_the_fields_that_change(setup: dict[str, Any]) -> None:
    monitoring = open_monitoring(_config(setup))
    pipeline, decoder = monitoring.pipeline(), monitoring.decoder()
    assert pipeline.streams["data_quality"].names == [
        "x:out_of_range", "colour:missing", "colour:wrong_type", "colour:unseen_category"]
    assert monitoring.quality_baselines()[("colour", "missing")] == pytest.approx(
        setup["reference_counts"][-1] / 2000)
    first: dict[str, str] = {}
    for batch in _batches(setup["stream"], 50):
        for d in pipeline.process(decoder.decode_records(batch).events).detections:
            first.setdefault(d.feature, d.event_id) if d.stream == "data_quality" else None
    # every change is in the second half of the stream (from event e400), wrong types never
    assert set(first) == {"x:out_of_range", "colour:missing", "colour:unseen_category"}
    assert all(int(event_id[1:]) >= 400 for event_id in first.values()), first


def test_state_round_trip_continues_bit_for_bit(setup: dict[str, Any]) -> None:
    monitoring = open_monitoring(_config(setup))
    decoder = monitoring.decoder()
    batches = _batches(setup["stream"], 64)
    original = monitoring.pipeline()
    for batch in batches[:6]:
        original.process(decoder.decode_records(batch).events)
    state = json.loads(json.dumps(original.state_dict()))
    restored = monitoring.pipeline(state)
    assert restored.state_dict() == original.state_dict()
    for batch in batches[6:]:
        events = decoder.decode_records(batch).events
        assert restored.process(events).detections == original.process(events).detections
    assert json.dumps(restored.state_dict()) == json.dumps(original.state_dict())
    state["model_sha256"] = "0" * 64
    with pytest.raises(ValueError, match="another model"):
        monitoring.pipeline(state)


def test_every_stream_reports_its_series(setup: dict[str, Any]) -> None:
    pipeline = open_monitoring(_config(setup)).pipeline()
    series = {(d, s) for d, s, _ in pipeline.detector_series()}
    assert series == {("page_hinkley", "inputs"), ("chi_square", "inputs"),
                      ("page_hinkley", "predictions"), ("ddm", "errors"),
                      ("ddm", "data_quality")}
    assert [(s.stream, s.feature) for s in pipeline.detectors.series()
            if s.detector == "chi_square"] == [("categories", "colour")]
