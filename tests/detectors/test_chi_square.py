"""The chi-square detector against scipy: statistic and p-values at every step, the choice of a
homogeneity test, incremental == from scratch, detection of frequency changes and new
categories, input rules. (Loop == batch, round trip, reset, banks: tests/detectors/test_protocol.py;
calibration: tests/detectors/calibration/test_chi_square.py.)"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.stats.contingency import expected_freq

from driftline.detectors import NonFiniteInputError
from driftline.detectors.bank import DetectorBank
from driftline.detectors.chi_square import ChiSquare
from driftline.detectors.contingency import cell_layout

BASE = np.array([0.3, 0.22, 0.0, 0.18, 0.12, 0.0, 0.1, 0.05, 0.03])  # codes 2 and 5: never


def _stream(rng: np.random.Generator, n: int, frequencies: np.ndarray) -> np.ndarray:
    return rng.choice(len(frequencies), size=n, p=frequencies / frequencies.sum()).astype(float)


def _changing_stream(seed: int) -> np.ndarray:
    """In control, then shifted frequencies with unseen codes 2, 5 and 11 (past the end)."""
    rng = np.random.default_rng(seed)
    shifted = np.r_[0.15, 0.2, 0.04, 0.2, 0.12, 0.03, 0.1, 0.1, 0.03, 0.0, 0.0, 0.03]
    return np.r_[_stream(rng, 700, BASE), _stream(rng, 500, shifted), _stream(rng, 400, BASE)]


def _expected(detector: ChiSquare, window: deque[int]) -> dict[str, float]:
    """The statistics of ``window`` from scipy, cells as :func:`cell_layout` defines them."""
    reference = np.array(detector.reference)
    layout = cell_layout(detector.reference, detector.window_size, detector.min_expected)
    cells = np.array(layout.cell_of_code)[np.minimum(list(window), len(reference) - 1)]
    cells[np.array(list(window)) >= len(reference)] = layout.n_cells
    counts = np.bincount(cells, minlength=layout.n_cells + 1)
    table = np.vstack([layout.cell_counts, counts[:-1]])
    unseen, n = int(counts[-1]), len(window)
    out = {"unseen_count": unseen, "window_fill": n / detector.window_size,
           "unseen_p_value": stats.binom.sf(unseen - 1, n, detector.table.unseen_rate)}
    if table[1].sum() == 0 or layout.dof == 0:
        out.update(statistic=0.0, chi2_p_value=1.0)
    else:
        result = stats.chi2_contingency(table, correction=False)
        assert result.dof == layout.dof
        out.update(statistic=result.statistic, chi2_p_value=result.pvalue)
        # the same test as chisquare of the flattened table against its expected frequencies
        flat = stats.chisquare(table.ravel(), expected_freq(table).ravel(),
                               ddof=table.size - 1 - layout.dof)
        assert flat.statistic == pytest.approx(result.statistic, rel=1e-12)
    full = n == detector.window_size
    out["p_value"] = min(1.0, 2 * min(out["chi2_p_value"], out["unseen_p_value"])) if full \
        else 1.0
    threshold = stats.chi2.isf(detector.alpha / 2, layout.dof) if layout.dof else math.inf
    out["drift"] = full and (out["statistic"] > threshold or
                             out["unseen_p_value"] <= detector.alpha / 2)
    return out


@pytest.mark.parametrize("params", [
    {"window_size": 60, "alpha": 0.01, "min_expected": 0.0},
    {"window_size": 60, "alpha": 0.01},  # rare codes pooled
    {"window_size": 80, "alpha": 1e-3, "reset_on_drift": False, "unseen_rate": 0.002},
])
def test_statistics_equal_scipy_at_every_step(params: dict[str, float]) -> None:
    """Windows filling, full, with unseen codes (zero reference counts and codes past the end
    of the reference), after detections that empty them."""
    reference = np.r_[np.round(BASE * 3000), 0.0].astype(int)  # code 9 counted as zero too
    detector = ChiSquare(reference, **params)
    window: deque[int] = deque()
    emptied = checked = 0
    for x in _changing_stream(seed=3):
        if detector.drift_detected and detector.reset_on_drift:
            window.clear()
            emptied += 1
        window.append(int(x))
        if len(window) > detector.window_size:
            window.popleft()
        fired = detector.update(x)
        expected = _expected(detector, window)
        stats_now = detector.statistics
        assert fired == expected.pop("drift")
        for key, value in expected.items():
            assert stats_now[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        checked += 1
    assert checked == 1600 and (emptied > 3 or not detector.reset_on_drift)
    assert detector.statistics["n_detections"] > 3


def test_homogeneity_keeps_its_level_where_goodness_of_fit_does_not() -> None:
    """Why the detector tests homogeneity: with a reference of N = 1000 and windows of 500 from
    the same distribution, the goodness-of-fit test (reference frequencies taken as exact)
    rejects several times too often at 1%; the homogeneity test keeps its level."""
    rng = np.random.default_rng(0)
    p = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
    n_ref, n_win, alpha, trials = 1000, 500, 0.01, 4000
    homogeneity = goodness = 0
    for _ in range(trials):
        reference, window = rng.multinomial(n_ref, p), rng.multinomial(n_win, p)
        homogeneity += stats.chi2_contingency(np.vstack([reference, window]),
                                              correction=False).pvalue < alpha
        goodness += stats.chisquare(window, n_win * reference / n_ref).pvalue < alpha
    assert 0.005 < homogeneity / trials < 0.016
    assert goodness / trials > 0.04  # theory: P(1.5 chi2_4 > chi2_4 critical) = 0.065


def test_a_huge_reference_makes_the_test_goodness_of_fit() -> None:
    rng = np.random.default_rng(1)
    p = np.array([0.5, 0.3, 0.2])
    reference = rng.multinomial(10**8, p)
    detector = ChiSquare(reference, window_size=300, alpha=0.01)
    values = _stream(rng, 300, np.array([0.45, 0.3, 0.25]))
    detector.update_many(values)
    window = np.bincount(values.astype(int), minlength=3)
    gof = stats.chisquare(window, 300 * reference / reference.sum())
    assert detector.statistics["statistic"] == pytest.approx(gof.statistic, rel=1e-5)


def test_incremental_statistic_equals_recomputation_from_scratch() -> None:
    rng = np.random.default_rng(2)
    reference = np.round(BASE * 1e6).astype(int)
    detector = ChiSquare(reference, window_size=100, alpha=1e-300, min_expected=0.0)
    table = detector.table
    values = np.r_[_stream(rng, 15_000, BASE), _stream(rng, 15_000, BASE[::-1] + 0.01)]
    for i, x in enumerate(values):
        detector.update(x)
        if i % 7 and i < len(values) - 1:
            continue
        counts = np.bincount(table.cells(np.array(detector.window)), minlength=table.n_cells + 1)
        fresh = table.sums(counts)
        running = detector.state_dict()["state"]["sums"]
        np.testing.assert_allclose(running, fresh, rtol=1e-11, atol=1e-300)
        n = len(detector.window) - counts[-1]
        assert detector.statistics["statistic"] == pytest.approx(table.statistic(n, fresh),
                                                                 rel=1e-9, abs=1e-9)
    assert detector.statistics["n_detections"] == 0


def test_detects_a_frequency_change_within_about_a_window() -> None:
    rng = np.random.default_rng(4)
    p = np.array([0.35, 0.25, 0.2, 0.12, 0.08])
    moved = np.array([0.25, 0.25, 0.2, 0.2, 0.1])
    detector = ChiSquare(rng.multinomial(50_000, p), window_size=400, alpha=1e-6)
    fired = detector.update_many(np.r_[_stream(rng, 5000, p), _stream(rng, 2000, moved)])
    assert len(fired) and 5000 < fired[0] < 5000 + 500
    stats_now = detector.statistics  # the last window is after the change
    assert stats_now["unseen_count"] == 0 and stats_now["js_distance"] > 0.05
    assert stats_now["psi"] > 0.03
    quiet = ChiSquare(detector.reference, window_size=400, alpha=1e-6)
    assert len(quiet.update_many(_stream(rng, 20_000, p))) == 0


def test_a_new_category_fires_its_own_test() -> None:
    rng = np.random.default_rng(5)
    p = np.array([0.5, 0.3, 0.2])
    detector = ChiSquare(rng.multinomial(100_000, p), window_size=500, alpha=1e-6,
                         reset_on_drift=False)
    # 2% of a code the reference never showed; the known codes keep their frequencies
    with_new = np.r_[p * 0.98, 0.02]
    values = np.r_[_stream(rng, 3000, p), _stream(rng, 1500, with_new)]
    fired = detector.update_many(values)
    assert len(fired) and 3000 < fired[0] < 3000 + 500
    stats_now = detector.statistics
    assert stats_now["unseen_drift"] == 1.0 and stats_now["unseen_p_value"] < 5e-7
    assert stats_now["statistic"] < stats_now["threshold"]  # the known codes did not move
    assert stats_now["unseen_rate"] == pytest.approx(0.02, abs=0.012)
    assert stats_now["unseen_count"] > stats_now["unseen_threshold"]
    # the default null rate of unseen values: one reference value's share (no singletons)
    assert detector.table.unseen_rate == pytest.approx(1e-5, rel=0.01)


def test_effect_sizes_are_those_of_the_window_cells() -> None:
    detector = ChiSquare([500, 300, 200, 0], window_size=10, min_expected=0.0)
    detector.update_many([0, 0, 1, 2, 2, 2, 3, 3, 9, 1])
    window = np.array([2, 2, 3, 3])  # cells 0, 1, 2, then unseen (codes 3 and 9)
    reference = np.array([500, 300, 200, 0])
    stats_now = detector.statistics
    assert stats_now["js_distance"] == pytest.approx(jensenshannon(window, reference, base=2))
    w, r = np.where(window > 0, window, 0.5), np.where(reference > 0, reference, 0.5)
    w, r = w / w.sum(), r / r.sum()
    assert stats_now["psi"] == pytest.approx(float(np.sum((w - r) * np.log(w / r))))
    assert detector.window_counts().tolist() == [2, 2, 3, 2]
    assert stats_now["dof"] == 2 and stats_now["window_size"] == 10


def test_codes_must_be_non_negative_integers() -> None:
    detector = ChiSquare([10, 20, 30], window_size=5)
    with pytest.raises(ValueError, match=r"integer category codes .* 2\.5 at position 0"):
        detector.update(2.5)
    with pytest.raises(ValueError, match=r"-1\.0"):
        detector.update(-1)
    with pytest.raises(TypeError, match="real number"):
        detector.update("north")
    with pytest.raises(ValueError, match="at position 1"):
        detector.update_many([0, 1.5, 2])
    with pytest.raises(NonFiniteInputError):
        detector.update(math.nan)
    assert detector.n_seen == 0
    skipping = ChiSquare([10, 20, 30], window_size=5, on_nonfinite="skip")
    skipping.update_many([0, math.nan, 7, np.int64(2), True])
    assert skipping.n_skipped == 1 and skipping.window == [0, 7, 2, 1]
    assert skipping.statistics["unseen_count"] == 1  # code 7: past the end of the reference
    bank = DetectorBank(["a", "b"], [ChiSquare([5, 5]), ChiSquare([1, 2, 3])])
    with pytest.raises(ValueError, match=r"0\.5 at position \(1, 1\)"):
        bank.update_many([[0, 1], [1, 0.5]])


def test_reference_params_count_a_sample_of_codes() -> None:
    assert ChiSquare.reference_params(np.array([0, 2, 2, 3.0])) == {"reference": [1, 0, 2, 1]}
    columns = ChiSquare.reference_params(np.array([[0, 1], [0, 3], [2, 3]]))["reference"]
    assert columns.tolist() == [[2, 0], [0, 1], [1, 0], [0, 2]]
    with pytest.raises(ValueError, match="reference"):
        ChiSquare.reference_params(np.array([0.5, 1.0]))


@pytest.mark.parametrize(("change", "message"), [
    ({"window": [0, 1, 0, 1]}, "window_size=3"), ({"window": [0, -2]}, "state window"),
    ({"sums": [0.1, 0.2]}, "3 finite numbers"), ({"sums": [0.1, math.nan, 0.0]}, "finite"),
    ({"steps": 24}, r"steps must be in \[0, 24\)")])
def test_a_state_that_does_not_fit_is_refused(change: dict[str, object], message: str) -> None:
    detector = ChiSquare([10, 20], window_size=3)
    state = detector.state_dict()
    bad = {**state, "state": {**state["state"], **change}}
    with pytest.raises(ValueError, match=message):
        detector.load_state_dict(bad)
    bank = DetectorBank(["a", "b"], [detector, detector])
    banked = bank.state_dict()
    banked["detectors"][1] = bad
    with pytest.raises(ValueError, match=message):
        bank.load_state_dict(banked)


def test_a_single_category_reference_can_only_alarm_on_unseen_values() -> None:
    detector = ChiSquare([1000], window_size=50, alpha=1e-3)
    assert detector.dof == 0 and detector.threshold == math.inf
    assert len(detector.update_many(np.zeros(500))) == 0
    assert detector.statistics["statistic"] == 0.0 and detector.statistics["chi2_p_value"] == 1
    fired = detector.update_many(np.r_[np.zeros(45), np.ones(3)])  # 3 of 50 never seen
    assert fired.tolist() == [47] and detector.statistics["unseen_drift"] == 1.0


def test_a_corrected_bank_reads_the_combined_p_values() -> None:
    """Bonferroni across columns: a column is detected when 3 p_value <= alpha, p_value being
    each detector's own (1 while its window fills)."""
    rng = np.random.default_rng(6)
    p = np.array([0.4, 0.3, 0.2, 0.1])
    references = [rng.multinomial(5000, p) for _ in range(3)]
    rows = np.column_stack([_stream(rng, 600, p), _stream(rng, 600, p),
                            np.r_[_stream(rng, 300, p), _stream(rng, 300, p[::-1])]])
    make = [lambda r=r: ChiSquare(r, window_size=100, alpha=0.01, reset_on_drift=False)
            for r in references]
    bank = DetectorBank(["a", "b", "c"], [m() for m in make], correction="bonferroni",
                        alpha=0.01, reset_on_drift=True)
    singles = [m() for m in make]
    expected = []
    for i, row in enumerate(rows):
        p_values = []
        for det, x in zip(singles, row, strict=True):
            det.update(x)
            p_values.append(det.statistics["p_value"])
        for j in np.flatnonzero(3 * np.array(p_values) <= 0.01):
            expected.append((i, int(j)))
            singles[j].reset()
    got = [tuple(int(v) for v in hit) for hit in bank.update_many(rows)]
    assert got == expected and expected and {j for _, j in expected} == {2}
