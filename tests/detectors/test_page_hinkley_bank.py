"""PageHinkleyBank must behave exactly like one PageHinkley per column."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest

from driftline.detectors.base import NonFiniteInputError
from driftline.detectors.page_hinkley import PageHinkley
from driftline.detectors.page_hinkley_bank import PageHinkleyBank

N_FEATURES = 6
NAMES = [f"f{i}" for i in range(N_FEATURES)]
THRESHOLDS = [4.0, 5.0, 6.0, 7.0, 8.0, 5.5]
MEANS = [0.0, None, 0.5, None, 0.0, None]
STDS = [1.0, 1.3, None, None, 2.0, None]

CONFIGS: list[dict[str, Any]] = [
    {},
    {"forgetting": 0.99},
    {"forgetting": 0.6, "warmup": 4},
    {"direction": "up", "min_instances": 5},
    {"reset_on_drift": False, "forgetting": 0.999},
]


def _rows(seed: int, n: int = 6000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shifts = np.repeat(rng.normal(size=(-(-n // 250), N_FEATURES)) * 2.0, 250, axis=0)[:n]
    return rng.normal(size=(n, N_FEATURES)) * 1.3 + shifts


def _singles(config: dict[str, Any]) -> list[PageHinkley]:
    return [
        PageHinkley(delta=0.1, threshold=THRESHOLDS[f], reference_mean=MEANS[f],
                    reference_std=STDS[f], **config)
        for f in range(N_FEATURES)
    ]


def _bank(config: dict[str, Any]) -> PageHinkleyBank:
    return PageHinkleyBank(NAMES, delta=0.1, threshold=THRESHOLDS, reference_means=MEANS,
                           reference_stds=STDS, **config)


@pytest.mark.parametrize("config", CONFIGS)
def test_bank_matches_one_detector_per_column_exactly(config: dict[str, Any]) -> None:
    rows = _rows(len(json.dumps(config)))
    singles = _singles(config)
    expected = sorted(
        (i, f) for f, det in enumerate(singles)
        for i in det.update_many(rows[:, f]).tolist()
    )
    bank = _bank(config)
    got: list[tuple[int, int]] = []
    cuts = [0, 1, 777, 778, 3000, 4999, len(rows)]
    for start, stop in itertools.pairwise(cuts):
        hits = bank.update_many(rows[start:stop])
        assert hits.shape[1] == 2 and hits.dtype == np.int64
        got += [(int(r) + start, int(f)) for r, f in hits]
    assert len(expected) > 30
    assert got == expected
    stats = bank.feature_statistics()
    for f, det in enumerate(singles):
        single = det.statistics
        for key in ("statistic", "statistic_up", "statistic_down", "threshold", "mean",
                    "std", "ready", "drift", "n_detections", "n_seen"):
            np.testing.assert_equal(stats[NAMES[f]][key], single[key], err_msg=key)
    np.testing.assert_array_equal(bank.drift_detected, [d.drift_detected for d in singles])


@pytest.mark.parametrize("config", CONFIGS)
def test_bank_state_dict_json_round_trip(config: dict[str, Any]) -> None:
    rows = _rows(3, 4000)
    original = _bank(config)
    original.update_many(rows[:1234])
    restored = _bank(config)
    restored.load_state_dict(json.loads(json.dumps(original.state_dict())))
    np.testing.assert_array_equal(restored.update_many(rows[1234:]),
                                  original.update_many(rows[1234:]))
    assert json.dumps(restored.state_dict()) == json.dumps(original.state_dict())
    with pytest.raises(ValueError, match="parameters"):
        PageHinkleyBank(NAMES, threshold=1.0).load_state_dict(original.state_dict())


def test_bank_detects_the_shifted_feature_and_resets() -> None:
    rng = np.random.default_rng(8)
    rows = rng.normal(size=(3000, 4))
    rows[2000:, 2] -= 1.0
    bank = PageHinkleyBank(["a", "b", "c", "d"], delta=0.25, threshold=30.0)
    hits = bank.update_many(rows)
    assert [int(f) for f in hits[:, 1]] == [2]
    assert 2000 <= hits[0, 0] < 2200
    assert bank.statistics["n_detections"].tolist() == [0.0, 0.0, 1.0, 0.0]
    bank.reset()
    assert bank.statistics["n_seen"].tolist() == [0.0] * 4
    assert not bank.drift_detected.any()
    assert not bank.warning_detected.any()


def test_bank_validation() -> None:
    with pytest.raises(ValueError, match="threshold"):
        PageHinkleyBank(["a", "b"], threshold=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="reference_stds"):
        PageHinkleyBank(["a", "b"], reference_stds=[1.0, 0.0])
    with pytest.raises(ValueError, match="delta"):
        PageHinkleyBank(["a"], delta=-1.0)
    with pytest.raises(ValueError, match="feature_names"):
        PageHinkleyBank(["a", "a"])
    bank = PageHinkleyBank(["a", "b"])
    with pytest.raises(ValueError, match="rows of shape"):
        bank.update_many(np.zeros((3, 3)))
    with pytest.raises(NonFiniteInputError, match="'b'"):
        bank.update_many([[0.0, 1.0], [0.0, np.nan]])
    assert bank.update_many(np.empty((0, 2))).shape == (0, 2)


@pytest.mark.parametrize("config", [{}, {"reference_means": 0.0, "reference_stds": 1.0},
                                    {"reference_means": 0.0, "direction": "down"}])
def test_wide_bank_with_frequent_restarts_matches_single_detectors(
    config: dict[str, Any]
) -> None:
    # 32 features in one pass and a low threshold: features restarted at different rows share
    # later passes (each masked before its own start)
    rng = np.random.default_rng(21)
    rows = rng.normal(size=(3000, 32)) + np.repeat(rng.normal(size=(12, 32)), 250, axis=0)
    names = [f"g{j}" for j in range(32)]
    bank = PageHinkleyBank(names, delta=0.1, threshold=6.0, **config)
    got = [(int(r), int(f)) for r, f in bank.update_many(rows[:1000])]
    got += [(int(r) + 1000, int(f)) for r, f in bank.update_many(rows[1000:])]
    single_config = {{"reference_means": "reference_mean", "reference_stds": "reference_std"}
                     .get(k, k): v for k, v in config.items()}
    singles = [PageHinkley(delta=0.1, threshold=6.0, **single_config) for _ in names]
    expected = sorted((int(i), f) for f, det in enumerate(singles)
                      for i in det.update_many(rows[:, f]))
    assert len(expected) > 100
    assert got == expected
    saved = bank.state_dict()["detectors"]
    for f, det in enumerate(singles):
        assert saved[f] == det.state_dict(), f
    # and the per-value update of the scalar detector gives the same detections and state
    for f in (0, 13, 31):
        loop = PageHinkley(delta=0.1, threshold=6.0, **single_config)
        hits = [i for i, x in enumerate(rows[:, f].tolist()) if loop.update(x)]
        assert hits == [r for r, g in expected if g == f]
        assert loop.state_dict()["state"] == singles[f].state_dict()["state"]
