"""The reducer protocol: a map from a vector field's values to a few components, run batched in
torch.

A :class:`Reducer` has a ``name`` (the prefix of its ``component_names``, ``<name>_<i>``, which
are the ``feature`` labels of the detectors watching them), the ``field`` it reads and its
``input_size``; :meth:`Reducer.transform` maps an ``(n, input_size)`` float32 block to the
``(n, n_components)`` float32 reduced block, in batches of ``batch_size`` rows under
``torch.inference_mode`` (the caller decides torch's thread count; the pipeline process runs one
intra-op thread). What a fitted reducer stores beside the profile is :meth:`Reducer.arrays` (numpy
arrays) and :meth:`Reducer.params` (JSON values); ``from_stored`` rebuilds it from both.

Example
-------
>>> import numpy as np
>>> reducer = IdentityReducer("pixels", "pixels", 3)
>>> reducer.component_names, reducer.transform(np.ones((2, 3), np.float32)).shape
(['pixels_0', 'pixels_1', 'pixels_2'], (2, 3))
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

__all__ = ["BATCH_ROWS", "IdentityReducer", "Reducer", "component_names"]

#: rows per forward pass of :meth:`Reducer.transform`
BATCH_ROWS = 4096


def component_names(name: str, n_components: int) -> list[str]:
    """``[name_0, ..., name_{n-1}]``."""
    return [f"{name}_{i}" for i in range(n_components)]


class Reducer(ABC):
    """A map from a vector field's values to ``n_components`` components (module docstring)."""

    kind = ""

    def __init__(self, name: str, field: str, input_size: int, n_components: int,
                 batch_size: int = BATCH_ROWS) -> None:
        if n_components < 1 or input_size < 1:
            raise ValueError(f"reducer {name!r}: input_size and n_components must be >= 1, got "
                             f"{input_size} and {n_components}")
        self.name = name
        self.field = field
        self.input_size = int(input_size)
        self.n_components = int(n_components)
        self.batch_size = int(batch_size)

    @property
    def component_names(self) -> list[str]:
        """The names of the reduced vector's components."""
        return component_names(self.name, self.n_components)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """``(n, input_size)`` values (finite) -> ``(n, n_components)`` float32 components."""
        values = np.ascontiguousarray(values, dtype=np.float32)
        if values.ndim != 2 or values.shape[1] != self.input_size:
            raise ValueError(f"reducer {self.name!r} takes (n, {self.input_size}) values of "
                             f"field {self.field!r}, got shape {values.shape}")
        out = np.empty((values.shape[0], self.n_components), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, values.shape[0], self.batch_size):
                chunk = torch.from_numpy(values[start:start + self.batch_size])
                out[start:start + chunk.shape[0]] = self._forward(chunk).numpy()
        return out

    @abstractmethod
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The map on one float32 batch ``(rows, input_size)``."""

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays stored beside the profile (none by default)."""
        return {}

    def params(self) -> dict[str, Any]:
        """JSON values recorded in the profile."""
        return {"input_size": self.input_size}

    def describe(self) -> dict[str, Any]:
        """What this reducer is, for logs."""
        return {"name": self.name, "kind": self.kind, "field": self.field,
                "n_components": self.n_components, **self.params()}


class IdentityReducer(Reducer):
    """The field itself (Failing Loudly's "NoRed"): one component per value."""

    kind = "none"

    def __init__(self, name: str, field: str, input_size: int,
                 batch_size: int = BATCH_ROWS) -> None:
        super().__init__(name, field, input_size, input_size, batch_size)

    def transform(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 2 or values.shape[1] != self.input_size:
            raise ValueError(f"reducer {self.name!r} takes (n, {self.input_size}) values of "
                             f"field {self.field!r}, got shape {values.shape}")
        return values.copy()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
