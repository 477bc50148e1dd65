"""Per-thread scratch arrays shared by the vectorised kernels (DDM, Page-Hinkley, KS path)."""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["Workspace", "shared_workspace"]


class Workspace:
    """Reusable scratch arrays of the passes (not part of the state).

    Arrays of a pass are large enough for the allocator to map fresh pages for each one; reusing
    them avoids a page fault per 4 KiB touched on every pass.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, rows: int, cols: int, dtype: type = np.float64) -> np.ndarray:
        """A C-contiguous ``(rows, cols)`` array (float unless ``dtype``; contents undefined)."""
        buf = self._arrays.get(name)
        if buf is None or buf.size < rows * cols or buf.dtype != dtype:
            buf = self._arrays[name] = np.empty(rows * cols, dtype=dtype)
        return buf[: rows * cols].reshape(rows, cols)


_LOCAL = threading.local()


def shared_workspace() -> Workspace:
    """This thread's workspace, shared by every detector and bank (scratch only, no state).

    Fresh arrays of a pass's size are mapped, and page-faulted, anew by the allocator; reusing
    one set per thread across detectors avoids that even for a detector's first batch.
    Kernels bound the size of their passes, which bounds these arrays.
    """
    work = getattr(_LOCAL, "work", None)
    if work is None:
        work = _LOCAL.work = Workspace()
    return work
