"""Input kinds: coercion, the rules beyond finiteness, bank-row checks, synthetic streams."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftline.detectors.inputs import BINARY, CATEGORICAL, REAL, VECTOR


def test_scalar_kinds_coerce_numbers_and_flag_nonfinite_ones() -> None:
    assert REAL.coerce_one("D", True) == (1.0, True)
    assert REAL.coerce_one("D", np.float32(2.5)) == (2.5, True)
    assert REAL.coerce_one("D", math.inf)[1] is False
    with pytest.raises(TypeError, match=r"D\.update expects a real number"):
        REAL.coerce_one("D", "3")
    with pytest.raises(ValueError, match=r"D\.update_many expects a 1-D array"):
        REAL.coerce_many("D", np.zeros((2, 2)))


def test_binary_errors_name_the_first_bad_value_and_its_position() -> None:
    BINARY.check("D", np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"0\.5 at position 2"):
        BINARY.check("D", np.array([0.0, 1.0, 0.5, 2.0]))
    with pytest.raises(ValueError, match=r"3\.0 at position \(1, 0\)"):
        BINARY.check("D", np.array([[0.0, 1.0], [3.0, 0.0]]))
    with pytest.raises(ValueError, match=r"kind='real'"):
        BINARY.check_one("D", 0.25)


def test_bank_rows_report_nonfinite_entries_before_other_rules() -> None:
    rows = np.array([[0.0, 1.0], [1.0, math.nan]])
    assert BINARY.check_rows("B", np.array([[0.0, 1.0]])) is None
    np.testing.assert_array_equal(BINARY.check_rows("B", rows), [[False, False], [False, True]])
    with pytest.raises(ValueError, match="0/1"):
        BINARY.check_rows("B", np.array([[0.0, 0.5]]))
    assert REAL.check_rows("B", np.array([[0.3, -2.0]])) is None


def test_vectors_are_rows_and_finite_only_when_every_component_is() -> None:
    value, finite = VECTOR.coerce_one("N", [1.0, math.nan])
    assert value.shape == (2,) and finite is False
    with pytest.raises(ValueError, match="1-D vector"):
        VECTOR.coerce_one("N", np.zeros((2, 2)))
    mask = VECTOR.finite_mask(np.array([[0.0, 1.0], [0.0, math.inf]]))
    assert mask.tolist() == [True, False]


def test_synthetic_streams_move_every_regime_and_stay_put_otherwise() -> None:
    rng = np.random.default_rng(0)
    steady = REAL.synthetic(rng, 40_000)
    assert abs(steady.mean()) < 0.05 and abs(steady.std() - 1.3) < 0.05
    errors = BINARY.synthetic(rng, 8000, regime_length=2000)
    rates = errors.reshape(4, 2000).mean(axis=1)
    assert abs(rates[0] - 0.05) < 0.02 and abs(rates[2] - 0.05) < 0.02
    assert min(rates[1], rates[3]) > 0.15
    rows = VECTOR.synthetic(rng, 3000, regime_length=1000, dims=4)
    assert rows.shape == (3000, 4)
    means = rows.reshape(3, 1000, 4).mean(axis=1)
    assert np.abs(np.diff(means, axis=0)).max() > 0.2


def test_category_codes_are_non_negative_integers_and_name_the_first_bad_one() -> None:
    assert CATEGORICAL.coerce_one("C", np.int32(4)) == (4.0, True)
    assert CATEGORICAL.coerce_one("C", math.nan)[1] is False
    CATEGORICAL.check("C", np.array([0.0, 3.0, 2.0**31 - 1]))
    with pytest.raises(ValueError, match=r"kind='categorical' .* 1\.5 at position 2"):
        CATEGORICAL.check("C", np.array([0.0, 3.0, 1.5, -1.0]))
    with pytest.raises(ValueError, match=r"-2\.0 at position \(1, 0\)"):
        CATEGORICAL.check_rows("B", np.array([[0.0, 1.0], [-2.0, 0.0]]))
    with pytest.raises(ValueError, match="2147483648"):
        CATEGORICAL.check_one("C", 2.0**31)
    mask = CATEGORICAL.check_rows("B", np.array([[0.0, math.inf], [1.0, 2.0]]))
    assert mask is not None and mask.tolist() == [[False, True], [False, False]]


def test_synthetic_codes_change_frequencies_and_bring_a_new_code_every_other_regime() -> None:
    rng = np.random.default_rng(0)
    steady = CATEGORICAL.synthetic(rng, 50_000).astype(int)
    frequencies = np.bincount(steady, minlength=7) / len(steady)
    np.testing.assert_allclose(frequencies[:6], CATEGORICAL.BASE, atol=0.01)
    assert frequencies[6] == 0.0
    codes = CATEGORICAL.synthetic(rng, 8000, regime_length=2000).astype(int)
    regimes = [np.bincount(block, minlength=7) / 2000 for block in codes.reshape(4, 2000)]
    assert regimes[0][6] == regimes[2][6] == 0.0
    assert max(abs(regimes[1] - regimes[0]).max(), abs(regimes[3] - regimes[2]).max()) > 0.1
