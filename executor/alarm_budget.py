"""A run's false-alarm budget in time as every detector series' target ARL0.

The ``alarms:`` section (:class:`executor.alarms_config.AlarmsConfig`) says how many false pages
per period are acceptable at an event rate. Every detector entry with an alarm parameter is an
:class:`AlarmEntry`: a detector on a stream, watching ``columns`` columns (a per-column bank:
one alarm source per column; a detector of a whole stream: one), at the rate of its stream
(error detectors only see labelled events). :func:`plan_alarms` splits the budget over the
alarm sources with :func:`detectors.calibration.split_budget` (equal expected false alarms per
source, union bound), so that

    column ARL0 = rate x period x (total sources) / false_pages,   family ARL0 = column / k

and the expected false pages of all entries add up to the budget. The family ARL0 is what a
bank's calibration takes (:func:`detectors.calibration.calibrate_columns` gives each of its
``k`` columns ``k`` times it).

Example
-------
>>> from driftline.executor.alarms_config import AlarmsConfig
>>> from driftline.executor.alarm_budget import AlarmEntry, plan_alarms
>>> alarms = AlarmsConfig(false_pages=1, per="30d", event_rate_per_s=1000)
>>> plan = plan_alarms(alarms, [AlarmEntry("features", "page_hinkley", 5),
...                             AlarmEntry("features", "nm_ddm", 1)])
>>> row = plan.row("features", "page_hinkley")
>>> f"{row.column_arl0:.4g} {row.family_arl0:.4g} {row.expected_false_pages:.4g}"
'1.555e+10 3.11e+09 0.8333'
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from driftline.detectors.calibration import split_budget
from driftline.executor.alarms_config import AlarmsConfig
from driftline.executor.detector_streams import STREAMS
from driftline.executor.detectors_config import DetectorsConfig, detector_series

__all__ = ["AlarmEntry", "AlarmPlan", "PlannedTarget", "announce_targets", "budget_detectors",
           "plan_alarms", "series_targets"]

_log = logging.getLogger("driftline.alarms")

#: streams whose detectors see only labelled events
LABELLED_STREAMS = frozenset({"errors"})


@dataclass(frozen=True)
class AlarmEntry:
    """A detector with an alarm parameter on ``stream``, watching ``columns`` alarm sources
    (one per column of a bank, 1 for a whole-stream detector)."""

    stream: str
    detector: str
    columns: int

    @property
    def key(self) -> str:
        """``stream/detector`` (a detector runs at most once per stream)."""
        return f"{self.stream}/{self.detector}"


@dataclass(frozen=True)
class PlannedTarget:
    """An entry's share of the budget: its target ARL0s and expected false pages per period."""

    entry: AlarmEntry
    events_per_s: float
    column_arl0: float
    family_arl0: float
    expected_false_pages: float


@dataclass(frozen=True)
class AlarmPlan:
    """The budget split over the entries, at the event rate ``events_per_s``."""

    alarms: AlarmsConfig
    events_per_s: float
    rows: tuple[PlannedTarget, ...]

    def row(self, stream: str, detector: str) -> PlannedTarget:
        """The planned target of one entry; ``KeyError`` when it has none."""
        for planned in self.rows:
            if (planned.entry.stream, planned.entry.detector) == (stream, detector):
                return planned
        raise KeyError(f"no alarm budget for detector {detector!r} on stream {stream!r}")

    @property
    def expected_false_pages(self) -> float:
        """Sum over the entries (the budget's ``false_pages`` up to rounding)."""
        return sum(planned.expected_false_pages for planned in self.rows)

    def describe(self) -> list[str]:
        """The plan as log lines: the budget, then one line per entry."""
        lines = [f"alarm budget: {self.alarms.false_pages:g} false page(s) per "
                 f"{self.alarms.per} at {self.events_per_s:g} events/s, "
                 f"{sum(p.entry.columns for p in self.rows)} alarm sources"]
        for p in self.rows:
            lines.append(f"  {p.entry.key}: {p.entry.columns} source(s) at "
                         f"{p.events_per_s:g}/s, ARL0 {p.column_arl0:.3g} rows per source, "
                         f"{p.family_arl0:.3g} for the entry, "
                         f"{p.expected_false_pages:.3g} false pages per {self.alarms.per}")
        return lines

    def log(self) -> None:
        """Write :meth:`describe` to the ``driftline.alarms`` log (INFO)."""
        for line in self.describe():
            _log.info(line)


def plan_alarms(alarms: AlarmsConfig, entries: Sequence[AlarmEntry],
                events_per_s: float | None = None) -> AlarmPlan:
    """Split ``alarms``' budget over ``entries`` at ``events_per_s`` (default: the configured
    rate)."""
    if not entries:
        raise ValueError("no detector entry with an alarm parameter to budget")
    keys = [entry.key for entry in entries]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise ValueError(f"alarm entries must be unique, got {duplicated} more than once")
    rate = alarms.event_rate_per_s if events_per_s is None else float(events_per_s)
    rates = {entry.key: rate * alarms.labelled_fraction
             for entry in entries if entry.stream in LABELLED_STREAMS}
    shares = split_budget(alarms.false_pages, alarms.period_s, rate,
                          {entry.key: entry.columns for entry in entries}, rates=rates)
    rows = tuple(PlannedTarget(entry, rates.get(entry.key, rate), shares[entry.key].column_arl0,
                               shares[entry.key].family_arl0,
                               shares[entry.key].expected_false_pages) for entry in entries)
    return AlarmPlan(alarms, rate, rows)


def budget_detectors(detectors: DetectorsConfig, alarms: AlarmsConfig,
                     columns: Mapping[str, Sequence[str]], active: Collection[str],
                     events_per_s: float | None = None) -> tuple[DetectorsConfig, AlarmPlan]:
    """``detectors`` with the ``target_arl0`` of every calibrated entry on the ``active``
    streams (per-column streams with ``columns``) replaced by its share of ``alarms``, and the
    plan. Every entry counts one alarm source per series, whatever its detector or stream;
    entries whose ``params`` set the alarm parameter are left as they are (outside the
    budget: their rate is not known)."""
    series = [s for s in detector_series(detectors, columns) if s.stream in active]
    counts = Counter((s.stream, s.detector) for s in series)
    calibrated = {(name, entry.detector) for name in STREAMS
                  for entry in detectors.streams.entries(name) if not entry.configured}
    entries = [AlarmEntry(stream, detector, n) for (stream, detector), n in counts.items()
               if (stream, detector) in calibrated]
    plan = plan_alarms(alarms, entries, events_per_s)
    updated = {}
    for name in STREAMS:
        updated[name] = [
            entry.model_copy(update={"target_arl0": plan.row(name, entry.detector).family_arl0})
            if (name, entry.detector) in counts and (name, entry.detector) in calibrated
            else entry for entry in detectors.streams.entries(name)]
    streams = detectors.streams.model_copy(update=updated)
    return detectors.model_copy(update={"streams": streams}), plan


def series_targets(detectors: DetectorsConfig, columns: Mapping[str, Sequence[str]],
                   active: Collection[str]) -> list[tuple[str, str, str, float]]:
    """``(detector, exported stream, feature, target ARL0)`` of every series on the ``active``
    streams: an entry's ``target_arl0`` is for its series together, so each of its ``k``
    series is calibrated to ``k`` times it (one alarm source each)."""
    series = [s for s in detector_series(detectors, columns) if s.stream in active]
    counts = Counter((s.stream, s.detector) for s in series)
    return [(s.detector, STREAMS[s.stream].exported, s.feature,
             s.target_arl0 * counts[s.stream, s.detector]) for s in series]


def announce_targets(pipeline: Any, exporter: Any | None) -> None:
    """Log ``pipeline``'s alarm plan (if its run has a budget) and export every series'
    target ARL0 (``driftline_detector_target_arl0``) and the planned event rate
    (``driftline_alarm_budget_events_per_second``, checked by the alert
    ``DriftlineEventRateAboveBudget``) on ``exporter``."""
    plan = getattr(pipeline, "alarm_plan", None)
    if plan is not None:
        plan.log()
        if exporter is not None:
            exporter.set_alarm_budget_rate(plan.events_per_s)
    if exporter is not None:
        for detector, stream, feature, arl0 in pipeline.series_targets():
            exporter.set_target_arl0(detector, stream, feature, arl0)
