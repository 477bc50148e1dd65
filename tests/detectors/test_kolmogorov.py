"""The Kolmogorov distribution and the asymptotic KS test against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from driftline.detectors.kolmogorov import kolmogorov_sf, ks_p_value, ks_threshold


def test_kolmogorov_sf_matches_scipy() -> None:
    x = np.r_[0.0, 1e-3, np.linspace(0.05, 4.0, 400), 5.0, 7.0]
    np.testing.assert_allclose(kolmogorov_sf(x), stats.kstwobign.sf(x), rtol=1e-11, atol=1e-16)
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=3000), rng.normal(0.05, size=2000)
    res = stats.ks_2samp(a, b, method="asymp")
    assert ks_p_value(res.statistic, 3000, 2000)[0] == pytest.approx(res.pvalue, abs=2e-3)


def test_critical_value_is_the_asymptotic_quantile() -> None:
    # the critical value solves 2 exp(-2 (en d)^2) = alpha, the leading term of the Kolmogorov
    # survival function: its exact asymptotic level is alpha up to the next term (~alpha^4 / 8)
    for alpha in (0.05, 0.01, 1e-4):
        en = math.sqrt(400 * 100 / 500)
        d = ks_threshold(alpha, 400, 100)
        assert 2 * math.exp(-2 * (en * d) ** 2) == pytest.approx(alpha, rel=1e-12)
        assert stats.kstwobign.sf(en * d) == pytest.approx(alpha, rel=1e-3)
