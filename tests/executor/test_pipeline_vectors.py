"""The schema pipeline of a model reading images: the digits CNN served through its adapter,
the profile's reducers (PCA, BBSD) run on each decoded batch, and the reduced streams' detectors --
exported with bounded ``feature`` labels, silent on unshifted images, firing on shifted ones,
continuing bit for bit from a checkpointed state; malformed images are dead letters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftline.configs import build_config
from driftline.dataloader.image_replay import ImageReplay, ImageReplayConfig
from driftline.executor.config import RunConfig
from driftline.executor.detection import InProcessDetection, PartitionBatch
from driftline.executor.monitoring import SchemaMonitoring, open_monitoring
from driftline.utils.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "configs" / "examples" / "digits" / "schema.yaml"
STREAMS = {
    "reduced_components": [{"detector": "incremental_ks", "target_arl0": 100_000,
                            "params": {"window_size": 200}, "calibration": "bound"}],
    "reduced_vector": [{"detector": "nm_ddm", "target_arl0": 100_000,
                        "params": {"window_size": 200, "n_features_rff": 64,
                                   "calibration_steps": 100_000}}],
    "predicted_class": [{"detector": "chi_square", "target_arl0": 100_000,
                         "params": {"window_size": 500}, "calibration": "bound"}],
}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("digits")
    assert cli(["train-digits", "--output-dir", str(directory), "--epochs", "15"]) == 0
    assert cli(["profile", "--schema", str(SCHEMA), "--reference",
                str(directory / "digits_reference.jsonl"), "--output-dir", str(directory),
                "--reducer", "pca:8", "--reducer", "bbsd", "--progress", "none"]) == 0
    return directory


def run_config(artifacts: Path) -> RunConfig:
    return RunConfig.model_validate({
        "model": {"kind": "torchscript", "artifacts_dir": str(artifacts),
                  "path": str(artifacts / "model.ts"), "returns": ["probabilities", "embedding"],
                  "preprocessing": {"features": ["pixels"], "standardise": "none",
                                    "missing": "refuse"}},
        "detectors": {"calibration": {"n_streams": 10, "seed": 0}, "streams": STREAMS}})


@pytest.fixture(scope="module")
def served(artifacts: Path) -> tuple[SchemaMonitoring, RunConfig, dict[str, Any]]:
    config = run_config(artifacts)
    monitoring = open_monitoring(config)
    assert isinstance(monitoring, SchemaMonitoring)
    return monitoring, config, monitoring.pipeline().state_dict()


def events(monitoring: SchemaMonitoring, shift: dict[str, Any] | None,
           length: int = 2000) -> list[bytes]:
    replay = {"length": length, "change_point": length // 2, "start_time": 0.0, "seed": 1}
    if shift is not None:
        replay["shift"] = shift
    return [e.value for e in ImageReplay(build_config(replay, ImageReplayConfig)).events()]


def run(monitoring: SchemaMonitoring, pipeline: Any, values: list[bytes],
        first: int = 0) -> list[Any]:
    detections = []
    decoder = monitoring.decoder()
    for start in range(0, len(values), 250):
        records = [(v, None, first + start + i, None)
                   for i, v in enumerate(values[start:start + 250])]
        batch = decoder.decode_records(PartitionBatch("t", 0, records)).events
        detections += pipeline.process(batch).detections
    return detections


def test_series_are_the_reducers_components_not_the_pixels(served: Any) -> None:
    monitoring, _, state = served
    pipeline = monitoring.pipeline(state)
    reduced = [series for series in pipeline.detector_series()
               if series[1] in ("reduced_components", "reduced_vector", "predicted_class")]
    assert reduced == [
        ("incremental_ks", "reduced_components", [f"pca_{i}" for i in range(8)]),
        ("incremental_ks", "reduced_components", [f"bbsd_{i}" for i in range(10)]),
        ("nm_ddm", "reduced_vector", ["pca"]),
        ("nm_ddm", "reduced_vector", ["bbsd"]),
        ("chi_square", "predicted_class", ["class"])]
    # no pixel is a label: the image's 64 values never appear as features
    assert not any(f.startswith("pixels") for _, _, fs in pipeline.detector_series()
                   for f in fs)


@pytest.mark.parametrize(("shift", "fires"), [
    (None, False),
    ({"family": "gaussian_noise", "level": "large"}, True),
    ({"family": "occlusion", "level": "large"}, True),
    ({"family": "knockout", "fraction": 1.0, "knockout_class": 3}, True),
])
def test_shifted_images_are_detected_after_the_change_only(served: Any, shift: Any,
                                                           fires: bool) -> None:
    monitoring, _, state = served
    pipeline = monitoring.pipeline(state)
    reduced = [d for d in run(monitoring, pipeline, events(monitoring, shift))
               if d.stream in ("reduced_components", "reduced_vector", "predicted_class")]
    assert bool(reduced) == fires, [(d.detector, d.feature, d.event_id) for d in reduced[:5]]
    if fires:
        first = min(int(d.event_id.rsplit("-", 1)[1]) for d in reduced)
        assert 1000 <= first < 1700


def test_a_checkpointed_state_continues_bit_for_bit(served: Any) -> None:
    monitoring, _, state = served
    values = events(monitoring, {"family": "image", "level": "large"})
    straight = monitoring.pipeline(state)
    first = run(monitoring, straight, values[:1000])
    resumed = monitoring.pipeline(json.loads(json.dumps(straight.state_dict())))
    rest = run(monitoring, resumed, values[1000:], first=1000)
    again = monitoring.pipeline(state)
    assert run(monitoring, again, values) == first + rest
    assert rest, "the shift after event 1000 is detected"


def test_malformed_images_are_dead_letters_and_the_rest_is_served(served: Any) -> None:
    monitoring, _, state = served
    good = [e.value for e in ImageReplay(build_config(
        {"length": 3, "start_time": 0.0, "change_point": None}, ImageReplayConfig)).events()]
    image = json.loads(good[0])
    bad_shape = dict(image, features={"pixels": image["features"]["pixels"][:7]})
    bad_pixel = json.loads(good[1])
    bad_pixel["features"]["pixels"][0][0] = 99
    nan_pixel = good[2].replace(b"[[", b"[[NaN,", 1).replace(b"NaN,0,", b"NaN,", 1)
    records = [(json.dumps(bad_shape).encode(), None, 0, None),
               (json.dumps(bad_pixel).encode(), None, 1, None),
               (nan_pixel, None, 2, None)] + [(v, None, 3 + i, None) for i, v in
                                              enumerate(good)]
    backend = InProcessDetection(monitoring.decoder(), lambda s: monitoring.pipeline(state))
    backend.open(0)
    backend.submit([PartitionBatch("t", 0, records)])
    (outcome,) = backend.collect()
    assert [d.reason for d in outcome.dead_letters] == ["bad_shape", "out_of_bounds",
                                                        "non_finite"]
    assert outcome.result.n_processed == 3
    assert np.all(outcome.result.predicted >= 0)


def test_the_series_carry_their_entries_targets(served: Any) -> None:
    monitoring, _, state = served
    series = monitoring.pipeline(state).series()
    reduced = [s for s in series if s.stream in STREAMS]
    assert {(s.stream, s.detector, s.target_arl0) for s in reduced} == {
        (name, entry["detector"], entry["target_arl0"])
        for name, entries in STREAMS.items() for entry in entries}
    assert len(reduced) == 8 + 10 + 2 + 1


def test_the_reduced_streams_share_the_alarm_budget(artifacts: Path) -> None:
    # the rate of false pages the series' targets add up to is the budget's, reduced streams
    # included: each of the 2 reducers' detectors takes 2x the entry's share
    streams = {name: [{k: v for k, v in entry.items() if k != "target_arl0"}
                      for entry in entries] for name, entries in STREAMS.items()}
    streams["reduced_vector"][0]["params"].pop("calibration_steps")
    config = run_config(artifacts).model_copy(update={"alarms": None})
    raw = config.model_dump()
    raw["detectors"]["streams"] = streams
    raw["alarms"] = {"false_pages": 1, "per": "30d", "event_rate_per_s": 100}
    pipeline = open_monitoring(RunConfig.model_validate(raw)).pipeline()
    plan = pipeline.alarm_plan
    assert plan is not None
    assert {(p.entry.stream, p.entry.detector, p.entry.columns) for p in plan.rows} == {
        ("reduced_components", "incremental_ks", 18), ("reduced_vector", "nm_ddm", 2),
        ("predicted_class", "chi_square", 1)}
    targets = pipeline.series_targets()
    assert len(targets) == 18 + 2 + 1
    pages = sum(100 * 30 * 86_400 / arl0 for _, _, _, arl0 in targets)
    assert pages == pytest.approx(1.0, rel=1e-9)
    # restored under the same budget nothing is recalibrated; under another rate the reduced
    # stage is (and starts afresh)
    state = pipeline.state_dict()
    assert open_monitoring(RunConfig.model_validate(raw)).pipeline(state).retargeted == set()
    raw["alarms"]["event_rate_per_s"] = 400
    moved = open_monitoring(RunConfig.model_validate(raw)).pipeline(state)
    assert {s for s, _ in moved.retargeted} == set(STREAMS)
