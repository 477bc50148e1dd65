"""Tests of detectors.page_hinkley against closed forms and river (the protocol: test_protocol)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from river.drift import PageHinkley as RiverPageHinkley

from driftline.detectors import make_detector
from driftline.detectors.page_hinkley import PageHinkley


def _stats_after_each(det: PageHinkley, xs: list[float]) -> list[dict[str, float]]:
    out = []
    for x in xs:
        det.update(x)
        out.append(det.statistics)
    return out


def test_hand_computed_stream() -> None:
    # sigma=2, mean pinned at 0 -> d = [1, 1, -2, 0, 3, 3, 3]; delta=0.5:
    # m_up   = [0.5, 1, -1.5, -2, 0.5, 3, 5.5]; PH_up = m_up - min(0, m_up..)
    #        = [0.5, 1, 0, 0, 2.5, 5, 7.5]
    # m_down = [1.5, 3, 1.5, 2, 5.5, 9, 12.5];  PH_down = max(0, m_down..) - m_down
    #        = [0, 0, 1.5, 1, 0, 0, 0]
    xs = [2.0, 2.0, -4.0, 0.0, 6.0, 6.0, 6.0]
    det = PageHinkley(delta=0.5, threshold=4.0, reference_mean=0.0, reference_std=2.0,
                      reset_on_drift=False, min_instances=1)
    stats = _stats_after_each(det, xs)
    assert [s["statistic_up"] for s in stats] == [0.5, 1.0, 0.0, 0.0, 2.5, 5.0, 7.5]
    assert [s["statistic_down"] for s in stats] == [0.0, 0.0, 1.5, 1.0, 0.0, 0.0, 0.0]
    assert [s["drift"] for s in stats] == [0, 0, 0, 0, 0, 1, 1]
    down = PageHinkley(delta=0.5, threshold=1.2, direction="down", reference_mean=0.0,
                       reference_std=2.0, min_instances=1)
    assert down.update_many(xs).tolist() == [2]
    # after the detection at 2 the sums restart: d = [0, 3, 3, 3] never drives PH_down above 1.2
    assert down.statistics["statistic_down"] == 0.0


def test_running_mean_and_warmup_closed_form() -> None:
    xs = [1.0, 3.0, 2.0, 6.0]
    det = PageHinkley(delta=0.0, threshold=100.0, warmup=3, min_instances=1)
    stats = _stats_after_each(det, xs)
    assert [s["ready"] for s in stats] == [0.0, 0.0, 1.0, 1.0]  # armed once sigma is known
    assert stats[2]["std"] == pytest.approx(1.0)  # std([1, 3, 2], ddof=1)
    # first post-warm-up value: running mean 3, d = (6 - 3) / 1 = 3
    assert stats[3]["statistic_up"] == pytest.approx(3.0)
    assert stats[3]["mean"] == pytest.approx(3.0)


def test_forgetting_matches_discounted_cusum() -> None:
    rng = np.random.default_rng(3)
    xs = rng.normal(0.3, 1.0, 3000)
    alpha, delta = 0.97, 0.2
    det = PageHinkley(delta=delta, threshold=1e9, forgetting=alpha, reference_mean=0.0,
                      reference_std=1.0, min_instances=1)
    s_up = s_down = 0.0
    for x in xs:
        det.update(x)
        s_up = max(0.0, alpha * s_up + x - delta)
        s_down = max(0.0, alpha * s_down - x - delta)
        stats = det.statistics
        assert stats["statistic_up"] == pytest.approx(s_up, rel=1e-9, abs=1e-9)
        assert stats["statistic_down"] == pytest.approx(s_down, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("direction", ["both", "up", "down"])
def test_matches_river(direction: str) -> None:
    """river computes the same test in raw units with a running mean and no warm-up.

    Configured with ``reference_std=sigma`` (our running mean, sigma pinned, so no warm-up),
    river gets ``delta * sigma`` and ``threshold * sigma`` and ``alpha=1``. river starts its
    extrema at ``+inf`` / ``-1`` rather than at ``m_0 = 0``, but its first sums are
    ``-delta * sigma <= 0`` and ``+delta * sigma >= 0`` (the first deviation from the running
    mean is 0), so the extrema coincide from the first value. river restarts on the value after
    a detection, as we do. Only float rounding differs (river's incremental mean vs our
    sum / count, raw vs standardised sums), so the statistics agree to ~1e-9 and the detection
    indices exactly.
    """
    rng = np.random.default_rng(11)
    sigma, delta, threshold, min_instances = 2.5, 0.2, 8.0, 20
    xs = (rng.normal(0.0, sigma, 8000) + np.repeat(rng.normal(0, 2 * sigma, 16), 500)).tolist()
    ours = PageHinkley(delta=delta, threshold=threshold, direction=direction,
                       reference_std=sigma, min_instances=min_instances)
    river = RiverPageHinkley(min_instances=min_instances, delta=delta * sigma,
                             threshold=threshold * sigma, alpha=1.0, mode=direction)
    ours_hits, river_hits = [], []
    for i, x in enumerate(xs):
        if ours.update(x):
            ours_hits.append(i)
        river.update(x)
        if river.drift_detected:
            river_hits.append(i)
        stats = ours.statistics
        up = (river._sum_increase - river._min_increase) / sigma
        down = (river._max_decrease - river._sum_decrease) / sigma
        assert stats["statistic_up"] == pytest.approx(up, rel=1e-9, abs=1e-9)
        assert stats["statistic_down"] == pytest.approx(down, rel=1e-9, abs=1e-9)
    assert len(ours_hits) > 10
    assert ours_hits == river_hits


@pytest.mark.parametrize("shift", [1.0, -1.0])
def test_detects_mean_shift(shift: float) -> None:
    rng = np.random.default_rng(5)
    xs = np.concatenate([rng.normal(10.0, 3.0, 2000), rng.normal(10.0 + 3.0 * shift, 3.0, 500)])
    det = PageHinkley(delta=0.25, threshold=30.0)
    hits = det.update_many(xs)
    assert len(hits) == 1
    assert 2000 <= hits[0] < 2150
    side = "statistic_up" if shift > 0 else "statistic_down"
    one_sided = PageHinkley(delta=0.25, threshold=30.0,
                            direction="up" if shift > 0 else "down")
    assert one_sided.update_many(xs).tolist() == hits.tolist()
    wrong_side = PageHinkley(delta=0.25, threshold=30.0,
                             direction="down" if shift > 0 else "up")
    assert len(wrong_side.update_many(xs)) == 0
    assert det.statistics[side] >= 0.0


def test_no_detection_on_stationary_data_at_calibrated_threshold() -> None:
    from driftline.detectors.calibration import calibrate_page_hinkley

    rng = np.random.default_rng(21)
    result = calibrate_page_hinkley(rng.normal(size=5000), 50_000, delta=0.25, n_streams=100,
                                    verify_length=0, random_state=22)
    # P(alarm within 2000 values) is about 2000 / 50000 = 4 % at the calibrated threshold
    det = PageHinkley(delta=0.25, threshold=result.threshold)
    assert len(det.update_many(rng.normal(5.0, 0.1, 2000))) == 0
    drifting = PageHinkley(delta=0.25, threshold=result.threshold)
    assert len(drifting.update_many(np.r_[rng.normal(5, 0.1, 1000), rng.normal(5.1, 0.1, 200)]))


def test_reset_keeps_the_pinned_reference_and_the_registry_builds_it() -> None:
    det = make_detector("page_hinkley", delta=0.2, threshold=3.0, reference_mean=1.0,
                        reference_std=2.0)
    assert isinstance(det, PageHinkley)
    det.update_many(np.random.default_rng(1).normal(size=500) * 3.0)
    det.reset()
    assert det.statistics["statistic"] == 0.0
    assert det.statistics["mean"] == 1.0 and det.statistics["std"] == 2.0


def test_reference_params_pin_mean_and_sample_standard_deviation() -> None:
    rng = np.random.default_rng(2)
    reference = rng.normal(3.0, 2.0, size=(400, 3))
    reference[:, 2] = 5.0
    pinned = PageHinkley.reference_params(reference)
    np.testing.assert_array_equal(pinned["reference_mean"], reference.mean(axis=0))
    std = reference.std(axis=0, ddof=1)
    np.testing.assert_array_equal(pinned["reference_std"], [std[0], std[1], 1.0])
    column = PageHinkley.reference_params(reference[:, 2], fallback={"reference_std": 7.0})
    assert column == {"reference_mean": 5.0, "reference_std": 7.0}


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"delta": -0.1}, "delta"),
        ({"threshold": "5"}, "threshold"),
        ({"threshold": -1.0}, "threshold"),
        ({"direction": "sideways"}, "direction"),
        ({"reference_std": 0.0}, "reference_std"),
        ({"reference_mean": math.nan}, "reference_mean"),
        ({"warmup": 1}, "warmup"),
        ({"forgetting": 0.0}, "forgetting"),
        ({"forgetting": 1.5}, "forgetting"),
        ({"reset_on_drift": 1}, "reset_on_drift"),
        ({"min_instances": 0}, "min_instances"),
        ({"on_nonfinite": "ignore"}, "on_nonfinite"),
    ],
)
def test_validation_errors_name_the_parameter(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises((ValueError, TypeError), match=param):
        PageHinkley(**kwargs)
