"""The insurance risk data: a training period and 36 months of production traffic.

The data come from DJCordhose/mlops-drift (MIT License, Copyright (c) 2023 Oliver Zeigermann;
licence and attribution in ``dataloader/data/insurance/``). Each file is a ``;``-separated CSV
(optionally gzip-compressed) with the header
``training;age;emergency_braking;braking_distance;power;miles;risk;group_name;group``.

The model sees five features (:data:`FEATURE_NAMES`) and predicts ``group`` (0/1/2 =
high/medium/low risk); ``risk`` is the underlying real-valued target. From month 1 to month 36
``age``, ``emergency_braking`` and ``miles`` drift slowly while ``braking_distance`` and ``power``
stay stable.

Event ids and timestamps are synthetic (the source has neither), so that the months can be
replayed as one ordered event stream:

* event ids are ``"m07-00042"`` for data row 42 (0-based, header excluded) of month 7, and
  ``"train-00042"`` / ``"test-00042"`` / ``"reference-00042"`` for the training-period splits;
* month ``m`` spans the calendar month ``m`` months after December 2020 (month 1 is January 2021,
  month 36 is December 2023); its ``n`` rows are spread evenly over that month, row ``i`` at
  ``month_start(m) + i * month_length(m) / n`` seconds since the Unix epoch (UTC). The
  training-period splits get month 0 (December 2020) the same way.

Example
-------
>>> from driftline.dataloader.insurance import load_month, load_months, load_split
>>> train = load_split("train")
>>> train.features.shape
(1200, 5)
>>> month = load_month(7)
>>> month.event_ids[42]
'm07-00042'
>>> stream = load_months([1, 2])
>>> len(stream), bool((stream.timestamps[1:] > stream.timestamps[:-1]).all())
(3000, True)
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = [
    "COLUMNS",
    "DATA_DIR",
    "DRIFTING_FEATURES",
    "FEATURE_NAMES",
    "GROUP_NAMES",
    "N_MONTHS",
    "STABLE_FEATURES",
    "InsuranceData",
    "InsuranceDataError",
    "load_month",
    "load_months",
    "load_split",
    "month_length",
    "month_path",
    "month_start",
    "read_insurance_csv",
    "split_path",
]

DATA_DIR = Path(__file__).resolve().parent / "data" / "insurance"
COLUMNS = (
    "training", "age", "emergency_braking", "braking_distance", "power", "miles", "risk",
    "group_name", "group",
)
FEATURE_NAMES = ("age", "emergency_braking", "braking_distance", "power", "miles")
DRIFTING_FEATURES = ("age", "emergency_braking", "miles")
STABLE_FEATURES = ("braking_distance", "power")
GROUP_NAMES = ("high", "medium", "low")
N_MONTHS = 36
SPLITS = ("train", "test", "reference")
_BINARY_COLUMNS = ("training", "emergency_braking")
_FIRST_MONTH = (2021, 1)


class InsuranceDataError(ValueError):
    """An insurance data file is missing or does not match the expected schema."""


@dataclass(frozen=True)
class InsuranceData:
    """Rows of the insurance data, in file (or stream) order.

    Attributes
    ----------
    features : ndarray of float64, shape (n, 5)
        Columns in the order of ``feature_names``.
    feature_names : tuple of str
        :data:`FEATURE_NAMES`.
    group : ndarray of int64, shape (n,)
        Class label, 0/1/2 = high/medium/low.
    risk : ndarray of float64, shape (n,)
        Real-valued risk target.
    event_ids : tuple of str
        Stable ids such as ``"m07-00042"``.
    timestamps : ndarray of float64, shape (n,)
        Synthetic event times, seconds since the Unix epoch (see the module docstring).
    month : ndarray of int64, shape (n,)
        Production month 1..36 of each row, 0 for the training-period splits.
    """

    features: np.ndarray
    feature_names: tuple[str, ...]
    group: np.ndarray
    risk: np.ndarray
    event_ids: tuple[str, ...]
    timestamps: np.ndarray
    month: np.ndarray

    def __len__(self) -> int:
        return int(self.group.shape[0])

    def column(self, name: str) -> np.ndarray:
        """The feature column called ``name``."""
        if name not in self.feature_names:
            raise KeyError(f"unknown feature {name!r}; features are {list(self.feature_names)}")
        return self.features[:, self.feature_names.index(name)]

    @staticmethod
    def concat(parts: Sequence[InsuranceData]) -> InsuranceData:
        """Join ``parts`` end to end (they must share ``feature_names``)."""
        if not parts:
            raise ValueError("parts must contain at least one InsuranceData")
        names = parts[0].feature_names
        if any(p.feature_names != names for p in parts):
            raise ValueError("parts have different feature_names")
        return InsuranceData(
            features=np.concatenate([p.features for p in parts]),
            feature_names=names,
            group=np.concatenate([p.group for p in parts]),
            risk=np.concatenate([p.risk for p in parts]),
            event_ids=tuple(e for p in parts for e in p.event_ids),
            timestamps=np.concatenate([p.timestamps for p in parts]),
            month=np.concatenate([p.month for p in parts]),
        )


def _month_bounds(month: int) -> tuple[datetime, datetime]:
    year, first = _FIRST_MONTH
    index = year * 12 + (first - 1) + (month - 1)
    nxt = index + 1
    start = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
    end = datetime(nxt // 12, nxt % 12 + 1, 1, tzinfo=UTC)
    return start, end


def month_start(month: int) -> float:
    """Unix time (UTC) at which ``month`` starts; month 0 is the training period."""
    _check_month(month, allow_zero=True)
    return _month_bounds(month)[0].timestamp()


def month_length(month: int) -> float:
    """Length of ``month`` in seconds."""
    _check_month(month, allow_zero=True)
    start, end = _month_bounds(month)
    return (end - start).total_seconds()


def _check_month(month: int, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if isinstance(month, bool) or not isinstance(month, int | np.integer):
        raise TypeError(f"month must be an integer, got {type(month).__name__}: {month!r}")
    if not low <= month <= N_MONTHS:
        raise ValueError(f"month must be in [{low}, {N_MONTHS}], got {month}")


def split_path(split: str, data_dir: str | Path | None = None) -> Path:
    """Path of a training-period split (``"train"``, ``"test"`` or ``"reference"``)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return Path(data_dir or DATA_DIR) / f"{split}.csv.gz"


def month_path(month: int, data_dir: str | Path | None = None) -> Path:
    """Path of production ``month`` (1..36)."""
    _check_month(month)
    return Path(data_dir or DATA_DIR) / "monthly" / f"month-{int(month)}.csv.gz"


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InsuranceDataError(f"{path}: cannot read file: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InsuranceDataError(f"{path}: corrupt gzip data: {exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InsuranceDataError(f"{path}: not UTF-8 text: {exc}") from None


def _check_header(path: Path, header: list[str]) -> dict[str, int]:
    if len(header) == 1:
        for delimiter, label in ((",", "','"), ("\t", "tab")):
            if delimiter in header[0]:
                raise InsuranceDataError(
                    f"{path}: line 1: header is {label}-separated; expected ';' as delimiter"
                )
    positions = {name.strip(): i for i, name in enumerate(header)}
    missing = [c for c in COLUMNS if c not in positions]
    if missing:
        raise InsuranceDataError(
            f"{path}: line 1: missing column {missing[0]!r} (header has {list(positions)})"
        )
    return positions


def _parse_float(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InsuranceDataError(
            f"{path}: line {line}, column {column!r}: non-numeric value {text!r}"
        ) from None
    if not math.isfinite(value):
        raise InsuranceDataError(f"{path}: line {line}, column {column!r}: value is {text!r}")
    return value


def _parse_rows(path: Path, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    reader = csv.reader(io.StringIO(text), delimiter=";")
    header = next(reader, None)
    if header is None:
        raise InsuranceDataError(f"{path}: file is empty (expected a header row)")
    positions = _check_header(path, header)
    numeric = [c for c in COLUMNS if c != "group_name"]
    values: list[list[float]] = []
    groups: list[int] = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InsuranceDataError(
                f"{path}: line {line}: expected {len(header)} ';'-separated fields, got {len(row)}"
            )
        parsed = {c: _parse_float(path, line, c, row[positions[c]]) for c in numeric}
        for column in _BINARY_COLUMNS:
            if parsed[column] not in (0.0, 1.0):
                raise InsuranceDataError(
                    f"{path}: line {line}, column {column!r}: expected 0 or 1, "
                    f"got {row[positions[column]]!r}"
                )
        group = parsed["group"]
        if group not in (0.0, 1.0, 2.0):
            raise InsuranceDataError(
                f"{path}: line {line}, column 'group': expected 0, 1 or 2, "
                f"got {row[positions['group']]!r}"
            )
        name = row[positions["group_name"]].strip()
        if name != GROUP_NAMES[int(group)]:
            raise InsuranceDataError(
                f"{path}: line {line}, column 'group_name': {name!r} is inconsistent with "
                f"group {int(group)} (expected {GROUP_NAMES[int(group)]!r})"
            )
        values.append([parsed[c] for c in FEATURE_NAMES] + [parsed["risk"]])
        groups.append(int(group))
    if not values:
        raise InsuranceDataError(f"{path}: no data rows after the header")
    table = np.asarray(values, dtype=np.float64)
    return table[:, :-1].copy(), np.asarray(groups, dtype=np.int64), table[:, -1].copy()


def read_insurance_csv(path: str | Path, *, month: int = 0, id_prefix: str | None = None,
                       ) -> InsuranceData:
    """Read and validate one insurance CSV file (gzip-compressed or plain).

    Parameters
    ----------
    path : str or Path
        The file.
    month : int, default 0
        Production month of the file (0 = training period); sets the synthetic timestamps.
    id_prefix : str, optional
        Event id prefix; defaults to ``"m07"`` for month 7 and to the file stem for month 0.

    Raises
    ------
    InsuranceDataError
        If the file cannot be read or a column, row or value is invalid; the message names the
        file, the line (1-based, header is line 1) and the column.
    """
    _check_month(month, allow_zero=True)
    path = Path(path)
    features, group, risk = _parse_rows(path, _read_text(path))
    if id_prefix is None:
        id_prefix = f"m{month:02d}" if month else path.name.split(".")[0]
    n = group.shape[0]
    offsets = np.arange(n, dtype=np.float64) * (month_length(month) / n)
    return InsuranceData(
        features=features,
        feature_names=FEATURE_NAMES,
        group=group,
        risk=risk,
        event_ids=tuple(f"{id_prefix}-{i:05d}" for i in range(n)),
        timestamps=month_start(month) + offsets,
        month=np.full(n, month, dtype=np.int64),
    )


def load_split(split: Literal["train", "test", "reference"],
               data_dir: str | Path | None = None) -> InsuranceData:
    """Load a training-period split; ``data_dir`` defaults to the packaged data."""
    return read_insurance_csv(split_path(split, data_dir), month=0, id_prefix=split)


def load_month(month: int, data_dir: str | Path | None = None) -> InsuranceData:
    """Load production month ``month`` (1..36)."""
    return read_insurance_csv(month_path(month, data_dir), month=int(month))


def load_months(months: Iterable[int] | None = None,
                data_dir: str | Path | None = None) -> InsuranceData:
    """Load ``months`` (default all 36) as one stream ordered by month, then by row."""
    selected = sorted(set(range(1, N_MONTHS + 1) if months is None else months))
    if not selected:
        raise ValueError("months must name at least one month")
    return InsuranceData.concat([load_month(m, data_dir) for m in selected])
