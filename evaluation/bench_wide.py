"""Benchmark of the schema path on a wide stream: 20 numeric + 10 categorical fields.

A user's stream as :mod:`executor.monitoring` serves it: nested JSON events of a schema with
20 numeric fields (two of them optional) and 10 categorical fields of 12 categories (two of them
optional, 14 values in the stream: two are unseen), the model served elsewhere (prediction and
score in the events, ``model.kind: none``), a profile built by ``driftline profile``'s builder
from 5,000 reference rows of the same law. Every stream has detectors: Incremental KS and
Page-Hinkley per numeric field, NM-DDM on the numeric vector, chi-square per categorical field,
Incremental KS and Page-Hinkley on the prediction, DDM per data-quality series
(:data:`WIDE_DETECTORS`; calibrations by closed forms and bounds, so that start-up stays short).
Timed as :mod:`evaluation.bench_pipeline` times the insurance path: decode
(:class:`executor.schema_pipeline.SchemaRecordDecoder`) + ``process`` + the exporter, in
micro-batches, start-up excluded. :mod:`evaluation.bench_pipeline` prints it beside the
insurance figure of the same run.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from driftline.evaluation.bench_common import calibrated_state

__all__ = ["WIDE_DETECTORS", "run_wide", "wide_rows"]

N_NUMERIC, N_CATEGORICAL, N_CATEGORIES = 20, 10, 12
_COLUMNS = [{"detector": "incremental_ks", "target_arl0": 20_000, "calibration": "bound",
             "params": {"window_size": 500}},
            {"detector": "page_hinkley", "target_arl0": 20_000, "method": "cusum",
             "params": {"delta": 0.1}}]
#: the detectors of the wide run (every stream of the schema path)
WIDE_DETECTORS: dict[str, Any] = {"calibration": {"n_streams": 50, "seed": 0}, "streams": {
    "features": _COLUMNS,
    "input_vector": [{"detector": "nm_ddm", "target_arl0": 20_000,
                      "params": {"window_size": 500, "calibration_steps": 200_000}}],
    "categories": [{"detector": "chi_square", "target_arl0": 20_000, "calibration": "bound",
                    "params": {"window_size": 500}}],
    "prediction": _COLUMNS,
    "data_quality": [{"detector": "ddm", "target_arl0": 20_000}],
}}


def _schema() -> dict[str, Any]:
    fields: list[dict[str, Any]] = [
        {"name": f"n{j}", "path": f"features.n{j}", "type": "numeric", "optional": j < 2}
        for j in range(N_NUMERIC)]
    fields += [{"name": f"c{j}", "path": f"context.c{j}", "type": "categorical",
                "optional": j < 2, "categories": [f"v{k}" for k in range(N_CATEGORIES)]}
               for j in range(N_CATEGORICAL)]
    return {"event_id": {"path": "event_id"}, "fields": fields,
            "outputs": {"classes": ["a", "b"], "prediction": {"path": "prediction"},
                        "score": {"path": "score"}}}


def wide_rows(n: int, seed: int, *, unseen: bool) -> list[dict[str, Any]]:
    """``n`` events of the wide schema (``unseen``: 2 of 14 values outside the categories)."""
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(n, N_NUMERIC))
    codes = rng.integers(0, N_CATEGORIES + (2 if unseen else 0), size=(n, N_CATEGORICAL))
    score = rng.random(n)
    gaps = rng.random((n, 2)) < 0.02
    rows = []
    for i in range(n):
        features = {f"n{j}": float(numbers[i, j]) for j in range(N_NUMERIC)
                    if j >= 2 or not gaps[i, j]}
        context = {f"c{j}": f"v{codes[i, j]}" for j in range(N_CATEGORICAL)
                   if j >= 2 or not gaps[i, j]}
        rows.append({"event_id": f"e{i}", "features": features, "context": context,
                     "prediction": "b" if score[i] >= 0.5 else "a", "score": float(score[i])})
    return rows


def _setup(tmp: Path, n_reference: int, detectors: dict[str, Any]) -> Any:
    from driftline.configs import build_config
    from driftline.executor.config import RunConfig
    from driftline.executor.monitoring import open_monitoring
    from driftline.model.profile_builder import build_profile
    from driftline.model.profile_files import write_profile

    (tmp / "schema.yaml").write_text(yaml.safe_dump(_schema()))
    reference = tmp / "reference.jsonl"
    reference.write_text("".join(json.dumps(r) + "\n" for r in wide_rows(n_reference, 1,
                                                                         unseen=False)))
    profile, _ = build_profile(tmp / "schema.yaml", reference)
    write_profile(tmp / "artifacts", profile, tmp / "schema.yaml")
    config = build_config({"model": {"kind": "none", "artifacts_dir": str(tmp / "artifacts")},
                           "metrics": {"enabled": False}, "detectors": detectors},
                          RunConfig)
    return open_monitoring(config)


def run_wide(n_events: int, batch_rows: int, repeat: int, n_reference: int = 5_000,
             detectors: dict[str, Any] | None = None) -> dict[str, Any]:
    """Events/s of decode + process + exporter on ``n_events`` wide events (fastest of
    ``repeat`` runs, each on a fresh pipeline from the calibrated state); ``detectors``: the
    run config's section (default :data:`WIDE_DETECTORS`)."""
    from driftline.executor.detection import PartitionBatch
    from driftline.executor.exporter import DriftExporter

    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        monitoring = _setup(Path(directory), n_reference, detectors or WIDE_DETECTORS)
        first = monitoring.pipeline()
        fresh = calibrated_state(first)
        setup_seconds = time.perf_counter() - started
        records = [(json.dumps(r, separators=(",", ":")).encode(), None, i, None)
                   for i, r in enumerate(wide_rows(n_events, 2, unseen=True))]
        batches = [PartitionBatch("bench", 0, records[i:i + batch_rows])
                   for i in range(0, len(records), batch_rows)]
        best: dict[str, Any] | None = None
        for _ in range(repeat):
            pipeline = monitoring.pipeline(fresh)
            decoder = monitoring.decoder()
            exporter = DriftExporter(monitoring.profile)
            decode = process = export = 0.0
            n_detections = 0
            for batch in batches:
                t0 = time.perf_counter()
                decoded = decoder.decode_records(batch)
                t1 = time.perf_counter()
                result = pipeline.process(decoded.events)
                t2 = time.perf_counter()
                exporter.apply_readings(result.readings, source=0)
                export += time.perf_counter() - t2
                decode, process = decode + t1 - t0, process + t2 - t1
                n_detections += len(result.detections)
                if result.n_processed != len(batch.records):
                    raise RuntimeError("benchmark events were dead-lettered")
            total = decode + process + export
            run = {"total": total, "decode": decode, "process": process, "export": export,
                   "detections": n_detections}
            if best is None or total < best["total"]:
                best = run
    assert best is not None
    return {"n_events": n_events, "batch_rows": batch_rows, "setup_seconds": setup_seconds,
            "n_series": len(first.series()), **best}


def format_wide(result: dict[str, Any]) -> str:
    """The wide run's lines of the report."""
    n, total = result["n_events"], result["total"]
    return "\n".join([
        f"wide stream ({N_NUMERIC} numeric + {N_CATEGORICAL} categorical fields, "
        f"{result['n_series']} detector series): {n} events in batches of "
        f"{result['batch_rows']}; start-up {result['setup_seconds']:.2f} s, not timed; "
        f"detections: {result['detections']}",
        f"decode + process : {n / total:10.0f} events/s  ({total:.3f} s: decode "
        f"{result['decode']:.3f}, process {result['process']:.3f}, exporter "
        f"{result['export']:.3f})"])
