"""Synthetic drift scenarios: changes sit where they say, with the stated size, per seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from driftline.dataloader.scenarios import (
    TABULAR_KINDS,
    abrupt_scenario,
    bimodal_stream,
    concept_scenario,
    correlation_scenario,
    error_rate_stream,
    gradual_scenario,
    make_tabular_scenario,
    mean_shift_stream,
    no_drift_stream,
    recurring_scenario,
    shape_scenario,
    target_weights,
    variance_scenario,
    variance_stream,
)

N = 20_000


# -- univariate -------------------------------------------------------------------------------
@pytest.mark.parametrize("shift", [0.5, 1.0, 2.0])
def test_mean_shift_moves_the_mean_by_shift_sigma(shift: float) -> None:
    s = mean_shift_stream(N, change_points=N // 2, shift=shift, std=2.0, seed=1)
    before, after = s.values[: N // 2], s.values[N // 2 :]
    assert s.change_points == (N // 2,) and s.transition_ends == (N // 2,)
    # difference of means ~ N(2·shift, 2²·(2/n)); 5 standard errors
    se = 2.0 * math.sqrt(2 / (N // 2))
    assert abs((after.mean() - before.mean()) - 2.0 * shift) < 5 * se
    assert stats.levene(before, after).pvalue > 1e-3
    assert stats.ttest_ind(before, after).pvalue < 1e-6


def test_mean_shift_cumulates_over_several_change_points_and_ramps() -> None:
    s = mean_shift_stream(30_000, change_points=[10_000, 20_000], shift=1.0, seed=2)
    means = [s.values[a:b].mean() for a, b in s.segment_bounds()]
    np.testing.assert_allclose(means, [0.0, 1.0, 2.0], atol=0.05)
    g = mean_shift_stream(30_000, change_points=10_000, shift=2.0, transition=10_000, seed=2)
    assert g.transition_ends == (20_000,)
    ramp = g.values[10_000:20_000]
    # halves of the linear ramp 0→2 have means 0.5 and 1.5
    np.testing.assert_allclose([ramp[:5000].mean(), ramp[5000:].mean()], [0.5, 1.5], atol=0.06)
    assert abs(g.values[20_000:].mean() - 2.0) < 0.06


def test_variance_stream_multiplies_variance_keeps_mean() -> None:
    s = variance_stream(N, factor=3.0, seed=3)
    before, after = s.values[: N // 2], s.values[N // 2 :]
    ratio = after.var(ddof=1) / before.var(ddof=1)
    lo, hi = stats.f.ppf([0.0005, 0.9995], N // 2 - 1, N // 2 - 1)
    assert 3.0 * lo < ratio < 3.0 * hi
    assert stats.ttest_ind(before, after, equal_var=False).pvalue > 1e-3
    assert stats.levene(before, after).pvalue < 1e-10


def test_bimodal_stream_has_equal_mean_and_variance_but_other_shape() -> None:
    s = bimodal_stream(N, separation=0.9, seed=4)
    a, c = s.params["separation"], s.params["component_std"]
    assert math.isclose(a**2 + c**2, 1.0)
    before, after = s.values[: N // 2], s.values[N // 2 :]
    assert abs(after.mean()) < 5 / math.sqrt(N // 2)
    assert abs(after.var() - 1.0) < 0.05 and abs(before.var() - 1.0) < 0.05
    assert stats.ks_2samp(before, after).pvalue < 1e-10
    # the post-change sample follows the stated mixture exactly
    mixture_cdf = lambda x: 0.5 * stats.norm.cdf(x, -a, c) + 0.5 * stats.norm.cdf(x, a, c)  # noqa: E731
    assert stats.kstest(after, mixture_cdf).pvalue > 1e-3
    assert stats.kstest(before, "norm").pvalue > 1e-3


def test_no_drift_and_error_rate_streams() -> None:
    s = no_drift_stream(N, seed=5)
    assert s.change_points == () and s.kind == "none"
    assert stats.kstest(s.values, "norm").pvalue > 1e-3
    e = error_rate_stream(N, change_points=[5000, 15_000], rates=(0.1, 0.4, 0.2), seed=5)
    assert set(np.unique(e.values)) <= {0.0, 1.0}
    counts = [int(e.values[a:b].sum()) for a, b in e.segment_bounds()]
    sizes = [b - a for a, b in e.segment_bounds()]
    for k, n, p in zip(counts, sizes, (0.1, 0.4, 0.2), strict=True):
        assert stats.binomtest(k, n, p).pvalue > 1e-3


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: mean_shift_stream(2000, seed=seed),
        lambda seed: variance_stream(2000, seed=seed),
        lambda seed: bimodal_stream(2000, seed=seed),
        lambda seed: no_drift_stream(2000, seed=seed),
        lambda seed: error_rate_stream(2000, seed=seed),
    ],
)
def test_univariate_streams_are_deterministic_per_seed(make) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_array_equal(make(11).values, make(11).values)
    assert not np.array_equal(make(11).values, make(12).values)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mean_shift_stream(100, change_points=0), "change_points must be >= 1"),
        (lambda: mean_shift_stream(100, change_points=100), "change_points must be <= 99"),
        (lambda: mean_shift_stream(100, change_points=[50, 40]), "strictly increasing"),
        (lambda: mean_shift_stream(100, std=0.0), "std must be > 0"),
        (lambda: mean_shift_stream(100, change_points=90, transition=20), "transition"),
        (lambda: mean_shift_stream(1), "length must be >= 2"),
        (lambda: variance_stream(100, factor=-1.0), "factor must be > 0"),
        (lambda: bimodal_stream(100, separation=1.0), "separation must be < 1"),
        (lambda: error_rate_stream(100, rates=(0.1,)), "rates must have"),
        (lambda: error_rate_stream(100, rates=(0.1, 1.5)), r"rates\[1\] must be <= 1"),
        (lambda: no_drift_stream(100, seed=-1), "seed must be >= 0"),
    ],
)
def test_univariate_validation_errors_name_the_parameter(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


def test_univariate_type_errors() -> None:
    with pytest.raises(TypeError, match="shift must be a real number"):
        mean_shift_stream(100, shift="big")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="length must be an integer"):
        no_drift_stream(10.5)  # type: ignore[arg-type]


# -- tabular ----------------------------------------------------------------------------------
def _halves(sc):  # type: ignore[no-untyped-def]
    cp = sc.change_points[0]
    return sc.rows[:cp], sc.rows[sc.transition_ends[0] :]


def test_abrupt_scenario_shifts_only_the_drifted_features() -> None:
    sc = abrupt_scenario(N, n_features=4, shift=1.0, drifted_features=[1, 3], seed=6)
    assert sc.drifted_features == ("x1", "x3") and sc.feature_names == ("x0", "x1", "x2", "x3")
    before, after = _halves(sc)
    diff = after.mean(axis=0) - before.mean(axis=0)
    np.testing.assert_allclose(diff, [0.0, 1.0, 0.0, 1.0], atol=5 * math.sqrt(2 / (N // 2)))
    for j in (0, 2):
        assert stats.ks_2samp(before[:, j], after[:, j]).pvalue > 1e-3
    assert sc.targets.dtype == np.int64 and set(np.unique(sc.targets)) == {0, 1}


def test_gradual_scenario_mixes_regimes_with_a_linear_ramp() -> None:
    sc = gradual_scenario(30_000, change_points=10_000, shift=2.0, transition=10_000, seed=7)
    assert sc.change_points == (10_000,) and sc.transition_ends == (20_000,)
    new = sc.in_new_regime
    assert not new[:10_000].any() and new[20_000:].all()
    # probability of the new regime rises linearly: quarter means ≈ 1/8, 3/8, 5/8, 7/8
    quarters = new[10_000:20_000].reshape(4, -1).mean(axis=1)
    np.testing.assert_allclose(quarters, [0.125, 0.375, 0.625, 0.875], atol=0.04)
    x0 = sc.rows[:, 0]
    np.testing.assert_allclose(x0[new].mean() - x0[~new].mean(), 2.0, atol=0.05)


def test_recurring_scenario_alternates_between_two_regimes() -> None:
    sc = recurring_scenario(40_000, seed=8)
    assert sc.change_points == (10_000, 20_000, 30_000)
    means = [sc.rows[a:b, 0].mean() for a, b in zip((0, *sc.change_points),
                                                    (*sc.change_points, 40_000), strict=True)]
    np.testing.assert_allclose(means, [0.0, 1.0, 0.0, 1.0], atol=0.05)


def test_variance_and_shape_scenarios_change_the_stated_moment() -> None:
    sc = variance_scenario(N, factor=3.0, seed=9)
    before, after = _halves(sc)
    lo, hi = stats.f.ppf([0.0005, 0.9995], N // 2 - 1, N // 2 - 1)
    assert 3.0 * lo < after[:, 0].var(ddof=1) / before[:, 0].var(ddof=1) < 3.0 * hi
    assert stats.levene(before[:, 1], after[:, 1]).pvalue > 1e-3
    sh = shape_scenario(N, separation=0.95, seed=9)
    before, after = _halves(sh)
    assert abs(after[:, 0].mean()) < 0.05 and abs(after[:, 0].var() - 1.0) < 0.05
    assert stats.ks_2samp(before[:, 0], after[:, 0]).pvalue < 1e-10
    assert stats.ks_2samp(before[:, 1], after[:, 1]).pvalue > 1e-3


def test_correlation_scenario_changes_correlation_not_marginals() -> None:
    sc = correlation_scenario(N, rho_before=0.0, rho_after=0.8, seed=10)
    before, after = _halves(sc)
    r0 = stats.pearsonr(before[:, 0], before[:, 1]).statistic
    r1 = stats.pearsonr(after[:, 0], after[:, 1]).statistic
    # Fisher z: atanh(r) ~ N(atanh(rho), 1/(n-3))
    tol = 5 / math.sqrt(N // 2 - 3)
    assert abs(math.atanh(r0) - 0.0) < tol and abs(math.atanh(r1) - math.atanh(0.8)) < tol
    for j in range(sc.rows.shape[1]):
        assert stats.ks_2samp(before[:, j], after[:, j]).pvalue > 1e-3
        assert stats.kstest(after[:, j], "norm").pvalue > 1e-3


def test_concept_scenario_changes_labels_not_inputs() -> None:
    sc = concept_scenario(N, n_features=4, seed=11)
    before, after = _halves(sc)
    for j in range(4):
        assert stats.ks_2samp(before[:, j], after[:, j]).pvalue > 1e-3
    w = target_weights(4)
    old_rule = (sc.rows @ w > 0).astype(int)
    cp = sc.change_points[0]
    # label noise 0.5 on a unit-variance score: P(agree) = 1/2 + atan(1/0.5)/π ≈ 0.852
    p_agree = 0.5 + math.atan(2.0) / math.pi
    assert abs((old_rule[:cp] == sc.targets[:cp]).mean() - p_agree) < 0.015
    assert abs((old_rule[cp:] == sc.targets[cp:]).mean() - (1 - p_agree)) < 0.015


@pytest.mark.parametrize("kind", TABULAR_KINDS)
def test_tabular_scenarios_are_deterministic_per_seed(kind: str) -> None:
    a = make_tabular_scenario(kind, n_rows=1000, seed=1)
    b = make_tabular_scenario(kind, n_rows=1000, seed=1)
    c = make_tabular_scenario(kind, n_rows=1000, seed=2)
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.array_equal(a.rows, c.rows)
    assert a.kind == kind and a.rows.shape == (1000, 5) and a.targets.shape == (1000,)
    assert all(0 < cp < 1000 for cp in a.change_points)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: make_tabular_scenario("sideways"), "kind must be one of"),
        (lambda: abrupt_scenario(100, n_features=3, drifted_features=[3]), "drifted_features"),
        (lambda: abrupt_scenario(100, drifted_features=[0, 0]), "unique"),
        (lambda: abrupt_scenario(100, change_points=[20, 50]), "single change point"),
        (lambda: gradual_scenario(100, change_points=50, transition=80), "transition"),
        (lambda: correlation_scenario(100, drifted_features=[0]), "exactly two"),
        (lambda: correlation_scenario(100, rho_after=1.0), "rho_after must be < 1"),
        (lambda: variance_scenario(100, factor=0.0), "factor must be > 0"),
        (lambda: recurring_scenario(100, change_points=[]), "at least one change point"),
        (lambda: shape_scenario(1), "n_rows must be >= 2"),
    ],
)
def test_tabular_validation_errors_name_the_parameter(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()
