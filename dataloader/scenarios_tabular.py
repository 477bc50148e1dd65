"""Seeded tabular drift scenarios: rows ``(n, d)``, a binary target and the change points.

Before a change, rows are i.i.d. ``N(0, I_d)`` (features ``x0 … x{d-1}``) and the target is
``y = 1[x·w + 0.5·ε > 0]`` with ``ε ~ N(0, 1)`` and fixed weights ``w`` (alternating signs,
``w_j = ±1/sqrt(d)``). After a change the *drifted features* (``drifted_features``, indices) follow
the new regime of the scenario:

============== ===================================================================================
kind           new regime
============== ===================================================================================
abrupt         drifted features' mean += ``shift``, from the change point on
gradual        same shift, but during ``[start, start + transition)`` each row comes from the new
               regime with probability rising linearly from 0 to 1 (MOA-style gradual drift)
recurring      the shift switches on and off at every change point (regimes A, B, A, B …)
variance       drifted features' variance × ``factor``
shape          drifted features become ``0.5·N(-a, s²) + 0.5·N(a, s²)``, ``a² + s² = 1``: the same
               mean and variance, another shape
correlation    the two drifted features' correlation goes from ``rho_before`` to ``rho_after``;
               every marginal stays ``N(0, 1)``
concept        inputs never change; the target uses weights with the drifted features' signs
               flipped (real concept drift: ``P(y | x)`` changes, ``P(x)`` does not)
============== ===================================================================================

All scenarios are deterministic per ``seed``.

Example
-------
>>> from driftline.dataloader.scenarios_tabular import correlation_scenario
>>> sc = correlation_scenario(n_rows=4000, rho_after=0.9, seed=1)
>>> sc.rows.shape, sc.feature_names[:2], sc.change_points, sc.kind
((4000, 5), ('x0', 'x1'), (2000,), 'correlation')
>>> import numpy as np
>>> after = sc.rows[2000:]
>>> bool(np.corrcoef(after[:, 0], after[:, 1])[0, 1] > 0.85)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.dataloader.scenarios_univariate import check_change_points
from driftline.detectors.base import check_choice, check_int, check_number

__all__ = [
    "TABULAR_KINDS",
    "TabularScenario",
    "abrupt_scenario",
    "concept_scenario",
    "correlation_scenario",
    "gradual_scenario",
    "make_tabular_scenario",
    "recurring_scenario",
    "shape_scenario",
    "target_weights",
    "variance_scenario",
]

TABULAR_KINDS = (
    "abrupt", "gradual", "recurring", "variance", "shape", "correlation", "concept",
)
_LABEL_NOISE = 0.5


@dataclass(frozen=True)
class TabularScenario:
    """Rows, targets and ground truth of one tabular drift scenario.

    Attributes
    ----------
    rows : numpy.ndarray
        Feature matrix, shape ``(n_rows, n_features)``.
    targets : numpy.ndarray
        Binary target (0/1 as int64), shape ``(n_rows,)``.
    feature_names : tuple of str
        ``("x0", "x1", …)``.
    change_points : tuple of int
        First row of each new regime (the start of the transition for gradual drift).
    transition_ends : tuple of int
        First row fully in the new regime; equal to ``change_points`` except for gradual drift.
    kind : str
        One of :data:`TABULAR_KINDS`.
    drifted_features : tuple of str
        Names of the features whose distribution (or, for ``concept``, whose weight) changes.
    in_new_regime : numpy.ndarray
        Boolean mask ``(n_rows,)``: whether each row was drawn from the post-change regime.
    seed : int
        Seed of the generator.
    params : dict
        The scenario's parameters.
    """

    rows: np.ndarray
    targets: np.ndarray
    feature_names: tuple[str, ...]
    change_points: tuple[int, ...]
    transition_ends: tuple[int, ...]
    kind: str
    drifted_features: tuple[str, ...]
    in_new_regime: np.ndarray
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.rows.shape[0])


def target_weights(n_features: int) -> np.ndarray:
    """The pre-change target weights: ``w_j = (-1)^j / sqrt(n_features)``."""
    n = check_int("n_features", n_features, low=1)
    return np.where(np.arange(n) % 2 == 0, 1.0, -1.0) / math.sqrt(n)


def _check_drifted(drifted: Sequence[int] | None, n_features: int, default: int) -> list[int]:
    idx = list(range(default)) if drifted is None else list(drifted)
    checked = [check_int("drifted_features", j, low=0, high=n_features - 1) for j in idx]
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(f"drifted_features must be non-empty and unique, got {idx}")
    return checked


def _regime_mask(
    n_rows: int, points: tuple[int, ...], transition: int, recurring: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    index = np.arange(n_rows)
    segment = np.searchsorted(np.asarray(points, dtype=np.int64), index, side="right")
    if recurring:
        return segment % 2 == 1
    new = segment >= 1
    if transition:
        start = points[0]
        ramp = (index >= start) & (index < start + transition)
        prob = (index[ramp] - start + 1) / (transition + 1)
        new[ramp] = rng.random(int(ramp.sum())) < prob
    return new


def _build(
    kind: str, *, n_rows: int, n_features: int, change_points: Any, seed: int,
    drifted: Sequence[int] | None, default_drifted: int, transition: int = 0,
    recurring: bool = False, params: dict[str, Any],
    transform: Callable[[np.ndarray, np.ndarray, list[int], np.random.Generator], None] | None,
    flip_concept: bool = False,
) -> TabularScenario:
    n_rows = check_int("n_rows", n_rows, low=2)
    n_features = check_int("n_features", n_features, low=1)
    seed = check_int("seed", seed, low=0)
    if change_points == "middle":
        change_points = n_rows // 2
    points = check_change_points(change_points, n_rows)
    if not points:
        raise ValueError("change_points must name at least one change point")
    if not recurring and len(points) > 1:
        raise ValueError(f"{kind} scenarios take a single change point, got {list(points)}")
    idx = _check_drifted(drifted, n_features, default_drifted)
    transition = check_int("transition", transition, low=0)
    if transition and points[0] + transition > n_rows:
        raise ValueError(f"transition={transition} runs past the end of the stream ({n_rows})")
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((n_rows, n_features))
    noise = rng.standard_normal(n_rows)
    new = _regime_mask(n_rows, points, transition, recurring, rng)
    if transform is not None:
        transform(rows, new, idx, rng)
    weights = target_weights(n_features)
    score = rows @ weights
    if flip_concept:
        flipped = weights.copy()
        flipped[idx] = -flipped[idx]
        score[new] = rows[new] @ flipped
    targets = (score + _LABEL_NOISE * noise > 0).astype(np.int64)
    ends = tuple(p + transition for p in points)
    names = tuple(f"x{j}" for j in range(n_features))
    return TabularScenario(
        rows=rows, targets=targets, feature_names=names, change_points=points,
        transition_ends=ends, kind=kind, drifted_features=tuple(names[j] for j in idx),
        in_new_regime=new, seed=seed, params=params,
    )


def _shift(shift: float) -> Callable[[np.ndarray, np.ndarray, list[int], Any], None]:
    def apply(rows: np.ndarray, new: np.ndarray, idx: list[int], rng: Any) -> None:
        rows[np.ix_(new, idx)] += shift

    return apply


def abrupt_scenario(
    n_rows: int = 10_000, n_features: int = 5, change_points: int | str = "middle",
    shift: float = 1.0, *, drifted_features: Sequence[int] | None = None, seed: int = 0,
) -> TabularScenario:
    """Abrupt mean shift of ``shift`` (σ units) on ``drifted_features`` (default ``[0]``)."""
    shift = float(check_number("shift", shift))  # type: ignore[arg-type]
    return _build("abrupt", n_rows=n_rows, n_features=n_features, change_points=change_points,
                  seed=seed, drifted=drifted_features, default_drifted=1,
                  params={"shift": shift}, transform=_shift(shift))


def gradual_scenario(
    n_rows: int = 10_000, n_features: int = 5, change_points: int | str = "middle",
    shift: float = 1.0, *, transition: int | None = None,
    drifted_features: Sequence[int] | None = None, seed: int = 0,
) -> TabularScenario:
    """Mean shift phased in over ``transition`` rows by probabilistic mixing of the regimes.

    ``transition`` defaults to a tenth of ``n_rows``.
    """
    shift = float(check_number("shift", shift))  # type: ignore[arg-type]
    if transition is None:
        transition = max(1, check_int("n_rows", n_rows, low=2) // 10)
    check_int("transition", transition, low=1)
    return _build("gradual", n_rows=n_rows, n_features=n_features, change_points=change_points,
                  seed=seed, drifted=drifted_features, default_drifted=1, transition=transition,
                  params={"shift": shift, "transition": transition}, transform=_shift(shift))


def recurring_scenario(
    n_rows: int = 10_000, n_features: int = 5,
    change_points: Sequence[int] | None = None, shift: float = 1.0, *,
    drifted_features: Sequence[int] | None = None, seed: int = 0,
) -> TabularScenario:
    """Regimes A (no shift) and B (shift) alternating at each change point.

    The default change points split the stream in four equal parts: A, B, A, B.
    """
    n = check_int("n_rows", n_rows, low=4)
    shift = float(check_number("shift", shift))  # type: ignore[arg-type]
    points = [n // 4, n // 2, 3 * n // 4] if change_points is None else list(change_points)
    return _build("recurring", n_rows=n, n_features=n_features, change_points=points,
                  seed=seed, drifted=drifted_features, default_drifted=1, recurring=True,
                  params={"shift": shift}, transform=_shift(shift))


def variance_scenario(
    n_rows: int = 10_000, n_features: int = 5, change_points: int | str = "middle",
    factor: float = 3.0, *, drifted_features: Sequence[int] | None = None, seed: int = 0,
) -> TabularScenario:
    """Variance of ``drifted_features`` multiplied by ``factor``; means unchanged."""
    factor = float(check_number("factor", factor, low=0.0, low_inclusive=False))  # type: ignore[arg-type]

    def apply(rows: np.ndarray, new: np.ndarray, idx: list[int], rng: Any) -> None:
        rows[np.ix_(new, idx)] *= math.sqrt(factor)

    return _build("variance", n_rows=n_rows, n_features=n_features, change_points=change_points,
                  seed=seed, drifted=drifted_features, default_drifted=1,
                  params={"factor": factor}, transform=apply)


def shape_scenario(
    n_rows: int = 10_000, n_features: int = 5, change_points: int | str = "middle",
    separation: float = 0.95, *, drifted_features: Sequence[int] | None = None, seed: int = 0,
) -> TabularScenario:
    """Drifted features become a bimodal mixture with mean 0 and variance 1."""
    a = float(check_number("separation", separation, low=0.0, high=1.0,  # type: ignore[arg-type]
                           low_inclusive=False, high_inclusive=False))
    s = math.sqrt(1.0 - a * a)

    def apply(rows: np.ndarray, new: np.ndarray, idx: list[int], rng: np.random.Generator) -> None:
        block = rows[np.ix_(new, idx)]
        signs = np.where(rng.random(block.shape) < 0.5, -1.0, 1.0)
        rows[np.ix_(new, idx)] = signs * a + s * block

    return _build("shape", n_rows=n_rows, n_features=n_features, change_points=change_points,
                  seed=seed, drifted=drifted_features, default_drifted=1,
                  params={"separation": a, "component_std": s}, transform=apply)


def correlation_scenario(
    n_rows: int = 10_000, n_features: int = 5, change_points: int | str = "middle",
    rho_before: float = 0.0, rho_after: float = 0.8, *,
    drifted_features: Sequence[int] | None = None, seed: int = 0,
) -> TabularScenario:
    """Correlation of two features moves from ``rho_before`` to ``rho_after``; marginals fixed."""
    rho0 = float(check_number("rho_before", rho_before, low=-1.0, high=1.0,  # type: ignore[arg-type]
                              low_inclusive=False, high_inclusive=False))
    rho1 = float(check_number("rho_after", rho_after, low=-1.0, high=1.0,  # type: ignore[arg-type]
                              low_inclusive=False, high_inclusive=False))
    if drifted_features is not None and len(drifted_features) != 2:
        raise ValueError(
            f"drifted_features must name exactly two features for a correlation scenario, got "
            f"{list(drifted_features)}"
        )

    def apply(rows: np.ndarray, new: np.ndarray, idx: list[int], rng: Any) -> None:
        first, second = idx
        rho = np.where(new, rho1, rho0)
        rows[:, second] = rho * rows[:, first] + np.sqrt(1.0 - rho**2) * rows[:, second]

    return _build("correlation", n_rows=n_rows, n_features=n_features,
                  change_points=change_points, seed=seed, drifted=drifted_features,
                  default_drifted=2, params={"rho_before": rho0, "rho_after": rho1},
                  transform=apply)


def concept_scenario(
    n_rows: int = 10_000, n_features: int = 5, change_points: int | str = "middle", *,
    drifted_features: Sequence[int] | None = None, seed: int = 0,
) -> TabularScenario:
    """Label drift: the target flips the sign of the drifted features' weights; inputs fixed.

    By default all features are flipped, so the post-change target is the negated concept.
    """
    n_features = check_int("n_features", n_features, low=1)
    return _build("concept", n_rows=n_rows, n_features=n_features, change_points=change_points,
                  seed=seed, drifted=drifted_features, default_drifted=n_features,
                  params={}, transform=None, flip_concept=True)


_FACTORIES: dict[str, Callable[..., TabularScenario]] = {
    "abrupt": abrupt_scenario,
    "gradual": gradual_scenario,
    "recurring": recurring_scenario,
    "variance": variance_scenario,
    "shape": shape_scenario,
    "correlation": correlation_scenario,
    "concept": concept_scenario,
}


def make_tabular_scenario(kind: str, **params: Any) -> TabularScenario:
    """Build the tabular scenario ``kind`` (one of :data:`TABULAR_KINDS`) with ``params``."""
    return _FACTORIES[check_choice("kind", kind, TABULAR_KINDS)](**params)
