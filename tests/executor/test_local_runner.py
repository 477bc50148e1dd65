"""The embedded executor end to end: replay -> decode -> model -> detectors -> exporter."""

from __future__ import annotations

import io
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftline.configs import CONFIG_DIR
from driftline.dataloader.insurance import DRIFTING_FEATURES, STABLE_FEATURES
from driftline.executor.config import RunConfig, load_run_config
from driftline.executor.local_runner import POISON_PAYLOADS, build_source, run_local
from driftline.executor.sources import ReplaySource, SourceRecord
from driftline.model.artifacts import LoadedModel
from tests.executor.pipeline_helpers import fast_config

MONTHS = [1, 2, 34, 35, 36]


def demo_config(artifacts_dir: Path, tmp_path: Path, **overrides: object) -> RunConfig:
    return load_run_config(CONFIG_DIR / "demo.yaml", {
        "source.months": MONTHS, "model.artifacts_dir": str(artifacts_dir),
        "dead_letter.path": str(tmp_path / "dlt.jsonl"), "metrics.enabled": False,
        **overrides}, environ={})


@pytest.fixture(scope="module")
def demo_run(artifacts_dir: Path, loaded_model: LoadedModel,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[object, str, Path]:
    tmp_path = tmp_path_factory.mktemp("demo")
    out = io.StringIO()
    summary = run_local(demo_config(artifacts_dir, tmp_path), out=out, model=loaded_model)
    return summary, out.getvalue(), tmp_path


def test_demo_config_flags_the_drifting_features_and_not_the_stable_ones(demo_run: tuple
                                                                         ) -> None:
    summary, text, _ = demo_run
    for name in DRIFTING_FEATURES:
        assert summary.flagged("inputs", name), name
    for name in STABLE_FEATURES:
        assert not summary.flagged("inputs", name), name
    assert re.search(r"miles\s+DRIFT", text) and re.search(r"power\s+stable", text)


def test_demo_counts_every_event_and_dead_letter(demo_run: tuple) -> None:
    summary, text, tmp_path = demo_run
    assert summary.n_processed == 1500 * len(MONTHS)
    assert sum(summary.dead_letters.values()) == 8
    assert list(summary.periods) == [f"m{m:02d}" for m in MONTHS]
    lines = (tmp_path / "dlt.jsonl").read_text().splitlines()
    assert len(lines) == 8
    assert {json.loads(line)["reason"] for line in lines} == set(summary.dead_letters)
    assert "Dead letters: 8" in text


def test_demo_reports_accuracy_from_the_inline_labels(demo_run: tuple,
                                                      loaded_model: LoadedModel) -> None:
    from driftline.dataloader.insurance import load_month

    summary, text, _ = demo_run
    for month in (1, 36):
        data = load_month(month)
        served = loaded_model.predict(data.features)
        expected = float((served.labels == data.group).mean())
        assert summary.periods[f"m{month:02d}"].accuracy == pytest.approx(expected)
        fallback = float(served.used_fallback.mean())
        assert summary.periods[f"m{month:02d}"].fallback_rate == pytest.approx(fallback)
    assert "Model quality per period" in text and "Error-rate detectors" in text


def test_poison_records_are_the_shipped_payloads(artifacts_dir: Path, tmp_path: Path,
                                                 loaded_model: LoadedModel) -> None:
    source = build_source(demo_config(artifacts_dir, tmp_path), loaded_model)
    values = [r.value for r in source if r.key and r.key.startswith(b"poison-")]
    assert values == list(POISON_PAYLOADS)
    assert len(source) == 1500 * len(MONTHS) + len(POISON_PAYLOADS)


def test_metrics_and_health_are_served_during_the_run(artifacts_dir: Path,
                                                      loaded_model: LoadedModel) -> None:
    config = fast_config(artifacts_dir, metrics={"enabled": True, "port": 0})
    out = io.StringIO()
    scraped: dict[str, str] = {}
    replay = ReplaySource.insurance([1, 2])

    def source() -> Iterator[SourceRecord]:
        for i, record in enumerate(replay):
            if i == 2000:
                url = re.search(r"metrics: (\S+)", out.getvalue())
                assert url is not None
                scraped["metrics"] = urllib.request.urlopen(url.group(1)).read().decode()
                health = url.group(1).replace("/metrics", "/healthz")
                scraped["health"] = urllib.request.urlopen(health).read().decode()
            yield record

    summary = run_local(config, out=out, model=loaded_model, source=source())
    assert summary.n_processed == 3000
    assert scraped["health"] == "ok\n"
    processed = re.search(r"^driftline_events_processed_total (\S+)$", scraped["metrics"],
                          re.MULTILINE)
    assert processed is not None and 0 < float(processed.group(1)) <= 2000
    assert 'driftline_detector_threshold{detector="page_hinkley"' in scraped["metrics"]


def test_stop_event_ends_the_run_early(artifacts_dir: Path, loaded_model: LoadedModel) -> None:
    import threading

    stop = threading.Event()
    replay = ReplaySource.insurance([1])

    def source() -> Iterator[SourceRecord]:
        for i, record in enumerate(replay):
            if i == 600:
                stop.set()
            yield record

    summary = run_local(fast_config(artifacts_dir), out=io.StringIO(), model=loaded_model,
                        source=source(), stop_event=stop)
    assert summary.n_processed == 600


def test_scenario_source_runs_without_labels(artifacts_dir: Path,
                                             loaded_model: LoadedModel) -> None:
    config = fast_config(artifacts_dir, source={
        "dataset": "scenario", "scenario": {"name": "abrupt", "seed": 1, "n_rows": 3000}})
    summary = run_local(config, out=io.StringIO(), model=loaded_model)
    assert summary.n_processed == 3000
    assert all(p.n_labelled == 0 for p in summary.periods.values())


def test_partitions_get_their_own_pipeline_and_every_event_is_counted(
        artifacts_dir: Path, loaded_model: LoadedModel) -> None:
    config = fast_config(artifacts_dir, source={"months": [1, 2], "partitions": 3})
    summary = run_local(config, out=io.StringIO(), model=loaded_model)
    assert summary.n_processed == 3000
    assert sorted(summary.pipelines) == [0, 1, 2]
    per_partition = [c["n_processed"] for c in summary.pipelines.values()]
    assert sum(per_partition) == 3000 and min(per_partition) > 0


class _FailsOnFirstBatch:
    """A real model whose predict fails once, on the first batch of ``rows`` events."""

    def __init__(self, model: LoadedModel, rows: int) -> None:
        self._model, self._rows, self.failed = model, rows, False
        self.profile, self.class_names = model.profile, model.class_names

    def predict(self, X: object) -> object:
        if not self.failed and len(X) == self._rows:  # type: ignore[arg-type]
            self.failed = True
            raise RuntimeError("simulated model failure")
        return self._model.predict(X)


def test_a_batch_the_model_fails_on_is_dead_lettered_with_its_original_records(
        artifacts_dir: Path, loaded_model: LoadedModel, tmp_path: Path) -> None:
    import base64

    config = fast_config(artifacts_dir, dead_letter={"path": str(tmp_path / "dlt.jsonl")})
    records = list(ReplaySource.insurance([1]))
    model = _FailsOnFirstBatch(loaded_model, config.batch.max_rows)
    summary = run_local(config, out=io.StringIO(), model=model, source=iter(records))
    assert model.failed and summary.dead_letters == {"model": config.batch.max_rows}
    assert summary.n_processed == len(records) - config.batch.max_rows
    letters = [json.loads(line) for line in (tmp_path / "dlt.jsonl").read_text().splitlines()]
    by_offset = {r.offset: r for r in records}
    assert len(letters) == config.batch.max_rows
    for letter in letters:
        original = by_offset[letter["offset"]]
        assert letter["reason"] == "model" and "simulated" in letter["detail"]
        assert base64.b64decode(letter["value_b64"]) == original.value
        assert base64.b64decode(letter["key_b64"]) == original.key
        assert letter["timestamp_ms"] == original.timestamp_ms
