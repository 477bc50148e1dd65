"""The two-sample tests of Failing Loudly's protocol, on a clean sample ``x`` and a possibly shifted
sample ``y`` of reduced vectors (rows).

* :func:`ks_bonferroni_p` -- a two-sample Kolmogorov-Smirnov test per component
  (``scipy.stats.ks_2samp``, exact p-values for these sizes, as FL), combined with Bonferroni:
  ``min(1, k * min_j p_j)``; shift is detected when it is ``<= alpha``.
* :func:`mmd_permutation_p` -- the unbiased MMD^2 statistic (Gretton et al., JMLR 2012) with a
  Gaussian kernel ``exp(-gamma ||a - b||^2)``, ``gamma = 1 / median ||x_i - y_j||`` (FL's choice,
  through ``torch_two_sample``), and its permutation p-value
  ``(1 + #{permutations >= observed}) / (1 + permutations)``. All permutations of a test are one
  batched matrix product in torch: with the pooled kernel matrix ``K`` (zero diagonal) and a
  matrix ``A`` whose columns mark each permutation's ``x`` rows, the within- and between-sample
  sums are the column sums of ``A * (K A)`` and ``(1 - A) * (K A)``.
* :func:`chi2_classes_p` -- the chi-square test of homogeneity of the predicted classes (the
  2 x K table of counts, FL's test for "BBSDh"), with a permutation p-value: the chi-square
  approximation is far too liberal at these sizes (n = 10 spreads over 10 classes; FL's fallback
  to a goodness-of-fit test with zero expected counts even detects shift whenever a class is
  missing from the clean sample).

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x, y = rng.normal(size=(100, 3)), rng.normal(size=(100, 3)) + [0, 0, 1]
>>> ks_bonferroni_p(x, y) < 0.05, ks_bonferroni_p(x, rng.normal(size=(100, 3))) > 0.05
(True, True)
>>> round(mmd_permutation_p(x, y, 200, rng), 3), mmd_permutation_p(x, x.copy(), 200, rng) > 0.5
(0.005, True)
>>> classes = rng.integers(0, 3, 200)
>>> chi2_classes_p(classes[:100], classes[100:], 3, 200, rng) > 0.05
True
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

__all__ = ["chi2_classes_p", "ks_bonferroni_p", "mmd_permutation_p", "unbiased_mmd2"]


def ks_bonferroni_p(x: np.ndarray, y: np.ndarray) -> float:
    """Bonferroni-combined p-value of a KS test per component of ``x`` ``(n, k)`` and ``y``."""
    from scipy.stats import ks_2samp

    x, y = np.atleast_2d(np.asarray(x, dtype=np.float64)), np.asarray(y, dtype=np.float64)
    k = x.shape[1]
    with warnings.catch_warnings():  # scipy falls back to the asymptotic p-value, and says so
        warnings.simplefilter("ignore", RuntimeWarning)
        p_values = np.atleast_1d(ks_2samp(x, y, axis=0).pvalue)
    return float(min(1.0, k * float(p_values.min())))


def _kernel(x: np.ndarray, y: np.ndarray) -> torch.Tensor:
    pooled = torch.from_numpy(np.ascontiguousarray(np.r_[x, y], dtype=np.float32))
    squared = torch.cdist(pooled, pooled).square_()
    between = squared[: len(x), len(x):].sqrt()
    median = float(between.median()) if between.numel() else 1.0
    gamma = 1.0 / median if median > 0 else 1.0
    kernel = torch.exp(-gamma * squared)
    kernel.fill_diagonal_(0.0)
    return kernel


def _statistics(kernel: torch.Tensor, marks: torch.Tensor, n: int, m: int) -> np.ndarray:
    """Unbiased MMD^2 of the splits whose ``x`` rows are the ones in each column of ``marks``."""
    product = kernel @ marks
    within_x = (marks * product).sum(dim=0).double()
    between = ((1.0 - marks) * product).sum(dim=0).double()
    total = kernel.sum().double()
    within_y = total - within_x - 2.0 * between
    values = (within_x / (n * (n - 1)) + within_y / (m * (m - 1)) - 2.0 * between / (n * m))
    return values.numpy()


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD^2 of ``x`` and ``y`` under :func:`mmd_permutation_p`'s kernel."""
    n, m = len(x), len(y)
    marks = torch.zeros(n + m, 1)
    marks[:n] = 1.0
    return float(_statistics(_kernel(x, y), marks, n, m)[0])


def mmd_permutation_p(x: np.ndarray, y: np.ndarray, permutations: int,
                      rng: np.random.Generator, batch: int = 250) -> float:
    """Permutation p-value of the unbiased MMD^2 of ``x`` ``(n, k)`` and ``y`` ``(m, k)``."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError(f"MMD needs at least 2 rows per sample, got {n} and {m}")
    with torch.inference_mode():
        kernel = _kernel(x, y)
        observed = unbiased_mmd2(x, y)
        exceed = 0
        for start in range(0, permutations, batch):
            count = min(batch, permutations - start)
            order = np.argsort(rng.random((count, n + m)), axis=1)[:, :n]
            marks = np.zeros((n + m, count), dtype=np.float32)
            marks[order, np.arange(count)[:, None]] = 1.0
            values = _statistics(kernel, torch.from_numpy(marks), n, m)
            exceed += int((values >= observed - 1e-12).sum())
    return (1 + exceed) / (1 + permutations)


def _chi2_statistics(tables: np.ndarray) -> np.ndarray:
    """Pearson's homogeneity statistic of ``(P, 2, K)`` count tables (no empty column)."""
    rows = tables.sum(axis=2, keepdims=True)
    columns = tables.sum(axis=1, keepdims=True)
    expected = rows * columns / tables.sum(axis=(1, 2), keepdims=True)
    return ((tables - expected) ** 2 / expected).sum(axis=(1, 2))


def chi2_classes_p(x_classes: np.ndarray, y_classes: np.ndarray, n_classes: int,
                   permutations: int, rng: np.random.Generator) -> float:
    """Permutation p-value of the chi-square homogeneity statistic of two samples' class counts
    (see the module docstring)."""
    x_classes = np.asarray(x_classes, dtype=np.int64)
    pooled = np.r_[x_classes, np.asarray(y_classes, dtype=np.int64)]
    present = np.unique(pooled)
    if present.size < 2:
        return 1.0
    codes = np.searchsorted(present, pooled)
    n, k = x_classes.size, present.size
    observed = _chi2_statistics(np.stack([np.bincount(codes[:n], minlength=k),
                                          np.bincount(codes[n:], minlength=k)])[None])[0]
    order = np.argsort(rng.random((permutations, pooled.size)), axis=1)
    first = codes[order[:, :n]] + k * np.arange(permutations)[:, None]
    x_counts = np.bincount(first.ravel(), minlength=permutations * k).reshape(permutations, k)
    totals = np.bincount(codes, minlength=k)
    statistics = _chi2_statistics(np.stack([x_counts, totals - x_counts], axis=1))
    return float((1 + np.count_nonzero(statistics >= observed - 1e-9)) / (1 + permutations))
