"""The digits image replay: the unshifted part is drawn from the held-out test pool, the shifted
part carries exactly the configured Failing Loudly shift, the events decode with the example's
schema, the config errors name their key, and ``driftline replay`` writes it (or, with
``--no-drift``, the same stream unshifted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftline.configs import ConfigError, build_config
from driftline.dataloader.digits import load_digits_split
from driftline.dataloader.image_replay import ImageReplay, ImageReplayConfig
from driftline.dataloader.image_shifts import ImageShift, shift_stream
from driftline.dataloader.schema import load_schema
from driftline.executor.schema_decoder import SchemaDecoder
from driftline.utils.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "examples" / "digits"


def images(events: list[Any]) -> np.ndarray:
    return np.array([json.loads(e.value)["features"]["pixels"] for e in events],
                    dtype=np.float32)


@pytest.mark.parametrize("family", ["gaussian_noise", "image", "occlusion", "impulse_noise"])
def test_the_shift_starts_at_the_change_point(family: str) -> None:
    config = build_config({"length": 400, "change_point": 250, "seed": 3, "start_time": 10.0,
                           "shift": {"family": family, "level": "medium"}}, ImageReplayConfig)
    events = ImageReplay(config).events()
    pool = load_digits_split(3).test
    expected = shift_stream(pool.images, pool.labels, ImageShift(family, "medium"), length=400,
                            change_point=250, seed=3)
    assert np.allclose(images(events), expected.images, atol=1e-5)
    assert [json.loads(e.value)["label"] for e in events] == expected.labels.tolist()
    assert {e.period for e in events[:250]} == {"before change"}
    assert {e.period for e in events[250:]} == {f"after change ({family}_medium_1)"}
    assert [e.timestamp for e in events[:2]] == [10.0, 11.0]
    # the unshifted part is images of the pool, untouched
    flat = {tuple(image.ravel()) for image in pool.images}
    assert all(tuple(image.ravel()) in flat for image in images(events[:250]))


def test_a_knockout_removes_the_class_after_the_change_point() -> None:
    config = build_config({"length": 1000, "change_point": 400,
                           "shift": {"family": "knockout", "knockout_class": 7}},
                          ImageReplayConfig)
    labels = [json.loads(e.value)["label"] for e in ImageReplay(config).events()]
    assert 7 in labels[:400] and 7 not in labels[400:]


def test_events_decode_with_the_examples_schema() -> None:
    config = build_config({"length": 50, "change_point": None}, ImageReplayConfig)
    values = [e.value for e in ImageReplay(config).events()]
    batch = SchemaDecoder(load_schema(EXAMPLE / "schema.yaml")).decode_batch(
        values, topic="t", partition=0, offsets=list(range(50)))
    assert len(batch) == 50 and batch.dead_letters == []
    assert batch.vectors["pixels"].shape == (50, 64)


@pytest.mark.parametrize(("values", "key"), [
    ({"length": 10, "change_point": 10}, "change_point"),
    ({"change_point": None, "shift": {"family": "none"}}, "shift"),
    ({"shift": {"family": "occlusion"}}, "shift.level"),
    ({"shift": {"family": "knockout", "level": "large"}}, "shift.level"),
])
def test_config_errors_name_the_key(values: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key}: "):
        build_config(values, ImageReplayConfig, source="run.yaml")


def test_driftline_replay_writes_the_example_with_and_without_its_shift(tmp_path: Path) -> None:
    shifted, clean = tmp_path / "shifted.jsonl", tmp_path / "clean.jsonl"
    config = str(EXAMPLE / "run.yaml")
    assert main(["replay", "--replay-config", config, "--output", str(shifted)]) == 0
    assert main(["replay", "--replay-config", config, "--no-drift", "--output",
                 str(clean)]) == 0
    a, b = shifted.read_text().splitlines(), clean.read_text().splitlines()
    assert len(a) == len(b) == 3000
    assert a[:1500] == b[:1500] and all(x != y for x, y in zip(a[1500:], b[1500:], strict=True))
