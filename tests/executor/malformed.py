"""Malformed records for the Kafka executor's fault tests: every kind the fuzz test mixes with good
events, by name. Each is a record value (``None``: a null value) the event decoder must reject,
except ``header_key_not_utf8``: a good value in a record whose header key is not UTF-8, which
kafka-python cannot read at all."""

from __future__ import annotations

import json
from typing import Any

GOOD = {"age": 40.0, "emergency_braking": 1.0, "braking_distance": 30.0, "power": 100.0,
        "miles": 20_000.0}
#: the header key of the issue's unreadable record
BAD_HEADER_KEY = b"\xff\xfe\x00bad"
#: over kafka-python's default 1 MiB producer limit, as the issue's oversized record
MIB_AND_A_HALF = 1_572_864


def event(event_id: Any = "p", **changes: Any) -> dict[str, Any]:
    return {"event_id": event_id, "features": {**GOOD, **changes}}


def raw(obj: Any) -> bytes:
    """JSON bytes; lone surrogates come out as ``\\ud800`` escapes (valid JSON)."""
    return json.dumps(obj).encode()


def _with_feature_text(text: bytes) -> bytes:
    """A good event whose ``age`` is the literal JSON ``text``."""
    return raw(event(age=12345.0)).replace(b"12345.0", text)


def _without(name: str) -> dict[str, Any]:
    return {"event_id": "p", "features": {k: v for k, v in GOOD.items() if k != name}}


MALFORMED: dict[str, bytes | None] = {
    # not text, not JSON
    "not_json_text": b"not json at all",
    "empty": b"",
    "null_value": None,
    "invalid_utf8": b"\xff\xfe\x00garbage",
    "truncated_multibyte": raw(event("AA")).replace(b'"AA"', b'"\xc3"'),
    "overlong_utf8": raw(event("AA")).replace(b'"AA"', b'"\xc0\xaf"'),
    "encoded_surrogate": raw(event("AA")).replace(b'"AA"', b'"\xed\xa0\x80"'),
    "utf8_bom": b"\xef\xbb\xbf" + raw(event()),
    "utf16": json.dumps(event()).encode("utf-16"),
    "whitespace": b"  \n\t ",
    "trailing_comma": raw(event())[:-1] + b",}",
    "single_quotes": b"{'event_id': 'p', 'features': {}}",
    "unterminated_string": b'{"event_id": "p',
    "comment": raw(event()).replace(b', "features"', b' /* c */, "features"'),
    "too_deep": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    # JSON, not an object
    "array": b"[1, 2, 3]",
    "string": b'"a string"',
    "number": b"42",
    "json_null": b"null",
    "json_true": b"true",
    # objects that are no event
    "empty_object": b"{}",
    "missing_event_id": raw({"features": GOOD}),
    "missing_features": raw({"event_id": "p"}),
    "unknown_top_level_key": raw({**event(), "extra": 1}),
    "duplicate_top_level_key": b'{"event_id": "p", "event_id": "q", "features": {}}',
    "duplicate_feature_key": raw(event()).replace(b'"age": 40.0', b'"age": 40.0, "age": 41.0'),
    # event ids
    "event_id_number": raw(event(17)),
    "event_id_null": raw(event(None)),
    "event_id_list": raw(event(["p"])),
    "event_id_object": raw(event({"id": "p"})),
    "event_id_bool": raw(event(True)),
    "event_id_empty": raw(event("")),
    "event_id_blank": raw(event(" ")),
    "event_id_too_long": raw(event("p" * 300)),
    "event_id_lone_high_surrogate": raw(event("x\ud800y")),  # the record
    "event_id_lone_low_surrogate": raw(event("\udc00")),
    # the features object
    "features_list": raw({"event_id": "p", "features": [1, 2]}),
    "features_string": raw({"event_id": "p", "features": "age=40"}),
    "features_null": raw({"event_id": "p", "features": None}),
    "features_number": raw({"event_id": "p", "features": 5}),
    "missing_feature": raw(_without("miles")),
    "unknown_feature": raw(event(colour=3.0)),
    # feature values
    "feature_string": raw(event(age="forty")),
    "feature_bool": raw(event(power=True)),
    "feature_null": raw(event(age=None)),
    "feature_list": raw(event(age=[40])),
    "feature_object": raw(event(age={"nested": [1, {"deeper": None}]})),
    "feature_nan": _with_feature_text(b"NaN"),
    "feature_infinity": _with_feature_text(b"Infinity"),
    "feature_minus_infinity": _with_feature_text(b"-Infinity"),
    "feature_overflowing_float": _with_feature_text(b"1e400"),
    "feature_overflowing_int": _with_feature_text(b"1" + b"0" * 400),
    "feature_beyond_max_abs": raw(event(miles=1e300)),
    # labels and timestamps
    "label_negative": raw({**event(), "label": -1}),
    "label_too_big": raw({**event(), "label": 99}),
    "label_float": raw({**event(), "label": 1.5}),
    "label_string": raw({**event(), "label": "high"}),
    "label_bool": raw({**event(), "label": True}),
    "timestamp_string": raw({**event(), "timestamp": "yesterday"}),
    "timestamp_bool": raw({**event(), "timestamp": True}),
    "timestamp_list": raw({**event(), "timestamp": [1]}),
    "timestamp_overflowing": raw({**event(), "timestamp": 1.0}).replace(
        b'"timestamp": 1.0', b'"timestamp": 1e400'),
    # sizes
    "over_max_bytes": raw({**event(), "pad": "x" * 70_000}),
    "over_a_mebibyte": raw({**event(), "pad": "x" * MIB_AND_A_HALF}),  # the record
}
#: the record kafka-python cannot parse (its value is a good event)
UNREADABLE = "header_key_not_utf8"
