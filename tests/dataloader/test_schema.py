"""Event schema: the YAML file validates with errors naming the file and the dotted key, nested
paths parse, the JSON Schema export agrees with the models, the insurance schema ships."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from driftline.configs import ConfigError, build_config
from driftline.configs.schema import json_schema
from driftline.dataloader.insurance import DATA_DIR, FEATURE_NAMES
from driftline.dataloader.json_path import (
    ABSENT,
    Misplaced,
    PathTypeError,
    format_parts,
    parse_path,
    path_column,
    trie_of,
    unknown_key,
)
from driftline.dataloader.schema import (
    CategoricalField,
    EventSchema,
    NumericField,
    load_schema,
    schema_sha256,
)

GOOD_YAML = """\
encoding: json
event_id: {path: meta.id}
event_time: {path: meta.ts, unit: ms}
fields:
  - {name: age, path: customer.age, type: numeric, range: [16, 110]}
  - {name: region, path: 'customer["home.address"].region', type: categorical, optional: true}
  - {name: plan, type: categorical, values: integer, categories: [1, 2, 3], column: plan_id}
  - {name: garage, type: boolean}
outputs:
  classes: [low, high]
  prediction: {path: model.predicted}
  score: {path: model.p}
  label: {topic: events.labels, key_path: event, path: y}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "events.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_schema_loads(tmp_path: Path) -> None:
    schema = load_schema(write(tmp_path, GOOD_YAML))
    assert schema.field_names == ["age", "region", "plan", "garage"]
    region = schema.fields[1]
    assert isinstance(region, CategoricalField)
    assert region.json_path.parts == ("customer", "home.address", "region")
    assert region.reference_column == "region" and region.optional
    assert schema.fields[2].reference_column == "plan_id"
    assert schema.event_time is not None and schema.event_time.unit == "ms"
    assert schema.outputs.label is not None and schema.outputs.label.topic == "events.labels"
    assert [key for key, _ in schema.located()][-2:] == ["outputs.prediction.path",
                                                          "outputs.score.path"]


BAD: list[tuple[dict[str, Any], str]] = [
    ({}, "fields: required key is missing"),
    ({"fields": []}, "fields: List should have at least 1 item"),
    ({"fields": [{"name": "a", "type": "text"}]},
     "fields[0].type: unknown field type 'text' (types: boolean, categorical, image, numeric, "
     "vector)"),
    ({"fields": [{"name": "a"}]}, "fields[0].type: required key is missing (types:"),
    ({"fields": [{"name": "a", "type": "numeric", "optinal": True}]},
     "fields[0].optinal: unknown key (did you mean 'optional'?"),
    ({"fields": [{"name": "a", "type": "numeric", "range": [2, 1]}]},
     "fields[0].range: low must be <= high"),
    ({"fields": [{"name": "a", "type": "numeric", "range": [1]}]}, "fields[0].range:"),
    ({"fields": [{"name": "a", "type": "numeric", "optional": "yes"}]}, "fields[0].optional:"),
    ({"fields": [{"name": "a", "type": "categorical", "categories": ["x", 1]}]},
     "fields[0].categories"),
    ({"fields": [{"name": "a", "type": "categorical", "values": "integer",
                  "categories": ["x"]}]}, "fields[0].categories[0]: must be integer"),
    ({"fields": [{"name": "a", "type": "categorical", "categories": ["x", "x"]}]},
     "fields[0].categories: must not repeat"),
    ({"fields": [{"name": "a", "type": "categorical", "max_categories": 0}]},
     "fields[0].max_categories: must be >= 1"),
    ({"fields": [{"name": "a", "type": "numeric", "path": "x..y"}]},
     "fields[0].path: path 'x..y': expected a key at position 2"),
    ({"fields": [{"name": "a", "type": "numeric", "path": "[0]"}]},
     "fields[0].path: path '[0]': must start with a key"),
    ({"fields": [{"name": "a b", "type": "numeric"}]}, "fields[0].name:"),
    ({"fields": [{"name": "a", "type": "numeric"}, {"name": "a", "type": "boolean",
                                                    "path": "b"}]},
     "fields[1].name: 'a' is already the name of fields[0]"),
    ({"fields": [{"name": "a", "type": "numeric", "column": "c"},
                 {"name": "b", "type": "numeric", "column": "c"}]},
     "fields[1].column: 'c' is already the column of fields[0]"),
    ({"fields": [{"name": "a", "path": "x.y", "type": "numeric"},
                 {"name": "b", "path": "x", "type": "numeric"}]},
     "fields[1].path: 'x' overlaps fields[0].path 'x.y'"),
    ({"fields": [{"name": "event_id", "type": "numeric"}]},
     "fields[0].path: 'event_id' is the same as event_id.path"),
    ({"fields": [{"name": "a", "type": "numeric"}], "outputs": {"prediction": {}}},
     "outputs.classes: is required with prediction"),
    ({"fields": [{"name": "a", "type": "numeric"}], "outputs": {"classes": ["x"]}},
     "outputs.classes: List should have at least 2 items"),
    ({"fields": [{"name": "a", "type": "numeric"}],
      "outputs": {"classes": ["x", "y"], "label": {"key_path": "id"}}},
     "outputs.label.key_path: only applies to a labels topic"),
    ({"fields": [{"name": "a", "type": "numeric"}],
      "outputs": {"classes": ["x", "y"], "label": {"topic": "bad topic"}}},
     "outputs.label.topic:"),
    ({"fields": [{"name": "a", "type": "numeric"}], "encoding": "avro"}, "encoding:"),
    ({"fields": [{"name": "a", "type": "numeric"}], "event_time": {"unit": "days"}},
     "event_time.unit:"),
]


CROSS_FIELD = ("low must be", "must be integer", "must not repeat", "already the",
               "overlaps", "is the same as", "is required with", "only applies to",
               "expected a key", "must start with")


@pytest.mark.parametrize(("data", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_schema_names_the_file_and_the_key(tmp_path: Path, data: dict[str, Any],
                                               message: str) -> None:
    path = write(tmp_path, yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_schema(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    # the exported JSON Schema rejects the structural errors too (not the cross-field rules)
    validator = jsonschema.Draft202012Validator(json_schema("event"))
    structural = not any(rule in message for rule in CROSS_FIELD)
    assert bool(list(validator.iter_errors(data))) == structural


def test_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_schema(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_schema(write(tmp_path, "fields: [\n"))


def test_the_json_schema_accepts_the_good_schema() -> None:
    validator = jsonschema.Draft202012Validator(json_schema("event"))
    jsonschema.Draft202012Validator.check_schema(json_schema("event"))
    assert list(validator.iter_errors(yaml.safe_load(GOOD_YAML))) == []


def test_insurance_schema_describes_todays_events() -> None:
    path = DATA_DIR / "schema.yaml"
    schema = load_schema(path)
    assert schema.field_names == list(FEATURE_NAMES)
    assert all(isinstance(f, NumericField) for f in schema.fields)
    assert [str(f.json_path) for f in schema.fields] == [f"features.{n}" for n in FEATURE_NAMES]
    assert schema.outputs.classes == ["high", "medium", "low"]
    validator = jsonschema.Draft202012Validator(
        json.loads((Path(__file__).parents[2] / "configs" / "event.schema.json").read_text()))
    assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == []
    assert len(schema_sha256(path)) == 64


def test_field_types_are_a_discriminated_union() -> None:
    schema = build_config({"fields": [{"name": "a", "type": "numeric"},
                                      {"name": "b", "type": "categorical"},
                                      {"name": "c", "type": "boolean"},
                                      {"name": "d", "type": "vector", "length": 3},
                                      {"name": "e", "type": "image", "shape": [2, 2]}]},
                          EventSchema)
    assert [type(f).__name__ for f in schema.fields] == ["NumericField", "CategoricalField",
                                                         "BooleanField", "VectorField",
                                                         "ImageField"]
    variants = json_schema("event")["$defs"]["EventSchema"]["properties"]["fields"] if (
        "EventSchema" in json_schema("event").get("$defs", {})) else json_schema(
        "event")["properties"]["fields"]
    assert set(variants["items"]["discriminator"]["mapping"]) == {"numeric", "categorical",
                                                                  "boolean", "vector", "image"}


@pytest.mark.parametrize(("text", "parts"), [
    ("a", ("a",)), ("a.b.c", ("a", "b", "c")), ('a["b.c"]', ("a", "b.c")),
    ('a["q\\"x"].y', ("a", 'q"x', "y")), ("a[2].b", ("a", 2, "b")), ("é.ü", ("é", "ü"))])
def test_paths_parse_and_print_back(text: str, parts: tuple[Any, ...]) -> None:
    path = parse_path(text)
    assert path.parts == parts
    assert parse_path(str(path)) == path
    assert format_parts(parts) == str(path)


@pytest.mark.parametrize("text", ["", ".a", "a.", "a..b", "a[", "a[x]", 'a["b]', "a b",
                                  "a[-1]", "[0]"])
def test_bad_paths_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="path"):
        parse_path(text)


def test_get_and_columns_distinguish_absent_null_and_misplaced() -> None:
    path = parse_path("a.b[1]")
    assert path.get({"a": {"b": [0, None]}}) is None
    assert path.get({"a": {"b": [0]}}) is ABSENT
    assert path.get({"a": {}}) is ABSENT
    with pytest.raises(PathTypeError, match=r"a\.b is dict, not an object"):
        path.get({"a": {"b": {"1": 2}}})
    docs = [{"a": {"b": [5, 6]}}, {"a": None}, {"a": 3}, {}]
    column = path_column(path, docs, {})
    assert column[:2] == [6, ABSENT] and column[3] is ABSENT
    assert isinstance(column[2], Misplaced) and str(column[2]) == "a is int, not an object"


def test_unknown_keys_along_the_schema_paths() -> None:
    trie = trie_of([parse_path("f.x"), parse_path("id"), parse_path("v[0]")])
    assert unknown_key({"id": 1, "f": {"x": 2}, "v": [1]}, trie) is None
    assert unknown_key({"id": 1, "g": 2}, trie) == "'g'"
    assert unknown_key({"f": {"x": 1, "y.z": 2}}, trie) == """'f["y.z"]'"""
