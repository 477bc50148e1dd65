"""Smoke test of the detector benchmarks on tiny sizes: output structure, never timings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftline.evaluation import bench_detectors
from driftline.evaluation.bench_common import (
    format_number,
    markdown_table,
    ours_detections,
    river_detections,
    time_interleaved,
    try_build,
    verdict,
)
from driftline.evaluation.bench_detection import DetectionConfig

TINY = DetectionConfig(pre=300, post=300, no_drift_length=1000, seeds=(0,), no_drift_seeds=(0,),
                       calibration_length=1000, calibration_seeds=(101,))
SPEED_KEYS = {"n_values", "ours_update_us", "ours_batch_us", "river_us", "ratio_update",
              "ratio_batch"}
DETECTION_KEYS = {"mean_delay", "missed_rate", "false_alarms_per_10k", "mtr", "n_false_alarms"}


class _Above:
    """Minimal detector: fires when a value exceeds ``level`` (batch protocol only)."""

    def __init__(self, level: float) -> None:
        self.level = level

    def update_many(self, values: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.asarray(values) > self.level)


def test_ours_detections_restarts_after_each_detection() -> None:
    values = np.array([0.0, 5.0, 0.0, 6.0, 7.0, 0.0])
    assert ours_detections(lambda: _Above(1.0), values) == [1, 3, 4]
    assert ours_detections(lambda: _Above(1.0), values, chunk_size=2) == [1, 3, 4]
    assert ours_detections(lambda: _Above(10.0), values, chunk_size=4) == []


def test_river_detections_matches_a_manual_loop() -> None:
    from river.drift import PageHinkley

    values = np.concatenate([np.zeros(200), np.full(200, 5.0)])
    found = river_detections(PageHinkley, values)
    det, manual = PageHinkley(), []
    for i, x in enumerate(values.tolist()):
        det.update(x)
        if det.drift_detected:
            manual.append(i)
            det = PageHinkley()
    assert found == manual and found and found[0] >= 200


def test_helpers_format_and_availability() -> None:
    assert format_number(None) == "-" and format_number(float("nan")) == "-"
    assert format_number(float("inf")) == "inf" and format_number(12345) == "12,345"
    assert format_number(1.23456) == "1.23" and format_number(0.0001) == "1.0e-04"
    table = markdown_table(["a", "b"], [[1, "x"], [2.5, None]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | x |", "| 2.50 | - |"]
    missing = try_build(lambda: __import__("no_such_module_for_driftline"))
    assert not missing.ok and missing.reason.startswith("not available: ModuleNotFoundError")
    assert verdict({"target": "", "pass": None}) == ""
    assert verdict({"target": "t", "pass": None}) == "n/a"
    assert verdict({"target": "t", "pass": True}) == "PASS"
    assert verdict({"target": "t", "pass": False}) == "FAIL"


@pytest.fixture(scope="module")
def tiny_results() -> dict[str, Any]:
    return bench_detectors.run_benchmarks(quick=True, speed_values=256, detection=TINY,
                                          repeats=1)


def test_speed_results_structure(tiny_results: dict[str, Any]) -> None:
    speed = tiny_results["speed"]
    labels = [r["detector"] for r in speed]
    for name in ("PageHinkley", "IncrementalKS (window 500, reference 2,000)", "DDM", "EDDM",
                 "HDDM_A", "ADWIN", "PageHinkleyBank (32 features)", "DDMBank (32 features)"):
        assert name in labels
    for r in speed:
        assert {"detector", "river", "target", "status", "pass"} <= set(r)
        if r["status"] == "ok":
            assert set(r) >= SPEED_KEYS
            assert all(r[k] > 0 for k in SPEED_KEYS)
            assert r["ratio_batch"] == pytest.approx(r["river_us"] / r["ours_batch_us"])
        else:
            assert r["status"].startswith(("not available", "failed"))
    targets = {r["detector"]: r["target"] for r in speed if r["target"]}
    assert "<= 5 µs" in targets["IncrementalKS (window 500, reference 2,000)"]
    assert ">= 10x river" in targets["PageHinkleyBank (32 features)"]
    assert ">= 10x river" in targets["DDMBank (32 features)"]


def test_detection_results_structure(tiny_results: dict[str, Any]) -> None:
    detection = tiny_results["detection"]
    streams = {r["stream"] for r in detection}
    assert streams == {"mean shift 0.5 sd", "mean shift 1 sd", "mean shift 2 sd", "variance x3",
                       "bimodal, equal mean/var", "no drift (1,000)"}
    detectors = {r["detector"] for r in detection}
    assert {"river PageHinkley (defaults)", "river KSWIN (defaults)"} <= detectors
    assert any(d.startswith("PageHinkley (") and "ARL0=10,000" in d for d in detectors)
    assert any(d.startswith("IncrementalKS (window 500") for d in detectors)
    for r in detection:
        if r["status"] == "ok":
            assert set(r) >= DETECTION_KEYS
            assert r["seeds"] == ([0] if "no drift" in r["stream"] else list(TINY.seeds))
    river_ph = [r for r in detection if r["detector"] == "river PageHinkley (defaults)"]
    assert all(r["status"] == "ok" for r in river_ph)
    shift2 = next(r for r in river_ph if r["stream"] == "mean shift 2 sd")
    assert shift2["missed_rate"] == 0.0 and 0 <= shift2["mean_delay"] < TINY.post
    with_target = [r for r in detection if r["target"]]
    assert {r["stream"] for r in with_target} == {"no drift (1,000)", "variance x3",
                                                  "bimodal, equal mean/var"}


def test_render_prints_two_markdown_tables(tiny_results: dict[str, Any]) -> None:
    text = bench_detectors.render(tiny_results)
    assert "## (a) Speed" in text and "## (b) Detection" in text
    headers = [line for line in text.splitlines() if line.startswith("| detector |")]
    assert len(headers) == 2 and all("PASS/FAIL" in h for h in headers)
    n_rows = len(tiny_results["speed"]) + len(tiny_results["detection"])
    assert sum(line.startswith("| ") for line in text.splitlines()) == n_rows + 2


def test_main_quick_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench_detectors, "QUICK_SPEED_VALUES", 128)
    monkeypatch.setattr(DetectionConfig, "quick", classmethod(lambda cls: TINY))
    out = tmp_path / "bench.json"
    assert bench_detectors.main(["--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "## (a) Speed" in printed and "## (b) Detection" in printed
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["speed_values"] == 128
    assert len(data["speed"]) >= 8 and len(data["detection"]) >= 24


def test_time_interleaved_alternates_rounds_after_an_untimed_warmup() -> None:
    calls: list[str] = []
    runs = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = time_interleaved(runs, repeats=3, budget_s=10.0)
    assert calls == ["a", "b"] * 4  # the warm-up round, then three timed rounds
    assert {name: len(t) for name, t in times.items()} == {"a": 3, "b": 3}
    calls.clear()
    time_interleaved(runs, repeats=2, budget_s=10.0, warmup=False)
    assert calls == ["a", "b"] * 2


def test_speed_only_renders_only_the_speed_table() -> None:
    results = bench_detectors.run_benchmarks(quick=True, speed_values=64, repeats=1,
                                             speed_only=True)
    assert results["detection"] is None
    text = bench_detectors.render(results)
    assert "(a) Speed" in text and "(b) Detection" not in text
