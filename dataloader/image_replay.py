"""Replaying the digits as image events, with one of Failing Loudly's shifts from a change point.

The ``source.digits`` section of a run config (:class:`ImageReplayConfig`) describes a stream of
``length`` images drawn with replacement from the held-out ``test`` pool of
:func:`dataloader.digits.load_digits_split` (never seen by the model, the reducers or the
profile); from ``change_point`` on, the draws carry ``shift`` (:mod:`dataloader.image_shifts`:
Gaussian noise small/medium/large, ``image`` -- rotation, translation, shear, zoom --,
occlusion, impulse noise -- image corruption --, class-prior knock-out; ``none`` or no
``change_point``: the unshifted stream). :class:`ImageReplay` writes each image as an event of
the example's schema, which is also the executor's wire format::

    {"event_id": "digit-0000042", "timestamp": 1767225642.0,
     "features": {"pixels": [[0, 3, 14, ...], ...]}, "label": 7}

Used by the embedded replay (``source: {kind: replay, dataset: digits}``) and by
``driftline replay --replay-config`` onto Kafka.

Example
-------
>>> from driftline.configs import build_config
>>> config = build_config({"length": 6, "change_point": 3, "start_time": 0.0,
...     "shift": {"family": "occlusion", "level": "large"}}, ImageReplayConfig)
>>> events = list(ImageReplay(config).events())
>>> len(events), events[3].event_id, events[3].period
(6, 'digit-0000003', 'after change (occlusion_large_1)')
>>> import json
>>> sorted(json.loads(events[0].value)), len(json.loads(events[0].value)["features"]["pixels"])
(['event_id', 'features', 'label', 'timestamp'], 8)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from driftline.configs import ConfigModel, key_error
from driftline.dataloader.image_shifts import ImageShift, shift_stream

__all__ = ["ImageReplay", "ImageReplayConfig", "ImageShiftConfig", "ReplayedImage"]


class ImageShiftConfig(ConfigModel):
    """One shift of :mod:`dataloader.image_shifts` (``level`` for every family but knockout
    and none)."""

    family: Literal["gaussian_noise", "image", "occlusion", "impulse_noise", "knockout", "none"]
    level: Literal["small", "medium", "large"] | None = None
    fraction: float = Field(1.0, gt=0.0, le=1.0)
    knockout_class: int = Field(0, ge=0, le=9)

    @model_validator(mode="after")
    def _check(self) -> ImageShiftConfig:
        try:
            self.image_shift()
        except ValueError as exc:
            raise key_error("level", str(exc)) from None
        return self

    def image_shift(self) -> ImageShift:
        """The :class:`dataloader.image_shifts.ImageShift`."""
        return ImageShift(self.family, self.level, self.fraction, self.knockout_class)


class ImageReplayConfig(ConfigModel):
    """The ``source.digits`` section (module docstring)."""

    seed: int = Field(0, ge=0)
    length: int = Field(2000, ge=2)
    change_point: int | None = Field(1000, ge=1)
    shift: ImageShiftConfig | None = None
    id_prefix: str = Field("digit", min_length=1, max_length=64)
    start_time: float | None = None
    interval_s: float = Field(1.0, gt=0.0)
    labels: Literal["inline", "none"] = "inline"

    @model_validator(mode="after")
    def _check(self) -> ImageReplayConfig:
        if self.change_point is not None and self.change_point >= self.length:
            raise key_error("change_point", f"must be below length ({self.length}), got "
                            f"{self.change_point}")
        if self.shift is not None and self.change_point is None:
            raise key_error("shift", "needs a change_point")
        return self


@dataclass(frozen=True)
class ReplayedImage:
    """One event to send (the attributes of :class:`executor.file_replay.EncodedEvent`)."""

    event_id: str
    value: bytes
    timestamp: float
    period: str
    label_value: bytes | None = None


class ImageReplay:
    """The events of an :class:`ImageReplayConfig` (module docstring)."""

    labels_topic = None

    def __init__(self, config: ImageReplayConfig) -> None:
        self.config = config

    def __len__(self) -> int:
        return self.config.length

    def events(self) -> list[ReplayedImage]:
        """Every event, in stream order."""
        from driftline.dataloader.digits import image_json, load_digits_split

        config = self.config
        pool = load_digits_split(config.seed).test
        shift = (config.shift.image_shift() if config.shift is not None
                 else ImageShift("none"))
        change = config.change_point if config.change_point is not None else config.length // 2
        stream = shift_stream(pool.images, pool.labels, shift, length=config.length,
                              change_point=change, seed=config.seed)
        start = (config.start_time if config.start_time is not None
                 else float(np.floor(time.time())))
        out = []
        for i in range(config.length):
            event_id = f"{config.id_prefix}-{i:07d}"
            timestamp = start + i * config.interval_s
            event = {"event_id": event_id, "timestamp": timestamp,
                     "features": {"pixels": image_json(stream.images[i])}}
            if config.labels == "inline":
                event["label"] = int(stream.labels[i])
            period = ("unshifted" if config.shift is None else "before change" if i < change
                      else f"after change ({shift.name})")
            out.append(ReplayedImage(event_id, json.dumps(event, separators=(",", ":")).encode(),
                                     timestamp, period))
        return out
