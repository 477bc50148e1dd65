"""Linear reducers: principal components (PCA) and a sparse random projection (SRP).

Both map ``x`` to ``(x - mean) @ matrix`` with ``matrix`` of shape ``(input_size, k)``.

* :func:`fit_pca`: ``mean`` is the reference mean and the columns of ``matrix`` are the first
  ``k`` right singular vectors of the centred reference (float64 SVD), each signed so that its
  entry of largest magnitude is positive (scikit-learn's convention, so the components equal
  ``sklearn.decomposition.PCA``'s); ``k`` is given, or the smallest that explains a fraction
  ``explained_variance`` of the reference variance.
* :func:`fit_srp`: no centring; ``matrix`` has entries ``+-sqrt(1 / (density k))`` with
  probability ``density / 2`` each and 0 otherwise, ``density = 1 / sqrt(input_size)`` (Li,
  Hastie & Church, "Very sparse random projections", KDD 2006; scikit-learn's
  ``SparseRandomProjection`` default), drawn from ``seed``. Distances are preserved in
  expectation (Johnson-Lindenstrauss).

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(500, 5)) @ np.diag([5.0, 2.0, 1.0, 0.1, 0.1])
>>> pca = fit_pca("pca", "x", X, explained_variance=0.95)
>>> pca.n_components, [round(v, 2) for v in pca.explained_variance_ratio]
(2, [0.84, 0.13])
>>> srp = fit_srp("srp", "x", 5, 3, seed=0)
>>> srp.transform(X.astype(np.float32)).shape
(500, 3)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from driftline.model.reducers.base import BATCH_ROWS, Reducer

__all__ = ["LinearReducer", "fit_pca", "fit_srp"]


class LinearReducer(Reducer):
    """``(x - mean) @ matrix`` (``kind`` ``"pca"`` or ``"srp"``)."""

    def __init__(self, kind: str, name: str, field: str, mean: np.ndarray, matrix: np.ndarray,
                 explained_variance_ratio: list[float] | None = None, seed: int | None = None,
                 batch_size: int = BATCH_ROWS) -> None:
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        mean = np.ascontiguousarray(mean, dtype=np.float32)
        if matrix.ndim != 2 or mean.shape != (matrix.shape[0],):
            raise ValueError(f"reducer {name!r}: mean {mean.shape} and matrix {matrix.shape} do "
                             "not fit")
        super().__init__(name, field, matrix.shape[0], matrix.shape[1], batch_size)
        self.kind = kind
        self.mean = mean
        self.matrix = matrix
        self.explained_variance_ratio = list(explained_variance_ratio or [])
        self.seed = seed
        self._mean_t = torch.from_numpy(self.mean)
        self._matrix_t = torch.from_numpy(self.matrix)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self._mean_t) @ self._matrix_t

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "matrix": self.matrix}

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input_size": self.input_size}
        if self.kind == "pca":
            out["explained_variance_ratio"] = self.explained_variance_ratio
        if self.seed is not None:
            out["seed"] = self.seed
        return out

    @classmethod
    def from_stored(cls, kind: str, name: str, field: str, params: dict[str, Any],
                    arrays: dict[str, np.ndarray]) -> LinearReducer:
        """Rebuild from :meth:`params` and :meth:`arrays`."""
        return cls(kind, name, field, arrays["mean"], arrays["matrix"],
                   params.get("explained_variance_ratio"), params.get("seed"))


def fit_pca(name: str, field: str, reference: np.ndarray, n_components: int | None = None,
            explained_variance: float | None = None) -> LinearReducer:
    """PCA of the reference rows ``(n, input_size)`` (see the module docstring)."""
    X = np.asarray(reference, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"reducer {name!r}: PCA needs at least 2 reference rows, got "
                         f"{X.shape[0] if X.ndim == 2 else X.shape}")
    mean = X.mean(axis=0)
    _, singular, vt = np.linalg.svd(X - mean, full_matrices=False)
    variance = singular**2
    total = float(variance.sum())
    if total == 0.0:
        raise ValueError(f"reducer {name!r}: the reference of field {field!r} is constant; "
                         "PCA has no direction to keep")
    ratio = variance / total
    if n_components is None:
        if explained_variance is None:
            raise ValueError("give n_components or explained_variance")
        n_components = int(np.searchsorted(np.cumsum(ratio), explained_variance - 1e-12) + 1)
    if n_components > vt.shape[0]:
        raise ValueError(f"reducer {name!r}: {n_components} components, but {X.shape[0]} "
                         f"reference rows of {X.shape[1]} values give at most {vt.shape[0]}")
    components = vt[:n_components]
    strongest = np.argmax(np.abs(components), axis=1)
    components = components * np.sign(components[np.arange(n_components), strongest])[:, None]
    return LinearReducer("pca", name, field, mean, components.T,
                         [float(v) for v in ratio[:n_components]])


def fit_srp(name: str, field: str, input_size: int, n_components: int,
            seed: int = 0) -> LinearReducer:
    """A sparse random projection from ``input_size`` to ``n_components`` values (see the module
    docstring)."""
    density = 1.0 / math.sqrt(input_size)
    rng = np.random.default_rng(seed)
    draws = rng.random((input_size, n_components))
    scale = math.sqrt(1.0 / (density * n_components))
    matrix = np.where(draws < density / 2, -scale, np.where(draws < density, scale, 0.0))
    return LinearReducer("srp", name, field, np.zeros(input_size), matrix, seed=seed)
