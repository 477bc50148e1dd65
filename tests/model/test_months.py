"""Per-month evaluation on the insurance months."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from driftline.dataloader.insurance import load_month
from driftline.model.artifacts import load_artifacts
from driftline.model.metrics import accuracy, macro_f1
from driftline.model.months import MonthQuality, evaluate_months, months_table


def test_months_report_served_quality_and_drifting_means(artifacts_dir: Path) -> None:
    model = load_artifacts(artifacts_dir)
    rows = evaluate_months(model, [36, 1, 12])
    assert [r.month for r in rows] == [1, 12, 36]
    for row in rows:
        data = load_month(row.month)
        served = model.predict(data.features)
        assert row.n_rows == 1500
        assert row.accuracy == accuracy(data.group, served.labels)
        assert row.macro_f1 == macro_f1(data.group, served.labels, 3)
        assert row.model_accuracy == accuracy(data.group, served.model_labels)
        assert row.fallback_rate == pytest.approx(served.used_fallback.mean())
        assert set(row.feature_means) == {"age", "emergency_braking", "miles"}
        assert row.feature_means["miles"] == pytest.approx(data.column("miles").mean())
    first, _, last = rows
    # The drift away from the training period costs the model a lot of quality.
    assert first.accuracy - last.accuracy > 0.1
    assert first.macro_f1 - last.macro_f1 > 0.1


def test_months_table_is_markdown() -> None:
    row = MonthQuality(month=3, n_rows=1500, accuracy=0.71234, macro_f1=0.7, model_accuracy=0.72,
                       fallback_rate=0.05, feature_means={"age": 36.123, "miles": 80.0})
    lines = months_table([row]).splitlines()
    assert lines[0] == ("| month | rows | accuracy | macro-F1 | network accuracy | fallback rate "
                        "| mean age | mean miles |")
    assert lines[1] == "|---:|---:|---:|---:|---:|---:|---:|---:|"
    assert lines[2] == "| 3 | 1500 | 0.712 | 0.700 | 0.720 | 0.050 | 36.12 | 80.00 |"
    assert len(np.unique([line.count("|") for line in lines])) == 1
