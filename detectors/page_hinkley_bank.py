"""Vectorised Page-Hinkley: the array kernel shared with :class:`PageHinkley`, and a feature bank.

:class:`PageHinkleyBank` runs one two-sided Page-Hinkley test (see :mod:`detectors.page_hinkley`
for the definition and the choices made) per feature, with all features' state held in numpy
arrays of length ``n_features`` and advanced together over a batch of rows. It gives exactly the
detections and the state of one :class:`~detectors.page_hinkley.PageHinkley` per column: both
use the kernel :func:`advance` below, whose arithmetic is the same, operation for operation, as
the per-value update of the scalar detector.

How the kernel vectorises: between two detections the cumulative sums are running sums
(``np.cumsum`` starting from the stored sum, so the additions happen in the same order as a
loop) and their extrema are running extrema (``np.minimum.accumulate``). With a forgetting
factor ``alpha < 1`` the recursion ``m_t = alpha m_{t-1} + inc_t`` is rewritten as
``m_t = alpha^j M_t`` with ``M_t = M_{t-1} + inc_t alpha^-j``, a plain running sum inside blocks
of ``block`` values, renormalised at block ends (both paths renormalise at the same counts).
A detection truncates the batch at its row; the detected features restart and processing goes
on from the next row.

Reference: E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954) 100-115.

Examples
--------
>>> import numpy as np
>>> from detectors.page_hinkley_bank import PageHinkleyBank
>>> rng = np.random.default_rng(0)
>>> rows = rng.normal(size=(3000, 3))
>>> rows[2000:, 1] += 1.5                       # feature "b" shifts up at row 2000
>>> bank = PageHinkleyBank(["a", "b", "c"], delta=0.25, threshold=30.0)
>>> hits = bank.update_many(rows)
>>> [(int(r), bank.feature_names[f]) for r, f in hits]
[(2010, 'b')]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from detectors.bank_base import FeatureBankBase
from detectors.base import NonFiniteInputError
from detectors.page_hinkley import PHCore, make_core, warmup_std

__all__ = ["PHState", "PageHinkleyBank", "advance"]

#: values per vectorised chunk (rows x features): small enough for the arrays to stay in cache
CHUNK_VALUES = 16384
#: rows first tried after a restart; doubled while no detection cuts the group short
FIRST_SPAN = 256


class PHState:
    """Running state of ``n`` Page-Hinkley tests (arrays of length ``n``)."""

    FLOATS = ("s", "sigma", "mu", "mu_min", "md", "md_max", "su", "sd")

    def __init__(self, core: PHCore) -> None:
        n = len(core.thresholds)
        self.j = 0
        self.n = np.zeros(n, dtype=np.int64)
        self.count = np.zeros(n, dtype=np.int64)
        self.buf = np.zeros((core.warmup, n))
        self.pending = np.zeros(n, dtype=bool)
        self.drift = np.zeros(n, dtype=bool)
        for key in self.FLOATS:
            setattr(self, key, np.zeros(n))
        self.sigma = core.ref_std.copy()

    def restart(self, core: PHCore, mask: np.ndarray) -> None:
        """Restart the tests in ``mask``: sums, counts, running mean and (if estimated) sigma."""
        for key in ("s", "mu", "mu_min", "md", "md_max", "su", "sd"):
            getattr(self, key)[mask] = 0.0
        self.n[mask] = 0
        self.count[mask] = 0
        self.sigma[mask] = core.ref_std[mask]
        self.pending[mask] = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: getattr(self, key).tolist() for key in self.FLOATS}
        out["sigma"] = [None if math.isnan(v) else v for v in out["sigma"]]
        out["j"] = self.j
        out["n"] = self.n.tolist()
        out["pending"] = self.pending.tolist()
        out["drift"] = self.drift.tolist()
        out["buffers"] = [self.buf[: c, f].tolist() for f, c in enumerate(self.count)]
        return out

    def from_json(self, data: dict[str, Any]) -> None:
        for key in self.FLOATS:
            values = [math.nan if v is None else v for v in data[key]]
            setattr(self, key, np.asarray(values, dtype=np.float64))
        self.j = int(data["j"])
        self.n = np.asarray(data["n"], dtype=np.int64)
        self.pending = np.asarray(data["pending"], dtype=bool)
        self.drift = np.asarray(data["drift"], dtype=bool)
        self.buf[:] = 0.0
        self.count = np.asarray([len(b) for b in data["buffers"]], dtype=np.int64)
        for f, values in enumerate(data["buffers"]):
            self.buf[: len(values), f] = values


def advance(
    core: PHCore, st: PHState, x: np.ndarray, path: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Consume rows ``x`` (shape ``(L, n)``); return the detections as (rows, features).

    If ``path`` (shape ``(L, n)``, NaN-filled) is given it receives the statistic after every row,
    left NaN
    where a detection was not yet possible (warm-up, ``min_instances``).
    """
    n_rows = len(x)
    rows_out: list[np.ndarray] = []
    feats_out: list[np.ndarray] = []
    chunk_rows = max(64, CHUNK_VALUES // max(1, x.shape[1]))
    # Work computed past a detection is thrown away, so after a restart a feature advances by
    # short spans that double while no detection cuts them short.
    span = np.full(x.shape[1], chunk_rows)
    span[st.pending] = FIRST_SPAN
    r = 0
    while r < n_rows:
        end = min(n_rows, r + chunk_rows)
        if core.block:
            end = min(end, r + core.block - st.j)
        _advance_chunk(core, st, x, r, end, path, rows_out, feats_out, span)
        if core.block:
            st.j += end - r
            if st.j == core.block:
                factor = core.powers[core.block]
                for key in ("mu", "mu_min", "md", "md_max"):
                    setattr(st, key, getattr(st, key) * factor)
                st.j = 0
        r = end
    if not rows_out:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    rows = np.concatenate(rows_out).astype(np.int64)
    feats = np.concatenate(feats_out).astype(np.int64)
    order = np.lexsort((feats, rows))
    return rows[order], feats[order]


def _advance_chunk(
    core: PHCore, st: PHState, x: np.ndarray, r: int, end: int, path: np.ndarray | None,
    rows_out: list[np.ndarray], feats_out: list[np.ndarray], span: np.ndarray,
) -> None:
    """Advance every feature over rows ``[r, end)`` (inside one renormalisation block).

    Features are independent: each runs from its own position until the chunk end, its first
    detection (then it restarts at the next row) or the end of its warm-up, in groups of
    features at the same position.
    """
    pos = np.full(st.n.shape, r)
    while True:
        waiting = pos < end
        if not waiting.any():
            return
        p = int(pos[waiting].min())
        cols = np.flatnonzero(pos == p)
        restart = np.zeros_like(st.pending)
        restart[cols] = st.pending[cols]
        if restart.any():
            st.restart(core, restart)
        warming = np.isnan(st.sigma[cols])
        stop = min(end, p + int(span[cols].min()))
        if warming.any():
            stop = min(stop, p + int((core.warmup - st.count[cols][warming]).min()))
        if warming.all():
            lengths = _warm_group(core, st, x, p, stop, cols)
        else:
            lengths = _advance_group(core, st, x, p, stop, r, cols, warming, path, rows_out,
                                     feats_out)
        pos[cols] = p + lengths
        cut = lengths < stop - p
        span[cols[cut]] = FIRST_SPAN
        span[cols[~cut]] = np.minimum(2 * span[cols[~cut]], len(x))


def _warm_group(
    core: PHCore, st: PHState, x: np.ndarray, p: int, stop: int, cols: np.ndarray
) -> np.ndarray:
    """Warm-up only: running sums, counts and the sigma buffer of ``cols`` over ``[p, stop)``."""
    xc = x[p:stop][:, cols]
    sums = xc.copy()
    sums[0] += st.s[cols]
    np.cumsum(sums, axis=0, out=sums)
    st.s[cols] = sums[-1]
    st.n[cols] += stop - p
    for i, f in enumerate(cols):
        start = st.count[f]
        st.buf[start : start + stop - p, f] = xc[:, i]
        st.count[f] = start + stop - p
        if st.count[f] == core.warmup:
            st.sigma[f] = warmup_std(st.buf[:, f])
    st.drift[cols] = False
    return np.full(len(cols), stop - p)


def _advance_group(
    core: PHCore, st: PHState, x: np.ndarray, p: int, stop: int, r: int, cols: np.ndarray,
    warming: np.ndarray, path: np.ndarray | None, rows_out: list[np.ndarray],
    feats_out: list[np.ndarray],
) -> np.ndarray:
    """Advance features ``cols`` over rows ``[p, stop)``; return how many rows each consumed.

    In-place numpy operations, each the same IEEE operation as the scalar update.
    """
    every = len(cols) == len(st.n)
    xc = x[p:stop] if every else x[p:stop][:, cols]
    n_steps = stop - p
    steps = np.arange(1, n_steps + 1)
    n0 = st.n[cols]
    dev = xc.copy()
    dev[0] += st.s[cols]
    np.cumsum(dev, axis=0, out=dev)  # running sums s
    s_last = dev[-1].copy()
    ref_mean = core.ref_mean[cols]
    running = np.isnan(ref_mean)
    if (n0 == n0[0]).all():
        counts = (n0[0] + steps).astype(np.float64)[:, None]
    else:
        counts = (n0[None] + steps[:, None]).astype(np.float64)
    if running.all():
        np.divide(dev, counts, out=dev)
    else:
        dev = np.where(running, dev / counts, ref_mean)
    np.subtract(xc, dev, out=dev)
    np.divide(dev, st.sigma[cols], out=dev)
    inc_up = dev - core.delta
    inc_down = dev
    np.add(inc_down, core.delta, out=inc_down)
    offset = st.j + (p - r)
    if core.block:
        assert core.powers is not None and core.inverse_powers is not None
        # the position inside the block depends on the row only (every feature sees every row)
        weights = core.inverse_powers[offset + 1 : offset + n_steps + 1][:, None]
        np.multiply(inc_up, weights, out=inc_up)
        np.multiply(inc_down, weights, out=inc_down)
    mu, md = inc_up, inc_down
    mu[0] += st.mu[cols]
    np.cumsum(mu, axis=0, out=mu)
    md[0] += st.md[cols]
    np.cumsum(md, axis=0, out=md)
    su = np.minimum.accumulate(mu, axis=0)
    np.minimum(su, st.mu_min[cols], out=su)
    mu_min = su[-1].copy()
    np.subtract(mu, su, out=su)
    sd = np.maximum.accumulate(md, axis=0)
    np.maximum(sd, st.md_max[cols], out=sd)
    md_max = sd[-1].copy()
    np.subtract(sd, md, out=sd)
    if core.block:
        scale = core.powers[offset + 1 : offset + n_steps + 1][:, None]
        np.multiply(su, scale, out=su)
        np.multiply(sd, scale, out=sd)
    stat = {"up": su, "down": sd, "both": None}[core.direction]
    if stat is None:
        stat = np.maximum(su, sd)
    fire = stat > core.thresholds[cols]
    lengths = np.full(len(cols), n_steps)
    any_fire = bool(fire.any())
    if any_fire or path is not None:
        armed = (steps[:, None] >= core.min_instances - n0) & ~warming
        fire &= armed
        any_fire = bool(fire.any())
    if any_fire and core.reset_on_drift:
        fired = fire.any(axis=0)
        lengths[fired] = np.argmax(fire[:, fired], axis=0) + 1
    if any_fire:
        within = steps[:, None] <= lengths
        hit_rows, hit_k = np.nonzero(fire & within)
        rows_out.append(hit_rows + p)
        feats_out.append(cols[hit_k])
    if path is not None:
        within = steps[:, None] <= lengths
        path[p:stop, cols] = np.where(armed & within, stat, path[p:stop, cols])
    k = np.arange(len(cols))
    last = lengths - 1
    for i in np.flatnonzero(lengths < n_steps):
        # features cut short by a detection: their sums at the detection row, recomputed
        # with the same sequential additions (1-D cumsum) and exact minima / maxima
        column = xc[: lengths[i], i].copy()
        column[0] += st.s[cols[i]]
        s_last[i] = np.cumsum(column)[-1]
        mu_min[i] = min(st.mu_min[cols[i]], mu[: lengths[i], i].min())
        md_max[i] = max(st.md_max[cols[i]], md[: lengths[i], i].max())
    st.s[cols] = s_last
    st.n[cols] = n0 + lengths
    ready = ~warming
    if ready.all():
        dest = cols
        pick = last, k
        pick_tail = k
    else:
        dest = cols[ready]
        pick = last[ready], k[ready]
        pick_tail = k[ready]
    st.mu[dest] = mu[pick]
    st.md[dest] = md[pick]
    st.su[dest] = su[pick]
    st.sd[dest] = sd[pick]
    st.mu_min[dest] = mu_min[pick_tail]
    st.md_max[dest] = md_max[pick_tail]
    for i in np.flatnonzero(warming):
        f, start = cols[i], st.count[cols[i]]
        st.buf[start : start + lengths[i], f] = xc[: lengths[i], i]
        st.count[f] = start + lengths[i]
        if st.count[f] == core.warmup:
            st.sigma[f] = warmup_std(st.buf[:, f])
    st.drift[cols] = fire[last, k]
    if core.reset_on_drift:
        st.pending[cols] = fire[last, k]
    return lengths


class PageHinkleyBank(FeatureBankBase):
    """One two-sided Page-Hinkley test per feature, advanced together (see module docstring).

    Parameters
    ----------
    feature_names
        Names of the features (columns of the rows).
    delta, threshold
        Allowance and threshold in units of each feature's reference standard deviation;
        ``threshold`` may be one value per feature (e.g. from
        :func:`detectors.calibration.calibrate_bank`).
    reference_means, reference_stds
        Optional pinned references, scalars or one value per feature (``None`` entries use the
        running mean / the warm-up estimate for that feature).
    warmup, direction, forgetting, reset_on_drift, min_instances
        As for :class:`detectors.page_hinkley.PageHinkley`, shared by all features.
    """

    name = "page_hinkley_bank"

    def __init__(
        self, feature_names: Sequence[str], *, delta: float = 0.1, threshold: Any = 25.0,
        reference_means: Any = None, reference_stds: Any = None, warmup: int = 30,
        direction: str = "both", forgetting: float = 1.0, reset_on_drift: bool = True,
        min_instances: int = 30,
    ) -> None:
        super().__init__(feature_names)
        self._params: dict[str, Any] = {
            "feature_names": list(self.feature_names), "delta": delta,
            "threshold": np.asarray(threshold, dtype=float).tolist(),
            "reference_means": _jsonable(reference_means),
            "reference_stds": _jsonable(reference_stds), "warmup": warmup,
            "direction": direction, "forgetting": forgetting, "reset_on_drift": reset_on_drift,
            "min_instances": min_instances,
        }
        self._core = make_core(
            self.n_features, delta=delta, threshold=threshold, reference_mean=reference_means,
            reference_std=reference_stds, warmup=warmup, direction=direction,
            forgetting=forgetting, reset_on_drift=reset_on_drift, min_instances=min_instances,
            reference_suffix="s",
        )
        self._state = PHState(self._core)
        self._n_rows = 0
        self._n_detections = np.zeros(self.n_features, dtype=np.int64)

    def get_params(self) -> dict[str, Any]:
        return dict(self._params)

    def update_many(self, rows: Any) -> np.ndarray:
        arr = self._check_rows(rows)
        bad = ~np.isfinite(arr)
        if bad.any():
            row, feature = np.argwhere(bad)[0]
            raise NonFiniteInputError(
                f"{type(self).__name__} received a non-finite value at row {row}, feature "
                f"{self.feature_names[feature]!r}; drop or impute such rows before the bank"
            )
        rows_hit, feats_hit = advance(self._core, self._state, arr)
        self._n_rows += len(arr)
        np.add.at(self._n_detections, feats_hit, 1)
        return np.column_stack([rows_hit, feats_hit]).astype(np.int64).reshape(-1, 2)

    @property
    def drift_detected(self) -> np.ndarray:
        return self._state.drift.copy()

    @property
    def statistics(self) -> dict[str, np.ndarray]:
        st, core = self._state, self._core
        stat = {"up": st.su, "down": st.sd, "both": np.maximum(st.su, st.sd)}[core.direction]
        with np.errstate(invalid="ignore", divide="ignore"):
            running = np.where(st.n > 0, st.s / np.maximum(st.n, 1), np.nan)
        return {
            "statistic": stat.copy(), "statistic_up": st.su.copy(),
            "statistic_down": st.sd.copy(), "threshold": core.thresholds.copy(),
            "mean": np.where(np.isnan(core.ref_mean), running, core.ref_mean),
            "std": st.sigma.copy(),
            "ready": (~np.isnan(st.sigma) & (st.n >= core.min_instances)).astype(float),
            "n_seen": np.full(self.n_features, float(self._n_rows)),
            "n_detections": self._n_detections.astype(float), "drift": st.drift.astype(float),
        }

    def reset(self) -> None:
        self._state = PHState(self._core)
        self._n_rows = 0
        self._n_detections[:] = 0

    def state_dict(self) -> dict[str, Any]:
        return {"detector": self.name, "params": self.get_params(), "n_rows": self._n_rows,
                "n_detections": self._n_detections.tolist(), "state": self._state.to_json()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("detector") != self.name or state.get("params") != self.get_params():
            raise ValueError("state_dict was produced by a bank with other parameters")
        self._n_rows = int(state["n_rows"])
        self._n_detections = np.asarray(state["n_detections"], dtype=np.int64)
        self._state.from_json(state["state"])


def _jsonable(value: Any) -> Any:
    if value is None or np.ndim(value) == 0:
        return None if value is None else float(value)
    return [None if v is None else float(v) for v in np.asarray(value, dtype=object)]
