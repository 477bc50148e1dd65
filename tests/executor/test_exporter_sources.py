"""One exporter, several pipelines (one per Kafka partition) reporting the same detector series.

The reference values come from the detectors themselves: per-partition Page-Hinkley banks whose
flags, detections, statistics and counts are combined by hand and compared with /metrics.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from driftline.detectors.page_hinkley_bank import PageHinkleyBank
from driftline.executor.exporter import DriftExporter
from driftline.executor.exporter_sources import DetectorReading, combine_readings
from driftline.executor.outcome import Readings, bank_updates
from tests.executor.test_exporter import FakeClock, samples, value

NAMES = ["a", "b"]


def partition_batches(seed: int, drifting: bool) -> list[np.ndarray]:
    """Ten batches of 60 rows; with ``drifting``, column b moves by 4 sd from batch 5 on."""
    rng = np.random.default_rng(seed)
    batches = []
    for k in range(10):
        rows = rng.normal(size=(60, 2))
        if drifting and k >= 5:
            rows[:, 1] += 4.0
        batches.append(rows)
    return batches


def test_partitions_are_combined_not_overwritten() -> None:
    exporter = DriftExporter(feature_names=NAMES, drift_hold_seconds=0.0)
    banks = {p: PageHinkleyBank(NAMES, threshold=15.0) for p in (0, 1)}
    exporter.register_detector("page_hinkley", "inputs", NAMES)
    feeds = {0: partition_batches(0, drifting=True), 1: partition_batches(1, drifting=False)}
    found_total = dict.fromkeys(NAMES, 0)
    for k in range(10):
        for p in (0, 1):  # partition 1 reports last: it must not hide partition 0's state
            found = banks[p].update_many(feeds[p][k])
            pairs = np.asarray(found, dtype=np.int64).reshape(-1, 2)
            for j, name in enumerate(NAMES):
                found_total[name] += int(np.sum(pairs[:, 1] == j))
            exporter.apply_readings(Readings(
                detectors=bank_updates("page_hinkley", "inputs", banks[p], found),
                n_processed=len(feeds[p][k])), source=p)
        for j, name in enumerate(NAMES):
            lab = {"detector": "page_hinkley", "stream": "inputs", "feature": name}
            stats = {p: banks[p].feature_statistics()[name] for p in banks}
            assert value(exporter, "driftline_drift_detections_total", **lab) == (
                found_total[name])
            assert value(exporter, "driftline_drift_detected", **lab) == float(
                any(banks[p].drift_detected[j] for p in banks))
            assert value(exporter, "driftline_detector_observations", **lab) == sum(
                s["n_seen"] for s in stats.values())
            lead = max(stats.values(), key=lambda s: s["statistic"] / s["threshold"])
            assert value(exporter, "driftline_detector_statistic", **lab) == lead["statistic"]
            assert value(exporter, "driftline_detector_statistic_threshold_ratio", **lab) == (
                lead["statistic"] / lead["threshold"])
    assert found_total["b"] >= 1  # partition 0's drift was detected and counted
    assert value(exporter, "driftline_events_processed_total") == 1200.0


def test_cumulative_detection_counts_are_followed_per_source() -> None:
    # Two error detectors reporting cumulative n_detections (no explicit detections=): the
    # counter must add each source's increments, not the difference between the sources.
    exporter = DriftExporter(feature_names=[])
    lab = {"detector": "eddm", "stream": "errors", "feature": ""}
    reports = [("0", 1.0), ("1", 3.0), ("0", 2.0), ("1", 3.0), ("0", 4.0), ("1", 5.0)]
    for source, total in reports:
        exporter.observe_detector("eddm", "errors", "", {"n_detections": total}, source=source)
    assert value(exporter, "driftline_drift_detections_total", **lab) == 4.0 + 5.0


def test_drift_flag_is_any_source_and_forgetting_a_source() -> None:
    clock = FakeClock()
    exporter = DriftExporter(feature_names=[], drift_hold_seconds=30.0, clock=clock)
    lab = {"detector": "ks", "stream": "inputs", "feature": "age"}
    exporter.observe_detector("ks", "inputs", "age", {"statistic": 0.5, "threshold": 0.25},
                              drift_detected=True, detections=0, source="0")
    exporter.observe_detector("ks", "inputs", "age", {"statistic": 0.1, "threshold": 0.25},
                              drift_detected=False, detections=0, source="1")
    assert value(exporter, "driftline_drift_detected", **lab) == 1.0
    assert value(exporter, "driftline_detector_statistic", **lab) == 0.5
    # Partition 0 is revoked: only partition 1's reading remains, once the hold is over.
    clock.now += 31.0
    exporter.forget_source(0)
    assert value(exporter, "driftline_drift_detected", **lab) == 0.0
    assert value(exporter, "driftline_detector_statistic", **lab) == 0.1
    assert value(exporter, "driftline_detector_ready", **lab) == 1.0
    exporter.forget_source(1)
    assert value(exporter, "driftline_detector_ready", **lab) == 0.0
    exporter.forget_source(7)  # unknown source: nothing to do
    assert ("driftline_drift_detected", tuple(sorted(lab.items()))) in samples(exporter)


def test_combine_readings() -> None:
    assert combine_readings([]) == DetectorReading()
    near = DetectorReading(statistic=9.0, threshold=10.0, p_value=0.2, n_seen=5,
                           error_rate=0.1, ready=True)
    far = DetectorReading(statistic=20.0, threshold=100.0, p_value=0.01, n_seen=7,
                          error_rate=0.3, warning=True, ready=True)
    out = combine_readings([far, near])
    assert (out.statistic, out.threshold, out.ratio) == (9.0, 10.0, pytest.approx(0.9))
    assert (out.p_value, out.n_seen, out.error_rate) == (0.01, 12.0, 0.3)
    assert out.warning and out.ready and not out.drift
    # Without thresholds the largest statistic leads; a non-finite update keeps the old value.
    plain = combine_readings([DetectorReading(statistic=1.0), DetectorReading(statistic=3.0)])
    assert plain.statistic == 3.0 and plain.ratio is None
    assert near.updated(statistic=None, drift=True) == DetectorReading(
        statistic=9.0, threshold=10.0, p_value=0.2, n_seen=5, error_rate=0.1, drift=True,
        ready=True)


def test_pipelines_of_two_partitions_through_views(artifacts_dir: Path) -> None:
    """Real pipelines, one per partition, their readings applied to one exporter as their
    partition's: the counters are the sums of their detections and the flags/observations the
    combination of their detectors' states."""
    from driftline.dataloader.insurance import load_months
    from driftline.executor.decode import DecodedEvent
    from driftline.executor.pipeline import DetectionPipeline
    from driftline.model.artifacts import load_artifacts
    from tests.executor.pipeline_helpers import FAST_STREAMS, fast_config, fast_detectors

    model = load_artifacts(artifacts_dir)
    config = fast_config(artifacts_dir, detectors=fast_detectors(
        features=FAST_STREAMS["features"][1:], input_vector=[], prediction=[]))
    exporter = DriftExporter(model.profile, drift_hold_seconds=0.0)
    pipelines = {p: DetectionPipeline(model, config) for p in (0, 1)}
    data = load_months([1, 12, 24, 36])
    detections: Counter[tuple[str, str, str]] = Counter()
    for start in range(0, len(data), 300):
        for p, pipeline in pipelines.items():
            rows = range(start + p, min(start + 300, len(data)), 2)  # partition p: every 2nd
            events = [DecodedEvent(data.event_ids[i], data.features[i], int(data.group[i]),
                                   float(data.timestamps[i]), "t", p, i) for i in rows]
            result = pipeline.process(events)
            exporter.apply_readings(result.readings, source=p)
            detections.update((d.detector, d.stream, d.feature) for d in result.detections)
    assert sum(detections.values()) > 0  # the drifting months are detected
    s = samples(exporter)
    for name in model.profile.feature_names:
        key = ("page_hinkley", "inputs", name)
        lab = tuple(sorted({"detector": key[0], "stream": key[1], "feature": key[2]}.items()))
        banks = [pl.streams["features"].detectors["page_hinkley"] for pl in pipelines.values()]
        j = list(model.profile.feature_names).index(name)
        assert s[("driftline_drift_detections_total", lab)] == detections[key]
        assert s[("driftline_drift_detected", lab)] == float(
            any(bool(b.drift_detected[j]) for b in banks))
        assert s[("driftline_detector_observations", lab)] == sum(
            b.feature_statistics()[name]["n_seen"] for b in banks)
    for detector in [entry.detector for entry in config.detectors.streams.errors]:
        lab = tuple(sorted({"detector": detector, "stream": "errors", "feature": ""}.items()))
        assert s[("driftline_drift_detections_total", lab)] == detections[
            (detector, "errors", "")]
    assert s[("driftline_events_processed_total", ())] == len(data)
