"""PCA equals scikit-learn's (components, signs, explained variance, transform; a count or a
variance fraction); the sparse random projection has the density and scale of Li et al. and
preserves squared distances in expectation; both are reproducible and run batched."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from driftline.model.reducers.linear import LinearReducer, fit_pca, fit_srp

RNG = np.random.default_rng(0)
X = (RNG.normal(size=(400, 12)) @ RNG.normal(size=(12, 12))).astype(np.float32)


@pytest.mark.parametrize("n_components", [1, 5, 12])
def test_pca_equals_scikit_learn(n_components: int) -> None:
    ours = fit_pca("pca", "x", X, n_components)
    reference = PCA(n_components=n_components, svd_solver="full").fit(X.astype(np.float64))
    np.testing.assert_allclose(ours.matrix.T, reference.components_, atol=2e-5)
    np.testing.assert_allclose(ours.explained_variance_ratio,
                               reference.explained_variance_ratio_, rtol=1e-6)
    np.testing.assert_allclose(ours.transform(X), reference.transform(X), atol=2e-4)


@pytest.mark.parametrize("fraction", [0.5, 0.8, 0.99])
def test_pca_keeps_the_components_a_variance_fraction_needs(fraction: float) -> None:
    ours = fit_pca("pca", "x", X, explained_variance=fraction)
    reference = PCA(n_components=fraction, svd_solver="full").fit(X.astype(np.float64))
    assert ours.n_components == reference.n_components_
    assert sum(ours.explained_variance_ratio) >= fraction


def test_pca_refuses_what_it_cannot_fit() -> None:
    with pytest.raises(ValueError, match="constant"):
        fit_pca("pca", "x", np.ones((10, 3)), 2)
    with pytest.raises(ValueError, match="at most 5"):
        fit_pca("pca", "x", X[:5], 6)
    with pytest.raises(ValueError, match="at least 2 reference rows"):
        fit_pca("pca", "x", X[:1], 1)


def test_srp_has_the_density_and_scale_of_very_sparse_projections() -> None:
    d, k = 900, 64
    srp = fit_srp("srp", "x", d, k, seed=3)
    values = srp.matrix
    density = 1 / np.sqrt(d)
    scale = np.sqrt(1 / (density * k))
    assert set(np.unique(np.round(values / scale, 6))) == {-1.0, 0.0, 1.0}
    nonzero = np.count_nonzero(values) / values.size
    assert abs(nonzero - density) < 4 * np.sqrt(density / values.size)
    assert abs(float((values > 0).sum() - (values < 0).sum())) < 4 * np.sqrt(
        np.count_nonzero(values))
    assert np.array_equal(fit_srp("srp", "x", d, k, seed=3).matrix, values)
    assert not np.array_equal(fit_srp("srp", "x", d, k, seed=4).matrix, values)


def test_srp_preserves_squared_distances_in_expectation() -> None:
    points = RNG.normal(size=(60, 300)).astype(np.float32)
    ratios = []
    for seed in range(20):
        reduced = fit_srp("srp", "x", 300, 50, seed=seed).transform(points)
        original = ((points[:30] - points[30:]) ** 2).sum(axis=1)
        ratios.append(((reduced[:30] - reduced[30:]) ** 2).sum(axis=1) / original)
    assert abs(float(np.mean(ratios)) - 1.0) < 0.03


def test_transform_runs_in_batches_and_checks_the_width() -> None:
    pca = fit_pca("pca", "x", X, 4)
    small = LinearReducer("pca", "pca", "x", pca.mean, pca.matrix, batch_size=7)
    np.testing.assert_array_equal(small.transform(X), pca.transform(X))
    assert pca.transform(X[:0]).shape == (0, 4)
    with pytest.raises(ValueError, match=r"takes \(n, 12\) values of field 'x'"):
        pca.transform(X[:, :5])
    again = LinearReducer.from_stored("pca", "pca", "x", pca.params(), pca.arrays())
    np.testing.assert_array_equal(again.transform(X), pca.transform(X))
    assert pca.component_names == ["pca_0", "pca_1", "pca_2", "pca_3"]
