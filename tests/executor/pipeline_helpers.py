"""A run config with cheap detectors for the pipeline and local-runner tests (seconds)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from driftline.configs import build_config
from driftline.executor.config import RunConfig

_COLUMNS: list[dict[str, Any]] = [
    {"detector": "incremental_ks", "target_arl0": 2000, "params": {"window_size": 200}},
    {"detector": "page_hinkley", "target_arl0": 2000},
]
FAST_STREAMS: dict[str, list[dict[str, Any]]] = {
    "features": _COLUMNS,
    "input_vector": [{"detector": "nm_ddm", "target_arl0": 2000,
                      "params": {"window_size": 100, "calibration_steps": 20_000}}],
    "prediction": _COLUMNS,
    "errors": [{"detector": name, "target_arl0": 2000}
               for name in ("ddm", "eddm", "hddm_a", "adwin")],
}


def fast_detectors(**streams: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``detectors`` section of :func:`fast_config`, with ``streams`` replacing its
    streams of those names (``[]`` turns a stream off)."""
    return {"calibration": {"n_streams": 50},
            "streams": copy.deepcopy({**FAST_STREAMS, **streams})}


def fast_config(artifacts_dir: Path, **sections: dict[str, Any]) -> RunConfig:
    """A replay config on the model in ``artifacts_dir`` with cheap detectors; ``sections``
    update single sections, e.g. ``labels={"buffer_size": 50}`` (``detectors``: use
    :func:`fast_detectors`)."""
    data: dict[str, Any] = {
        "model": {"artifacts_dir": str(artifacts_dir)},
        "detectors": fast_detectors(),
        "metrics": {"enabled": False},
        "batch": {"max_rows": 250},
        "logging": {"level": "WARNING", "format": "text"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return build_config(data, RunConfig)
