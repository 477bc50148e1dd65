"""Insurance data loading: packaged files, synthetic ids/timestamps, schema errors."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from driftline.dataloader.insurance import (
    COLUMNS,
    DATA_DIR,
    FEATURE_NAMES,
    InsuranceData,
    InsuranceDataError,
    load_month,
    load_months,
    load_split,
    month_start,
    read_insurance_csv,
)

HEADER = ";".join(COLUMNS)
GOOD_ROWS = [
    "0;26.5;1;48.6;170.1;92.7;4.36;high;0",
    "1;57.9;1;40.4;200.5;38.8;1.07;medium;1",
    "0;45.7;0;33.7;118.3;92.4;-0.81;low;2",
]


def write_csv(path: Path, lines: list[str], compress: bool = True) -> Path:
    text = "\n".join(lines) + "\n"
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_packaged_data_keeps_licence_and_attribution() -> None:
    assert "Oliver Zeigermann" in (DATA_DIR / "LICENSE").read_text()
    readme = (DATA_DIR / "README.md").read_text()
    assert "DJCordhose/mlops-drift" in readme and "MIT" in readme


@pytest.mark.parametrize(("split", "rows"), [("train", 1200), ("test", 300), ("reference", 1500)])
def test_splits_match_an_independent_parser(split: str, rows: int) -> None:
    data = load_split(split)
    table = np.genfromtxt(DATA_DIR / f"{split}.csv.gz", delimiter=";", names=True,
                          dtype=None, encoding="utf-8")
    assert len(data) == rows
    assert data.features.dtype == np.float64 and data.features.shape == (rows, 5)
    assert data.feature_names == FEATURE_NAMES
    for i, name in enumerate(FEATURE_NAMES):
        np.testing.assert_array_equal(data.features[:, i], table[name].astype(np.float64))
    np.testing.assert_array_equal(data.group, table["group"])
    np.testing.assert_array_equal(data.risk, table["risk"])
    assert data.event_ids[0] == f"{split}-00000"
    assert (data.month == 0).all()


def test_month_ids_and_timestamps_span_the_calendar_month() -> None:
    data = load_month(7)
    assert len(data) == 1500
    assert data.event_ids[42] == "m07-00042"
    assert len(set(data.event_ids)) == len(data)
    start = datetime(2021, 7, 1, tzinfo=UTC).timestamp()
    end = datetime(2021, 8, 1, tzinfo=UTC).timestamp()
    assert data.timestamps[0] == start == month_start(7)
    assert data.timestamps[-1] < end
    np.testing.assert_allclose(np.diff(data.timestamps), (end - start) / 1500)
    assert (data.month == 7).all()


def test_all_months_form_one_ordered_stream() -> None:
    stream = load_months()
    assert len(stream) == 36 * 1500
    assert len(set(stream.event_ids)) == len(stream)
    assert (np.diff(stream.timestamps) > 0).all()
    np.testing.assert_array_equal(stream.month, np.repeat(np.arange(1, 37), 1500))
    assert stream.event_ids[1500] == "m02-00000"
    assert datetime.fromtimestamp(stream.timestamps[-1], UTC).strftime("%Y-%m") == "2023-12"
    month_36 = load_month(36)
    np.testing.assert_array_equal(stream.features[-1500:], month_36.features)


def test_known_drift_between_first_and_last_month() -> None:
    first, last = load_month(1), load_month(36)
    # Figures from the data README: drifting and stable column means.
    assert first.column("age").mean() == pytest.approx(36.1, abs=0.05)
    assert last.column("age").mean() == pytest.approx(39.4, abs=0.05)
    assert last.column("emergency_braking").mean() - first.column("emergency_braking").mean() > 0.5
    assert first.column("miles").mean() - last.column("miles").mean() > 15
    for stable in ("braking_distance", "power"):
        assert last.column(stable).mean() == pytest.approx(first.column(stable).mean(), rel=0.02)


def test_concat_and_column_validate_their_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        InsuranceData.concat([])
    with pytest.raises(KeyError, match="unknown feature 'speed'"):
        load_split("test").column("speed")


@pytest.mark.parametrize("month", [0, 37, -1])
def test_month_out_of_range_is_rejected(month: int) -> None:
    with pytest.raises(ValueError, match=r"month must be in \[1, 36\]"):
        load_month(month)


def test_unknown_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        load_split("validation")  # type: ignore[arg-type]


def test_plain_and_gzip_files_parse_the_same(tmp_path: Path) -> None:
    plain = read_insurance_csv(write_csv(tmp_path / "a.csv", [HEADER, *GOOD_ROWS], False))
    packed = read_insurance_csv(write_csv(tmp_path / "a.csv.gz", [HEADER, *GOOD_ROWS]))
    np.testing.assert_array_equal(plain.features, packed.features)
    np.testing.assert_array_equal(packed.group, [0, 1, 2])
    np.testing.assert_array_equal(packed.features[2], [45.7, 0.0, 33.7, 118.3, 92.4])
    assert packed.event_ids == ("a-00000", "a-00001", "a-00002")


def test_columns_may_come_in_any_order(tmp_path: Path) -> None:
    order = list(reversed(COLUMNS))
    rows = [";".join(reversed(r.split(";"))) for r in GOOD_ROWS]
    data = read_insurance_csv(write_csv(tmp_path / "r.csv.gz", [";".join(order), *rows]))
    np.testing.assert_array_equal(data.group, [0, 1, 2])
    np.testing.assert_array_equal(data.column("miles"), [92.7, 38.8, 92.4])


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([HEADER.replace(";miles", ""), "0;26.5;1;48.6;170.1;4.36;high;0"],
         r"line 1: missing column 'miles'"),
        ([HEADER.replace(";", ","), *(r.replace(";", ",") for r in GOOD_ROWS)],
         r"line 1: header is ','-separated; expected ';'"),
        ([HEADER, GOOD_ROWS[0], "1;abc;1;40.4;200.5;38.8;1.07;medium;1"],
         r"line 3, column 'age': non-numeric value 'abc'"),
        ([HEADER, GOOD_ROWS[0], GOOD_ROWS[1], "0;45.7;0;nan;118.3;92.4;-0.81;low;2"],
         r"line 4, column 'braking_distance': value is 'nan'"),
        ([HEADER, "0;26.5;1;48.6;170.1;inf;4.36;high;0"],
         r"line 2, column 'miles': value is 'inf'"),
        ([HEADER, "0;26.5;1;48.6;170.1;92.7;4.36;high;3"],
         r"line 2, column 'group': expected 0, 1 or 2, got '3'"),
        ([HEADER, GOOD_ROWS[0], "1;57.9;1;40.4;200.5;38.8;1.07;low;1"],
         r"line 3, column 'group_name': 'low' is inconsistent with group 1"),
        ([HEADER, "0;26.5;0.5;48.6;170.1;92.7;4.36;high;0"],
         r"line 2, column 'emergency_braking': expected 0 or 1, got '0.5'"),
        ([HEADER, GOOD_ROWS[0], "1;57.9;1;40.4;200.5;38.8;1.07;medium"],
         r"line 3: expected 9 ';'-separated fields, got 8"),
        ([HEADER], r"no data rows after the header"),
    ],
)
def test_malformed_files_are_rejected_with_the_place_named(tmp_path: Path, lines: list[str],
                                                            message: str) -> None:
    path = write_csv(tmp_path / "bad.csv.gz", lines)
    with pytest.raises(InsuranceDataError, match=message) as info:
        read_insurance_csv(path)
    assert str(info.value).startswith(str(path))


def test_empty_missing_and_corrupt_files_are_rejected(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InsuranceDataError, match="file is empty"):
        read_insurance_csv(empty)
    with pytest.raises(InsuranceDataError, match="cannot read file"):
        read_insurance_csv(tmp_path / "absent.csv.gz")
    corrupt = tmp_path / "corrupt.csv.gz"
    corrupt.write_bytes(gzip.compress(b"training;age\n")[:12])
    with pytest.raises(InsuranceDataError, match="corrupt gzip"):
        read_insurance_csv(corrupt)


def test_loading_a_month_from_a_custom_directory_reports_that_file(tmp_path: Path) -> None:
    (tmp_path / "monthly").mkdir()
    write_csv(tmp_path / "monthly" / "month-3.csv.gz", [HEADER, "x;1;1;1;1;1;1;high;0"])
    with pytest.raises(InsuranceDataError, match=r"month-3\.csv\.gz: line 2, column 'training'"):
        load_month(3, data_dir=tmp_path)
