"""Online drift detectors: pure numpy, one detector per module, one protocol (see ``base``).

:data:`REGISTRY` is the one name -> class table: detectors are looked up by name through
:func:`make_detector` and rebuilt from a checkpoint with :func:`detector_from_state`. Each
detector declares its alarm parameter, input kinds, reference and test parameters
(:mod:`detectors.base`); banks (:mod:`detectors.bank`) and the calibration package
(:mod:`detectors.calibration`) work from those declarations. Adding a detector: DEVELOPERS.md.
"""

from __future__ import annotations

import importlib
from typing import Any

from driftline.detectors.base import DriftDetector, NonFiniteInputError

__all__ = [
    "REGISTRY",
    "DriftDetector",
    "NonFiniteInputError",
    "detector_class",
    "detector_from_state",
    "make_detector",
]

# name -> "module:Class"; imported lazily so that importing one detector stays cheap.
REGISTRY: dict[str, str] = {
    "page_hinkley": "driftline.detectors.page_hinkley:PageHinkley",
    "incremental_ks": "driftline.detectors.incremental_ks:IncrementalKS",
    "nm_ddm": "driftline.detectors.nm_ddm:NMDDM",
    "ddm": "driftline.detectors.ddm:DDM",
    "eddm": "driftline.detectors.eddm:EDDM",
    "hddm_a": "driftline.detectors.hddm_a:HDDMA",
    "adwin": "driftline.detectors.adwin:ADWIN",
    "chi_square": "driftline.detectors.chi_square:ChiSquare",
}


def detector_class(name: str) -> type[DriftDetector]:
    """The detector class registered under ``name``."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; known: {sorted(REGISTRY)}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def make_detector(name: str, **params: Any) -> DriftDetector:
    """Build the detector registered under ``name`` with ``params``."""
    return detector_class(name)(**params)


def detector_from_state(state: dict[str, Any]) -> DriftDetector:
    """Rebuild a detector (parameters and running state) from its ``state_dict``."""
    return detector_class(state["detector"]).from_state_dict(state)
