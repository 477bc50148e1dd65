"""The Incremental-KS kernel: columns advanced with the exact vectorised KS path.

Each column's statistics over a pass of the shared scheduler (:mod:`.scheduler`) come from
:func:`detectors._kernels.ks_path.ks_path` (equal, bit for bit, to the treap of the per-value
update and to scipy). Statistics computed past a detection that empties the window are wasted,
so after each detection the passes are about a window long, and double while nothing fires.
Banks with a multiple-testing correction run :mod:`.incremental_ks_corrected`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftline.detectors._kernels.incremental_ks_corrected import CorrectedKS
from driftline.detectors._kernels.incremental_ks_state import KSConfig, KSState
from driftline.detectors._kernels.ks_path import ks_path
from driftline.detectors._kernels.protocol import Kernel
from driftline.detectors._kernels.scheduler import Hits, Schedule, run_passes
from driftline.detectors.kolmogorov import ks_p_value

__all__ = ["KERNEL", "IncrementalKSKernel"]


class _Passes:
    """Each column's statistics over a pass from the exact KS path; with ``reset_on_drift`` a
    column stops at its first detection, its window emptied."""

    def __init__(self, config: KSConfig, st: KSState, x: np.ndarray) -> None:
        self.config, self.st, self.x = config, st, x

    def pending(self, cols: np.ndarray) -> np.ndarray:
        return np.zeros(len(cols), dtype=bool)  # a detection empties the window at once

    def restart(self, mask: np.ndarray) -> None:
        pass

    def limit(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray) -> int:
        return stop

    def run(self, p: int, stop: int, cols: np.ndarray, offset: np.ndarray,
            hits: Hits) -> np.ndarray:
        config, st = self.config, self.st
        w = config.window_size
        consumed = np.empty(len(cols), dtype=np.int64)
        for k, (j, start) in enumerate(zip(cols.tolist(), (p + offset).tolist(), strict=True)):
            values = self.x[start:stop, j]
            stats = ks_path(config.references[j], st.windows[j], values, w)
            over = stats > config.thresholds[j]
            fired = np.flatnonzero(over)
            if config.reset_on_drift and len(fired):
                first = int(fired[0])
                hits.add(np.array([start + first]), np.array([j]))
                st.statistic[j], st.drift[j] = stats[first], True
                st.windows[j] = np.empty(0)
                consumed[k] = first + 1
                continue
            hits.add(start + fired, np.full(len(fired), j))
            last = stats[-1]
            st.statistic[j] = 0.0 if math.isnan(last) else last
            st.drift[j] = bool(over[-1])
            st.append(j, values, w)
            consumed[k] = len(values)
        return consumed


def _schedule(config: KSConfig, n: int) -> Schedule:
    """Long passes (window-sized steps share a grid); after a detection a pass of about one
    window, doubling while nothing fires."""
    w = config.window_size
    after = w + max(64, w // 4)
    return Schedule(chunk_values=max(8 * w, 8192) * n, first_span=after, restart_cells=after)


class IncrementalKSKernel(Kernel):
    """Kernel of :class:`detectors.incremental_ks.IncrementalKS`."""

    def configure(self, detectors: Sequence[Any]) -> KSConfig | None:
        first = detectors[0]
        if any(d.window_size != first.window_size or d.reset_on_drift != first.reset_on_drift
               for d in detectors):
            return None
        return KSConfig([np.sort(np.asarray(d.reference, dtype=np.float64)) for d in detectors],
                        np.array([d.threshold for d in detectors]), first.window_size,
                        first.reset_on_drift)

    def initial(self, config: KSConfig, n: int) -> KSState:
        return KSState(n)

    def pack(self, config: KSConfig, states: Sequence[Mapping[str, Any]], drift: np.ndarray,
             warning: np.ndarray) -> KSState:
        st = KSState(len(states))
        st.windows = [np.array(s["window"], dtype=np.float64) for s in states]
        st.statistic = np.array([s["statistic"] for s in states], dtype=np.float64)
        st.drift = np.array(drift, dtype=bool)
        st.warning = np.array(warning, dtype=bool)
        return st

    def unpack(self, config: KSConfig, state: KSState) -> list[dict[str, Any]]:
        stats = state.statistic.tolist()
        return [{"window": w.tolist(), "statistic": stats[j]}
                for j, w in enumerate(state.windows)]

    def advance(self, config: KSConfig, state: KSState,
                rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = rows.shape[1]
        state.warning[:] = False
        return run_passes(_Passes(config, state, rows), len(rows), n, _schedule(config, n))

    def corrected(self, config: KSConfig, alpha: float, correction: str,
                  reset_on_drift: bool) -> CorrectedKS:
        return CorrectedKS(config, alpha, correction, reset_on_drift)

    def statistics(self, config: KSConfig, state: KSState) -> dict[str, np.ndarray]:
        sizes = config.reference_sizes
        w = config.window_size
        p_values = np.array([ks_p_value(s, int(m), w)[0]
                             for s, m in zip(state.statistic.tolist(), sizes, strict=True)])
        return {
            "statistic": state.statistic.copy(),
            "threshold": config.thresholds.copy(),
            "p_value": p_values,
            "window_fill": np.array([len(win) / w for win in state.windows]),
        }


KERNEL = IncrementalKSKernel()
