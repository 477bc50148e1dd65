"""Detection-quality metrics for change detectors on streams with known change points.

Matching rule. Change ``i`` at index ``c_i`` owns the *attribution window*
``[c_i, min(c_i + tolerance, c_{i+1}, length))`` (``tolerance=None``: up to the next change or the
end of the stream). The first detection inside its window detects change ``i``; its delay is
``detection - c_i`` (0 when the detector fires on the change itself). A change with no detection
in its window is *missed*. Further detections inside a window are *duplicates*: attributable to
the change, so not false alarms, but they do lower precision. Every detection outside all
windows (before the first change, or after a window ended) is a *false alarm*.

Metrics (Bifet, Read, Pfahringer, Holmes & Žliobaitė, "CD-MOA: Change Detection Framework for
Massive Online Analysis", IDA 2013):

* MTD, mean time to detection: mean delay over detected changes;
* MDR, missed detection rate: missed changes / changes;
* MTFA, mean time between false alarms, estimated as *exposure / false alarms*, where the
  exposure is the number of samples outside every attribution window (the samples on which a
  detection can only be false); ``inf`` without false alarms;
* MTR, mean time ratio: ``MTR = MTFA / MTD × (1 − MDR)`` — larger is better;
* false alarms per 10,000 samples of exposure (``1e4 / MTFA``);
* precision = detected changes / detections, recall = detected changes / changes.

Example
-------
>>> from driftline.evaluation.metrics import evaluate_detections
>>> r = evaluate_detections([120, 530, 900], change_points=[500], length=1000, tolerance=200)
>>> r.delays, r.n_false_alarms, r.missed_detection_rate
((30,), 2, 0.0)
>>> round(r.false_alarms_per_10k, 3)  # 2 false alarms over 1000 - 200 exposed samples
25.0
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from driftline.detectors.base import check_int

__all__ = ["DetectionReport", "evaluate_detections", "mean_time_ratio", "summarize_reports"]


@dataclass(frozen=True)
class DetectionReport:
    """Outcome of matching detections to the true change points of one stream.

    ``delays[i]`` is the delay of change ``i`` or ``None`` when it was missed.
    """

    length: int
    change_points: tuple[int, ...]
    detections: tuple[int, ...]
    tolerance: int | None
    delays: tuple[int | None, ...]
    n_false_alarms: int
    n_duplicates: int
    exposure: int

    @property
    def n_changes(self) -> int:
        return len(self.change_points)

    @property
    def n_detected(self) -> int:
        return sum(d is not None for d in self.delays)

    @property
    def n_missed(self) -> int:
        return self.n_changes - self.n_detected

    @property
    def missed_detection_rate(self) -> float:
        """MDR; ``nan`` for a stream without changes."""
        return self.n_missed / self.n_changes if self.n_changes else math.nan

    @property
    def mean_delay(self) -> float:
        """MTD over detected changes; ``nan`` when none was detected."""
        found = [d for d in self.delays if d is not None]
        return float(np.mean(found)) if found else math.nan

    @property
    def false_alarms_per_10k(self) -> float:
        """False alarms per 10,000 exposed samples; ``nan`` without exposure."""
        return 1e4 * self.n_false_alarms / self.exposure if self.exposure else math.nan

    @property
    def mtfa(self) -> float:
        """Mean time between false alarms (exposure / false alarms); ``inf`` without any."""
        if self.n_false_alarms == 0:
            return math.inf if self.exposure else math.nan
        return self.exposure / self.n_false_alarms

    @property
    def mtr(self) -> float:
        """Mean time ratio of Bifet et al. (2013): ``MTFA / MTD × (1 − MDR)``."""
        return mean_time_ratio(self.mtfa, self.mean_delay, self.missed_detection_rate)

    @property
    def precision(self) -> float:
        """Detected changes / detections; ``nan`` without detections."""
        n = len(self.detections)
        return self.n_detected / n if n else math.nan

    @property
    def recall(self) -> float:
        """Detected changes / changes (``1 - MDR``); ``nan`` for a stream without changes."""
        return self.n_detected / self.n_changes if self.n_changes else math.nan

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of the fields and the derived metrics (for JSON output)."""
        out = asdict(self)
        for key in ("n_changes", "n_detected", "n_missed", "missed_detection_rate",
                    "mean_delay", "false_alarms_per_10k", "mtfa", "mtr", "precision", "recall"):
            out[key] = getattr(self, key)
        return out


def mean_time_ratio(mtfa: float, mtd: float, mdr: float) -> float:
    """``MTR = MTFA / MTD × (1 − MDR)`` (Bifet et al., IDA 2013).

    Every change missed gives 0; a zero MTD (detections on the change itself) gives ``inf``.
    """
    if mdr >= 1.0:
        return 0.0
    if any(math.isnan(v) for v in (mtfa, mtd, mdr)):
        return math.nan
    if mtd == 0.0:
        return math.inf
    return mtfa / mtd * (1.0 - mdr)


def _check_detections(detections: Iterable[Any], length: int) -> np.ndarray:
    arr = np.asarray(list(detections), dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"detections must be a 1-D sequence of indices, got shape {arr.shape}")
    if arr.size and (not np.all(arr == np.floor(arr)) or arr.min() < 0 or arr.max() >= length):
        raise ValueError(f"detections must be integer indices in [0, {length}), got {arr.tolist()}")
    out = np.sort(arr.astype(np.int64))
    if np.any(np.diff(out) == 0):
        raise ValueError("detections must not repeat an index")
    return out


def evaluate_detections(
    detections: Iterable[int],
    change_points: Sequence[int],
    length: int,
    *,
    tolerance: int | None = None,
) -> DetectionReport:
    """Match ``detections`` (stream indices) to ``change_points`` (see module docstring).

    Parameters
    ----------
    detections : iterable of int
        Indices at which the detector signalled drift, each in ``[0, length)``.
    change_points : sequence of int
        True change points, strictly increasing, each in ``[0, length)``.
    length : int
        Stream length.
    tolerance : int or None
        Length of each change's attribution window; ``None`` means up to the next change.
    """
    length = check_int("length", length, low=1)
    if tolerance is not None:
        tolerance = check_int("tolerance", tolerance, low=1)
    changes = [check_int("change_points", c, low=0, high=length - 1) for c in change_points]
    if any(b <= a for a, b in itertools.pairwise(changes)):
        raise ValueError(f"change_points must be strictly increasing, got {changes}")
    fired = _check_detections(detections, length)

    delays: list[int | None] = []
    attributed = np.zeros(len(fired), dtype=bool)
    covered = 0
    for i, start in enumerate(changes):
        stop = changes[i + 1] if i + 1 < len(changes) else length
        if tolerance is not None:
            stop = min(stop, start + tolerance)
        covered += stop - start
        lo, hi = np.searchsorted(fired, [start, stop], side="left")
        attributed[lo:hi] = True
        delays.append(int(fired[lo] - start) if hi > lo else None)
    n_detected = sum(d is not None for d in delays)
    n_attributed = int(attributed.sum())
    return DetectionReport(
        length=length,
        change_points=tuple(changes),
        detections=tuple(int(d) for d in fired),
        tolerance=tolerance,
        delays=tuple(delays),
        n_false_alarms=len(fired) - n_attributed,
        n_duplicates=n_attributed - n_detected,
        exposure=length - covered,
    )


def summarize_reports(reports: Sequence[DetectionReport]) -> dict[str, float]:
    """Pool several runs (e.g. seeds): delays and counts are pooled, not averaged per run.

    Returns ``mean_delay``, ``missed_rate``, ``false_alarms_per_10k``, ``mtfa``, ``mtr``,
    ``precision``, ``recall``, ``n_changes``, ``n_false_alarms``, ``exposure`` and ``n_runs``.
    """
    if not reports:
        raise ValueError("reports must hold at least one DetectionReport")
    delays = [d for r in reports for d in r.delays if d is not None]
    n_changes = sum(r.n_changes for r in reports)
    n_detected = len(delays)
    n_fa = sum(r.n_false_alarms for r in reports)
    exposure = sum(r.exposure for r in reports)
    n_detections = sum(len(r.detections) for r in reports)
    mtd = float(np.mean(delays)) if delays else math.nan
    mdr = (n_changes - n_detected) / n_changes if n_changes else math.nan
    mtfa = math.nan if exposure == 0 else exposure / n_fa if n_fa else math.inf
    return {
        "n_runs": float(len(reports)),
        "n_changes": float(n_changes),
        "mean_delay": mtd,
        "missed_rate": mdr,
        "n_false_alarms": float(n_fa),
        "exposure": float(exposure),
        "false_alarms_per_10k": 1e4 * n_fa / exposure if exposure else math.nan,
        "mtfa": mtfa,
        "mtr": mean_time_ratio(mtfa, mtd, mdr),
        "precision": n_detected / n_detections if n_detections else math.nan,
        "recall": n_detected / n_changes if n_changes else math.nan,
    }
