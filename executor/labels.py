"""Joining labels that arrive separately from their events, in bounded memory.

Two FIFO buffers keyed by event id: labels that arrived before their event, and served
predictions still waiting for their label. Both hold at most ``buffer_size`` entries and drop
entries older than ``max_age_s`` (by the clock given to each call); every eviction is counted so
nothing disappears silently. The state is JSON-able.

Example
-------
>>> join = LabelJoin(buffer_size=2, max_age_s=60.0)
>>> join.add_labels({"a": 1, "b": 0}, now=0.0)
[]
>>> join.take_label("a", now=1.0), join.take_label("zzz", now=1.0)
(1, None)
>>> join.add_prediction("c", predicted=2, now=1.0)
>>> join.add_labels({"c": 2}, now=2.0)
[('c', 2, 2)]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

__all__ = ["LabelJoin"]


class LabelJoin:
    """Bounded buffers of early labels and of predictions waiting for a label."""

    def __init__(self, buffer_size: int = 100_000, max_age_s: float = 3600.0) -> None:
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
        if not max_age_s > 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s}")
        self.buffer_size = int(buffer_size)
        self.max_age_s = float(max_age_s)
        self._labels: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._pending: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self.n_labels_evicted = 0
        self.n_predictions_evicted = 0

    def __len__(self) -> int:
        return len(self._labels) + len(self._pending)

    @property
    def n_waiting_labels(self) -> int:
        """Labels held until their event arrives."""
        return len(self._labels)

    @property
    def n_waiting_predictions(self) -> int:
        """Predictions held until their label arrives."""
        return len(self._pending)

    def _evict(self, buffer: OrderedDict[str, tuple[int, float]], now: float) -> int:
        dropped = 0
        while buffer and (len(buffer) > self.buffer_size
                          or now - next(iter(buffer.values()))[1] > self.max_age_s):
            buffer.popitem(last=False)
            dropped += 1
        return dropped

    def add_labels(self, labels: Mapping[str, int], now: float) -> list[tuple[str, int, int]]:
        """Add labels; return ``(event_id, predicted, label)`` for predictions they complete."""
        completed = []
        for event_id, label in labels.items():
            pending = self._pending.pop(event_id, None)
            if pending is not None:
                completed.append((event_id, pending[0], int(label)))
            else:
                self._labels.pop(event_id, None)
                self._labels[event_id] = (int(label), now)
        self.n_labels_evicted += self._evict(self._labels, now)
        return completed

    def take_label(self, event_id: str, now: float) -> int | None:
        """The buffered label of ``event_id`` (removed from the buffer), else ``None``."""
        self.n_labels_evicted += self._evict(self._labels, now)
        entry = self._labels.pop(event_id, None)
        return None if entry is None else entry[0]

    def add_prediction(self, event_id: str, predicted: int, now: float) -> None:
        """Remember the served class of an unlabelled event until its label arrives."""
        self._pending.pop(event_id, None)
        self._pending[event_id] = (int(predicted), now)
        self.n_predictions_evicted += self._evict(self._pending, now)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able contents (insertion order kept)."""
        return {"labels": [[k, v, t] for k, (v, t) in self._labels.items()],
                "pending": [[k, v, t] for k, (v, t) in self._pending.items()],
                "n_labels_evicted": self.n_labels_evicted,
                "n_predictions_evicted": self.n_predictions_evicted}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self._labels = OrderedDict((str(k), (int(v), float(t))) for k, v, t in state["labels"])
        self._pending = OrderedDict((str(k), (int(v), float(t))) for k, v, t in state["pending"])
        self.n_labels_evicted = int(state["n_labels_evicted"])
        self.n_predictions_evicted = int(state["n_predictions_evicted"])
