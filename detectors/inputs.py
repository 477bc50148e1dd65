"""Input kinds: what a detector consumes, how values are checked, and synthetic streams of it.

Every detector declares the kinds it accepts (``DriftDetector.input_kinds``); a detector that
accepts several selects one with its ``kind`` parameter, named after the kind. The base class
turns raw input into validated values through the kind, so a new kind (for example categorical
codes for a chi-square test) is one subclass here:

* :data:`REAL` — real values (a feature, a prediction score, a real-valued model error);
* :data:`BINARY` — 0/1 model errors (any other value raises ``ValueError`` naming it);
* :data:`VECTOR` — one row of features per update;
* :data:`CATEGORICAL` — integer category codes (a
  :class:`dataloader.field_values.CategoryVocabulary`'s codes: a non-integer or negative value
  raises ``ValueError`` naming it; NaN / inf follow the non-finite policy).

:meth:`InputKind.synthetic` draws a stream of the kind whose distribution moves every
``regime_length`` values; the protocol test builds every detector's input from it.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.inputs import BINARY, CATEGORICAL, REAL
>>> errors = BINARY.synthetic(np.random.default_rng(0), 10_000)
>>> sorted(set(errors.tolist())), round(float(errors.mean()), 2)
([0.0, 1.0], 0.1)
>>> REAL.finite_mask(np.array([1.0, np.nan, np.inf])).tolist()
[True, False, False]
>>> codes = CATEGORICAL.synthetic(np.random.default_rng(0), 10_000)
>>> np.bincount(codes.astype(int)).tolist()[:3], int(codes.max())
([3994, 2468, 1519], 5)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from driftline.detectors.contingency import MAX_CODE

__all__ = ["BINARY", "CATEGORICAL", "REAL", "VECTOR", "InputKind", "NonFiniteInputError"]


class NonFiniteInputError(ValueError):
    """Raised when a detector with ``on_nonfinite="raise"`` receives NaN or ±inf."""


class InputKind:
    """A kind of input value (scalar kinds here; :class:`Vectors` for rows of features).

    Subclasses set ``name``, ``description`` and ``value_ndim`` (0: one number per update, 1:
    one vector) and may override :meth:`check` (rules beyond finiteness) and
    :meth:`synthetic`.
    """

    name = "real"
    description = "real values"
    value_ndim = 0

    def coerce_one(self, owner: str, x: Any) -> tuple[Any, bool]:
        """``(value, finite)`` for one raw input; raises ``TypeError`` on a non-number."""
        if isinstance(x, bool | np.bool_):
            x = int(x)
        if not isinstance(x, int | float | np.integer | np.floating):
            raise TypeError(f"{owner}.update expects a real number, got "
                            f"{type(x).__name__}: {x!r}")
        value = float(x)
        return value, math.isfinite(value)

    def coerce_many(self, owner: str, xs: Any) -> np.ndarray:
        """A batch as a float array of the kind's shape; raises ``ValueError`` otherwise."""
        arr = np.asarray(xs, dtype=np.float64)
        if arr.ndim != self.value_ndim + 1:
            raise ValueError(f"{owner}.update_many expects a {self.value_ndim + 1}-D array, got "
                             f"shape {arr.shape}")
        return arr

    def finite_mask(self, values: np.ndarray) -> np.ndarray:
        """Which entries of a batch are finite (a vector: all its components)."""
        finite = np.isfinite(values)
        return finite if finite.ndim == 1 else finite.all(axis=tuple(range(1, finite.ndim)))

    def check_one(self, owner: str, value: Any) -> None:
        """Raise ``ValueError`` if a finite value breaks the kind's rules (default: none)."""

    def check(self, owner: str, values: np.ndarray) -> None:
        """Raise ``ValueError`` naming the first finite value that breaks the kind's rules."""

    def check_rows(self, owner: str, rows: np.ndarray) -> np.ndarray | None:
        """Mask of the non-finite entries of bank rows ``(n, features)``, None if all are
        finite; finite entries are checked with :meth:`check`."""
        finite = np.isfinite(rows)
        if finite.all():
            self.check(owner, rows)
            return None
        return ~finite

    def synthetic(self, rng: np.random.Generator, n: int, *, regime_length: int | None = None,
                  dims: int = 3) -> np.ndarray:
        """``n`` values N(mu, 1.3^2); ``mu`` is redrawn from N(0, 2^2) every ``regime_length``
        values (never when None)."""
        noise = rng.normal(size=n) * 1.3
        return noise + _regimes(rng, n, regime_length, lambda k: rng.normal(size=k) * 2.0)


class BinaryErrors(InputKind):
    """0/1 model errors (1 = the model was wrong)."""

    name = "binary"
    description = "0/1 errors"

    def check_one(self, owner: str, value: Any) -> None:
        if value != 0.0 and value != 1.0:
            self.check(owner, np.array([value]))

    def check(self, owner: str, values: np.ndarray) -> None:
        bad = (values != 0.0) & (values != 1.0)
        if bad.any():
            where = np.argwhere(bad)[0]
            position = int(where[0]) if len(where) == 1 else tuple(int(i) for i in where)
            raise ValueError(
                f"{owner} with kind='binary' expects 0/1 errors, got "
                f"{float(values[tuple(where)])!r} at position {position}; use kind='real' for "
                "real-valued errors")

    def check_rows(self, owner: str, rows: np.ndarray) -> np.ndarray | None:
        # 0/1 rows are finite: the finiteness pass is only needed when some value is not 0/1
        if not ((rows != 0.0) & (rows != 1.0)).any():
            return None
        return super().check_rows(owner, rows)

    def synthetic(self, rng: np.random.Generator, n: int, *, regime_length: int | None = None,
                  dims: int = 3) -> np.ndarray:
        """0/1 errors at a rate of 0.1; with ``regime_length`` the rate alternates between 0.05
        and a rate drawn from {0.2, 0.5} every ``regime_length`` values (errors rise every
        other regime)."""
        def draw(k: int) -> np.ndarray:
            high = rng.choice([0.2, 0.5], size=k)
            return np.where(np.arange(k) % 2 == 1, high, 0.05) - 0.1

        rates = 0.1 + _regimes(rng, n, regime_length, draw)
        return (rng.random(n) < rates).astype(np.float64)


class Vectors(InputKind):
    """One row of real features per update."""

    name = "vector"
    description = "vectors of real features"
    value_ndim = 1

    def coerce_one(self, owner: str, x: Any) -> tuple[Any, bool]:
        vec = np.asarray(x, dtype=np.float64)
        if vec.ndim != 1:
            raise ValueError(f"{owner}.update expects a 1-D vector, got shape {vec.shape}")
        return vec, bool(np.isfinite(vec).all())

    def synthetic(self, rng: np.random.Generator, n: int, *, regime_length: int | None = None,
                  dims: int = 3) -> np.ndarray:
        """Rows N(mu, I); every ``regime_length`` rows ``mu`` is redrawn from N(0, 1) per
        feature."""
        shift = _regimes(rng, n, regime_length, lambda k: rng.normal(size=(k, dims)), dims)
        return rng.normal(size=(n, dims)) + shift


class CategoryCodes(InputKind):
    """Integer category codes in ``[0, 2**31)``, one per update (carried as floats so that NaN
    can mark a missing value; whole floats such as ``3.0`` are codes)."""

    name = "categorical"
    description = "integer category codes"
    #: base frequencies of the synthetic streams' codes 0..5; code 6 appears only after a change
    BASE = (0.4, 0.25, 0.15, 0.1, 0.06, 0.04)

    def check_one(self, owner: str, value: Any) -> None:
        if not (0.0 <= value <= MAX_CODE and value == math.floor(value)):
            self.check(owner, np.array([value]))

    def check(self, owner: str, values: np.ndarray) -> None:
        bad = (values < 0.0) | (values > MAX_CODE) | (values != np.floor(values))
        if bad.any():
            where = np.argwhere(bad)[0]
            position = int(where[0]) if len(where) == 1 else tuple(int(i) for i in where)
            raise ValueError(
                f"{owner} with kind='categorical' expects integer category codes in "
                f"[0, {MAX_CODE}], got {float(values[tuple(where)])!r} at position {position}")

    def synthetic(self, rng: np.random.Generator, n: int, *, regime_length: int | None = None,
                  dims: int = 3) -> np.ndarray:
        """Codes 0..5 at the frequencies :data:`BASE`; with ``regime_length`` every other
        regime draws codes 0..6 (6 is new) at frequencies drawn from a Dirichlet(0.5)
        distribution."""
        base = np.r_[self.BASE, 0.0]
        n_regimes = 1 if regime_length is None else -(-n // regime_length)
        frequencies = np.where(np.arange(n_regimes)[:, None] % 2 == 1,
                               rng.dirichlet(np.full(len(base), 0.5), size=n_regimes), base)
        length = n if regime_length is None else regime_length
        per_value = np.repeat(frequencies, length, axis=0)[:n]
        cumulative = np.cumsum(per_value, axis=1)
        draws = rng.random(n)[:, None]
        return np.minimum((draws >= cumulative).sum(axis=1), len(base) - 1).astype(np.float64)


def _regimes(rng: np.random.Generator, n: int, regime_length: int | None, draw: Any,
             dims: int | None = None) -> np.ndarray:
    """Per-value level of a stream whose level is redrawn every ``regime_length`` values."""
    if regime_length is None:
        return np.zeros(n) if dims is None else np.zeros((n, dims))
    levels = draw(-(-n // regime_length))
    return np.repeat(levels, regime_length, axis=0)[:n]


REAL = InputKind()
CATEGORICAL = CategoryCodes()
BINARY = BinaryErrors()
VECTOR = Vectors()
