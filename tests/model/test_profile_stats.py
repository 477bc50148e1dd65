"""Streaming statistics: moments equal numpy's on the concatenated chunks, the reservoir is a
uniform sample (chi-square on inclusion counts) that keeps file order and holds everything while
it fits, category counts are exact until the Misra-Gries bound applies."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from driftline.model.profile_stats import CategoryCounter, Moments, RowReservoir


def chunks_of(data: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    edges = np.cumsum([0, *sizes])
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def test_moments_equal_numpy_on_chunked_data_with_missing_values() -> None:
    rng = np.random.default_rng(1)
    data = np.column_stack([rng.normal(1e6, 3.0, 5000), rng.integers(0, 2, 5000).astype(float),
                            rng.exponential(2.0, 5000)])
    data[rng.random(data.shape) < 0.1] = np.nan
    moments = Moments(3)
    for part in chunks_of(data, [1, 999, 3000, 1000]):
        moments.add(part)
    np.testing.assert_array_equal(moments.count, np.sum(~np.isnan(data), axis=0))
    np.testing.assert_array_equal(moments.n_missing, np.sum(np.isnan(data), axis=0))
    np.testing.assert_allclose(moments.mean, np.nanmean(data, axis=0), rtol=1e-13)
    np.testing.assert_allclose(moments.std(), np.nanstd(data, axis=0), rtol=1e-9)
    np.testing.assert_array_equal(moments.min, np.nanmin(data, axis=0))
    np.testing.assert_array_equal(moments.max, np.nanmax(data, axis=0))
    assert moments.binary.tolist() == [False, True, False]


def test_reservoir_keeps_every_row_in_order_while_it_fits() -> None:
    data = np.arange(30.0).reshape(15, 2)
    reservoir = RowReservoir(capacity=15, n_columns=2, seed=3)
    for part in chunks_of(data, [4, 4, 7]):
        reservoir.add(part)
    assert reservoir.complete
    np.testing.assert_array_equal(reservoir.sample(), data)


def test_reservoir_is_bounded_and_its_sample_is_in_file_order() -> None:
    data = np.arange(10_000.0)[:, None]
    reservoir = RowReservoir(capacity=100, n_columns=1, seed=0)
    for part in chunks_of(data, [50, 3000, 6950]):
        reservoir.add(part)
    sample = reservoir.sample()[:, 0]
    assert reservoir.values.shape == (100, 1) and not reservoir.complete
    assert np.all(np.diff(sample) > 0)  # distinct rows, file order
    sub = reservoir.sample(size=10, seed=1)[:, 0]
    assert sub.size == 10 and np.all(np.isin(sub, sample)) and np.all(np.diff(sub) > 0)


@pytest.mark.parametrize("sizes", [[40], [1] * 40, [3, 7, 30], [10, 30]])
def test_reservoir_inclusion_is_uniform(sizes: list[int]) -> None:
    """Every row of a 40-row stream lands in a 5-slot reservoir with probability 5/40,
    whatever the chunking (chi-square test over 4,000 independent reservoirs)."""
    data = np.arange(40.0)[:, None]
    counts = np.zeros(40)
    for seed in range(4000):
        reservoir = RowReservoir(capacity=5, n_columns=1, seed=seed)
        for part in chunks_of(data, sizes):
            reservoir.add(part)
        counts[reservoir.sample()[:, 0].astype(int)] += 1
    assert counts.sum() == 4000 * 5
    assert stats.chisquare(counts).pvalue > 1e-4


def test_category_counts_are_exact_while_tracked() -> None:
    rng = np.random.default_rng(2)
    values = rng.choice(list("abcdefgh"), size=3000).tolist()
    counter = CategoryCounter(max_tracked=8)
    for start in range(0, 3000, 700):
        counter.add(Counter(values[start:start + 700]), n_missing=1)
    assert counter.exact and counter.counts == Counter(values)
    assert counter.n_values == 3000 and counter.n_missing == 5
    ranked = counter.most_common()
    assert [c for _, c in ranked] == sorted(Counter(values).values(), reverse=True)


def test_misra_gries_keeps_heavy_hitters_within_its_bound() -> None:
    rng = np.random.default_rng(3)
    heavy = ["h1"] * 3000 + ["h2"] * 2000
    tail = [f"t{i}" for i in rng.integers(0, 5000, 5000)]
    values = heavy + tail
    rng.shuffle(values)
    k = 20
    counter = CategoryCounter(max_tracked=k)
    for start in range(0, len(values), 500):
        counter.add(Counter(values[start:start + 500]), n_missing=0)
    truth = Counter(values)
    assert not counter.exact and len(counter.counts) <= k
    bound = len(values) / (k + 1)
    for value in ("h1", "h2"):
        assert truth[value] - bound <= counter.counts[value] <= truth[value]
    assert counter.n_values == len(values)
    assert [v for v, _ in counter.most_common()[:2]] == ["h1", "h2"]


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RowReservoir(0, 1)
    with pytest.raises(ValueError, match="max_tracked"):
        CategoryCounter(0)
