"""Closed-form thresholds of the tabular CUSUM (pinned Page-Hinkley): Siegmund's approximation.

Page-Hinkley with a pinned reference is the tabular CUSUM of the standardised deviations
``d = (x - reference_mean) / reference_std``: per side ``S_t = max(0, S_{t-1} + Y_t)`` with
``Y = d - delta`` (up) or ``Y = -d - delta`` (down), an alarm when ``S_t > h``. For increments
with mean ``-mu`` and standard deviation ``s``, and ``theta`` the non-zero root of their cumulant
generating function ``K(theta) = log E exp(theta Y) = 0`` (exponential tilting), Siegmund's
corrected-diffusion approximation (Siegmund, *Sequential Analysis*, 1985, ch. X) is::

    ARL(h) = (exp(theta b) - 1 - theta b) / (theta mu),   b = h + 2 * 0.583 * s

Its exponent ``theta`` is the exact Cramér-Lundberg rate of the run length's tail, ``0.583 s``
the expected overshoot of a normal random walk over each of the two boundaries. For normal
increments ``theta = 2 mu / s^2`` and the formula is the textbook one (the *normal form*); for
other data ``theta`` is the root of the empirical cumulant generating function of the
standardised reference sample (:class:`StandardisedLaw`), which carries its skewness and tails
into the exponent, the part that dominates at large ARL0; the overshoot term is the normal one
unless fitted by simulation (:mod:`detectors.calibration.cusum_overshoot`: needed on skewed and
binary data, docs/calibration.md). The two sides of
a two-sided test combine as competing risks: ``1 / ARL = 1 / ARL_up + 1 / ARL_down``.

Reference uncertainty: the pinned mean and standard deviation are estimates from ``n`` reference
values, so the deviations seen in production are ``d = r z + m`` with ``z`` the standardised
in-control value, ``m = (mu - mu_hat) / sigma_hat`` and ``r = sigma / sigma_hat``. Given the
reference, ``(mu_hat, sigma_hat)`` is (asymptotically) normal around the truth, with variances
``1/n`` and ``(kurtosis - 1) / (4n)`` in units of sigma and correlation
``skewness / sqrt(kurtosis - 1)``. :class:`CusumModel` averages the false-alarm *rate* (the
expected number of false alarms per value, what a budget counts) over that law by Gauss-Hermite
quadrature; the threshold for a target ARL0 ``A`` makes that expected rate ``1 / A``.

Examples
--------
>>> from driftline.detectors.calibration.cusum import cusum_arl0, cusum_threshold
>>> round(cusum_arl0(4.0, 0.5), 1), round(cusum_arl0(5.0, 0.5), 1)   # table: 168, 465
(169.0, 469.1)
>>> h = cusum_threshold(1e9, 0.5)
>>> round(h, 2), round(cusum_arl0(h, 0.5) / 1e9, 6)
(19.56, 1.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from driftline.detectors.calibration.bisection import bisect

__all__ = ["OVERSHOOT", "CusumModel", "StandardisedLaw", "cusum_arl0", "cusum_threshold",
           "side_arl"]

#: expected overshoot of a normal random walk over a boundary, in units of its step's std
OVERSHOOT = 0.583
_NODES = 16  # Gauss-Hermite nodes per dimension of the reference-uncertainty average


@dataclass(frozen=True)
class StandardisedLaw:
    """In-control law of ``z = (x - mean) / std``: standard normal (``sample=None``) or the
    empirical law of a sample standardised with its own mean and standard deviation (ddof=1)."""

    sample: np.ndarray | None = None

    @classmethod
    def from_reference(cls, reference: np.ndarray) -> StandardisedLaw:
        """The empirical law of ``reference`` standardised (``ValueError`` without spread)."""
        x = np.asarray(reference, dtype=np.float64).ravel()
        std = float(np.std(x, ddof=1)) if len(x) > 1 else 0.0
        if not np.isfinite(x).all() or std == 0.0:
            raise ValueError("reference must hold finite values with a positive spread")
        return cls((x - x.mean()) / std)

    @property
    def normal(self) -> bool:
        return self.sample is None

    def moments(self) -> tuple[float, float]:
        """Skewness and kurtosis (3 and 0 for the normal law)."""
        if self.sample is None:
            return 0.0, 3.0
        z = self.sample / np.sqrt(np.mean(self.sample**2))
        return float(np.mean(z**3)), float(np.mean(z**4))

    def tilting_root(self, scale: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Non-zero roots ``theta`` of ``log E exp(theta (scale z + offset)) = 0``, elementwise.

        ``+inf`` where the increments can never be positive (no alarm ever), ``0`` where their
        mean is zero.
        """
        scale, offset = np.broadcast_arrays(np.asarray(scale, float), np.asarray(offset, float))
        if self.sample is None:
            return -2.0 * offset / scale**2
        z = self.sample
        mean = float(np.mean(z))  # ~0, kept so that the mean increment is exact
        drift = scale * mean + offset
        sign = np.where(drift < 0, 1.0, -1.0)  # the root lies on the side opposite the drift
        extreme = np.where(sign > 0, z.max(), z.min())
        reachable = sign * (scale * extreme + offset) > 0
        root = np.where(drift == 0, 0.0, np.inf)
        todo = (drift != 0) & reachable
        if todo.any():
            root[todo] = sign[todo] * _positive_root(z, scale[todo] * sign[todo],
                                                     offset[todo] * sign[todo])
        return root


def _log_mean_exp(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log mean(exp(t z))`` for each ``t`` (stable)."""
    a = np.multiply.outer(t, z)
    top = a.max(axis=1)
    return top + np.log(np.mean(np.exp(a - top[:, None]), axis=1))


def _positive_root(z: np.ndarray, scale: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Positive roots of ``K(t) = log mean exp(t scale z) + t offset`` (negative mean, a
    positive increment possible): ``K`` is convex, negative just right of 0, positive far out."""
    low = np.zeros_like(scale)
    high = np.maximum(-2.0 * offset / scale**2, 1e-12)
    for _ in range(200):  # grow the bracket until K(high) > 0
        positive = _log_mean_exp(z, high * scale) + high * offset > 0
        if positive.all():
            break
        high = np.where(positive, high, 2.0 * high)
    for _ in range(100):
        mid = 0.5 * (low + high)
        positive = _log_mean_exp(z, mid * scale) + mid * offset > 0
        low, high = np.where(positive, low, mid), np.where(positive, mid, high)
        if np.all(high - low <= 1e-13 * high):
            break
    return 0.5 * (low + high)


def side_arl(threshold: float, theta: np.ndarray, mu: np.ndarray, s: np.ndarray,
             overshoot: float | None = None) -> np.ndarray:
    """Siegmund's ARL of one side: increments of mean ``-mu``, std ``s``, tilting root
    ``theta`` (``inf`` where no increment can be positive); ``overshoot``: the boundary
    correction in units of ``s`` (default the normal one, ``2 * 0.583``)."""
    theta, mu, s = np.broadcast_arrays(np.asarray(theta, float), np.asarray(mu, float),
                                       np.asarray(s, float))
    b = threshold + (2.0 * OVERSHOOT if overshoot is None else overshoot) * s
    out = np.full(theta.shape, np.inf)
    finite = np.isfinite(theta)
    tb = theta[finite] * b[finite]
    small = np.abs(tb) < 1e-6
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        value = np.where(small, (b[finite] / s[finite]) ** 2,
                         np.expm1(tb) - tb) / np.where(small, 1.0, theta[finite] * mu[finite])
    out[finite] = value
    return out


def _uncertainty_nodes(law: StandardisedLaw, n_reference: int | None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quadrature nodes ``(r, m)`` and weights over the sampling law of the pinned moments."""
    if n_reference is None:
        return np.ones(1), np.zeros(1), np.ones(1)
    skew, kurt = law.moments()
    x, w = np.polynomial.hermite_e.hermegauss(_NODES)
    w = w / w.sum()
    z1, z2 = np.meshgrid(x, x, indexing="ij")
    weights = np.outer(w, w).ravel()
    corr = skew / math.sqrt(max(kurt - 1.0, 1e-12))
    corr = min(max(corr, -0.99), 0.99)
    mean_err = z1.ravel() / math.sqrt(n_reference)             # (mu_hat - mu) / sigma
    std_err = (corr * z1.ravel() + math.sqrt(1.0 - corr**2) * z2.ravel()) * math.sqrt(
        max(kurt - 1.0, 0.0) / (4.0 * n_reference))             # sigma_hat / sigma - 1
    ratio = np.maximum(1.0 + std_err, 0.05)                      # sigma_hat / sigma
    return 1.0 / ratio, -mean_err / ratio, weights


class CusumModel:
    """The pinned CUSUM's in-control false-alarm rate as a function of its threshold.

    Parameters
    ----------
    delta, direction
        Allowance (units of sigma) and the sides watched (``"up"``, ``"down"``, ``"both"``).
    law
        In-control law of the standardised values (default: normal, the normal form).
    n_reference
        Size of the sample the pinned moments come from; ``None``: they are exact.
    overshoot
        Boundary corrections ``(up, down)`` in units of each side's step std (default the
        normal ``2 * 0.583``; :func:`detectors.calibration.cusum_overshoot.fit_overshoot` fits
        them for other laws).
    """

    def __init__(self, delta: float, direction: str = "both",
                 law: StandardisedLaw | None = None, n_reference: int | None = None,
                 overshoot: tuple[float, float] | None = None) -> None:
        if not (math.isfinite(delta) and delta >= 0.0):
            raise ValueError(f"delta must be a finite number >= 0, got {delta!r}")
        if n_reference is not None and n_reference < 2:
            raise ValueError(f"n_reference must be >= 2 (or None), got {n_reference!r}")
        if direction not in ("up", "down", "both"):
            raise ValueError(f"direction must be 'up', 'down' or 'both', got {direction!r}")
        self.delta, self.direction, self.n_reference = delta, direction, n_reference
        self.law = law or StandardisedLaw()
        r, m, self.weights = _uncertainty_nodes(self.law, n_reference)
        flipped = StandardisedLaw(None if self.law.sample is None else -self.law.sample)
        up, down = overshoot if overshoot is not None else (None, None)
        self.sides: list[tuple[np.ndarray, np.ndarray, np.ndarray, float | None]] = []
        if direction in ("up", "both"):
            self.sides.append((self.law.tilting_root(r, m - delta), delta - m, r, up))
        if direction in ("down", "both"):
            self.sides.append((flipped.tilting_root(r, -m - delta), delta + m, r, down))

    def rate(self, threshold: float) -> float:
        """Expected false alarms per value at ``threshold``."""
        total = np.zeros_like(self.weights)
        for theta, mu, s, overshoot in self.sides:
            total += 1.0 / side_arl(threshold, theta, mu, s, overshoot)
        return float(np.dot(self.weights, total))

    def arl0(self, threshold: float) -> float:
        """``1 / rate``: the in-control average run length."""
        rate = self.rate(threshold)
        return math.inf if rate == 0.0 else 1.0 / rate

    def threshold(self, target_arl0: float, *, xtol: float = 1e-9) -> float:
        """Threshold whose expected false-alarm rate is ``1 / target_arl0``.

        ``ValueError`` when no threshold reaches it (a reference mean so uncertain against
        ``delta`` that the expected rate stays above the target: raise one or the other).
        """
        if not (math.isfinite(target_arl0) and target_arl0 > 1.0):
            raise ValueError(f"target_arl0 must be a finite number > 1, got {target_arl0!r}")
        goal = 1.0 / target_arl0
        if self.rate(0.0) <= goal:
            return 0.0
        high = 1.0
        while self.rate(high) > goal:
            high *= 2.0
            if high > 1e7:
                raise ValueError(
                    f"no CUSUM threshold reaches target_arl0={target_arl0:g} with "
                    f"delta={self.delta:g} and a reference of {self.n_reference} values (its "
                    "mean error alone drifts the statistic): raise delta or the reference size")
        return bisect(lambda h: self.rate(h) <= goal, high, 0.0, xtol=xtol * max(1.0, high))


def cusum_arl0(threshold: float, delta: float, direction: str = "both",
               law: StandardisedLaw | None = None, n_reference: int | None = None) -> float:
    """In-control ARL of the pinned CUSUM (:class:`CusumModel`)."""
    return CusumModel(delta, direction, law, n_reference).arl0(threshold)


def cusum_threshold(target_arl0: float, delta: float, direction: str = "both",
                    law: StandardisedLaw | None = None, n_reference: int | None = None) -> float:
    """Threshold of the pinned CUSUM for ``target_arl0`` (:meth:`CusumModel.threshold`)."""
    return CusumModel(delta, direction, law, n_reference).threshold(target_arl0)
