"""Exact-arithmetic random Fourier features of NM-DDM's reference and windows.

Helpers of :mod:`detectors.nm_ddm`. The feature map is built so that the feature of one row never
depends on which batch the row arrived in:

* standardised inputs and the frequencies are rounded to dyadic grids chosen so that every product
  and partial sum of ``z @ W`` is an exactly representable float64; the matrix product is then
  exact whatever order BLAS sums in (single row or batch, FMA or not);
* ``cos``/``sin`` are element-wise;
* the features are rounded to integers (``FEATURE_SCALE`` per unit), so window sums are int64 and
  adding/removing rows is exact — no floating-point drift over millions of steps, and a cumulative
  sum over a batch gives the same sums as the one-at-a-time loop.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FEATURE_SCALE", "ExactFourierFeatures", "ReferenceModel", "median_bandwidth",
           "mmd2_from_means", "mmd2_of_column_sums"]

FEATURE_SCALE = float(2**30)
#: standardised inputs are clipped to this many reference standard deviations (the Gaussian
#: kernel between such a point and the reference is already 0 to machine precision)
Z_CLIP = 256.0
_MANTISSA_BITS = 53


def median_bandwidth(z: np.ndarray, max_points: int = 1000) -> float:
    """Median pairwise Euclidean distance of (up to ``max_points`` of) the rows of ``z``."""
    pts = z[:max_points]
    sq = np.sum(pts * pts, axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (pts @ pts.T)
    iu = np.triu_indices(len(pts), k=1)
    return float(np.sqrt(max(float(np.median(np.maximum(d2[iu], 0.0))), 0.0)))


class ExactFourierFeatures:
    """Random Fourier features of the Gaussian kernel with batch-independent integer output.

    ``phi(z) = [cos(z @ W), sin(z @ W)]`` with ``W ~ N(0, bandwidth^-2)`` of shape
    ``(d, n_frequencies)``; ``phi(x) . phi(y) / n_frequencies`` is an unbiased estimate of
    ``exp(-||x - y||^2 / (2 bandwidth^2))`` (Rahimi & Recht 2007; the cos/sin pairing has lower
    variance than the phase-shifted cosine, Sutherland & Schneider 2015).
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray, frequencies: np.ndarray) -> None:
        self.mean = mean
        self.scale = scale
        d, n_freq = frequencies.shape
        self.n_frequencies = n_freq
        w_max = float(np.max(np.abs(frequencies)))
        # d * |z|max * |W|max * 2^(a+b) <= 2^53 makes z_q @ W_q exact in float64.
        budget = (_MANTISSA_BITS - 1 - math.ceil(math.log2(max(d, 2)))
                  - math.ceil(math.log2(Z_CLIP)) - math.ceil(math.log2(max(w_max, 2.0**-30))))
        if budget < 24:
            raise ValueError(
                f"bandwidth is too small for exact features (largest frequency {w_max:.3g}); "
                "use a larger bandwidth"
            )
        self._z_grid = float(2 ** (budget // 2))
        self._w_grid = float(2 ** (budget - budget // 2))
        self.frequencies = np.round(frequencies * self._w_grid) / self._w_grid

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """Standardised, clipped and grid-rounded inputs (rows of ``x``)."""
        z = np.subtract(x, self.mean)
        np.divide(z, self.scale, out=z)
        np.minimum(z, Z_CLIP, out=z)
        np.maximum(z, -Z_CLIP, out=z)
        np.multiply(z, self._z_grid, out=z)
        np.rint(z, out=z)
        np.multiply(z, 1.0 / self._z_grid, out=z)  # exact: the grid is a power of two
        return z

    def float_features(self, x: np.ndarray) -> np.ndarray:
        """``(n, 2 * n_frequencies)`` float features of the rows of ``x``."""
        proj = self.standardise(x) @ self.frequencies
        out = np.empty((len(proj), 2 * self.n_frequencies))
        np.cos(proj, out=out[:, :self.n_frequencies])
        np.sin(proj, out=out[:, self.n_frequencies:])
        return out

    def int_features(self, x: np.ndarray) -> np.ndarray:
        """Float features rounded to int64 multiples of ``1 / FEATURE_SCALE``, ``(n, 2 *
        n_frequencies)`` (a transposed view of :meth:`int_feature_columns`)."""
        return self.int_feature_columns(x).T

    def int_feature_columns(self, x: np.ndarray) -> np.ndarray:
        """The integer features of the rows of ``x`` as columns: C-contiguous ``(2 *
        n_frequencies, n)``, so that sums along the stream run over contiguous memory.

        The projection is accumulated one input dimension at a time; every product and partial
        sum is exact (see the class), so this equals ``standardise(x) @ frequencies`` bit for
        bit, without a BLAS call (slow for an inner dimension this small).
        """
        z = self.standardise(x)
        n_freq = self.n_frequencies
        proj = np.empty((n_freq, len(z)))
        np.multiply(self.frequencies[0][:, None], z[:, 0], out=proj)
        term = np.empty_like(proj)
        for j in range(1, z.shape[1]):
            np.multiply(self.frequencies[j][:, None], z[:, j], out=term)
            np.add(proj, term, out=proj)
        phi = np.empty((2 * n_freq, len(z)))
        np.cos(proj, out=phi[:n_freq])
        np.sin(proj, out=phi[n_freq:])
        np.multiply(phi, FEATURE_SCALE, out=phi)
        np.rint(phi, out=phi)
        return phi.astype(np.int64)


def mmd2_from_means(
    window_mean: np.ndarray,
    count: np.ndarray | float,
    ref_mean: np.ndarray,
    ref_count: int,
    n_frequencies: int,
    unbiased: bool,
) -> np.ndarray:
    """RFF estimate of MMD^2 between windows (rows of ``window_mean``) and the reference.

    Biased (V-statistic): ``||mean_w - mean_ref||^2 / n_frequencies``. Unbiased: the diagonal
    ``k(x, x) = 1`` terms are removed from the within-sample averages. Row results depend only on
    the row (element-wise operations and a contiguous row sum), so batch and loop agree exactly.
    """
    if not unbiased:
        diff = window_mean - ref_mean
        return np.sum(diff * diff, axis=1) / n_frequencies
    count = np.asarray(count, dtype=np.float64)
    # a one-row window has no off-diagonal pair; max(count - 1, 1) keeps that case finite
    within_w = (np.sum(window_mean * window_mean, axis=1) / n_frequencies * count - 1.0) / (
        np.maximum(count - 1.0, 1.0))
    within_r = (float(ref_mean @ ref_mean) / n_frequencies * ref_count - 1.0) / (ref_count - 1.0)
    cross = np.sum(window_mean * ref_mean, axis=1) / n_frequencies
    return within_w + within_r - 2.0 * cross


def mmd2_of_column_sums(
    sums: np.ndarray,
    count: float,
    ref_mean: np.ndarray,
    ref_count: int,
    n_frequencies: int,
    unbiased: bool,
) -> np.ndarray:
    """:func:`mmd2_from_means` of windows given as integer feature sums in columns.

    ``sums`` is ``(2 * n_frequencies, m)`` int64 (one window per column, ``count`` rows each,
    features scaled by ``FEATURE_SCALE``). The element-wise steps run in that layout, where
    they are contiguous; each window's terms are then summed as a contiguous row, exactly as
    :func:`mmd2_from_means` sums them, so the results are identical bit for bit.
    """
    means = sums.astype(np.float64)
    np.divide(means, count * FEATURE_SCALE, out=means)
    counts = np.full(means.shape[1], float(count))
    if unbiased:
        return mmd2_from_means(np.ascontiguousarray(means.T), counts, ref_mean, ref_count,
                               n_frequencies, unbiased)
    np.subtract(means, ref_mean[:, None], out=means)
    np.multiply(means, means, out=means)
    return np.sum(np.ascontiguousarray(means.T), axis=1) / n_frequencies


class ReferenceModel:
    """NM-DDM's reference, split and embedded (steps 1-2 of :mod:`detectors.nm_ddm`).

    ``embed`` / ``hold``: the embedding and held-out rows; ``bandwidth``: the kernel bandwidth
    (``bandwidth`` or the median heuristic); ``features``: the exact feature map;
    ``ref_mean``: the mean integer feature of the embedding rows, in feature units. The three
    random streams (split, frequencies, calibration) derive from ``random_state``.
    """

    def __init__(self, reference: np.ndarray, holdout_fraction: float, bandwidth: float | None,
                 n_features_rff: int, random_state: int) -> None:
        n_ref, d = reference.shape
        n_hold = round(holdout_fraction * n_ref)
        if not 2 <= n_hold <= n_ref - 2:
            raise ValueError(f"holdout_fraction={holdout_fraction} leaves fewer than 2 reference "
                             f"rows in one part (n_ref={n_ref})")
        split_seq, freq_seq, self.calibration_seed = np.random.SeedSequence(random_state).spawn(3)
        order = np.random.default_rng(split_seq).permutation(n_ref)
        self.embed, self.hold = reference[order[n_hold:]], reference[order[:n_hold]]
        mean = reference.mean(axis=0)
        std = reference.std(axis=0)
        scale = np.where(std > 0, std, 1.0)
        if bandwidth is None:
            bandwidth = median_bandwidth((self.embed - mean) / scale)
            if bandwidth <= 0:
                raise ValueError("reference has a zero median pairwise distance; pass bandwidth")
        self.bandwidth = bandwidth
        self.n_frequencies = n_features_rff // 2
        freqs = np.random.default_rng(freq_seq).normal(
            0.0, 1.0 / bandwidth, size=(d, self.n_frequencies))
        self.features = ExactFourierFeatures(mean, scale, freqs)
        embed_int = self.features.int_features(self.embed)
        self.ref_mean = embed_int.sum(axis=0).astype(np.float64) / (
            len(embed_int) * FEATURE_SCALE)
