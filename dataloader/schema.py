"""The event schema: what a monitored model's events look like, in one YAML file.

A schema names the event's fields (by name or dotted JSON path into nested objects, see
:mod:`dataloader.json_path`), gives each a type, says whether it may be missing, and may bound
it (a range for numbers, a category list for categoricals). It also says where the event id,
the event time and the model's outputs (prediction, score, label) are. The same file describes
the reference data of ``driftline profile``: a field's ``column`` (default: its ``name``) is its
column in a CSV or Parquet file, while JSON Lines rows are read like events, by ``path``.

.. code-block:: yaml

    # yaml-language-server: $schema=event.schema.json
    encoding: json
    event_id: {path: event_id}
    event_time: {path: ts, unit: ms}
    fields:
      - {name: age, path: features.age, type: numeric, range: [16, 110]}
      - {name: region, path: customer.region, type: categorical, optional: true}
      - {name: plan, type: categorical, values: integer, categories: [1, 2, 3]}
      - {name: has_garage, type: boolean, optional: true}
    outputs:
      classes: [high, medium, low]
      prediction: {path: model.predicted}
      score: {path: model.confidence}
      label: {topic: insurance.labels, key_path: event_id, path: label}

Field types form a union discriminated by ``type`` (:data:`FIELD_TYPES`); a new kind is one more
model class with its own ``type`` literal added to the union, and one more converter in the
decoder. High-dimensional inputs are ``vector`` fields (a fixed-length embedding: a JSON array of
``length`` numbers, or with ``encoding: base64_float32`` the base64 text of ``length``
little-endian float32 values) and ``image`` fields (nested arrays of the declared ``shape``, or
with ``encoding: base64_uint8`` the base64 text of the raw uint8 pixels in row-major order):

.. code-block:: yaml

    fields:
      - {name: pixels, type: image, shape: [8, 8], range: [0, 16]}
      - {name: embedding, path: model.embedding, type: vector, length: 768,
         encoding: base64_float32}

Example
-------
>>> from driftline.configs import build_config
>>> schema = build_config({"fields": [{"name": "age", "path": "features.age",
...                                     "type": "numeric"}]}, EventSchema)
>>> schema.fields[0].json_path.parts, schema.fields[0].reference_column
(('features', 'age'), 'age')
>>> try:
...     build_config({"fields": [{"name": "a", "type": "numeric", "range": [5, 1]}]},
...                  EventSchema, source="s.yaml")
... except ValueError as exc:
...     print(exc)
s.yaml: fields[0].range: low must be <= high, got [5.0, 1.0]
"""

from __future__ import annotations

import difflib
import hashlib
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from driftline.configs import ConfigModel, key_error, load_config
from driftline.configs.kafka_names import TopicName
from driftline.dataloader.json_path import JsonPath, parse_path

__all__ = [
    "ARRAY_FIELD_TYPES",
    "FIELD_TYPES",
    "MAX_VECTOR_SIZE",
    "BooleanField",
    "CategoricalField",
    "EventIdSpec",
    "EventSchema",
    "EventTimeSpec",
    "FieldSpec",
    "ImageField",
    "LabelSpec",
    "NumericField",
    "OutputsSpec",
    "PredictionSpec",
    "ScoreSpec",
    "VectorField",
    "load_schema",
    "schema_sha256",
]

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]


def _parsed(path: str, key: str) -> JsonPath:
    try:
        return parse_path(path)
    except ValueError as exc:
        raise key_error(key, str(exc)) from None


class _Located(ConfigModel):
    """Something read from the event at ``path`` and from the reference file at ``column``."""

    path: str = ""
    column: str | None = None

    @property
    def json_path(self) -> JsonPath:
        """The parsed :attr:`path`."""
        return parse_path(self.path)

    @model_validator(mode="after")
    def _check_path(self) -> _Located:
        _parsed(self.path, "path")
        return self


class FieldSpec(ConfigModel):
    """Common keys of every field type.

    ``optional: true`` means the field may be absent or ``null`` (the event is still served
    and the gap is counted); a required field that is missing dead-letters the event.
    """

    name: Name
    path: str | None = None
    column: str | None = None
    optional: bool = False
    description: str = ""

    @property
    def json_path(self) -> JsonPath:
        """Where the field is in an event (``path``, default ``name``)."""
        return parse_path(self.path if self.path is not None else self.name)

    @property
    def reference_column(self) -> str:
        """The field's column in a CSV or Parquet reference file (``column``, default
        ``name``)."""
        return self.column if self.column is not None else self.name

    @model_validator(mode="after")
    def _check_path(self) -> FieldSpec:
        _parsed(self.path if self.path is not None else self.name,
                "path" if self.path is not None else "name")
        return self


class NumericField(FieldSpec):
    """A real number (JSON number; decoded as float64).

    ``range: [low, high]`` (inclusive) declares the plausible values; a value outside is
    counted as ``out_of_range`` and served (``range_policy: count``) or dead-lettered with
    reason ``out_of_bounds`` (``range_policy: dead_letter``).
    """

    type: Literal["numeric"]
    range: list[float] | None = Field(None, min_length=2, max_length=2)
    range_policy: Literal["count", "dead_letter"] = "count"

    @model_validator(mode="after")
    def _check_range(self) -> NumericField:
        if self.range is not None and not self.range[0] <= self.range[1]:
            raise key_error("range", f"low must be <= high, got {self.range}")
        return self


class CategoricalField(FieldSpec):
    """A category: a string, or an integer code (``values: integer``).

    ``categories`` declares the allowed values (others are counted as ``unseen_category`` and
    served); without it the reference data define the known categories. The profile keeps the
    ``max_categories`` most frequent ones and pools the rest into an "other" bucket.
    """

    type: Literal["categorical"]
    values: Literal["string", "integer"] = "string"
    categories: list[str] | list[int] | None = Field(None, min_length=1)
    max_categories: int = Field(50, ge=1, le=10_000)

    @model_validator(mode="after")
    def _check_categories(self) -> CategoricalField:
        if self.categories is None:
            return self
        wanted = str if self.values == "string" else int
        for i, category in enumerate(self.categories):
            if type(category) is not wanted:
                raise key_error(f"categories[{i}]", f"must be {self.values} (values: "
                                f"{self.values}), got {type(category).__name__} {category!r}")
        if len(set(self.categories)) != len(self.categories):
            raise key_error("categories", "must not repeat a category")
        return self


class BooleanField(FieldSpec):
    """A flag: JSON ``true``/``false`` (or the numbers 0 and 1); decoded as 0.0/1.0."""

    type: Literal["boolean"]


#: largest number of values of a vector or image field (a 256 x 256 RGB image)
MAX_VECTOR_SIZE = 196_608


class _ArrayField(FieldSpec):
    """A fixed number of real values per event, decoded into an ``(n, size)`` float32 block."""

    @property
    def dims(self) -> tuple[int, ...]:
        """The value's shape (``(length,)`` of a vector)."""
        raise NotImplementedError

    @property
    def size(self) -> int:
        """Number of values per event (the block's width)."""
        return math.prod(self.dims)


class VectorField(_ArrayField):
    """A fixed-length vector of real numbers, such as an embedding.

    ``encoding: array`` (default): a JSON array of ``length`` finite numbers.
    ``encoding: base64_float32``: the base64 text of ``length`` little-endian float32 values
    (4 bytes each); about a fifth of the JSON text and decoded without parsing numbers.
    """

    type: Literal["vector"]
    length: int = Field(ge=1, le=MAX_VECTOR_SIZE)
    encoding: Literal["array", "base64_float32"] = "array"

    @property
    def dims(self) -> tuple[int, ...]:
        return (self.length,)


class ImageField(_ArrayField):
    """An image of ``shape`` ``[height, width]`` or ``[height, width, channels]``.

    ``encoding: array`` (default): nested JSON arrays of that shape (rows of pixels), finite
    numbers; ``range: [low, high]`` (inclusive) bounds them, and a pixel outside dead-letters the
    event (reason ``out_of_bounds``). ``encoding: base64_uint8``: the base64 text of the raw
    uint8 pixels in row-major order (``height * width * channels`` bytes), values 0..255.
    """

    type: Literal["image"]
    shape: list[int] = Field(min_length=2, max_length=3)
    encoding: Literal["array", "base64_uint8"] = "array"
    range: list[float] | None = Field(None, min_length=2, max_length=2)

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(self.shape)

    @model_validator(mode="after")
    def _check_shape(self) -> ImageField:
        for i, extent in enumerate(self.shape):
            if extent < 1:
                raise key_error(f"shape[{i}]", f"must be >= 1, got {extent}")
        if math.prod(self.shape) > MAX_VECTOR_SIZE:
            raise key_error("shape", f"{self.shape} has {math.prod(self.shape)} values; at most "
                            f"{MAX_VECTOR_SIZE} are supported")
        if self.range is not None:
            if not self.range[0] <= self.range[1]:
                raise key_error("range", f"low must be <= high, got {self.range}")
            if self.encoding == "base64_uint8":
                raise key_error("range", "does not apply to encoding base64_uint8 (its pixels "
                                "are 0..255)")
        return self


#: the field types, discriminated by ``type``
FIELD_TYPES = (NumericField, CategoricalField, BooleanField, VectorField, ImageField)
#: the field types decoded into a block of values per event
ARRAY_FIELD_TYPES = (VectorField, ImageField)
_BY_TAG: dict[str, type[FieldSpec]] = {
    cls.model_fields["type"].annotation.__args__[0]: cls for cls in FIELD_TYPES}  # type: ignore[union-attr]
AnyField = Annotated[NumericField | CategoricalField | BooleanField | VectorField | ImageField,
                     Field(discriminator="type")]


class EventIdSpec(_Located):
    """The event id: a non-empty string (or an integer, read as its decimal text)."""

    path: str = "event_id"
    max_length: int = Field(256, ge=1)


class EventTimeSpec(_Located):
    """The event time: seconds (``unit: s``), ``ms``, ``us`` or ``ns`` since the Unix epoch,
    or an ISO 8601 text with a UTC offset (``unit: iso8601``). When the event has none, the
    Kafka record's timestamp is used, unless ``optional: false`` (then it is dead-lettered)."""

    path: str = "timestamp"
    unit: Literal["s", "ms", "us", "ns", "iso8601"] = "s"
    optional: bool = True


class PredictionSpec(_Located):
    """The model's predicted class: an index into ``outputs.classes`` or a class name.
    Reference column default: ``prediction``."""

    path: str = "prediction"
    optional: bool = False


class ScoreSpec(_Located):
    """The model's score: one finite number (a probability, a confidence or a risk).
    Reference column default: ``score``."""

    path: str = "score"
    optional: bool = False


class LabelSpec(_Located):
    """The true class, an index into ``outputs.classes`` or a class name. Inline (at ``path``
    in the event, may be absent) or, with ``topic``, in messages on a labels topic, joined to
    the event whose id is at ``key_path`` of the label message. Reference column default:
    ``label``."""

    path: str = "label"
    topic: TopicName | None = None
    key_path: str | None = None

    @model_validator(mode="after")
    def _check_topic(self) -> LabelSpec:
        if self.key_path is not None:
            if self.topic is None:
                raise key_error("key_path", "only applies to a labels topic (set topic)")
            _parsed(self.key_path, "key_path")
        return self


class OutputsSpec(ConfigModel):
    """Where the model's outputs are; every part is optional."""

    classes: list[Name] | None = Field(None, min_length=2)
    prediction: PredictionSpec | None = None
    score: ScoreSpec | None = None
    label: LabelSpec | None = None

    @model_validator(mode="after")
    def _check_classes(self) -> OutputsSpec:
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise key_error("classes", "must not repeat a class")
        for key in ("prediction", "label"):
            if getattr(self, key) is not None and self.classes is None:
                raise key_error("classes", f"is required with {key} (class names, by index)")
        return self


class EventSchema(ConfigModel):
    """The schema of a monitored stream's events and of its reference data."""

    encoding: Literal["json"] = "json"
    event_id: EventIdSpec = Field(default_factory=EventIdSpec)
    event_time: EventTimeSpec | None = None
    fields: list[AnyField] = Field(min_length=1)
    outputs: OutputsSpec = Field(default_factory=OutputsSpec)
    unknown_fields: Literal["ignore", "error"] = "ignore"
    max_bytes: int = Field(65_536, ge=1)

    @property
    def field_names(self) -> list[str]:
        """Every field's name, in schema order."""
        return [f.name for f in self.fields]

    @property
    def array_fields(self) -> list[VectorField | ImageField]:
        """The vector and image fields, in schema order."""
        return [f for f in self.fields if isinstance(f, ARRAY_FIELD_TYPES)]

    def located(self) -> list[tuple[str, JsonPath]]:
        """``(key, path)`` of everything read from an event, for overlap checks and messages."""
        out = [("event_id.path", self.event_id.json_path)]
        if self.event_time is not None:
            out.append(("event_time.path", self.event_time.json_path))
        out += [(f"fields[{i}].path", f.json_path) for i, f in enumerate(self.fields)]
        for key in ("prediction", "score", "label"):
            spec = getattr(self.outputs, key)
            if spec is not None and not (key == "label" and spec.topic is not None):
                out.append((f"outputs.{key}.path", spec.json_path))
        return out

    @model_validator(mode="wrap")
    @classmethod
    def _untag_field_errors(cls, data: Any, handler: Any) -> EventSchema:
        """Report ``fields[0].range``, not pydantic's ``fields[0].numeric.range``."""
        try:
            return handler(data)
        except ValidationError as exc:
            errors: list[Any] = []
            for error in exc.errors():
                loc, kind = error["loc"], error["type"]
                ctx = error.get("ctx") or {}
                if len(loc) >= 3 and loc[0] == "fields" and loc[2] in _BY_TAG:
                    allowed = sorted(_BY_TAG[str(loc[2])].model_fields)
                    loc = (*loc[:2], *loc[3:])
                    if kind == "extra_forbidden":
                        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
                        hint = f"did you mean {close[0]!r}? " if close else ""
                        kind, loc = "config_key", loc[:-1]
                        ctx = {"key": str(error["loc"][-1]), "message": f"unknown key ({hint}"
                               f"allowed: {', '.join(allowed)})"}
                if kind in ("union_tag_invalid", "union_tag_not_found") and loc[0] == "fields":
                    tag = ctx.get("tag")
                    kind, ctx = "config_key", {"key": "type", "message": (
                        f"unknown field type {tag!r}" if kind == "union_tag_invalid" else
                        "required key is missing") + f" (types: {', '.join(sorted(_BY_TAG))})"}
                message = "{key}: {message}" if kind == "config_key" else error["msg"]
                errors.append({"type": PydanticCustomError(kind, message, ctx), "loc": loc,
                               "input": error["input"]})
            raise ValidationError.from_exception_data(exc.title, errors) from None

    @model_validator(mode="after")
    def _check_unique(self) -> EventSchema:
        names: dict[str, int] = {}
        columns: dict[str, int] = {}
        for i, spec in enumerate(self.fields):
            if names.setdefault(spec.name, i) != i:
                raise key_error(f"fields[{i}].name", f"{spec.name!r} is already the name of "
                                f"fields[{names[spec.name]}]")
            if columns.setdefault(spec.reference_column, i) != i:
                raise key_error(f"fields[{i}].column", f"{spec.reference_column!r} is already "
                                f"the column of fields[{columns[spec.reference_column]}]")
        located = self.located()
        for j, (key, path) in enumerate(located):
            for other_key, other in located[:j]:
                shorter = min(len(path.parts), len(other.parts))
                if path.parts[:shorter] == other.parts[:shorter]:
                    relation = "is the same as" if len(path.parts) == len(other.parts) else (
                        "overlaps")
                    raise key_error(key, f"{str(path)!r} {relation} {other_key} "
                                    f"{str(other)!r}")
        return self


def load_schema(path: str | Path) -> EventSchema:
    """Read and validate a schema file; :class:`configs.ConfigError` names the file and key."""
    return load_config(path, EventSchema)


def schema_sha256(path: str | Path) -> str:
    """SHA-256 of the schema file's bytes (recorded in the profile built from it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
