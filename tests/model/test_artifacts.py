"""Saved model and reference profile: contents, JSON round trip, mismatch detection, predict."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from driftline.dataloader.insurance import FEATURE_NAMES, load_split
from driftline.model.artifacts import MODEL_FILE, PROFILE_FILE, ArtifactError, load_artifacts
from driftline.model.metrics import accuracy
from driftline.model.network import state_dict_sha256
from driftline.model.profile import Histogram, ReferenceProfile, data_sha256, round_edges
from driftline.model.train import TrainResult


def test_profile_json_round_trip_is_exact(artifacts_dir: Path) -> None:
    text = (artifacts_dir / PROFILE_FILE).read_text()
    profile = ReferenceProfile.from_json(text)
    assert isinstance(profile.feature_histograms["age"], Histogram)
    again = ReferenceProfile.from_json(profile.to_json())
    assert again == profile
    assert json.loads(again.to_json()) == json.loads(text)


def test_profile_describes_the_reference_split(artifacts_dir: Path) -> None:
    profile = load_artifacts(artifacts_dir).profile
    reference = load_split("reference")
    train = load_split("train")
    assert profile.feature_names == list(FEATURE_NAMES)
    assert profile.feature_types["emergency_braking"] == "binary"
    assert profile.feature_types["miles"] == "continuous"
    assert profile.n_reference == 1500
    np.testing.assert_array_equal(profile.reference_matrix(), reference.features)
    for i, name in enumerate(FEATURE_NAMES):
        column = reference.features[:, i]
        assert profile.mean[name] == pytest.approx(column.mean(), rel=1e-12)
        assert profile.std[name] == pytest.approx(column.std(), rel=1e-12)
        np.testing.assert_allclose(profile.quantiles[name],
                                   np.quantile(column, profile.quantile_levels))
        histogram = profile.feature_histograms[name]
        assert sum(histogram.counts) == 1500
        assert len(histogram.counts) == len(histogram.edges) + 1
        edges = [-np.inf, *histogram.edges, np.inf]
        manual = [int(np.sum((column > lo) & (column <= hi)))
                  for lo, hi in itertools.pairwise(edges)]
        assert histogram.counts == manual
    assert profile.feature_histograms["emergency_braking"].edges == [0.0]
    assert profile.training_data_sha256 == data_sha256(train.features, train.group, train.risk)
    assert set(profile.versions) >= {"torch", "numpy", "python", "driftline"}


def test_profile_prediction_statistics_match_the_served_model(artifacts_dir: Path) -> None:
    model = load_artifacts(artifacts_dir)
    profile = model.profile
    reference = load_split("reference")
    served = model.predict(reference.features)
    assert profile.baseline_error_rate == pytest.approx(
        1 - accuracy(reference.group, served.labels))
    assert profile.baseline_model_error_rate == pytest.approx(
        1 - accuracy(reference.group, served.model_labels))
    assert profile.baseline_fallback_rate == pytest.approx(served.used_fallback.mean())
    np.testing.assert_allclose(profile.class_distribution,
                               np.bincount(served.labels, minlength=3) / 1500)
    assert profile.prediction_histograms["label"].counts == np.bincount(
        served.labels, minlength=3).tolist()
    confidence = profile.prediction_histograms["confidence"]
    assert confidence.count(served.confidence) == confidence.counts
    assert "risk" in profile.prediction_histograms
    assert 0.15 < profile.baseline_error_rate < 0.4


def test_model_file_loads_with_weights_only(artifacts_dir: Path,
                                            trained: tuple[TrainResult, Path]) -> None:
    payload = torch.load(artifacts_dir / MODEL_FILE, weights_only=True)
    assert payload["feature_names"] == list(FEATURE_NAMES)
    assert payload["model_sha256"] == state_dict_sha256(payload["state_dict"])
    assert payload["model_sha256"] == trained[0].profile.model_sha256
    np.testing.assert_allclose(payload["state_dict"]["feature_mean"].numpy(),
                               load_split("train").features.mean(axis=0))


def _copy(artifacts_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(artifacts_dir, target)
    return target


def _edit_profile(directory: Path, **changes: object) -> None:
    path = directory / PROFILE_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_load_rejects_a_profile_of_other_weights(artifacts_dir: Path, tmp_path: Path) -> None:
    directory = _copy(artifacts_dir, tmp_path)
    _edit_profile(directory, model_sha256="0" * 64)
    with pytest.raises(ArtifactError, match=r"profile was built for model weights 000000000000"):
        load_artifacts(directory)


def test_load_rejects_other_feature_names(artifacts_dir: Path, tmp_path: Path) -> None:
    directory = _copy(artifacts_dir, tmp_path)
    _edit_profile(directory, feature_names=["age", "power", "braking_distance",
                                            "emergency_braking", "miles"])
    with pytest.raises(ArtifactError, match=r"feature_names .* differ from the model's"):
        load_artifacts(directory)


def test_load_rejects_tampered_weights(artifacts_dir: Path, tmp_path: Path) -> None:
    directory = _copy(artifacts_dir, tmp_path)
    payload = torch.load(directory / MODEL_FILE, weights_only=True)
    payload["state_dict"]["class_head.bias"] += 0.5
    torch.save(payload, directory / MODEL_FILE)
    with pytest.raises(ArtifactError, match="differs from the recorded"):
        load_artifacts(directory)


def test_load_reports_missing_and_broken_files(artifacts_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"model\.pt: not found"):
        load_artifacts(tmp_path / "nowhere")
    directory = _copy(artifacts_dir, tmp_path)
    (directory / PROFILE_FILE).write_text("{not json")
    with pytest.raises(ArtifactError, match="cannot read profile: profile: not valid JSON"):
        load_artifacts(directory)
    _copy_profile = json.loads((artifacts_dir / PROFILE_FILE).read_text())
    del _copy_profile["mean"]
    (directory / PROFILE_FILE).write_text(json.dumps(_copy_profile))
    with pytest.raises(ArtifactError, match="missing key 'mean'"):
        load_artifacts(directory)
    (directory / MODEL_FILE).write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match="cannot load model"):
        load_artifacts(directory)


def test_predict_outputs_are_consistent_and_batching_invariant(artifacts_dir: Path) -> None:
    model = load_artifacts(artifacts_dir)
    X = load_split("test").features
    served = model.predict(X)
    n = X.shape[0]
    assert served.labels.shape == served.confidence.shape == served.used_fallback.shape == (n,)
    assert served.probabilities.shape == (n, 3)
    assert served.labels.dtype == np.int64 and served.used_fallback.dtype == bool
    np.testing.assert_allclose(served.probabilities.sum(axis=1), 1.0)
    np.testing.assert_array_equal(served.labels, served.probabilities.argmax(axis=1))
    np.testing.assert_array_equal(served.confidence, served.probabilities.max(axis=1))
    assert served.risk is not None and served.risk.shape == (n,)
    # Risk is regressed on the real scale: it must track the true risk.
    assert np.corrcoef(served.risk, load_split("test").risk)[0, 1] > 0.6
    model.batch_size = 7
    small = model.predict(X)
    np.testing.assert_allclose(small.probabilities, served.probabilities, rtol=1e-12)
    np.testing.assert_array_equal(small.used_fallback, served.used_fallback)
    empty = model.predict(np.empty((0, 5)))
    assert empty.labels.shape == (0,) and empty.probabilities.shape == (0, 3)


def test_predict_rejects_bad_input(artifacts_dir: Path) -> None:
    model = load_artifacts(artifacts_dir)
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        model.predict(np.zeros((3, 4)))
    X = np.ones((3, 5))
    X[2, 4] = np.nan
    with pytest.raises(ValueError, match=r"X\[2, 4\] \('miles'\) is not finite"):
        model.predict(X)


def test_histogram_of_ties_and_profile_key_checks() -> None:
    split = Histogram.from_reference(np.array([1.0] * 50 + [2.0] * 30 + [3.0] * 20), 2)
    assert (split.edges, split.counts) == ([1.5], [50, 50])
    # Both tertiles are 0: the tied edges merge into one bucket boundary.
    tied = Histogram.from_reference(np.array([0.0] * 70 + [1.0, 2.0, 3.0] * 10), 3)
    assert (tied.edges, tied.counts) == ([0.0], [70, 30])
    few = Histogram.from_reference(np.array([1.0] * 80 + [2.0] * 20), 4)
    assert (few.edges, few.counts) == ([1.0], [80, 20])
    data = {f.name: None for f in dataclasses.fields(ReferenceProfile)}
    data["surprise"] = 1
    with pytest.raises(ValueError, match="unknown key 'surprise'"):
        ReferenceProfile.from_dict(data)


def test_quantile_edges_are_rounded_to_three_significant_digits() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(40.0, 10.0, 5000)
    histogram = Histogram.from_reference(values, 10)
    exact = np.unique(np.quantile(values, np.linspace(0.0, 1.0, 11)[1:-1]))
    assert len(histogram.edges) == len(exact) == 9
    for edge, q in zip(histogram.edges, exact, strict=True):
        assert edge == float(f"{q:.3g}") and edge != q
    assert histogram.counts == histogram.count(values)  # counted with the rounded edges
    # A retrain on data whose quantiles move below the rounding grain mints no new label.
    assert Histogram.from_reference(values + 1e-6, 10).edges == histogram.edges
    # More digits where three would merge edges; categorical values stay exact.
    assert round_edges([0.12341, 0.12349, 7.0]) == [0.1234, 0.1235, 7.0]
    assert round_edges([-0.0004, 0.5, 2.0 / 3.0]) == [-0.0004, 0.5, 0.667]
    assert Histogram.from_reference(np.array([0.123456, 0.987654] * 10), 4).edges == [0.123456]
    with pytest.raises(ValueError, match="strictly increasing"):
        round_edges([1.0, 1.0])
