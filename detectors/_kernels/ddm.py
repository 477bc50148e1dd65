"""The DDM kernel: ``m`` tests advanced together over rows (see :mod:`detectors._kernels`).

Passes come from the shared scheduler (:mod:`detectors._kernels.scheduler`): 0/1 errors go
through :func:`detectors._kernels.ddm_binary.binary_pass`, real-valued errors through
:func:`detectors._kernels.ddm_passes.real_pass`. Real-valued tests that all warm up together end
their pass where all are armed, so that the next pass can be screened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftline.detectors._kernels.ddm_binary import binary_pass
from driftline.detectors._kernels.ddm_passes import real_pass
from driftline.detectors._kernels.ddm_state import DDMConfig, DDMState, estimate
from driftline.detectors._kernels.protocol import Kernel
from driftline.detectors._kernels.scheduler import Hits, Schedule, run_passes

__all__ = ["KERNEL", "DDMKernel"]

SCHEDULE = Schedule(chunk_values=32768, first_span=128, restart_cells=4096)


class _Passes:
    def __init__(self, config: DDMConfig, st: DDMState, x: np.ndarray) -> None:
        self.config, self.st, self.x = config, st, x

    def pending(self, cols: np.ndarray) -> np.ndarray:
        return self.st.pending[cols]

    def restart(self, mask: np.ndarray) -> None:
        self.st.restart(mask)

    def limit(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray) -> int:
        config, n = self.config, len(self.st.n)
        n_low = int(self.st.n[cols].min())
        if (config.real and n > 1 and len(cols) == n and n_low < config.warm_start
                and not offset.any()):
            # every test warms up from here: end the pass where all are armed
            return min(stop, p + config.warm_start - n_low)
        return stop

    def run(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray,
            hits: Hits) -> np.ndarray:
        step = real_pass if self.config.real else binary_pass
        return step(self.config, self.st, self.x, p, stop, cols, offset, hits)


class DDMKernel(Kernel):
    """Kernel of :class:`detectors.ddm.DDM`."""

    def configure(self, detectors: Sequence[Any]) -> DDMConfig | None:
        first = detectors[0]
        keys = ("warm_start", "warning_threshold", "drift_threshold", "kind")
        distinct = {id(d): d for d in detectors}.values()
        if any(getattr(d, key) != getattr(first, key) for d in distinct for key in keys):
            return None
        return DDMConfig(first.warm_start, first.warning_threshold, first.drift_threshold,
                         first.kind == "real")

    def initial(self, config: DDMConfig, n: int) -> DDMState:
        return DDMState(n)

    def pack(self, config: DDMConfig, states: Sequence[Mapping[str, Any]], drift: np.ndarray,
             warning: np.ndarray) -> DDMState:
        return DDMState.pack(states, drift, warning)

    def unpack(self, config: DDMConfig, state: DDMState) -> list[dict[str, Any]]:
        return state.unpack()

    def advance(self, config: DDMConfig, state: DDMState,
                rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return run_passes(_Passes(config, state, rows), len(rows), rows.shape[1], SCHEDULE)

    def statistics(self, config: DDMConfig, state: DDMState) -> dict[str, np.ndarray]:
        st = state
        n = st.n.astype(np.float64)
        armed = st.n > config.warm_start
        started = st.n > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            rate, std = estimate(config.real, st.shift, st.s1, st.s2, n)
        return {
            "statistic": np.where(started, st.stat, np.nan),
            "threshold": np.where(armed, st.p_min + config.drift_threshold * st.s_min, np.nan),
            "warning_threshold": np.where(
                armed, st.p_min + config.warning_threshold * st.s_min, np.nan),
            "error_rate": np.where(started, rate, np.nan),
            "std": np.where(started, std, np.nan),
            "p_min": np.where(armed, st.p_min, np.nan),
            "s_min": np.where(armed, st.s_min, np.nan),
            "n_window": n,
        }


KERNEL = DDMKernel()
