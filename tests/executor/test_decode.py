"""EventDecoder: valid events round-trip through encode_event; every kind of bad input becomes a
dead letter with its own reason, and nothing ever raises."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.executor.decode import (
    FAST_LOADS,
    REASONS,
    DeadLetter,
    DecodedEvent,
    EventDecoder,
    _plain_loads,
    encode_event,
)

FEATURES = ["age", "emergency_braking", "miles"]
GOOD = {"age": 31.5, "emergency_braking": 1, "miles": 80.25}


def decoder(**kwargs: object) -> EventDecoder:
    return EventDecoder(FEATURES, n_classes=3, bounds={"emergency_braking": (0.0, 1.0)},
                        max_bytes=4096, **kwargs)  # type: ignore[arg-type]


def decode(value: bytes | None, dec: EventDecoder | None = None, **meta: object
           ) -> DecodedEvent | DeadLetter:
    kwargs = {"key": b"k", "topic": "events", "partition": 2, "offset": 41,
              "timestamp_ms": 1_700_000_000_000, **meta}
    return (dec or decoder()).decode(value, **kwargs)  # type: ignore[arg-type]


def event(**overrides: object) -> bytes:
    body: dict[str, object] = {"event_id": "e-1", "features": dict(GOOD), **overrides}
    return json.dumps(body).encode()


def test_valid_event_round_trips_with_metadata() -> None:
    out = decode(encode_event("e-1", GOOD, label=2, timestamp=12.5))
    assert isinstance(out, DecodedEvent)
    assert out.event_id == "e-1" and out.label == 2 and out.timestamp == 12.5
    np.testing.assert_array_equal(out.features, [31.5, 1.0, 80.25])
    assert (out.topic, out.partition, out.offset) == ("events", 2, 41)


def test_missing_timestamp_falls_back_to_record_time_and_label_is_optional() -> None:
    out = decode(encode_event("e-1", {"miles": 1, "age": 2, "emergency_braking": 0}))
    assert isinstance(out, DecodedEvent)
    assert out.timestamp == 1_700_000_000.0 and out.label is None
    np.testing.assert_array_equal(out.features, [2.0, 0.0, 1.0])  # decoder's column order


BAD_INPUTS = [
    ("not_json", b"hello world", "not_json"),
    ("truncated_json", b'{"event_id": "e", "features": {', "not_json"),
    ("empty_bytes", b"", "empty"),
    ("none_value", None, "empty"),
    ("invalid_utf8", b'{"event_id": "\xff\xfe"}', "bad_encoding"),
    ("latin1_bytes", '{"event_id": "caf\u00e9", "features": {}}'.encode("latin-1"),
     "bad_encoding"),
    ("list_instead_of_object", b"[1, 2, 3]", "not_object"),
    ("json_string", b'"just a string"', "not_object"),
    ("json_null", b"null", "not_object"),
    ("missing_features_key", b'{"event_id": "e"}', "missing_field"),
    ("missing_event_id", json.dumps({"features": GOOD}).encode(), "missing_field"),
    ("missing_feature", event(features={"age": 1, "miles": 2}), "missing_feature"),
    ("string_number", event(features={**GOOD, "age": "31"}), "wrong_type"),
    ("bool_as_number", event(features={**GOOD, "miles": True}), "wrong_type"),
    ("null_feature", event(features={**GOOD, "age": None}), "wrong_type"),
    ("nested_garbage", event(features={**GOOD, "age": {"value": [1, {"x": 2}]}}), "wrong_type"),
    ("list_feature", event(features={**GOOD, "age": [31]}), "wrong_type"),
    ("nan_literal", b'{"event_id": "e", "features": {"age": NaN, "emergency_braking": 0, '
                    b'"miles": 1}}', "non_finite"),
    ("infinity_literal", b'{"event_id": "e", "features": {"age": Infinity, '
                         b'"emergency_braking": 0, "miles": 1}}', "non_finite"),
    ("minus_infinity_literal", b'{"event_id": "e", "features": {"age": -Infinity, '
                               b'"emergency_braking": 0, "miles": 1}}', "non_finite"),
    ("overflowing_number", b'{"event_id": "e", "features": {"age": 1e309, '
                           b'"emergency_braking": 0, "miles": 1}}', "non_finite"),
    ("huge_value", event(features={**GOOD, "miles": 1e300}), "out_of_bounds"),
    ("huge_integer", b'{"event_id": "e", "features": {"age": 1' + b"0" * 400
                     + b', "emergency_braking": 0, "miles": 1}}', "out_of_bounds"),
    ("outside_feature_bounds", event(features={**GOOD, "emergency_braking": 3}),
     "out_of_bounds"),
    ("features_is_list", event(features=[31.5, 1, 80.25]), "not_features"),
    ("features_is_string", event(features="age=3"), "not_features"),
    ("unknown_top_level_field", event(extra="x"), "unknown_field"),
    ("unknown_feature", event(features={**GOOD, "colour": 1}), "unknown_feature"),
    ("duplicate_key", b'{"event_id": "a", "event_id": "b", "features": {}}', "duplicate_key"),
    ("duplicate_feature", b'{"event_id": "e", "features": {"age": 1, "age": 2, '
                          b'"emergency_braking": 0, "miles": 1}}', "duplicate_key"),
    ("event_id_int", event(event_id=7), "bad_event_id"),
    ("event_id_empty", event(event_id="  "), "bad_event_id"),
    ("event_id_too_long", event(event_id="x" * 300), "bad_event_id"),
    ("event_id_null", event(event_id=None), "bad_event_id"),
    ("label_string", event(label="high"), "bad_label"),
    ("label_float", event(label=1.0), "bad_label"),
    ("label_bool", event(label=True), "bad_label"),
    ("label_negative", event(label=-1), "bad_label"),
    ("label_out_of_range", event(label=3), "bad_label"),
    ("timestamp_string", event(timestamp="yesterday"), "bad_timestamp"),
    ("timestamp_bool", event(timestamp=False), "bad_timestamp"),
    ("too_large_payload", event(event_id="e", padding="x" * 5000), "too_large"),
    ("deep_nesting", b"[" * 100_000 + b"]" * 100_000, "too_large"),
]


@pytest.mark.parametrize(("raw", "reason"), [(raw, reason) for _, raw, reason in BAD_INPUTS],
                         ids=[name for name, _, _ in BAD_INPUTS])
def test_bad_input_becomes_dead_letter_with_reason(raw: bytes | None, reason: str) -> None:
    out = decode(raw)
    assert isinstance(out, DeadLetter), out
    assert out.reason == reason, out.detail
    assert out.reason in REASONS and out.detail
    assert out.value == raw and out.key == b"k"
    assert (out.topic, out.partition, out.offset, out.timestamp_ms) == (
        "events", 2, 41, 1_700_000_000_000)


def test_bad_input_kinds_cover_many_reasons() -> None:
    assert len({reason for _, _, reason in BAD_INPUTS}) >= 15
    assert len(BAD_INPUTS) >= 40


def test_deep_nesting_within_size_limit_is_rejected_not_raised() -> None:
    dec = EventDecoder(FEATURES, max_bytes=10_000_000)
    out = decode(b"[" * 200_000 + b"]" * 200_000, dec)
    assert isinstance(out, DeadLetter) and out.reason in ("too_deep", "not_object")


@pytest.mark.parametrize(("meta", "reason"), [
    ({"offset": -1}, "bad_metadata"),
    ({"partition": -3}, "bad_metadata"),
    ({"offset": "7"}, "bad_metadata"),
    ({"timestamp_ms": 1.5}, "bad_metadata"),
])
def test_bad_record_metadata(meta: dict[str, object], reason: str) -> None:
    out = decode(event(), **meta)
    assert isinstance(out, DeadLetter) and out.reason == reason


def test_unknown_fields_are_ignored_when_allowed() -> None:
    dec = decoder(allow_unknown_fields=True)
    out = decode(event(extra={"a": 1}, features={**GOOD, "colour": 2}), dec)
    assert isinstance(out, DecodedEvent)
    np.testing.assert_array_equal(out.features, [31.5, 1.0, 80.25])


def test_non_bytes_value_is_a_dead_letter() -> None:
    out = decode("a str, not bytes")  # type: ignore[arg-type]
    assert isinstance(out, DeadLetter) and out.reason == "wrong_type"


def test_encode_event_refuses_non_finite() -> None:
    with pytest.raises(ValueError):
        encode_event("e", {"age": math.nan})


def test_dead_letter_record_is_json() -> None:
    out = decode(b"\x00\x01")
    assert isinstance(out, DeadLetter)
    record = json.loads(json.dumps(out.to_record()))
    assert record["reason"] == "not_json" and record["value_b64"] == "AAE="


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    out = decode(raw)
    assert isinstance(out, DeadLetter | DecodedEvent)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["event_id", "features", "label", "timestamp", "age",
                                       "miles", "emergency_braking", "x"]), children,
                      max_size=5),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_decode_never_raises_on_arbitrary_json(value: object) -> None:
    raw = json.dumps(value).encode()
    out = decode(raw)
    if isinstance(out, DecodedEvent):
        assert np.isfinite(out.features).all() and out.features.shape == (3,)
    else:
        assert out.reason in REASONS


class _FullPathOnly(EventDecoder):
    """The decoder with its fast path switched off: the reference for the fast path."""

    def _fast(self, *args: object) -> None:
        return None


#: the fast path's parsers: orjson (when installed) and the json module
PARSERS = list(dict.fromkeys([FAST_LOADS, _plain_loads]))


def _same_outcome(raw: bytes, **kwargs: object) -> None:
    meta = {"key": b"k", "topic": "events", "partition": 2, "offset": 41,
            "timestamp_ms": 1_700_000_000_000}
    for loads in PARSERS:
        fast_decoder = decoder(**kwargs)
        fast_decoder._loads = loads
        _check_same(fast_decoder.decode(raw, **meta), raw, meta, kwargs)  # type: ignore[arg-type]


def _check_same(fast: DecodedEvent | DeadLetter, raw: bytes, meta: dict[str, object],
                kwargs: dict[str, object]) -> None:
    full = _FullPathOnly(FEATURES, n_classes=3, bounds={"emergency_braking": (0.0, 1.0)},
                         max_bytes=4096, **kwargs).decode(raw, **meta)  # type: ignore[arg-type]
    assert type(fast) is type(full)
    if isinstance(full, DeadLetter):
        assert fast == full
    else:
        assert isinstance(fast, DecodedEvent)
        assert (fast.event_id, fast.label, fast.timestamp, fast.offset) == (
            full.event_id, full.label, full.timestamp, full.offset)
        assert fast.features.dtype == full.features.dtype
        assert fast.features.tobytes() == full.features.tobytes()


@pytest.mark.parametrize("raw", [
    event(),
    event(label=2, timestamp=12.5),
    event(timestamp=None, label=None),
    event(timestamp=3),
    event(timestamp=True),
    event(label=True),
    event(label=1.0),
    event(label=3),
    event(event_id="  "),
    event(event_id="x" * 300),
    event(event_id="caf\u00e9 \u2603"),
    event(features={**GOOD, "age": 10**400}),
    event(features={**GOOD, "age": True}),
    event(features={**GOOD, "age": 2}),
    event(features={**GOOD, "emergency_braking": 1.5}),
    event(features={**GOOD, "age": 1e16}),
    event(features={**GOOD, "extra": 1.0}),
    event(features={"age": 1.0, "miles": 2.0}),
    event(extra=1),
    b'{"event_id":"e","features":{"age":1,"emergency_braking":0,"miles":NaN}}',
    b'{"event_id":"e","features":{"age":1,"emergency_braking":0,"miles":-Infinity}}',
    b'{"event_id":"e","features":{"age":1,"emergency_braking":0,"miles":1e400}}',
    b'{"event_id":"e","features":{"age":1,"emergency_braking":0,"miles":2},"label":NaN}',
    b'{"event_id":"e","timestamp":Infinity,"features":{"age":1,"emergency_braking":0,"miles":2}}',
    b'{"event_id":"e","event_id":"f","features":{"age":1,"emergency_braking":0,"miles":2}}',
    b'{"event_id":"e","features":{"age":1,"age":2,"emergency_braking":0,"miles":2}}',
    b'{"event_id":"e","features":{"age":1,"emergency_braking":0,"miles":2,"miles":3}}',
    b'{"event_id":"e","features":{"age":1,"emergency_braking":0,"miles":2},"label":1,"label":2}',
    b'{"event_id":"e","features":{"age":1,"emergency_braking":0,"miles":2},'
    b'"features":{"age":1,"emergency_braking":0,"miles":2}}',
    b'{"event_id":"e","features":{"age":1,"emergency_braking":0,"miles":2,"mi\\u006ces":3}}',
    b'{"event_id":"e\\"","features":{"age":1,"emergency_braking":0,"miles":2}}',
    b'{"event_id":":\\":","features":{"age":1,"emergency_braking":0,"miles":2}}',
    b' \n{"event_id" : "e" , "features" : {"age":1, "emergency_braking":0, "miles":2}}\t',
    b'\xef\xbb\xbf{"event_id":"e","features":{"age":1,"emergency_braking":0,"miles":2}}',
    b'{"event_id":"e","features":{"age":1,"emergency_braking":0,"miles":2}} x',
    "{\"event_id\":\"e\",\"features\":{\"age\":1,\"emergency_braking\":0,\"miles\":2}}"
    .encode("utf-16"),
])
def test_fast_path_decides_like_the_full_path(raw: bytes) -> None:
    _same_outcome(raw)
    _same_outcome(raw, allow_unknown_fields=True)


_numbers = st.floats() | st.integers(-(10**20), 10**20) | st.booleans() | st.none()
_events = st.fixed_dictionaries(
    {"event_id": st.text(max_size=6),
     "features": st.fixed_dictionaries({name: _numbers for name in FEATURES},
                                       optional={"x": _numbers})},
    optional={"label": st.integers(-1, 4) | st.floats(0, 3) | st.booleans(),
              "timestamp": st.floats() | st.integers(0, 10**12), "x": st.integers()})


@settings(max_examples=400, deadline=None)
@given(_events, st.sampled_from(["", '"label": 1, ', '"event_id": "z", ', '"age": 1.5, ']))
def test_fast_path_decides_like_the_full_path_fuzzed(value: dict[str, object],
                                                     duplicate: str) -> None:
    """Mostly well-formed events, some with a key repeated (first occurrence wins nothing:
    the full path rejects any duplicate)."""
    body = json.dumps(value, allow_nan=True)
    if duplicate == '"age": 1.5, ':
        body = body.replace('"features": {', '"features": {' + duplicate, 1)
    elif duplicate:
        body = "{" + duplicate + body[1:]
    _same_outcome(body.encode())


@pytest.mark.parametrize("loads", PARSERS)
def test_fast_path_accepts_what_encode_event_writes(loads: object) -> None:
    dec = decoder()
    dec._loads = loads
    raw = encode_event("m01-7", {"miles": 12.125, "age": 40, "emergency_braking": 0}, label=2,
                       timestamp=1.5)
    fast = dec._fast(raw, "events", 0, 9, None)
    assert isinstance(fast, DecodedEvent)
    full = decode(raw, dec, partition=0, offset=9, timestamp_ms=None)
    assert isinstance(full, DecodedEvent)
    assert fast._replace(features=None) == full._replace(features=None)
    assert (fast.event_id, fast.features.tolist(), fast.label, fast.timestamp) == (
        "m01-7", [40.0, 0.0, 12.125], 2, 1.5)
