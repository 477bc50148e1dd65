"""The budget in time as target ARL0s: closed forms, config errors, the wiring onto the
per-stream entries."""

from __future__ import annotations

import time

import numpy as np
import pytest

from driftline.configs import ConfigError, build_config
from driftline.detectors import detector_class
from driftline.detectors.calibration.errors import calibrate_error_detector
from driftline.executor.alarm_budget import (
    AlarmEntry,
    budget_detectors,
    plan_alarms,
    series_targets,
)
from driftline.executor.alarms_config import AlarmsConfig, parse_duration
from driftline.executor.config import RunConfig
from driftline.executor.detectors_config import DetectorsConfig

ENTRIES = [AlarmEntry("features", "page_hinkley", 5), AlarmEntry("features", "incremental_ks", 5),
           AlarmEntry("input_vector", "nm_ddm", 1), AlarmEntry("prediction", "page_hinkley", 3),
           AlarmEntry("errors", "ddm", 1), AlarmEntry("errors", "adwin", 1)]


@pytest.mark.parametrize(("pages", "per", "rate"), [(1, "30d", 1000.0), (3, "1w", 250.0),
                                                   (0.5, "12h", 20_000.0)])
def test_plan_matches_the_closed_form(pages: float, per: str, rate: float) -> None:
    alarms = AlarmsConfig(false_pages=pages, per=per, event_rate_per_s=rate)
    plan = plan_alarms(alarms, ENTRIES)
    sources = sum(e.columns for e in ENTRIES)
    period = {"30d": 30 * 86400, "1w": 7 * 86400, "12h": 12 * 3600}[per]
    for row in plan.rows:
        # per-series ARL0 = rate x period x (alarm sources) / pages, the entry's = that / k
        expected = rate * period * sources / pages
        assert row.column_arl0 == pytest.approx(expected, rel=1e-12)
        assert row.family_arl0 == pytest.approx(expected / row.entry.columns, rel=1e-12)
        # expected false pages of the entry: its sources x (events per period / ARL0)
        assert row.expected_false_pages == pytest.approx(
            row.entry.columns * rate * period / row.column_arl0, rel=1e-12)
    assert plan.expected_false_pages == pytest.approx(pages, rel=1e-12)


def test_labelled_streams_see_the_labelled_rate() -> None:
    alarms = AlarmsConfig(false_pages=1, per="30d", event_rate_per_s=1000, labelled_fraction=0.1)
    plan = plan_alarms(alarms, ENTRIES)
    sources = sum(e.columns for e in ENTRIES)
    ddm = plan.row("errors", "ddm")
    assert ddm.events_per_s == pytest.approx(100.0)
    assert ddm.column_arl0 == pytest.approx(100.0 * 30 * 86400 * sources, rel=1e-12)
    assert plan.row("features", "page_hinkley").column_arl0 == pytest.approx(
        1000.0 * 30 * 86400 * sources, rel=1e-12)
    # each source still spends 1/sources of the budget
    assert ddm.expected_false_pages == pytest.approx(1 / sources)
    assert plan.expected_false_pages == pytest.approx(1.0)


def test_plan_scales_with_the_rate() -> None:
    alarms = AlarmsConfig(false_pages=1, per="30d", event_rate_per_s=1000)
    base, faster = plan_alarms(alarms, ENTRIES), plan_alarms(alarms, ENTRIES, events_per_s=4000)
    for a, b in zip(base.rows, faster.rows, strict=True):
        assert b.column_arl0 == pytest.approx(4 * a.column_arl0)
    assert "at 4000 events/s" in faster.describe()[0]


def test_plan_refuses_duplicates_and_nothing() -> None:
    alarms = AlarmsConfig()
    with pytest.raises(ValueError, match="no detector entry"):
        plan_alarms(alarms, [])
    with pytest.raises(ValueError, match="unique"):
        plan_alarms(alarms, [AlarmEntry("features", "ddm", 1)] * 2)


def test_durations() -> None:
    assert parse_duration("30d") == 30 * 86400
    assert parse_duration("2w") == 14 * 86400
    assert parse_duration("90m") == 5400
    for bad in ("30", "d", "-1d", "0d", "1y"):
        with pytest.raises(ValueError):
            parse_duration(bad)


@pytest.mark.parametrize(("alarms", "key"), [
    ({"per": "a month"}, "alarms.per"),
    ({"false_pages": 0}, "alarms.false_pages"),
    ({"event_rate_per_s": -3}, "alarms.event_rate_per_s"),
    ({"labelled_fraction": 1.5}, "alarms.labelled_fraction"),
    ({"false_pages": 1e6, "per": "1s", "event_rate_per_s": 1}, "alarms.false_pages"),
    ({"pages": 1}, "alarms.pages"),
])
def test_config_errors_name_the_key(alarms: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_config({"alarms": alarms}, RunConfig)


def test_error_detectors_beyond_simulation_answer_at_once() -> None:
    started = time.perf_counter()
    ddm = calibrate_error_detector("ddm", 0.3, 5e10, seed=3)
    hddm = calibrate_error_detector("hddm_a", 0.3, 5e10, seed=3)
    assert time.perf_counter() - started < 5.0
    # DDM's threshold has no level: its most conservative value, with a warning
    alarm = detector_class("ddm").alarm
    assert ddm["status"] == "fallback" and "out of reach" in ddm["message"]
    assert ddm["params"][alarm.name] == pytest.approx(alarm.conservative)
    # HDDM_A's confidence is a level per value: 1/target (union bound)
    assert hddm["status"] == "bound" and hddm["message"] == ""
    assert hddm["params"]["drift_confidence"] == pytest.approx(2e-11)


@pytest.mark.parametrize("name", ["adwin", "hddm_a"])
@pytest.mark.parametrize("error_rate", [0.05, 0.25])
def test_level_per_value_bounds_the_false_alarm_rate(name: str, error_rate: float) -> None:
    """At the level 1/target the in-control ARL0 is at least the target: fewer alarms over
    1,000,000 Bernoulli errors than 1,000,000 / target."""
    cls = detector_class(name)
    assert cls.alarm.per_value_level
    target = 5_000.0
    errors = (np.random.default_rng(11).random(1_000_000) < error_rate).astype(np.float64)
    detector = cls(**cls.with_alarm({}, 1.0 / target))
    assert len(detector.update_many(errors)) <= 1_000_000 / target


STREAMS_CONFIG = {"streams": {
    "features": [{"detector": "incremental_ks", "method": "ks_tail",
                  "params": {"window_size": 100}},
                 {"detector": "page_hinkley", "method": "cusum", "params": {"delta": 0.25}}],
    "input_vector": [{"detector": "nm_ddm", "params": {"window_size": 100}}],
    "categories": [{"detector": "chi_square", "calibration": "bound",
                    "params": {"window_size": 50}}],
    "prediction": [{"detector": "page_hinkley", "method": "cusum"}],
    "errors": [{"detector": "ddm"}, {"detector": "adwin", "params": {"delta": 0.001}}],
    "data_quality": [{"detector": "hddm_a"}],
}}
COLUMNS = {"features": ["a", "b", "c"], "categories": ["colour", "shape"],
           "prediction": ["confidence", "label"],
           "data_quality": ["a:missing", "b:missing", "a:out_of_range", "b:out_of_range"]}
ACTIVE = ["features", "input_vector", "categories", "prediction", "errors", "data_quality"]


def test_budget_replaces_every_calibrated_entry_on_every_stream() -> None:
    detectors = build_config(STREAMS_CONFIG, DetectorsConfig)
    alarms = AlarmsConfig(false_pages=2, per="1w", event_rate_per_s=500, labelled_fraction=0.5)
    budgeted, plan = budget_detectors(detectors, alarms, COLUMNS, ACTIVE)
    # alarm sources: one per series of every calibrated entry; adwin sets its alarm parameter
    sources = 3 + 3 + 1 + 2 + 2 + 1 + 4
    assert sum(row.entry.columns for row in plan.rows) == sources
    week = 7 * 86400
    for name in ACTIVE:
        for entry in budgeted.streams.entries(name):
            if entry.configured:
                assert (name, entry.detector) == ("errors", "adwin")
                assert entry.target_arl0 == 20_000.0          # untouched, outside the budget
                continue
            row = plan.row(name, entry.detector)
            rate = 500 * (0.5 if name == "errors" else 1.0)
            assert row.column_arl0 == pytest.approx(rate * week * sources / 2, rel=1e-12)
            assert entry.target_arl0 == pytest.approx(row.column_arl0 / row.entry.columns)
    assert plan.expected_false_pages == pytest.approx(2.0)
    # the original config is left as it was
    assert all(e.target_arl0 == 20_000.0 for n in ACTIVE for e in detectors.streams.entries(n))
    # each series is calibrated to its entry's target times its series: the closed form
    targets = series_targets(budgeted, COLUMNS, ACTIVE)
    assert len(targets) == sources + 1
    for detector, stream, feature, arl0 in targets:
        if (detector, stream) == ("adwin", "errors"):
            assert arl0 == 20_000.0
        else:
            rate = 500 * (0.5 if stream == "errors" else 1.0)
            assert arl0 == pytest.approx(rate * week * sources / 2, rel=1e-12), (detector, feature)
    assert {s for _, s, _, _ in targets} == {"inputs", "predictions", "errors", "data_quality"}


def test_inactive_streams_take_no_share() -> None:
    detectors = build_config(STREAMS_CONFIG, DetectorsConfig)
    _, plan = budget_detectors(detectors, AlarmsConfig(), {"features": ["a", "b"]},
                               ["features", "errors"])
    assert {(r.entry.stream, r.entry.detector, r.entry.columns) for r in plan.rows} == {
        ("features", "incremental_ks", 2), ("features", "page_hinkley", 2), ("errors", "ddm", 1)}
