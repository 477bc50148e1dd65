"""The Page-Hinkley kernel: ``n`` tests advanced together over rows (see :mod:`detectors._kernels`).

Passes come from the shared scheduler (:mod:`detectors._kernels.scheduler`): tests whose sigma
is known go through the steady pass (:mod:`.page_hinkley_steady`), tests still estimating it and
statistic paths through the general one (:mod:`.page_hinkley_passes`). Only the natural
recursion without forgetting (``forgetting=1``) is a cumulative sum that a pass can vectorise
exactly; with forgetting :meth:`PageHinkleyKernel.configure` declines and callers loop.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftline.detectors._kernels.page_hinkley_passes import masked_pass
from driftline.detectors._kernels.page_hinkley_state import PHConfig, PHState
from driftline.detectors._kernels.page_hinkley_steady import steady_pass
from driftline.detectors._kernels.protocol import Kernel
from driftline.detectors._kernels.scheduler import Hits, Schedule, run_passes

__all__ = ["KERNEL", "PageHinkleyKernel"]

#: the steady pass works in shared scratch arrays: long passes, one per chunk of rows
STEADY = Schedule(chunk_values=65536, first_span=256, restart_cells=65536)
#: the general pass allocates its arrays: chunks stay under the allocator's mmap threshold
GENERAL = Schedule(chunk_values=12288, first_span=256, restart_cells=8192)
SHARED = ("delta", "warmup", "direction", "min_instances", "reset_on_drift")


class _Passes:
    def __init__(self, config: PHConfig, st: PHState, x: np.ndarray,
                 path: np.ndarray | None) -> None:
        self.config, self.st, self.x, self.path = config, st, x, path

    def pending(self, cols: np.ndarray) -> np.ndarray:
        return self.st.pending[cols]

    def restart(self, mask: np.ndarray) -> None:
        self.st.restart(self.config, mask)

    def limit(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray) -> int:
        return stop

    def run(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray,
            hits: Hits) -> np.ndarray:
        config, st, x = self.config, self.st, self.x
        ready = ~np.isnan(st.sigma[cols])
        if self.path is None and ready.all():
            return steady_pass(config, st, x, p, stop, cols, offset, hits)
        if self.path is not None or not ready.any():
            return masked_pass(config, st, x, p, stop, cols, offset, self.path, hits)
        consumed = np.empty(len(cols), dtype=np.int64)
        consumed[ready] = steady_pass(config, st, x, p, stop, cols[ready], offset[ready], hits)
        consumed[~ready] = masked_pass(config, st, x, p, stop, cols[~ready], offset[~ready],
                                       None, hits)
        return consumed


class PageHinkleyKernel(Kernel):
    """Kernel of :class:`detectors.page_hinkley.PageHinkley`."""

    def configure(self, detectors: Sequence[Any]) -> PHConfig | None:
        first = detectors[0]
        distinct = {id(d): d for d in detectors}.values()
        if any(d.forgetting != 1.0 for d in distinct) or any(
                getattr(d, key) != getattr(first, key) for d in distinct for key in SHARED):
            return None
        return PHConfig(
            delta=first.delta, thresholds=np.array([d.threshold for d in detectors]),
            ref_mean=np.array([math.nan if d.reference_mean is None else d.reference_mean
                               for d in detectors]),
            ref_std=np.array([math.nan if d.reference_std is None else d.reference_std
                              for d in detectors]),
            warmup=first.warmup, direction=first.direction, min_instances=first.min_instances,
            reset_on_drift=first.reset_on_drift)

    def initial(self, config: PHConfig, n: int) -> PHState:
        return PHState(config)

    def pack(self, config: PHConfig, states: Sequence[Mapping[str, Any]], drift: np.ndarray,
             warning: np.ndarray) -> PHState:
        return PHState.pack(config, states, drift, warning)

    def unpack(self, config: PHConfig, state: PHState) -> list[dict[str, Any]]:
        return state.unpack()

    def advance(self, config: PHConfig, state: PHState,
                rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return run_passes(_Passes(config, state, rows, None), len(rows), rows.shape[1], STEADY)

    def statistic_path(self, config: PHConfig, state: PHState, rows: np.ndarray) -> np.ndarray:
        n = len(config.thresholds)
        free = dataclasses.replace(config, thresholds=np.full(n, math.inf), reset_on_drift=False)
        path = np.full(rows.shape, np.nan)
        run_passes(_Passes(free, state, rows, path), len(rows), n, GENERAL)
        return path

    def statistics(self, config: PHConfig, state: PHState) -> dict[str, np.ndarray]:
        st = state
        stat = {"up": st.stat_up, "down": st.stat_down,
                "both": np.maximum(st.stat_up, st.stat_down)}[config.direction]
        with np.errstate(invalid="ignore", divide="ignore"):
            running = np.where(st.n > 0, st.sum / np.maximum(st.n, 1), np.nan)
        return {
            "statistic": stat.copy(), "statistic_up": st.stat_up.copy(),
            "statistic_down": st.stat_down.copy(), "threshold": config.thresholds.copy(),
            "mean": np.where(np.isnan(config.ref_mean), running, config.ref_mean),
            "std": st.sigma.copy(),
            "ready": (~np.isnan(st.sigma) & (st.n >= config.min_instances)).astype(float),
        }


KERNEL = PageHinkleyKernel()
