"""The Incremental-KS kernel: columns advanced with the exact vectorised KS path.

Each column's statistics over a batch come from :func:`detectors._kernels.ks_path.ks_path`
(equal, bit for bit, to the treap of the per-value update and to scipy). Statistics computed
past a detection that empties the window are wasted, so after each detection the next piece of
the batch is short, and pieces double while nothing fires. Banks with a multiple-testing
correction run :mod:`.incremental_ks_corrected`.
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
from driftline.detectors._kernels.scheduler import Hits
from driftline.detectors.kolmogorov import ks_p_value

__all__ = ["KERNEL", "IncrementalKSKernel"]


def _advance_column(config: KSConfig, st: KSState, j: int, values: np.ndarray) -> np.ndarray:
    """Consume ``values`` in column ``j``; return the positions where it fired."""
    w, reference, threshold = config.window_size, config.references[j], config.thresholds[j]
    fired: list[np.ndarray] = []
    max_piece = max(8 * w, 8192)
    piece = max_piece
    i, n = 0, len(values)
    while i < n:
        chunk = values[i : i + piece]
        stats = ks_path(reference, st.windows[j], chunk, w)
        over = stats > threshold
        hits = np.flatnonzero(over)
        if config.reset_on_drift and len(hits):
            first = int(hits[0])
            fired.append(np.array([i + first]))
            st.statistic[j], st.drift[j] = stats[first], True
            st.windows[j] = np.empty(0)
            i += first + 1
            piece = w + max(64, w // 4)
            continue
        fired.append(i + hits)
        last = stats[-1]
        st.statistic[j] = 0.0 if math.isnan(last) else last
        st.drift[j] = bool(over[-1])
        st.append(j, chunk, w)
        i += len(chunk)
        piece = min(2 * piece, max_piece)
    return np.concatenate(fired) if fired else np.empty(0, dtype=np.int64)


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
        hits = Hits()
        for j in range(rows.shape[1]):
            fired = _advance_column(config, state, j, rows[:, j])
            hits.add(fired, np.full(len(fired), j))
        state.warning[:] = False
        return hits.sorted()

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
