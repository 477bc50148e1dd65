"""ADWIN: behaviour against river's ADWIN (delay, false alarms), kinds (protocol: test_protocol)."""

from __future__ import annotations

import numpy as np
import pytest
from river.drift import ADWIN as RiverADWIN  # noqa: N811

from driftline.detectors.adwin import ADWIN
from tests.detectors.error_streams import piecewise_binary, river_path


def _first_after(hits: np.ndarray, start: int) -> int | None:
    after = hits[hits >= start]
    return int(after[0]) - start if len(after) else None


def test_delay_and_false_alarms_comparable_to_river() -> None:
    ours_delays, river_delays, ours_quiet, river_quiet = [], [], 0, 0
    for seed in range(5):
        quiet = piecewise_binary(seed, (0.1,), 5000)
        ours_quiet += len(ADWIN().update_many(quiet))
        river_quiet += len(river_path(RiverADWIN(), quiet)[0])
        xs = piecewise_binary(seed, (0.1, 0.4), 3000)
        ours_delays.append(_first_after(ADWIN().update_many(xs), 3000))
        river_hits = np.asarray(river_path(RiverADWIN(), xs)[0], dtype=np.int64)
        river_delays.append(_first_after(river_hits, 3000))
    assert None not in ours_delays and None not in river_delays
    assert ours_quiet <= 1 and river_quiet <= 1
    assert max(ours_delays) < 200  # type: ignore[type-var]
    # the same bound family and clock: delays within a few clock ticks of river's
    assert np.mean(ours_delays) <= np.mean(river_delays) + 64  # type: ignore[arg-type]


def test_window_shrinks_to_the_new_regime() -> None:
    xs = piecewise_binary(1, (0.1, 0.5), 4000)
    det = ADWIN()
    det.update_many(xs)
    assert det.statistics["width"] < 4000 + 600
    assert abs(det.statistics["mean"] - 0.5) < 0.05
    # the window's running sum and variance equal those of its values' bucket sums
    total = sum(u for row in det._levels for u, _ in row)
    assert det.statistics["mean"] == pytest.approx(total / det.statistics["width"])


def test_window_statistics_match_numpy_without_drift() -> None:
    rng = np.random.default_rng(0)
    xs = rng.random(3000)
    det = ADWIN(kind="real", delta=1e-9)
    assert len(det.update_many(xs)) == 0
    assert det.statistics["width"] == 3000.0
    assert det.statistics["mean"] == pytest.approx(xs.mean(), rel=1e-12)
    assert det.statistics["variance"] == pytest.approx(xs.var(), rel=1e-9)


def test_real_kind_clips_and_scales() -> None:
    rng = np.random.default_rng(3)
    errors = np.concatenate([rng.exponential(1.0, 3000), rng.exponential(3.0, 1000)])
    hits = ADWIN(kind="real", bounds=(0.0, 8.0)).update_many(errors)
    unit = ADWIN(kind="real").update_many(np.clip(errors, 0.0, 8.0) / 8.0)
    assert hits.tolist() == unit.tolist()
    assert _first_after(hits, 3000) is not None and hits[0] >= 3000


def test_validation_and_binary_check() -> None:
    det = ADWIN()
    with pytest.raises(ValueError, match=r"0\.7"):
        det.update(0.7)
    assert det.n_seen == 0
    for kwargs, match in [({"delta": 0.0}, "delta"), ({"clock": 0}, "clock"),
                          ({"max_buckets": 1}, "max_buckets"), ({"kind": "x"}, "kind")]:
        with pytest.raises(ValueError, match=match):
            ADWIN(**kwargs)  # type: ignore[arg-type]


def test_module_docstring_example_runs() -> None:
    import doctest

    import driftline.detectors.adwin as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
