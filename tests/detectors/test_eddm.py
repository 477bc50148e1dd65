"""EDDM: river's detections and warnings on 0/1 streams (the protocol: test_protocol)."""

from __future__ import annotations

import pytest
from river.drift.binary import EDDM as RiverEDDM  # noqa: N811

from driftline.detectors.eddm import EDDM
from tests.detectors.error_streams import piecewise_binary, river_path


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("warm", "alpha", "beta"), [(30, 0.95, 0.9), (50, 0.8, 0.75)])
def test_matches_river(seed: int, warm: int, alpha: float, beta: float) -> None:
    xs = piecewise_binary(seed)
    expected = river_path(RiverEDDM(warm_start=warm, alpha=alpha, beta=beta), xs)
    assert river_path(EDDM(warm_start=warm, alpha=alpha, beta=beta), xs) == expected
    batch = EDDM(warm_start=warm, alpha=alpha, beta=beta)
    assert batch.update_many(xs).tolist() == expected[0]


def test_detects_rate_increase_with_few_false_alarms() -> None:
    def make() -> EDDM:
        return EDDM(warm_start=100, alpha=0.8, beta=0.75)

    # EDDM is known for false alarms: allow about one per 7500 quiet values
    quiet = [len(make().update_many(piecewise_binary(s, (0.1,), 5000))) for s in range(6)]
    assert sum(quiet) <= 4
    delays = []
    for seed in range(6):
        hits = make().update_many(piecewise_binary(seed, (0.1, 0.4), 3000))
        after = hits[hits >= 3000]
        assert len(after)
        delays.append(int(after[0]) - 3000)
    assert max(delays) < 600


def test_statistics_and_validation() -> None:
    det = EDDM()
    det.update_many(piecewise_binary(0, (0.2,), 500))
    stats = det.statistics
    assert stats["threshold"] == 0.9 and stats["warning_threshold"] == 0.95
    assert 0.1 < stats["error_rate"] < 0.3 and stats["n_seen"] == 500.0
    with pytest.raises(ValueError, match=r"0\.5"):
        det.update(0.5)
    with pytest.raises(ValueError, match="alpha"):
        EDDM(alpha=0.5, beta=0.9)
    with pytest.raises(ValueError, match="kind"):
        EDDM(kind="real")


def test_module_docstring_example_runs() -> None:
    import doctest

    import driftline.detectors.eddm as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
