"""detectors.calibration.budget: a budget of false pages per period as ARL0s in rows."""

from __future__ import annotations

import pytest

from driftline.detectors.calibration.budget import budget_arl0, split_budget

MONTH = 30 * 86400


def test_equal_sources_share_the_budget() -> None:
    # 1 page per 30 days at 1000 events/s over 20 sources: each expects 1/20 page per month
    arl0 = budget_arl0(1, MONTH, 1000.0, 20)
    assert MONTH * 1000.0 / arl0 == pytest.approx(1 / 20)
    assert budget_arl0(2, MONTH, 1000.0, 20) == pytest.approx(arl0 / 2)


def test_split_by_columns_weights_and_rates() -> None:
    shares = split_budget(1.0, MONTH, 1000.0, {"page_hinkley": 5, "iks": 5, "nm_ddm": 1},
                          weights={"nm_ddm": 2.0}, rates={"nm_ddm": 10.0})
    pages = {name: share.expected_false_pages for name, share in shares.items()}
    assert sum(pages.values()) == pytest.approx(1.0)
    assert pages["nm_ddm"] == pytest.approx(2 / 12) and pages["iks"] == pytest.approx(5 / 12)
    for name, share in shares.items():
        rate = 10.0 if name == "nm_ddm" else 1000.0
        # the expected false alarms of the bank over the period are its share
        assert MONTH * rate / share.family_arl0 == pytest.approx(share.expected_false_pages)
        assert share.column_arl0 == pytest.approx(share.family_arl0 * share.columns)


@pytest.mark.parametrize(
    ("call", "match"),
    [(lambda: budget_arl0(0, MONTH, 1000.0, 3), "false_pages"),
     (lambda: budget_arl0(1, MONTH, float("inf"), 3), "events_per_s"),
     (lambda: budget_arl0(1, MONTH, 1000.0, 0), "n_alarm_sources"),
     (lambda: split_budget(1, MONTH, 1000.0, {}), "columns"),
     (lambda: split_budget(1, MONTH, 1000.0, {"a": 0}), r"columns\['a'\]"),
     (lambda: split_budget(1, MONTH, 1000.0, {"a": 1}, weights={"b": 1.0}), "weights"),
     (lambda: split_budget(1, MONTH, 1000.0, {"a": 1}, rates={"a": -1.0}), "rates")])
def test_errors_name_the_parameter(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()
