"""Smoke test of the wide-stream benchmark on tiny sizes: what it runs and reports, never
timings."""

from __future__ import annotations

from driftline.evaluation.bench_wide import (
    N_CATEGORICAL,
    N_CATEGORIES,
    N_NUMERIC,
    format_wide,
    run_wide,
    wide_rows,
)

FIXED = {"calibration": {"n_streams": 10}, "streams": {
    "features": [{"detector": "page_hinkley", "params": {"threshold": 30.0}}],
    "categories": [{"detector": "chi_square", "params": {"window_size": 100, "alpha": 1e-6}}],
    "data_quality": [{"detector": "ddm", "params": {"drift_threshold": 4.0}}]}}


def test_rows_have_the_documented_fields_and_unseen_values_only_when_asked() -> None:
    rows = wide_rows(400, 0, unseen=True)
    assert all(len(r["features"]) >= N_NUMERIC - 2 and len(r["context"]) >= N_CATEGORICAL - 2
               for r in rows)
    seen = {v for r in wide_rows(400, 0, unseen=False) for v in r["context"].values()}
    assert seen == {f"v{k}" for k in range(N_CATEGORIES)}
    assert {v for r in rows for v in r["context"].values()} - seen == {"v12", "v13"}


def test_every_event_goes_through_every_stream() -> None:
    result = run_wide(900, 300, 1, n_reference=600, detectors=FIXED)
    # per numeric field, per categorical field, per data-quality series (2 optional numeric
    # fields: missing, wrong type, out of range; the others out of range; 2 optional
    # categorical fields: missing, wrong type, unseen; the others unseen)
    assert result["n_series"] == N_NUMERIC + N_CATEGORICAL + (N_NUMERIC + 2 * 2) + (
        N_CATEGORICAL + 2 * 2)
    assert result["n_events"] == 900 and result["total"] > 0
    assert result["detections"] > 0  # the unseen categories
    assert "20 numeric + 10 categorical" in format_wide(result)
