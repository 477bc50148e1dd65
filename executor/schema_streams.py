"""What the streams of a schema-described run feed their detectors, and their references.

For events an :class:`dataloader.schema.EventSchema` describes (decoded by
:class:`executor.schema_decoder.SchemaDecoder`), the per-column streams of
:mod:`executor.detector_streams` are:

* ``categories`` -- each categorical field's codes (:class:`CategoryColumns`). The decoder's
  codes are ``0..K-1`` for the profile's categories, then ``other``, ``unseen`` and
  ``missing``; the detectors see ``missing`` as a category of its own (code ``K+1``, with its
  reference count) and ``unseen`` past the end of the reference (code ``K+2``), which the
  chi-square test counts and alarms on separately. The reference is the profile's counts;
  the live per-category counts of a batch (:meth:`CategoryColumns.counts`) feed the exported
  frequencies, bounded by the profile's category cap plus the three reserved codes.
* ``data_quality`` -- one 0/1 series per field and quality flag it can carry
  (:func:`quality_columns`: ``missing`` and ``wrong_type`` for optional fields,
  ``out_of_range`` for numeric fields, ``unseen_category`` for categorical ones), named
  ``<field>:<flag>``, each against the profile's baseline rate (:func:`quality_baseline`).

Example
-------
>>> from driftline.model.profile import CategoricalProfile
>>> columns = CategoryColumns(["colour"], {"colour": CategoricalProfile(
...     ["red", "blue"], [6, 3], other_count=1, missing_count=2)})
>>> columns.reference()[:, 0].tolist().count(3.0)      # missing: code K+1 = 3, twice
2
>>> columns.transform(np.array([[0], [2], [3], [4]])).ravel().tolist()  # red other unseen missing
[0.0, 2.0, 4.0, 3.0]
>>> columns.labels["colour"]
['red', 'blue', '__other__', '__missing__', '__unseen__']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftline.dataloader.field_values import CategoryVocabulary
from driftline.dataloader.schema import BooleanField, CategoricalField, EventSchema, NumericField

__all__ = ["CategoryColumns", "quality_baseline", "quality_columns"]


class CategoryColumns:
    """The ``categories`` stream of the categorical fields ``names`` (see the module
    docstring), from their profiles (:class:`model.profile.CategoricalProfile`)."""

    def __init__(self, names: Sequence[str], profiles: Mapping[str, Any]) -> None:
        self.names = list(names)
        self.profiles = [profiles[name] for name in self.names]
        sizes = np.array([len(p.categories) for p in self.profiles], dtype=np.int64)
        self.n_known = sizes                    # K per column; K+1 missing, K+2 unseen
        self.labels = {name: [str(c) for c in p.categories] + [
            CategoryVocabulary.RESERVED[0], CategoryVocabulary.RESERVED[2],
            CategoryVocabulary.RESERVED[1]] for name, p in zip(self.names, self.profiles,
                                                               strict=True)}

    def reference_counts(self) -> list[np.ndarray]:
        """Per column the reference count of each detector code ``0..K+1`` (reference values
        outside the declared categories count as ``other``: they were there)."""
        return [np.array([*p.counts, p.other_count + p.unseen_count, p.missing_count],
                         dtype=np.int64) for p in self.profiles]

    def reference(self) -> np.ndarray:
        """The reference as a sample of detector codes ``(n_reference, k)`` (each code
        repeated by its count; the detectors and their calibration use only the counts)."""
        counts = self.reference_counts()
        totals = {int(c.sum()) for c in counts}
        if len(totals) > 1:
            raise ValueError(f"the profile's categorical fields {self.names} count different "
                             f"numbers of reference rows ({sorted(totals)})")
        return np.column_stack([np.repeat(np.arange(len(c), dtype=np.float64), c)
                                for c in counts])

    def transform(self, codes: np.ndarray) -> np.ndarray:
        """Decoder codes ``(n, k)`` -> detector codes (float64): ``missing`` and ``unseen``
        swapped (see the module docstring)."""
        codes = np.asarray(codes, dtype=np.int64)
        known = self.n_known[None, :]
        out = np.where(codes == known + 2, known + 1, np.where(codes == known + 1, known + 2,
                                                               codes))
        return out.astype(np.float64)

    def counts(self, detector_codes: np.ndarray) -> list[np.ndarray]:
        """Per column the batch's count of each detector code ``0..K+2`` (the order of
        :attr:`labels`)."""
        return [np.bincount(detector_codes[:, j].astype(np.int64), minlength=int(k) + 3)
                for j, k in enumerate(self.n_known)]

    def reference_ratios(self) -> dict[str, list[float]]:
        """Per column the reference frequency of each label of :attr:`labels` (unseen: 0)."""
        out = {}
        for name, counts in zip(self.names, self.reference_counts(), strict=True):
            total = float(counts.sum())
            out[name] = [float(c) / total if total else 0.0 for c in counts] + [0.0]
        return out


def quality_columns(schema: EventSchema, field_names: Sequence[str]) -> list[tuple[int, str, str]]:
    """``(field index in field_names, field, flag)`` of every data-quality series: the flags
    a field can carry (see the module docstring)."""
    by_name = {spec.name: spec for spec in schema.fields}
    out = []
    for j, name in enumerate(field_names):
        spec = by_name[name]
        flags = ["missing", "wrong_type"] if spec.optional else []
        if isinstance(spec, NumericField):
            flags.append("out_of_range")
        elif isinstance(spec, CategoricalField):
            flags.append("unseen_category")
        elif not isinstance(spec, BooleanField) and not spec.optional:
            continue
        out += [(j, name, flag) for flag in flags]
    return out


def quality_baseline(profile: Any, field: str, flag: str) -> float:
    """The reference rate of ``flag`` on ``field`` (a wrong type never reaches a profile)."""
    if flag == "missing":
        return float(profile.missing_rates.get(field, 0.0))
    if flag == "out_of_range":
        return float(profile.out_of_range_rates.get(field, 0.0))
    if flag == "unseen_category" and field in profile.categorical:
        entry = profile.categorical[field]
        return entry.unseen_count / profile.n_reference if profile.n_reference else 0.0
    return 0.0
