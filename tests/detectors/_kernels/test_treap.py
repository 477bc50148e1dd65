"""The ECDF-difference treap: contents, lazy sums, shape, against brute-force counting."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from driftline.detectors._kernels.treap import (
    ECDFDiffTreap,
    key_priority,
    lcm_statistic,
    uses_lcm_rounding,
)


def _brute_d(ref: list[float], window: list[float], n_win: int) -> list[int]:
    keys = sorted(set(ref) | set(window))
    return [sum(r <= k for r in ref) * n_win - sum(w <= k for w in window) * len(ref)
            for k in keys]


def test_contents_and_extremes_follow_random_operations() -> None:
    rng = np.random.default_rng(0)
    ref = sorted(rng.integers(0, 15, size=40).astype(float).tolist())
    tree = ECDFDiffTreap(ref, window_size=30, seed=1)
    window: list[float] = []
    for step in range(600):
        if window and (len(window) == 30 or rng.random() < 0.3):
            tree.change_window(window.pop(int(rng.integers(len(window)))), -1)
        else:
            x = float(rng.integers(-3, 20))
            window.append(x)
            tree.change_window(x, 1)
        ref_counts, win_counts = Counter(ref), Counter(window)
        keys = sorted(set(ref) | set(window))
        assert tree.items() == [(k, ref_counts[k], win_counts[k]) for k in keys]
        d = _brute_d(ref, window, 30)
        assert (tree.mx[tree.root], tree.mn[tree.root]) == (max(d), min(d)), step


def test_shape_depends_only_on_keys_and_is_logarithmic() -> None:
    rng = np.random.default_rng(2)
    ref = np.sort(rng.normal(size=1000)).tolist()
    window = rng.normal(size=1000).tolist()
    incremental = ECDFDiffTreap(ref, window_size=1000, seed=9)
    for x in window:
        incremental.change_window(x, 1)
    rebuilt = ECDFDiffTreap(ref, window_size=1000, seed=9, window=window)
    assert incremental.items() == rebuilt.items()
    assert incremental.depth() == rebuilt.depth()
    assert incremental.statistic() == rebuilt.statistic()
    # expected depth of a random BST on 2000 keys is about 2 ln n = 15
    assert rebuilt.depth() <= 4 * math.log2(2000)


def test_signed_zero_is_one_key_and_missing_removal_raises() -> None:
    tree = ECDFDiffTreap([0.0, 1.0], window_size=2, seed=0)
    tree.change_window(-0.0, 1)
    assert tree.items() == [(0.0, 1, 1), (1.0, 1, 0)]
    assert key_priority(-0.0, 3) == key_priority(0.0, 3)
    before = (tree.items(), tree.mx[tree.root], tree.mn[tree.root], tree.statistic())
    for missing in (5.0, 0.5, -1.0):
        with pytest.raises(KeyError):
            tree.change_window(missing, -1)
    assert (tree.items(), tree.mx[tree.root], tree.mn[tree.root], tree.statistic()) == before


def test_lcm_rounding_rule() -> None:
    assert uses_lcm_rounding(500, 500) and not uses_lcm_rounding(10_001, 5)
    # d = 93 / 325 as scipy reports it for n_ref=25, n_win=13
    assert lcm_statistic(93, 25, 13) == 93 * 1.0 / 325
