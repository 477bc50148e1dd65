"""Seeded univariate drift streams with known change points, for detector benchmarks.

Every generator draws from its own ``numpy.random.Generator`` seeded by ``seed``, so the same
arguments always give the same stream. A stream is split into segments at ``change_points``
(each the index of the first value of the new regime); the segments alternate or accumulate
as documented per generator. The result is a :class:`DriftStream` holding the values and the
ground truth.

Available streams:

* :func:`mean_shift_stream` — ``N(mean, std²)`` whose mean moves by ``shift·std`` at each change
  (optionally as a linear ramp of ``transition`` values: gradual drift);
* :func:`variance_stream` — the variance is multiplied by ``factor`` at each change;
* :func:`bimodal_stream` — ``N(0, 1)`` alternating with ``0.5·N(-a, s²) + 0.5·N(a, s²)`` where
  ``a² + s² = 1``: same mean (0) and variance (1), different shape;
* :func:`no_drift_stream` — ``N(mean, std²)`` throughout;
* :func:`error_rate_stream` — 0/1 errors (Bernoulli) whose rate moves through ``rates``.

Example
-------
>>> from driftline.dataloader.scenarios_univariate import mean_shift_stream
>>> stream = mean_shift_stream(length=1000, change_points=500, shift=2.0, seed=7)
>>> stream.values.shape, stream.change_points, stream.kind
((1000,), (500,), 'mean_shift')
>>> bool(stream.values[500:].mean() - stream.values[:500].mean() > 1.5)
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.detectors.base import check_int, check_number

__all__ = [
    "DriftStream",
    "bimodal_stream",
    "check_change_points",
    "error_rate_stream",
    "mean_shift_stream",
    "no_drift_stream",
    "variance_stream",
]


@dataclass(frozen=True)
class DriftStream:
    """A univariate stream and its ground truth.

    Attributes
    ----------
    values : numpy.ndarray
        The stream, shape ``(length,)`` (float64; 0.0/1.0 for error-rate streams).
    change_points : tuple of int
        Index of the first value of each new regime (start of the transition for gradual drift).
    transition_ends : tuple of int
        Index of the first value fully in the new regime; equal to ``change_points`` for abrupt
        changes.
    kind : str
        ``"mean_shift"``, ``"variance"``, ``"shape"``, ``"none"`` or ``"error_rate"``.
    seed : int
        Seed of the generator that drew the stream.
    params : dict
        The generator's parameters (JSON-able), e.g. ``{"shift": 1.0, ...}``.
    """

    values: np.ndarray
    change_points: tuple[int, ...]
    transition_ends: tuple[int, ...]
    kind: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return len(self.values)

    def segment_bounds(self) -> list[tuple[int, int]]:
        """``[start, stop)`` of each stationary segment (transitions excluded)."""
        starts = (0, *self.transition_ends)
        stops = (*self.change_points, self.length)
        return list(zip(starts, stops, strict=True))


def check_change_points(
    change_points: int | Sequence[int] | None, length: int, *, name: str = "change_points"
) -> tuple[int, ...]:
    """Validate change points: integers strictly increasing within ``(0, length)``."""
    if change_points is None:
        return ()
    if isinstance(change_points, int | np.integer) and not isinstance(change_points, bool):
        points: list[Any] = [change_points]
    else:
        points = list(change_points)
    result = tuple(check_int(name, p, low=1, high=length - 1) for p in points)
    if any(b <= a for a, b in itertools.pairwise(result)):
        raise ValueError(f"{name} must be strictly increasing, got {list(result)}")
    return result


def _check_common(length: Any, seed: Any) -> tuple[int, int]:
    return check_int("length", length, low=2), check_int("seed", seed, low=0)


def _segments(length: int, change_points: tuple[int, ...]) -> list[tuple[int, int]]:
    bounds = (0, *change_points, length)
    return list(itertools.pairwise(bounds))


def _default_change_point(change_points: Any, length: int) -> Any:
    return length // 2 if change_points == "middle" else change_points


def mean_shift_stream(
    length: int = 10_000,
    change_points: int | Sequence[int] | str = "middle",
    shift: float = 1.0,
    *,
    mean: float = 0.0,
    std: float = 1.0,
    transition: int = 0,
    seed: int = 0,
) -> DriftStream:
    """Gaussian stream whose mean rises by ``shift·std`` at each change point.

    Segment ``k`` (after ``k`` changes) has mean ``mean + k·shift·std``. With ``transition > 0``
    the mean ramps linearly over ``transition`` values starting at each change point (gradual
    drift); the ramps must not overlap the next change point.
    """
    length, seed = _check_common(length, seed)
    points = check_change_points(_default_change_point(change_points, length), length)
    shift = float(check_number("shift", shift))  # type: ignore[arg-type]
    mean = float(check_number("mean", mean))  # type: ignore[arg-type]
    std = float(check_number("std", std, low=0.0, low_inclusive=False))  # type: ignore[arg-type]
    transition = check_int("transition", transition, low=0)
    ends = tuple(p + transition for p in points)
    for end, nxt in zip(ends, (*points[1:], length), strict=True):
        if end > nxt:
            raise ValueError(
                f"transition={transition} overlaps the next change point or the end ({nxt})"
            )
    rng = np.random.default_rng(seed)
    level = np.zeros(length)
    for p in points:
        if transition:
            level[p : p + transition] += shift * (np.arange(1, transition + 1) / transition)
            level[p + transition :] += shift
        else:
            level[p:] += shift
    values = mean + std * (level + rng.standard_normal(length))
    return DriftStream(
        values=values, change_points=points, transition_ends=ends, kind="mean_shift", seed=seed,
        params={"shift": shift, "mean": mean, "std": std, "transition": transition},
    )


def variance_stream(
    length: int = 10_000,
    change_points: int | Sequence[int] | str = "middle",
    factor: float = 3.0,
    *,
    mean: float = 0.0,
    std: float = 1.0,
    seed: int = 0,
) -> DriftStream:
    """Gaussian stream whose variance is multiplied by ``factor`` at each change point.

    Segment ``k`` is ``N(mean, std²·factor^k)``; the mean never changes.
    """
    length, seed = _check_common(length, seed)
    points = check_change_points(_default_change_point(change_points, length), length)
    factor = float(check_number("factor", factor, low=0.0, low_inclusive=False))  # type: ignore[arg-type]
    mean = float(check_number("mean", mean))  # type: ignore[arg-type]
    std = float(check_number("std", std, low=0.0, low_inclusive=False))  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    scale = np.empty(length)
    for k, (start, stop) in enumerate(_segments(length, points)):
        scale[start:stop] = std * math.sqrt(factor) ** k
    values = mean + scale * rng.standard_normal(length)
    return DriftStream(
        values=values, change_points=points, transition_ends=points, kind="variance", seed=seed,
        params={"factor": factor, "mean": mean, "std": std},
    )


def bimodal_stream(
    length: int = 10_000,
    change_points: int | Sequence[int] | str = "middle",
    separation: float = 0.95,
    *,
    seed: int = 0,
) -> DriftStream:
    """``N(0, 1)`` alternating with an equal-mean, equal-variance bimodal mixture.

    Even segments are ``N(0, 1)``; odd segments are ``0.5·N(-a, s²) + 0.5·N(a, s²)`` with
    ``a = separation`` and ``s = sqrt(1 - a²)``, whose mean is 0 and variance ``a² + s² = 1``.
    Only the shape changes, so mean- and variance-based detectors cannot see it.
    """
    length, seed = _check_common(length, seed)
    points = check_change_points(_default_change_point(change_points, length), length)
    a = float(check_number("separation", separation, low=0.0, high=1.0,  # type: ignore[arg-type]
                           low_inclusive=False, high_inclusive=False))
    s = math.sqrt(1.0 - a * a)
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(length)
    signs = np.where(rng.random(length) < 0.5, -1.0, 1.0)
    for k, (start, stop) in enumerate(_segments(length, points)):
        if k % 2:
            values[start:stop] = signs[start:stop] * a + s * values[start:stop]
    return DriftStream(
        values=values, change_points=points, transition_ends=points, kind="shape", seed=seed,
        params={"separation": a, "component_std": s},
    )


def no_drift_stream(
    length: int = 100_000, *, mean: float = 0.0, std: float = 1.0, seed: int = 0
) -> DriftStream:
    """Stationary ``N(mean, std²)`` stream: every detection on it is a false alarm."""
    length, seed = _check_common(length, seed)
    mean = float(check_number("mean", mean))  # type: ignore[arg-type]
    std = float(check_number("std", std, low=0.0, low_inclusive=False))  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    values = mean + std * rng.standard_normal(length)
    return DriftStream(
        values=values, change_points=(), transition_ends=(), kind="none", seed=seed,
        params={"mean": mean, "std": std},
    )


def error_rate_stream(
    length: int = 10_000,
    change_points: int | Sequence[int] | str = "middle",
    rates: Sequence[float] = (0.1, 0.3),
    *,
    seed: int = 0,
) -> DriftStream:
    """0/1 prediction errors, Bernoulli with rate ``rates[k]`` in segment ``k``.

    ``rates`` needs one entry per segment (``len(change_points) + 1``), each in ``[0, 1]``.
    """
    length, seed = _check_common(length, seed)
    points = check_change_points(_default_change_point(change_points, length), length)
    rate_list = [check_number(f"rates[{i}]", r, low=0.0, high=1.0) for i, r in enumerate(rates)]
    if len(rate_list) != len(points) + 1:
        raise ValueError(
            f"rates must have len(change_points) + 1 = {len(points) + 1} entries, got "
            f"{len(rate_list)}"
        )
    rng = np.random.default_rng(seed)
    p = np.empty(length)
    for rate, (start, stop) in zip(rate_list, _segments(length, points), strict=True):
        p[start:stop] = rate
    values = (rng.random(length) < p).astype(np.float64)
    return DriftStream(
        values=values, change_points=points, transition_ends=points, kind="error_rate", seed=seed,
        params={"rates": [float(r) for r in rate_list if r is not None]},
    )
