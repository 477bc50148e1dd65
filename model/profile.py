"""The reference profile saved beside the model: what "no drift" looks like.

Detectors compare production traffic against it: per-feature reference samples (Incremental
Kolmogorov-Smirnov), mean and std (Page-Hinkley), quantiles, Boxkite-style histograms (bucket
edges at reference quantiles, with the reference counts) for features and predictions, the
model's error rate and class distribution on the reference split (error-rate detectors such as
DDM), and hashes that tie the profile to the training data and the exact model weights.

Histogram convention (Prometheus ``le`` buckets): ``edges`` are increasing upper bounds and
``counts`` has ``len(edges) + 1`` entries, ``counts[i]`` = number of values ``v`` with
``edges[i-1] < v <= edges[i]`` (``edges[-1] = -inf``, ``edges[len(edges)] = +inf``).

Example
-------
>>> import numpy as np
>>> from driftline.model.profile import Histogram
>>> h = Histogram.from_reference(np.arange(1.0, 101.0), n_buckets=4)
>>> h.edges, h.counts
([25.8, 50.5, 75.2], [25, 25, 25, 25])
>>> h.count(np.array([0.0, 30.0, 1000.0]))
[1, 1, 0, 1]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import platform
from dataclasses import MISSING, asdict, dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

from driftline.dataloader.field_values import CategoryVocabulary

__all__ = [
    "EDGE_SIGNIFICANT_DIGITS", "PROFILE_FORMAT_VERSION", "SUPPORTED_FORMAT_VERSIONS",
    "CategoricalProfile", "Histogram", "ReducerProfile", "ReferenceProfile", "VectorProfile",
    "data_sha256", "round_edges", "runtime_versions",
]

#: version 2 adds categorical features, missing and out-of-range rates, the label distribution
#: and the schema / reference-data hashes of ``driftline profile``; version 3 adds vector and
#: image fields (reference samples in files beside the profile) and the reducers fitted on them;
#: version 1 and 2 files still load
PROFILE_FORMAT_VERSION = 3
SUPPORTED_FORMAT_VERSIONS = (1, 2, 3)
#: Significant digits of the quantile bucket edges (see :func:`round_edges`).
EDGE_SIGNIFICANT_DIGITS = 3


def round_edges(edges: Any, digits: int = EDGE_SIGNIFICANT_DIGITS) -> list[float]:
    """Strictly increasing ``edges`` rounded to ``digits`` significant digits, or to as few more
    as keep them strictly increasing.

    The edges become Prometheus label values (``le``, ``bin``): full-precision quantiles would
    give new series at every retrain, rounded ones mostly the same.

    >>> round_edges([27.407449930997384, 31.698901369634648, 10537.2])
    [27.4, 31.7, 10500.0]
    >>> round_edges([1000.04, 1000.06])  # 3 digits would merge them
    [1000.0, 1000.1]
    """
    exact = [float(e) for e in edges]
    if any(b <= a for a, b in itertools.pairwise(exact)):
        raise ValueError(f"edges must be strictly increasing, got {exact}")
    for n in range(digits, 17):
        # + 0.0 turns a rounded -0.0 into 0.0
        rounded = [float(f"{e:.{n}g}") + 0.0 for e in exact]
        if all(b > a for a, b in itertools.pairwise(rounded)):
            return rounded
    return exact  # 17 significant digits: every float as it is


@dataclass(frozen=True)
class Histogram:
    """Bucket upper bounds and reference counts (see the module docstring for the convention)."""

    edges: list[float]
    counts: list[int]

    @classmethod
    def from_reference(cls, values: np.ndarray, n_buckets: int) -> Histogram:
        """Edges at the ``1/n, ..., (n-1)/n`` reference quantiles (ties merged, rounded by
        :func:`round_edges`) and counts.

        A feature with at most ``n_buckets`` distinct values (e.g. a 0/1 flag) gets one bucket
        per value instead, so categorical columns are not collapsed into one bucket.
        """
        values = np.asarray(values, dtype=np.float64)
        distinct = np.unique(values)
        if distinct.size <= n_buckets:
            edges_list = [float(e) for e in distinct[:-1]]
        else:
            levels = np.linspace(0.0, 1.0, n_buckets + 1)[1:-1]
            edges_list = round_edges(np.unique(np.quantile(values, levels)))
        return cls(edges_list, cls(edges_list, []).count(values))

    def count(self, values: np.ndarray) -> list[int]:
        """Counts of ``values`` in these buckets (same convention as ``counts``)."""
        index = np.searchsorted(np.asarray(self.edges, dtype=np.float64),
                                np.asarray(values, dtype=np.float64), side="left")
        return [int(c) for c in np.bincount(index, minlength=len(self.edges) + 1)]


@dataclass(frozen=True)
class CategoricalProfile:
    """Reference frequencies of a categorical feature.

    ``categories`` are the most frequent values (at most the field's ``max_categories``; with
    declared categories, those, in declared order) and ``counts`` their reference counts;
    ``other_count`` pools the rest of the known values, listed in ``other_categories`` when
    ``complete`` (the reference had few enough distinct values to count them all exactly).
    ``unseen_count`` counts reference values outside the declared categories, ``missing_count``
    rows without a value.
    """

    categories: list[str | int]
    counts: list[int]
    other_count: int = 0
    other_categories: list[str | int] = field(default_factory=list)
    unseen_count: int = 0
    missing_count: int = 0
    complete: bool = True
    declared: bool = False

    def vocabulary(self) -> CategoryVocabulary:
        """Integer codes of this feature for the decoder (see :class:`CategoryVocabulary`)."""
        return CategoryVocabulary(self.categories, known=self.other_categories,
                                  complete=self.complete or self.declared)

    def frequencies(self) -> list[float]:
        """Reference frequency of each category, then of "other" (over rows with a value)."""
        total = sum(self.counts) + self.other_count + self.unseen_count
        return [c / total if total else 0.0 for c in (*self.counts, self.other_count)]


@dataclass(frozen=True)
class VectorProfile:
    """A vector or image field of the reference: ``shape`` of one value, ``n_values`` rows with
    a value and ``missing_count`` without, and a uniform sample of ``sample_rows`` rows in
    ``file`` beside the profile (a float32 ``.npy`` of ``(sample_rows, size)``, NaN rows where
    the row had no value; row ``k`` of every vector field's file is the same reference row),
    whose SHA-256 is ``sha256``."""

    shape: list[int]
    n_values: int
    missing_count: int
    sample_rows: int
    file: str
    sha256: str


@dataclass(frozen=True)
class ReducerProfile:
    """A dimensionality reducer fitted on the reference (see :mod:`model.reducers`): its
    ``name`` (the prefix of its component names, the ``feature`` label of its detectors),
    ``kind``, the vector ``field`` it reads ("" for BBSD, which reads the model's outputs),
    ``component_names``, ``params`` and, for a fitted one, the ``file`` of its arrays beside the
    profile with their SHA-256 (both "" when there is nothing to store)."""

    name: str
    kind: str
    field: str
    component_names: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    file: str = ""
    sha256: str = ""

    @property
    def n_components(self) -> int:
        """Width of the reduced vector."""
        return len(self.component_names)


@dataclass
class ReferenceProfile:
    """Reference statistics of the features and of the model's predictions.

    Attributes
    ----------
    feature_names : list of str
        Column order of the model input.
    feature_types : dict of str to str
        ``"binary"`` or ``"continuous"`` per feature.
    class_names : list of str
        Names of the predicted classes, by label.
    reference_samples : dict of str to list of float
        The reference split, per feature, in file order (for Incremental KS).
    quantile_levels : list of float
        Levels of ``quantiles``.
    quantiles : dict of str to list of float
        Per-feature reference quantiles at ``quantile_levels``.
    mean, std : dict of str to float
        Per-feature reference mean and population std (for Page-Hinkley).
    feature_histograms : dict of str to Histogram
        Per-feature reference histograms.
    prediction_histograms : dict of str to Histogram
        ``"label"`` (one bucket per class), ``"confidence"`` and, with a risk head, ``"risk"``.
    class_distribution : list of float
        Fraction of reference rows predicted as each class.
    baseline_error_rate : float
        Error rate of the served predictions (network plus fallback) on the reference split.
    baseline_model_error_rate : float
        Error rate of the network alone on the reference split.
    baseline_fallback_rate : float
        Fraction of reference rows served by the rule-based fallback.
    n_reference : int
        Number of reference rows (``reference_samples`` may hold a uniform sample of them).
    training_data_sha256 : str
        :func:`data_sha256` of the training split ("" for a profile of reference data only).
    model_sha256 : str
        :func:`model.network.state_dict_sha256` of the saved weights ("" without a model).
    versions : dict of str to str
        Versions of driftline, torch, numpy and Python that produced the profile.
    format_version : int
        :data:`PROFILE_FORMAT_VERSION`.
    categorical : dict of str to CategoricalProfile
        Reference frequencies of the categorical features (not in ``feature_names``).
    missing_rates : dict of str to float
        Fraction of reference rows without a value, per field.
    out_of_range_rates : dict of str to float
        Fraction of reference values outside the field's declared range, per numeric field.
    label_distribution : list of float
        Fraction of labelled reference rows of each class.
    schema_sha256, reference_data_sha256 : str
        SHA-256 of the schema file and of the reference data file ("" when not built from one).
    vectors : dict of str to VectorProfile
        Vector and image fields (not in ``feature_names``): shape, counts, sample file.
    reducers : list of ReducerProfile
        Dimensionality reducers fitted on the vector fields, in the order given.

    A baseline error rate that the reference data cannot give (no predictions or no labels)
    is ``None``.
    """

    feature_names: list[str]
    feature_types: dict[str, str]
    class_names: list[str]
    reference_samples: dict[str, list[float]]
    quantile_levels: list[float]
    quantiles: dict[str, list[float]]
    mean: dict[str, float]
    std: dict[str, float]
    feature_histograms: dict[str, Histogram]
    prediction_histograms: dict[str, Histogram]
    class_distribution: list[float]
    baseline_error_rate: float | None
    baseline_model_error_rate: float | None
    baseline_fallback_rate: float
    n_reference: int
    training_data_sha256: str
    model_sha256: str
    versions: dict[str, str] = field(default_factory=dict)
    format_version: int = PROFILE_FORMAT_VERSION
    categorical: dict[str, CategoricalProfile] = field(default_factory=dict)
    missing_rates: dict[str, float] = field(default_factory=dict)
    out_of_range_rates: dict[str, float] = field(default_factory=dict)
    label_distribution: list[float] = field(default_factory=list)
    schema_sha256: str = ""
    reference_data_sha256: str = ""
    vectors: dict[str, VectorProfile] = field(default_factory=dict)
    reducers: list[ReducerProfile] = field(default_factory=list)

    def files(self) -> dict[str, str]:
        """``{file name: SHA-256}`` of the files beside the profile that belong to it."""
        out = {entry.file: entry.sha256 for entry in self.vectors.values()}
        out.update({r.file: r.sha256 for r in self.reducers if r.file})
        return out

    @staticmethod
    def describe_features(X: np.ndarray, feature_names: list[str], quantile_levels: list[float],
                          n_buckets: int) -> dict[str, Any]:
        """The feature part of a profile (every field that depends only on ``X``)."""
        X = np.asarray(X, dtype=np.float64)
        columns = {name: X[:, i] for i, name in enumerate(feature_names)}
        return {
            "feature_names": list(feature_names),
            "feature_types": {
                n: "binary" if set(np.unique(c)) <= {0.0, 1.0} else "continuous"
                for n, c in columns.items()
            },
            "reference_samples": {n: [float(v) for v in c] for n, c in columns.items()},
            "quantile_levels": [float(q) for q in quantile_levels],
            "quantiles": {n: [float(v) for v in np.quantile(c, quantile_levels)]
                          for n, c in columns.items()},
            "mean": {n: float(c.mean()) for n, c in columns.items()},
            "std": {n: float(c.std()) for n, c in columns.items()},
            "feature_histograms": {n: Histogram.from_reference(c, n_buckets)
                                   for n, c in columns.items()},
            "n_reference": int(X.shape[0]),
        }

    def reference_matrix(self) -> np.ndarray:
        """The reference samples as an ``(n_reference, n_features)`` float64 array."""
        return np.column_stack([np.asarray(self.reference_samples[n], dtype=np.float64)
                                for n in self.feature_names])

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (histograms as ``{"edges", "counts"}`` mappings)."""
        return asdict(self)

    def to_json(self, indent: int | None = 1) -> str:
        """JSON text; floats are written with full precision, so the round trip is exact."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceProfile:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` naming a missing or extra key."""
        if not isinstance(data, dict):
            raise ValueError(f"profile must be a JSON object, got {type(data).__name__}")
        names = set(cls.__dataclass_fields__)
        required = {n for n, f in cls.__dataclass_fields__.items()
                    if f.default is MISSING and f.default_factory is MISSING}
        missing = sorted(required - set(data))
        if missing:
            raise ValueError(f"profile: missing key {missing[0]!r}")
        extra = sorted(set(data) - names)
        if extra:
            raise ValueError(f"profile: unknown key {extra[0]!r}")
        version = data.get("format_version", PROFILE_FORMAT_VERSION)
        if version not in SUPPORTED_FORMAT_VERSIONS:
            raise ValueError(f"profile: format_version {version!r} is not supported (this "
                             f"driftline reads {list(SUPPORTED_FORMAT_VERSIONS)})")
        values = dict(data)
        for key in ("feature_histograms", "prediction_histograms"):
            values[key] = {n: Histogram(list(h["edges"]), list(h["counts"]))
                           for n, h in data[key].items()}
        values["categorical"] = {n: CategoricalProfile(**c)
                                 for n, c in data.get("categorical", {}).items()}
        values["vectors"] = {n: VectorProfile(**v) for n, v in data.get("vectors", {}).items()}
        values["reducers"] = [ReducerProfile(**r) for r in data.get("reducers", [])]
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> ReferenceProfile:
        """Parse :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"profile: not valid JSON: {exc}") from None
        return cls.from_dict(data)


def data_sha256(features: np.ndarray, group: np.ndarray, risk: np.ndarray) -> str:
    """SHA-256 of the parsed training data (float64 features, int64 group, float64 risk)."""
    digest = hashlib.sha256()
    for array, dtype in ((features, np.float64), (group, np.int64), (risk, np.float64)):
        array = np.ascontiguousarray(array, dtype=dtype)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def runtime_versions() -> dict[str, str]:
    """Versions recorded in a profile."""
    import torch

    try:
        driftline_version = metadata.version("driftline")
    except metadata.PackageNotFoundError:
        driftline_version = "unknown"
    return {"driftline": driftline_version, "python": platform.python_version(),
            "numpy": np.__version__, "torch": torch.__version__}
