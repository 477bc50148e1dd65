"""What decoding produces: :class:`DecodedEvent` (a valid event) and :class:`DeadLetter` (a
record that could not be processed, with its original bytes and why); and
:class:`SkippedRecord`, a record the Kafka client could not even read (only where it was).

Used by the decoder (:mod:`executor.decode`), the pipelines, the dead-letter writers and the
detection worker, which passes both across its pipe.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

__all__ = ["DeadLetter", "DecodedEvent", "SkippedRecord", "with_originals"]


class DecodedEvent(NamedTuple):
    """A valid event: features in the decoder's column order, and where it came from.

    Immutable; a named tuple rather than a frozen dataclass because one is built per event
    and this is several times cheaper to construct.
    """

    event_id: str
    features: np.ndarray
    label: int | None
    timestamp: float
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class DeadLetter:
    """An event that could not be processed, with the original bytes and why."""

    reason: str
    detail: str
    value: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None

    def to_record(self) -> dict[str, Any]:
        """JSON-able form (bytes as base64) for a JSONL dead-letter file."""
        def b64(raw: bytes | None) -> str | None:
            return None if raw is None else base64.b64encode(raw).decode("ascii")

        return {"reason": self.reason, "detail": self.detail, "value_b64": b64(self.value),
                "key_b64": b64(self.key), "topic": self.topic, "partition": self.partition,
                "offset": self.offset, "timestamp_ms": self.timestamp_ms}


class SkippedRecord(NamedTuple):
    """A record skipped past without its bytes (e.g. a corrupt record batch): where it was and
    why. It travels with the polled records of its partition, in offset order."""

    topic: str
    partition: int
    offset: int
    reason: str
    detail: str

    def where(self) -> str:
        """``topic/partition@offset``."""
        return f"{self.topic}/{self.partition}@{self.offset}"

    def marker(self) -> DeadLetter:
        """The dead letter recording the skip (no value, no key: they could not be read)."""
        return DeadLetter(self.reason, self.detail, None, None, self.topic, self.partition,
                          self.offset, None)


def with_originals(letters: Sequence[DeadLetter],
                   originals: Mapping[int, tuple[bytes | None, bytes | None, int | None]],
                   ) -> list[DeadLetter]:
    """``letters`` with the original ``(value, key, timestamp_ms)`` of their offset.

    The pipeline dead-letters decoded events (a batch the model failed on) and only knows their
    ids; the record that goes to the dead-letter topic or file must carry the bytes that came in.
    """
    out = []
    for letter in letters:
        original = originals.get(letter.offset)
        if original is not None:
            value, key, timestamp_ms = original
            letter = dataclasses.replace(letter, value=value, key=key, timestamp_ms=timestamp_ms)
        out.append(letter)
    return out
