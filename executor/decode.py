"""Event wire format: :func:`encode_event` for producers, :class:`EventDecoder` for the executor.

An event is one UTF-8 JSON object::

    {"event_id": "m07-00042", "timestamp": 1625097600.0,
     "features": {"age": 31.0, "emergency_braking": 1, ...}, "label": 2}

``timestamp`` (seconds since the epoch) and ``label`` (class index) are optional. The decoder
never raises: anything that is not a valid event becomes a :class:`DeadLetter` whose ``reason``
is a short machine code (:data:`REASONS`) and whose ``detail`` says what was wrong. Text the
outputs could not carry -- an event id holding a lone surrogate (valid JSON: ``"x\\ud800y"``) --
is rejected here (``bad_event_id``), not when a prediction record keyed by it is written.

Values outside a feature's *reference* range (``ranges``: what the model saw in training,
:func:`reference_ranges`) are served, and counted per feature by :meth:`EventDecoder.
out_of_range` as a data-quality signal; ``bounds`` rejects values outside hard limits.

Example
-------
>>> decoder = EventDecoder(["age", "miles"], n_classes=3)
>>> event = decoder.decode(encode_event("e1", {"age": 30, "miles": 12.5}, label=1),
...                        topic="t", partition=0, offset=7, timestamp_ms=1000)
>>> event.event_id, event.features.tolist(), event.label
('e1', [30.0, 12.5], 1)
>>> decoder.decode(b'{"event_id": "e2", "features": {"age": "old", "miles": 1}}',
...                topic="t", partition=0, offset=8, timestamp_ms=None).reason
'wrong_type'
>>> decoder.decode(b'{"event_id": "e\\\\ud800", "features": {"age": 1, "miles": 1}}',
...                topic="t", partition=0, offset=9, timestamp_ms=None).reason
'bad_event_id'
>>> ranged = EventDecoder(["age", "miles"], ranges={"age": (18.0, 90.0)})
>>> events = [ranged.decode(encode_event(f"e{i}", {"age": age, "miles": 1.0}), topic="t",
...                         partition=0, offset=i, timestamp_ms=None)
...           for i, age in enumerate([30, -500, 95])]
>>> ranged.out_of_range(events)
{'age': 2}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

try:  # orjson parses an event in a fifth of the time of the json module
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the json module still works
    orjson = None

from driftline.executor.decoded import DeadLetter, DecodedEvent, with_originals

__all__ = ["REASONS", "DeadLetter", "DecodedEvent", "EventDecoder", "encode_event",
           "reference_ranges", "with_originals"]

#: every ``DeadLetter.reason`` the decoder produces (``"model"`` comes from the pipeline)
REASONS = (
    "empty", "too_large", "bad_encoding", "not_json", "too_deep", "duplicate_key", "not_object",
    "missing_field", "unknown_field", "bad_event_id", "bad_timestamp", "not_features",
    "missing_feature", "unknown_feature", "wrong_type", "non_finite", "out_of_bounds",
    "bad_label", "bad_metadata", "invalid", "model",
)
_TOP_LEVEL = frozenset({"event_id", "timestamp", "features", "label"})
_PLAIN_JSON = json.JSONDecoder()


def _plain_loads(value: bytes) -> Any:
    """The json module without hooks (the fast path's parser when orjson is missing)."""
    return _PLAIN_JSON.decode(value.decode("utf-8"))


#: the fast path's parser: strict UTF-8, no hooks; its results are checked (see ``_fast``)
FAST_LOADS = orjson.loads if orjson is not None else _plain_loads


class _EventError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _reject_constant(name: str) -> Any:
    raise _EventError("non_finite", f"JSON constant {name} is not a finite number")


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _EventError("duplicate_key", f"key {key!r} appears more than once")
            seen.add(key)
    return out


def reference_ranges(profile: Any, tolerance: float = 0.0) -> dict[str, tuple[float, float]]:
    """Per-feature ``(low, high)`` of a reference profile: its minimum and maximum, each moved
    out by ``tolerance`` times the width (``{}`` when the profile's quantiles do not include
    the minimum and maximum)."""
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    levels = list(profile.quantile_levels)
    if not levels or levels[0] != 0.0 or levels[-1] != 1.0:
        return {}
    ranges = {}
    for name in profile.feature_names:
        low, high = float(profile.quantiles[name][0]), float(profile.quantiles[name][-1])
        margin = tolerance * (high - low)
        ranges[name] = (low - margin, high + margin)
    return ranges


def encode_event(
    event_id: str,
    features: Mapping[str, float],
    label: int | None = None,
    timestamp: float | None = None,
) -> bytes:
    """The JSON bytes of one event (compact; ``ValueError`` on non-finite values)."""
    event: dict[str, Any] = {"event_id": event_id}
    if timestamp is not None:
        event["timestamp"] = float(timestamp)
    event["features"] = {str(k): float(v) for k, v in features.items()}
    if label is not None:
        event["label"] = int(label)
    return json.dumps(event, separators=(",", ":"), allow_nan=False).encode("utf-8")


class EventDecoder:
    """Validate raw event bytes against the model's features (see the module docstring).

    Parameters
    ----------
    feature_names : sequence of str
        Required features, in the column order of ``DecodedEvent.features``.
    n_classes : int or None
        Labels must be integers in ``[0, n_classes)``; ``None`` accepts any int >= 0.
    bounds : mapping of str to (low, high), optional
        Per-feature accepted range (inclusive); values outside are ``out_of_bounds``.
    max_abs : float
        Values with a larger magnitude are ``out_of_bounds`` (also for unbounded features).
    max_bytes : int
        Larger payloads are ``too_large`` (checked before parsing).
    allow_unknown_fields : bool
        Accept (and ignore) unknown top-level keys and unknown features instead of rejecting
        the event as ``unknown_field`` / ``unknown_feature``.
    max_event_id_length : int
        Longer event ids are ``bad_event_id``.
    ranges : mapping of str to (low, high), optional
        Per-feature reference range (inclusive): values outside are served and counted by
        :meth:`out_of_range`.
    """

    def __init__(
        self,
        feature_names: Sequence[str],
        *,
        n_classes: int | None = None,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        max_abs: float = 1e15,
        max_bytes: int = 65_536,
        allow_unknown_fields: bool = False,
        max_event_id_length: int = 256,
        ranges: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        self.feature_names = [str(n) for n in feature_names]
        if not self.feature_names or len(set(self.feature_names)) != len(self.feature_names):
            raise ValueError(f"feature_names must be unique and non-empty, got {feature_names}")
        if n_classes is not None and n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {n_classes}")
        if not max_abs > 0:
            raise ValueError(f"max_abs must be > 0, got {max_abs}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self.n_classes = n_classes
        self.max_abs = float(max_abs)
        self.max_bytes = int(max_bytes)
        self.allow_unknown_fields = bool(allow_unknown_fields)
        self.max_event_id_length = int(max_event_id_length)
        self._index = {name: j for j, name in enumerate(self.feature_names)}
        self._loads = FAST_LOADS
        self._bounds = {}
        for name, (low, high) in (bounds or {}).items():
            if name not in self._index:
                raise ValueError(f"bounds: unknown feature {name!r}")
            if not low <= high:
                raise ValueError(f"bounds[{name!r}]: low must be <= high, got ({low}, {high})")
            self._bounds[name] = (float(low), float(high))
        self.ranges: dict[str, tuple[float, float]] = {}
        for name, (low, high) in (ranges or {}).items():
            if name not in self._index:
                raise ValueError(f"ranges: unknown feature {name!r}")
            if not low <= high:
                raise ValueError(f"ranges[{name!r}]: low must be <= high, got ({low}, {high})")
            self.ranges[name] = (float(low), float(high))
        self._range_columns = [self._index[name] for name in self.ranges]
        self._range_low = np.array([low for low, _ in self.ranges.values()])
        self._range_high = np.array([high for _, high in self.ranges.values()])
        # fast-path acceptance range of each feature: bounds and max_abs together
        self._accept = [(name, max(-self.max_abs, self._bounds.get(name, (-math.inf,))[0]),
                         min(self.max_abs, self._bounds.get(name, (0.0, math.inf))[1]))
                        for name in self.feature_names]

    def decode(
        self,
        value: bytes | None,
        *,
        key: bytes | None = None,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int | None,
    ) -> DecodedEvent | DeadLetter:
        """Decode one record; never raises (every failure is a :class:`DeadLetter`)."""
        if (type(partition) is int and partition >= 0 and type(offset) is int and offset >= 0
                and (timestamp_ms is None or type(timestamp_ms) is int)):
            try:
                event = self._fast(value, topic, partition, offset, timestamp_ms)
            except Exception:  # anything unexpected: the full path below names the problem
                event = None
            if event is not None:
                return event
        try:
            self._check_metadata(partition, offset, timestamp_ms)
            event_id, features, label, timestamp = self._parse(value)
        except _EventError as rejection:
            return self._dead(rejection.reason, rejection.detail, value, key, topic, partition,
                              offset, timestamp_ms)
        except Exception as exc:  # the decoder must never take the executor down
            return self._dead("invalid", f"{type(exc).__name__}: {exc}"[:500], value, key, topic,
                              partition, offset, timestamp_ms)
        if timestamp is None:
            timestamp = timestamp_ms / 1000.0 if timestamp_ms is not None else math.nan
        return DecodedEvent(event_id, features, label, timestamp, topic, partition, offset)

    def out_of_range(self, events: Sequence[DecodedEvent]) -> dict[str, int]:
        """How many of ``events`` have each feature outside its reference range (features
        without any such value are left out)."""
        if not self._range_columns or not events:
            return {}
        values = np.stack([event.features for event in events])[:, self._range_columns]
        outside = np.count_nonzero((values < self._range_low) | (values > self._range_high),
                                   axis=0)
        return {name: int(n) for name, n in zip(self.ranges, outside, strict=True) if n}

    def _fast(self, value: Any, topic: str, partition: int, offset: int,
              timestamp_ms: int | None) -> DecodedEvent | None:
        """The event if ``value`` is a well-formed event, else ``None`` (then the full path,
        :meth:`_parse`, decides; it accepts exactly what this accepts, with the same result).

        The parser here (:data:`FAST_LOADS`) has no hooks: JSON constants (``NaN``...) are
        errors or come back as non-finite floats and fail the range checks, and duplicate keys
        are caught by counting string quotes. With no backslash in the text every ``"``
        delimits a string, and an accepted event's strings are its keys plus the event id; a
        duplicate key would add at least one more string.
        """
        if type(value) is not bytes or not 0 < len(value) <= self.max_bytes or b"\\" in value:
            return None
        data = self._loads(value)
        if type(data) is not dict or not data.keys() <= _TOP_LEVEL:
            return None
        raw = data.get("features")
        event_id = data.get("event_id")
        if (type(raw) is not dict or len(raw) != len(self.feature_names)
                or type(event_id) is not str or not event_id.strip()
                or len(event_id) > self.max_event_id_length
                or value.count(b'"') != 2 * (len(data) + len(raw) + 1)):
            return None
        timestamp = data.get("timestamp")
        if timestamp is not None:
            if type(timestamp) is int:
                timestamp = float(timestamp)
            elif type(timestamp) is not float or timestamp - timestamp != 0.0:
                return None
        label = data.get("label")
        if label is not None and (type(label) is not int or label < 0 or (
                self.n_classes is not None and label >= self.n_classes)):
            return None
        row = []
        for name, low, high in self._accept:
            number = raw[name]  # KeyError (a missing feature) goes to the full path
            if type(number) is not float:
                if type(number) is not int:
                    return None
                number = float(number)
            # NaN fails both comparisons; x - x is NaN for infinities (max_abs may be inf)
            if not low <= number <= high or number - number != 0.0:
                return None
            row.append(number)
        if timestamp is None:
            timestamp = timestamp_ms / 1000.0 if timestamp_ms is not None else math.nan
        return DecodedEvent(event_id, np.array(row, dtype=np.float64), label, timestamp, topic,
                            partition, offset)

    @staticmethod
    def _dead(reason: str, detail: str, value: Any, key: Any, topic: Any, partition: Any,
              offset: Any, timestamp_ms: Any) -> DeadLetter:
        def as_bytes(raw: Any) -> bytes | None:
            if raw is None or isinstance(raw, bytes):
                return raw
            if isinstance(raw, bytearray | memoryview):
                return bytes(raw)
            return repr(raw).encode("utf-8", "replace")

        def as_int(number: Any) -> int:
            return number if isinstance(number, int) and not isinstance(number, bool) else -1

        ts = timestamp_ms if isinstance(timestamp_ms, int) and not isinstance(
            timestamp_ms, bool) else None
        return DeadLetter(reason, detail, as_bytes(value), as_bytes(key), str(topic),
                          as_int(partition), as_int(offset), ts)

    @staticmethod
    def _check_metadata(partition: Any, offset: Any, timestamp_ms: Any) -> None:
        for name, number in (("partition", partition), ("offset", offset)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise _EventError("bad_metadata", f"{name} must be an integer >= 0, got {number!r}")
        if timestamp_ms is not None and (isinstance(timestamp_ms, bool)
                                         or not isinstance(timestamp_ms, int)):
            raise _EventError("bad_metadata", f"timestamp_ms must be an int or None, "
                                          f"got {timestamp_ms!r}")

    def _parse(self, value: Any) -> tuple[str, np.ndarray, int | None, float | None]:
        if value is None or (isinstance(value, bytes | bytearray) and len(value) == 0):
            raise _EventError("empty", "record has no value")
        if not isinstance(value, bytes | bytearray | memoryview):
            raise _EventError("wrong_type",
                              f"record value must be bytes, got {type(value).__name__}")
        if len(value) > self.max_bytes:
            raise _EventError("too_large", f"{len(value)} bytes > max_bytes={self.max_bytes}")
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _EventError("bad_encoding",
                              f"not UTF-8: {exc.reason} at byte {exc.start}") from None
        try:
            data = json.loads(text, parse_constant=_reject_constant,
                              object_pairs_hook=_pairs_without_duplicates)
        except json.JSONDecodeError as exc:
            raise _EventError(
                "not_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except RecursionError:
            raise _EventError("too_deep", "JSON nesting is too deep") from None
        if not isinstance(data, dict):
            raise _EventError("not_object",
                              f"event must be a JSON object, got {type(data).__name__}")
        return self._validate(data)

    def _validate(self, data: dict[str, Any]) -> tuple[str, np.ndarray, int | None, float | None]:
        if not self.allow_unknown_fields:
            unknown = sorted(set(data) - _TOP_LEVEL)
            if unknown:
                raise _EventError("unknown_field", f"unknown top-level key {unknown[0]!r}")
        for name in ("event_id", "features"):
            if name not in data:
                raise _EventError("missing_field", f"missing required key {name!r}")
        event_id = data["event_id"]
        if not isinstance(event_id, str) or not event_id.strip():
            raise _EventError("bad_event_id", f"event_id must be a non-empty string, got "
                                          f"{type(event_id).__name__} {event_id!r}"[:200])
        if len(event_id) > self.max_event_id_length:
            raise _EventError("bad_event_id", f"event_id longer than {self.max_event_id_length}")
        if not event_id.isascii():
            try:
                event_id.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise _EventError("bad_event_id", f"event_id is not Unicode text: {exc.reason} "
                                  f"at character {exc.start}") from None
        timestamp = data.get("timestamp")
        if timestamp is not None:
            if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
                raise _EventError("bad_timestamp", f"timestamp must be a number, got "
                                               f"{type(timestamp).__name__}")
            timestamp = float(timestamp)
            if not math.isfinite(timestamp):
                raise _EventError("bad_timestamp", f"timestamp is not finite: {timestamp!r}")
        label = data.get("label")
        if label is not None:
            if isinstance(label, bool) or not isinstance(label, int):
                raise _EventError("bad_label", f"label must be an integer class index, got "
                                           f"{type(label).__name__} {label!r}"[:200])
            if label < 0 or (self.n_classes is not None and label >= self.n_classes):
                raise _EventError("bad_label", f"label {label} is not a class index in "
                                           f"[0, {self.n_classes})")
        return event_id, self._features(data["features"]), label, timestamp

    def _features(self, raw: Any) -> np.ndarray:
        if not isinstance(raw, dict):
            raise _EventError("not_features",
                              f"features must be an object, got {type(raw).__name__}")
        row = np.empty(len(self.feature_names))
        for j, name in enumerate(self.feature_names):
            if name not in raw:
                raise _EventError("missing_feature", f"feature {name!r} is missing")
            number = raw[name]
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise _EventError("wrong_type", f"feature {name!r} must be a number, got "
                                            f"{type(number).__name__}")
            try:
                number = float(number)
            except OverflowError:
                raise _EventError("out_of_bounds", f"feature {name!r} overflows a float") from None
            if not math.isfinite(number):
                raise _EventError("non_finite", f"feature {name!r} is {number!r}")
            if abs(number) > self.max_abs:
                raise _EventError("out_of_bounds", f"feature {name!r}={number!r} exceeds "
                                               f"max_abs={self.max_abs}")
            bound = self._bounds.get(name)
            if bound is not None and not bound[0] <= number <= bound[1]:
                raise _EventError("out_of_bounds", f"feature {name!r}={number!r} outside "
                                               f"[{bound[0]}, {bound[1]}]")
            row[j] = number
        if not self.allow_unknown_fields and len(raw) != len(self.feature_names):
            extra = sorted(set(raw) - set(self._index))
            raise _EventError("unknown_feature", f"unknown feature {extra[0]!r}")
        return row
