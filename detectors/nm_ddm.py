"""NM-DDM: Nonparametric Multidimensional Drift Detection Method.

"NM-DDM" has no standard definition; this is driftline's. It is a sliding-window kernel two-sample
test (Gretton et al., "A Kernel Two-Sample Test", JMLR 13, 2012) made O(D d) per update with random
Fourier features (Rahimi & Recht, "Random Features for Large-Scale Kernel Machines", NIPS 2007).

Definition
----------
1. The reference sample ``(n_ref, d)`` (the training-time profile) is standardised feature-wise
   with its own mean and standard deviation (a zero standard deviation is replaced by 1). It is
   split at random into an *embedding* part (``1 - holdout_fraction``) and a *held-out* part.
2. Gaussian kernel ``k(x, y) = exp(-||x - y||^2 / (2 s^2))`` on standardised inputs; ``s`` is
   ``bandwidth`` or, by default, the median pairwise distance of the embedding part (median
   heuristic). It is approximated by ``n_features_rff`` random Fourier features
   ``phi(z) = [cos(z W), sin(z W)]``, ``W ~ N(0, s^-2)`` of shape ``(d, n_features_rff / 2)``,
   ``k(x, y) ~ phi(x) . phi(y) / (n_features_rff / 2)``.
3. The statistic after each update is the RFF estimate of MMD^2 between the last ``window_size``
   inputs and the embedding part: ``||mean_w phi - mean_ref phi||^2 / (n_features_rff / 2)``
   (the biased V-statistic), or with ``unbiased=True`` the U-statistic of within-sample terms
   (diagonal ``k(x, x) = 1`` removed). The window sum of ``phi`` is kept in int64 (features
   rounded to 2^-30), so adding the newest and subtracting the oldest row is exact. Standardised
   inputs are clipped to +-256 and rounded to a fine dyadic grid so that ``z W`` is computed
   exactly; a row's features therefore never depend on the batch it arrived in, and
   ``update_many`` equals the loop bit for bit.
4. The threshold is calibrated for a target *mean run length to a false alarm*, ``target_arl0``:
   stationary streams are bootstrapped from the held-out part (``calibration_steps`` steps in
   all, default ``50 * target_arl0``), and the threshold is the smallest simulated statistic value
   at which a detector that restarts after each alarm raises at most one alarm per
   ``target_arl0`` steps (a renewal estimate of ARL0). The sampling error of the reference mean
   embedding is propagated into the simulation (see
   :func:`detectors.calibration.mmd_null.calibrate_mmd_null`). At most 1,000,000 steps are
   simulated; targets beyond what they can count use the null tail fitted there and
   extrapolated (budget-sized targets of 10^8-10^10 rows).
   ``p_value`` is the empirical upper-tail probability of the current statistic under the
   simulated null of full-window statistics.
5. Drift is signalled when the window is full and ``statistic > threshold``; with
   ``reset_on_drift`` the window is then emptied.

The calibrated ARL0 is an average over the sampling uncertainty of the reference embedding: for
one given reference the realised ARL0 scatters around the target, widely when the embedding part
is not much larger than the window (measured: ARL0/target between 0.35 and 3.6 over seeds with
``n_ref=1000, window_size=500``; between 0.8 and 1.5 with ``n_ref=4000, window_size=200``), so
keep ``n_ref`` at several times ``window_size``. The biased statistic compares the window with the
reference at the rate ``~ 1 / window_size``; the RFF estimate has a relative error of about
``std_w(f) / (mean_w(f) sqrt(n_features_rff / 2))`` (a few tens of percent at the default 256).

Calibration runs lazily (first update, ``statistics``, ``state_dict`` or :meth:`NMDDM.calibrate`)
and is stored in ``state_dict`` so a restored detector does not repeat it. Everything random
derives from ``random_state``; the RFF weights are regenerated from it, bit for bit.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.nm_ddm import NMDDM
>>> rng = np.random.default_rng(0)
>>> reference = rng.normal(size=(2000, 2))
>>> detector = NMDDM(reference, window_size=200, target_arl0=2000, random_state=1)
>>> same_marginals = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], size=1500)
>>> fired = detector.update_many(np.vstack([rng.normal(size=(500, 2)), same_marginals]))
>>> bool(len(fired)) and int(fired[0]) >= 500
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from driftline.detectors._kernels.fourier import (
    FEATURE_SCALE,
    ReferenceModel,
    mmd2_from_means,
    mmd2_of_column_sums,
)
from driftline.detectors._kernels.nm_ddm_window import FeatureWindow, advance_chunk
from driftline.detectors.alarm import AlarmParameter
from driftline.detectors.base import (
    DriftDetector,
    check_bool,
    check_int,
    check_number,
    check_probability,
    check_sample,
)
from driftline.detectors.calibration.mmd_null import calibrate_mmd_null
from driftline.detectors.inputs import VECTOR

__all__ = ["NMDDM"]

_MAX_WINDOW = 2**22  # keeps |window sum| * 2^30 below 2^53, so int64 -> float64 is exact
_BATCH_CHUNK = 512  # rows per pass: its (n_features_rff, rows) arrays stay in cache (fastest)


class NMDDM(DriftDetector):
    """Sliding-window RFF-MMD drift detector for vectors (see the module docstring).

    Parameters
    ----------
    reference : array-like of shape (n_ref, d)
        Reference sample (training-time inputs or embeddings), finite, ``n_ref >= 20``.
    window_size : int
        Number of most recent vectors compared with the reference.
    n_features_rff : int
        Number of random Fourier features (even; half cosines, half sines).
    bandwidth : float or None
        Gaussian kernel bandwidth in standardised units; None uses the median heuristic.
    target_arl0 : float
        Target mean number of stationary updates to a false alarm (> ``window_size``).
    holdout_fraction : float
        Fraction of the reference held out to simulate the null, in (0, 1).
    calibration_steps : int or None
        Total simulated stream length for calibration; None means ``50 * target_arl0``.
    unbiased : bool
        Use the unbiased (U-statistic) MMD^2 estimate instead of the biased one.
    reset_on_drift : bool
        Empty the window after a detection.
    random_state : int
        Seed of the split, the RFF weights and the calibration.
    on_nonfinite : {"raise", "skip"}
        Policy for vectors containing NaN or infinity.
    """

    name = "nm_ddm"
    # calibrates its own threshold to target_arl0 (step 4 of the module docstring)
    alarm = AlarmParameter("target_arl0", fewer_alarms="higher", bounds=(3.0, 9.0),
                           log_scale=True, method="self")
    input_kinds = (VECTOR,)
    needs_reference = True
    test_params = (
        {"window_size": 40, "n_features_rff": 32, "target_arl0": 400, "random_state": 4},
        {"window_size": 40, "n_features_rff": 32, "target_arl0": 400, "random_state": 4,
         "reset_on_drift": False},
        {"window_size": 30, "n_features_rff": 32, "target_arl0": 300, "random_state": 1,
         "unbiased": True},
    )

    def __init__(
        self,
        reference: Any,
        *,
        window_size: int = 500,
        n_features_rff: int = 256,
        bandwidth: float | None = None,
        target_arl0: float = 10_000.0,
        holdout_fraction: float = 0.5,
        calibration_steps: int | None = None,
        unbiased: bool = False,
        reset_on_drift: bool = True,
        random_state: int = 0,
        on_nonfinite: str = "raise",
    ) -> None:
        ref = check_sample("reference", reference, ndim=2, min_rows=20)
        self.reference: list[list[float]] = ref.tolist()
        self.window_size = check_int("window_size", window_size, low=2, high=_MAX_WINDOW)
        self.n_features_rff = check_int("n_features_rff", n_features_rff, low=2)
        if self.n_features_rff % 2:
            raise ValueError(f"n_features_rff must be even, got {self.n_features_rff}")
        self.bandwidth = check_number("bandwidth", bandwidth, low=0.0, low_inclusive=False,
                                      allow_none=True)
        self.target_arl0 = check_number("target_arl0", target_arl0, low=float(self.window_size),
                                        low_inclusive=False)
        self.holdout_fraction = check_probability("holdout_fraction", holdout_fraction)
        self.calibration_steps = (None if calibration_steps is None else check_int(
            "calibration_steps", calibration_steps, low=10 * self.window_size))
        self.unbiased = check_bool("unbiased", unbiased)
        self.reset_on_drift = check_bool("reset_on_drift", reset_on_drift)
        self.random_state = check_int("random_state", random_state, low=0)
        # the embedded reference (raises on a reference without spread)
        self._model = ReferenceModel(ref, self.holdout_fraction, self.bandwidth,
                                     self.n_features_rff, self.random_state)
        self._threshold: float | None = None
        self._null = np.empty(0)
        super().__init__(on_nonfinite)

    # -- calibration --------------------------------------------------------------------------
    def calibrate(self, max_steps: int | None = None) -> NMDDM:
        """Run the null calibration now (otherwise it runs on first use); return ``self``.

        ``max_steps``: most steps simulated before the null tail is fitted and extrapolated
        (default :data:`detectors.calibration.mmd_null.MAX_STEPS`)."""
        if self._threshold is None:
            model = self._model
            steps = self.calibration_steps or int(np.ceil(50 * self.target_arl0))
            self._threshold, self._null = calibrate_mmd_null(
                model.features.float_features(model.hold),
                model.features.float_features(model.embed).mean(axis=0),
                len(model.embed), model.ref_mean, self.window_size, model.n_frequencies,
                self.unbiased, self.target_arl0, steps,
                np.random.default_rng(model.calibration_seed), max_steps=max_steps,
            )
        return self

    @property
    def threshold(self) -> float:
        """Calibrated alarm threshold on the MMD^2 statistic."""
        self.calibrate()
        assert self._threshold is not None
        return self._threshold

    @property
    def bandwidth_(self) -> float:
        """The kernel bandwidth in use (``bandwidth`` or the median heuristic's)."""
        return self._model.bandwidth

    @property
    def n_dims(self) -> int:
        """Dimension of the input vectors."""
        return len(self.reference[0])

    @property
    def embedding_reference(self) -> np.ndarray:
        """The reference rows (original units) whose mean embedding the window is compared with."""
        return self._model.embed.copy()

    # -- statistic ----------------------------------------------------------------------------
    def _mmd2(self, sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
        # C order: each row is then reduced over contiguous memory, as for a single row, so a
        # row's statistic does not depend on the batch it is computed in
        means = sums.astype(np.float64, order="C")
        np.divide(means, counts[:, None] * FEATURE_SCALE, out=means)
        model = self._model
        return mmd2_from_means(means, counts, model.ref_mean, len(model.embed),
                               model.n_frequencies, self.unbiased)

    def _window_statistic(self, window_sum: np.ndarray, count: int) -> float:
        return float(self._mmd2(window_sum[None, :], np.array([float(count)]))[0])

    def _full_statistics(self, sums: np.ndarray) -> np.ndarray:
        model = self._model
        return mmd2_of_column_sums(sums, float(self.window_size), model.ref_mean,
                                   len(model.embed), model.n_frequencies, self.unbiased)

    # -- running state ------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._window = FeatureWindow(self.window_size, self.n_features_rff, self.n_dims)
        self._statistic = 0.0

    def _check_dims(self, shape: tuple[int, ...]) -> None:
        if len(shape) >= 1 and shape[-1] != self.n_dims:
            raise ValueError(
                f"x must have {self.n_dims} features like the reference, got {shape[-1]}")

    # dimensions are checked before the base class counts the value: a bad vector changes
    # nothing
    def update(self, x: Any) -> bool:
        self._check_dims(np.shape(x))
        return super().update(x)

    def _coerce_many(self, xs: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        if np.ndim(xs) == 2:
            self._check_dims(np.shape(xs))
        return super()._coerce_many(xs)

    def _update_one(self, x: np.ndarray) -> None:
        threshold = self.threshold
        window = self._window
        window.push(self._model.features.int_feature_columns(x[None, :])[:, 0], x)
        self._statistic = self._window_statistic(window.sum, window.count)
        self._drift = window.count == self.window_size and self._statistic > threshold
        if self._drift and self.reset_on_drift:
            window.clear()

    def _update_batch(self, values: np.ndarray) -> list[int]:
        threshold = self.threshold
        fired: list[int] = []
        for start in range(0, len(values), _BATCH_CHUNK):
            raw = values[start : start + _BATCH_CHUNK]
            alarms, self._statistic, self._drift = advance_chunk(
                self._window, self._model.features.int_feature_columns(raw), raw,
                self._full_statistics, self._window_statistic, threshold, self.reset_on_drift)
            fired.extend((start + alarms).tolist())
        return fired

    def _statistics(self) -> dict[str, float]:
        threshold = self.threshold
        null = self._null
        exceed = len(null) - int(np.searchsorted(null, self._statistic, side="left"))
        return {
            "statistic": self._statistic,
            "threshold": threshold,
            "p_value": (1.0 + exceed) / (1.0 + len(null)),
            "window_fill": self._window.count / self.window_size,
            "bandwidth": self.bandwidth_,
        }

    def _get_state(self) -> dict[str, Any]:
        threshold = self.threshold
        return {
            "window": self._window.raw[self._window.order()].tolist(),
            "statistic": self._statistic,
            "threshold": threshold,
            "null": self._null.tolist(),
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        window = np.asarray(state["window"], dtype=np.float64).reshape(-1, self.n_dims)
        if len(window) > self.window_size:
            raise ValueError(f"state window has {len(window)} rows > window_size")
        self._window.load(window, self._model.features.int_feature_columns(window))
        self._statistic = float(state["statistic"])
        self._threshold = float(state["threshold"])
        self._null = np.asarray(state["null"], dtype=np.float64)
