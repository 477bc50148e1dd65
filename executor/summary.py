"""What a local run found, per period (insurance month): detections, accuracy, fallback rate.

:class:`RunSummary` accumulates batch results; :func:`format_summary` renders the report that
``driftline run`` prints: one line per (stream, column, detector) with the first period of
detection, the total and the detections per period, then model quality per period, error
detectors, fallback rate, dead letters and records skipped past. :func:`period_of` names the
period of an event the source gives no period for (the Kafka executor's).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.executor.decoded import DeadLetter
from driftline.executor.outcome import Detection

__all__ = ["MAX_SKIPPED_KEPT", "PeriodStats", "RunSummary", "format_summary", "period_of",
           "periods_of"]

#: how many positions of skipped records a summary keeps
MAX_SKIPPED_KEPT = 100


def period_of(event_id: str) -> str:
    """Summary period of an event id: ``"m07"`` for insurance ids like ``"m07-00042"``, else
    ``"stream"``."""
    head = event_id.split("-", 1)[0]
    return head if len(head) == 3 and head[0] == "m" and head[1:].isdigit() else "stream"


def periods_of(event_ids: Sequence[str]) -> list[str]:
    """:func:`period_of` of every id (a batch of thousands, on the Kafka executor's busiest
    thread). The period depends on the first four characters only -- ``"mNN-"`` or not -- so
    it is computed once per distinct prefix."""
    prefixes = [event_id[:4] for event_id in event_ids]
    known = {prefix: period_of(prefix) for prefix in set(prefixes)}
    return [known[prefix] for prefix in prefixes]


@dataclass
class PeriodStats:
    """Counts of one period."""

    n_events: int = 0
    n_labelled: int = 0
    n_correct: int = 0
    n_fallback: int = 0

    @property
    def accuracy(self) -> float:
        """Accuracy of the served predictions on the labelled events (NaN without labels)."""
        return self.n_correct / self.n_labelled if self.n_labelled else float("nan")

    @property
    def fallback_rate(self) -> float:
        """Fraction of events served by the rule-based fallback."""
        return self.n_fallback / self.n_events if self.n_events else float("nan")


@dataclass
class RunSummary:
    """Accumulated results of a run (see the module docstring)."""

    periods: dict[str, PeriodStats] = field(default_factory=dict)
    detections: dict[tuple[str, str, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter))
    dead_letters: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_at: list[str] = field(default_factory=list)
    n_processed: int = 0
    wall_seconds: float = 0.0
    setup_seconds: float = 0.0
    metrics_url: str | None = None
    pipelines: dict[int, dict[str, int]] = field(default_factory=dict)
    calibration_notes: list[str] = field(default_factory=list)

    def add_batch(self, periods: Sequence[str], predicted: np.ndarray, labels: np.ndarray,
                  used_fallback: np.ndarray) -> None:
        """Count one processed batch (``labels`` -1 where unknown)."""
        names, index = np.unique(np.asarray(periods), return_inverse=True)
        labelled = labels >= 0
        correct = labelled & (predicted == labels)
        for k, name in enumerate(names):
            mask = index == k
            stats = self.periods.setdefault(str(name), PeriodStats())
            stats.n_events += int(mask.sum())
            stats.n_labelled += int(labelled[mask].sum())
            stats.n_correct += int(correct[mask].sum())
            stats.n_fallback += int(used_fallback[mask].sum())
        self.n_processed += len(predicted)

    def add_detection(self, detection: Detection, period: str) -> None:
        """Count one detection in ``period``."""
        key = (detection.stream, detection.feature, detection.detector)
        self.detections[key][period] += 1

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Count dead letters by reason."""
        for letter in letters:
            self.dead_letters[letter.reason] += 1

    def add_skipped(self, reason: str, where: str) -> None:
        """Count one record skipped past for ``reason``; ``where`` (``topic/partition@offset``)
        is kept for the first :data:`MAX_SKIPPED_KEPT` of them."""
        self.skipped[reason] += 1
        if len(self.skipped_at) < MAX_SKIPPED_KEPT:
            self.skipped_at.append(where)

    def first_detection(self, stream: str, feature: str, detector: str) -> str | None:
        """The first period (in run order) with a detection, else ``None``."""
        counts = self.detections.get((stream, feature, detector), Counter())
        return next((p for p in self.periods if counts[p]), None)

    def flagged(self, stream: str, feature: str) -> bool:
        """Whether any detector detected drift on ``feature`` of ``stream``."""
        return any(sum(c.values()) for (s, f, _), c in self.detections.items()
                   if s == stream and f == feature)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "n_processed": self.n_processed,
            "wall_seconds": self.wall_seconds,
            "periods": {p: vars(s) for p, s in self.periods.items()},
            "detections": {"/".join(k): dict(c) for k, c in self.detections.items()},
            "dead_letters": dict(self.dead_letters),
            "skipped": dict(self.skipped),
            "skipped_at": list(self.skipped_at),
        }


def _short(period: str) -> str:
    return period[1:] if period.startswith("m") and period[1:].isdigit() else period


def format_summary(summary: RunSummary, feature_names: Sequence[str]) -> str:
    """The report printed at the end of a run."""
    periods = list(summary.periods)
    lines = [
        f"driftline run: {summary.n_processed} events processed in {summary.wall_seconds:.1f} s "
        f"(detector set-up and calibration {summary.setup_seconds:.1f} s, "
        f"{summary.n_processed / max(summary.wall_seconds, 1e-9):.0f} events/s overall)",
    ]
    width = max(3, *(len(_short(p)) for p in periods)) if periods else 3
    keys = sorted(summary.detections, key=lambda k: (
        ["inputs", "predictions", "errors"].index(k[0]) if k[0] in
        ("inputs", "predictions", "errors") else 9,
        list(feature_names).index(k[1]) if k[1] in feature_names else 99, k[1], k[2]))
    stream_width = max([12] + [len(k[0]) + 1 for k in keys])
    column_width = max([18] + [len(k[1]) + 1 for k in keys])
    header = (f"{'stream':<{stream_width}}{'column':<{column_width}}{'detector':<15}"
              f"{'first':>7}{'total':>7}  " + " ".join(f"{_short(p):>{width}}" for p in periods))
    lines += ["", "Drift detections per period (first = first period with a detection):",
              header, "-" * len(header)]
    for stream, feature, detector in keys:
        counts = summary.detections[(stream, feature, detector)]
        first = summary.first_detection(stream, feature, detector)
        cells = " ".join(f"{counts[p] or '.':>{width}}" for p in periods)
        lines.append(f"{stream:<{stream_width}}{feature or '(all)':<{column_width}}{detector:<15}"
                     f"{_short(first) if first else '-':>7}{sum(counts.values()):>7}  {cells}")
    lines += ["", "Input features: drift flagged / not flagged"]
    for name in feature_names:
        verdict = "DRIFT" if summary.flagged("inputs", name) else "stable"
        firsts = [f"{d}@{_short(p)}" for (s, f, d) in keys if s == "inputs" and f == name
                  for p in [summary.first_detection(s, f, d)] if p]
        lines.append(f"  {name:<20}{verdict:<8}{', '.join(firsts)}")
    lines += ["", "Model quality per period (labels joined inline):",
              f"{'period':>8}{'events':>8}{'accuracy':>10}{'fallback':>10}"]
    for period, stats in summary.periods.items():
        lines.append(f"{_short(period):>8}{stats.n_events:>8}{stats.accuracy:>10.3f}"
                     f"{stats.fallback_rate:>10.3f}")
    total = PeriodStats()
    for stats in summary.periods.values():
        total.n_events += stats.n_events
        total.n_labelled += stats.n_labelled
        total.n_correct += stats.n_correct
        total.n_fallback += stats.n_fallback
    lines.append(f"{'all':>8}{total.n_events:>8}{total.accuracy:>10.3f}"
                 f"{total.fallback_rate:>10.3f}")
    errors = [(d, summary.first_detection(s, f, d), sum(c.values()))
              for (s, f, d), c in summary.detections.items() if s == "errors"]
    lines += ["", "Error-rate detectors: " + (", ".join(
        f"{d} {n} detections (first {_short(p) if p else '-'})" for d, p, n in sorted(errors))
        or "no detections")]
    lines += [f"  note: {note}" for note in summary.calibration_notes]
    lines.append(f"Fallback rate: {total.fallback_rate:.3f} "
                 f"({total.n_fallback} of {total.n_events} events)")
    n_dead = sum(summary.dead_letters.values())
    reasons = ", ".join(f"{r}={n}" for r, n in sorted(summary.dead_letters.items()))
    lines.append(f"Dead letters: {n_dead}" + (f" ({reasons})" if reasons else ""))
    if summary.skipped:
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(summary.skipped.items()))
        lines.append(f"Records skipped past: {sum(summary.skipped.values())} ({reasons}) at "
                     + ", ".join(summary.skipped_at[:10])
                     + (" ..." if sum(summary.skipped.values()) > 10 else ""))
    if summary.metrics_url:
        lines.append(f"Metrics were served at {summary.metrics_url}")
    return "\n".join(lines)
