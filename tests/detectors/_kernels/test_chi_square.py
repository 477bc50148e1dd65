"""The chi-square kernel's paths, each bit for bit against independent readable detectors:
columns of different parameters and histories in one bank (restarts and refreshes on different
rows), the formula instead of the step table, one column per sort, short passes."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest

from driftline.detectors._kernels import chi_square as kernel
from driftline.detectors._kernels import chi_square_state
from driftline.detectors.bank import DetectorBank
from driftline.detectors.chi_square import ChiSquare

PARAMS: list[dict[str, Any]] = [
    {"window_size": 30, "alpha": 0.01},
    {"window_size": 50, "alpha": 0.02, "reset_on_drift": False},
    {"window_size": 30, "alpha": 0.05, "min_expected": 0.0},
    {"window_size": 20, "alpha": 1e-3, "unseen_rate": 0.05},
    {"window_size": 30, "alpha": 0.01},
]


def _columns(seed: int, n_rows: int) -> tuple[list[list[int]], np.ndarray]:
    """Reference counts and rows of codes whose frequencies move every 150 rows, with a code
    the references never show."""
    rng = np.random.default_rng(seed)
    references, columns = [], []
    for _ in PARAMS:
        base = rng.dirichlet(np.full(6, 2.0))
        references.append(rng.multinomial(2000, base).tolist())
        blocks = [rng.choice(7, size=150, p=np.r_[base, 0.0] if b % 2 == 0 else
                             rng.dirichlet(np.full(7, 0.7))) for b in range(-(-n_rows // 150))]
        columns.append(np.concatenate(blocks)[:n_rows])
    return references, np.column_stack(columns).astype(np.float64)


def _singles(references: list[list[int]]) -> list[ChiSquare]:
    return [ChiSquare(ref, **params) for ref, params in zip(references, PARAMS, strict=True)]


def _dump(detectors: list[ChiSquare]) -> str:
    return json.dumps([[d.state_dict(), d.statistics] for d in detectors])


def _check_bank_equals_singles(seed: int, warm: list[int]) -> None:
    """Columns that consumed ``warm[j]`` values of their own before the bank, then the same
    rows in batches cut at random."""
    references, rows = _columns(seed, 3000)
    singles = _singles(references)
    templates = _singles(references)
    rng = np.random.default_rng(seed)
    for j, n in enumerate(warm):
        head = rng.choice(6, size=n).astype(float)
        singles[j].update_many(head)
        templates[j].update_many(head)
    bank = DetectorBank([f"c{j}" for j in range(len(PARAMS))], templates)
    assert bank._kernel is kernel.KERNEL  # the bank runs the kernel, not the detectors
    expected = sorted((int(i), j) for j, det in enumerate(singles)
                      for i in det.update_many(rows[:, j]))
    cuts = np.sort(rng.choice(np.arange(1, len(rows)), size=15, replace=False))
    got: list[tuple[int, int]] = []
    for start, stop in itertools.pairwise([0, *cuts.tolist(), len(rows)]):
        got += [(int(r) + start, int(c)) for r, c in bank.update_many(rows[start:stop])]
    assert got == expected and len(expected) > 20
    assert _dump(bank.detectors) == _dump(singles)
    assert bank.drift_detected.tolist() == [d.drift_detected for d in singles]


@pytest.mark.parametrize("warm", [[0, 0, 0, 0, 0], [7, 0, 130, 55, 401]])
def test_a_bank_of_mixed_columns_equals_its_detectors(warm: list[int]) -> None:
    _check_bank_equals_singles(seed=1, warm=warm)


def test_the_formula_path_equals_the_step_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chi_square_state, "STEP_TABLE_LIMIT", 0)
    assert kernel.KERNEL.configure(_singles(_columns(0, 10)[0])).steps_up is None
    _check_bank_equals_singles(seed=2, warm=[3, 0, 90, 0, 17])


def test_one_column_per_sort_and_short_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel, "_RADIX_KEYS", 1)  # one column per call, sorted as int64
    monkeypatch.setattr(kernel, "_PASS_VALUES", 100)  # passes of 64 rows
    _check_bank_equals_singles(seed=3, warm=[0, 11, 0, 240, 1])
