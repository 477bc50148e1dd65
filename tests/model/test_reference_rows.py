"""Reference rows for training: CSV, Parquet and JSON Lines give the same rows, numeric values
as written (NaN where missing), categories as the profile's codes (the decoder's), labels as
class indices; a bad file is the reference reader's one-line error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from driftline.dataloader.reference_reader import ReferenceDataError
from driftline.dataloader.schema import load_schema
from driftline.executor.schema_decoder import SchemaDecoder
from driftline.model.profile_files import read_profile
from driftline.model.reference_rows import read_reference_rows
from tests.model.tabular_data import Tabular, events


@pytest.mark.parametrize("name", ["reference.csv", "reference.parquet", "reference.jsonl"])
def test_every_format_gives_the_decoders_columns(tabular: Tabular, name: str) -> None:
    schema, profile = load_schema(tabular.schema), read_profile(tabular.artifacts)
    rows, labels = read_reference_rows(tabular.directory / name, schema, profile)
    np.testing.assert_array_equal(rows.numeric[:, 0], tabular.x)
    np.testing.assert_array_equal(rows.numeric[:, 1], tabular.garage.astype(float))
    np.testing.assert_array_equal(labels, tabular.label)
    decoded = SchemaDecoder.from_profile(schema, profile).decode_batch(
        events(tabular.x, tabular.city, tabular.garage), topic="t", partition=0,
        offsets=list(range(len(tabular.x))))
    np.testing.assert_array_equal(rows.categorical, decoded.categorical)
    assert rows.numeric_names == decoded.numeric_names == ["x", "garage"]
    assert rows.categorical_names == ["city"]
    vocabulary = profile.categorical["city"].vocabulary()
    assert set(rows.categorical[:, 0]) == {0, 1, 2, 3, vocabulary.other_code}


def test_missing_categories_and_labels(tabular: Tabular, tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("x,city,garage,label\n1.5,,true,low\n2.5,mars,false,\n")
    schema = load_schema(tabular.schema)
    schema.fields[1].optional = True
    vocabulary = read_profile(tabular.artifacts).categorical["city"].vocabulary()
    rows, labels = read_reference_rows(path, schema, read_profile(tabular.artifacts))
    assert rows.categorical[:, 0].tolist() == [vocabulary.missing_code, vocabulary.unseen_code]
    assert labels.tolist() == [0, -1]


def test_a_bad_reference_file_is_one_line(tabular: Tabular, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("x,city,garage,label\nold,north,true,low\n")
    with pytest.raises(ReferenceDataError, match=r"bad.csv: column 'x' of field 'x': 'old' is "
                       r"not a number$"):
        read_reference_rows(path, load_schema(tabular.schema), read_profile(tabular.artifacts))
