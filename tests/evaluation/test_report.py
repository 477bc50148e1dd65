"""Markdown tables of the evaluation report."""

from __future__ import annotations

import math

from driftline.evaluation.report import results_table


def _row(detector: str, mode: str, us: float) -> dict:
    return {"detector": detector, "mode": mode, "stream": "shift", "threshold": 2.5,
            "mean_delay": 10.0, "mean_delay_std": 1.0, "median_delay": 10.0, "missed_rate": 0.0,
            "false_alarms_per_10k": 3.0, "false_alarms_per_10k_std": 0.5, "mtfa": 3000.0,
            "mtr": 300.0, "precision": 0.5, "recall": 1.0, "us_per_update": us}


def test_results_table_keeps_the_modes_asked_for() -> None:
    rows = [_row("ph", "calibrated", 1.25), _row("ph", "default", 2.5)]
    lines = results_table(rows, ("calibrated",)).splitlines()
    assert len(lines) == 3  # header, rule, one row
    assert lines[0].endswith("| recall | µs/update |")
    assert lines[2].startswith("| ph | shift | 2.50 | 10.00 ± 1.00 |")
    assert lines[2].endswith("| 1.25 |")


def test_results_table_without_timing_drops_only_the_wall_time_column() -> None:
    rows = [_row("ph", "calibrated", 1.25), _row("ks", "calibrated", math.nan)]
    timed = results_table(rows, ("calibrated",)).splitlines()
    untimed = results_table(rows, ("calibrated",), timing=False).splitlines()
    assert "µs/update" not in untimed[0]
    for with_time, without in zip(timed, untimed, strict=True):
        assert with_time.startswith(without)
        assert with_time.count("|") == without.count("|") + 1
