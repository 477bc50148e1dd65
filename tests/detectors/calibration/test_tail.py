"""detectors.calibration.tail: log-linear tail fits and their extrapolation.

The extrapolation is checked on pinned Page-Hinkley, whose ARL0 at any threshold is known in
closed form (Siegmund's approximation, itself checked against the Markov chain in
test_cusum.py): simulated up to ARL0 20,000, extrapolated to 10^8.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from driftline.detectors.calibration.cusum import cusum_arl0, cusum_threshold
from driftline.detectors.calibration.tail import TailFit, extrapolate_threshold, fit_log_arl
from driftline.detectors.page_hinkley import PageHinkley


def test_fit_recovers_a_chi_square_like_tail() -> None:
    # log ARL0 = a + b h + c log h exactly: recovered, and inverted at any target
    h = np.linspace(5.0, 12.0, 8)
    fit = fit_log_arl(h, np.exp(0.5 + 0.5 * h - 1.5 * np.log(h)), np.full(8, 50))
    np.testing.assert_allclose(fit.coef, (0.5, 0.5, -1.5), atol=1e-9)
    target = math.exp(0.5 + 0.5 * 40.0 - 1.5 * math.log(40.0))
    assert fit.threshold(target) == pytest.approx(40.0, rel=1e-9)
    # the plain line on three points, points without alarms left out
    line = fit_log_arl([1.0, 2.0, 3.0, 4.0], [math.e, math.e**3, math.e**5, math.inf],
                       [10, 10, 10, 0])
    assert line.coef == pytest.approx((-1.0, 2.0, 0.0))
    with pytest.raises(ValueError, match="two thresholds"):
        fit_log_arl([1.0, 2.0], [10.0, 20.0], [0, 5])


def test_extrapolated_page_hinkley_threshold_brackets_the_closed_form() -> None:
    reference = np.random.default_rng(0).normal(size=20_000)

    def make(h: float) -> PageHinkley:
        return PageHinkley(delta=0.5, threshold=h, reference_mean=0.0, reference_std=1.0,
                           min_instances=1)

    target = 1e8
    result = extrapolate_threshold(make, reference, target, threshold_bounds=(0.0, 200.0),
                                   random_state=1)
    exact = cusum_threshold(target, 0.5)
    low = min(result.linear_threshold, result.threshold_interval[0])
    high = max(result.threshold, result.threshold_interval[1])
    assert low <= exact <= high, (result, exact)
    # within a factor 3 of the target ARL0, and its interval says so
    arl = cusum_arl0(result.threshold, 0.5)
    assert target / 3 < arl < 3 * target
    assert result.arl_interval[0] < target < result.arl_interval[1]
    # at a simulated target there is nothing to extrapolate
    near = extrapolate_threshold(make, reference, 5000.0, threshold_bounds=(0.0, 200.0),
                                 random_state=2)
    assert cusum_arl0(near.threshold, 0.5) == pytest.approx(5000.0, rel=0.1)
    assert near.threshold == near.linear_threshold


def test_extrapolation_validates_its_arguments() -> None:
    reference = np.zeros(10) + np.arange(10)
    with pytest.raises(ValueError, match="target_arl0"):
        extrapolate_threshold(lambda h: PageHinkley(threshold=h), reference, 1.0,
                              threshold_bounds=(0.0, 10.0))
    with pytest.raises(ValueError, match="simulated_arl0"):
        extrapolate_threshold(lambda h: PageHinkley(threshold=h), reference, 1e6,
                              threshold_bounds=(0.0, 10.0), simulated_arl0=5.0)


def test_threshold_interval_of_draws_that_never_reach_the_target_is_infinite() -> None:
    """Resamples whose fitted tail does not grow never reach the target: the interval's upper
    end is infinite (not NaN from interpolating between two of them), its lower end the
    threshold of the growing draws, log ARL0 = h at h = log(target)."""
    fit = TailFit((0.0, 1.0, 0.0), np.array([1.0, 2.0]), np.array([1.0, 2.0]),
                  np.array([10, 10]), np.array([[0.0, 1.0, 0.0]] * 5 + [[0.0, -1.0, 0.0]] * 15))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        low, high = fit.threshold_interval(math.exp(10.0))
    assert low == pytest.approx(10.0) and high == math.inf
