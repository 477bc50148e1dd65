"""Detection metrics against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from driftline.evaluation.metrics import evaluate_detections, mean_time_ratio, summarize_reports


def test_two_changes_no_tolerance_hand_computed() -> None:
    # changes at 300 and 700 in a 1000-long stream; windows [300, 700) and [700, 1000)
    r = evaluate_detections([100, 350, 360, 720, 990], [300, 700], 1000)
    assert r.delays == (50, 20)
    assert r.n_detected == 2 and r.n_missed == 0 and r.missed_detection_rate == 0.0
    assert r.n_duplicates == 2  # 360 and 990
    assert r.n_false_alarms == 1  # 100, before the first change
    assert r.exposure == 300
    assert r.mean_delay == 35.0
    assert math.isclose(r.false_alarms_per_10k, 1e4 / 300)
    assert r.mtfa == 300.0
    assert math.isclose(r.mtr, 300.0 / 35.0)
    assert r.precision == 2 / 5 and r.recall == 1.0


def test_tolerance_window_turns_late_detections_into_false_alarms_and_misses() -> None:
    # tolerance 50: windows [300, 350) and [700, 750); 350 is too late for the first change
    r = evaluate_detections([100, 350, 360, 720, 990], [300, 700], 1000, tolerance=50)
    assert r.delays == (None, 20)
    assert r.n_missed == 1 and r.missed_detection_rate == 0.5
    assert r.n_false_alarms == 4 and r.n_duplicates == 0
    assert r.exposure == 900
    assert math.isclose(r.mtfa, 225.0)
    assert math.isclose(r.mtr, 225.0 / 20.0 * 0.5)
    assert r.precision == 1 / 5 and r.recall == 0.5


def test_detection_on_the_change_itself_has_zero_delay_and_window_is_cut_by_next_change() -> None:
    # tolerance 500 but the next change at 400 ends the first window there
    r = evaluate_detections([200, 450], [200, 400], 600, tolerance=500)
    assert r.delays == (0, 50)
    assert r.exposure == 200 and r.n_false_alarms == 0
    assert r.mtfa == math.inf and r.mtr == math.inf


def test_no_change_stream_counts_every_detection_as_false_alarm() -> None:
    r = evaluate_detections([10, 5000, 9999], [], 10_000)
    assert r.n_false_alarms == 3 and r.exposure == 10_000
    assert r.false_alarms_per_10k == 3.0
    assert math.isclose(r.mtfa, 10_000 / 3)
    assert math.isnan(r.missed_detection_rate) and math.isnan(r.mean_delay)
    assert math.isnan(r.mtr) and math.isnan(r.recall) and r.precision == 0.0


def test_missed_everything_and_no_detections() -> None:
    r = evaluate_detections([], [500], 1000)
    assert r.delays == (None,) and r.missed_detection_rate == 1.0
    assert r.mtr == 0.0 and math.isnan(r.precision) and r.recall == 0.0
    assert r.mtfa == math.inf and r.false_alarms_per_10k == 0.0


def test_unsorted_detections_and_numpy_integers_are_accepted() -> None:
    import numpy as np

    r = evaluate_detections(np.array([720, 100, 350]), np.array([300, 700]), 1000)
    assert r.detections == (100, 350, 720) and r.delays == (50, 20)
    d = r.as_dict()
    assert d["mean_delay"] == 35.0 and d["n_false_alarms"] == 1 and d["delays"] == (50, 20)


def test_mean_time_ratio_formula() -> None:
    assert mean_time_ratio(10_000.0, 100.0, 0.2) == pytest.approx(80.0)
    assert mean_time_ratio(math.inf, 10.0, 0.0) == math.inf
    assert mean_time_ratio(100.0, 0.0, 1.0) == 0.0
    assert math.isnan(mean_time_ratio(math.nan, 1.0, 0.0))


def test_summarize_pools_runs() -> None:
    a = evaluate_detections([100, 350], [300], 1000)  # delay 50, 1 FA over 300
    b = evaluate_detections([], [300], 1000)  # missed, no FA over 300
    c = evaluate_detections([10, 20], [], 400)  # 2 FA over 400
    s = summarize_reports([a, b, c])
    assert s["n_runs"] == 3.0 and s["n_changes"] == 2.0
    assert s["mean_delay"] == 50.0 and s["missed_rate"] == 0.5
    assert s["n_false_alarms"] == 3.0 and s["exposure"] == 1000.0
    assert s["false_alarms_per_10k"] == pytest.approx(30.0)
    assert s["mtfa"] == pytest.approx(1000 / 3)
    assert s["mtr"] == pytest.approx(1000 / 3 / 50 * 0.5)
    assert s["precision"] == pytest.approx(1 / 4) and s["recall"] == 0.5
    with pytest.raises(ValueError, match="at least one"):
        summarize_reports([])


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([5], [3], 0), {}, "length must be >= 1"),
        (([5], [3], 10), {"tolerance": 0}, "tolerance must be >= 1"),
        (([5], [6, 3], 10), {}, "strictly increasing"),
        (([5], [10], 10), {}, "change_points must be <= 9"),
        (([10], [3], 10), {}, "detections must be integer indices"),
        (([-1], [3], 10), {}, "detections must be integer indices"),
        (([2.5], [3], 10), {}, "detections must be integer indices"),
        (([4, 4], [3], 10), {}, "must not repeat"),
        (([[1, 2]], [3], 10), {}, "1-D"),
    ],
)
def test_validation_errors(args: tuple, kwargs: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=match):
        evaluate_detections(*args, **kwargs)
