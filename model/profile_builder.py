"""``driftline profile``'s engine: a reference profile from a schema and a reference data file.

One streaming pass over the file (:class:`dataloader.reference_reader.ReferenceReader`) feeds
exact per-field counts (rows, missing values, declared-range violations, category counts up to
``max_tracked_categories`` distinct values), exact moments and min/max
(:class:`~model.profile_stats.Moments`), and a uniform row reservoir of
``max(sample_size, quantile_sample_size)`` rows (:class:`~model.profile_stats.RowReservoir`).
Vector and image fields get their own uniform reservoir of ``vector_sample_size`` rows (float32,
one row of every such field per reference row), written beside the profile
(:func:`model.profile_vectors.vector_files`; :attr:`BuildReport.files`).
While the file fits in the reservoir every statistic is exact and equal to
:meth:`ReferenceProfile.describe_features` on the whole file. Beyond that, quantiles and
histogram bucket edges come from the reservoir (levels 0 and 1 stay the exact min and max), a
second pass counts the histogram buckets exactly, and ``reference_samples`` is a uniform
sample of ``sample_size`` rows in file order. Memory is bounded by the chunk and the reservoir.

Example
-------
>>> from driftline.dataloader.insurance import DATA_DIR
>>> profile, report = build_profile(DATA_DIR / "schema.yaml", DATA_DIR / "reference.csv.gz")
>>> profile.n_reference, profile.feature_names[:2], report.unknown_columns
(1500, ['age', 'emergency_braking'], ['training', 'risk', 'group_name'])
>>> [round(p, 3) for p in profile.label_distribution], report.passes
([0.387, 0.325, 0.288], 1)
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from driftline.dataloader.reference_reader import ReferenceChunk, ReferenceReader
from driftline.dataloader.schema import (
    ARRAY_FIELD_TYPES,
    CategoricalField,
    EventSchema,
    NumericField,
    load_schema,
)
from driftline.model.profile import (
    CategoricalProfile,
    Histogram,
    ReferenceProfile,
)
from driftline.model.profile_stats import CategoryCounter, Moments, RowReservoir
from driftline.model.profile_vectors import vector_files

__all__ = ["DEFAULT_QUANTILE_LEVELS", "BuildReport", "ProfileError", "ProfileOptions",
           "build_profile", "file_sha256"]

DEFAULT_QUANTILE_LEVELS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)


class ProfileError(ValueError):
    """The reference data cannot be profiled (one line naming the file and the field)."""


@dataclass
class ProfileOptions:
    """Knobs of :func:`build_profile` (``driftline profile`` options of the same names)."""

    sample_size: int = 10_000
    quantile_sample_size: int = 100_000
    vector_sample_size: int = 10_000
    histogram_buckets: int = 10
    quantile_levels: tuple[float, ...] = DEFAULT_QUANTILE_LEVELS
    max_tracked_categories: int = 10_000
    chunk_rows: int = 65_536
    delimiter: str | None = None
    unknown_columns: str = "warn"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("sample_size", "quantile_sample_size", "vector_sample_size",
                     "max_tracked_categories", "chunk_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 2 <= self.histogram_buckets <= 100:
            raise ValueError(f"histogram_buckets must be in [2, 100], got "
                             f"{self.histogram_buckets}")
        levels = list(self.quantile_levels)
        if not levels or any(not 0.0 <= q <= 1.0 for q in levels) or levels != sorted(
                set(levels)):
            raise ValueError(f"quantile_levels must be increasing values in [0, 1], got {levels}")
        if self.unknown_columns not in ("warn", "error", "ignore"):
            raise ValueError(f"unknown_columns must be warn, error or ignore, got "
                             f"{self.unknown_columns!r}")


@dataclass
class BuildReport:
    """What happened: warnings (one line each), unknown columns, passes, timings; and the
    ``files`` to write beside the profile (name -> bytes; their hashes are in the profile)."""

    warnings: list[str] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    n_rows: int = 0
    passes: int = 1
    seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for package in ("driftline", "pyarrow"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


class _Accumulator:
    """Everything the passes over the file collect."""

    def __init__(self, schema: EventSchema, options: ProfileOptions) -> None:
        self.schema = schema
        self.options = options
        self.numeric = [f for f in schema.fields
                        if not isinstance(f, (CategoricalField, *ARRAY_FIELD_TYPES))]
        self.columns = [f.name for f in self.numeric]
        if schema.outputs.score is not None:
            self.columns.append("\0score")
        self.moments = Moments(len(self.columns))
        self.reservoir = RowReservoir(max(options.sample_size, options.quantile_sample_size),
                                      len(self.columns), options.seed)
        self.categories = {f.name: CategoryCounter(options.max_tracked_categories)
                           for f in schema.fields if isinstance(f, CategoricalField)}
        self.arrays = schema.array_fields
        self.vectors = RowReservoir(options.vector_sample_size,
                                    sum(f.size for f in self.arrays), options.seed,
                                    dtype=np.float32)
        self.array_missing = {f.name: 0 for f in self.arrays}
        self.out_of_range = {f.name: 0 for f in self.numeric
                             if isinstance(f, NumericField) and f.range is not None}
        n_classes = len(schema.outputs.classes or ())
        self.predicted = np.zeros(n_classes, dtype=np.int64)
        self.labelled = np.zeros(n_classes, dtype=np.int64)
        self.n_both = self.n_errors = 0
        self.n_rows = 0

    def add(self, chunk: ReferenceChunk) -> None:
        columns = [chunk.score if name == "\0score" else chunk.numeric[name]
                   for name in self.columns]
        matrix = np.column_stack(columns) if columns else np.empty((chunk.n_rows, 0))
        self.moments.add(matrix)
        self.reservoir.add(matrix)
        for spec in self.numeric:
            if spec.name in self.out_of_range:
                values = chunk.numeric[spec.name]
                low, high = spec.range  # type: ignore[union-attr]
                self.out_of_range[spec.name] += int(np.count_nonzero((values < low)
                                                                     | (values > high)))
        for name, counter in self.categories.items():
            counter.add(*chunk.categories[name])
        if self.arrays:
            blocks = [chunk.vectors[f.name] for f in self.arrays]
            self.vectors.add(np.concatenate(blocks, axis=1))
            for spec, block in zip(self.arrays, blocks, strict=True):
                self.array_missing[spec.name] += int(np.isnan(block[:, 0]).sum())
        k = self.predicted.size
        prediction, label = chunk.prediction, chunk.label
        if prediction is not None:
            self.predicted += np.bincount(prediction[prediction >= 0], minlength=k)
        if label is not None:
            self.labelled += np.bincount(label[label >= 0], minlength=k)
        if prediction is not None and label is not None:
            both = (prediction >= 0) & (label >= 0)
            self.n_both += int(both.sum())
            self.n_errors += int(np.count_nonzero(prediction[both] != label[both]))
        self.n_rows += chunk.n_rows


def build_profile(schema_path: str | Path, reference_path: str | Path,
                  options: ProfileOptions | None = None,
                  progress: Callable[[str, int | None], None] | None = None,
                  ) -> tuple[ReferenceProfile, BuildReport]:
    """The reference profile of ``reference_path`` under the schema at ``schema_path``.

    ``progress(stage, rows)`` is called at the start of each stage (``rows=None``) and after
    each chunk with the rows read so far. Raises :class:`configs.ConfigError` (schema),
    :class:`ReferenceDataError` or :class:`ProfileError` (data), each one line.
    """
    options = options or ProfileOptions()
    report = BuildReport()
    tell = progress or (lambda stage, rows: None)
    schema = load_schema(schema_path)
    reader = ReferenceReader(reference_path, schema, chunk_rows=options.chunk_rows,
                             delimiter=options.delimiter)
    report.unknown_columns = list(reader.unknown_columns)
    if reader.unknown_columns and options.unknown_columns == "error":
        raise ProfileError(f"{reference_path}: columns not in the schema: "
                           f"{reader.unknown_columns} (use --unknown-columns warn to ignore them)")
    if reader.unknown_columns and options.unknown_columns == "warn":
        report.warnings.append(f"{reference_path}: ignoring columns not in the schema: "
                               f"{', '.join(reader.unknown_columns)}")
    started = time.perf_counter()
    tell("reading", None)
    acc = _Accumulator(schema, options)
    for chunk in reader.chunks():
        acc.add(chunk)
        tell("reading", acc.n_rows)
    report.seconds["read"] = time.perf_counter() - started
    if acc.n_rows == 0:
        raise ProfileError(f"{reference_path}: no data rows")
    report.n_rows = acc.n_rows
    histograms = _histograms(acc, reader, report, tell)
    started = time.perf_counter()
    tell("hashing", None)
    hashes = file_sha256(reference_path), file_sha256(schema_path)
    report.seconds["hash"] = time.perf_counter() - started
    profile = _assemble(acc, histograms, hashes, reference_path, report)
    if acc.arrays:
        profile.vectors, report.files = vector_files(acc.arrays, acc.vectors.sample(),
                                                     acc.array_missing, acc.n_rows)
        for spec in acc.arrays:
            profile.missing_rates[spec.name] = acc.array_missing[spec.name] / acc.n_rows
            if profile.vectors[spec.name].n_values == 0:
                raise ProfileError(f"{reference_path}: field {spec.name!r} has no value in any "
                                   f"of the {acc.n_rows} rows")
    return profile, report


def _histograms(acc: _Accumulator, reader: ReferenceReader, report: BuildReport,
                tell: Callable[[str, int | None], None]) -> dict[str, Histogram]:
    """Per numeric column: exact from the reservoir if it holds every row, else edges from the
    reservoir and counts from a second pass."""
    n_buckets = acc.options.histogram_buckets
    sample = acc.reservoir.sample()
    histograms = {}
    for j, name in enumerate(acc.columns):
        column = sample[:, j]
        column = column[~np.isnan(column)]
        if column.size == 0:
            what = "outputs.score" if name == "\0score" else f"field {name!r}"
            raise ProfileError(f"{reader.path}: {what} has no value in any of the "
                               f"{acc.n_rows} rows")
        histograms[name] = Histogram.from_reference(column, n_buckets)
    if acc.reservoir.complete or not acc.columns:
        return histograms
    started = time.perf_counter()
    tell("counting histogram buckets", None)
    report.passes = 2
    counts = {name: np.zeros(len(h.edges) + 1, dtype=np.int64) for name, h in histograms.items()}
    n_read = 0
    for chunk in reader.chunks():
        for name, histogram in histograms.items():
            values = chunk.score if name == "\0score" else chunk.numeric[name]
            counts[name] += histogram.count(values[~np.isnan(values)])
        n_read += chunk.n_rows
        tell("counting histogram buckets", n_read)
    report.seconds["histograms"] = time.perf_counter() - started
    return {name: Histogram(h.edges, [int(c) for c in counts[name]])
            for name, h in histograms.items()}


def _assemble(acc: _Accumulator, histograms: dict[str, Histogram], hashes: tuple[str, str],
              reference_path: str | Path, report: BuildReport) -> ReferenceProfile:
    options, schema, n = acc.options, acc.schema, acc.n_rows
    levels = list(options.quantile_levels)
    full = acc.reservoir.sample()
    saved = acc.reservoir.sample(options.sample_size, seed=options.seed)
    std = acc.moments.std()
    samples, quantiles, mean, std_of, types = {}, {}, {}, {}, {}
    for j, spec in enumerate(acc.numeric):
        column = full[:, j][~np.isnan(full[:, j])]
        q = np.quantile(column, levels)
        if not acc.reservoir.complete:  # the extremes are known exactly
            q[np.asarray(levels) == 0.0] = acc.moments.min[j]
            q[np.asarray(levels) == 1.0] = acc.moments.max[j]
        quantiles[spec.name] = [float(v) for v in q]
        kept = saved[:, j]
        samples[spec.name] = [float(v) for v in kept[~np.isnan(kept)]]
        mean[spec.name], std_of[spec.name] = float(acc.moments.mean[j]), float(std[j])
        types[spec.name] = "binary" if acc.moments.binary[j] else "continuous"
    missing = {spec.name: int(acc.moments.n_missing[j]) for j, spec in enumerate(acc.numeric)}
    missing.update({name: c.n_missing for name, c in acc.categories.items()})
    categorical = {}
    for spec in schema.fields:
        if isinstance(spec, CategoricalField):
            categorical[spec.name] = _categorical(spec, acc.categories[spec.name], report,
                                                  reference_path)
    for name, count in acc.out_of_range.items():
        if count:
            report.warnings.append(f"{reference_path}: field {name!r}: {count} reference "
                                   f"values ({count / n:.2%}) are outside its declared range")
    classes = list(schema.outputs.classes or ())
    prediction_histograms = {}
    if schema.outputs.prediction is not None:
        prediction_histograms["label"] = Histogram([float(c) for c in range(len(classes) - 1)],
                                                   [int(c) for c in acc.predicted])
    if "\0score" in histograms:
        prediction_histograms["score"] = histograms.pop("\0score")
    error_rate = acc.n_errors / acc.n_both if acc.n_both else None
    predicted, labelled = acc.predicted.sum(), acc.labelled.sum()
    return ReferenceProfile(
        feature_names=[spec.name for spec in acc.numeric], feature_types=types,
        class_names=classes, reference_samples=samples, quantile_levels=levels,
        quantiles=quantiles, mean=mean, std=std_of, feature_histograms=histograms,
        prediction_histograms=prediction_histograms,
        class_distribution=[float(c / predicted) for c in acc.predicted] if predicted else [],
        baseline_error_rate=error_rate, baseline_model_error_rate=error_rate,
        baseline_fallback_rate=0.0, n_reference=n, training_data_sha256="", model_sha256="",
        versions=_versions(), categorical=categorical,
        missing_rates={name: missing[name] / n for name in schema.field_names
                       if name in missing},
        out_of_range_rates={name: count / n for name, count in acc.out_of_range.items()},
        label_distribution=[float(c / labelled) for c in acc.labelled] if labelled else [],
        reference_data_sha256=hashes[0], schema_sha256=hashes[1])


def _categorical(spec: CategoricalField, counter: CategoryCounter, report: BuildReport,
                 reference_path: str | Path) -> CategoricalProfile:
    if not counter.exact:
        report.warnings.append(f"{reference_path}: field {spec.name!r} has more than "
                               f"{counter.max_tracked} distinct values; its category counts are "
                               "approximate and unseen categories cannot be told from rare ones")
    if spec.categories is not None:
        counts = [counter.counts.get(c, 0) for c in spec.categories]
        unseen = counter.n_values - sum(counts)
        if unseen:
            report.warnings.append(f"{reference_path}: field {spec.name!r}: {unseen} reference "
                                   "values are not among its declared categories")
        return CategoricalProfile(list(spec.categories), counts, unseen_count=unseen,
                                  missing_count=counter.n_missing, complete=counter.exact,
                                  declared=True)
    ranked = counter.most_common()
    top = ranked[:spec.max_categories]
    return CategoricalProfile(
        [value for value, _ in top], [count for _, count in top],
        other_count=counter.n_values - sum(count for _, count in top),
        other_categories=[value for value, _ in ranked[spec.max_categories:]]
        if counter.exact else [],
        missing_count=counter.n_missing, complete=counter.exact)
