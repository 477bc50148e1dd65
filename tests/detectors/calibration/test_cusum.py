"""detectors.calibration.cusum: Siegmund's approximation against independent references.

References: the published tabular-CUSUM table (k = 0.5: two-sided ARL0 168 at h = 4 and 465 at
h = 5; one-sided ARL at a 1 sigma shift 8.34 and 10.34), the Markov-chain (Brook-Evans) ARL
of the normal CUSUM computed with scipy, closed-form tilting roots, and a Monte-Carlo average
over the sampling law of the pinned moments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from driftline.detectors.calibration.cusum import (
    CusumModel,
    StandardisedLaw,
    cusum_arl0,
    cusum_threshold,
    side_arl,
)


def _markov_chain_arl(h: float, k: float, shift: float = 0.0, states: int = 600) -> float:
    """One-sided normal CUSUM ARL by the Brook-Evans Markov chain on [0, h)."""
    width = h / (states - 0.5)
    centres = np.arange(states) * width
    upper = centres[None, :] + width / 2 - centres[:, None] + k - shift
    lower = upper - width
    p = stats.norm.cdf(upper) - stats.norm.cdf(lower)
    p[:, 0] = stats.norm.cdf(width / 2 - centres + k - shift)
    arl = np.linalg.solve(np.eye(states) - p, np.ones(states))
    return float(arl[0])


def test_published_cusum_table() -> None:
    assert cusum_arl0(4.0, 0.5) == pytest.approx(168.0, rel=0.02)
    assert cusum_arl0(5.0, 0.5) == pytest.approx(465.0, rel=0.02)
    for h, delay in ((4.0, 8.34), (5.0, 10.34)):
        # one side at a 1 sigma shift: steps N(0.5, 1), theta = -1, mean decrement -0.5
        assert side_arl(h, -1.0, -0.5, 1.0)[()] == pytest.approx(delay, rel=0.02)


@pytest.mark.parametrize(("h", "k"), [(8.0, 0.5), (12.0, 0.5), (20.0, 0.25), (40.0, 0.1)])
def test_one_sided_arl_matches_the_markov_chain(h: float, k: float) -> None:
    exact = _markov_chain_arl(h, k)
    assert exact > 1e3
    assert CusumModel(k, "up").arl0(h) == pytest.approx(exact, rel=0.02)


def test_two_sided_is_the_competing_risk_of_the_sides() -> None:
    up, down = CusumModel(0.3, "up").rate(10.0), CusumModel(0.3, "down").rate(10.0)
    assert CusumModel(0.3, "both").rate(10.0) == pytest.approx(up + down)
    assert up == pytest.approx(down)


def test_threshold_inverts_the_arl() -> None:
    for target in (1e4, 1e6, 1e9, 1e10):
        h = cusum_threshold(target, 0.5)
        assert cusum_arl0(h, 0.5) == pytest.approx(target, rel=1e-6)
    # log ARL0 grows linearly in h with slope theta = 2 delta at large h
    h6, h9 = cusum_threshold(1e6, 0.5), cusum_threshold(1e9, 0.5)
    assert (h9 - h6) == pytest.approx(math.log(1e3) / 1.0, rel=0.01)


def test_empirical_law_of_a_normal_sample_gives_the_normal_form() -> None:
    law = StandardisedLaw.from_reference(np.random.default_rng(0).normal(size=200_000))
    assert cusum_threshold(1e6, 0.25, law=law) == pytest.approx(cusum_threshold(1e6, 0.25),
                                                                 rel=0.01)


def test_tilting_root_of_the_exponential_law() -> None:
    # standardised exponential z = X - 1: K(theta) = -log(1 - theta) - theta (1 + delta)
    delta = 0.5
    law = StandardisedLaw.from_reference(np.random.default_rng(1).exponential(size=400_000))
    theta = float(law.tilting_root(np.ones(1), np.full(1, -delta))[0])
    exact = float(optimize.brentq(
        lambda t: -math.log(1 - t) - t * (1 + delta), 1e-6, 1 - 1e-9))
    assert theta == pytest.approx(exact, rel=0.02)
    # the down side (-z <= 1) has a root too; a side whose steps are never positive has none
    flipped = StandardisedLaw(-law.sample)
    assert 0.0 < float(flipped.tilting_root(np.ones(1), np.full(1, -delta))[0]) < math.inf
    assert np.isinf(flipped.tilting_root(np.ones(1), np.full(1, -1.5))[0])


def test_reference_uncertainty_averages_the_rate_over_the_pinned_moments() -> None:
    n, delta, h = 2000, 0.25, 15.0
    rng = np.random.default_rng(2)
    mean_err = rng.normal(size=20_000) / math.sqrt(n)
    ratio = 1.0 + rng.normal(size=20_000) * math.sqrt(2.0 / (4.0 * n))
    r, m = 1.0 / ratio, -mean_err / ratio
    rates = [1.0 / side_arl(h, 2 * (delta - mi) / ri**2, delta - mi, ri)[()]
             + 1.0 / side_arl(h, 2 * (delta + mi) / ri**2, delta + mi, ri)[()]
             for ri, mi in zip(r, m, strict=True)]
    assert CusumModel(delta, "both", None, n).rate(h) == pytest.approx(np.mean(rates),
                                                                        rel=0.03)
    # the uncertain reference costs a higher threshold for the same expected rate
    assert cusum_threshold(1e6, delta, n_reference=n) > cusum_threshold(1e6, delta)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"target_arl0": 1.0}, "target_arl0"), ({"delta": -0.1}, "delta"),
     ({"direction": "left"}, "direction"), ({"n_reference": 1}, "n_reference")])
def test_errors_name_the_parameter(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"target_arl0": 1e4, "delta": 0.5}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        cusum_threshold(**args)  # type: ignore[arg-type]


def test_unreachable_target_says_what_to_raise() -> None:
    with pytest.raises(ValueError, match="raise delta or the reference size"):
        cusum_threshold(1e12, 0.01, n_reference=50)
    with pytest.raises(ValueError, match="positive spread"):
        StandardisedLaw.from_reference(np.ones(10))
