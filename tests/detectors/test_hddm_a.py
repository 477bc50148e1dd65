"""HDDM_A: river's detections on 0/1 streams, the real variant (the protocol: test_protocol)."""

from __future__ import annotations

import numpy as np
import pytest
from river.drift.binary import HDDMA as RiverHDDMA  # noqa: N811

from driftline.detectors.hddm_a import HDDMA
from tests.detectors.error_streams import piecewise_binary, river_path


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("two_sided", [False, True])
def test_matches_river(seed: int, two_sided: bool) -> None:
    xs = piecewise_binary(seed)
    expected = river_path(RiverHDDMA(two_sided_test=two_sided), xs)
    assert river_path(HDDMA(two_sided=two_sided), xs) == expected
    assert HDDMA(two_sided=two_sided).update_many(xs).tolist() == expected[0]


def test_some_streams_detect() -> None:
    assert sum(len(HDDMA(two_sided=True).update_many(piecewise_binary(s))) for s in range(6)) > 3


def test_real_kind_scales_to_bounds() -> None:
    rng = np.random.default_rng(0)
    errors = np.concatenate([rng.exponential(1.0, 3000), rng.exponential(2.5, 1000)])
    real = HDDMA(kind="real", bounds=(0.0, 10.0))
    hits = real.update_many(errors)
    assert len(hits) and 3000 <= hits[0] < 3300
    # identical to feeding the clipped, rescaled values to the [0, 1] detector
    unit = HDDMA(kind="real")
    assert unit.update_many(np.clip(errors, 0.0, 10.0) / 10.0).tolist() == hits.tolist()
    quiet = [len(HDDMA(kind="real", bounds=(0.0, 10.0)).update_many(
        np.random.default_rng(s).exponential(1.0, 5000))) for s in range(6)]
    assert sum(quiet) <= 1


def test_statistics_and_validation() -> None:
    det = HDDMA()
    det.update_many(piecewise_binary(0, (0.2,), 400))
    stats = det.statistics
    for key in ("statistic", "threshold", "warning_threshold", "error_rate", "n_seen"):
        assert key in stats
    assert stats["threshold"] >= stats["warning_threshold"]
    with pytest.raises(ValueError, match=r"3\.0"):
        det.update_many([0.0, 3.0])
    assert det.n_seen == 400
    with pytest.raises(ValueError, match="warning_confidence"):
        HDDMA(drift_confidence=0.01, warning_confidence=0.001)
    with pytest.raises(ValueError, match="bounds"):
        HDDMA(kind="real", bounds=(1.0, 1.0))


def test_module_docstring_example_runs() -> None:
    import doctest

    import driftline.detectors.hddm_a as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
