"""A run config with cheap detectors for the pipeline and local-runner tests (seconds)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from driftline.configs import build_config
from driftline.executor.config import RunConfig

FAST_DETECTORS: dict[str, Any] = {
    "iks": {"window_size": 200, "target_arl0": 2000},
    "page_hinkley": {"target_arl0": 2000},
    "nm_ddm": {"window_size": 100, "target_arl0": 2000, "calibration_steps": 20_000},
    "errors": {"target_arl0": 2000},
    "calibration": {"n_streams": 50},
}


def fast_config(artifacts_dir: Path, **sections: dict[str, Any]) -> RunConfig:
    """A replay config on the model in ``artifacts_dir`` with cheap detectors; ``sections``
    update single sections, e.g. ``labels={"buffer_size": 50}``."""
    data: dict[str, Any] = {
        "model": {"artifacts_dir": str(artifacts_dir)},
        "detectors": copy.deepcopy(FAST_DETECTORS),
        "metrics": {"enabled": False},
        "batch": {"max_rows": 250},
        "logging": {"level": "WARNING", "format": "text"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return build_config(data, RunConfig)
