"""The restart-pass scheduler against a per-value loop, with a toy kernel whose answer is known.

Toy test ``k`` counts the values it sees since its last restart and fires when the count
reaches ``period[k]`` plus the sum of those values (0/1), then restarts on the next value. Its
passes are vectorised and masked like the real kernels', so any scheduling error (a row given
twice, a restart at the wrong row, a test left behind) changes the detections.
"""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors._kernels.scheduler import Hits, Schedule, run_passes


class _Counting:
    def __init__(self, periods: np.ndarray, x: np.ndarray, cut_every: int | None) -> None:
        self.periods, self.x, self.cut_every = periods, x, cut_every
        self.score = np.zeros(len(periods), dtype=np.int64)
        self.pending_ = np.zeros(len(periods), dtype=bool)
        self.rows_seen = np.zeros(len(periods), dtype=np.int64)

    def pending(self, cols: np.ndarray) -> np.ndarray:
        return self.pending_[cols]

    def restart(self, mask: np.ndarray) -> None:
        self.score[mask] = 0
        self.pending_[mask] = False

    def limit(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray) -> int:
        if self.cut_every and not offset.any():
            return min(stop, p + self.cut_every)
        return stop

    def run(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray,
            hits: Hits) -> np.ndarray:
        steps = np.arange(1, stop - p + 1)[:, None]
        live = steps > offset
        score = np.cumsum(np.where(live, 1 + self.x[p:stop][:, cols], 0), axis=0)
        score += self.score[cols]
        fire = live & (score >= self.periods[cols])
        last = np.full(len(cols), stop - p - 1)
        fired = fire.any(axis=0)
        last[fired] = np.argmax(fire[:, fired], axis=0)
        hits.add(last[fired] + p, cols[fired])
        k = np.arange(len(cols))
        self.score[cols] = score[last, k]
        self.pending_[cols] = fired
        consumed = last + 1 - offset
        self.rows_seen[cols] += consumed
        return consumed


def _loop(periods: np.ndarray, x: np.ndarray) -> list[tuple[int, int]]:
    hits = []
    for k, period in enumerate(periods):
        score = 0
        for r in range(len(x)):
            score += 1 + int(x[r, k])
            if score >= period:
                hits.append((r, k))
                score = 0
    return sorted(hits)


@pytest.mark.parametrize("schedule", [Schedule(64, 8, 32), Schedule(4096, 256, 8192),
                                      Schedule(1, 1, 1)])
@pytest.mark.parametrize("cut_every", [None, 7])
def test_passes_give_the_detections_of_the_loop(schedule: Schedule,
                                                cut_every: int | None) -> None:
    rng = np.random.default_rng(3)
    periods = rng.integers(2, 60, size=9)
    x = (rng.random((700, 9)) < 0.3).astype(np.int64)
    toy = _Counting(periods, x, cut_every)
    rows, cols = run_passes(toy, len(x), len(periods), schedule)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == _loop(periods, x)
    assert toy.rows_seen.tolist() == [len(x)] * len(periods)
