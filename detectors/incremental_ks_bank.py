"""Bank of incremental KS detectors with the multiple-testing correction vectorised over rows.

:class:`IncrementalKSBank` is a :class:`detectors.bank.DetectorBank` of
:class:`detectors.incremental_ks.IncrementalKS` detectors (dos Reis et al., KDD 2016) built from
per-feature reference samples, with the semantics of :mod:`detectors.bank`. The Incremental-KS
kernel advances every feature with the exact vectorised KS path; with a correction it computes
the statistics of every feature for a block of rows at once, corrects the p-values of all rows
in one call, and only recomputes the features that were reset after a detection
(:mod:`detectors._kernels.incremental_ks_corrected`).

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.incremental_ks_bank import IncrementalKSBank
>>> rng = np.random.default_rng(0)
>>> bank = IncrementalKSBank([f"x{j}" for j in range(20)], rng.normal(size=(500, 20)),
...                          window_size=200, alpha=0.01, correction="bonferroni")
>>> rows = rng.normal(size=(2000, 20))
>>> rows[1000:, 7] += 1.0
>>> hits = bank.update_many(rows)
>>> sorted(set(hits[:, 1].tolist())), bool(hits[0, 0] >= 1000)
([7], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from driftline.detectors.bank import DetectorBank
from driftline.detectors.base import check_int
from driftline.detectors.incremental_ks import IncrementalKS

__all__ = ["IncrementalKSBank"]


class IncrementalKSBank(DetectorBank):
    """One :class:`~detectors.incremental_ks.IncrementalKS` per feature (see module docstring).

    Parameters
    ----------
    feature_names : sequence of str
        Names of the columns, in order.
    references : array-like
        Reference samples: a 2-D array ``(n_ref, n_features)`` (one column per feature) or a
        sequence of 1-D samples (sizes may differ).
    window_size, seed :
        As in :class:`~detectors.incremental_ks.IncrementalKS`.
    alpha : float
        Level of each feature's test without correction; family level with one.
    correction : {None, "bonferroni", "bh"}
        Multiple-testing correction across features at each row.
    reset_on_drift : bool
        Empty a feature's window after it is detected.
    min_effect, effect_window :
        Minimum KS distance to report a detection, and the values it is measured on
        (:class:`detectors.bank.DetectorBank`).

    Non-finite values raise :class:`~detectors.base.NonFiniteInputError`.
    """

    name = "incremental_ks_bank"

    def __init__(
        self,
        feature_names: Sequence[str],
        references: Any,
        *,
        window_size: int = 500,
        alpha: float = 0.005,
        correction: str | None = None,
        reset_on_drift: bool = True,
        seed: int = 0,
        min_effect: Any = None,
        effect_window: int | None = None,
    ) -> None:
        if isinstance(references, np.ndarray) and references.ndim == 2:
            refs = [references[:, j] for j in range(references.shape[1])]
        else:
            refs = list(references)
        window_size = check_int("window_size", window_size, low=1)
        own_reset = bool(reset_on_drift) if correction is None else False
        detectors = [
            IncrementalKS(ref, window_size=window_size, alpha=alpha,
                          reset_on_drift=own_reset, seed=seed)
            for ref in refs
        ]
        super().__init__(feature_names, detectors, correction=correction, alpha=alpha,
                         reset_on_drift=reset_on_drift, min_effect=min_effect,
                         effect_window=effect_window)
