"""The categorical benchmark runs its three paths to the same detections and prints the table
(a smoke test: speed is measured by running the module, never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from driftline.evaluation.bench_categorical import categorical_columns, main, run


def test_columns_drift_in_their_second_half() -> None:
    references, rows = categorical_columns(4, 2000, seed=1)
    assert rows.shape == (2000, 4) and len(references) == 4
    for j, reference in enumerate(references):
        codes = rows[:, j].astype(int)
        n_categories = len(reference) - 3  # then other, unseen, missing
        unseen = n_categories + 1
        assert reference[unseen] == 0 and (codes[:1000] != unseen).all()
        assert (codes[1000:] == unseen).any() == bool(j % 2)


def test_run_reports_both_clocks_and_agreeing_detections() -> None:
    result = run(3, 1500, window_size=100, repeats=1)
    assert result["detections"] > 0
    for clock in ("us_per_value_cpu", "us_per_value_wall"):
        assert set(result[clock]) == {"loop", "update_many", "bank"}
        assert min(result[clock].values()) > 0
    assert result["pass"] == (result["ratio_loop_over_bank"] >= result["target"])
    assert np.isclose(result["ratio_loop_over_bank"],
                      result["us_per_value_cpu"]["loop"] / result["us_per_value_cpu"]["bank"])


def test_main_prints_the_table_and_writes_json(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    assert main(["--columns", "2", "--rows", "600", "--window-size", "50", "--repeats", "1",
                 "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "per-value loop" in out and "bank / loop:" in out and "identical" in out
    assert json.loads(path.read_text())["columns"] == 2
    with pytest.raises(SystemExit):
        main(["--rows", "0"])
