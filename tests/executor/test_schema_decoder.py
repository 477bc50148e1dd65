"""SchemaDecoder: typed columns from nested events, every dead-letter reason, the quality flags
of served events, batch == one at a time, fast parse == strict parse, labels-topic messages."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.configs import build_config
from driftline.dataloader.field_values import CategoryVocabulary
from driftline.dataloader.insurance import DATA_DIR, FEATURE_NAMES, load_month
from driftline.dataloader.schema import EventSchema, load_schema
from driftline.executor.decode import EventDecoder, encode_event
from driftline.executor.schema_decoder import (
    REASONS,
    DeadLetter,
    SchemaDecoder,
    SchemaEvent,
)
from driftline.model.profile_builder import build_profile

SCHEMA: dict[str, Any] = {
    "event_id": {"path": "id"},
    "event_time": {"path": "meta.ts", "unit": "ms"},
    "fields": [
        {"name": "age", "path": "customer.age", "type": "numeric", "range": [0, 120]},
        {"name": "income", "path": "customer.income", "type": "numeric", "optional": True},
        {"name": "region", "path": "customer.address.region", "type": "categorical",
         "optional": True},
        {"name": "plan", "type": "categorical", "values": "integer", "categories": [1, 2, 3]},
        {"name": "garage", "type": "boolean", "optional": True},
        {"name": "speed", "type": "numeric", "range": [0, 300], "range_policy": "dead_letter"},
    ],
    "outputs": {"classes": ["low", "high"], "prediction": {"path": "out.class"},
                "score": {"path": "out.p", "optional": True}, "label": {"path": "truth"}},
    "max_bytes": 2048,
}
VOCABULARIES = {"region": CategoryVocabulary(["north", "south"], known=["east"])}


def good(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": "e-1", "meta": {"ts": 1_500},
        "customer": {"age": 31, "income": 52_000.5, "address": {"region": "south"}},
        "plan": 2, "garage": True, "speed": 88.0, "out": {"class": "high", "p": 0.75},
        "truth": 1}
    for dotted, value in changes.items():
        node = event
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[key]
        if value is DROP:
            del node[last]
        else:
            node[last] = value
    return event


DROP = object()


@pytest.fixture(scope="module")
def decoder() -> SchemaDecoder:
    return SchemaDecoder(build_config(SCHEMA, EventSchema), vocabularies=VOCABULARIES)


def decode(decoder: SchemaDecoder, value: Any, **meta: Any) -> SchemaEvent | DeadLetter:
    kwargs = {"key": b"k", "topic": "events", "partition": 3, "offset": 9,
              "timestamp_ms": 7_000, **meta}
    if isinstance(value, dict):
        value = json.dumps(value).encode()
    return decoder.decode(value, **kwargs)


def test_valid_nested_event_decodes_to_typed_values(decoder: SchemaDecoder) -> None:
    event = decode(decoder, good())
    assert isinstance(event, SchemaEvent)
    assert (event.event_id, event.event_time, event.prediction, event.score, event.label) == (
        "e-1", 1.5, 1, 0.75, 1)
    assert decoder.numeric_names == ["age", "income", "garage", "speed"]
    np.testing.assert_array_equal(event.numeric, [31.0, 52_000.5, 1.0, 88.0])
    assert decoder.categorical_names == ["region", "plan"]
    assert event.categorical.tolist() == [1, 1]  # "south" in the vocabulary; plan 2 declared
    assert event.flags.tolist() == [0] * 6
    assert (event.topic, event.partition, event.offset) == ("events", 3, 9)


def test_optional_gaps_are_served_and_flagged(decoder: SchemaDecoder) -> None:
    event = decode(decoder, good(customer__income=None, customer__address=DROP, garage="yes",
                                 out__p=DROP, truth=DROP, meta__ts=DROP))
    assert isinstance(event, SchemaEvent)
    numeric = dict(zip(decoder.numeric_names, event.numeric.tolist(), strict=True))
    assert math.isnan(numeric["income"]) and math.isnan(numeric["garage"])
    flags = dict(zip(decoder.field_names, event.flags.tolist(), strict=True))
    assert flags == {"age": 0, "income": 1, "region": 1, "plan": 0, "garage": 8, "speed": 0}
    assert event.categorical[0] == VOCABULARIES["region"].missing_code
    assert math.isnan(event.score) and event.label == -1
    assert event.event_time == 7.0  # the record timestamp when the event has none


def test_out_of_range_and_unseen_categories_are_served_and_flagged(
        decoder: SchemaDecoder) -> None:
    vocabulary = VOCABULARIES["region"]
    batch = decoder.decode_batch(
        [json.dumps(good(customer__age=130, customer__address__region="mars")).encode(),
         json.dumps(good(customer__address__region="east", plan=7)).encode()],
        topic="t", partition=0, offsets=[0, 1])
    assert not batch.dead_letters
    assert batch.numeric[0, 0] == 130.0
    assert batch.categorical.tolist() == [[vocabulary.unseen_code, 1],
                                          [vocabulary.other_code,
                                           decoder.vocabularies["plan"].unseen_code]]
    assert batch.quality_counts() == {"age": {"out_of_range": 1},
                                      "region": {"unseen_category": 1},
                                      "plan": {"unseen_category": 1}}
    assert batch.flagged("unseen_category")[:, 3].tolist() == [False, True]


def raw(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


BAD: list[tuple[str, Any]] = [
    ("empty", b""),
    ("empty", None),
    ("wrong_type", "not bytes"),
    ("too_large", raw(good(pad="x" * 3000))),
    ("bad_encoding", b'{"id": "\xff"}'),
    ("not_json", b'{"id": '),
    ("too_deep", b"[" * 1020 + b"]" * 1020),
    ("duplicate_key", b'{"id": "a", "id": "b"}'),
    ("not_object", b"[1, 2]"),
    ("missing_field", raw(good(id=DROP))),
    ("bad_event_id", raw(good(id=""))),
    ("bad_event_id", raw(good(id=1.5))),
    ("bad_event_id", raw(good(id="x" * 300))),
    ("bad_event_id", b'{"id": "\\ud800"}'),
    ("bad_timestamp", raw(good(meta__ts="noon"))),
    ("bad_timestamp", raw(good(meta="flat"))),
    ("missing_field", raw(good(customer__age=DROP))),
    ("missing_field", raw(good(customer=None))),
    ("wrong_type", raw(good(customer__age="31"))),
    ("wrong_type", raw(good(customer__age=True))),
    ("wrong_type", raw(good(customer=[1, 2]))),
    ("wrong_type", raw(good(plan="2"))),
    ("wrong_type", raw(good(plan=True))),
    ("non_finite", raw(good(customer__age=math.inf))),
    ("non_finite", raw(good(customer__age=math.nan))),
    ("non_finite", raw(good(customer__age=10 ** 400))),
    ("out_of_bounds", raw(good(speed=301))),
    ("bad_prediction", raw(good(out__class="medium"))),
    ("bad_prediction", raw(good(out__class=2))),
    ("missing_field", raw(good(out=DROP))),
    ("bad_score", raw(good(out__p="high"))),
    ("bad_label", raw(good(truth=-1))),
    ("bad_label", raw(good(truth=1.0))),
]


@pytest.mark.parametrize(("reason", "value"), BAD, ids=[f"{r}-{i}" for i, (r, _) in
                                                         enumerate(BAD)])
def test_bad_input_becomes_a_dead_letter_with_its_reason(decoder: SchemaDecoder, reason: str,
                                                         value: Any) -> None:
    out = decode(decoder, value)
    assert isinstance(out, DeadLetter), out
    assert out.reason == reason, out.detail
    assert reason in REASONS and out.detail
    assert (out.topic, out.partition, out.offset, out.timestamp_ms, out.key) == (
        "events", 3, 9, 7_000, b"k")
    if isinstance(value, bytes):
        assert out.value == value


def test_detail_names_the_field_and_its_path(decoder: SchemaDecoder) -> None:
    out = decode(decoder, good(customer__age="31"))
    assert isinstance(out, DeadLetter)
    assert out.detail == "field 'age' (customer.age): a number is expected, got str"


@pytest.mark.parametrize(("meta", "detail"), [
    ({"partition": -1}, "partition"), ({"offset": "9"}, "offset"),
    ({"timestamp_ms": 1.5}, "timestamp_ms")])
def test_bad_metadata(decoder: SchemaDecoder, meta: dict[str, Any], detail: str) -> None:
    out = decode(decoder, good(), **meta)
    assert isinstance(out, DeadLetter) and out.reason == "bad_metadata" and detail in out.detail


def test_unknown_fields_are_ignored_or_dead_lettered() -> None:
    event = good(extra=1, customer__nickname="Al")
    assert isinstance(decode(SchemaDecoder(build_config(SCHEMA, EventSchema)), event),
                      SchemaEvent)
    strict = SchemaDecoder(build_config({**SCHEMA, "unknown_fields": "error"}, EventSchema))
    out = decode(strict, event)
    assert isinstance(out, DeadLetter) and out.reason == "unknown_field"
    assert "'customer.nickname'" in out.detail or "'extra'" in out.detail
    assert isinstance(decode(strict, good()), SchemaEvent)


def test_required_event_time_and_iso_times() -> None:
    schema = {**SCHEMA, "event_time": {"path": "meta.ts", "unit": "iso8601", "optional": False}}
    decoder = SchemaDecoder(build_config(schema, EventSchema))
    event = decode(decoder, good(meta__ts="2021-01-01T00:00:01+00:00"))
    assert isinstance(event, SchemaEvent) and event.event_time == 1_609_459_201.0
    for value, reason in ((DROP, "missing_field"), ("2021-01-01T00:00:01", "bad_timestamp")):
        out = decode(decoder, good(meta__ts=value))
        assert isinstance(out, DeadLetter) and out.reason == reason


def test_batch_keeps_good_rows_in_order_and_equals_one_at_a_time(
        decoder: SchemaDecoder) -> None:
    values = [raw(good(id=f"e{i}", customer__age=20 + i)) if i % 3 else raw(good(id=""))
              for i in range(12)]
    batch = decoder.decode_batch(values, topic="t", partition=1, offsets=list(range(100, 112)),
                                 timestamps_ms=[None] * 12)
    singles = [decoder.decode(v, topic="t", partition=1, offset=100 + i, timestamp_ms=None)
               for i, v in enumerate(values)]
    served = [s for s in singles if isinstance(s, SchemaEvent)]
    assert batch.event_ids == [s.event_id for s in served]
    assert batch.offsets.tolist() == [s.offset for s in served]
    np.testing.assert_array_equal(batch.numeric, np.vstack([s.numeric for s in served]))
    np.testing.assert_array_equal(batch.categorical, np.vstack([s.categorical for s in served]))
    assert [d.offset for d in batch.dead_letters] == [100, 103, 106, 109]
    assert len(batch) == 8


def test_batch_with_only_dead_letters_has_empty_columns(decoder: SchemaDecoder) -> None:
    batch = decoder.decode_batch([b"", b"{"], topic="t", partition=0, offsets=[0, 1])
    assert batch.numeric.shape == (0, 4) and batch.categorical.shape == (0, 2)
    assert [d.reason for d in batch.dead_letters] == ["empty", "not_json"]


def test_labels_topic_messages() -> None:
    schema = {**SCHEMA, "outputs": {"classes": ["low", "high"], "label": {
        "topic": "labels", "key_path": "ref.id", "path": "y"}}}
    decoder = SchemaDecoder(build_config(schema, EventSchema))
    assert decoder.decode_label(b'{"ref": {"id": "e-1"}, "y": "high"}') == ("e-1", 1)
    assert decoder.decode_label(b'{"ref": {"id": 12}, "y": 0}') == ("12", 0)
    assert decoder.decode_label(b'{"ref": {}, "y": 0}') == (None, "missing_field")
    assert decoder.decode_label(b'{"ref": {"id": "a"}, "y": 5}') == (None, "bad_label")
    assert decoder.decode_label(b'{"ref": {"id": "a"}}') == (None, "missing_field")
    assert decoder.decode_label(b'{"ref": {"id": ""}, "y": 1}') == (None, "bad_event_id")
    assert decoder.decode_label(b"nope") == (None, "not_json")
    # the event itself carries no label then
    event = decode(decoder, good())
    assert isinstance(event, SchemaEvent) and event.label == -1
    with pytest.raises(ValueError, match="no labels topic"):
        SchemaDecoder(build_config(SCHEMA, EventSchema)).decode_label(b"{}")


def test_integer_and_zero_one_booleans() -> None:
    schema = {"fields": [{"name": "b", "type": "boolean"}]}
    decoder = SchemaDecoder(build_config(schema, EventSchema))
    batch = decoder.decode_batch([b'{"event_id": "a", "b": 1}', b'{"event_id": "b", "b": 0.0}',
                                  b'{"event_id": "c", "b": false}', b'{"event_id": "d", "b": 2}'],
                                 topic="t", partition=0, offsets=[0, 1, 2, 3])
    assert batch.numeric[:, 0].tolist() == [1.0, 0.0, 0.0]
    assert [d.reason for d in batch.dead_letters] == ["wrong_type"]


def test_from_profile_uses_reference_vocabulary_and_range(tmp_path: Any) -> None:
    (tmp_path / "ref.csv").write_text("x,c\n" + "".join(
        f"{i % 10},{'ab'[i % 2] if i % 7 else 'z'}\n" for i in range(100)))
    (tmp_path / "schema.yaml").write_text(
        "fields:\n  - {name: x, type: numeric}\n"
        "  - {name: c, type: categorical, max_categories: 1}\n")
    profile, _ = build_profile(tmp_path / "schema.yaml", tmp_path / "ref.csv")
    schema = load_schema(tmp_path / "schema.yaml")
    decoder = SchemaDecoder.from_profile(schema, profile)
    batch = decoder.decode_batch(
        [b'{"event_id": "1", "x": 9, "c": "a"}', b'{"event_id": "2", "x": 9.5, "c": "b"}',
         b'{"event_id": "3", "x": -1, "c": "q"}', b'{"event_id": "4", "x": 0, "c": "z"}'],
        topic="t", partition=0, offsets=[0, 1, 2, 3])
    vocabulary = decoder.vocabularies["c"]
    assert vocabulary.categories in (("a",), ("b",))
    top = vocabulary.categories[0]
    expected = [0 if v == top else vocabulary.unseen_code if v == "q" else vocabulary.other_code
                for v in "abqz"]
    assert batch.categorical[:, 0].tolist() == expected
    assert batch.flagged("out_of_range")[:, 0].tolist() == [False, True, True, False]


def test_matches_the_insurance_event_decoder_on_real_events() -> None:
    month = load_month(7)
    values = [encode_event(month.event_ids[i], dict(zip(FEATURE_NAMES, month.features[i],
                                                        strict=True)),
                           label=int(month.group[i]), timestamp=float(month.timestamps[i]))
              for i in range(len(month.event_ids))]
    decoder = SchemaDecoder(load_schema(DATA_DIR / "schema.yaml"))
    batch = decoder.decode_batch(values, topic="t", partition=0,
                                 offsets=list(range(len(values))))
    old = [EventDecoder(list(FEATURE_NAMES), n_classes=3).decode(
        v, topic="t", partition=0, offset=i, timestamp_ms=None) for i, v in enumerate(values)]
    assert not batch.dead_letters
    np.testing.assert_array_equal(batch.numeric, np.vstack([e.features for e in old]))
    assert batch.label.tolist() == [e.label for e in old]
    assert batch.event_time.tolist() == [e.timestamp for e in old]
    assert batch.event_ids == [e.event_id for e in old]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"id": st.text(max_size=4) | st.integers(0, 9)},
                             optional={"customer": json_values, "plan": json_values,
                                       "garage": json_values, "speed": json_values,
                                       "out": json_values, "truth": json_values,
                                       "meta": json_values}))
def test_fast_and_strict_parsing_agree(event: dict[str, Any]) -> None:
    """The same event as compact JSON (the orjson fast path) and with its "id" key written
    with an escape (a backslash: the strict json-module path) decodes identically."""
    decoder = SchemaDecoder(build_config(SCHEMA, EventSchema), vocabularies=VOCABULARIES)
    plain = json.dumps(event, ensure_ascii=False).encode()
    escaped = plain.replace(b'"id":', b'"\\u0069d":', 1)
    assert escaped != plain
    outs = [decode(decoder, value) for value in (plain, escaped)]
    assert type(outs[0]) is type(outs[1])
    if isinstance(outs[0], DeadLetter):
        assert (outs[0].reason, outs[0].detail) == (outs[1].reason, outs[1].detail)  # type: ignore[union-attr]
    else:
        for got, want in zip(outs[0][:9], outs[1][:9], strict=True):
            np.testing.assert_array_equal(got, want)
