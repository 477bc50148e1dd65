"""DDMBank: exactly independent DDMs per column, state round trip, input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.detectors.ddm import DDM
from driftline.detectors.ddm_bank import DDMBank


def _rows(seed: int, kind: str, n: int = 3000, m: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rates = rng.choice([0.05, 0.2, 0.5], size=(3, m))
    if kind == "binary":
        return np.concatenate([rng.random((n // 3, m)) < r for r in rates]).astype(float)
    return np.concatenate([rng.exponential(1.0 + 4 * r, (n // 3, m)) for r in rates])


@pytest.mark.parametrize("kind", ["binary", "real"])
@pytest.mark.parametrize("seed", range(3))
def test_bank_equals_independent_ddms(kind: str, seed: int) -> None:
    rows = _rows(seed, kind)
    names = [f"s{j}" for j in range(rows.shape[1])]
    bank = DDMBank(names, warm_start=20, kind=kind)
    hits: list[list[int]] = []
    for start in (0, 1, 500, 1700):
        end = {0: 1, 1: 500, 500: 1700, 1700: len(rows)}[start]
        got = bank.update_many(rows[start:end])
        hits.extend([[int(r) + start, int(c)] for r, c in got])
    expected, stats = [], []
    dets = [DDM(warm_start=20, kind=kind) for _ in names]
    for j, det in enumerate(dets):
        expected.extend([[int(r), j] for r in det.update_many(rows[:, j])])
        stats.append(det.statistics)
    assert sorted(expected) == hits
    assert len(hits) > 0
    assert bank.drift_detected.tolist() == [d.drift_detected for d in dets]
    assert bank.warning_detected.tolist() == [d.warning_detected for d in dets]
    per_feature = bank.feature_statistics()
    for j, name in enumerate(names):
        for key in ("statistic", "threshold", "warning_threshold", "error_rate", "n_detections"):
            assert per_feature[name][key] == pytest.approx(stats[j][key], nan_ok=True)


def test_state_dict_round_trip_and_reset() -> None:
    rows = _rows(9, "binary")
    names = [f"s{j}" for j in range(rows.shape[1])]
    a = DDMBank(names)
    a.update_many(rows[:1200])
    b = DDMBank(names)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert b.update_many(rows[1200:]).tolist() == a.update_many(rows[1200:]).tolist()
    assert b.state_dict() == a.state_dict()
    a.reset()
    assert a.state_dict() == DDMBank(names).state_dict()


def test_input_checks() -> None:
    bank = DDMBank(["a", "b"])
    with pytest.raises(ValueError, match=r"0\.3"):
        bank.update_many([[0.0, 0.3]])
    with pytest.raises(ValueError, match="shape"):
        bank.update_many(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="drift_threshold"):
        DDMBank(["a"], drift_threshold=1.0)
    assert bank.update_many(np.zeros((0, 2))).shape == (0, 2)


def test_module_docstring_example_runs() -> None:
    import doctest

    import driftline.detectors.ddm_bank as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("kind", ["binary", "real"])
def test_wide_bank_with_frequent_restarts_equals_independent_ddms(kind: str) -> None:
    # 32 streams in one pass, many detections: streams restarted at different rows share later
    # passes (each masked before its own start) and steady streams are screened
    rows = _rows(11, kind, n=3000, m=32)
    names = [f"s{j}" for j in range(32)]
    bank = DDMBank(names, kind=kind)
    got = [(int(r), int(c)) for r, c in bank.update_many(rows[:1000])]
    got += [(int(r) + 1000, int(c)) for r, c in bank.update_many(rows[1000:])]
    dets = [DDM(kind=kind) for _ in names]
    expected = sorted((int(i), j) for j, det in enumerate(dets)
                      for i in det.update_many(rows[:, j]))
    assert len(expected) > 30
    assert got == expected
    loop = DDM(kind=kind)
    for value in rows[:, 5]:
        loop.update(float(value))
    assert loop.state_dict()["state"] == dets[5].state_dict()["state"]
    saved = bank.state_dict()["detectors"]
    for j, det in enumerate(dets):
        assert saved[j] == det.state_dict(), j
