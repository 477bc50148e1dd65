"""Run lengths: the renewal ARL estimate, first passages, the bootstrap, alarm counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftline.detectors.calibration import (
    FirstPassages,
    estimate_arl,
    false_alarms,
    moving_block_bootstrap,
)
from driftline.detectors.ddm import DDM
from driftline.detectors.inputs import BINARY


def test_estimate_arl_closed_form() -> None:
    arl, alarms = estimate_arl(np.array([5, 10, 101]), 100)
    assert alarms == 2 and arl == pytest.approx((5 + 10 + 100) / 2)
    assert estimate_arl(np.array([101, 101]), 100) == (math.inf, 0)


def test_moving_block_bootstrap_keeps_blocks() -> None:
    reference = np.arange(100.0)
    stream = moving_block_bootstrap(reference, 53, 5, np.random.default_rng(0))
    assert len(stream) == 53
    blocks = stream[:50].reshape(10, 5)
    np.testing.assert_array_equal(np.diff(blocks, axis=1), 1.0)
    iid = moving_block_bootstrap(reference, 1000, 1, np.random.default_rng(0))
    assert np.isin(iid, reference).all() and len(np.unique(iid)) > 50


def test_first_passages_are_the_first_records_above_a_level() -> None:
    path = np.random.default_rng(3).normal(size=500).cumsum()
    records = FirstPassages()
    records.extend(path[:200])
    records.extend(path[200:])
    for h in (-5.0, 0.0, 3.0, 10.0, 1e9):
        above = np.flatnonzero(path > h)
        expected = int(above[0]) + 1 if len(above) else len(path) + 1
        assert records.first_passage(h) == expected
    strided = FirstPassages(offset=50, step=10)
    strided.extend(np.array([0.1, 0.3, 0.2, 0.5]), values_consumed=95)
    assert [strided.first_passage(h) for h in (0.0, 0.2, 0.4, 0.6)] == [50, 60, 80, 96]


def test_false_alarms_restart_a_fresh_detector_after_each_alarm() -> None:
    errors = BINARY.synthetic(np.random.default_rng(4), 20_000, regime_length=1000)

    def by_hand(values: np.ndarray) -> int:
        alarms, det = 0, DDM()
        for x in values:
            if det.update(x):
                alarms, det = alarms + 1, DDM()
        return alarms

    assert false_alarms(DDM, errors) == by_hand(errors) >= 3
    assert false_alarms(DDM, errors, chunk_size=70) == by_hand(errors)
