"""Practical significance: banks gate detections on a minimum effect size (detectors.effect_gate).

A 0.05 sigma mean shift over 2,000,000 values is statistically certain for Page-Hinkley at
delta 0.1 and ARL0 10^6 (its up side then drifts at -0.05: about one alarm per 40,000 values),
and practically negligible: with ``min_effect=0.2`` (sigma) nothing is reported, without it
dozens of alarms are; a 0.5 sigma shift is reported either way (gated, once the effect window
holds enough of it).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from driftline.detectors.bank import DetectorBank
from driftline.detectors.calibration.cusum import cusum_threshold
from driftline.detectors.ddm import DDM
from driftline.detectors.incremental_ks import IncrementalKS
from driftline.detectors.incremental_ks_bank import IncrementalKSBank
from driftline.detectors.page_hinkley_bank import PageHinkleyBank


def _bank(**gate: object) -> PageHinkleyBank:
    return PageHinkleyBank(["tiny", "large"], delta=0.1, threshold=cusum_threshold(1e6, 0.1),
                           reference_means=0.0, reference_stds=1.0, **gate)  # type: ignore[arg-type]


def _rows() -> np.ndarray:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(2_000_000, 2))
    rows[:, 0] += 0.05
    rows[1_900_000:, 1] += 0.5
    return rows


def test_tiny_certain_shift_pages_only_without_min_effect() -> None:
    rows = _rows()
    plain, gated = _bank(), _bank(min_effect=0.2, effect_window=1000)
    everything = plain.update_many(rows)
    reported = gated.update_many(rows)
    tiny = everything[everything[:, 1] == 0]
    assert len(tiny) > 20  # statistically certain
    assert not (reported[:, 1] == 0).any()  # practically negligible: never reported
    # the real shift is reported by both; the gate waits until the effect window holds enough
    # of it (0.2 / 0.5 of its 1,000 values, plus noise); an ungated false alarm of the
    # unshifted stretch may come before
    large = everything[(everything[:, 1] == 1) & (everything[:, 0] >= 1_900_000)]
    first = reported[reported[:, 1] == 1][0, 0]
    assert large[0, 0] < 1_900_100 and large[0, 0] <= first < 1_900_700
    # same detections underneath: the gate only removes
    assert {tuple(r) for r in reported} <= {tuple(r) for r in everything}
    stats_ = gated.statistics
    assert stats_["suppressed_detections"][0] == len(tiny)
    np.testing.assert_allclose(stats_["effect_size"], np.abs(rows[-1000:].mean(axis=0)))
    assert "effect_size" not in plain.statistics


def test_effect_sizes_are_the_declared_measures() -> None:
    rng = np.random.default_rng(1)
    reference, window = rng.normal(size=700), rng.normal(0.3, 1.0, size=250)
    ks = IncrementalKS(reference, window_size=250)
    assert ks.effect_size(window) == pytest.approx(stats.ks_2samp(reference, window).statistic)
    assert IncrementalKS.effect_name == "KS distance"
    ph = _bank().detectors[0]
    assert ph.effect_size(np.array([0.5, 1.5])) == pytest.approx(1.0)
    assert np.isnan(ph.effect_size(np.empty(0)))


def test_gated_bank_state_round_trips_and_resets() -> None:
    rows = _rows()[:300_000]
    bank = IncrementalKSBank(["a", "b"], np.random.default_rng(2).normal(size=(800, 2)),
                             window_size=200, alpha=1e-3, min_effect=[0.12, None],
                             effect_window=200)
    first = bank.update_many(rows[:150_000])
    state = json.loads(json.dumps(bank.state_dict()))
    twin = IncrementalKSBank(["a", "b"], np.random.default_rng(2).normal(size=(800, 2)),
                             window_size=200, alpha=1e-3, min_effect=[0.12, None],
                             effect_window=200)
    twin.load_state_dict(state)
    np.testing.assert_array_equal(bank.update_many(rows[150_000:]),
                                  twin.update_many(rows[150_000:]))
    np.testing.assert_array_equal(bank.statistics["effect_size"], twin.statistics["effect_size"])
    assert len(first) and bank.statistics["suppressed_detections"][1] == 0
    bank.reset()
    assert np.isnan(bank.statistics["effect_size"]).all()
    ungated = IncrementalKSBank(["a", "b"], np.random.default_rng(2).normal(size=(800, 2)),
                                window_size=200, alpha=1e-3)
    with pytest.raises(ValueError, match="effect-size tracking"):
        ungated.load_state_dict(state)


def test_errors() -> None:
    with pytest.raises(ValueError, match="declares none"):
        DetectorBank(["e"], [DDM(kind="binary")], min_effect=0.1)
    with pytest.raises(ValueError, match="min_effect"):
        _bank(min_effect=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"min_effect\[0\]"):
        _bank(min_effect=-1.0)
    with pytest.raises(ValueError, match="reference_mean"):
        PageHinkleyBank(["x"], min_effect=0.1)  # a running mean has no effect size
