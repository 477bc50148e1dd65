"""Drift injected into replayed events at a known change point, of documented kinds.

A replay of real rows (:mod:`dataloader.file_events`) is in control by construction; to show
what the detectors catch, a ``drift:`` section changes chosen fields from a given event on
(``start``, default the section's ``change_point``; positions count events in replay order,
from 0). Each kind touches one field of the event schema and leaves every other field, and every
event before ``start``, exactly as read:

======================  ===============================================================
``category_shift``      a categorical field's value is redrawn from ``frequencies``
                        (category -> probability, summing to 1) in a ``fraction`` of
                        the events (default all): the field's frequencies become
                        ``(1 - fraction) * before + fraction * frequencies``
``numeric_shift``       a numeric field becomes ``value * scale + shift`` (a mean shift,
                        a change of scale or units, a sensor's gain or offset)
``missing``             an optional field is left out of a ``rate`` of the events
``new_category``        a categorical field takes ``category``, which the reference does
                        not know, in a ``rate`` of the events
``out_of_range``        a numeric field takes ``value``, outside its plausible range, in
                        a ``rate`` of the events (a sentinel such as -999)
======================  ===============================================================

Randomness is one generator per injection seeded by ``(seed, injection index)``, drawn for
every event in replay order (one uniform; two for ``category_shift``, none for
``numeric_shift``) whether or not the event is past ``start``, so the result does not depend on
how the events are chunked.

Example
-------
>>> import numpy as np
>>> from driftline.configs import build_config
>>> drift = build_config({"change_point": 2, "injections": [
...     {"kind": "numeric_shift", "field": "x", "shift": 10.0},
...     {"kind": "new_category", "field": "c", "category": "new", "rate": 1.0}]}, DriftConfig)
>>> injector = DriftInjector(drift)
>>> numeric = {"x": np.array([1.0, 2.0, 3.0, 4.0])}
>>> categories = {"c": np.array(["a", "b", "a", "b"], dtype=object)}
>>> injector.apply(np.arange(4), numeric, categories)
>>> numeric["x"].tolist(), categories["c"].tolist()
([1.0, 2.0, 13.0, 14.0], ['a', 'b', 'new', 'new'])
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from driftline.configs import ConfigModel, key_error
from driftline.dataloader.schema import CategoricalField, EventSchema, NumericField

__all__ = ["INJECTION_KINDS", "CategoryShift", "DriftConfig", "DriftInjector", "MissingValues",
           "NewCategory", "NumericShift", "OutOfRange", "check_drift"]

Name = Annotated[str, Field(min_length=1, max_length=200)]
Rate = Annotated[float, Field(gt=0.0, le=1.0)]


class _Injection(ConfigModel):
    """Keys of every kind: the schema field it changes and the first event it changes."""

    field: Name
    start: int | None = Field(None, ge=0)


class CategoryShift(_Injection):
    """Redraw a categorical field from ``frequencies`` in a ``fraction`` of the events."""

    kind: Literal["category_shift"]
    frequencies: dict[str, float] | dict[int, float] = Field(min_length=1)
    fraction: Rate = 1.0

    @model_validator(mode="after")
    def _check_frequencies(self) -> CategoryShift:
        for category, p in self.frequencies.items():
            if not (math.isfinite(p) and p >= 0.0):
                raise key_error(f"frequencies.{category}", f"must be a probability >= 0, got {p}")
        total = sum(self.frequencies.values())
        if abs(total - 1.0) > 1e-6:
            raise key_error("frequencies", f"must sum to 1, got {total:g}")
        return self


class NumericShift(_Injection):
    """``value * scale + shift`` for a numeric field."""

    kind: Literal["numeric_shift"]
    scale: float = 1.0
    shift: float = 0.0

    @model_validator(mode="after")
    def _check_change(self) -> NumericShift:
        if not (math.isfinite(self.scale) and math.isfinite(self.shift)):
            raise key_error("scale", "scale and shift must be finite")
        if self.scale == 1.0 and self.shift == 0.0:
            raise key_error("scale", "scale 1 and shift 0 change nothing; set one of them")
        return self


class MissingValues(_Injection):
    """Leave an optional field out of a ``rate`` of the events."""

    kind: Literal["missing"]
    rate: Rate


class NewCategory(_Injection):
    """Set a categorical field to a category the reference does not know."""

    kind: Literal["new_category"]
    category: str | int
    rate: Rate


class OutOfRange(_Injection):
    """Set a numeric field to ``value`` (outside its plausible range)."""

    kind: Literal["out_of_range"]
    value: float
    rate: Rate

    @model_validator(mode="after")
    def _check_value(self) -> OutOfRange:
        if not math.isfinite(self.value):
            raise key_error("value", f"must be finite (JSON has no {self.value}), got "
                            f"{self.value}")
        return self


Injection = Annotated[CategoryShift | NumericShift | MissingValues | NewCategory | OutOfRange,
                      Field(discriminator="kind")]
#: ``kind`` -> injection class
INJECTION_KINDS = {"category_shift": CategoryShift, "numeric_shift": NumericShift,
                   "missing": MissingValues, "new_category": NewCategory,
                   "out_of_range": OutOfRange}


class DriftConfig(ConfigModel):
    """The ``drift:`` section: where the change is and what it does."""

    change_point: int = Field(ge=0)
    seed: int = Field(0, ge=0)
    injections: list[Injection] = Field(min_length=1)

    def start_of(self, injection: _Injection) -> int:
        """The first event position ``injection`` changes."""
        return self.change_point if injection.start is None else injection.start


def check_drift(drift: DriftConfig, schema: EventSchema) -> None:
    """Raise ``ValueError`` naming ``injections[i].<key>`` when an injection does not fit the
    schema's field (unknown field, wrong field type, a category of the wrong kind or already
    declared, a missing value in a required field, a value inside the declared range)."""
    fields = {spec.name: spec for spec in schema.fields}
    for i, injection in enumerate(drift.injections):
        where = f"injections[{i}]"
        spec = fields.get(injection.field)
        if spec is None:
            raise ValueError(f"{where}.field: {injection.field!r} is not a field of the schema "
                             f"(fields: {', '.join(fields)})")
        wanted = {"category_shift": CategoricalField, "new_category": CategoricalField,
                  "numeric_shift": NumericField, "out_of_range": NumericField}.get(
            injection.kind)
        if wanted is not None and not isinstance(spec, wanted):
            raise ValueError(f"{where}.field: {injection.kind} needs a "
                             f"{'categorical' if wanted is CategoricalField else 'numeric'} "
                             f"field, {injection.field!r} is {spec.type}")
        if isinstance(injection, MissingValues) and not spec.optional:
            raise ValueError(f"{where}.field: {injection.field!r} is not optional in the "
                             "schema, so an event without it is dead-lettered, not counted as "
                             "missing; make it optional: true")
        if isinstance(spec, CategoricalField):
            kind = str if spec.values == "string" else int
            categories = (list(injection.frequencies) if isinstance(injection, CategoryShift)
                          else [injection.category] if isinstance(injection, NewCategory) else [])
            for category in categories:
                if type(category) is not kind:
                    raise ValueError(f"{where}: category {category!r} is not {spec.values} "
                                     f"(field {spec.name!r} has values: {spec.values})")
            if (isinstance(injection, NewCategory) and spec.categories is not None
                    and injection.category in spec.categories):
                raise ValueError(f"{where}.category: {injection.category!r} is one of the "
                                 f"declared categories of {spec.name!r}, so it is not new")
        if (isinstance(injection, OutOfRange) and isinstance(spec, NumericField)
                and spec.range is not None and spec.range[0] <= injection.value <= spec.range[1]):
            raise ValueError(f"{where}.value: {injection.value} is inside the declared range "
                             f"{spec.range} of {spec.name!r}")


class DriftInjector:
    """Applies a :class:`DriftConfig` to columns of events, chunk after chunk, in replay order
    (see the module docstring)."""

    def __init__(self, drift: DriftConfig) -> None:
        self.drift = drift
        self._generators = [np.random.default_rng([drift.seed, i])
                            for i in range(len(drift.injections))]

    def apply(self, positions: np.ndarray, numeric: dict[str, np.ndarray],
              categories: dict[str, np.ndarray]) -> None:
        """Change, in place, the values of the events at ``positions`` (consecutive replay
        positions): ``numeric`` float columns (NaN: missing) and ``categories`` object columns
        (``None``: missing). Must be called on every event once, in order."""
        positions = np.asarray(positions)
        for injection, generator in zip(self.drift.injections, self._generators, strict=True):
            after = positions >= self.drift.start_of(injection)
            if isinstance(injection, CategoryShift):
                # two uniforms per event, consecutive in the generator's sequence (so chunking
                # does not change the stream): whether it changes, and its category by inverse CDF
                draws, picks = generator.random((positions.size, 2)).T
                changed = after & (draws < injection.fraction)
                names = list(injection.frequencies)
                cumulative = np.cumsum([injection.frequencies[c] for c in names])
                index = np.minimum(np.searchsorted(cumulative, picks * cumulative[-1],
                                                   side="right"), len(names) - 1)
                column = categories[injection.field]
                for row in np.flatnonzero(changed):
                    column[row] = names[index[row]]
            elif isinstance(injection, NumericShift):
                column = numeric[injection.field]
                column[after] = column[after] * injection.scale + injection.shift
            else:
                changed = after & (generator.random(positions.size) < injection.rate)
                if isinstance(injection, MissingValues):
                    if injection.field in numeric:
                        numeric[injection.field][changed] = np.nan
                    else:
                        categories[injection.field][changed] = None
                elif isinstance(injection, NewCategory):
                    categories[injection.field][changed] = injection.category
                else:
                    numeric[injection.field][changed] = injection.value

    def describe(self) -> list[str]:
        """One line per injection, for logs and the example READMEs."""
        out = []
        for injection in self.drift.injections:
            details = injection.model_dump(exclude={"kind", "field", "start"})
            text = ", ".join(f"{k}={v}" for k, v in details.items())
            out.append(f"{injection.kind} on {injection.field!r} from event "
                       f"{self.drift.start_of(injection)}: {text}")
        return out
