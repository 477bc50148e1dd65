"""DriftExporter: names, labels and values read back through prometheus_client's parser."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftline.detectors.ddm import DDM
from driftline.detectors.incremental_ks import IncrementalKS
from driftline.detectors.page_hinkley_bank import PageHinkleyBank
from driftline.executor.exporter import DriftExporter
from driftline.executor.metrics_http import serve
from driftline.model.profile import Histogram, ReferenceProfile
from tests.ops.conftest import synthetic_profile


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def samples(exporter: DriftExporter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = exporter.generate().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(exporter: DriftExporter, name: str, **labels: str) -> float:
    return samples(exporter)[(name, tuple(sorted(labels.items())))]


def small_profile() -> ReferenceProfile:
    # JSON round trip: the exporter must work from a profile as loaded beside the model.
    return ReferenceProfile.from_json(synthetic_profile().to_json())


def test_series_exist_at_zero_after_start_up() -> None:
    exporter = DriftExporter(feature_names=["age"], failure_reasons=["decode", "schema"])
    exporter.register_detector("ks", "inputs", ["age"])
    exporter.register_detector("ddm", "errors")
    s = samples(exporter)
    det = (("detector", "ks"), ("feature", "age"), ("stream", "inputs"))
    for name in ("driftline_drift_detected", "driftline_drift_detections_total",
                 "driftline_detector_ready", "driftline_detector_statistic",
                 "driftline_detector_last_update_timestamp_seconds"):  # 0: never updated
        assert s[(name, det)] == 0.0
    assert s[("driftline_drift_detected",
              (("detector", "ddm"), ("feature", ""), ("stream", "errors")))] == 0.0
    assert s[("driftline_events_failed_total", (("reason", "schema"),))] == 0.0
    assert s[("driftline_predictions_total", (("predictor", "fallback"),))] == 0.0
    assert s[("driftline_events_processed_total", ())] == 0.0
    assert s[("driftline_batch_duration_seconds_count", ())] == 0.0
    # Prometheus naming: _total only on counters, no feature or detector in any name.
    names = {name for name, _ in s}
    assert all(n.startswith("driftline_") for n in names)
    assert not any("age" in n or "_ks_" in n for n in names)
    families = text_string_to_metric_families(exporter.generate().decode())
    for family in families:
        if family.type != "counter":
            assert not family.name.endswith("_total"), family.name


def test_detector_statistics_drift_and_detection_counting() -> None:
    clock = FakeClock(1234.5)
    exporter = DriftExporter(feature_names=["age"], clock=clock)
    exporter.register_detector("ks", "inputs", ["age"])
    rng = np.random.default_rng(0)
    ks = IncrementalKS(reference=rng.normal(size=300), window_size=100, alpha=0.001)
    fired = ks.update_many(rng.normal(size=150))
    exporter.observe_detector("ks", "inputs", "age", ks.statistics,
                              drift_detected=ks.drift_detected, detections=len(fired))
    stats = ks.statistics
    lab = {"detector": "ks", "stream": "inputs", "feature": "age"}
    assert value(exporter, "driftline_detector_statistic", **lab) == stats["statistic"]
    assert value(exporter, "driftline_detector_threshold", **lab) == stats["threshold"]
    assert value(exporter, "driftline_detector_statistic_threshold_ratio", **lab) == (
        pytest.approx(stats["statistic"] / stats["threshold"]))
    assert value(exporter, "driftline_detector_p_value", **lab) == stats["p_value"]
    assert value(exporter, "driftline_detector_ready", **lab) == 1.0
    assert value(exporter, "driftline_detector_last_update_timestamp_seconds", **lab) == 1234.5
    assert value(exporter, "driftline_drift_detected", **lab) == 0.0

    fired = ks.update_many(rng.normal(loc=2.0, size=300))
    assert len(fired) >= 1
    exporter.observe_detector("ks", "inputs", "age", ks.statistics,
                              drift_detected=ks.drift_detected, detections=len(fired))
    assert value(exporter, "driftline_drift_detections_total", **lab) == len(fired)


def test_detections_from_flag_edges_and_n_detections() -> None:
    exporter = DriftExporter(feature_names=[], drift_hold_seconds=0.0)
    lab = {"detector": "ph", "stream": "predictions", "feature": "confidence"}
    for flag in (0.0, 1.0, 1.0, 0.0, 1.0):
        exporter.observe_detector("ph", "predictions", "confidence", {"drift": flag})
    assert value(exporter, "driftline_drift_detections_total", **lab) == 2.0
    assert value(exporter, "driftline_drift_detected", **lab) == 1.0
    # A cumulative n_detections is followed by its increments, and restarts after a reset.
    lab2 = {"detector": "eddm", "stream": "errors", "feature": ""}
    for n in (0.0, 2.0, 5.0, 1.0):
        exporter.observe_detector("eddm", "errors", "", {"n_detections": n})
    assert value(exporter, "driftline_drift_detections_total", **lab2) == 6.0


def test_drift_flag_is_held_after_a_detection() -> None:
    clock = FakeClock()
    exporter = DriftExporter(feature_names=[], drift_hold_seconds=60.0, clock=clock)
    lab = {"detector": "ks", "stream": "inputs", "feature": "age"}
    exporter.observe_detector("ks", "inputs", "age", {}, drift_detected=False, detections=1)
    assert value(exporter, "driftline_drift_detected", **lab) == 1.0
    clock.now += 59.5
    exporter.observe_detector("ks", "inputs", "age", {}, drift_detected=False, detections=0)
    assert value(exporter, "driftline_drift_detected", **lab) == 1.0
    clock.now += 1.0
    exporter.observe_detector("ks", "inputs", "age", {}, drift_detected=False, detections=0)
    assert value(exporter, "driftline_drift_detected", **lab) == 0.0
    raw = DriftExporter(feature_names=[], drift_hold_seconds=0.0, clock=clock)
    raw.observe_detector("ks", "inputs", "age", {}, drift_detected=False, detections=1)
    assert value(raw, "driftline_drift_detected", **lab) == 0.0
    raw.observe_detector("ks", "inputs", "age", {}, drift_detected=True, detections=0)
    clock.now += 1e6
    assert value(raw, "driftline_drift_detected", **lab) == 1.0  # raw: the latest reading
    with pytest.raises(ValueError, match="drift_hold_seconds"):
        DriftExporter(feature_names=[], drift_hold_seconds=-1.0)


def test_drift_hold_expires_at_scrape_time_on_an_idle_stream() -> None:
    """No data after a detection: the flag clears when a scrape finds the hold over."""
    clock = FakeClock()
    exporter = DriftExporter(feature_names=[], drift_hold_seconds=1.0, clock=clock)
    exporter.register_detector("nm_ddm", "inputs", [""])
    lab = {"detector": "nm_ddm", "stream": "inputs", "feature": ""}
    assert value(exporter, "driftline_drift_detected", **lab) == 0.0
    # A detector whose flag stays up (no reset) counts as drifted at its last reading.
    exporter.observe_detector("nm_ddm", "inputs", "", {}, drift_detected=True, detections=1)
    clock.now += 0.5
    assert value(exporter, "driftline_drift_detected", **lab) == 1.0
    clock.now += 1.0
    assert value(exporter, "driftline_drift_detected", **lab) == 0.0
    assert value(exporter, "driftline_drift_detections_total", **lab) == 1.0


def test_drift_hold_expires_with_the_real_clock_over_http() -> None:
    exporter = DriftExporter(feature_names=[], drift_hold_seconds=0.3)
    exporter.observe_detector("ph", "inputs", "age", {}, drift_detected=False, detections=1)
    server = serve(exporter, port=0)
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    line = 'driftline_drift_detected{detector="ph",feature="age",stream="inputs"}'
    try:
        first = urllib.request.urlopen(url, timeout=5).read().decode()
        time.sleep(0.45)
        later = urllib.request.urlopen(url, timeout=5).read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert f"{line} 1.0" in first
    assert f"{line} 0.0" in later


def test_warm_up_and_non_finite_values() -> None:
    exporter = DriftExporter(feature_names=[])
    ddm = DDM()
    ddm.update_many(np.zeros(5))
    stats = ddm.statistics
    assert not np.isfinite(stats["threshold"])
    exporter.observe_detector("ddm", "errors", "", stats, drift_detected=ddm.drift_detected,
                              warning_detected=ddm.warning_detected)
    lab = {"detector": "ddm", "stream": "errors", "feature": ""}
    s = samples(exporter)
    assert value(exporter, "driftline_detector_ready", **lab) == 0.0
    assert value(exporter, "driftline_detector_error_rate", **lab) == stats["error_rate"]
    key = ("driftline_detector_threshold", tuple(sorted(lab.items())))
    assert key not in s  # never set to NaN
    exporter.observe_detector("ks", "inputs", "x", {"statistic": 0.1, "window_fill": 0.5})
    assert value(exporter, "driftline_detector_ready", detector="ks", stream="inputs",
                 feature="x") == 0.0
    with pytest.raises(ValueError, match="stream"):
        exporter.observe_detector("ks", "features", "x", {})


def test_bank_export_matches_bank_statistics() -> None:
    rng = np.random.default_rng(1)
    names = ["a", "b"]
    bank = PageHinkleyBank(names)
    rows = np.c_[rng.normal(size=400), np.r_[rng.normal(size=200), rng.normal(5.0, 1, 200)]]
    found = bank.update_many(rows)
    exporter = DriftExporter(feature_names=names)
    exporter.observe_bank("page_hinkley", "inputs", bank, found)
    per_feature = bank.feature_statistics()
    for j, name in enumerate(names):
        lab = {"detector": "page_hinkley", "stream": "inputs", "feature": name}
        assert value(exporter, "driftline_detector_statistic", **lab) == (
            per_feature[name]["statistic"])
        n_found = float(np.sum(np.asarray(found).reshape(-1, 2)[:, 1] == j))
        assert value(exporter, "driftline_drift_detections_total", **lab) == n_found
        # Held at 1 after a detection in the batch, even if the bank has reset since.
        assert value(exporter, "driftline_drift_detected", **lab) == float(
            bool(bank.drift_detected[j]) or n_found > 0)
    assert value(exporter, "driftline_drift_detections_total", detector="page_hinkley",
                 stream="inputs", feature="b") >= 1


def test_events_predictions_latency_lag() -> None:
    clock = FakeClock()
    exporter = DriftExporter(feature_names=[], clock=clock)
    exporter.observe_events(processed=10, failed_by_reason={"decode": 2, "model": 1},
                            dead_lettered=3)
    exporter.observe_events(processed=5)
    exporter.observe_predictions(n_model=12, n_fallback=3)
    exporter.observe_batch_latency(0.02)
    exporter.observe_batch_latency(3.0)
    exporter.set_consumer_lag("events", 2, 42)
    assert value(exporter, "driftline_events_processed_total") == 15.0
    assert value(exporter, "driftline_events_failed_total", reason="decode") == 2.0
    assert value(exporter, "driftline_events_failed_total", reason="model") == 1.0
    assert value(exporter, "driftline_events_dead_lettered_total") == 3.0
    assert value(exporter, "driftline_predictions_total", predictor="model") == 12.0
    assert value(exporter, "driftline_predictions_total", predictor="fallback") == 3.0
    assert value(exporter, "driftline_batch_duration_seconds_bucket", le="0.025") == 1.0
    assert value(exporter, "driftline_batch_duration_seconds_bucket", le="+Inf") == 2.0
    assert value(exporter, "driftline_batch_duration_seconds_sum") == pytest.approx(3.02)
    assert value(exporter, "driftline_consumer_lag_messages", topic="events", partition="2") == 42
    assert value(exporter, "driftline_last_successful_batch_timestamp_seconds") == clock.now
    assert not exporter.healthy(10.0)  # detected, but the runner did not finish the batch
    exporter.mark_progress()
    assert exporter.healthy(10.0)
    clock.now += 11.0
    assert not exporter.healthy(10.0)
    with pytest.raises(ValueError, match="seconds"):
        exporter.observe_batch_latency(-1.0)


def test_live_and_reference_histograms_follow_profile_edges() -> None:
    profile = small_profile()
    exporter = DriftExporter(profile)
    rng = np.random.default_rng(2)
    X = profile.reference_matrix()[:300] + rng.normal(scale=0.5, size=(300, len(
        profile.feature_names)))
    exporter.observe_features(X)
    confidence = rng.uniform(0.4, 1.0, size=50)
    exporter.observe_predictions(40, 10, {"confidence": confidence})
    s = samples(exporter)
    for j, name in enumerate(profile.feature_names):
        hist: Histogram = profile.feature_histograms[name]
        live = hist.count(X[:, j])
        cumulative = np.cumsum(live)
        ref = np.cumsum(hist.counts) / np.sum(hist.counts)
        bounds = [repr(float(e)) for e in hist.edges] + ["+Inf"]
        n_buckets = sum(1 for (n, lab) in s if n == "driftline_live_value_bucket"
                        and ("feature", name) in lab)
        assert n_buckets == len(bounds)
        for le, c, r in zip(bounds, cumulative, ref, strict=True):
            key = (("feature", name), ("le", le), ("stream", "inputs"))
            assert s[("driftline_live_value_bucket", key)] == c
            ref_key = (("bin", le), ("feature", name), ("stream", "inputs"))
            assert s[("driftline_reference_cumulative_ratio", ref_key)] == pytest.approx(r)
        assert s[("driftline_live_value_count",
                  (("feature", name), ("stream", "inputs")))] == 300
        assert s[("driftline_live_value_sum",
                  (("feature", name), ("stream", "inputs")))] == pytest.approx(X[:, j].sum())
    conf = profile.prediction_histograms["confidence"]
    assert s[("driftline_live_bin_observations_total",
              (("bin", "+Inf"), ("feature", "confidence"), ("stream", "predictions")))] == (
        conf.count(confidence)[-1])
    (labels,) = [lab for (n, lab) in s if n == "driftline_reference_info"]
    assert dict(labels)["model_sha256"] == profile.model_sha256
    assert len(dict(labels)["profile_sha256"]) == 64
    with pytest.raises(ValueError, match="X must have shape"):
        exporter.observe_features(np.zeros((3, 2)))


def test_http_metrics_and_healthz() -> None:
    clock = FakeClock()
    exporter = DriftExporter(feature_names=[], clock=clock)
    server = serve(exporter, port=0, max_age_seconds=30.0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
        assert err.value.code == 503
        exporter.observe_batch_latency(0.1)
        exporter.mark_progress()
        assert urllib.request.urlopen(f"{base}/healthz", timeout=5).status == 200
        body = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        assert "driftline_batch_duration_seconds_count 1.0" in body
    finally:
        server.shutdown()
        server.server_close()


def test_idle_consuming_loop_stays_healthy_while_caught_up() -> None:
    clock = FakeClock()
    exporter = DriftExporter(feature_names=[], clock=clock)
    assert not exporter.healthy(30.0)
    exporter.mark_progress()
    clock.now += 60.0
    assert not exporter.healthy(30.0)  # no batch, not seen caught up: stale
    exporter.mark_caught_up()  # connected, assigned, nothing left to read
    assert exporter.healthy(30.0)
    clock.now += 31.0
    assert not exporter.healthy(30.0)
    assert not exporter.is_ready()
    exporter.set_ready(True)
    assert exporter.is_ready()


def test_target_arl0_gauge() -> None:
    exporter = DriftExporter(feature_names=["a"])
    exporter.set_target_arl0("page_hinkley", "inputs", "a", 2.5e10)
    exporter.set_target_arl0("ddm", "errors", "", 1.2e9)
    assert value(exporter, "driftline_detector_target_arl0", detector="page_hinkley",
                 stream="inputs", feature="a") == 2.5e10
    assert value(exporter, "driftline_detector_target_arl0", detector="ddm", stream="errors",
                 feature="") == 1.2e9
    with pytest.raises(ValueError, match="stream"):
        exporter.set_target_arl0("ddm", "nowhere", "", 1.0)
