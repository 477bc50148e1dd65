"""Drift injection: each kind changes only its field, only from its start, with the declared
effect (checked against scipy's goodness-of-fit and binomial tests), whatever the chunking."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from scipy import stats

from driftline.configs import ConfigError, build_config
from driftline.dataloader.drift_injection import DriftConfig, DriftInjector, check_drift
from driftline.dataloader.schema import EventSchema

N, CHANGE = 20_000, 8_000
SCHEMA = build_config({"fields": [
    {"name": "x", "type": "numeric", "range": [-10, 10]},
    {"name": "y", "type": "numeric", "optional": True},
    {"name": "c", "type": "categorical", "optional": True, "categories": ["a", "b", "c"]},
    {"name": "k", "type": "categorical", "values": "integer"},
    {"name": "on", "type": "boolean"},
]}, EventSchema)


def _drift(*injections: dict[str, Any], change_point: int = CHANGE, seed: int = 0) -> DriftConfig:
    return build_config({"change_point": change_point, "seed": seed,
                         "injections": list(injections)}, DriftConfig, source="drift")


def _columns(seed: int = 5) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    numeric = {"x": rng.normal(size=N), "y": rng.normal(size=N),
               "on": (rng.random(N) < 0.5).astype(float)}
    c = np.empty(N, dtype=object)
    c[:] = list(rng.choice(["a", "b", "c"], size=N, p=[0.5, 0.3, 0.2]))
    k = np.empty(N, dtype=object)
    k[:] = rng.integers(1, 4, size=N).tolist()
    return numeric, {"c": c, "k": k}


def _applied(drift: DriftConfig, chunks: list[int] | None = None,
             ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    numeric, categories = _columns()
    injector = DriftInjector(drift)
    bounds = np.cumsum([0, *(chunks or [N])])
    assert bounds[-1] == N
    for start, end in itertools.pairwise(bounds):
        part_numeric = {k: v[start:end] for k, v in numeric.items()}  # views: changed in place
        part_categories = {k: v[start:end] for k, v in categories.items()}
        injector.apply(np.arange(start, end), part_numeric, part_categories)
    return numeric, categories


def _unchanged_except(field: str, numeric: dict[str, np.ndarray],
                      categories: dict[str, np.ndarray], until: int = N) -> None:
    original_numeric, original_categories = _columns()
    for name, column in numeric.items():
        end = CHANGE if name == field else until
        np.testing.assert_array_equal(column[:end], original_numeric[name][:end])
    for name, column in categories.items():
        end = CHANGE if name == field else until
        assert column[:end].tolist() == original_categories[name][:end].tolist()


@pytest.mark.parametrize("fraction", [1.0, 0.4])
def test_category_shift_gives_the_declared_frequencies(fraction: float) -> None:
    target = {"a": 0.1, "b": 0.2, "c": 0.3, "new": 0.4}
    drift = _drift({"kind": "category_shift", "field": "c", "frequencies": target,
                    "fraction": fraction})
    numeric, categories = _applied(drift)
    _unchanged_except("c", numeric, categories)
    after = categories["c"][CHANGE:].tolist()
    names = list(target)
    observed = np.array([after.count(name) for name in names])
    # the values before the shift, in the same events: the mixture's other component
    original = _columns()[1]["c"][CHANGE:].tolist()
    before = np.array([original.count(name) for name in names]) / len(original)
    expected = ((1 - fraction) * before + fraction * np.array(list(target.values()))) * len(after)
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    unchanged = stats.chisquare(observed, before * len(after) + 1e-9)
    assert unchanged.pvalue < 1e-12


def test_numeric_shift_is_exact_and_starts_at_the_change_point() -> None:
    numeric, categories = _applied(_drift({"kind": "numeric_shift", "field": "x", "scale": 1.5,
                                           "shift": -2.0}))
    _unchanged_except("x", numeric, categories)
    original = _columns()[0]["x"]
    np.testing.assert_array_equal(numeric["x"][CHANGE:], original[CHANGE:] * 1.5 - 2.0)


@pytest.mark.parametrize(("injection", "field", "check"), [
    ({"kind": "missing", "field": "y", "rate": 0.3}, "y", lambda v: np.isnan(v)),
    ({"kind": "missing", "field": "c", "rate": 0.3}, "c", lambda v: v == None),  # noqa: E711
    ({"kind": "new_category", "field": "c", "category": "zz", "rate": 0.05}, "c",
     lambda v: v == "zz"),
    ({"kind": "new_category", "field": "k", "category": 9, "rate": 0.2}, "k",
     lambda v: v == 9),
    ({"kind": "out_of_range", "field": "x", "value": -999.0, "rate": 0.1}, "x",
     lambda v: v == -999.0),
])
def test_rates_are_binomial_at_the_declared_rate(injection: dict[str, Any], field: str,
                                                 check: Any) -> None:
    count = 0
    for seed in range(4):  # 48,000 events past the change point
        numeric, categories = _applied(_drift(injection, seed=seed))
        _unchanged_except(field, numeric, categories)
        column = numeric[field] if field in numeric else categories[field]
        hits = check(column)
        assert not hits[:CHANGE].any()
        count += int(np.count_nonzero(hits[CHANGE:]))
        if injection["kind"] == "missing" and field == "c":  # the others keep their value
            kept = ~hits[CHANGE:]
            assert column[CHANGE:][kept].tolist() == _columns()[1]["c"][CHANGE:][kept].tolist()
    assert stats.binomtest(count, 4 * (N - CHANGE), injection["rate"]).pvalue > 1e-3


def test_each_injection_may_start_elsewhere() -> None:
    numeric, _ = _applied(_drift({"kind": "numeric_shift", "field": "x", "shift": 1.0,
                                  "start": 100},
                                 {"kind": "numeric_shift", "field": "y", "shift": 1.0}))
    original = _columns()[0]
    changed_x = numeric["x"] != original["x"]
    changed_y = numeric["y"] != original["y"]
    assert np.flatnonzero(changed_x)[0] == 100 and changed_x[100:].all()
    assert np.flatnonzero(changed_y)[0] == CHANGE and changed_y[CHANGE:].all()


def test_chunking_does_not_change_the_stream() -> None:
    drift = _drift({"kind": "category_shift", "field": "c", "frequencies": {"a": 0.5, "b": 0.5},
                    "fraction": 0.5},
                   {"kind": "missing", "field": "y", "rate": 0.2},
                   {"kind": "new_category", "field": "k", "category": 7, "rate": 0.1})
    whole = _applied(drift)
    chunked = _applied(drift, chunks=[1, 999, 7_000, 3, 11_997])
    for a, b in zip(whole, chunked, strict=True):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])


def test_the_seed_sets_the_draws() -> None:
    one = {"kind": "missing", "field": "y", "rate": 0.5}
    first = _applied(_drift(one, seed=1))[0]["y"]
    again = _applied(_drift(one, seed=1))[0]["y"]
    other = _applied(_drift(one, seed=2))[0]["y"]
    np.testing.assert_array_equal(np.isnan(first), np.isnan(again))
    assert not np.array_equal(np.isnan(first), np.isnan(other))


@pytest.mark.parametrize(("injection", "message"), [
    ({"kind": "category_shift", "field": "c", "frequencies": {"a": 0.5, "b": 0.4}},
     "frequencies: must sum to 1, got 0.9"),
    ({"kind": "category_shift", "field": "c", "frequencies": {"a": 1.5, "b": -0.5}},
     "frequencies.b: must be a probability >= 0"),
    ({"kind": "numeric_shift", "field": "x"}, "scale 1 and shift 0 change nothing"),
    ({"kind": "missing", "field": "y", "rate": 0.0}, "rate: must be > 0"),
    ({"kind": "wobble", "field": "y"}, "kind"),
])
def test_bad_injections_name_the_key(injection: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _drift(injection)


@pytest.mark.parametrize(("injection", "message"), [
    ({"kind": "missing", "field": "nope", "rate": 0.1},
     r"injections\[0\].field: 'nope' is not a field of the schema"),
    ({"kind": "numeric_shift", "field": "c", "shift": 1.0},
     "numeric_shift needs a numeric field, 'c' is categorical"),
    ({"kind": "category_shift", "field": "x", "frequencies": {"a": 1.0}},
     "needs a categorical field"),
    ({"kind": "missing", "field": "x", "rate": 0.1}, "'x' is not optional in the schema"),
    ({"kind": "new_category", "field": "k", "category": "nine", "rate": 0.1},
     "category 'nine' is not integer"),
    ({"kind": "new_category", "field": "c", "category": "b", "rate": 0.1},
     "'b' is one of the declared categories"),
    ({"kind": "out_of_range", "field": "x", "value": 3.0, "rate": 0.1},
     r"value: 3.0 is inside the declared range \[-10.0, 10.0\]"),
])
def test_injections_that_do_not_fit_the_schema(injection: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_drift(_drift(injection), SCHEMA)


def test_describe_says_what_and_when() -> None:
    drift = _drift({"kind": "out_of_range", "field": "x", "value": 99.0, "rate": 0.5,
                    "start": 10})
    assert DriftInjector(drift).describe() == [
        "out_of_range on 'x' from event 10: value=99.0, rate=0.5"]
