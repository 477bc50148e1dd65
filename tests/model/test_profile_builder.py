"""driftline profile's builder: the insurance schema + reference reproduce today's profile, the
statistics equal numpy/scipy on the same data, chunking does not change exact results, files
beyond the reservoir get exact counts and bounded samples, bad input is one line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftline.configs import ConfigError
from driftline.dataloader.insurance import DATA_DIR, FEATURE_NAMES, load_split
from driftline.dataloader.reference_reader import ReferenceDataError
from driftline.model.profile import Histogram, ReferenceProfile
from driftline.model.profile_builder import (
    ProfileError,
    ProfileOptions,
    _Accumulator,
    build_profile,
    file_sha256,
)

INSURANCE_SCHEMA = DATA_DIR / "schema.yaml"
INSURANCE_REFERENCE = DATA_DIR / "reference.csv.gz"

SCHEMA_YAML = """\
fields:
  - {name: x, type: numeric}
  - {name: y, type: numeric, optional: true, range: [-2, 2]}
  - {name: flag, type: boolean}
  - {name: color, type: categorical, optional: true, max_categories: 3}
  - {name: size, type: categorical, values: integer, categories: [1, 2, 3]}
outputs:
  classes: [a, b, c]
  prediction: {}
  score: {}
  label: {}
"""


def synthetic(n: int, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    y = rng.normal(0.0, 1.0, n)
    y[rng.random(n) < 0.2] = np.nan
    colors = rng.choice(["red", "green", "blue", "grey", "pink"], n, p=[.4, .3, .15, .1, .05])
    color: list[Any] = colors.tolist()
    for i in np.flatnonzero(rng.random(n) < 0.1):
        color[i] = None
    return {"x": rng.gamma(2.0, 3.0, n), "y": y, "flag": rng.random(n) < 0.3,
            "color": color, "size": rng.choice([1, 2, 3, 4], n, p=[.5, .3, .15, .05]),
            "prediction": rng.integers(0, 3, n), "score": rng.uniform(0, 1, n),
            "label": rng.integers(0, 3, n)}


def write_csv(path: Path, data: dict[str, Any]) -> Path:
    columns = list(data)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(",".join(columns) + "\n")
        for row in zip(*(data[c] for c in columns), strict=True):
            handle.write(",".join("" if v is None or (isinstance(v, float) and np.isnan(v))
                                  else str(v) for v in row) + "\n")
    return path


def write_parquet(path: Path, data: dict[str, Any]) -> Path:
    pq.write_table(pa.table({k: pa.array(list(v) if not isinstance(v, list) else v)
                             for k, v in data.items()}), path)
    return path


def write_jsonl(path: Path, data: dict[str, Any]) -> Path:
    columns = list(data)
    with open(path, "w", encoding="utf-8") as handle:
        for row in zip(*(data[c] for c in columns), strict=True):
            event = {}
            for column, value in zip(columns, row, strict=True):
                value = value.item() if hasattr(value, "item") else value
                if value is not None and not (isinstance(value, float) and np.isnan(value)):
                    event[column] = value
            handle.write(json.dumps(event) + "\n")
    return path


@pytest.fixture
def schema_path(tmp_path: Path) -> Path:
    path = tmp_path / "schema.yaml"
    path.write_text(SCHEMA_YAML)
    return path


def comparable(profile: ReferenceProfile) -> dict[str, Any]:
    out = profile.to_dict()
    for key in ("versions", "reference_data_sha256"):
        out.pop(key)
    return out


def test_insurance_schema_and_reference_reproduce_todays_profile() -> None:
    profile, report = build_profile(INSURANCE_SCHEMA, INSURANCE_REFERENCE,
                                    ProfileOptions(chunk_rows=100))
    reference = load_split("reference")
    today = ReferenceProfile.describe_features(reference.features, list(FEATURE_NAMES),
                                               list(profile.quantile_levels), 10)
    for key in ("feature_names", "feature_types", "reference_samples", "quantile_levels",
                "quantiles", "feature_histograms", "n_reference"):
        assert getattr(profile, key) == today[key], key
    for key in ("mean", "std"):
        for name in FEATURE_NAMES:
            assert getattr(profile, key)[name] == pytest.approx(today[key][name], rel=1e-13)
    counts = np.bincount(reference.group, minlength=3)
    assert profile.label_distribution == pytest.approx((counts / counts.sum()).tolist())
    assert profile.class_names == ["high", "medium", "low"]
    assert profile.baseline_error_rate is None and profile.class_distribution == []
    assert report.unknown_columns == ["training", "risk", "group_name"]
    assert profile.schema_sha256 == file_sha256(INSURANCE_SCHEMA)
    assert profile.reference_data_sha256 == file_sha256(INSURANCE_REFERENCE)
    assert ReferenceProfile.from_json(profile.to_json()) == profile


def test_statistics_equal_numpy_on_the_same_data(tmp_path: Path, schema_path: Path) -> None:
    data = synthetic(3000)
    profile, report = build_profile(schema_path, write_csv(tmp_path / "ref.csv", data))
    assert report.passes == 1 and profile.n_reference == 3000
    x, y = data["x"], data["y"][~np.isnan(data["y"])]
    levels = list(profile.quantile_levels)
    assert profile.quantiles["x"] == pytest.approx(np.quantile(x, levels).tolist(), rel=1e-12)
    assert profile.quantiles["y"] == pytest.approx(np.quantile(y, levels).tolist(), rel=1e-12)
    assert profile.mean["y"] == pytest.approx(y.mean(), rel=1e-12)
    assert profile.std["x"] == pytest.approx(x.std(), rel=1e-12)
    assert profile.feature_histograms["x"] == Histogram.from_reference(x, 10)
    assert profile.reference_samples["y"] == pytest.approx(y.tolist(), rel=1e-15)
    assert profile.feature_types == {"x": "continuous", "y": "continuous", "flag": "binary"}
    assert profile.mean["flag"] == pytest.approx(data["flag"].mean())
    assert profile.missing_rates == pytest.approx({
        "x": 0.0, "y": np.isnan(data["y"]).mean(), "flag": 0.0,
        "color": np.mean([c is None for c in data["color"]]), "size": 0.0})
    assert profile.out_of_range_rates["y"] == pytest.approx(np.mean(np.abs(y) > 2) * y.size
                                                            / 3000)
    colors = Counter(c for c in data["color"] if c is not None)
    color = profile.categorical["color"]
    assert list(zip(color.categories, color.counts, strict=True)) == colors.most_common(3)
    assert color.other_count == sum(c for _, c in colors.most_common()[3:])
    assert set(color.other_categories) == {"grey", "pink"} and color.complete
    assert color.missing_count == sum(c is None for c in data["color"])
    size = profile.categorical["size"]
    sizes = Counter(data["size"].tolist())
    assert size.categories == [1, 2, 3] and size.counts == [sizes[1], sizes[2], sizes[3]]
    assert size.unseen_count == sizes[4] and size.declared
    assert any("not among its declared categories" in w for w in report.warnings)
    predicted = np.bincount(data["prediction"], minlength=3) / 3000
    assert profile.class_distribution == pytest.approx(predicted.tolist())
    assert profile.baseline_error_rate == pytest.approx(np.mean(data["prediction"]
                                                                != data["label"]))
    assert profile.prediction_histograms["score"] == Histogram.from_reference(data["score"], 10)
    assert profile.prediction_histograms["label"].counts == np.bincount(
        data["prediction"], minlength=3).tolist()


@pytest.mark.parametrize("writer", [write_parquet, write_jsonl])
def test_formats_and_chunk_sizes_give_the_same_profile(tmp_path: Path, schema_path: Path,
                                                       writer: Any) -> None:
    data = synthetic(1000, seed=4)
    csv_profile, _ = build_profile(schema_path, write_csv(tmp_path / "ref.csv", data),
                                   ProfileOptions(chunk_rows=10**6))
    name = "ref.parquet" if writer is write_parquet else "ref.jsonl"
    other, _ = build_profile(schema_path, writer(tmp_path / name, data),
                             ProfileOptions(chunk_rows=37))
    want, got = comparable(csv_profile), comparable(other)
    for key in ("mean", "std"):
        assert got.pop(key) == pytest.approx(want.pop(key), rel=1e-12)
    assert got == want


def test_a_file_beyond_the_reservoir(tmp_path: Path) -> None:
    """200,000 rows, 20,000-row reservoir: bounded sample, exact moments, extremes, histogram
    counts (second pass) and missing rates; quantiles within the DKW band of the data."""
    schema = tmp_path / "schema.yaml"
    schema.write_text("fields:\n  - {name: v, type: numeric, optional: true}\n"
                      "  - {name: w, type: numeric}\n")
    rng = np.random.default_rng(5)
    n = 200_000
    data = {"v": rng.lognormal(0.0, 1.0, n), "w": rng.integers(0, 50, n).astype(float)}
    data["v"][rng.random(n) < 0.05] = np.nan
    path = write_csv(tmp_path / "big.csv", data)
    options = ProfileOptions(sample_size=5000, quantile_sample_size=20_000, chunk_rows=8192)
    seen: list[tuple[str, int | None]] = []
    profile, report = build_profile(schema, path, options, lambda s, r: seen.append((s, r)))
    v = data["v"][~np.isnan(data["v"])]
    assert report.passes == 2 and profile.n_reference == n
    assert {s for s, _ in seen} == {"reading", "counting histogram buckets", "hashing"}
    assert max(r or 0 for s, r in seen if s == "reading") == n
    assert len(profile.reference_samples["w"]) == 5000
    assert len(profile.reference_samples["v"]) == pytest.approx(5000 * 0.95, rel=0.05)
    assert np.all(np.isin(profile.reference_samples["w"], data["w"]))
    assert profile.mean["v"] == pytest.approx(v.mean(), rel=1e-12)
    assert profile.std["w"] == pytest.approx(data["w"].std(), rel=1e-12)
    assert profile.quantiles["v"][0] == v.min() and profile.quantiles["v"][-1] == v.max()
    band = np.sqrt(np.log(2 / 1e-4) / (2 * 19_000))
    for level, q in zip(profile.quantile_levels[1:-1], profile.quantiles["v"][1:-1],
                        strict=True):
        assert abs(np.mean(v <= q) - level) < band + 1e-3
    for name, column in (("v", v), ("w", data["w"])):
        histogram = profile.feature_histograms[name]
        assert histogram.counts == Histogram(histogram.edges, []).count(column)
        assert sum(histogram.counts) == column.size
    assert profile.missing_rates["v"] == pytest.approx(1 - v.size / n)


def test_memory_is_bounded_by_the_reservoir(tmp_path: Path, schema_path: Path) -> None:
    """The accumulator keeps at most max(sample_size, quantile_sample_size) rows, however long
    the file, and at most max_tracked_categories category values per field."""
    data = synthetic(30_000, seed=6)
    data["color"] = [f"c{i}" for i in range(30_000)]  # all distinct
    path = write_csv(tmp_path / "ref.csv", data)
    options = ProfileOptions(sample_size=500, quantile_sample_size=2000,
                             max_tracked_categories=100, chunk_rows=1000)
    from driftline.dataloader.reference_reader import ReferenceReader
    from driftline.dataloader.schema import load_schema

    schema = load_schema(schema_path)
    accumulator = _Accumulator(schema, options)
    for chunk in ReferenceReader(path, schema, chunk_rows=1000).chunks():
        accumulator.add(chunk)
        assert accumulator.reservoir.values.shape[0] <= 2000
        assert len(accumulator.categories["color"].counts) <= 100
    assert accumulator.reservoir.values.shape == (2000, 4)  # x, y, flag, score
    profile, report = build_profile(schema_path, path, options)
    assert not profile.categorical["color"].complete
    assert any("more than 100 distinct values" in w for w in report.warnings)


def test_no_rows(tmp_path: Path, schema_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(",".join(synthetic(1)) + "\n")
    with pytest.raises(ProfileError, match=r"empty\.csv: no data rows"):
        build_profile(schema_path, path)


def test_unknown_columns_warn_by_default_and_can_be_errors(tmp_path: Path,
                                                           schema_path: Path) -> None:
    path = write_csv(tmp_path / "ref.csv", {**synthetic(50), "note": ["n"] * 50})
    _, report = build_profile(schema_path, path)
    assert report.warnings[0].endswith("ignoring columns not in the schema: note")
    with pytest.raises(ProfileError, match=r"columns not in the schema: \['note'\]"):
        build_profile(schema_path, path, ProfileOptions(unknown_columns="error"))
    _, quiet = build_profile(schema_path, path, ProfileOptions(unknown_columns="ignore"))
    assert not any("ignoring" in w for w in quiet.warnings)


def test_a_field_without_any_value(tmp_path: Path, schema_path: Path) -> None:
    data = synthetic(20)
    data["y"] = np.full(20, np.nan)
    with pytest.raises(ProfileError, match="field 'y' has no value in any of the 20 rows"):
        build_profile(schema_path, write_csv(tmp_path / "ref.csv", data))


def test_schema_and_data_errors_keep_their_types(tmp_path: Path, schema_path: Path) -> None:
    bad_schema = tmp_path / "bad.yaml"
    bad_schema.write_text("fields: [{name: x, type: numeric, rang: [0, 1]}]\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: fields\[0\]\.rang: unknown key"):
        build_profile(bad_schema, INSURANCE_REFERENCE)
    with pytest.raises(ReferenceDataError, match="unknown reference file type"):
        build_profile(schema_path, tmp_path / "ref.xlsx")


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="sample_size"):
        ProfileOptions(sample_size=0)
    with pytest.raises(ValueError, match="quantile_levels"):
        ProfileOptions(quantile_levels=(0.5, 0.1))
    with pytest.raises(ValueError, match="unknown_columns"):
        ProfileOptions(unknown_columns="drop")
