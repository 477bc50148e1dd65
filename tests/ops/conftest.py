"""Shared helpers of the ops tests: binaries, paths, what the real executor exports."""

from __future__ import annotations

import io
import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from driftline.executor.sources import SourceRecord
from driftline.model.profile import Histogram, ReferenceProfile

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


#: Families only the Kafka executor exports (the in-process replay has no consumer lag); the
#: Kafka runner sets them with ``DriftExporter.set_consumer_lag``.
KAFKA_ONLY = {"driftline_consumer_lag_messages"}

#: A short run's detectors on every stream of the insurance path (small calibrations, fast)
EXECUTOR_DETECTORS = {"calibration": {"n_streams": 10}, "streams": {
    "features": [{"detector": "incremental_ks", "params": {"window_size": 500}},
                 {"detector": "page_hinkley", "target_arl0": 2000}],
    "input_vector": [{"detector": "nm_ddm", "target_arl0": 2000,
                      "params": {"window_size": 100, "calibration_steps": 4000}}],
    "prediction": [{"detector": "incremental_ks", "params": {"window_size": 500}},
                   {"detector": "page_hinkley", "target_arl0": 2000}],
    "errors": [{"detector": name} for name in ("ddm", "eddm", "hddm_a", "adwin")]}}


@pytest.fixture(scope="session")
def executor_page(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The real executor's ``/metrics`` page (text format) after a short run.

    ``driftline run``'s embedded executor (:func:`executor.local_runner.run_local`) replays
    insurance months 1-2 with inline labels and poison records through every detector; the
    page is fetched over HTTP right after the last batch, while the server still runs.
    """
    from driftline.executor.config import load_run_config
    from driftline.executor.local_runner import build_source, run_local
    from driftline.model.artifacts import load_artifacts
    from tests.conftest import free_port

    port = free_port()
    path = tmp_path_factory.mktemp("executor-metrics") / "run.yaml"
    path.write_text(yaml.safe_dump({
        "source": {"kind": "replay", "dataset": "insurance", "months": [1, 2],
                   "poison_records": 8},
        "model": {"artifacts_dir": str(artifacts_dir)},
        "detectors": EXECUTOR_DETECTORS,
        # 3000 rows + 8 poison records = 8 batches of 376 records
        "batch": {"max_rows": 376},
        "metrics": {"enabled": True, "host": "127.0.0.1", "port": port},
    }))
    config = load_run_config(path, environ={})
    model = load_artifacts(artifacts_dir)
    pages: list[str] = []

    def source() -> Iterator[SourceRecord]:
        yield from build_source(config, model)
        # The records fill whole batches: every batch has been processed and exported by now.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
            pages.append(page.read().decode())

    summary = run_local(config, model=model, source=source(), out=io.StringIO())
    assert summary.n_processed == 3000 and pages
    return pages[0]


@pytest.fixture(scope="session")
def executor_samples(executor_page: str) -> list[Sample]:
    """Every sample of :func:`executor_page`."""
    return [s for f in text_string_to_metric_families(executor_page) for s in f.samples]


@pytest.fixture(scope="session")
def example_samples(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    """Every sample of the embedded executor's ``/metrics`` page after a replay of the
    solar_flare example (schema events, categorical fields, data-quality series, a model served
    elsewhere), built as its README says."""
    from driftline.executor.config import load_run_config
    from driftline.executor.local_runner import build_source, run_local
    from tests.configs.example_setup import build_example
    from tests.conftest import free_port

    tmp = tmp_path_factory.mktemp("example-metrics")
    run, _ = build_example("solar_flare", tmp)
    port = free_port()
    config = load_run_config(run, {"metrics.port": port}, environ={})
    pages: list[str] = []

    def source() -> Iterator[SourceRecord]:
        yield from build_source(config, None)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
            pages.append(page.read().decode())

    run_local(config, source=source(), out=io.StringIO())
    assert pages
    return [s for f in text_string_to_metric_families(pages[0]) for s in f.samples]


@pytest.fixture(scope="session")
def exported_names(executor_samples: list[Sample], example_samples: list[Sample]) -> set[str]:
    """Sample names the real executor exports (on the insurance demo and on a worked example's
    schema events), the Kafka-only families and the recording rule outputs."""
    names = {s.name for s in executor_samples} | {s.name for s in example_samples} | KAFKA_ONLY
    recording = yaml.safe_load((OPS / "prometheus" / "rules" / "recording.yml").read_text())
    names |= {r["record"] for g in recording["groups"] for r in g["rules"]}
    return names


def metric_names_in(expr: str) -> set[str]:
    """driftline_* / driftline:* names referenced by a PromQL expression."""
    return set(METRIC_NAME.findall(expr))
