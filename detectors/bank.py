"""Feature bank: one univariate detector per feature, optional multiple-testing correction.

When every feature's detector is of one class with a kernel (:mod:`detectors._kernels`) that
has an exact path for their parameters, the bank keeps their state in the kernel's arrays and
advances all features together: the detectors given are then templates (parameters and starting
state) and :attr:`DetectorBank.detectors` returns snapshots. Otherwise the bank updates the
detectors themselves. Either way the detections, statistics and ``state_dict`` are exactly those
of independent detectors.

With ``correction="bonferroni"`` or ``"bh"`` (Benjamini-Hochberg, see
:mod:`detectors.multiple_testing`) the detectors must expose ``statistics["p_value"]``; after each
row the p-values of all features are corrected together and feature ``j`` detects drift when its
adjusted p-value is ``<= alpha`` (the bank's ``alpha``); the detectors' own thresholds and
``drift_detected`` are then ignored. Resetting is the bank's job in that mode: detectors that
take a ``reset_on_drift`` parameter must be built with ``reset_on_drift=False`` (otherwise a
detector would clear its window on its own uncorrected decision), and when the bank's
``reset_on_drift`` is True the bank resets every feature detected at that row (for
:class:`detectors.incremental_ks.IncrementalKS` that empties the window and keeps the
reference; its statistic reads 0 and its p-value 1 until the window is full again). A feature
whose window is not full yet has p-value 1 and still counts in the family of ``m`` tests. A
kernel may vectorise that mode too (Incremental KS does).

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.bank import DetectorBank
>>> from driftline.detectors.incremental_ks import IncrementalKS
>>> rng = np.random.default_rng(0)
>>> refs = rng.normal(size=(300, 3))
>>> bank = DetectorBank(["a", "b", "c"],
...                     factory=lambda j: IncrementalKS(refs[:, j], window_size=100,
...                                                     alpha=1e-4))
>>> rows = np.c_[rng.normal(size=(600, 2)), rng.normal(2.0, size=600)]
>>> hits = bank.update_many(rows)
>>> hits[:3].tolist()
[[99, 2], [199, 2], [299, 2]]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from driftline.detectors._kernels.protocol import Counters
from driftline.detectors._kernels.scheduler import Hits
from driftline.detectors.bank_base import FeatureBankBase, hit_pairs
from driftline.detectors.base import DriftDetector, check_bool, check_probability
from driftline.detectors.effect_gate import EffectGate
from driftline.detectors.multiple_testing import CORRECTIONS, correct

__all__ = ["DetectorBank", "check_correction"]


def check_correction(correction: str | None) -> str | None:
    """Validate the ``correction`` parameter of a bank."""
    if correction is not None and correction not in CORRECTIONS:
        raise ValueError(
            f"correction must be None or one of {sorted(CORRECTIONS)}, got {correction!r}"
        )
    return correction


class DetectorBank(FeatureBankBase):
    """One univariate :class:`~detectors.base.DriftDetector` per feature (see module docstring).

    Parameters
    ----------
    feature_names : sequence of str
        Names of the columns, in order.
    detectors : sequence of DriftDetector, optional
        One detector per feature (exclusive with ``factory``); one object may serve several
        features (the bank then keeps a copy per feature).
    factory : callable, optional
        ``factory(j)`` builds the detector of column ``j``.
    correction : {None, "bonferroni", "bh"}
        Multiple-testing correction across features, applied at each row.
    alpha : float
        Family level of the correction (unused without ``correction``).
    reset_on_drift : bool
        With a correction: reset a feature's detector when it is detected.
    min_effect : float, sequence or None
        Report a detection only when the feature's effect size over its last ``effect_window``
        values reaches it (:mod:`detectors.effect_gate`); one value or one per feature.
    effect_window : int or None
        Values the effect size is measured on; set (or ``min_effect`` set, default 1000), the
        statistics export ``effect_size`` and ``suppressed_detections`` per feature.
    """

    name = "detector_bank"

    def __init__(
        self,
        feature_names: Sequence[str],
        detectors: Sequence[DriftDetector] | None = None,
        *,
        factory: Callable[[int], DriftDetector] | None = None,
        correction: str | None = None,
        alpha: float = 0.05,
        reset_on_drift: bool = True,
        min_effect: Any = None,
        effect_window: int | None = None,
    ) -> None:
        super().__init__(feature_names)
        if (detectors is None) == (factory is None):
            raise ValueError("pass exactly one of detectors or factory")
        built = list(detectors) if detectors is not None else [
            factory(j) for j in range(self.n_features)  # type: ignore[misc]
        ]
        if len(built) != self.n_features:
            raise ValueError(
                f"detectors must hold one detector per feature ({self.n_features}), "
                f"got {len(built)}"
            )
        distinct = list({id(det): det for det in built}.values())
        for det in distinct:
            if not isinstance(det, DriftDetector) or det.input_kind.value_ndim != 0:
                raise TypeError(f"detectors must be univariate DriftDetectors, got {det!r}")
        self.correction = check_correction(correction)
        self.alpha = check_probability("alpha", alpha)
        self.reset_on_drift = check_bool("reset_on_drift", reset_on_drift)
        if self.correction is not None:
            for det in distinct:
                if "p_value" not in det.statistics:
                    raise ValueError(
                        f"correction={self.correction!r} needs detectors exposing a p_value; "
                        f"{det!r} does not"
                    )
                if det.get_params().get("reset_on_drift", False):
                    raise ValueError(
                        "with a correction the bank resets detectors itself: build them with "
                        f"reset_on_drift=False (got {det!r})"
                    )
        self._drift = np.array([det.drift_detected for det in built], dtype=bool)
        self._adjusted = np.ones(self.n_features)
        self._effect: EffectGate | None = None
        if min_effect is not None or effect_window is not None:
            self._effect = EffectGate(self.n_features, min_effect, effect_window or 1000)
            for det in distinct:
                if type(det).effect_name is None:
                    raise ValueError(f"min_effect / effect_window need detectors with an effect "
                                     f"size; {type(det).__name__} declares none")
                det.effect_size(np.zeros(1))  # raises if the parameters cannot give one
        self._effect_of = built  # a detector with each feature's parameters (reference)
        self._use_kernel(built, distinct)
        if self._kernel is None:
            # each feature's detector runs on its own: a detector given for several features
            # is copied (with a kernel the detectors only provide parameters and start state)
            seen: set[int] = set()
            for j, det in enumerate(built):
                if id(det) in seen:
                    built[j] = type(det).from_state_dict(det.state_dict())
                seen.add(id(det))
            self._detectors = built

    def _use_kernel(self, built: list[DriftDetector], distinct: list[DriftDetector]) -> None:
        """Move the detectors' state into their kernel's arrays when it has an exact path."""
        cls = type(built[0])
        kernel = cls.kernel
        self._kernel = self._config = self._corrected = None
        self._detectors: list[DriftDetector] | None = None
        if kernel is None or any(type(d) is not cls or d.on_nonfinite != "raise"
                                 for d in distinct):
            return
        config = kernel.configure(built)
        if config is None:
            return
        corrected = None
        if self.correction is not None:
            corrected = kernel.corrected(config, self.alpha, self.correction,
                                         self.reset_on_drift)
            if corrected is None:
                return
        self._kernel, self._config, self._corrected = kernel, config, corrected
        self._class, self._input = cls, built[0].input_kind
        self._templates = built  # their parameters name the features' detectors in state_dict
        if all(d.n_seen == 0 and not d.drift_detected and not d.warning_detected
               for d in distinct):
            # nothing consumed since construction or reset: the kernel's initial state
            self._state = kernel.initial(config, self.n_features)
            self._counters = Counters.zeros(self.n_features)
            self._counters.n_skipped[:] = [d.n_skipped for d in built]
        else:
            self._load_detector_states([d.state_dict() for d in built])

    def _load_detector_states(self, states: Sequence[Mapping[str, Any]]) -> None:
        assert self._kernel is not None
        counters = [s["counters"] for s in states]
        self._state = self._kernel.pack(
            self._config, [s["state"] for s in states],
            np.array([c["drift"] for c in counters], dtype=bool),
            np.array([c["warning"] for c in counters], dtype=bool))
        self._counters = Counters(*(np.array([c[key] for c in counters], dtype=np.int64)
                                    for key in ("n_seen", "n_skipped", "n_detections")))

    @property
    def detectors(self) -> list[DriftDetector]:
        """The features' detectors (with a kernel: snapshots rebuilt from the bank's state)."""
        if self._detectors is not None:
            return self._detectors
        return [self._class.from_state_dict(s) for s in self._detector_states()]

    # -- updates ------------------------------------------------------------------------------
    def update_many(self, rows: Any) -> np.ndarray:
        arr = self._check_rows(rows)
        if self._kernel is not None:
            bad = self._input.check_rows(type(self).__name__, arr)
            if bad is not None:
                self._check_finite_rows(arr)
        if len(arr) == 0:
            return np.empty((0, 2), dtype=np.int64)
        if self._kernel is not None:
            hits = self._update_kernel(arr)
        elif self.correction is None:
            hits = self._update_independent(arr)
        else:
            hits = self._update_corrected(arr)
        if self._effect is None:
            return hits
        kept = self._effect.filter(hits, arr, self._effect_of)
        last = len(arr) - 1
        reported = set(kept[kept[:, 0] == last, 1].tolist())
        for j in hits[hits[:, 0] == last, 1].tolist():
            self._drift[j] = j in reported
        self._effect.observe(arr)
        return kept

    def _update_kernel(self, arr: np.ndarray) -> np.ndarray:
        assert self._kernel is not None
        if self._corrected is not None:
            hits = Hits()
            decision = [self._drift, self._adjusted]
            self._corrected.advance(self._state, self._counters, arr, hits, decision)
            self._drift, self._adjusted = decision
            rows_hit, cols_hit = hits.sorted()
        else:
            rows_hit, cols_hit = self._kernel.advance(self._config, self._state, arr)
            self._counters.n_seen += len(arr)
            np.add.at(self._counters.n_detections, cols_hit, 1)
            self._drift = self._state.drift.copy()
        return np.column_stack([rows_hit, cols_hit]).astype(np.int64).reshape(-1, 2)

    def _update_independent(self, arr: np.ndarray) -> np.ndarray:
        assert self._detectors is not None
        rows, cols = [], []
        for j, det in enumerate(self._detectors):
            fired = det.update_many(arr[:, j])
            rows.append(fired)
            cols.append(np.full(len(fired), j))
            self._drift[j] = det.drift_detected
        return hit_pairs(rows, cols)

    def _update_corrected(self, arr: np.ndarray) -> np.ndarray:
        assert self.correction is not None and self._detectors is not None
        rows, cols = [], []
        p = np.empty(self.n_features)
        for i, row in enumerate(arr):
            for j, det in enumerate(self._detectors):
                det.update(row[j])
                p[j] = det.statistics["p_value"]
            reject, self._adjusted = correct(p, self.alpha, self.correction)
            self._drift = reject
            hit = np.flatnonzero(reject)
            if len(hit):
                rows.append(np.full(len(hit), i))
                cols.append(hit)
                if self.reset_on_drift:
                    for j in hit:
                        self._detectors[j].reset()
        return hit_pairs(rows, cols)

    # -- reporting ----------------------------------------------------------------------------
    @property
    def drift_detected(self) -> np.ndarray:
        return self._drift.copy()

    @property
    def warning_detected(self) -> np.ndarray:
        if self._kernel is not None:
            return self._state.warning.copy()
        assert self._detectors is not None
        return np.array([det.warning_detected for det in self._detectors], dtype=bool)

    @property
    def statistics(self) -> dict[str, np.ndarray]:
        if self._kernel is not None:
            counters, state = self._counters, self._state
            out = {"n_seen": counters.n_seen.astype(np.float64),
                   "n_skipped": counters.n_skipped.astype(np.float64),
                   "n_detections": counters.n_detections.astype(np.float64),
                   "warning": state.warning.astype(np.float64)}
            out.update(self._kernel.statistics(self._config, state))
        else:
            assert self._detectors is not None
            per_feature = [det.statistics for det in self._detectors]
            keys = sorted({key for stats in per_feature for key in stats})
            out = {key: np.array([s.get(key, np.nan) for s in per_feature]) for key in keys}
        out["drift"] = self._drift.astype(np.float64)
        if self.correction is not None:
            out["adjusted_p_value"] = self._adjusted.copy()
        if self._effect is not None:
            out["effect_size"] = self._effect.effect_sizes(self._effect_of)
            out["suppressed_detections"] = self._effect.suppressed.astype(np.float64)
        return out

    # -- state --------------------------------------------------------------------------------
    def reset(self) -> None:
        if self._kernel is not None:
            self._state = self._kernel.initial(self._config, self.n_features)
            self._counters = Counters.zeros(self.n_features)
        else:
            assert self._detectors is not None
            for det in self._detectors:
                det.reset()
        self._drift[:] = False
        self._adjusted[:] = 1.0
        if self._effect is not None:
            self._effect.reset()

    def _detector_states(self) -> list[dict[str, Any]]:
        if self._kernel is None:
            assert self._detectors is not None
            return [det.state_dict() for det in self._detectors]
        states = self._kernel.unpack(self._config, self._state)
        c, st = self._counters, self._state
        return [{"detector": self._class.name, "params": self._templates[j].get_params(),
                 "counters": {"drift": bool(st.drift[j]), "warning": bool(st.warning[j]),
                              "n_seen": int(c.n_seen[j]), "n_skipped": int(c.n_skipped[j]),
                              "n_detections": int(c.n_detections[j])},
                 "state": states[j]} for j in range(self.n_features)]

    def state_dict(self) -> dict[str, Any]:
        state = {
            "bank": self.name,
            "feature_names": list(self.feature_names),
            "correction": self.correction,
            "alpha": self.alpha,
            "reset_on_drift": self.reset_on_drift,
            "drift": self._drift.tolist(),
            "adjusted_p_value": self._adjusted.tolist(),
            "detectors": self._detector_states(),
        }
        if self._effect is not None:
            state["effect"] = self._effect.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for key in ("bank", "feature_names", "correction", "alpha", "reset_on_drift"):
            mine = self.name if key == "bank" else getattr(self, key)
            if state.get(key) != mine:
                raise ValueError(f"state_dict {key}={state.get(key)!r} differs from {mine!r}")
        if (self._effect is None) != ("effect" not in state):
            raise ValueError("state_dict and bank differ in effect-size tracking (min_effect / "
                             "effect_window)")
        saved = state["detectors"]
        if len(saved) != self.n_features:
            raise ValueError("state_dict holds a different number of detectors")
        if self._kernel is None:
            assert self._detectors is not None
            for det, det_state in zip(self._detectors, saved, strict=True):
                det.load_state_dict(det_state)
        else:
            for j, det_state in enumerate(saved):
                if det_state.get("detector") != self._class.name or \
                        det_state.get("params") != self._templates[j].get_params():
                    raise ValueError(f"state_dict parameters of feature "
                                     f"{self.feature_names[j]!r} differ from this bank's")
            self._load_detector_states(saved)
        if self._effect is not None:
            self._effect.load_state_dict(state["effect"])
        self._drift = np.array(state["drift"], dtype=bool)
        self._adjusted = np.array(state["adjusted_p_value"], dtype=np.float64)
