"""The declared alarm parameter: direction, scale, conservative end, warning level moved."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors import REGISTRY, detector_class
from driftline.detectors.alarm import AlarmParameter


def test_direction_scale_and_conservative_end() -> None:
    threshold = AlarmParameter("threshold", fewer_alarms="higher", bounds=(0.0, 50.0))
    level = AlarmParameter("alpha", fewer_alarms="lower", bounds=(-6.0, -1.0), log_scale=True)
    assert threshold.increasing and threshold.conservative == 50.0
    assert not level.increasing and level.conservative == 1e-6 and level.value(-2.0) == 0.01
    with pytest.raises(ValueError, match="fewer_alarms"):
        AlarmParameter("x", fewer_alarms="more", bounds=(0.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bounds"):
        AlarmParameter("x", fewer_alarms="higher", bounds=(1.0, 1.0))


# a self-calibrating detector's alarm parameter is its target ARL0, not searched from outside
SEARCHED = [name for name in REGISTRY if detector_class(name).alarm.method != "self"]


@pytest.mark.parametrize("name", SEARCHED)
def test_moving_the_alarm_keeps_every_detector_valid(name: str) -> None:
    """``with_alarm`` at both ends of the declared range gives parameters the detector accepts,
    the warning level staying on the sensitive side of the alarm."""
    cls = detector_class(name)
    alarm = cls.alarm
    base = {k: v for k, v in cls.test_params[0].items() if k != alarm.name}
    if cls.needs_reference:
        sample = cls.input_kinds[0].synthetic(np.random.default_rng(0), 100)
        base.update(cls.reference_params(sample))
    for u in alarm.bounds:
        params = cls.with_alarm(base, alarm.value(u))
        detector = cls(**params)
        assert getattr(detector, alarm.name) == alarm.value(u)
        if alarm.warning is not None:
            warning = getattr(detector, alarm.warning)
            assert warning <= alarm.value(u) if alarm.increasing else warning >= alarm.value(u)
