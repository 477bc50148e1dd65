"""A false-alarm budget in time ("1 false page per 30 days") as ARL0s in rows, per detector.

Operators budget false pages per period; detectors are calibrated to an in-control average run
length (ARL0) in rows. Over a period of ``T`` seconds at ``r`` events per second a detector
with ARL0 ``A`` expects ``T r / A`` false alarms. With ``S`` alarm sources (every column a
per-column detector watches is one, a whole-vector detector such as NM-DDM is one) the expected
number of false pages is at most the sum of their expected false alarms (union bound: several
alarms within one alert's hold make one page, so it is an upper bound), and the budget of
``P`` pages is met by giving each source ``P / S`` of it (or a weighted share):

    ARL0 of each source = T r S / P        (e.g. 30 days x 1000/s x 20 sources / 1 = 5.2e10)

A bank of ``k`` columns calibrated as a family (:func:`detectors.calibration.calibrate_columns`
splits a family target ``A`` into ``k A`` per column) takes the family ARL0 ``T r S / (P k)``.
Sources that see another rate (detectors on labelled events only) give their own.

Examples
--------
>>> from driftline.detectors.calibration.budget import budget_arl0, split_budget
>>> f"{budget_arl0(1, 30 * 86400, 1000.0, 20):.3g}"
'5.18e+10'
>>> shares = split_budget(1, 30 * 86400, 1000.0, {"page_hinkley": 5, "incremental_ks": 5,
...                                               "nm_ddm": 1})
>>> f"{shares['page_hinkley'].family_arl0:.3g}", f"{shares['page_hinkley'].column_arl0:.3g}"
('5.7e+09', '2.85e+10')
>>> round(sum(s.expected_false_pages for s in shares.values()), 9)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["BudgetShare", "budget_arl0", "split_budget"]


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def budget_arl0(false_pages: float, period_s: float, events_per_s: float,
                n_alarm_sources: int) -> float:
    """ARL0 in rows of each of ``n_alarm_sources`` equal sources for ``false_pages`` expected
    false pages per ``period_s`` seconds at ``events_per_s`` (union bound, module docstring)."""
    pages = _positive("false_pages", false_pages)
    rows = _positive("period_s", period_s) * _positive("events_per_s", events_per_s)
    if isinstance(n_alarm_sources, bool) or not isinstance(n_alarm_sources, int) \
            or n_alarm_sources < 1:
        raise ValueError(f"n_alarm_sources must be an integer >= 1, got {n_alarm_sources!r}")
    return rows * n_alarm_sources / pages


@dataclass(frozen=True)
class BudgetShare:
    """One detector's share of a budget: its columns, the expected false pages it may spend
    per period, the ARL0 of each column and of the whole bank (``column_arl0 / columns``)."""

    columns: int
    expected_false_pages: float
    column_arl0: float
    family_arl0: float


def split_budget(false_pages: float, period_s: float, events_per_s: float,
                 columns: Mapping[str, int], *, weights: Mapping[str, float] | None = None,
                 rates: Mapping[str, float] | None = None) -> dict[str, BudgetShare]:
    """Split ``false_pages`` per ``period_s`` over detectors watching ``columns[name]`` columns.

    Each column gets an equal share by default; ``weights[name]`` scales a detector's columns'
    shares (e.g. 0.5 for a detector allowed half as many false pages per column);
    ``rates[name]`` is the event rate a detector sees when it is not ``events_per_s`` (e.g.
    labelled events only).
    """
    pages = _positive("false_pages", false_pages)
    period = _positive("period_s", period_s)
    _positive("events_per_s", events_per_s)
    if not columns:
        raise ValueError("columns must name at least one detector")
    weights, rates = dict(weights or {}), dict(rates or {})
    for mapping, key in ((weights, "weights"), (rates, "rates")):
        unknown = sorted(set(mapping) - set(columns))
        if unknown:
            raise ValueError(f"{key} names detectors not in columns: {unknown}")
    mass = {}
    for name, k in columns.items():
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"columns[{name!r}] must be an integer >= 1, got {k!r}")
        mass[name] = k * _positive(f"weights[{name!r}]", weights.get(name, 1.0))
    total = sum(mass.values())
    shares = {}
    for name, k in columns.items():
        share = pages * mass[name] / total
        rows = period * _positive(f"rates[{name!r}]", rates.get(name, events_per_s))
        column_arl0 = rows * k / share
        shares[name] = BudgetShare(k, share, column_arl0, column_arl0 / k)
    return shares
