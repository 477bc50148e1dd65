"""Bonferroni and Benjamini-Hochberg against closed forms and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from driftline.detectors.multiple_testing import benjamini_hochberg, bonferroni, correct

p_matrix = st.integers(min_value=1, max_value=12).flatmap(
    lambda m: st.lists(
        st.lists(st.one_of(st.floats(min_value=0.0, max_value=1.0),
                           st.sampled_from([0.0, 0.01, 0.02, 0.05, 1.0])),
                 min_size=m, max_size=m),
        min_size=1, max_size=6,
    )
)


def _bh_closed_form(p: np.ndarray, alpha: float) -> np.ndarray:
    m = len(p)
    order = np.argsort(p)
    passing = [i for i in range(1, m + 1) if p[order[i - 1]] <= i * alpha / m]
    k = max(passing, default=0)
    reject = np.zeros(m, dtype=bool)
    reject[order[:k]] = True
    return reject


@settings(max_examples=80, deadline=None)
@given(p=p_matrix, alpha=st.floats(min_value=0.001, max_value=0.5))
def test_bh_matches_closed_form_and_scipy(p: list[list[float]], alpha: float) -> None:
    arr = np.array(p)
    reject, adjusted = benjamini_hochberg(arr, alpha)
    assert reject.shape == adjusted.shape == arr.shape
    for row, rej, adj in zip(arr, reject, adjusted, strict=True):
        np.testing.assert_array_equal(rej, _bh_closed_form(row, alpha))
        np.testing.assert_allclose(adj, stats.false_discovery_control(row, method="bh"),
                                   rtol=1e-12, atol=0)
        single_rej, single_adj = benjamini_hochberg(row, alpha)
        np.testing.assert_array_equal(single_rej, rej)
        np.testing.assert_array_equal(single_adj, adj)


@settings(max_examples=60, deadline=None)
@given(p=p_matrix, alpha=st.floats(min_value=0.001, max_value=0.5))
def test_bonferroni_closed_form(p: list[list[float]], alpha: float) -> None:
    arr = np.array(p)
    m = arr.shape[1]
    reject, adjusted = bonferroni(arr, alpha)
    np.testing.assert_array_equal(adjusted, np.minimum(arr * m, 1.0))
    np.testing.assert_array_equal(reject, np.minimum(arr * m, 1.0) <= alpha)
    # Bonferroni never rejects more than BH
    assert not (reject & ~benjamini_hochberg(arr, alpha)[0]).any()


def test_known_example() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    reject, adjusted = benjamini_hochberg(p, 0.05)
    # sorted: 0.005, 0.01, 0.03, 0.04, 0.2 vs i * 0.01: rank 4 passes (0.04 <= 0.04)
    assert reject.tolist() == [True, True, True, True, False]
    np.testing.assert_allclose(adjusted, [0.025, 0.05, 0.05, 0.025, 0.2])
    assert bonferroni(p, 0.05)[0].tolist() == [True, False, False, True, False]
    np.testing.assert_array_equal(correct(p, 0.05, "bh")[0], reject)


def test_validation() -> None:
    with pytest.raises(ValueError, match="p_values"):
        bonferroni([0.5, 1.5], 0.05)
    with pytest.raises(ValueError, match="p_values"):
        benjamini_hochberg(np.zeros((2, 2, 2)), 0.05)
    with pytest.raises(ValueError, match="alpha"):
        benjamini_hochberg([0.1], 0.0)
    with pytest.raises(ValueError, match="correction"):
        correct([0.1], 0.05, "holm")
