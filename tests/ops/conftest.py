"""Shared helpers of the ops tests: binaries, paths, names exported by the executor."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from executor.exporter import DriftExporter
from model.profile import Histogram, ReferenceProfile

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
METRIC_NAME = re.compile(r"\b(driftline[_:][a-zA-Z0-9_:]*)")


FEATURES = ["age", "emergency_braking", "braking_distance", "power", "miles"]


def synthetic_profile(seed: int = 0, n: int = 1500) -> ReferenceProfile:
    """A reference profile built by :meth:`ReferenceProfile.describe_features` from synthetic
    rows (the trained artifacts are not in the repository)."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([
        rng.normal(40.0, 10.0, n), rng.integers(0, 2, n).astype(float),
        rng.gamma(4.0, 10.0, n), rng.normal(100.0, 20.0, n), rng.exponential(1e4, n)])
    confidence = rng.uniform(0.4, 1.0, n)
    label = rng.integers(0, 3, n).astype(float)
    return ReferenceProfile(
        **ReferenceProfile.describe_features(X, FEATURES, [0.1, 0.5, 0.9], n_buckets=10),
        class_names=["low", "medium", "high"],
        prediction_histograms={"label": Histogram.from_reference(label, 10),
                               "confidence": Histogram.from_reference(confidence, 10)},
        class_distribution=[float(np.mean(label == k)) for k in range(3)],
        baseline_error_rate=0.2, baseline_model_error_rate=0.22, baseline_fallback_rate=0.05,
        training_data_sha256="0" * 64, model_sha256="ab" * 32, versions={"driftline": "0.1.0"})


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (run ops/scripts/install-prometheus.sh)")
    return path


@pytest.fixture(scope="session")
def exported_names() -> set[str]:
    """Every sample name a fully used exporter produces, plus the recording rule names."""
    profile = synthetic_profile()
    exporter = DriftExporter(profile)
    exporter.observe_detector("ks", "inputs", "age", {
        "statistic": 0.1, "threshold": 0.2, "p_value": 0.5, "n_seen": 3, "error_rate": 0.1})
    exporter.set_consumer_lag("events", 0, 1)
    exporter.observe_batch_latency(0.1)
    exporter.observe_features(np.zeros((1, len(profile.feature_names))))
    text = exporter.generate().decode()
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    recording = yaml.safe_load((OPS / "prometheus" / "rules" / "recording.yml").read_text())
    names |= {r["record"] for g in recording["groups"] for r in g["rules"]}
    return names


def metric_names_in(expr: str) -> set[str]:
    """driftline_* / driftline:* names referenced by a PromQL expression."""
    return set(METRIC_NAME.findall(expr))
