"""scikit-multiflow through the adapter: the library's own detections, river's where the
algorithms coincide, river's calibration procedure; and a clear message when it is absent.

The tests that need scikit-multiflow skip when it is not installed (``make skmultiflow`` builds
it; ``make test`` does so first). The absence tests hide it and run everywhere.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from river.drift import PageHinkley
from river.drift.binary import DDM, HDDMA

from driftline.configs import build_config
from driftline.evaluation.adapters import (
    SKMULTIFLOW_CLASSES,
    DetectorUnavailableError,
    RiverDetector,
    SkmultiflowDetector,
    build_factory,
    library_version,
    run_with_restarts,
)
from driftline.evaluation.config import CalibrationConfig, DetectorConfig, EvaluateConfig
from driftline.evaluation.report import markdown_report
from driftline.evaluation.runner import run_evaluation
from driftline.evaluation.thresholds import calibrate_detector

INSTALLED = importlib.util.find_spec("skmultiflow") is not None
needs_skmultiflow = pytest.mark.skipif(
    not INSTALLED, reason="scikit-multiflow is not installed (make skmultiflow builds it)")


def _skmultiflow_direct(make: Callable[[], Any], values: np.ndarray) -> list[int]:
    """scikit-multiflow called as its docs show, a fresh detector after each detection."""
    out, det = [], make()
    for i, x in enumerate(values.tolist()):
        det.add_element(x)
        if det.detected_change():
            out.append(i)
            det = make()
    return out


def _real(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(size=1500), rng.normal(1.5, 1.0, size=1500),
                 rng.normal(-0.5, 1.0, size=1500)]


def _errors(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.r_[rng.random(2000) < 0.1, rng.random(2000) < 0.35,
                 rng.random(2000) < 0.05].astype(float)


#: (config name, params, stream): every scikit-multiflow drift detector, non-default parameters
CASES = [
    ("PageHinkley", {"delta": 0.1, "threshold": 15.0}, _real),
    ("ADWIN", {"delta": 0.01}, _real),
    ("KSWIN", {"alpha": 0.001, "window_size": 100, "stat_size": 30}, _real),
    ("DDM", {"warning_level": 1.5, "out_control_level": 2.5}, _errors),
    ("EDDM", {}, _errors),
    ("HDDM_A", {"drift_confidence": 0.01}, _errors),
    ("HDDM_W", {"drift_confidence": 0.01}, _errors),
]


def test_cases_cover_every_skmultiflow_detector() -> None:
    assert sorted(name for name, _, _ in CASES) == sorted(SKMULTIFLOW_CLASSES)


@needs_skmultiflow
@pytest.mark.parametrize(("name", "params", "stream"), CASES, ids=[c[0] for c in CASES])
def test_adapter_detects_what_skmultiflow_detects(name: str, params: dict[str, Any],
                                                  stream: Callable[[int], np.ndarray]) -> None:
    import skmultiflow.drift_detection as skmf

    cls = getattr(skmf, name)
    values = stream(0)

    def make() -> Any:
        np.random.seed(11)  # KSWIN samples its window from numpy's global state
        return cls(**params)

    direct = _skmultiflow_direct(make, values)
    assert direct, "the stream must make the detector fire for the comparison to mean anything"
    factory = build_factory(DetectorConfig(name=name, library="skmultiflow", calibrate=False,
                                           params={**params, "seed": 11}))
    # small chunks: restarts inside and across update_many calls
    assert run_with_restarts(lambda: factory(None), values, chunk_size=300) == direct


@needs_skmultiflow
def test_seeded_kswin_is_reproducible_and_leaves_the_global_random_state_alone() -> None:
    factory = build_factory(DetectorConfig(name="KSWIN", library="skmultiflow", calibrate=False,
                                           params={"alpha": 0.001, "seed": 5}))
    values = _real(1)
    np.random.seed(0)
    before = np.random.random(3)
    np.random.seed(0)
    first = run_with_restarts(lambda: factory(None), values)
    assert np.array_equal(np.random.random(3), before)
    np.random.seed(123)
    assert run_with_restarts(lambda: factory(None), values) == first


@needs_skmultiflow
@pytest.mark.parametrize("drift_threshold", [1.5, 2.25, 3.0])
def test_ddm_equals_river_with_the_warm_up_offset(drift_threshold: float) -> None:
    """Same algorithm; scikit-multiflow tests from its (min_num_instances - 1)-th value, river
    after its warm_start-th: min_num_instances = warm_start + 2 gives identical detections."""
    import skmultiflow.drift_detection as skmf

    values = _errors(2)
    ours = run_with_restarts(lambda: SkmultiflowDetector(skmf.DDM(
        min_num_instances=32, warning_level=1.0, out_control_level=drift_threshold)), values)
    river = run_with_restarts(lambda: RiverDetector(DDM(
        warm_start=30, warning_threshold=1.0, drift_threshold=drift_threshold)), values)
    assert len(river) >= 2
    assert ours == river


@needs_skmultiflow
@pytest.mark.parametrize("confidence", [1e-1, 1e-3, 1e-6])
def test_one_sided_hddm_a_equals_river(confidence: float) -> None:
    import skmultiflow.drift_detection as skmf

    values = _errors(3)
    ours = run_with_restarts(lambda: SkmultiflowDetector(skmf.HDDM_A(
        drift_confidence=confidence, two_side_option=False)), values)
    river = run_with_restarts(lambda: RiverDetector(HDDMA(drift_confidence=confidence)), values)
    assert river
    assert ours == river


@needs_skmultiflow
def test_page_hinkley_is_one_sided_unlike_river() -> None:
    """A drop in the mean: river's two-sided Page-Hinkley fires, scikit-multiflow's does not."""
    rng = np.random.default_rng(4)
    values = np.r_[rng.normal(size=1000), rng.normal(-3.0, 1.0, size=1000)]
    spec = DetectorConfig(name="PageHinkley", library="skmultiflow", calibrate=False,
                          params={"delta": 0.1, "threshold": 20.0})
    assert run_with_restarts(lambda: build_factory(spec)(None), values) == []
    assert run_with_restarts(lambda: RiverDetector(PageHinkley(delta=0.1, threshold=20.0)),
                             values)


@needs_skmultiflow
def test_ddm_is_calibrated_by_the_same_procedure_as_river() -> None:
    """Same bootstrap draws, same bisection: identical algorithms get identical thresholds."""
    reference = (np.random.default_rng(6).random(5000) < 0.1).astype(float)
    bounds = {"threshold_bounds": [1.0, 12.0], "run_length_factor": 20.0}
    ours = DetectorConfig(name="DDM", library="skmultiflow", threshold_param="out_control_level",
                          params={"min_num_instances": 32, "warning_level": 1.0}, **bounds)
    river = DetectorConfig(name="DDM", library="river", threshold_param="drift_threshold",
                           params={"warning_threshold": 1.0}, **bounds)
    config = CalibrationConfig(iterations=10, seed=3, stream_length=600)
    cal_ours = calibrate_detector(ours, build_factory(ours), reference, 300.0, config)
    cal_river = calibrate_detector(river, build_factory(river), reference, 300.0, config)
    assert cal_ours.method == cal_river.method == "bisection on measured run length"
    assert cal_ours.measured_arl0 >= 300.0
    assert (cal_ours.threshold, cal_ours.measured_arl0) == (cal_river.threshold,
                                                           cal_river.measured_arl0)


@needs_skmultiflow
def test_eddm_levels_are_set_on_the_instance_not_the_class() -> None:
    import skmultiflow.drift_detection as skmf

    spec = DetectorConfig(name="EDDM", library="skmultiflow", threshold_param="FDDM_OUTCONTROL",
                          threshold_bounds=[0.05, 0.98], threshold_increasing=False,
                          params={"FDDM_WARNING": 0.99})
    det = build_factory(spec)(0.5)
    assert isinstance(det, SkmultiflowDetector)
    assert (det.detector.FDDM_OUTCONTROL, det.detector.FDDM_WARNING) == (0.5, 0.99)
    assert (skmf.EDDM.FDDM_OUTCONTROL, skmf.EDDM.FDDM_WARNING) == (0.9, 0.95)
    # a lower out-of-control level alarms less often
    values = _errors(5)
    strict = run_with_restarts(lambda: build_factory(spec)(0.5), values)
    lax = run_with_restarts(lambda: build_factory(spec)(0.95), values)
    assert len(strict) < len(lax)


@needs_skmultiflow
def test_unknown_parameters_are_named() -> None:
    with pytest.raises(DetectorUnavailableError, match=r"threshold_param 'beta'.*FDDM_OUTCONTROL"):
        build_factory(DetectorConfig(name="EDDM", library="skmultiflow", threshold_param="beta"))
    with pytest.raises(DetectorUnavailableError, match=r"no parameter \['window'\]"):
        build_factory(DetectorConfig(name="KSWIN", library="skmultiflow", calibrate=False,
                                     params={"window": 50}))


def test_unknown_skmultiflow_detector_names_the_known_ones() -> None:
    with pytest.raises(DetectorUnavailableError, match="HDDM_W"):
        build_factory(DetectorConfig(name="Nope", library="skmultiflow", calibrate=False))


class _FailingFinder(importlib.abc.MetaPathFinder):
    """Makes the import of ``skmultiflow`` fail with ``error`` (a broken installation)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.split(".")[0] == "skmultiflow":
            raise self.error
        return None


def _hide_skmultiflow(monkeypatch: pytest.MonkeyPatch, error: Exception | None = None) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "skmultiflow"]:
        monkeypatch.delitem(sys.modules, name)
    if error is None:
        monkeypatch.setitem(sys.modules, "skmultiflow", None)  # as if not installed
    else:
        monkeypatch.setattr(sys, "meta_path", [_FailingFinder(error), *sys.meta_path])


def test_absent_skmultiflow_says_so_and_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_skmultiflow(monkeypatch)
    spec = DetectorConfig(name="DDM", library="skmultiflow", threshold_param="out_control_level")
    with pytest.raises(DetectorUnavailableError, match=r"skmultiflow\.DDM: scikit-multiflow is "
                                                       r"not installed.*make skmultiflow"):
        build_factory(spec)
    with pytest.raises(DetectorUnavailableError, match="not installed"):
        library_version("skmultiflow")


@pytest.mark.parametrize(("error", "message"), [
    (AttributeError("module 'numpy' has no attribute 'float'"), "does not import.*rebuild it"),
    (ModuleNotFoundError("No module named 'sklearn'", name="sklearn"),
     "dependency 'sklearn' is missing"),
])
def test_broken_skmultiflow_says_what_is_wrong(monkeypatch: pytest.MonkeyPatch, error: Exception,
                                               message: str) -> None:
    _hide_skmultiflow(monkeypatch, error)
    with pytest.raises(DetectorUnavailableError, match=message):
        library_version("skmultiflow")


def _config_with_skmultiflow() -> EvaluateConfig:
    return build_config({
        "seeds": [0], "target_arl0": 100, "tolerance": 200, "progress": False,
        "defaults": False,
        "calibration": {"reference_length": 2000, "n_streams": 20, "run_length_factor": 10,
                        "iterations": 6},
        "tradeoff": {"enabled": False},
        "insurance": {"enabled": False, "feature_detectors": [], "error_detectors": []},
        "streams": [{"name": "shift", "kind": "mean_shift", "length": 1000,
                     "change_points": [600], "params": {"shift": 3.0}}],
        "detectors": [
            {"name": "PageHinkley", "library": "river", "params": {"delta": 0.25},
             "threshold_param": "threshold", "threshold_bounds": [0.5, 300.0]},
            {"name": "PageHinkley", "library": "skmultiflow", "params": {"delta": 0.25},
             "threshold_param": "threshold", "threshold_bounds": [0.5, 300.0]},
        ],
    }, EvaluateConfig)


def test_evaluation_reports_absent_skmultiflow(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _hide_skmultiflow(monkeypatch)
    config = _config_with_skmultiflow()
    result = run_evaluation(config)
    assert "river" in result.libraries
    assert "not installed" in result.missing_libraries["skmultiflow"]
    assert "make skmultiflow" in result.skipped["skmultiflow.PageHinkley"]
    assert {r.detector for r in result.records} == {"river.PageHinkley"}
    console = capsys.readouterr().out
    assert "skmultiflow is absent, 1 detector(s) skipped (skmultiflow.PageHinkley)" in console
    report = markdown_report(config, result)
    assert "**ABSENT: scikit-multiflow** (scikit-multiflow is not installed" in report
    assert "- skmultiflow.PageHinkley: scikit-multiflow is not installed" in report


@needs_skmultiflow
def test_evaluation_compares_skmultiflow_beside_river() -> None:
    config = _config_with_skmultiflow()
    result = run_evaluation(config)
    assert result.libraries["skmultiflow"] == "0.5.3" and not result.missing_libraries
    assert not result.skipped
    rows = {r["detector"]: r for r in result.rows()}
    assert rows["skmultiflow.PageHinkley"]["recall"] == 1.0
    cal = result.calibrations["skmultiflow.PageHinkley"]["normal(0.0, 1.0)"]
    assert cal.method == "bisection on measured run length" and cal.measured_arl0 >= 100
    assert "Reference libraries: river" in markdown_report(config, result)
    assert "scikit-multiflow 0.5.3." in markdown_report(config, result)
