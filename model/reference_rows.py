"""A reference data file as model-input rows with labels, for training an example model.

``driftline profile`` summarises the reference file in one streamed pass and keeps no per-row
categories; training a classifier needs the rows. :func:`read_reference_rows` reads the whole
file into memory (meant for example-sized data) as an
:class:`~model.adapters.base.InputBatch` — numeric and boolean fields as float64 (NaN: no
value), categorical fields as codes of the profile's vocabularies, vector and image fields as
float32 blocks, exactly what the event decoder gives the model at run time — plus the label of
each row (``outputs.label``; -1 where a row has none). Values are validated by
:class:`dataloader.reference_reader.ReferenceReader`, so a bad file fails with its one-line
:class:`~dataloader.reference_reader.ReferenceDataError`.

Example
-------
>>> from driftline.dataloader.insurance import DATA_DIR
>>> from driftline.dataloader.schema import load_schema
>>> from driftline.model.profile_builder import build_profile
>>> profile, _ = build_profile(DATA_DIR / "schema.yaml", DATA_DIR / "reference.csv.gz")
>>> rows, labels = read_reference_rows(DATA_DIR / "reference.csv.gz",
...                                    load_schema(DATA_DIR / "schema.yaml"), profile)
>>> rows.numeric.shape, rows.numeric_names[:2], labels[:5].tolist()
((1500, 5), ['age', 'emergency_braking'], [0, 1, 0, 0, 0])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from driftline.dataloader.json_path import ABSENT, path_column
from driftline.dataloader.reference_reader import ReferenceDataError, ReferenceReader
from driftline.dataloader.schema import ARRAY_FIELD_TYPES, CategoricalField, EventSchema
from driftline.model.adapters.base import InputBatch

__all__ = ["read_reference_rows"]


def _category_values(reader: ReferenceReader, fields: list[CategoricalField]) -> dict[str, list]:
    """Every row's value of each categorical field (``None``: no value)."""
    if not fields:
        return {}
    if reader.format == "jsonl":
        docs = []
        opener: Any = open
        if reader.path.name.lower().endswith(".gz"):
            import gzip

            opener = gzip.open
        with opener(reader.path, "rt", encoding="utf-8") as handle:
            docs = [json.loads(line) for line in handle if line.strip()]
        cache: dict[tuple[Any, ...], list[Any]] = {}
        return {spec.name: [None if value is ABSENT else value
                            for value in path_column(spec.json_path, docs, cache)]
                for spec in fields}
    columns = [spec.reference_column for spec in fields]
    if reader.format == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(reader.path, columns=columns)
    else:
        from pyarrow import csv as arrow_csv

        types = {spec.reference_column: next(s for s in reader.specs if s.name == spec.name
                                             ).csv_type() for spec in fields}
        table = arrow_csv.read_csv(
            reader.path, parse_options=arrow_csv.ParseOptions(delimiter=reader.delimiter),
            convert_options=arrow_csv.ConvertOptions(column_types=types, include_columns=columns,
                                                     strings_can_be_null=True))
    return {spec.name: table.column(spec.reference_column).to_pylist() for spec in fields}


def read_reference_rows(path: str | Path, schema: EventSchema, profile: Any,
                        delimiter: str | None = None) -> tuple[InputBatch, np.ndarray]:
    """The rows of the reference file ``path`` and their labels (see the module docstring)."""
    reader = ReferenceReader(path, schema, delimiter=delimiter)
    numeric_fields = [f.name for f in schema.fields
                      if not isinstance(f, (CategoricalField, *ARRAY_FIELD_TYPES))]
    categorical = [f for f in schema.fields if isinstance(f, CategoricalField)]
    numeric_parts: list[np.ndarray] = []
    label_parts: list[np.ndarray] = []
    vector_parts: dict[str, list[np.ndarray]] = {f.name: [] for f in schema.array_fields}
    for chunk in reader.chunks():
        for name, parts in vector_parts.items():
            parts.append(chunk.vectors[name])
        numeric_parts.append(np.column_stack([chunk.numeric[name] for name in numeric_fields])
                             if numeric_fields else np.empty((chunk.n_rows, 0)))
        label_parts.append(chunk.label if chunk.label is not None
                           else np.full(chunk.n_rows, -1, dtype=np.int64))
    if not numeric_parts:
        raise ReferenceDataError(f"{path}: no data rows")
    numeric = np.concatenate(numeric_parts)
    codes = np.empty((numeric.shape[0], len(categorical)), dtype=np.int32)
    for j, (name, values) in enumerate(_category_values(reader, categorical).items()):
        entry = profile.categorical.get(name)
        if entry is None:
            raise ReferenceDataError(f"{path}: the profile has no categories of field {name!r}; "
                                     "build it with driftline profile from this schema")
        vocabulary = entry.vocabulary()
        codes[:, j] = [vocabulary.missing_code if value is None else vocabulary.code(value)[0]
                       for value in values]
    batch = InputBatch(numeric=numeric, numeric_names=numeric_fields, categorical=codes,
                       categorical_names=[f.name for f in categorical],
                       vectors={name: np.concatenate(parts)
                                for name, parts in vector_parts.items()})
    return batch, np.concatenate(label_parts).astype(np.int64)
