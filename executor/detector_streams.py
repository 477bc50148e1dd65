"""The streams a run's detectors watch, and what each one feeds a detector.

A run config lists detectors per stream (``detectors.streams.<stream>``, see
:mod:`executor.detectors_config`). A stream is either *per column* -- one series per column,
the detectors of an entry run as a bank (:mod:`detectors.bank`) over the columns -- or *whole*
-- one series for the stream, one detector. Each stream gives values of one input kind
(:mod:`detectors.inputs`), so a detector fits a stream when it accepts that kind:

================  =========  ===========  ================================================
stream            shape      kind         values
================  =========  ===========  ================================================
``features``      columns    real         each numeric input column
``input_vector``  whole      vector       the numeric input vector
``categories``    columns    categorical  each categorical column's category codes
``prediction``    columns    real         the served model's outputs (confidence, class, ...)
``errors``        whole      binary       0/1 errors of labelled events
``data_quality``  columns    binary       0/1 data-quality flags per feature and kind
================  =========  ===========  ================================================

``exported`` is the Prometheus ``stream`` label of a stream's series (input drift of every kind
shares ``inputs``, so one alert rule covers numeric and categorical columns).

An entry's alarm parameter is calibrated to its ``target_arl0`` by the method its detector
declares (:class:`detectors.alarm.AlarmParameter`), one the stream supports (``methods``):
banks over sampled columns through :func:`detectors.calibration.calibrate_columns` (the methods
of :data:`detectors.calibration.METHODS`); 0/1 streams on fresh Bernoulli streams at the
baseline rate (``fresh_streams``, per column on ``data_quality``); a detector that calibrates
itself (``self``: the target is its constructor argument). An entry whose ``params`` set the
alarm parameter is used as configured.

Example
-------
>>> STREAMS["categories"].kind.name, STREAMS["categories"].per_column
('categorical', True)
>>> STREAMS["input_vector"].exported
'inputs'
>>> "self" in STREAMS["input_vector"].methods
True
"""

from __future__ import annotations

from dataclasses import dataclass

from driftline.detectors.calibration.columns import METHODS
from driftline.detectors.inputs import BINARY, CATEGORICAL, REAL, VECTOR, InputKind

__all__ = ["COLUMN_METHODS", "RATE_METHODS", "STREAMS", "StreamKind"]

#: calibration methods of a bank over sampled columns (the column registry)
COLUMN_METHODS = frozenset(METHODS)
#: calibration methods on a 0/1 stream: fresh Bernoulli streams at the baseline rate
RATE_METHODS = frozenset({"fresh_streams"})


@dataclass(frozen=True)
class StreamKind:
    """A stream of a run: its config key, exported label, input kind and shape."""

    name: str
    exported: str
    kind: InputKind
    per_column: bool
    methods: frozenset[str]
    description: str


STREAMS: dict[str, StreamKind] = {s.name: s for s in (
    StreamKind("features", "inputs", REAL, True, COLUMN_METHODS,
               "one series per numeric input column"),
    StreamKind("input_vector", "inputs", VECTOR, False, frozenset({"self"}),
               "the whole numeric input vector"),
    StreamKind("categories", "inputs", CATEGORICAL, True, COLUMN_METHODS,
               "one series per categorical column"),
    StreamKind("prediction", "predictions", REAL, True, COLUMN_METHODS,
               "one series per prediction column"),
    StreamKind("errors", "errors", BINARY, False, RATE_METHODS | {"self"},
               "0/1 errors once labels arrive"),
    StreamKind("data_quality", "data_quality", BINARY, True, RATE_METHODS,
               "one series per feature and data-quality kind (0/1 flags)"),
)}
