"""The budget in time as target ARL0s: closed forms, config errors, the rate monitor."""

from __future__ import annotations

import time

import pytest

from driftline.configs import ConfigError, build_config
from driftline.detectors import detector_class
from driftline.detectors.calibration.errors import calibrate_error_detector
from driftline.executor.alarm_budget import AlarmEntry, RateMonitor, plan_alarms
from driftline.executor.alarms_config import AlarmsConfig, parse_duration
from driftline.executor.config import RunConfig

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


def test_measured_rate_replans_proportionally() -> None:
    alarms = AlarmsConfig(false_pages=1, per="30d", event_rate_per_s=1000, event_rate="measure")
    base, faster = plan_alarms(alarms, ENTRIES), plan_alarms(alarms, ENTRIES, events_per_s=4000)
    for a, b in zip(base.rows, faster.rows, strict=True):
        assert b.column_arl0 == pytest.approx(4 * a.column_arl0)
    assert "4000 events/s (measure rate)" in faster.describe()[0]


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
    ({"event_rate": "guess"}, "alarms.event_rate"),
    ({"recalibrate_factor": 1.0}, "alarms.recalibrate_factor"),
    ({"labelled_fraction": 1.5}, "alarms.labelled_fraction"),
    ({"false_pages": 1e6, "per": "1s", "event_rate_per_s": 1}, "alarms.false_pages"),
    ({"pages": 1}, "alarms.pages"),
])
def test_config_errors_name_the_key(alarms: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_config({"alarms": alarms}, RunConfig)


def test_rate_monitor_waits_for_a_window_and_a_factor() -> None:
    monitor = RateMonitor(planned_rate=1000.0, window_s=60.0, factor=2.0)
    now = 0.0
    assert monitor.observe(0, now) is None
    for _ in range(30):                      # 1,500/s for 60 s: within the factor
        now += 2.0
        assert monitor.observe(3000, now) is None
    replans = []
    for _ in range(60):                      # then 5,000/s: re-planned as the window fills
        now += 2.0
        rate = monitor.observe(10_000, now)
        if rate is not None:
            replans.append(rate)
    assert replans and all(r > 2000.0 for r in replans)
    assert monitor.planned_rate == pytest.approx(5000.0, rel=0.5)
    for _ in range(60):                      # steady at the new rate: no further re-plan
        now += 2.0
        assert monitor.observe(10_000, now) is None
    for _ in range(60):                      # idle: re-planned down, but never to 0
        now += 2.0
        rate = monitor.observe(0, now)
        assert rate is None or rate > 0
    assert monitor.planned_rate > 0


def test_error_detector_beyond_simulation_falls_back_at_once() -> None:
    started = time.perf_counter()
    result = calibrate_error_detector("hddm_a", 0.3, 5e10, seed=3)
    assert time.perf_counter() - started < 5.0
    alarm = detector_class("hddm_a").alarm
    assert result["status"] == "fallback"
    assert result["params"][alarm.name] == pytest.approx(alarm.conservative)
    assert "out of reach" in result["message"]
