"""The detector protocol, checked for every detector of ``REGISTRY`` and its declared parameter
sets (``test_params``), with inputs built from its declarations alone (input kind, reference).

A new detector is covered here by its module and its registry line: loop == batch (detections,
flags, statistics and state, bit for bit), the JSON ``state_dict`` round trip, ``reset``, the
non-finite policy, parameter errors that name the parameter, the declarations themselves, and
(univariate detectors) a bank that equals one detector per column.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pytest

from driftline.detectors import REGISTRY, detector_class, detector_from_state
from driftline.detectors.bank import DetectorBank
from driftline.detectors.base import DriftDetector, NonFiniteInputError
from driftline.detectors.calibration import METHODS

#: values (rows for vector inputs) of each test stream; the level moves every REGIME values
N_VALUES, REGIME = 2400, 300
N_REFERENCE = 400

CASES = [pytest.param(name, i, id=f"{name}-{i}")
         for name in REGISTRY for i in range(len(detector_class(name).test_params))]


def _build(name: str, case: int, seed: int = 0, **override: Any) -> DriftDetector:
    """The detector of ``case`` with its reference parameters (if it needs a reference) taken
    from a sample of its input kind."""
    cls = detector_class(name)
    params = {**cls.test_params[case], **override}
    if cls.needs_reference:
        probe_kind = cls.input_kinds[0]
        sample = probe_kind.synthetic(np.random.default_rng(1000 + seed), N_REFERENCE)
        params.update(cls.reference_params(sample))
    return cls(**params)


def _stream(detector: DriftDetector, seed: int, n: int = N_VALUES) -> np.ndarray:
    return detector.input_kind.synthetic(np.random.default_rng(seed), n, regime_length=REGIME)


def _loop(detector: DriftDetector, values: np.ndarray) -> list[int]:
    return [i for i, x in enumerate(values) if detector.update(x)]


def _dump(detector: DriftDetector) -> str:
    """Everything observable, as exact text (floats by repr, NaN included)."""
    return json.dumps([detector.state_dict(), detector.statistics, detector.drift_detected,
                       detector.warning_detected])


def _batches(values: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    cuts = np.sort(rng.choice(np.arange(1, len(values)), size=12, replace=False))
    bounds = [0, *cuts.tolist(), len(values)]
    return list(itertools.pairwise(bounds))


@pytest.mark.parametrize(("name", "case"), CASES)
def test_update_many_equals_the_loop_bit_for_bit(name: str, case: int) -> None:
    loop, batch = _build(name, case), _build(name, case)
    values = _stream(loop, seed=case)
    batches = _batches(values, np.random.default_rng(case))
    expected: list[int] = []
    fired: list[int] = []
    for start, stop in batches:
        expected += [start + i for i in _loop(loop, values[start:stop])]
        fired += (start + batch.update_many(values[start:stop])).tolist()
        assert _dump(batch) == _dump(loop), f"after the batch ending at {stop}"
    assert expected, "the test stream must exercise a detection (and what follows it)"
    assert fired == expected


@pytest.mark.parametrize(("name", "case"), CASES)
def test_state_dict_json_round_trip_continues_bit_for_bit(name: str, case: int) -> None:
    original = _build(name, case)
    values = _stream(original, seed=10 + case)
    split = len(values) // 2 + 7
    original.update_many(values[:split])
    saved = json.loads(json.dumps(original.state_dict()))
    restored = detector_from_state(saved)
    assert type(restored) is type(original) and _dump(restored) == _dump(original)
    fresh = _build(name, case)
    fresh.load_state_dict(saved)
    tail = values[split:]
    expected = original.update_many(tail).tolist()
    assert restored.update_many(tail).tolist() == expected
    assert _loop(fresh, tail) == expected
    assert _dump(restored) == _dump(original) == _dump(fresh)


@pytest.mark.parametrize(("name", "case"), CASES)
def test_state_of_other_parameters_is_refused(name: str, case: int) -> None:
    detector = _build(name, case)
    cls = type(detector)
    other = cls.alarm.conservative
    assert other != getattr(detector, cls.alarm.name)
    params = cls.with_alarm(detector.get_params(), other)
    with pytest.raises(ValueError, match="parameters"):
        cls(**params).load_state_dict(detector.state_dict())
    with pytest.raises(ValueError, match="detector"):
        detector.load_state_dict({**detector.state_dict(), "detector": "other"})


@pytest.mark.parametrize(("name", "case"), CASES)
def test_reset_forgets_everything_but_the_parameters(name: str, case: int) -> None:
    detector = _build(name, case)
    detector.update_many(_stream(detector, seed=20 + case))
    assert detector.n_seen == N_VALUES
    detector.reset()
    assert _dump(detector) == _dump(_build(name, case))
    values = _stream(detector, seed=21 + case, n=600)
    assert detector.update_many(values).tolist() == _build(name, case).update_many(values).tolist()


def _with_nonfinite(values: np.ndarray, positions: list[int]) -> np.ndarray:
    """``values`` with NaN / inf at ``positions`` (whole rows for vector inputs)."""
    out = values.copy()
    bad = np.array([math.nan, math.inf, -math.inf, math.nan])[: len(positions)]
    out[positions] = bad if out.ndim == 1 else bad[:, None]
    return out


@pytest.mark.parametrize(("name", "case"), CASES)
def test_nonfinite_values_raise_before_any_change_or_are_skipped(name: str, case: int) -> None:
    raising = _build(name, case)
    values = _stream(raising, seed=30 + case, n=1200)
    raising.update_many(values[:500])
    before = _dump(raising)
    bad_one = np.full(values.shape[1:], math.nan) if values.ndim == 2 else math.nan
    with pytest.raises(NonFiniteInputError):
        raising.update(bad_one)
    with pytest.raises(NonFiniteInputError, match="position 3"):
        raising.update_many(_with_nonfinite(values[500:510], [3]))
    assert _dump(raising) == before

    positions = [0, 400, 401, len(values) - 1]
    dirty = _with_nonfinite(values, positions)
    clean_index = np.delete(np.arange(len(values)), positions)
    expected = [int(clean_index[i]) for i in _build(name, case).update_many(values[clean_index])]
    loop, batch = _build(name, case, on_nonfinite="skip"), _build(name, case, on_nonfinite="skip")
    assert _loop(loop, dirty) == batch.update_many(dirty).tolist() == expected
    assert batch.statistics["n_skipped"] == loop.statistics["n_skipped"] == len(positions)
    assert batch.n_seen == len(values) - len(positions)
    assert _dump(batch) == _dump(loop)


def _constructor_cases() -> list[Any]:
    return [pytest.param(name, param, id=f"{name}-{param}") for name in REGISTRY
            for param in detector_class(name).param_names()]


@pytest.mark.parametrize(("name", "param"), _constructor_cases())
def test_a_bad_parameter_value_is_refused_naming_the_parameter(name: str, param: str) -> None:
    cls = detector_class(name)
    valid = {**cls.test_params[0]}
    if cls.needs_reference:
        valid["reference"] = _build(name, 0).get_params()["reference"]
    with pytest.raises((TypeError, ValueError), match=param):
        cls(**{**valid, param: "not-a-value"})


@pytest.mark.parametrize("name", REGISTRY)
def test_declarations_are_consistent(name: str) -> None:
    cls = detector_class(name)
    params = cls.param_names()
    assert cls.name == name
    assert cls.alarm.name in params
    assert cls.alarm.method in (*METHODS, "fresh_streams", "self")
    if cls.alarm.warning is not None:
        assert cls.alarm.warning in params
    assert cls.needs_reference == ("reference" in params)
    if len(cls.input_kinds) > 1:
        assert "kind" in params  # several kinds: the ``kind`` parameter selects one by name
    if "kind" in params:
        assert cls.param_defaults()["kind"] in [k.name for k in cls.input_kinds]
    assert params[-1] == "on_nonfinite"
    for case in range(len(cls.test_params)):
        detector = _build(name, case)
        assert set(cls.test_params[case]) <= set(params)
        # get_params comes from the signature and rebuilds an identical detector
        rebuilt = cls(**json.loads(json.dumps(detector.get_params())))
        assert rebuilt.get_params() == json.loads(json.dumps(detector.get_params()))
        assert detector.input_kind in cls.input_kinds
        for key in ("statistic", "threshold", "n_seen", "n_detections", "drift", "warning"):
            assert key in detector.statistics


UNIVARIATE_CASES = [case for case in CASES
                    if detector_class(case.values[0]).input_kinds[0].value_ndim == 0]


@pytest.mark.parametrize(("name", "case"), UNIVARIATE_CASES)
def test_a_bank_equals_one_detector_per_column(name: str, case: int) -> None:
    n_columns = 5
    singles = [_build(name, case, seed=j) for j in range(n_columns)]
    bank = DetectorBank([f"c{j}" for j in range(n_columns)],
                        [_build(name, case, seed=j) for j in range(n_columns)])
    rows = np.column_stack([_stream(singles[j], seed=40 + j) for j in range(n_columns)])
    expected = sorted((int(i), j) for j, det in enumerate(singles)
                      for i in det.update_many(rows[:, j]))
    got: list[tuple[int, int]] = []
    for start, stop in _batches(rows, np.random.default_rng(case)):
        got += [(int(r) + start, int(c)) for r, c in bank.update_many(rows[start:stop])]
    assert got == expected and len(expected) > n_columns
    assert json.dumps([d.state_dict() for d in bank.detectors]) == json.dumps(
        [d.state_dict() for d in singles])
    stats = bank.statistics
    for j, det in enumerate(singles):
        assert json.dumps({k: float(stats[k][j]) for k in det.statistics}) == json.dumps(
            det.statistics)
    assert bank.drift_detected.tolist() == [d.drift_detected for d in singles]
    assert bank.warning_detected.tolist() == [d.warning_detected for d in singles]
    restored = DetectorBank(bank.feature_names, [_build(name, case, seed=j)
                                                  for j in range(n_columns)])
    restored.load_state_dict(json.loads(json.dumps(bank.state_dict())))
    assert json.dumps(restored.state_dict()) == json.dumps(bank.state_dict())
    bank.reset()
    fresh = DetectorBank(bank.feature_names, [_build(name, case, seed=j)
                                               for j in range(n_columns)])
    assert json.dumps(bank.state_dict()) == json.dumps(fresh.state_dict())
