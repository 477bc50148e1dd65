"""One DDM per error stream (per class, segment or model), advanced together from rows.

Column ``j`` of the rows is the error stream of ``feature_names[j]``; the bank (a
:class:`detectors.bank.DetectorBank` of :class:`detectors.ddm.DDM`) gives exactly the detections
of an independent DDM per column, with the state of every stream in the DDM kernel's arrays and
the rows advanced in vectorised stretches across streams (:mod:`detectors._kernels.ddm`).

References
----------
J. Gama, P. Medas, G. Castillo, P. Rodrigues, "Learning with drift detection", SBIA 2004.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.ddm_bank import DDMBank
>>> rng = np.random.default_rng(3)
>>> rows = (rng.random((3000, 2)) < [0.1, 0.1]).astype(float)
>>> rows[2000:, 1] = rng.random(1000) < 0.5          # the second stream degrades at 2000
>>> bank = DDMBank(["class_a", "class_b"])
>>> hits = bank.update_many(rows)
>>> hits[hits[:, 0] >= 2000].tolist()             # (row, stream) after the change
[[2052, 1]]
"""

from __future__ import annotations

from collections.abc import Sequence

from driftline.detectors.bank import DetectorBank
from driftline.detectors.ddm import DDM

__all__ = ["DDMBank"]


class DDMBank(DetectorBank):
    """Independent DDM tests, one per column (see module docstring).

    Parameters
    ----------
    feature_names
        Names of the error streams (columns of the rows).
    warm_start, warning_threshold, drift_threshold, kind
        As for :class:`detectors.ddm.DDM`, shared by all streams.
    """

    name = "ddm_bank"

    def __init__(
        self, feature_names: Sequence[str], *, warm_start: int = 30,
        warning_threshold: float = 2.0, drift_threshold: float = 3.0, kind: str = "binary",
    ) -> None:
        detector = DDM(warm_start, warning_threshold, drift_threshold, kind=kind)
        super().__init__(feature_names, [detector] * len(feature_names))
