"""Profile format: versions 2 and 3 round-trip their new parts exactly; version 1 files (written
before driftline profile existed) and version 2 files (before vector fields) still load, with empty
new parts; unknown versions are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.dataloader.insurance import DATA_DIR
from driftline.model.profile import (
    PROFILE_FORMAT_VERSION,
    CategoricalProfile,
    Histogram,
    ReducerProfile,
    ReferenceProfile,
    VectorProfile,
)
from driftline.model.profile_builder import build_profile

V1_KEYS = ("feature_names", "feature_types", "class_names", "reference_samples",
           "quantile_levels", "quantiles", "mean", "std", "feature_histograms",
           "prediction_histograms", "class_distribution", "baseline_error_rate",
           "baseline_model_error_rate", "baseline_fallback_rate", "n_reference",
           "training_data_sha256", "model_sha256", "versions", "format_version")


def version_1() -> dict[str, object]:
    X = np.random.default_rng(0).normal(size=(50, 2))
    profile = ReferenceProfile(
        **ReferenceProfile.describe_features(X, ["a", "b"], [0.5], n_buckets=4),
        class_names=["x", "y"], prediction_histograms={"label": Histogram([0.0], [20, 30])},
        class_distribution=[0.4, 0.6], baseline_error_rate=0.1, baseline_model_error_rate=0.1,
        baseline_fallback_rate=0.0, training_data_sha256="0" * 64, model_sha256="1" * 64)
    data = {k: v for k, v in json.loads(profile.to_json()).items() if k in V1_KEYS}
    data["format_version"] = 1
    return data


def test_version_1_files_still_load() -> None:
    profile = ReferenceProfile.from_dict(version_1())
    assert profile.format_version == 1 and profile.categorical == {}
    assert profile.missing_rates == {} and profile.schema_sha256 == ""
    assert profile.reference_matrix().shape == (50, 2)


def test_unknown_version_is_refused() -> None:
    data = version_1()
    data["format_version"] = PROFILE_FORMAT_VERSION + 1
    with pytest.raises(ValueError, match="format_version 4 is not supported"):
        ReferenceProfile.from_dict(data)


def test_version_2_files_still_load() -> None:
    profile, _ = build_profile(DATA_DIR / "schema.yaml", DATA_DIR / "reference.csv.gz")
    data = json.loads(profile.to_json())
    for key in ("vectors", "reducers"):
        del data[key]
    data["format_version"] = 2
    again = ReferenceProfile.from_dict(data)
    assert again.vectors == {} and again.reducers == [] and again.files() == {}


def test_version_3_round_trips_vectors_and_reducers() -> None:
    profile, _ = build_profile(DATA_DIR / "schema.yaml", DATA_DIR / "reference.csv.gz")
    profile.vectors["pixels"] = VectorProfile([8, 8], 90, 10, 100, "reference_vectors_0.npy",
                                              "a" * 64)
    profile.reducers.append(ReducerProfile("pca", "pca", "pixels", ["pca_0", "pca_1"],
                                           {"explained_variance": 0.5}, "reducer_pca.npz",
                                           "b" * 64))
    again = ReferenceProfile.from_json(profile.to_json())
    assert again == profile and again.format_version == 3
    assert again.reducers[0].n_components == 2
    assert again.files() == {"reference_vectors_0.npy": "a" * 64, "reducer_pca.npz": "b" * 64}


def test_version_2_round_trips_categories_and_missing_baselines() -> None:
    profile, _ = build_profile(DATA_DIR / "schema.yaml", DATA_DIR / "reference.csv.gz")
    profile.categorical["plan"] = CategoricalProfile([2, 1], [30, 10], other_count=5,
                                                     other_categories=[7], missing_count=3)
    again = ReferenceProfile.from_json(profile.to_json())
    assert again == profile and again.format_version == PROFILE_FORMAT_VERSION
    assert isinstance(again.categorical["plan"], CategoricalProfile)
    assert again.baseline_error_rate is None


def test_categorical_vocabulary_and_frequencies() -> None:
    entry = CategoricalProfile(["a", "b"], [6, 2], other_count=2, other_categories=["c"])
    vocabulary = entry.vocabulary()
    assert [vocabulary.code(v) for v in ("a", "c", "zz")] == [(0, False), (2, False),
                                                               (3, True)]
    assert entry.frequencies() == [0.6, 0.2, 0.2]
    partial = CategoricalProfile(["a"], [5], other_count=5, complete=False)
    assert partial.vocabulary().code("never") == (1, False)  # cannot tell unseen from rare
