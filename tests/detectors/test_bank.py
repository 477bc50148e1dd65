"""DetectorBank and IncrementalKSBank against independent detectors and a scipy reference."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from driftline.detectors.bank import DetectorBank
from driftline.detectors.ddm import DDM
from driftline.detectors.eddm import EDDM
from driftline.detectors.incremental_ks import IncrementalKS
from driftline.detectors.incremental_ks_bank import IncrementalKSBank
from driftline.detectors.inputs import BINARY
from driftline.detectors.page_hinkley import PageHinkley

# scipy falls back from its exact p-value on some tie-heavy samples; the statistic (all we
# compare) is computed before that and is unaffected
pytestmark = pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation:RuntimeWarning")


def _names(m: int) -> list[str]:
    return [f"f{j}" for j in range(m)]


def test_bank_equals_independent_detectors() -> None:
    rng = np.random.default_rng(0)
    refs = rng.normal(size=(300, 3))
    rows = np.c_[rng.normal(size=(900, 2)), rng.normal(size=900) + np.r_[np.zeros(450),
                                                                           np.ones(450)]]

    def build(j: int) -> IncrementalKS | PageHinkley:
        if j == 1:
            return PageHinkley(threshold=10.0)
        return IncrementalKS(refs[:, j], window_size=100, alpha=0.01, reset_on_drift=j == 0)

    bank = DetectorBank(_names(3), factory=build)
    hits = np.concatenate([bank.update_many(rows[:400]), bank.update_many(rows[400:]) +
                           np.array([400, 0])])
    singles = [build(j) for j in range(3)]
    expected = sorted((int(i), j) for j, det in enumerate(singles)
                      for i in det.update_many(rows[:, j]))
    assert [tuple(h) for h in hits.tolist()] == expected
    assert any(j == 2 for _, j in expected)
    for j, det in enumerate(singles):
        assert bank.detectors[j].state_dict() == det.state_dict()
        assert bank.drift_detected[j] == det.drift_detected
        for key, value in det.statistics.items():
            assert bank.statistics[key][j] == value
    assert bank.feature_statistics()["f0"]["threshold"] == singles[0].statistics["threshold"]


def _scipy_reference(
    refs: list[np.ndarray], rows: np.ndarray, window_size: int, alpha: float, method: str,
    reset: bool,
) -> list[tuple[int, int]]:
    """Per-row loop with scipy's KS statistic, kstwobign p-values and scipy's BH adjustment."""
    windows: list[list[float]] = [[] for _ in refs]
    hits = []
    for i, row in enumerate(rows):
        p = np.ones(len(refs))
        for j, x in enumerate(row):
            windows[j] = ([*windows[j], float(x)])[-window_size:]
            if len(windows[j]) == window_size:
                d = stats.ks_2samp(refs[j], windows[j]).statistic
                en = math.sqrt(len(refs[j]) * window_size / (len(refs[j]) + window_size))
                p[j] = stats.kstwobign.sf(en * d)
        if method == "bh":
            adjusted = stats.false_discovery_control(p, method="bh")
        else:
            adjusted = np.minimum(p * len(p), 1.0)
        for j in np.flatnonzero(adjusted <= alpha):
            hits.append((i, int(j)))
            if reset:
                windows[j] = []
    return hits


@pytest.mark.parametrize("method", ["bonferroni", "bh"])
@pytest.mark.parametrize("reset", [True, False])
def test_corrected_banks_match_scipy_reference(method: str, reset: bool) -> None:
    rng = np.random.default_rng(5)
    refs = [rng.integers(0, 6, size=n).astype(float) for n in (40, 55, 30, 47)]
    rows = rng.integers(0, 6, size=(220, 4)).astype(float)
    rows[120:, 1] += 2.0
    rows[150:, 3] = np.floor(rows[150:, 3] / 2)
    expected = _scipy_reference(refs, rows, 25, 0.05, method, reset)
    assert any(j == 1 for _, j in expected) and any(j == 3 for _, j in expected)
    generic = DetectorBank(
        _names(4), [IncrementalKS(r, window_size=25, reset_on_drift=False) for r in refs],
        correction=method, alpha=0.05, reset_on_drift=reset,
    )
    fast = IncrementalKSBank(_names(4), refs, window_size=25, alpha=0.05, correction=method,
                             reset_on_drift=reset)
    assert [tuple(h) for h in generic.update_many(rows).tolist()] == expected
    assert [tuple(h) for h in fast.update_many(rows).tolist()] == expected


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    m=st.integers(min_value=1, max_value=4),
    window_size=st.integers(min_value=1, max_value=12),
    alpha=st.floats(min_value=0.01, max_value=0.5),
    method=st.sampled_from(["bonferroni", "bh"]),
    reset=st.booleans(),
)
def test_fast_bank_equals_generic_bank(
    data: st.DataObject, m: int, window_size: int, alpha: float, method: str, reset: bool,
) -> None:
    small = st.integers(min_value=0, max_value=5).map(float)
    refs = [np.array(data.draw(st.lists(small, min_size=1, max_size=20))) for _ in range(m)]
    n_rows = data.draw(st.integers(min_value=1, max_value=70))
    rows = np.array(data.draw(st.lists(st.lists(small, min_size=m, max_size=m),
                                       min_size=n_rows, max_size=n_rows)))
    cut = data.draw(st.integers(min_value=0, max_value=n_rows))
    generic = DetectorBank(
        _names(m), [IncrementalKS(r, window_size=window_size, alpha=alpha, reset_on_drift=False)
                    for r in refs],
        correction=method, alpha=alpha, reset_on_drift=reset,
    )
    fast = IncrementalKSBank(_names(m), refs, window_size=window_size, alpha=alpha,
                             correction=method, reset_on_drift=reset)
    expected = generic.update_many(rows)
    got = fast.update_many(rows[:cut])
    state = json.loads(json.dumps(fast.state_dict()))
    fast = IncrementalKSBank(_names(m), refs, window_size=window_size, alpha=alpha,
                             correction=method, reset_on_drift=reset)
    fast.load_state_dict(state)
    got = np.concatenate([got, fast.update_many(rows[cut:]) + np.array([cut, 0])])
    np.testing.assert_array_equal(got, expected)
    for key, value in generic.statistics.items():
        np.testing.assert_array_equal(fast.statistics[key], value, err_msg=key)
    assert [d.state_dict() for d in fast.detectors] == [d.state_dict() for d in generic.detectors]


def test_correction_reduces_false_alarms_but_keeps_real_shift() -> None:
    rng = np.random.default_rng(11)
    m, n_rows, shift_at = 20, 6000, 4000
    refs = rng.normal(size=(500, m))
    rows = rng.normal(size=(n_rows, m))
    rows[shift_at:, 13] += 0.6
    counts = {}
    for method in (None, "bonferroni", "bh"):
        bank = IncrementalKSBank(_names(m), refs, window_size=200, alpha=0.01, correction=method)
        hits = bank.update_many(rows)
        false = hits[(hits[:, 1] != 13) | (hits[:, 0] < shift_at)]
        real = hits[(hits[:, 1] == 13) & (hits[:, 0] >= shift_at)]
        counts[method] = (len(false), len(real), int(real[0, 0]) if len(real) else -1)
    assert counts[None][0] >= 5
    for method in ("bonferroni", "bh"):
        assert counts[method][0] <= counts[None][0] // 3, counts
        assert counts[method][1] >= 1 and counts[method][2] < shift_at + 400, counts


def test_state_dict_round_trip_generic_bank() -> None:
    rng = np.random.default_rng(3)
    refs = rng.normal(size=(200, 2))

    def build(j: int) -> IncrementalKS:
        return IncrementalKS(refs[:, j], window_size=50, alpha=0.05)

    bank = DetectorBank(["a", "b"], factory=build)
    rows = rng.normal(0.3, size=(400, 2))
    bank.update_many(rows[:170])
    restored = DetectorBank(["a", "b"], factory=build)
    restored.load_state_dict(json.loads(json.dumps(bank.state_dict())))
    np.testing.assert_array_equal(restored.update_many(rows[170:]), bank.update_many(rows[170:]))
    assert restored.state_dict() == bank.state_dict()
    bank.reset()
    assert bank.statistics["n_seen"].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="correction"):
        DetectorBank(["a", "b"], factory=build, correction="bh").load_state_dict(
            restored.state_dict())


def test_validation() -> None:
    ks = IncrementalKS([0.0, 1.0], window_size=2)
    with pytest.raises(ValueError, match="exactly one"):
        DetectorBank(["a"])
    with pytest.raises(ValueError, match="one detector per feature"):
        DetectorBank(["a", "b"], [ks])
    with pytest.raises(ValueError, match="reset_on_drift=False"):
        DetectorBank(["a"], [ks], correction="bh")
    with pytest.raises(ValueError, match="p_value"):
        DetectorBank(["a"], [PageHinkley(reset_on_drift=False)], correction="bonferroni")
    with pytest.raises(ValueError, match="correction"):
        DetectorBank(["a"], [ks], correction="holm")
    with pytest.raises(ValueError, match="rows of shape"):
        DetectorBank(["a", "b"], [ks, IncrementalKS([0.0])]).update_many(np.zeros((3, 3)))
    bank = IncrementalKSBank(["a"], [[0.0, 1.0]], window_size=2, correction="bh")
    with pytest.raises(ValueError, match="non-finite"):
        bank.update_many([[math.nan]])


def _fast_bank_equals_generic(refs: list[np.ndarray], rows: np.ndarray, starts: list[int], *,
                              window_size: int, alpha: float, method: str,
                              reset: bool) -> np.ndarray:
    """Feed ``rows`` to an IncrementalKSBank in batches beginning at ``starts`` and to the
    generic bank at once; assert equal detections, statistics and detector states and return
    the detections."""
    generic = DetectorBank(
        _names(len(refs)), [IncrementalKS(r, window_size=window_size, alpha=alpha,
                                          reset_on_drift=False) for r in refs],
        correction=method, alpha=alpha, reset_on_drift=reset,
    )
    fast = IncrementalKSBank(_names(len(refs)), refs, window_size=window_size, alpha=alpha,
                             correction=method, reset_on_drift=reset)
    expected = generic.update_many(rows)
    bounds = [*starts, len(rows)]
    got = np.concatenate([fast.update_many(rows[lo:hi]) + np.array([lo, 0])
                          for lo, hi in itertools.pairwise(bounds)])
    np.testing.assert_array_equal(got, expected)
    for key, value in generic.statistics.items():
        np.testing.assert_array_equal(fast.statistics[key], value, err_msg=key)
    assert [d.state_dict() for d in fast.detectors] == [d.state_dict() for d in generic.detectors]
    return expected


@pytest.mark.parametrize("method", ["bonferroni", "bh"])
@pytest.mark.parametrize("reset", [True, False])
def test_fast_bank_skips_in_control_steps_without_changing_anything(method: str,
                                                                    reset: bool) -> None:
    # Realistic sizes, where ks_path_sparse leaves most in-control steps out: detections,
    # statistics and every detector's state must still equal the generic bank's.
    rng = np.random.default_rng(21)
    refs = [rng.normal(size=400), np.round(rng.normal(size=300), 1), rng.integers(0, 4, 350)]
    refs = [np.asarray(r, dtype=float) for r in refs]
    rows = np.column_stack([rng.normal(size=3000), np.round(rng.normal(size=3000), 1),
                            rng.integers(0, 4, 3000).astype(float)])
    rows[1500:, 0] += 0.6
    rows[2200:, 1] *= 1.8
    expected = _fast_bank_equals_generic(refs, rows, [0, 1700], window_size=250, alpha=1e-3,
                                         method=method, reset=reset)
    assert {int(j) for j in expected[:, 1]} >= {0, 1}


@pytest.mark.parametrize("method", ["bonferroni", "bh"])
def test_fast_bank_under_persistent_drift_equals_generic_bank(method: str) -> None:
    # A strong lasting shift: the column is detected again each time its window refills, so
    # the fast bank stops each path at the first certain rejection and recomputes after it.
    rng = np.random.default_rng(8)
    refs = [rng.normal(size=300) for _ in range(3)]
    rows = rng.normal(size=(4000, 3))
    rows[500:, 0] += 2.0
    rows[2500:, 2] *= 3.0
    expected = _fast_bank_equals_generic(refs, rows, list(range(0, len(rows), 700)),
                                         window_size=200, alpha=1e-3, method=method, reset=True)
    assert (expected[:, 1] == 0).sum() >= 10  # detected again after every refill


@pytest.mark.parametrize("make", [lambda: EDDM(), lambda: DDM(),
                                  lambda: PageHinkley(threshold=5.0, forgetting=0.99)])
def test_one_detector_object_may_serve_several_features(make: Any) -> None:
    rows = np.column_stack([BINARY.synthetic(np.random.default_rng(j), 3000, regime_length=300)
                            for j in range(3)])
    shared = make()
    bank = DetectorBank(["a", "b", "c"], [shared] * 3)
    singles = [make() for _ in range(3)]
    expected = sorted((int(i), j) for j, det in enumerate(singles)
                      for i in det.update_many(rows[:, j]))
    assert [tuple(h) for h in bank.update_many(rows).tolist()] == expected
    assert len(expected) >= 3
    assert [d.state_dict() for d in bank.detectors] == [d.state_dict() for d in singles]
