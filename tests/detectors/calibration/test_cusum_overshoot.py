"""detectors.calibration.cusum_overshoot: the regenerative ARL estimate and the fitted overshoot.

Checked against the Markov-chain ARL of the normal CUSUM (scipy) and against Page-Hinkley
detectors run for real on resampled skewed and binary data. Tolerances: the direct runs count
~2,000 alarms (2.2 % standard error), the fit rests on ~4,000,000 resampled values (a few %).
"""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors.calibration.cusum import CusumModel, StandardisedLaw
from driftline.detectors.calibration.cusum_overshoot import Excursions, cusum_path, fit_overshoot
from driftline.detectors.page_hinkley_bank import PageHinkleyBank
from tests.detectors.calibration.test_cusum import _markov_chain_arl


def test_excursions_split_paths_at_zeros() -> None:
    steps = np.array([[1.0, -2, 0.5, 0.5, -3, 2], [0.3, 0.2, -1, 4, -5, 1]]).T
    path = cusum_path(steps)
    np.testing.assert_allclose(path[:, 0], [1, 0, 0.5, 1, 0, 2])
    cycles = Excursions(path)
    # complete cycles: (1, 0), (0.5, 1, 0) in column 0; (0.3, 0.5, 0), (4, 0) in column 1
    assert cycles.maxima.tolist() == [1.0, 1.0, 0.5, 4.0]
    # h = 0.9: three cycles cross (after 1, 2 and 1 values), one runs 3 values without
    assert cycles.arl(0.9) == pytest.approx((7 / 3, 3))
    assert cycles.arl(5.0) == (float("inf"), 0)


def test_regenerative_arl_matches_the_markov_chain() -> None:
    rng = np.random.default_rng(0)
    cycles = Excursions(cusum_path(rng.normal(size=(200_000, 20)) - 0.5))
    for h in (3.0, 5.0):
        arl, crossings = cycles.arl(h)
        assert crossings > 1000
        assert arl == pytest.approx(_markov_chain_arl(h, 0.5), rel=0.04)


def test_normal_sample_fits_the_normal_overshoot() -> None:
    law = StandardisedLaw.from_reference(np.random.default_rng(3).normal(size=50_000))
    up, down = fit_overshoot(law, 0.5, seed=2)
    assert up == pytest.approx(1.166, abs=0.15) and down == pytest.approx(1.166, abs=0.15)


@pytest.mark.parametrize("kind", ["exponential", "binary"])
def test_fitted_model_predicts_measured_arl0(kind: str) -> None:
    rng = np.random.default_rng(4)
    values = (rng.exponential(size=20_000) if kind == "exponential"
              else (rng.random(20_000) < 0.3).astype(float))
    law = StandardisedLaw.from_reference(values)
    delta, target = 0.5, 1e4
    fitted = CusumModel(delta, "both", law, None, fit_overshoot(law, delta, seed=5))
    normal_form = CusumModel(delta, "both", law)
    n, length = 100, 200_000
    measured = {}
    for name, model in (("fitted", fitted), ("normal overshoot", normal_form)):
        bank = PageHinkleyBank([str(j) for j in range(n)], delta=delta,
                               threshold=model.threshold(target), min_instances=1,
                               reference_means=values.mean(),
                               reference_stds=values.std(ddof=1))
        stream = np.random.default_rng(6)
        alarms = sum(len(bank.update_many(values[stream.integers(0, len(values), (50_000, n))]))
                     for _ in range(length // 50_000))
        measured[name] = n * length / alarms
    assert measured["fitted"] == pytest.approx(target, rel=0.1), measured
    if kind == "exponential":  # the normal overshoot is off on skewed data (why the fit exists)
        assert measured["normal overshoot"] > 1.3 * target, measured


def test_fit_needs_an_empirical_law() -> None:
    with pytest.raises(ValueError, match="empirical law"):
        fit_overshoot(StandardisedLaw(), 0.5)
