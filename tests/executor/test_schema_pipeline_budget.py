"""The alarm budget on the schema path: SchemaPipeline's streams, categories and data quality
included, get their closed-form shares; the plan and targets are exported; a restored
pipeline keeps them, and recalibrates the entries a new budget retargets."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from driftline.configs import build_config
from driftline.detectors import detector_class
from driftline.detectors.calibration import ColumnRequest, calibrate_columns
from driftline.executor.alarm_budget import announce_targets
from driftline.executor.config import RunConfig
from driftline.executor.detection import PartitionBatch
from driftline.executor.exporter import DriftExporter
from driftline.executor.monitoring import open_monitoring
from driftline.model.profile_builder import build_profile
from driftline.model.profile_files import write_profile
from tests.executor.test_schema_pipeline import SCHEMA, _rows

MONTH_ROWS = 30 * 86400 * 1000.0   # one period of the budget at 1,000 events/s
#: the data-quality series of SCHEMA: x (numeric, required), colour (categorical, optional)
QUALITY = ["x:out_of_range", "colour:missing", "colour:wrong_type", "colour:unseen_category"]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("schema-budget")
    rows = _rows(np.random.default_rng(7), 2000, [0.5, 0.3, 0.2], missing=0.05)
    (tmp / "reference.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp / "schema.yaml").write_text(yaml.safe_dump(SCHEMA))
    profile, _ = build_profile(tmp / "schema.yaml", tmp / "reference.jsonl")
    write_profile(tmp / "artifacts", profile, tmp / "schema.yaml")
    return tmp / "artifacts"


def _config(artifacts: Path, rate: float = 1000.0) -> RunConfig:
    return build_config({
        "model": {"kind": "none", "artifacts_dir": str(artifacts)},
        "metrics": {"enabled": False},
        "alarms": {"false_pages": 1, "per": "30d", "event_rate_per_s": rate},
        "detectors": {"calibration": {"n_streams": 10}, "streams": {
            "features": [{"detector": "page_hinkley", "method": "cusum",
                          "params": {"delta": 0.25}}],
            "categories": [{"detector": "chi_square", "calibration": "bound",
                            "params": {"window_size": 50}}],
            "prediction": [{"detector": "page_hinkley", "params": {"threshold": 50.0}}],
            "errors": [{"detector": "hddm_a"}],
            "data_quality": [{"detector": "hddm_a"}]}},
    }, RunConfig)


def test_every_schema_stream_gets_its_share(artifacts: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    monitoring = open_monitoring(_config(artifacts))
    pipeline = monitoring.pipeline()
    assert pipeline.streams["data_quality"].names == QUALITY
    # x, colour, the errors stream and the four flags; the prediction entry sets its threshold
    sources = 1 + 1 + 1 + len(QUALITY)
    per_series = MONTH_ROWS * sources
    plan = pipeline.alarm_plan
    assert plan is not None and plan.expected_false_pages == pytest.approx(1.0)
    assert {p.entry.key: p.column_arl0 for p in plan.rows} == pytest.approx({
        "features/page_hinkley": per_series, "categories/chi_square": per_series,
        "errors/hddm_a": per_series, "data_quality/hddm_a": per_series}, rel=1e-12)
    assert plan.row("data_quality", "hddm_a").family_arl0 == pytest.approx(
        per_series / len(QUALITY), rel=1e-12)
    assert pipeline.config.detectors.streams.categories[0].target_arl0 == pytest.approx(
        per_series, rel=1e-12)

    # data quality: the flag the reference shows (5% missing colours) takes 1/ARL0 (union
    # bound); flags it never shows cannot alarm in control (the most sensitive level)
    flags = pipeline.streams["data_quality"].calibration["hddm_a"]["columns"]
    status = {name: c["status"] for name, c in zip(QUALITY, flags, strict=True)}
    assert status == {"x:out_of_range": "no_errors", "colour:missing": "bound",
                      "colour:wrong_type": "no_errors", "colour:unseen_category": "no_errors"}
    assert flags[1]["params"]["drift_confidence"] == pytest.approx(1.0 / per_series)
    errors = pipeline.streams["errors"].calibration["hddm_a"]
    assert errors["status"] == "bound"
    assert errors["params"]["drift_confidence"] == pytest.approx(1.0 / per_series)
    # the numeric column's CUSUM threshold: Siegmund's closed form at the planned target
    x = np.asarray(monitoring.profile.reference_samples["x"], dtype=np.float64)[:, None]
    expected = calibrate_columns(ColumnRequest(
        detector_class("page_hinkley"), x, per_series, {"delta": 0.25}, n_streams=10, seed=0,
        options={"method": "cusum"}))
    (ph,) = pipeline.streams["features"].detectors["page_hinkley"].detectors
    assert ph.threshold == pytest.approx(expected.values[0])

    targets = {(d, s, f): a for d, s, f, a in pipeline.series_targets()}
    assert targets[("page_hinkley", "predictions", "label")] == 20_000.0   # outside the budget
    del targets[("page_hinkley", "predictions", "label")]
    assert set(targets) == {("page_hinkley", "inputs", "x"), ("chi_square", "inputs", "colour"),
                            ("hddm_a", "errors", "")} | {
        ("hddm_a", "data_quality", name) for name in QUALITY}
    assert all(a == pytest.approx(per_series, rel=1e-12) for a in targets.values())

    exporter = DriftExporter(monitoring.profile)
    for detector, stream, features in pipeline.detector_series():
        exporter.register_detector(detector, stream, features)
    with caplog.at_level(logging.INFO, logger="driftline.alarms"):
        announce_targets(pipeline, exporter)
    assert "data_quality/hddm_a: 4 source(s)" in caplog.text
    page = exporter.generate().decode().splitlines()
    line = ('driftline_detector_target_arl0{detector="hddm_a",feature="colour:missing",'
            'stream="data_quality"}')
    assert any(row.startswith(line) and float(row.split()[-1]) == pytest.approx(per_series)
               for row in page)


def test_restored_under_another_budget_recalibrates(artifacts: Path) -> None:
    config = _config(artifacts)
    monitoring = open_monitoring(config)
    before, decoder = monitoring.pipeline(), monitoring.decoder()
    rows = _rows(np.random.default_rng(3), 200, [0.5, 0.3, 0.2], missing=0.05)
    records = [(json.dumps(r).encode(), None, i, None) for i, r in enumerate(rows)]
    before.process(decoder.decode_records(PartitionBatch("events", 0, records)).events)
    state = json.loads(json.dumps(before.state_dict()))
    assert state["targets"]["data_quality"]["hddm_a"] == pytest.approx(
        before.alarm_plan.row("data_quality", "hddm_a").family_arl0)

    same = monitoring.pipeline(state)
    assert same.retargeted == set()
    assert same.state_dict() == before.state_dict()

    faster = open_monitoring(_config(artifacts, rate=4000.0))
    after, fresh = faster.pipeline(state), faster.pipeline()
    calibrated = {("features", "page_hinkley"), ("categories", "chi_square"),
                  ("errors", "hddm_a"), ("data_quality", "hddm_a")}
    assert after.retargeted == calibrated     # the prediction entry sets its own threshold
    restored = after.state_dict()
    for stream, detector in calibrated:
        assert restored["detectors"][stream][detector] == \
            fresh.state_dict()["detectors"][stream][detector]
        assert restored["calibration"][stream][detector] == \
            fresh.state_dict()["calibration"][stream][detector]
    assert restored["detectors"]["prediction"] == state["detectors"]["prediction"]
    assert restored["counters"]["n_processed"] == 200
    missing = restored["calibration"]["data_quality"]["hddm_a"]["columns"][1]
    assert missing["params"]["drift_confidence"] == pytest.approx(
        state["calibration"]["data_quality"]["hddm_a"]["columns"][1]["params"][
            "drift_confidence"] / 4)
