"""Per-process cache keys of start-up calibrations (reference bytes and settings).

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.calibration.cache import cache_key
>>> key = cache_key(np.zeros(3), "a", 1)
>>> key == cache_key(np.zeros(3), "a", 1), key == cache_key(np.ones(3), "a", 1)
(True, False)
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

__all__ = ["cache_key"]


def cache_key(reference: np.ndarray, *parts: object) -> str:
    """A digest of ``reference`` (as float64 bytes) and the ``repr`` of ``parts``."""
    digest = hashlib.sha256(np.ascontiguousarray(reference, dtype=np.float64).tobytes())
    digest.update(json.dumps([repr(p) for p in parts]).encode())
    return digest.hexdigest()
