"""Statistic paths: first passages equal real run lengths; kernel path equals the loop's."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors.calibration import statistic_path
from driftline.detectors.page_hinkley import PageHinkley


def test_first_passage_equals_real_run_length() -> None:
    rng = np.random.default_rng(5)
    stream = rng.normal(size=5000)
    path = statistic_path(PageHinkley(delta=0.1, threshold=1000.0), stream)
    for h in (3.0, 8.0, 15.0):
        passage = int(np.argmax(np.nan_to_num(path, nan=-np.inf) > h)) + 1
        real = PageHinkley(delta=0.1, threshold=h).update_many(stream)
        assert passage == int(real[0]) + 1



@pytest.mark.parametrize("params", [{}, {"reference_mean": 0.2, "reference_std": 1.1},
                                    {"direction": "up", "warmup": 5, "min_instances": 1}])
def test_kernel_path_equals_the_loop_and_continues(params: dict[str, float]) -> None:
    class LoopOnly(PageHinkley):
        kernel = None

    stream = np.random.default_rng(8).normal(0.1, 1.0, 3000)
    fast, slow = PageHinkley(threshold=1e6, **params), LoopOnly(threshold=1e6, **params)
    path = np.concatenate([statistic_path(fast, stream[:1234]),
                           statistic_path(fast, stream[1234:])])
    # the value completing the warm-up reads 0 in the loop (the detector is ready after it) and
    # NaN on the kernel's path (no detection was possible at it): neither passes a threshold
    np.testing.assert_array_equal(np.nan_to_num(path, nan=0.0),
                                  np.nan_to_num(statistic_path(slow, stream), nan=0.0))
    assert np.isnan(path[0]) and np.isfinite(path[40:]).all()
    assert fast.state_dict()["state"] == slow.state_dict()["state"]
    assert fast.n_seen == slow.n_seen == len(stream)


def test_statistic_path_refuses_nonfinite_values() -> None:
    with pytest.raises(ValueError, match="finite"):
        statistic_path(PageHinkley(), np.array([0.0, np.nan]))
