"""The evaluation runner: detections scored as computed by hand, seeds summarised, calibration."""

from __future__ import annotations

import math
import re
import sys
from typing import Any

import numpy as np
import pytest

from driftline.configs import build_config
from driftline.dataloader.scenarios_univariate import DriftStream
from driftline.evaluation.adapters import build_factory, run_with_restarts
from driftline.evaluation.config import DetectorConfig, EvaluateConfig, StreamConfig
from driftline.evaluation.runner import (
    make_stream,
    reference_sample,
    run_detector,
    run_evaluation,
    summarize_records,
)
from driftline.evaluation.thresholds import calibrate_by_run_length


class AboveFive:
    """Fires on every value above 5: detections are known by construction."""

    def update_many(self, values: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.asarray(values) > 5.0)

    def statistic(self) -> float:
        return math.nan

    def threshold(self) -> float:
        return 5.0


def _stream(values: list[float], change_points: tuple[int, ...]) -> DriftStream:
    arr = np.asarray(values, dtype=np.float64)
    return DriftStream(values=arr, change_points=change_points, transition_ends=change_points,
                       kind="mean_shift", seed=0)


def test_run_detector_matches_hand_computed_detections() -> None:
    values = [0.0] * 20
    for i in (3, 12, 15):
        values[i] = 9.0
    report, us = run_detector(AboveFive, _stream(values, (10,)), tolerance=4)
    # window [10, 14): 12 detects the change (delay 2); 3 and 15 are false alarms
    assert report.detections == (3, 12, 15)
    assert report.delays == (2,)
    assert report.n_false_alarms == 2
    assert report.exposure == 16
    assert report.false_alarms_per_10k == pytest.approx(1e4 * 2 / 16)
    assert report.precision == pytest.approx(1 / 3)
    assert report.recall == 1.0
    assert us > 0


def test_restart_after_each_detection_resumes_at_next_value() -> None:
    values = np.r_[np.zeros(10), np.full(5, 9.0)]
    assert run_with_restarts(AboveFive, values, chunk_size=4) == [10, 11, 12, 13, 14]


def _tiny_config(**extra: Any) -> EvaluateConfig:
    data: dict[str, Any] = {
        "seeds": [0, 1],
        "target_arl0": 100,
        "tolerance": 400,
        "progress": False,
        "calibration": {"reference_length": 2000, "n_streams": 20, "run_length_factor": 10,
                        "iterations": 8},
        "tradeoff": {"enabled": False},
        "insurance": {"enabled": False, "feature_detectors": [], "error_detectors": []},
        "streams": [
            {"name": "shift", "kind": "mean_shift", "length": 1000, "change_points": [600],
             "params": {"shift": 3.0}},
            {"name": "quiet", "kind": "no_drift", "length": 5000},
        ],
        "detectors": [
            {"name": "PageHinkley", "library": "river", "params": {"delta": 0.25},
             "threshold_param": "threshold", "threshold_bounds": [0.5, 300.0]},
            {"name": "always_fire", "library": "baseline", "calibrate": False},
        ],
    }
    data.update(extra)
    return build_config(data, EvaluateConfig)


def test_baseline_has_recall_one_and_a_huge_false_alarm_rate() -> None:
    result = run_evaluation(_tiny_config())
    rows = {(r["detector"], r["mode"], r["stream"]): r for r in result.rows()}
    base = rows[("baseline.always_fire", "baseline", "shift")]
    assert base["recall"] == 1.0 and base["missed_rate"] == 0.0 and base["mean_delay"] == 0.0
    # every value outside the 400-value window is a false alarm
    assert base["false_alarms_per_10k"] == pytest.approx(1e4)
    assert rows[("baseline.always_fire", "baseline", "quiet")]["false_alarms_per_10k"] == 1e4
    ph = rows[("river.PageHinkley", "calibrated", "shift")]
    assert ph["recall"] == 1.0
    assert ph["false_alarms_per_10k"] < 1e3


def test_progress_in_a_log_is_one_line_per_stage(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "skmultiflow"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "skmultiflow", None)  # as if it were not installed
    config = _tiny_config()
    unavailable = {"name": "PageHinkley", "library": "skmultiflow", "threshold_param": "threshold",
                   "threshold_bounds": [0.5, 300.0]}
    config = _tiny_config(detectors=[*(d.model_dump() for d in config.detectors), unavailable])
    result = run_evaluation(config, progress=True)  # captured stderr: not a terminal
    captured = capsys.readouterr()
    assert "\r" not in captured.err
    # the absent library is said once, on stdout, whether or not progress is shown
    assert "skmultiflow is absent, 1 detector(s) skipped (skmultiflow.PageHinkley)" in captured.out
    calibrate, evaluate = captured.err.splitlines()
    n_calibrations = sum(len(per) for per in result.calibrations.values())
    # the skipped detector's calibration counts as done: the stage ends complete
    assert calibrate.startswith(f"calibrate: {n_calibrations + 1}/{n_calibrations + 1} ")
    done, total = re.match(r"evaluate: (\d+)/(\d+) runs in ", evaluate).groups()
    assert done == total and int(done) > len(result.records)  # with the skipped one's turns


def test_calibrated_false_alarm_rate_is_near_the_target() -> None:
    result = run_evaluation(_tiny_config())
    rows = {(r["detector"], r["mode"], r["stream"]): r for r in result.rows()}
    quiet = rows[("river.PageHinkley", "calibrated", "quiet")]
    # target ARL0 = 100 means 100 false alarms per 10k; the calibration measured >= 100 values
    # per alarm on 1000 bootstrap values, so expect the right order of magnitude
    assert 20 <= quiet["false_alarms_per_10k"] <= 200
    cal = result.calibrations["river.PageHinkley"]["normal(0.0, 1.0)"]
    assert cal.measured_arl0 >= 100
    assert quiet["threshold"] == cal.threshold


def test_summary_is_mean_and_std_over_seeds() -> None:
    result = run_evaluation(_tiny_config(defaults=False))
    records = [r for r in result.records
               if r.detector == "river.PageHinkley" and r.stream == "quiet"]
    assert len(records) == 2
    rates = [r.report.false_alarms_per_10k for r in records]
    row = next(r for r in summarize_records(records))
    assert row["false_alarms_per_10k"] == pytest.approx(np.mean(rates))
    assert row["false_alarms_per_10k_std"] == pytest.approx(np.std(rates, ddof=1))
    assert row["mtfa"] == pytest.approx(
        sum(r.report.exposure for r in records) / sum(r.report.n_false_alarms for r in records))


def test_bisection_brackets_the_target_run_length() -> None:
    spec = DetectorConfig(name="PageHinkley", library="river", params={"delta": 0.25},
                          threshold_param="threshold", threshold_bounds=[0.5, 300.0])
    reference = np.random.default_rng(3).normal(size=3000)
    factory = build_factory(spec)
    cal = calibrate_by_run_length(factory, reference, 150.0, spec, n_values=3000,
                                  iterations=12, seed=5)
    stream = np.random.default_rng(5).choice(reference, 3000)  # same draw as the bootstrap
    alarms = len(run_with_restarts(lambda: factory(cal.threshold), stream))
    assert alarms == 0 or 3000 / alarms >= 150.0
    # after 12 halvings of [0.5, 300] the rejected end is within 0.08 below the answer
    below = len(run_with_restarts(lambda: factory(cal.threshold - 0.08), stream))
    assert below > 0 and 3000 / below < 150.0


def test_reference_sample_comes_from_the_pre_change_distribution() -> None:
    spec = StreamConfig(name="s", kind="mean_shift", length=1000, change_points=[500],
                        params={"shift": 5.0})
    ref = reference_sample(spec, 4000, seed=1)
    assert len(ref) == 4000 and abs(ref.mean()) < 0.1
    assert make_stream(spec, 0).values[500:].mean() > 4.5
    err = StreamConfig(name="e", kind="error_rate", length=1000, change_points=[300, 600],
                       params={"rates": [0.1, 0.5, 0.9]})
    assert reference_sample(err, 20000, seed=1).mean() == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize("module", [
    "driftline.evaluation.adapters", "driftline.evaluation.baselines",
    "driftline.evaluation.config", "driftline.evaluation.figures",
    "driftline.evaluation.report", "driftline.evaluation.thresholds",
])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_detector_run_length_factor_overrides_the_config() -> None:
    from driftline.evaluation.config import CalibrationConfig
    from driftline.evaluation.thresholds import calibrate_detector

    spec = DetectorConfig(name="PageHinkley", library="river", threshold_param="threshold",
                          threshold_bounds=[0.5, 300.0], run_length_factor=7.0)
    reference = np.random.default_rng(0).normal(size=2000)
    config = CalibrationConfig(run_length_factor=3.0, iterations=4)
    assert calibrate_detector(spec, build_factory(spec), reference, 100.0, config).n_values == 700
    spec.run_length_factor = None
    assert calibrate_detector(spec, build_factory(spec), reference, 100.0, config).n_values == 300


class FiresOnKthValue:
    """Fires on the ``k``-th value it sees (``k`` = the threshold), whatever the values."""

    def __init__(self, k: float) -> None:
        self.k, self.seen = round(k), 0

    def update_many(self, values: np.ndarray) -> np.ndarray:
        start, self.seen = self.seen, self.seen + len(values)
        hit = self.k - 1 - start
        return np.array([hit] if 0 <= hit < len(values) else [], dtype=np.int64)

    def statistic(self) -> float:
        return float(self.seen)

    def threshold(self) -> float:
        return float(self.k)


def test_calibration_streams_start_fresh_every_stream_length_values() -> None:
    spec = DetectorConfig(name="kth", library="river", threshold_param="k",
                          threshold_bounds=[1.0, 100.0], threshold_integer=True)
    reference = np.zeros(50)
    # 10 streams of 100 values: k in 26..33 gives 3 alarms per stream (ARL0 33.3 >= 32),
    # k = 25 gives 4 (ARL0 25); one stream of 1000 values: k = 32 gives 31 alarms (32.3)
    split = calibrate_by_run_length(FiresOnKthValue, reference, 32.0, spec, n_values=1000,
                                    iterations=20, stream_length=100)
    assert split.threshold == 26 and split.measured_arl0 == pytest.approx(1000 / 30)
    whole = calibrate_by_run_length(FiresOnKthValue, reference, 32.0, spec, n_values=1000,
                                    iterations=20)
    assert whole.threshold == 32 and whole.measured_arl0 == pytest.approx(1000 / 31)


def test_detector_streams_restrict_where_it_runs() -> None:
    config = _tiny_config(detectors=[
        {"name": "PageHinkley", "library": "river", "threshold_param": "threshold",
         "threshold_bounds": [0.5, 300.0], "streams": ["shift"]},
    ], calibrated=False)
    result = run_evaluation(config)
    assert {r.stream for r in result.records} == {"shift"}
    with pytest.raises(ValueError, match=r"detectors\[0\]\.streams: unknown streams \['nope'\]"):
        _tiny_config(detectors=[{"name": "always_fire", "library": "baseline",
                                 "calibrate": False, "streams": ["nope"]}])
