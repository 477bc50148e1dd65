"""Periods of the run summary named from event ids."""

from __future__ import annotations

from driftline.executor.summary import period_of, periods_of


def test_period_of_insurance_ids() -> None:
    assert period_of("m07-00042") == "m07"
    assert period_of("abrupt-3-0000001") == "stream"
    assert period_of("m7") == "stream"


def test_periods_of_a_batch_equal_the_period_of_each_id() -> None:
    ids = ["m07-00042", "m07-1", "m12-00001", "m7", "m07", "m071-3", "m0-7", "", "-", "m1x-2",
           "abrupt-3-0000001", "m07-", "M07-1", "m07x", "mm7-1", "m07-00042"]
    assert periods_of(ids) == [period_of(i) for i in ids]
    assert periods_of(ids)[:5] == ["m07", "m07", "m12", "stream", "m07"]
