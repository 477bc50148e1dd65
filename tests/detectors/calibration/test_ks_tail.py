"""detectors.calibration.ks_tail: the exact KS tail and the sliding window's effective tests.

References: scipy's exact one-sample KS law (kstwo), the exact binomial law of a binary
column, and Incremental-KS banks run for real.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from driftline.detectors.bank import DetectorBank
from driftline.detectors.calibration.ks_tail import KSTailModel, ks_tail_alpha, ks_tail_probability
from driftline.detectors.incremental_ks import IncrementalKS
from driftline.detectors.kolmogorov import kolmogorov_sf


@pytest.mark.parametrize(("n", "d"), [(50, 0.2), (200, 0.12), (400, 0.15)])
def test_continuous_tail_matches_scipy(n: int, d: float) -> None:
    support = np.arange(1, 20_001) / 20_000.0
    assert ks_tail_probability(support, n, d) == pytest.approx(stats.kstwo(n).sf(d), rel=0.03)


def test_binary_tail_is_the_binomial_one() -> None:
    # one atom at p = 0.3 below 1: D = |B/n - 0.3|, B ~ Binomial(n, 0.3)
    n, d = 300, 0.07
    exact = stats.binom(n, 0.3)
    # D > d strictly: B > n (0.3 + d) or B < n (0.3 - d)
    expected = exact.sf(math.floor(n * (0.3 + d) + 1e-9)) + exact.cdf(
        math.ceil(n * (0.3 - d) - 1e-9) - 1)
    assert ks_tail_probability(np.array([0.3, 1.0]), n, d) == pytest.approx(expected, rel=1e-6)


def test_errors() -> None:
    with pytest.raises(ValueError, match="support_cdf"):
        ks_tail_probability(np.array([0.5, 0.4]), 10, 0.1)
    with pytest.raises(ValueError, match="target_arl0"):
        ks_tail_alpha(np.zeros((10, 2)) + np.arange(10)[:, None], 5, 1.0)


def test_model_predicts_a_simulated_bank() -> None:
    """ARL0 5,000 on two continuous columns, 30 deployments: ~300 alarms over 1.5M rows."""
    rng = np.random.default_rng(0)
    m, window, target = 1500, 200, 5000.0
    reference = rng.normal(size=(m, 2))
    alpha = ks_tail_alpha(reference, window, target)
    en = math.sqrt(m * window / (m + window))
    # the bank's level is the statistic threshold d where the model's rate is the target
    models = [KSTailModel.from_reference(reference[:, j], window) for j in range(2)]
    d = float(np.interp(np.log(alpha / 2), np.log(kolmogorov_sf(np.linspace(3, 0.5, 400) / 1)),
                        np.linspace(3, 0.5, 400))) / en
    assert sum(model.rate(d) for model in models) == pytest.approx(1 / target, rel=0.05)
    # the population is the reference itself; each simulated deployment pins its own resample
    # of it (the reference's sampling error the model averages over)
    alarms = rows = 0
    for _ in range(30):
        own = reference[rng.integers(0, m, m)]
        bank = DetectorBank(["a", "b"], [IncrementalKS(own[:, j], window_size=window,
                                                      alpha=0.5, reset_on_drift=False)
                                         for j in range(2)],
                            correction="bonferroni", alpha=alpha)
        stream = reference[rng.integers(0, m, 50_000)]
        alarms += len(bank.update_many(stream))
        rows += len(stream)
    assert rows / alarms == pytest.approx(target, rel=0.3), (rows / alarms, alarms)
