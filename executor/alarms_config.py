"""The ``alarms:`` section of a run config: the false-alarm budget in time.

Operators state how many false pages they accept per period at the expected event rate;
:mod:`executor.alarm_budget` turns that into every detector series' target ARL0 (rows).

Example
-------
>>> from driftline.executor.alarms_config import AlarmsConfig
>>> alarms = AlarmsConfig(false_pages=1, per="30d", event_rate_per_s=1000)
>>> alarms.period_s, alarms.period_rows
(2592000.0, 2592000000.0)
>>> AlarmsConfig(false_pages=2, per="1w", event_rate_per_s=10).period_s
604800.0
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from driftline.configs import ConfigModel, key_error

__all__ = ["AlarmsConfig", "parse_duration"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``"30d"``, ``"1w"``, ``"12h"``, ``"90m"``, ``"3600s"``; ``ValueError``
    otherwise.

    >>> parse_duration("30d"), parse_duration("1.5h")
    (2592000.0, 5400.0)
    """
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"expected a duration such as 30d, 1w, 12h, 90m or 3600s, got {text!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds > 0:
        raise ValueError(f"must be a positive duration, got {text!r}")
    return seconds


class AlarmsConfig(ConfigModel):
    """``false_pages`` expected false pages per ``per`` (a duration: ``30d``, ``1w``, ``12h``)
    at ``event_rate_per_s`` events per second, split over every detector series
    (:mod:`executor.alarm_budget`). When set, it replaces the ``target_arl0`` of every detector
    entry that has an alarm parameter.

    ``labelled_fraction``: the share of events whose label reaches the error detectors (they
    see ``labelled_fraction * event_rate_per_s`` events per second).
    """

    false_pages: float = Field(1.0, gt=0.0)
    per: str = "30d"
    event_rate_per_s: float = Field(1000.0, gt=0.0)
    labelled_fraction: float = Field(1.0, gt=0.0, le=1.0)

    @field_validator("per")
    @classmethod
    def _check_per(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> AlarmsConfig:
        if self.period_rows / self.false_pages < 2.0:
            raise key_error("false_pages", f"{self.false_pages:g} pages per {self.per} at "
                            f"{self.event_rate_per_s:g} events/s leaves less than 2 events per "
                            "false page")
        return self

    @property
    def period_s(self) -> float:
        """The budget's period in seconds."""
        return parse_duration(self.per)

    @property
    def period_rows(self) -> float:
        """Events in one period at ``event_rate_per_s``."""
        return self.period_s * self.event_rate_per_s
