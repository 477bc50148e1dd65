"""The sparse KS path against the dense one and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from driftline.detectors._kernels.ks_path import (
    _statistic_after,
    ks_path,
    ks_path_sparse,
    safe_statistic_bound,
)
from driftline.detectors.kolmogorov import ks_threshold


def _samples(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "continuous":
        return rng.normal(size=n)
    if kind == "rounded":
        return np.round(rng.normal(size=n), 1)
    return rng.integers(0, 5, size=n).astype(float)


@pytest.mark.parametrize("kind", ["continuous", "rounded", "integers"])
def test_statistic_of_one_window_equals_scipy(kind: str) -> None:
    rng = np.random.default_rng(3)
    for n_ref, n_win in [(500, 500), (300, 200), (37, 50)]:
        for _ in range(20):
            reference = np.sort(_samples(kind, rng, n_ref))
            window = _samples(kind, rng, n_win) * rng.uniform(0.7, 1.5)
            assert _statistic_after(reference, window, n_win) == stats.ks_2samp(
                reference, window).statistic


def test_statistic_of_one_window_at_the_edges_of_the_reference() -> None:
    # window values below, above and equal to the extreme (tied) reference values, and a
    # one-value reference: the rank codes must still give scipy's statistic
    rng = np.random.default_rng(8)
    reference = np.sort(np.concatenate([np.full(40, -1.0), rng.normal(size=200),
                                        np.full(30, 2.0)]))
    for _ in range(30):
        window = rng.choice([-3.0, -1.0, 0.0, 0.5, 2.0, 5.0], size=60) + np.where(
            rng.random(60) < 0.5, 0.0, rng.normal(size=60))
        assert _statistic_after(reference, window, 60) == stats.ks_2samp(
            reference, window).statistic
    one = np.array([0.25])
    for window in ([0.25] * 5, [0.0, 0.25, 1.0], [-1.0] * 3, [1.0, 2.0]):
        assert _statistic_after(one, np.array(window), len(window)) == stats.ks_2samp(
            one, window).statistic


@pytest.mark.parametrize("kind", ["continuous", "rounded", "integers"])
@pytest.mark.parametrize("n_old", [0, 120, 500])
def test_sparse_path_keeps_every_value_it_computes_and_skips_only_safe_steps(
        kind: str, n_old: int) -> None:
    rng = np.random.default_rng(11)
    n_win = 500
    reference = np.sort(_samples(kind, rng, 600))
    window = _samples(kind, rng, n_old)
    batch = _samples(kind, rng, 4000)
    batch[2500:] *= 1.7  # a change: the statistic climbs to the bound and beyond
    below = safe_statistic_bound(ks_threshold(1e-4, 600, n_win),
                                 math.sqrt(600 * n_win / (600 + n_win)), 1e-4, n_win)
    dense = ks_path(reference, window, batch, n_win)
    sparse = ks_path_sparse(reference, window, batch, n_win, below)
    computed = ~np.isnan(sparse)
    np.testing.assert_array_equal(sparse[computed], dense[computed])
    assert np.isnan(dense[~computed]).sum() == np.isnan(dense).sum()  # filling steps
    skipped = ~computed & ~np.isnan(dense)
    assert (dense[skipped] <= below).all()
    assert computed[-1]
    if kind != "integers":  # few distinct values: the statistic sits nearer the bound
        assert skipped.sum() > 0.5 * len(batch)
    # every step over the bound was computed, so a threshold test sees the same steps
    assert np.array_equal(np.flatnonzero(dense > below), np.flatnonzero(sparse > below))


def test_safe_bound_is_below_threshold_and_p_value_level() -> None:
    n_ref, n_win, alpha = 500, 500, 5e-5
    en = math.sqrt(n_ref * n_win / (n_ref + n_win))
    threshold = ks_threshold(alpha, n_ref, n_win)
    below = safe_statistic_bound(threshold, en, alpha, n_win)
    assert below < threshold
    assert stats.kstwobign.sf(en * (below + 1.0 / n_win)) > alpha
    # a lower level (Bonferroni) or no p-value test only raises the statistic needed
    assert safe_statistic_bound(threshold, en, alpha / 8, n_win) == pytest.approx(below)


@pytest.mark.parametrize("kind", ["continuous", "rounded", "integers"])
def test_block_path_equals_the_statistic_of_every_window(kind: str) -> None:
    # _lcm_block works on intervals between the keys a block touches; every step must still
    # equal the statistic of its window computed from scratch (itself equal to scipy's).
    rng = np.random.default_rng(17)
    for n_ref, n_win, n_old, n_batch in [(500, 500, 500, 700), (300, 200, 37, 450),
                                         (37, 25, 0, 300), (1, 1, 0, 20), (64, 500, 499, 90)]:
        reference = np.sort(_samples(kind, rng, n_ref))
        window = _samples(kind, rng, n_old)
        batch = _samples(kind, rng, n_batch) * rng.uniform(0.8, 1.4)
        path = ks_path(reference, window, batch, n_win)
        seq = np.concatenate([window, batch])
        for t in range(n_batch):
            stop = n_old + t + 1
            if stop < n_win:
                assert np.isnan(path[t])
            else:
                assert path[t] == _statistic_after(reference, seq[stop - n_win : stop], n_win)


def test_sparse_path_stops_after_the_first_step_over_stop_above() -> None:
    rng = np.random.default_rng(5)
    reference = np.sort(rng.normal(size=500))
    window = rng.normal(size=500)
    batch = rng.normal(size=1500)
    batch[700:] += 1.5  # the statistic climbs steadily past the stop level
    dense = ks_path(reference, window, batch, 500)
    stop_above = 0.2
    sparse = ks_path_sparse(reference, window, batch, 500, 0.12, stop_above)
    first_over = int(np.flatnonzero(dense > stop_above)[0])
    assert sparse[first_over] == dense[first_over]
    assert np.isnan(sparse[first_over + 1 :]).all()
    computed = ~np.isnan(sparse[: first_over + 1])
    np.testing.assert_array_equal(sparse[: first_over + 1][computed],
                                  dense[: first_over + 1][computed])
    assert not (sparse[: first_over] > stop_above).any()
