"""DDM: river's detections on 0/1 streams, the real variant (the protocol: test_protocol)."""

from __future__ import annotations

import numpy as np
import pytest
from river.drift.binary import DDM as RiverDDM  # noqa: N811

from driftline.detectors.ddm import DDM


def _stream(seed: int, n_blocks: int = 6, block: int = 700) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rates = rng.choice([0.02, 0.1, 0.3, 0.5], size=n_blocks)
    return np.concatenate([(rng.random(block) < r) for r in rates]).astype(float)


def _loop(det: DDM, xs: np.ndarray) -> tuple[list[int], list[int]]:
    drifts, warnings = [], []
    for i, x in enumerate(xs):
        det.update(float(x))
        if det.drift_detected:
            drifts.append(i)
        if det.warning_detected:
            warnings.append(i)
    return drifts, warnings


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("params", [(30, 2.0, 3.0), (100, 1.5, 2.5)])
def test_matches_river_on_binary_streams(seed: int, params: tuple[int, float, float]) -> None:
    warm, warn, drift = params
    xs = _stream(seed)
    river = RiverDDM(warm_start=warm, warning_threshold=warn, drift_threshold=drift)
    r_drifts, r_warnings = [], []
    for i, x in enumerate(xs):
        river.update(int(x))
        if river.drift_detected:
            r_drifts.append(i)
        if river.warning_detected:
            r_warnings.append(i)
    ours = DDM(warm_start=warm, warning_threshold=warn, drift_threshold=drift)
    assert _loop(ours, xs) == (r_drifts, r_warnings)
    batch = DDM(warm_start=warm, warning_threshold=warn, drift_threshold=drift)
    assert batch.update_many(xs).tolist() == r_drifts
    # the real variant reduces to the Bernoulli one on 0/1 data (up to rounding)
    real = DDM(warm_start=warm, warning_threshold=warn, drift_threshold=drift, kind="real")
    assert real.update_many(xs).tolist() == r_drifts


def test_some_streams_have_several_detections() -> None:
    assert sum(len(DDM().update_many(_stream(s))) >= 2 for s in range(8)) >= 2


def test_real_kind_statistics_are_mean_and_standard_error() -> None:
    rng = np.random.default_rng(1)
    xs = rng.normal(5.0, 2.0, 400)
    det = DDM(kind="real", warm_start=10)
    det.update_many(xs)
    stats = det.statistics
    assert stats["error_rate"] == pytest.approx(np.mean(xs), rel=1e-12)
    assert stats["std"] == pytest.approx(np.std(xs) / np.sqrt(400), rel=1e-9)
    assert stats["statistic"] == pytest.approx(stats["error_rate"] + stats["std"])


def test_real_kind_detects_error_increase_and_is_quiet_when_stationary() -> None:
    false_alarms = [
        len(DDM(kind="real").update_many(np.random.default_rng(s).exponential(1.0, 5000)))
        for s in range(12)
    ]
    assert sum(false_alarms) <= 12  # DDM's usual rate: about one per 5000 quiet values
    rng = np.random.default_rng(0)
    quiet = rng.exponential(1.0, 5000)
    drifted = np.concatenate([quiet[:3000], rng.exponential(2.0, 1000)])
    hits = DDM(kind="real").update_many(drifted)
    assert len(hits) and 3000 <= hits[0] < 3150


def test_statistics_keys() -> None:
    det = DDM()
    det.update_many(np.zeros(40))
    stats = det.statistics
    for key in ("statistic", "threshold", "warning_threshold", "error_rate", "n_seen"):
        assert key in stats
    assert stats["n_seen"] == 40.0 and stats["error_rate"] == 0.0


def test_binary_kind_rejects_other_values_naming_them() -> None:
    det = DDM()
    with pytest.raises(ValueError, match=r"0\.5"):
        det.update(0.5)
    with pytest.raises(ValueError, match=r"2\.0"):
        det.update_many([0.0, 1.0, 2.0])
    assert det.n_seen == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"warm_start": 0}, "warm_start"), ({"warning_threshold": -1.0}, "warning_threshold"),
     ({"drift_threshold": 1.0}, "drift_threshold"), ({"kind": "bits"}, "kind")],
)
def test_parameter_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DDM(**kwargs)  # type: ignore[arg-type]


def test_module_docstring_example_runs() -> None:
    import doctest

    import driftline.detectors.ddm as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
