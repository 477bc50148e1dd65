"""Tests of NM-DDM against exact kernel MMD, scipy's KS test and simulated run lengths (the
protocol: test_protocol)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from driftline.detectors import detector_from_state, make_detector
from driftline.detectors.base import NonFiniteInputError
from driftline.detectors.nm_ddm import NMDDM

RHO_COV = np.array([[1.0, 0.8], [0.8, 1.0]])


def _gauss_gram(a: np.ndarray, b: np.ndarray, bandwidth: float) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.exp(-np.maximum(d2, 0.0) / (2.0 * bandwidth**2))


def _standardise(ref: np.ndarray, x: np.ndarray) -> np.ndarray:
    std = ref.std(axis=0)
    return (x - ref.mean(axis=0)) / np.where(std > 0, std, 1.0)


@pytest.fixture(scope="module")
def bivariate() -> tuple[np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(7)
    return rng.normal(size=(4000, 2)), rng


def test_correlation_change_detected_while_marginal_ks_is_not() -> None:
    window, change = 200, 400
    delays = []
    nm_window_power, ks_window_power, alphas = [], [], []
    for seed in range(5):
        rng = np.random.default_rng(1000 + seed)
        ref = rng.normal(size=(4000, 2))
        det = NMDDM(ref, window_size=window, target_arl0=1000, random_state=seed,
                    reset_on_drift=False)
        stream = np.vstack([rng.normal(size=(change, 2)),
                            rng.multivariate_normal([0, 0], RHO_COV, size=2000)])
        fired = det.update_many(stream)
        after = fired[fired >= change]
        if len(after):
            delays.append(int(after[0]) - change)

        # Same per-window false-alarm level for both tests: the NM-DDM threshold's upper-tail
        # probability under its own simulated null of full-window statistics.
        det_win = NMDDM(ref, window_size=window, target_arl0=1000, random_state=seed).calibrate()
        alpha = float(np.mean(det_win._null > det_win.threshold))
        alphas.extend([alpha] * 20)
        drifted = rng.multivariate_normal([0, 0], RHO_COV, size=(20, window))
        for block in drifted:
            det_win.reset()
            det_win.update_many(block)
            nm_window_power.append(det_win.statistics["statistic"] > det_win.threshold)
            p_min = min(stats.ks_2samp(block[:, j], ref[:, j]).pvalue for j in range(2))
            ks_window_power.append(p_min < alpha / 2)  # Bonferroni over the two features
    print(f"delays={delays} alpha={np.mean(alphas):.4g} nm_power={np.mean(nm_window_power):.3f} "
          f"ks_power={np.mean(ks_window_power):.3f}")
    # high power: detected in every seed, within a few windows
    assert len(delays) == 5, delays
    assert max(delays) < 5 * window, delays
    assert np.mean(nm_window_power) > 0.9
    # the marginals are N(0, 1) before and after: KS flags at most at its false-alarm level
    # (binomial sampling error over the windows)
    level = float(np.mean(alphas))
    assert np.mean(ks_window_power) <= level + 3 * math.sqrt(level * (1 - level) / len(alphas))
    assert level < 0.1


def test_mean_shift_in_one_of_ten_dims() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(4000, 10))
    det = NMDDM(ref, window_size=200, target_arl0=1000, random_state=0)
    shifted = rng.normal(size=(1500, 10))
    shifted[:, 4] += 1.0
    fired = det.update_many(np.vstack([rng.normal(size=(300, 10)), shifted]))
    after = fired[fired >= 300]
    assert len(after) > 0 and after[0] - 300 < 400


def test_false_alarm_run_length_near_target() -> None:
    target, steps, n_seeds = 1000.0, 40_000, 3
    alarms = 0
    for seed in range(n_seeds):
        rng = np.random.default_rng(50 + seed)
        det = NMDDM(rng.normal(size=(4000, 2)), window_size=200, target_arl0=target,
                    random_state=seed)
        alarms += len(det.update_many(rng.normal(size=(steps, 2))))
    expected = n_seeds * steps / target
    # relative sd of the alarm rate: counting noise of the test stream (~1/sqrt(expected)) plus
    # the calibration's own renewal estimate, 50 * ARL0 steps per seed (~1/sqrt(50 * n_seeds))
    rel_sd = math.sqrt(1.0 / expected + 1.0 / (50 * n_seeds))
    assert expected * (1 - 3 * rel_sd) <= alarms <= expected * (1 + 3 * rel_sd), alarms


@pytest.mark.parametrize(("unbiased", "n_features_rff"), [(False, 256), (True, 256), (False, 4096)])
def test_mmd2_matches_exact_gaussian_kernel_mmd(unbiased: bool, n_features_rff: int) -> None:
    rng = np.random.default_rng(11)
    ref = rng.normal(size=(1200, 3))
    det = NMDDM(ref, window_size=300, n_features_rff=n_features_rff, target_arl0=2000,
                calibration_steps=3000, unbiased=unbiased, random_state=4)
    window = rng.normal(size=(300, 3)) * [1.0, 1.3, 1.0] + [0.6, 0.0, 0.0]
    det.update_many(window)
    estimate = det.statistics["statistic"]

    zr = _standardise(ref, det.embedding_reference)
    zw = _standardise(ref, window)
    bw = det.bandwidth_
    k_ww, k_rr, k_wr = (_gauss_gram(zw, zw, bw), _gauss_gram(zr, zr, bw),
                        _gauss_gram(zw, zr, bw))
    n, m = len(zw), len(zr)
    if unbiased:
        exact = ((k_ww.sum() - n) / (n * (n - 1)) + (k_rr.sum() - m) / (m * (m - 1))
                 - 2 * k_wr.mean())
    else:
        exact = k_ww.mean() + k_rr.mean() - 2 * k_wr.mean()

    # The RFF estimate is the average over n_features_rff / 2 i.i.d. frequencies w ~ N(0, bw^-2)
    # of f(w) = |mean_window e^{i w.z} - mean_ref e^{i w.z}|^2 (minus the same diagonal terms
    # as the exact statistic when unbiased), whose expectation is the exact MMD^2. Its standard
    # error is std(f) / sqrt(n_features_rff / 2); std(f) is measured on independent frequencies.
    omegas = np.random.default_rng(99).normal(0, 1 / bw, size=(3, 4000))
    cw, cr = np.exp(1j * zw @ omegas), np.exp(1j * zr @ omegas)
    f = np.abs(cw.mean(0) - cr.mean(0)) ** 2
    if unbiased:
        f = ((np.abs(cw.sum(0)) ** 2 - n) / (n * (n - 1)) + (np.abs(cr.sum(0)) ** 2 - m)
             / (m * (m - 1)) - 2 * (cw.mean(0) * cr.mean(0).conj()).real)
    assert f.mean() == pytest.approx(exact, abs=4 * f.std() / math.sqrt(len(f)))
    tolerance = 4 * f.std() / math.sqrt(det.n_features_rff / 2)
    assert abs(estimate - exact) < tolerance
    print(f"D={n_features_rff} exact={exact:.5f} rff={estimate:.5f} tolerance={tolerance:.5f}")
    # the comparison is not vacuous: the error bound is a small fraction of MMD^2 at D = 4096
    assert exact > (10 if n_features_rff >= 4096 else 2) * tolerance


def test_a_row_statistic_does_not_depend_on_its_batch() -> None:
    """One-row batches give the loop's statistics step by step, and the int64 window sums of
    a batch and of the loop agree (the batch path's sliding sums are exact)."""
    rng = np.random.default_rng(5)
    ref = rng.normal(size=(600, 4))
    shift = np.array([0.8, 0.0, 0.0, 0.0])
    stream = np.vstack([rng.normal(size=(300, 4)), rng.normal(size=(300, 4)) + shift])
    params = dict(window_size=50, n_features_rff=64, target_arl0=500, random_state=2)
    loop, single, batch = NMDDM(ref, **params), NMDDM(ref, **params), NMDDM(ref, **params)
    batch.update_many(stream)
    for row in stream:
        loop.update(row)
        single.update_many(row[None, :])
        assert single.statistics["statistic"] == loop.statistics["statistic"]
    assert loop.statistics["n_detections"] >= 1
    assert np.array_equal(batch._window.sum, loop._window.sum)


def test_integer_features_equal_the_matrix_product_reference() -> None:
    """The per-dimension projection equals ``standardise(x) @ W`` (exact arithmetic), and the
    column and row layouts hold the same integers."""
    rng = np.random.default_rng(12)
    ref = rng.normal(size=(300, 6)) * [1.0, 10.0, 0.1, 1.0, 5.0, 1.0]
    det = NMDDM(ref, window_size=30, n_features_rff=64, target_arl0=300, random_state=5)
    features = det._model.features
    x = np.vstack([rng.normal(size=(500, 6)) * 3.0, ref[:10] * 1e6])
    proj = features.standardise(x) @ features.frequencies
    expected = np.rint(np.hstack([np.cos(proj), np.sin(proj)]) * 2.0**30).astype(np.int64)
    assert np.array_equal(features.int_features(x), expected)
    assert np.array_equal(features.int_feature_columns(x), expected.T)
    assert np.array_equal(features.int_features(x[3:4]), expected[3:4])


def test_restored_window_sum_and_weights_are_exact() -> None:
    rng = np.random.default_rng(8)
    ref = rng.normal(size=(500, 3))
    stream = np.vstack([rng.normal(size=(400, 3)), rng.normal(size=(600, 3)) * [1, 2, 1]])
    det = make_detector("nm_ddm", reference=ref, window_size=60, n_features_rff=32,
                        target_arl0=600, random_state=3)
    det.update_many(stream[:250])
    restored = detector_from_state(json.loads(json.dumps(det.state_dict())))
    assert isinstance(restored, NMDDM)
    for row in stream[250:]:
        assert restored.update(row) == det.update(row)
        assert restored.statistics == det.statistics
    assert det.statistics["n_detections"] > 0
    assert json.dumps(restored.state_dict()) == json.dumps(det.state_dict())
    # the running int64 window sum never drifts from the sum of the stored window features
    assert np.array_equal(det._window.sum, det._model.features.int_features(
        np.asarray(det.state_dict()["state"]["window"])).sum(axis=0))
    # the RFF weights are regenerated from the seed, identically
    assert np.array_equal(restored._model.features.frequencies, det._model.features.frequencies)


def test_statistics_p_value_and_reset(bivariate: tuple[np.ndarray, np.random.Generator]) -> None:
    ref, rng = bivariate
    det = NMDDM(ref, window_size=100, target_arl0=500, random_state=0, reset_on_drift=False)
    det.update_many(rng.normal(size=(50, 2)))
    s = det.statistics
    assert s["window_fill"] == 0.5 and s["n_seen"] == 50 and not det.drift_detected
    det.update_many(rng.normal(size=(100, 2)))
    p_null = det.statistics["p_value"]
    det.update_many(rng.normal(size=(100, 2)) + 2.0)
    s = det.statistics
    assert det.drift_detected and s["statistic"] > s["threshold"]
    assert 0 < s["p_value"] < 0.01 < p_null <= 1
    det.reset()
    assert det.statistics["window_fill"] == 0 and det.n_seen == 0
    det.update([0.0, 0.0])
    with pytest.raises(ValueError, match="x must have 2 features"):
        det.update([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="x must have 2 features"):
        det.update_many(np.zeros((4, 3)))
    assert det.n_seen == 1 and det.statistics["window_fill"] == 0.01
    with pytest.raises(NonFiniteInputError):
        det.update([np.nan, 0.0])


def test_zero_std_feature_and_skip_policy() -> None:
    rng = np.random.default_rng(2)
    ref = np.column_stack([rng.normal(size=300), np.zeros(300)])
    det = NMDDM(ref, window_size=40, n_features_rff=32, target_arl0=400,
                calibration_steps=4000, on_nonfinite="skip")
    fired = det.update_many(np.vstack([ref[:50], [[np.inf, 0.0]], ref[50:90]]))
    assert det.statistics["n_skipped"] == 1 and det.n_seen == 90
    assert np.isfinite(det.statistics["statistic"]) and len(fired) == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"window_size": 1}, "window_size"),
        ({"n_features_rff": 33}, "n_features_rff"),
        ({"n_features_rff": 0}, "n_features_rff"),
        ({"bandwidth": 0.0}, "bandwidth"),
        ({"target_arl0": 100}, "target_arl0"),
        ({"holdout_fraction": 1.0}, "holdout_fraction"),
        ({"calibration_steps": 10}, "calibration_steps"),
        ({"unbiased": "yes"}, "unbiased"),
        ({"reset_on_drift": 1}, "reset_on_drift"),
        ({"random_state": -1}, "random_state"),
        ({"on_nonfinite": "drop"}, "on_nonfinite"),
        ({"reference": np.zeros(30)}, "reference"),
        ({"reference": np.full((30, 2), np.nan)}, "reference"),
    ],
)
def test_validation_errors_name_the_parameter(kwargs: dict, name: str) -> None:
    params = {"reference": np.random.default_rng(0).normal(size=(100, 2)), "window_size": 100}
    params.update(kwargs)
    with pytest.raises((TypeError, ValueError), match=name):
        NMDDM(**params)
