"""Replay the insurance months through the model and the detectors: what drifts, and when.

The months of ``InsuranceConfig.months`` are concatenated in order into one stream of rows. The
model (``artifacts_dir``; trained with ``configs/train.yaml`` first when missing and
``train_if_missing``) serves every row; its served-label errors form a 0/1 stream. Then

* every ``feature_detectors`` detector runs on every feature column, calibrated per feature to
  ``InsuranceConfig.target_arl0`` on that feature's reference split (the model's
  ``ReferenceProfile.reference_samples``) with :func:`evaluation.thresholds.calibrate_detector`;
* every ``error_detectors`` detector runs on the error stream, calibrated on the errors of the
  served predictions over the reference split.

The data carry no exact change points: ``age``, ``emergency_braking`` and ``miles`` drift slowly
from month 1 (:data:`dataloader.insurance.DRIFTING_FEATURES`) while ``braking_distance`` and
``power`` stay stable. Stable features are scored with no change point (every detection is a false
alarm); drifting ones with a change at the first row, so the "delay" is the row of the first
detection. The model's error rate and fallback rate per month come from
:func:`model.months.evaluate_months`.

Example
-------
>>> from driftline.configs import CONFIG_DIR, load_config
>>> from driftline.evaluation.config import EvaluateConfig
>>> from driftline.evaluation.insurance_eval import evaluate_insurance
>>> import tempfile
>>> artifacts = tempfile.TemporaryDirectory()
>>> overrides = {"insurance.artifacts_dir": artifacts.name, "insurance.months": [1, 36]}
>>> config = load_config(CONFIG_DIR / "evaluate_small.yaml", EvaluateConfig, overrides)
>>> replay = evaluate_insurance(config)  # trains the model into artifacts_dir first
>>> [(q.month, round(q.accuracy, 3)) for q in replay.quality]
[(1, 0.734), (36, 0.498)]
>>> first = replay.summary_rows()[0]
>>> first["detector"], first["stream"], first["expected"]
('page_hinkley', 'age', 'drift')
>>> artifacts.cleanup()
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from driftline.configs import CONFIG_DIR, load_config
from driftline.dataloader.insurance import DRIFTING_FEATURES, load_months, load_split
from driftline.evaluation.adapters import build_factory, run_with_restarts
from driftline.evaluation.config import DetectorConfig, EvaluateConfig
from driftline.evaluation.metrics import evaluate_detections
from driftline.evaluation.thresholds import calibrate_detector
from driftline.model.artifacts import LoadedModel, load_artifacts
from driftline.model.months import MonthQuality, evaluate_months

__all__ = ["ERROR_STREAM", "InsuranceReplay", "evaluate_insurance", "load_or_train_model"]

#: name of the model-error stream in :attr:`InsuranceReplay.detections`
ERROR_STREAM = "model_error"


@dataclass
class InsuranceReplay:
    """Outcome of :func:`evaluate_insurance`.

    ``detections[detector][stream]`` are row indices into the replayed stream, where ``stream``
    is a feature name or :data:`ERROR_STREAM`; ``month_starts[i]`` is the first row of
    ``months[i]``.
    """

    months: list[int]
    month_starts: list[int]
    n_rows: int
    quality: list[MonthQuality]
    error_rate: list[float]
    detections: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)

    def month_of(self, row: int) -> int:
        """The month the row belongs to."""
        return self.months[int(np.searchsorted(self.month_starts, row, side="right")) - 1]

    def summary_rows(self) -> list[dict[str, Any]]:
        """Per detector and stream: detections, first detection month, false alarms per 10k."""
        rows = []
        for detector, per_stream in self.detections.items():
            for stream, fired in per_stream.items():
                drifting = stream in DRIFTING_FEATURES or stream == ERROR_STREAM
                report = evaluate_detections(fired, (0,) if drifting else (), self.n_rows)
                rows.append({
                    "detector": detector, "stream": stream,
                    "expected": "drift" if drifting else "stable",
                    "threshold": self.thresholds.get(detector, {}).get(stream, math.nan),
                    "n_detections": len(fired),
                    "first_detection_row": fired[0] if fired else None,
                    "first_detection_month": self.month_of(fired[0]) if fired else None,
                    "detections_per_10k": 1e4 * len(fired) / self.n_rows,
                    "false_alarms_per_10k": (math.nan if drifting
                                             else report.false_alarms_per_10k),
                })
        return rows


def load_or_train_model(artifacts_dir: str | Path, train_if_missing: bool) -> LoadedModel:
    """The saved model, trained with ``configs/train.yaml`` into ``artifacts_dir`` if absent."""
    directory = Path(artifacts_dir)
    if not (directory / "model.pt").exists() and train_if_missing:
        from driftline.model.config import TrainConfig
        from driftline.model.train import train_and_save

        train_and_save(load_config(CONFIG_DIR / "train.yaml", TrainConfig), directory)
    return load_artifacts(directory)


def _spec(config: EvaluateConfig, label: str) -> DetectorConfig:
    return next(d for d in config.detectors if d.label == label)


def _run(config: EvaluateConfig, spec: DetectorConfig, reference: np.ndarray,
         values: np.ndarray, target_arl0: float) -> tuple[list[int], float]:
    factory = build_factory(spec, reference)
    cal = calibrate_detector(spec, factory, reference, target_arl0, config.calibration)
    return run_with_restarts(lambda: factory(cal.threshold), values), cal.threshold


def evaluate_insurance(config: EvaluateConfig, model: LoadedModel | None = None
                       ) -> InsuranceReplay:
    """Replay the configured months through the model and the detectors (module docstring)."""
    ins = config.insurance
    if model is None:
        model = load_or_train_model(ins.artifacts_dir, ins.train_if_missing)
    months = sorted(set(ins.months))
    data = load_months(months)
    served = model.predict(data.features)
    errors = (served.labels != data.group).astype(np.float64)
    starts = [int(np.flatnonzero(data.month == m)[0]) for m in months]
    reference = load_split("reference")
    reference_errors = (model.predict(reference.features).labels
                        != reference.group).astype(np.float64)
    replay = InsuranceReplay(
        months=months, month_starts=starts, n_rows=len(data),
        quality=evaluate_months(model, months),
        error_rate=[float(errors[data.month == m].mean()) for m in months],
    )
    for label in ins.feature_detectors:
        spec = _spec(config, label)
        for j, name in enumerate(data.feature_names):
            ref = np.asarray(model.profile.reference_samples[name], dtype=np.float64)
            fired, threshold = _run(config, spec, ref, data.features[:, j], ins.target_arl0)
            replay.detections.setdefault(label, {})[name] = fired
            replay.thresholds.setdefault(label, {})[name] = threshold
    for label in ins.error_detectors:
        spec = _spec(config, label)
        fired, threshold = _run(config, spec, reference_errors, errors, ins.target_arl0)
        replay.detections.setdefault(label, {})[ERROR_STREAM] = fired
        replay.thresholds.setdefault(label, {})[ERROR_STREAM] = threshold
    return replay
