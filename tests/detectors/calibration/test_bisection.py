"""The one bisection: closed-form roots, integer searches, stopping rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftline.detectors.calibration import bisect


@pytest.mark.parametrize("target", [0.5, 2.0, 10.0])
def test_real_bisection_brackets_the_root_from_the_safe_side(target: float) -> None:
    # safe: x^2 >= target; the root is sqrt(target)
    found = bisect(lambda x: x * x >= target, safe=10.0, risky=0.0, xtol=1e-10)
    assert found >= math.sqrt(target) and found - math.sqrt(target) <= 1e-10
    # decreasing direction: safe is the low end
    low = bisect(lambda x: x <= target, safe=-5.0, risky=50.0, xtol=1e-9)
    assert target - 1e-9 <= low <= target


def test_iterations_halve_the_bracket_each_time() -> None:
    seen: list[float] = []

    def accept(x: float) -> bool:
        seen.append(x)
        return x >= 0.3

    assert bisect(accept, safe=1.0, risky=0.0, iterations=4) == 0.3125
    assert seen == [0.5, 0.25, 0.375, 0.3125]


@pytest.mark.parametrize("answer", [0, 1, 37, 98, 99])
def test_integer_bisection_finds_the_smallest_accepted_index(answer: int) -> None:
    calls: list[int] = []

    def accept(i: int) -> bool:
        calls.append(i)
        return i >= answer

    assert bisect(accept, safe=99, risky=-1, integer=True) == answer
    assert len(calls) <= math.ceil(math.log2(101))
    assert all(isinstance(i, int | np.integer) for i in calls)


def test_real_bisection_needs_a_stopping_rule() -> None:
    with pytest.raises(ValueError, match="xtol or iterations"):
        bisect(lambda x: True, 1.0, 0.0)
