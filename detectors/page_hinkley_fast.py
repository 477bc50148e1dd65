"""Fast path of the Page-Hinkley kernel: whole batches without forgetting, armed tests first.

:func:`advance_steady` is what :func:`detectors.page_hinkley_kernel.advance` runs when there is
no forgetting factor and no statistic path is requested. Tests whose sigma is known (pinned, or
estimated by an earlier warm-up) are advanced over the whole batch (up to ``CHUNK_VALUES``
values at a time) in one pass (:func:`_steady_pass`): running sums with ``np.cumsum``,
running extrema with ``np.minimum.accumulate``, all in reusable work arrays (fresh arrays of
that size would be mapped, and page-faulted, anew on every pass). A test that fires is cut
there; the tests cut short restart at their next row and share the next pass, each masked
before its own row. Tests still warming up (and restarted tests that must warm up again) go
through the general masked passes of :mod:`detectors.page_hinkley_kernel`.

Every operation is the same IEEE operation, in the same order, as the per-value update of
:class:`detectors.page_hinkley.PageHinkley`, so results are bit for bit those of the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from driftline.detectors._workspace import shared_workspace
from driftline.detectors.bank_base import sorted_hits

if TYPE_CHECKING:
    from driftline.detectors.page_hinkley import PHCore
    from driftline.detectors.page_hinkley_kernel import PHState

__all__ = ["advance_steady"]

#: values per chunk of rows (rows x tests): bounds the shared work arrays
CHUNK_VALUES = 65536

General = Callable[["PHCore", "PHState", np.ndarray, np.ndarray],
                   tuple[np.ndarray, np.ndarray]]


def advance_steady(
    core: PHCore, st: PHState, x: np.ndarray, general: General
) -> tuple[np.ndarray, np.ndarray]:
    """Consume rows ``x`` (shape ``(L, n)``, ``core.block == 0``); detections as (rows, tests).

    ``general(core, st, x, start)`` advances the tests from row ``start[k]`` (``L``: not at all)
    through the general masked passes and returns their detections.
    """
    n_rows, n = x.shape
    rows_out: list[np.ndarray] = []
    tests_out: list[np.ndarray] = []
    chunk_rows = max(64, CHUNK_VALUES // max(1, n))
    for r in range(0, n_rows, chunk_rows):
        xr = x[r : r + chunk_rows]
        rows_r: list[np.ndarray] = []
        tests_r: list[np.ndarray] = []
        slow = _advance_rows(core, st, xr, rows_r, tests_r)
        if (slow < len(xr)).any():
            rows, tests = general(core, st, xr, slow)
            rows_r.append(rows)
            tests_r.append(tests)
        rows_out += [rows + r for rows in rows_r]
        tests_out += tests_r
    return sorted_hits(rows_out, tests_out)


def _advance_rows(
    core: PHCore, st: PHState, x: np.ndarray, rows_out: list[np.ndarray],
    tests_out: list[np.ndarray],
) -> np.ndarray:
    """Steady passes over rows ``x``; return the row where each test must go the general way.

    ``len(x)`` for the tests that the steady passes took to the end.
    """
    n_rows, n = x.shape
    pos = np.zeros(n, dtype=np.int64)
    slow = np.full(n, n_rows, dtype=np.int64)
    cols = np.arange(n)
    p = 0
    while len(cols):
        if st.pending[cols].any():
            mask = np.zeros(n, dtype=bool)
            mask[cols] = st.pending[cols]
            st.restart(core, mask)
        ready = ~np.isnan(st.sigma[cols])
        if not ready.all():
            slow[cols[~ready]] = pos[cols[~ready]]
            pos[cols[~ready]] = n_rows
            cols = cols[ready]
        if len(cols):
            offset = pos[cols] - p
            pos[cols] += _steady_pass(core, st, x, p, cols, offset, rows_out, tests_out)
        # tests cut short by a detection restart at the next row; they share the next pass,
        # each masked before its own row
        waiting = np.flatnonzero(pos < n_rows)
        if len(waiting) == 0:
            break
        p = int(pos[waiting].min())
        cols = waiting
    return slow


def _steady_pass(
    core: PHCore, st: PHState, x: np.ndarray, p: int, cols: np.ndarray, offset: np.ndarray,
    rows_out: list[np.ndarray], tests_out: list[np.ndarray],
) -> np.ndarray:
    """Advance tests ``cols`` (sigma known, not pending) over rows ``[p + offset, L)``.

    A test with ``offset > 0`` was just restarted (its sums are all ``0.0``); its rows before
    ``p + offset`` are masked (zero increments leave the fresh sums exactly at ``0.0``). Returns
    the rows consumed by each (up to its first detection when ``reset_on_drift``).
    """
    every = len(cols) == len(st.n)
    sel = slice(None) if every else cols  # a slice indexes the state faster than all columns
    xc = x[p:] if every else x[p:, cols]
    n_steps, k = xc.shape
    work = shared_workspace()
    n0 = st.n[sel]
    ref_mean = core.ref_mean[sel]
    running = np.isnan(ref_mean)
    shifted = bool(offset.any())
    before = np.arange(n_steps)[:, None] < offset if shifted else None
    dev = work.get("dev", n_steps, k)
    s = None
    if running.any():
        s = work.get("s", n_steps, k)
        np.copyto(s, xc)
        if before is not None:
            np.copyto(s, 0.0, where=before)
        s[0] += st.s[sel]
        np.cumsum(s, axis=0, out=s)  # running sums of the values, only for the running mean
        counts = (n0 - offset + np.arange(1, n_steps + 1)[:, None]).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(s, counts, out=dev)
        np.copyto(dev, ref_mean, where=~running)
        np.subtract(xc, dev, out=dev)
    else:
        np.subtract(xc, ref_mean, out=dev)
    np.divide(dev, st.sigma[sel], out=dev)
    mu = np.subtract(dev, core.delta, out=work.get("mu", n_steps, k))
    md = np.add(dev, core.delta, out=dev)
    if before is not None:
        np.copyto(mu, 0.0, where=before)
        np.copyto(md, 0.0, where=before)
    mu[0] += st.mu[sel]
    np.cumsum(mu, axis=0, out=mu)
    md[0] += st.md[sel]
    np.cumsum(md, axis=0, out=md)
    # running extrema, then the statistic of each side (the same operations as the scalar)
    # the stored extrema enter through row 0, restored afterwards (extrema are exact)
    row0 = mu[0].copy()
    np.minimum(row0, st.mu_min[sel], out=mu[0])
    run_min = np.minimum.accumulate(mu, axis=0, out=work.get("run_min", n_steps, k))
    mu[0] = row0
    row0 = md[0].copy()
    np.maximum(row0, st.md_max[sel], out=md[0])
    run_max = np.maximum.accumulate(md, axis=0, out=work.get("run_max", n_steps, k))
    md[0] = row0
    su = np.subtract(mu, run_min, out=work.get("su", n_steps, k))
    sd = np.subtract(run_max, md, out=work.get("sd", n_steps, k))
    if core.direction == "both":
        stat = np.maximum(su, sd, out=work.get("stat", n_steps, k))
    else:
        stat = su if core.direction == "up" else sd
    fire = stat > core.thresholds[sel]
    # rows before min_instances values since the restart cannot fire
    unarmed = core.min_instances - n0 + offset - 1
    if (unarmed > 0).any():
        fire &= np.arange(n_steps)[:, None] >= unarmed
    last = np.full(k, n_steps - 1)
    if fire.any():
        fired = fire.any(axis=0)
        if core.reset_on_drift:
            last[fired] = np.argmax(fire[:, fired], axis=0)
            hit = np.flatnonzero(fired)
            rows_out.append(last[hit] + p)
            tests_out.append(cols[hit])
        else:
            hit_rows, hit_k = np.nonzero(fire)
            rows_out.append(hit_rows + p)
            tests_out.append(cols[hit_k])
    pick = last, np.arange(k)
    if s is not None:
        st.s[sel] = np.where(running, s[pick], st.s[sel])
    st.n[sel] = n0 + last + 1 - offset
    st.mu[sel] = mu[pick]
    st.md[sel] = md[pick]
    st.mu_min[sel] = run_min[pick]
    st.md_max[sel] = run_max[pick]
    st.su[sel] = su[pick]
    st.sd[sel] = sd[pick]
    drift = fire[pick]
    st.drift[sel] = drift
    if core.reset_on_drift:
        st.pending[sel] = drift
    return last + 1 - offset
