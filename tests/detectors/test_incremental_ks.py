"""IncrementalKS against scipy.stats.ks_2samp / kstwobign and against its own loop."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from driftline.detectors import detector_from_state
from driftline.detectors._kernels.ks_path import ks_path
from driftline.detectors.incremental_ks import IncrementalKS
from driftline.detectors.kolmogorov import ks_threshold

small_ints = st.integers(min_value=-2, max_value=3).map(float)
any_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=64)
values = st.one_of(small_ints, any_floats)

# scipy falls back from its exact p-value on some tie-heavy samples; the statistic (all we
# compare) is computed before that and is unaffected
pytestmark = pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation:RuntimeWarning")


def _windows(window_size: int, stream: np.ndarray) -> list[np.ndarray | None]:
    return [
        stream[t + 1 - window_size : t + 1] if t + 1 >= window_size else None
        for t in range(len(stream))
    ]


@settings(max_examples=60, deadline=None)
@given(
    reference=st.lists(values, min_size=1, max_size=30),
    stream=st.lists(values, min_size=1, max_size=60),
    window_size=st.integers(min_value=1, max_value=20),
)
def test_update_statistic_equals_scipy_with_heavy_ties(
    reference: list[float], stream: list[float], window_size: int
) -> None:
    detector = IncrementalKS(reference, window_size=window_size, reset_on_drift=False)
    for x, window in zip(stream, _windows(window_size, np.array(stream)), strict=True):
        detector.update(x)
        if window is None:
            assert detector.statistics["statistic"] == 0.0
        else:
            assert detector.statistics["statistic"] == stats.ks_2samp(reference, window).statistic


@settings(max_examples=60, deadline=None)
@given(
    reference=st.lists(values, min_size=1, max_size=40),
    window=st.lists(values, min_size=0, max_size=20),
    batch=st.lists(values, min_size=1, max_size=80),
    window_size=st.integers(min_value=1, max_value=20),
    max_cells=st.integers(min_value=1, max_value=300),
)
def test_vectorised_path_equals_scipy(
    reference: list[float], window: list[float], batch: list[float], window_size: int,
    max_cells: int,
) -> None:
    window = window[-window_size:]
    ref = np.sort(reference)
    out = ks_path(ref, np.array(window), np.array(batch), window_size, max_cells=max_cells)
    for t, w in enumerate(_windows(window_size, np.array(window + batch))[len(window) :]):
        if w is None:
            assert math.isnan(out[t])
        else:
            assert out[t] == stats.ks_2samp(ref, w).statistic


def test_exact_in_scipy_asymptotic_regime() -> None:
    # above 10000 values scipy keeps the float |cdf1 - cdf2| instead of rounding to h / lcm
    rng = np.random.default_rng(3)
    reference = rng.integers(0, 6, size=10_003).astype(float)
    stream = rng.integers(0, 7, size=120).astype(float)
    loop = IncrementalKS(reference, window_size=13, reset_on_drift=False)
    path = ks_path(np.sort(reference), np.empty(0), stream, 13)
    for t, w in enumerate(_windows(13, stream)):
        loop.update(stream[t])
        if w is not None:
            expected = stats.ks_2samp(reference, w, method="asymp").statistic
            assert loop.statistics["statistic"] == expected
            assert path[t] == expected


@settings(max_examples=40, deadline=None)
@given(
    reference=st.lists(small_ints, min_size=1, max_size=25),
    stream=st.lists(st.integers(min_value=-2, max_value=6).map(float), min_size=1,
                    max_size=150),
    window_size=st.integers(min_value=1, max_value=15),
    alpha=st.floats(min_value=0.01, max_value=0.6),
    reset_on_drift=st.booleans(),
    cut=st.integers(min_value=0, max_value=150),
)
def test_kernel_equals_the_treap_on_tie_heavy_streams(
    reference: list[float], stream: list[float], window_size: int, alpha: float,
    reset_on_drift: bool, cut: int,
) -> None:
    """The vectorised path against the treap where they differ most: ties, tiny windows."""
    params = {"reference": reference, "window_size": window_size, "alpha": alpha,
              "reset_on_drift": reset_on_drift}
    loop, batch = IncrementalKS(**params), IncrementalKS(**params)
    fired_loop = [i for i, x in enumerate(stream) if loop.update(x)]
    fired = list(batch.update_many(stream[:cut]))
    batch = detector_from_state(json.loads(json.dumps(batch.state_dict())))
    fired += [cut + i for i in batch.update_many(stream[cut:])]
    assert fired == fired_loop
    assert batch.state_dict() == loop.state_dict()
    assert batch.statistics == loop.statistics
    assert batch.drift_detected == loop.drift_detected


def test_restored_treap_is_the_very_same_tree() -> None:
    rng = np.random.default_rng(0)
    detector = IncrementalKS(rng.normal(size=300), window_size=100, alpha=0.05, seed=7)
    for x in rng.normal(size=250):
        detector.update(x)
    restored = IncrementalKS.from_state_dict(json.loads(json.dumps(detector.state_dict())))
    tail = rng.normal(loc=0.5, size=400)
    ours = [detector.update(x) for x in tail]
    theirs = [restored.update(x) for x in tail]
    assert ours == theirs and any(ours)
    assert restored.statistics == detector.statistics
    # the rebuilt treap is the very same tree: priorities are a seeded hash of the keys
    assert restored._tree is not None and detector._tree is not None
    assert restored._tree.items() == detector._tree.items()
    assert restored._tree.depth() == detector._tree.depth()


def test_threshold_and_detection_semantics() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=400)
    detector = IncrementalKS(reference, window_size=100, alpha=0.01)
    expected = math.sqrt(-math.log(0.005) / 2) * math.sqrt(500 / 40_000)
    assert detector.statistics["threshold"] == pytest.approx(expected, rel=1e-15)
    assert ks_threshold(0.01, 400, 100) == detector.statistics["threshold"]
    fired = detector.update_many(np.r_[rng.normal(size=2000), rng.normal(2.0, size=300)])
    post = fired[fired >= 2000]
    assert len(post) >= 2 and post[0] < 2100
    # reset_on_drift: consecutive detections are at least a full window apart
    assert np.all(np.diff(post) >= 100)
    assert detector.statistics["window_fill"] <= 1.0


def test_no_reset_keeps_firing_and_reports_p_value() -> None:
    rng = np.random.default_rng(2)
    detector = IncrementalKS(rng.normal(size=200), window_size=50, reset_on_drift=False)
    fired = detector.update_many(rng.normal(3.0, size=120))
    assert list(fired) == list(range(49, 120))
    window = detector.window
    expected = stats.ks_2samp(detector.reference, window, method="asymp")
    assert detector.statistics["statistic"] == expected.statistic
    # scipy's asymp uses kstwo.sf(d, round(en)); the Kolmogorov limit is kstwobign
    en = math.sqrt(200 * 50 / 250)
    assert detector.statistics["p_value"] == pytest.approx(
        stats.kstwobign.sf(en * expected.statistic), rel=1e-10, abs=1e-300
    )


def test_validation() -> None:
    with pytest.raises(ValueError, match="reference"):
        IncrementalKS([])
    with pytest.raises(ValueError, match="reference"):
        IncrementalKS([1.0, math.nan])
    with pytest.raises(ValueError, match="window_size"):
        IncrementalKS([1.0], window_size=0)
    with pytest.raises(ValueError, match="alpha"):
        IncrementalKS([1.0], alpha=1.0)
    with pytest.raises(TypeError, match="reset_on_drift"):
        IncrementalKS([1.0], reset_on_drift="yes")


def test_reset_keeps_reference() -> None:
    detector = IncrementalKS([0.0, 1.0, 2.0], window_size=2, reset_on_drift=False)
    detector.update_many([5.0, 6.0])
    assert detector.statistics["statistic"] == 1.0
    detector.reset()
    assert detector.window == [] and detector.n_seen == 0
    assert detector.reference == [0.0, 1.0, 2.0]
    detector.update_many([0.0, 2.0])
    assert detector.statistics["statistic"] == stats.ks_2samp([0, 1, 2], [0, 2]).statistic
