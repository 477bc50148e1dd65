"""Validation of error-stream input shared by the DDM family and ADWIN (``kind`` parameter)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["KINDS", "ErrorInputMixin", "check_binary"]

KINDS = ("binary", "real")


def check_binary(owner: str, values: np.ndarray) -> None:
    """Raise ``ValueError`` naming the first value of ``values`` that is neither 0 nor 1."""
    bad = (values != 0.0) & (values != 1.0)
    if bad.any():
        where = np.argwhere(bad)[0]
        position = int(where[0]) if len(where) == 1 else tuple(int(i) for i in where)
        value = float(values[tuple(where)])
        raise ValueError(
            f"{owner} with kind='binary' expects 0/1 errors, got {value!r} at "
            f"position {position}; use kind='real' for real-valued errors"
        )


class ErrorInputMixin:
    """Checks 0/1 input before any state changes when ``self.kind == "binary"``.

    Mixed in before :class:`detectors.base.DriftDetector`, whose input hooks it extends.
    """

    kind: str

    def _coerce_one(self, x: Any) -> Any:
        value = super()._coerce_one(x)  # type: ignore[misc]
        if value is not None and self.kind == "binary" and value not in (0.0, 1.0):
            check_binary(type(self).__name__, np.array([value]))
        return value

    def _coerce_many(self, xs: Any) -> tuple[np.ndarray, np.ndarray]:
        values, positions = super()._coerce_many(xs)  # type: ignore[misc]
        if self.kind == "binary":
            check_binary(type(self).__name__, values)
        return values, positions
