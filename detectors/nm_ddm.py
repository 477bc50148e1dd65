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
   :func:`detectors._kernel_features.calibrate_null`).
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

from typing import Any, ClassVar

import numpy as np

from driftline.detectors._kernel_features import (
    FEATURE_SCALE,
    ExactFourierFeatures,
    calibrate_null,
    median_bandwidth,
    mmd2_from_means,
    mmd2_of_column_sums,
)
from driftline.detectors.base import DriftDetector, check_int, check_number, check_probability

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

    name: ClassVar[str] = "nm_ddm"
    multivariate: ClassVar[bool] = True

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
        super().__init__(on_nonfinite=on_nonfinite)
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 2 or ref.shape[0] < 20 or ref.shape[1] < 1:
            raise ValueError(f"reference must be a 2-D array with at least 20 rows and 1 column, "
                             f"got shape {ref.shape}")
        if not np.isfinite(ref).all():
            raise ValueError("reference must contain only finite values")
        self.reference = ref.tolist()
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
        for flag_name, flag in (("unbiased", unbiased), ("reset_on_drift", reset_on_drift)):
            if not isinstance(flag, bool | np.bool_):
                raise TypeError(f"{flag_name} must be a bool, got {type(flag).__name__}")
        self.unbiased = bool(unbiased)
        self.reset_on_drift = bool(reset_on_drift)
        self.random_state = check_int("random_state", random_state, low=0)

        n_ref, d = ref.shape
        self.n_dims = d
        n_hold = round(self.holdout_fraction * n_ref)
        if not 2 <= n_hold <= n_ref - 2:
            raise ValueError(f"holdout_fraction={self.holdout_fraction} leaves fewer than 2 "
                             f"reference rows in one part (n_ref={n_ref})")
        split_seq, freq_seq, self._calib_seq = np.random.SeedSequence(self.random_state).spawn(3)
        order = np.random.default_rng(split_seq).permutation(n_ref)
        self._embed, self._hold = ref[order[n_hold:]], ref[order[:n_hold]]
        mean = ref.mean(axis=0)
        std = ref.std(axis=0)
        scale = np.where(std > 0, std, 1.0)
        if self.bandwidth is None:
            self.bandwidth_ = median_bandwidth((self._embed - mean) / scale)
            if self.bandwidth_ <= 0:
                raise ValueError("reference has a zero median pairwise distance; pass bandwidth")
        else:
            self.bandwidth_ = self.bandwidth
        self.n_frequencies = self.n_features_rff // 2
        freqs = np.random.default_rng(freq_seq).normal(
            0.0, 1.0 / self.bandwidth_, size=(d, self.n_frequencies))
        self._features = ExactFourierFeatures(mean, scale, freqs)
        embed_int = self._features.int_features(self._embed)
        self._ref_mean = embed_int.sum(axis=0).astype(np.float64) / (len(embed_int) * FEATURE_SCALE)
        self._threshold: float | None = None
        self._null = np.empty(0)
        self._reset_state()

    def get_params(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "window_size": self.window_size,
            "n_features_rff": self.n_features_rff,
            "bandwidth": self.bandwidth,
            "target_arl0": self.target_arl0,
            "holdout_fraction": self.holdout_fraction,
            "calibration_steps": self.calibration_steps,
            "unbiased": self.unbiased,
            "reset_on_drift": self.reset_on_drift,
            "random_state": self.random_state,
            "on_nonfinite": self.on_nonfinite,
        }

    # -- calibration --------------------------------------------------------------------------
    def calibrate(self) -> NMDDM:
        """Run the null calibration now (otherwise it runs on first use); return ``self``."""
        if self._threshold is None:
            steps = self.calibration_steps or int(np.ceil(50 * self.target_arl0))
            self._threshold, self._null = calibrate_null(
                self._features.float_features(self._hold),
                self._features.float_features(self._embed).mean(axis=0),
                len(self._embed), self._ref_mean, self.window_size, self.n_frequencies,
                self.unbiased, self.target_arl0, steps, np.random.default_rng(self._calib_seq),
            )
        return self

    @property
    def threshold(self) -> float:
        """Calibrated alarm threshold on the MMD^2 statistic."""
        self.calibrate()
        assert self._threshold is not None
        return self._threshold

    @property
    def embedding_reference(self) -> np.ndarray:
        """The reference rows (original units) whose mean embedding the window is compared with."""
        return self._embed.copy()

    # -- running state ------------------------------------------------------------------------
    def _reset_state(self) -> None:
        # features of the window's rows as columns (ring buffer along axis 1)
        self._window_int = np.zeros((self.n_features_rff, self.window_size), dtype=np.int64)
        self._window_raw = np.zeros((self.window_size, self.n_dims))
        self._clear_window()
        self._statistic = 0.0

    def _clear_window(self) -> None:
        self._pos = 0
        self._count = 0
        self._sum = np.zeros(self.n_features_rff, dtype=np.int64)

    def _mmd2(self, sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
        # C order: each row is then reduced over contiguous memory, as for a single row, so a
        # row's statistic does not depend on the batch it is computed in
        means = sums.astype(np.float64, order="C")
        np.divide(means, counts[:, None] * FEATURE_SCALE, out=means)
        return mmd2_from_means(means, counts, self._ref_mean, len(self._embed),
                               self.n_frequencies, self.unbiased)

    def _check_dims(self, shape: tuple[int, ...]) -> None:
        if len(shape) >= 1 and shape[-1] != self.n_dims:
            raise ValueError(
                f"x must have {self.n_dims} features like the reference, got {shape[-1]}")

    # dimensions are checked before the base class counts the value, so a bad vector changes
    # no state
    def _coerce_one(self, x: Any) -> Any:
        self._check_dims(np.shape(x))
        return super()._coerce_one(x)

    def _coerce_many(self, xs: Any) -> tuple[np.ndarray, np.ndarray]:
        if np.ndim(xs) == 2:
            self._check_dims(np.shape(xs))
        return super()._coerce_many(xs)

    def _update_one(self, x: np.ndarray) -> None:
        threshold = self.threshold
        row = x[None, :]
        q = self._features.int_feature_columns(row)[:, 0]
        if self._count == self.window_size:
            self._sum -= self._window_int[:, self._pos]
        else:
            self._count += 1
        self._sum += q
        self._window_int[:, self._pos] = q
        self._window_raw[self._pos] = x
        self._pos = (self._pos + 1) % self.window_size
        counts = np.array([float(self._count)])
        self._statistic = float(self._mmd2(self._sum[None, :], counts)[0])
        self._drift = self._count == self.window_size and self._statistic > threshold
        if self._drift and self.reset_on_drift:
            self._clear_window()

    def _update_batch(self, values: np.ndarray) -> list[int] | np.ndarray:
        threshold = self.threshold
        fired: list[int] = []
        for chunk_start in range(0, len(values), _BATCH_CHUNK):
            alarms = self._update_chunk(values[chunk_start:chunk_start + _BATCH_CHUNK], threshold)
            fired.extend((chunk_start + alarms).tolist())
        return fired

    def _update_chunk(self, raw: np.ndarray, threshold: float) -> np.ndarray:
        """Consume ``raw`` rows; return the positions of the alarms.

        A window that is full holds the last ``window_size`` rows whether or not the detector
        restarted earlier (a restart empties it, and ``window_size`` rows later it is full
        again), so the full-window statistics of the whole chunk come from one sliding sum over
        [current window, chunk]; a restart after an alarm at ``t`` only makes rows before
        ``t + window_size`` ineligible. The sums are exact integers, so every statistic is the
        one :meth:`_update_one` computes.
        """
        w = self.window_size
        n = len(raw)
        q = self._features.int_feature_columns(raw)
        count0 = self._count
        old = (self._pos - count0 + np.arange(count0)) % w
        columns = np.concatenate([self._window_int[:, old], q], axis=1) if count0 else q
        csum = np.empty((q.shape[0], count0 + n + 1), dtype=np.int64)
        csum[:, 0] = 0
        np.cumsum(columns, axis=1, out=csum[:, 1:])
        # row t of the chunk ends the sliding window at column count0 + t + 1 of csum
        first_full = max(0, w - count0 - 1)
        full_stats = np.empty(0)
        if first_full < n:
            ends = slice(count0 + first_full + 1, count0 + n + 1)
            starts = slice(count0 + first_full + 1 - w, count0 + n + 1 - w)
            sums = csum[:, ends] - csum[:, starts]
            full_stats = mmd2_of_column_sums(sums, float(w), self._ref_mean, len(self._embed),
                                             self.n_frequencies, self.unbiased)
        exceed = np.flatnonzero(full_stats > threshold) + first_full
        alarms = self._renewal(exceed, w) if self.reset_on_drift else exceed
        restarted = self.reset_on_drift and len(alarms) > 0
        since = int(alarms[-1]) + 1 if restarted else 0  # first row after the last restart
        base_pos = 0 if restarted else self._pos
        n_since = n - since
        keep = np.arange(max(since, n - w), n)
        slots = (base_pos + keep - since) % w
        self._window_int[:, slots] = q[:, keep]
        self._window_raw[slots] = raw[keep]
        self._pos = (base_pos + n_since) % w
        count = min(w, (0 if restarted else count0) + n_since)
        self._count = count
        end = count0 + n
        self._sum = csum[:, end] - csum[:, end - count]
        last_alarm = len(alarms) > 0 and int(alarms[-1]) == n - 1
        if last_alarm or (not restarted and count0 + n >= w) or (restarted and count == w):
            self._statistic = float(full_stats[n - 1 - first_full])
        else:
            self._statistic = float(self._mmd2(self._sum[None, :], np.array([float(count)]))[0])
        self._drift = bool(last_alarm) or (not self.reset_on_drift and count == w
                                            and self._statistic > threshold)
        if last_alarm and self.reset_on_drift:
            self._clear_window()
        return alarms

    @staticmethod
    def _renewal(exceed: np.ndarray, window_size: int) -> np.ndarray:
        """Alarms of a detector that restarts after each: an exceedance counts only once the
        window has refilled, ``window_size`` rows after the previous alarm."""
        alarms: list[int] = []
        k = 0
        while k < len(exceed):
            alarms.append(int(exceed[k]))
            k = int(np.searchsorted(exceed, alarms[-1] + window_size, side="left"))
        return np.asarray(alarms, dtype=np.int64)

    def _statistics(self) -> dict[str, float]:
        threshold = self.threshold
        null = self._null
        exceed = len(null) - int(np.searchsorted(null, self._statistic, side="left"))
        return {
            "statistic": self._statistic,
            "threshold": threshold,
            "p_value": (1.0 + exceed) / (1.0 + len(null)),
            "window_fill": self._count / self.window_size,
            "bandwidth": self.bandwidth_,
        }

    def _get_state(self) -> dict[str, Any]:
        threshold = self.threshold
        order = (self._pos - self._count + np.arange(self._count)) % self.window_size
        return {
            "window": self._window_raw[order].tolist(),
            "statistic": self._statistic,
            "threshold": threshold,
            "null": self._null.tolist(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        window = np.asarray(state["window"], dtype=np.float64).reshape(-1, self.n_dims)
        if len(window) > self.window_size:
            raise ValueError(f"state window has {len(window)} rows > window_size")
        self._reset_state()
        count = len(window)
        if count:
            self._window_raw[:count] = window
            self._window_int[:, :count] = self._features.int_feature_columns(window)
        self._count = count
        self._pos = count % self.window_size
        self._sum = self._window_int[:, :count].sum(axis=1)
        self._statistic = float(state["statistic"])
        self._threshold = float(state["threshold"])
        self._null = np.asarray(state["null"], dtype=np.float64)
