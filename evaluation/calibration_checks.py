"""Acceptance measurements of the calibration methods: measured ARL0s against their targets.

Every check runs the detectors for real, on data the calibration never saw (its own seeds):

* :func:`page_hinkley_fresh` — pinned Page-Hinkley calibrated by Siegmund's closed form
  (:mod:`detectors.calibration.cusum`) on fresh N(0, 1) draws: pinned to the true moments, and
  pinned to each column's own reference sample with the reference uncertainty averaged (the
  pooled rate over many references is the expected rate the method targets);
* :func:`page_hinkley_insurance` — the same on bootstrap draws of each insurance reference
  feature (the empirical law's tilting root and fitted overshoot; the population is the
  reference itself, so its moments are exact);
* :func:`importance_check` — the one-sided ARL0 of the real detector at a threshold for
  ``10^9``, measured by importance sampling of its regenerative cycles (exponential tilting),
  against Siegmund's value;
* :func:`delay_check` — the detection delay of a 1 sigma mean shift at that threshold against
  Lorden's bound ``log(ARL0) / (shift^2 / 2)``;
* :func:`ks_tail_check` and :func:`nm_ddm_check` — the Incremental-KS bank at the ``ks_tail``
  family level and NM-DDM with its fitted null tail, on bootstrap draws of the insurance
  reference, one reference resample per simulated deployment.

A measured ARL0 is ``values / alarms``; with ``alarms`` counted its relative standard error is
about ``1 / sqrt(alarms)`` (run lengths are close to exponential here).

Example
-------
>>> from driftline.evaluation.calibration_checks import page_hinkley_fresh
>>> rows = page_hinkley_fresh([1e3], delta=0.5, references=400, alarms=200, seed=7)
>>> [(r.check, 0.8 < r.ratio < 1.25) for r in rows]  # ~200 alarms each: 7 % s.e.
[('fresh N(0,1), pinned to the truth', True), ('fresh N(0,1), 400 own references', True)]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from driftline.detectors.bank import DetectorBank
from driftline.detectors.calibration.budget import BudgetShare, split_budget
from driftline.detectors.calibration.columns import ColumnRequest, calibrate_columns
from driftline.detectors.calibration.cusum import CusumModel, StandardisedLaw
from driftline.detectors.calibration.cusum_overshoot import Excursions, fit_overshoot
from driftline.detectors.calibration.paths import statistic_path
from driftline.detectors.incremental_ks import IncrementalKS
from driftline.detectors.nm_ddm import NMDDM
from driftline.detectors.page_hinkley import PageHinkley
from driftline.detectors.page_hinkley_bank import PageHinkleyBank
from driftline.evaluation.config import CalibrationChecksConfig

__all__ = ["ArlCheck", "CalibrationChecks", "DelayCheck", "ImportanceCheck", "NullTailCheck",
           "delay_check", "importance_check", "ks_tail_check", "nm_ddm_check",
           "page_hinkley_fresh", "page_hinkley_insurance", "run_calibration_checks"]

_CHUNK_VALUES = 5_000_000


@dataclass(frozen=True)
class ArlCheck:
    """One measured ARL0: check, stream, target, the calibrated value, values run, alarms."""

    check: str
    stream: str
    method: str
    target: float
    value: float
    values: int
    alarms: int

    @property
    def measured_arl0(self) -> float:
        return self.values / self.alarms if self.alarms else math.inf

    @property
    def ratio(self) -> float:
        """Measured over target ARL0."""
        return self.measured_arl0 / self.target

    @property
    def relative_se(self) -> float:
        return 1.0 / math.sqrt(self.alarms) if self.alarms else math.inf


def _run_bank(bank: DetectorBank, draw: Callable[[int], np.ndarray], n_rows: int) -> int:
    """Detections of ``bank`` over ``n_rows`` rows from ``draw(n)``, in chunks."""
    chunk = max(1, _CHUNK_VALUES // bank.n_features)
    return sum(len(bank.update_many(draw(min(chunk, n_rows - start))))
               for start in range(0, n_rows, chunk))


def _ph_bank(thresholds: np.ndarray, means: np.ndarray, stds: np.ndarray,
             delta: float) -> PageHinkleyBank:
    return PageHinkleyBank([f"c{j}" for j in range(len(thresholds))], delta=delta,
                           threshold=thresholds, reference_means=means, reference_stds=stds)


def page_hinkley_fresh(targets: list[float], *, delta: float = 0.1, n_reference: int = 5000,
                       columns: int = 200, references: int = 4000, alarms: int = 1000,
                       seed: int = 0) -> list[ArlCheck]:
    """Pinned Page-Hinkley at Siegmund's thresholds on fresh N(0, 1) draws (module docstring).

    About ``alarms`` alarms are expected per target, over ``columns`` parallel columns pinned to
    the truth, and over ``references`` columns pinned to their own reference of
    ``n_reference`` values: the expected rate the method targets is an average over
    references, dominated at large ARL0 by unlucky ones, so many are needed (with 200, the
    predicted pooled ARL0 of the references drawn spreads by about ±10 % at 10^6).
    """
    rng = np.random.default_rng(seed)
    out = []
    for target in targets:
        rows = max(1, int(alarms * target / columns))
        truth = CusumModel(delta).threshold(target)
        bank = _ph_bank(np.full(columns, truth), np.zeros(columns), np.ones(columns), delta)
        found = _run_bank(bank, lambda n: rng.standard_normal((n, columns)), rows)
        out.append(ArlCheck("fresh N(0,1), pinned to the truth", "normal", "cusum (normal form)",
                            target, truth, rows * columns, found))
        refs = rng.standard_normal((n_reference, references))
        means, stds = refs.mean(axis=0), refs.std(axis=0, ddof=1)
        uncertain = CusumModel(delta, n_reference=n_reference).threshold(target)
        bank = _ph_bank(np.full(references, uncertain), means, stds, delta)
        rows = max(1, int(alarms * target / references))
        found = _run_bank(bank, lambda n: rng.standard_normal((n, references)), rows)
        out.append(ArlCheck(f"fresh N(0,1), {references} own references", "normal",
                            f"cusum (normal form, n_reference={n_reference})", target,
                            uncertain, rows * references, found))
    return out


def page_hinkley_insurance(reference: np.ndarray, names: list[str], targets: list[float], *,
                           delta: float = 0.1, columns: int = 100, alarms: int = 1000,
                           seed: int = 0) -> list[ArlCheck]:
    """Pinned Page-Hinkley (empirical tilting root, fitted overshoot) on bootstrap draws of
    each reference column, ``columns`` parallel copies per feature."""
    rng = np.random.default_rng(seed)
    out = []
    for j, name in enumerate(names):
        column = reference[:, j]
        law = StandardisedLaw.from_reference(column)
        model = CusumModel(delta, "both", law, None, fit_overshoot(law, delta, seed=seed + j))
        for target in targets:
            h = model.threshold(target)
            rows = max(1, int(alarms * target / columns))
            bank = _ph_bank(np.full(columns, h), np.full(columns, column.mean()),
                            np.full(columns, column.std(ddof=1)), delta)
            found = _run_bank(bank, lambda n, column=column: column[
                rng.integers(0, len(column), (n, columns))], rows)
            out.append(ArlCheck("bootstrap draws of the insurance reference", name,
                                "cusum (empirical law, fitted overshoot)", target, h,
                                rows * columns, found))
    return out


@dataclass(frozen=True)
class ImportanceCheck:
    """Importance-sampled one-sided ARL0 of the real detector against Siegmund's value."""

    target: float
    delta: float
    threshold: float
    siegmund_arl0: float
    measured_arl0: float
    relative_se: float
    cycles: int

    @property
    def ratio(self) -> float:
        return self.measured_arl0 / self.siegmund_arl0


def importance_check(target: float = 1e9, *, delta: float = 0.5, cycles: int = 20_000,
                     null_values: int = 2_000_000, seed: int = 0) -> ImportanceCheck:
    """Two-sided ARL0 of pinned Page-Hinkley at Siegmund's threshold for ``target``, measured.

    The up side's statistic path (the real detector's, through its kernel) regenerates at 0:
    ``ARL = E[cycle length] / P(a cycle crosses h)``. The mean cycle length comes from a null
    path; the crossing probability (~1e-9) from cycles under the tilted law ``N(2 delta, 1)``
    (exponential tilting by the root ``theta = 2 delta``), each crossing weighted by its
    likelihood ratio ``exp(-theta S)``, ``S`` the statistic at the crossing. By symmetry the
    two-sided ARL0 is half the one-sided one (competing risks, checked directly at 10^4-10^6).
    """
    rng = np.random.default_rng(seed)
    model = CusumModel(delta)
    h = model.threshold(target)
    theta = 2.0 * delta

    def up_path(values: np.ndarray) -> np.ndarray:
        detector = PageHinkley(delta=delta, threshold=1e12, direction="up", reference_mean=0.0,
                               reference_std=1.0, min_instances=1)
        return statistic_path(detector, values)

    null = Excursions(up_path(rng.standard_normal(null_values))[:, None])
    mean_cycle = float((null.ends - null.starts).mean())
    length = int(4 * h / delta) + 100
    weights: list[float] = []
    n_cycles = 0
    while n_cycles < cycles:
        path = up_path(rng.normal(theta, 1.0, size=length))
        above = np.flatnonzero(path > h)
        stop = int(above[0]) if len(above) else length - 1
        zeros = int(np.count_nonzero(path[:stop] == 0.0))
        n_cycles += zeros + (1 if len(above) else 0)  # returns to 0, then the crossing one
        if len(above):
            weights.append(math.exp(-theta * float(path[stop])))
    w = np.array(weights)
    p = w.sum() / n_cycles
    se = math.sqrt(np.sum(w**2) / n_cycles - p**2) / math.sqrt(n_cycles) / p
    one_sided = mean_cycle / p
    return ImportanceCheck(target, delta, h, model.arl0(h), one_sided / 2.0,
                           math.sqrt(se**2 + 1.0 / len(null.starts)), n_cycles)


@dataclass(frozen=True)
class DelayCheck:
    """Mean detection delay of a ``shift`` sigma step against Lorden's bound."""

    target: float
    delta: float
    shift: float
    threshold: float
    mean_delay: float
    delay_se: float
    trials: int

    @property
    def lorden(self) -> float:
        """``log(ARL0) / (shift^2 / 2)``: the best delay any test with that ARL0 can reach."""
        return math.log(self.target) / (self.shift**2 / 2.0)

    @property
    def ratio(self) -> float:
        return self.mean_delay / self.lorden


def delay_check(target: float = 1e9, *, shift: float = 1.0, trials: int = 20_000,
                in_control: int = 1000, seed: int = 0) -> DelayCheck:
    """Pinned Page-Hinkley with ``delta = shift / 2`` (the CUSUM's optimal allowance) at
    Siegmund's threshold for ``target``; the mean shifts by ``shift`` after ``in_control``
    values; the delay counts the values from the change to the detection, inclusive."""
    delta = shift / 2.0
    h = CusumModel(delta).threshold(target)
    rng = np.random.default_rng(seed)
    length = in_control + int(4 * math.log(target) / (shift**2 / 2.0)) + 200
    delays: list[int] = []
    while len(delays) < trials:
        n = min(2000, trials - len(delays))
        rows = rng.standard_normal((length, n))
        rows[in_control:] += shift
        bank = _ph_bank(np.full(n, h), np.zeros(n), np.ones(n), delta)
        hits = bank.update_many(rows)
        after = hits[hits[:, 0] >= in_control]
        first = {}
        for row, col in after.tolist():
            first.setdefault(col, row)
        if len(first) < n:
            raise ValueError("a trial ended without a detection: lengthen it")
        delays.extend(row - in_control + 1 for row in first.values())
    d = np.array(delays, dtype=np.float64)
    return DelayCheck(target, delta, shift, h, float(d.mean()),
                      float(d.std(ddof=1) / math.sqrt(len(d))), len(d))


def ks_tail_check(reference: np.ndarray, target: float, *, window_size: int = 500,
                  deployments: int = 20, alarms: int = 300, seed: int = 0) -> ArlCheck:
    """The Incremental-KS bank at the ``ks_tail`` family level for ``target`` on bootstrap rows
    of ``reference``; each deployment pins its own resample of the reference rows."""
    level = calibrate_columns(ColumnRequest(
        IncrementalKS, reference, target, {"window_size": window_size}, n_streams=1, seed=seed,
        options={"method": "ks_tail"})).values[0]
    rng = np.random.default_rng(seed + 1)
    m, k = reference.shape
    rows_each = max(window_size * 4, int(alarms * target / deployments))
    found = 0
    for _ in range(deployments):
        own = reference[rng.integers(0, m, m)]
        bank = DetectorBank([f"c{j}" for j in range(k)],
                            [IncrementalKS(own[:, j], window_size=window_size, alpha=0.5,
                                           reset_on_drift=False) for j in range(k)],
                            correction="bonferroni", alpha=level)
        found += _run_bank(bank, lambda n: reference[rng.integers(0, m, n)], rows_each)
    return ArlCheck("Incremental-KS bank, bootstrap rows, own references", "all features",
                    "ks_tail", target, level, rows_each * deployments, found)


@dataclass(frozen=True)
class NullTailCheck:
    """NM-DDM's threshold from the fitted null tail against a direct simulation long enough to
    count ``direct_alarms`` alarms at the target, and the real detector run at the fitted one."""

    target: float
    fitted: float
    direct: float
    direct_alarms: int
    values: int
    alarms: int

    @property
    def measured_arl0(self) -> float:
        return self.values / self.alarms if self.alarms else math.inf


def nm_ddm_check(reference: np.ndarray, target: float, *, window_size: int = 500,
                 alarms: int = 30, seed: int = 0) -> NullTailCheck:
    """NM-DDM calibrated to ``target`` by its fitted null tail (at most
    :data:`detectors.calibration.mmd_null.MAX_STEPS` simulated steps) against the same null
    simulated over ``50 * target`` steps (~50 alarms at the target: a direct threshold), and
    run over ``alarms * target`` bootstrap rows of ``reference``."""
    fitted = NMDDM(reference, window_size=window_size, target_arl0=target, random_state=seed)
    fitted.calibrate()
    direct = NMDDM(reference, window_size=window_size, target_arl0=target,
                   calibration_steps=int(50 * target), random_state=seed)
    direct.calibrate(max_steps=int(50 * target))
    rng = np.random.default_rng(seed + 1)
    rows = int(alarms * target)
    found = 0
    for start in range(0, rows, 200_000):
        n = min(200_000, rows - start)
        found += len(fitted.update_many(reference[rng.integers(0, len(reference), n)]))
    return NullTailCheck(target, fitted.threshold, direct.threshold, 50, rows, found)


@dataclass
class CalibrationChecks:
    """Everything :func:`run_calibration_checks` measured."""

    arl: list[ArlCheck]
    importance: ImportanceCheck | None
    delay: DelayCheck | None
    ks: list[ArlCheck]
    nm_ddm: list[NullTailCheck]
    budget: dict[str, BudgetShare]


def run_calibration_checks(config: CalibrationChecksConfig,
                           insurance: tuple[np.ndarray, list[str]] | None = None
                           ) -> CalibrationChecks:
    """The checks of ``config`` (``insurance``: the reference rows and feature names, needed
    when ``config.insurance`` or KS / NM-DDM targets are set)."""
    seed = config.seed
    arl = page_hinkley_fresh(config.targets, delta=config.delta, alarms=config.alarms,
                             seed=seed)
    ks: list[ArlCheck] = []
    nm: list[NullTailCheck] = []
    if insurance is not None:
        rows, names = insurance
        if config.insurance:
            arl += page_hinkley_insurance(rows, names, config.targets, delta=config.delta,
                                          alarms=config.alarms, seed=seed + 1)
        ks = [ks_tail_check(rows, t, alarms=config.ks_alarms, seed=seed + 2)
              for t in config.ks_targets]
        nm = [nm_ddm_check(rows, t, alarms=config.nm_ddm_alarms, seed=seed + 3)
              for t in config.nm_ddm_targets]
    columns = len(insurance[1]) if insurance is not None else 5
    budget = split_budget(config.false_pages, config.period_days * 86400.0,
                          config.events_per_s,
                          {"page_hinkley": columns, "incremental_ks": columns, "nm_ddm": 1})
    return CalibrationChecks(
        arl,
        importance_check(config.importance_target, cycles=config.importance_cycles,
                         seed=seed + 4) if config.importance_cycles else None,
        delay_check(config.importance_target, trials=config.delay_trials, seed=seed + 5)
        if config.delay_trials else None,
        ks, nm, budget)
