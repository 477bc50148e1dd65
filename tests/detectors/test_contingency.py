"""Contingency math against scipy: chi-square and binomial tails, effect sizes, cells, checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from driftline.detectors.contingency import (
    binomial_tail,
    cell_layout,
    check_codes,
    check_counts,
    chi2_isf,
    chi2_sf,
    jensen_shannon_distance,
    population_stability_index,
    unseen_threshold,
)


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 7, 10, 49, 50, 101, 1000])
def test_chi2_tail_equals_scipy_down_to_tiny_probabilities(dof: int) -> None:
    for x in [1e-6, 0.3, 1.0, dof / 2, dof, 2 * dof + 10, 5 * dof + 100, 3000.0]:
        expected = stats.chi2.sf(x, dof)
        if expected > 1e-300:
            assert chi2_sf(x, dof) == pytest.approx(expected, rel=1e-11), x
    for alpha in [0.5, 0.05, 1e-3, 1e-6, 1e-10, 1e-15]:
        assert chi2_isf(alpha, dof) == pytest.approx(stats.chi2.isf(alpha, dof), rel=1e-12)
        assert chi2_sf(chi2_isf(alpha, dof), dof) <= alpha


def test_degenerate_tails() -> None:
    assert chi2_sf(0.0, 3) == chi2_sf(-1.0, 3) == 1.0 and chi2_sf(math.inf, 3) == 0.0
    assert chi2_sf(12.0, 0) == 1.0 and chi2_isf(0.01, 0) == math.inf
    with pytest.raises(ValueError, match="alpha"):
        chi2_isf(0.0, 3)


@pytest.mark.parametrize(("n", "rate"), [(10, 0.3), (500, 1e-6), (500, 2e-3), (5000, 0.01),
                                         (200, 0.7)])
def test_binomial_tail_equals_scipy(n: int, rate: float) -> None:
    for count in range(0, min(n, 80)):
        expected = stats.binom.sf(count - 1, n, rate)
        if expected > 1e-250:
            assert binomial_tail(count, n, rate) == pytest.approx(expected, rel=1e-10, abs=1e-16)
    assert binomial_tail(n + 1, n, rate) == 0.0 and binomial_tail(0, n, rate) == 1.0


@pytest.mark.parametrize(("alpha", "n", "rate"), [(5e-6, 500, 1e-6), (5e-8, 500, 1e-3),
                                                  (0.005, 40, 0.0025), (1e-9, 2000, 0.05)])
def test_unseen_threshold_is_the_largest_count_the_binomial_test_accepts(
        alpha: float, n: int, rate: float) -> None:
    limit = unseen_threshold(alpha, n, rate)
    assert stats.binom.sf(limit, n, rate) <= alpha < stats.binom.sf(limit - 1, n, rate)


def test_effect_sizes_against_scipy_and_the_closed_form() -> None:
    window = np.array([30.0, 0.0, 50.0, 20.0])
    reference = np.array([400.0, 300.0, 300.0, 0.0])
    assert jensen_shannon_distance(window, reference) == pytest.approx(
        jensenshannon(window, reference, base=2), rel=1e-12)
    w = np.array([30, 0.5, 50, 20]) / 100.5
    r = np.array([400, 300, 300, 0.5]) / 1000.5
    assert population_stability_index(window, reference) == pytest.approx(
        float(np.sum((w - r) * np.log(w / r))), rel=1e-12)
    assert jensen_shannon_distance(reference, reference) == 0.0
    assert population_stability_index(window + 1, 2 * window + 2) == pytest.approx(0.0, abs=1e-15)


def test_cells_pool_rare_codes_until_the_pool_expects_enough() -> None:
    # window 100: expected 50, 30, 15, 4, 1 -> 3 and 4 pooled (5 values), code 5 unseen
    layout = cell_layout([500, 300, 150, 40, 10, 0], 100, 5.0)
    assert layout.cell_of_code == (0, 1, 2, 3, 3, 4)
    assert layout.cell_counts == (500, 300, 150, 50) and layout.dof == 3
    # expected 2 and 1 pool to 3 < 5: the least frequent other code (15) joins them
    layout = cell_layout([600, 250, 150, 20, 10], 100, 5.0)
    assert layout.pooled == (2, 3, 4) and layout.cell_counts == (600, 250, 180)
    # min_expected 0 pools nothing; zero counts stay unseen
    layout = cell_layout([5, 0, 1], 1000, 0.0)
    assert layout.cell_of_code == (0, 2, 1) and layout.pooled == ()
    # everything rare: one cell, no degree of freedom
    assert cell_layout([3, 2, 1], 8, 5.0).dof == 0


def test_count_and_code_checks_name_the_parameter() -> None:
    assert check_counts("reference", [3, 0.0, np.int64(2)]) == [3, 0, 2]
    for bad, message in [("abc", "sequence of counts"), ([], "non-empty"),
                         ([[1, 2]], "1-D"), ([1, -1], "-1.0 at position 1"),
                         ([1, 0.5], "0.5 at position 1"), ([0, 0], "at least one"),
                         ([1, math.nan], "nan at position 1")]:
        with pytest.raises((TypeError, ValueError), match="reference") as info:
            check_counts("reference", bad)
        assert message in str(info.value)
    assert check_codes("codes", [[0, 3.0], [2, 1]]).dtype == np.int64
    with pytest.raises(ValueError, match=r"codes must hold .* 2\.5 at position \(1, 0\)"):
        check_codes("codes", [[0, 3], [2.5, 1]])
    with pytest.raises(ValueError, match="at position 0"):
        check_codes("codes", [2.0**31])
