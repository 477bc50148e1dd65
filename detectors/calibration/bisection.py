"""The one bisection of the calibration package.

Every calibration searches the boundary between parameter values that meet a false-alarm target
(*safe*) and values that do not (*risky*): thresholds on a run-length estimate, levels on a
measured alarm rate, indices into sorted simulated statistics. :func:`bisect` keeps a safe and a
risky end, tests their midpoint, and returns the last safe value.

Examples
--------
>>> from driftline.detectors.calibration.bisection import bisect
>>> bisect(lambda v: v * v >= 2.0, safe=2.0, risky=0.0, xtol=1e-9) - 2 ** 0.5 < 1e-9
True
>>> bisect(lambda i: i >= 37, safe=99, risky=-1, integer=True)
37
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["bisect"]


def bisect(accept: Callable[[float], bool], safe: float, risky: float, *,
           xtol: float | None = None, iterations: int | None = None,
           integer: bool = False) -> float:
    """The safe end of the bracket ``[safe, risky]`` narrowed by bisection.

    ``accept(value)`` says whether a value is safe; ``safe`` must be (it is not tested),
    ``risky`` is assumed not to be. The midpoint is ``0.5 * (safe + risky)``, or for ``integer``
    values the integer halfway rounded towards the safe end. Stops when the ends are within
    ``xtol``, after ``iterations`` midpoints, or (``integer``) when they are adjacent.
    """
    if not integer and xtol is None and iterations is None:
        raise ValueError("bisect needs xtol or iterations for real values")
    steps = 0
    while True:
        gap = abs(safe - risky)
        if (integer and gap <= 1) or (xtol is not None and gap <= xtol):
            return safe
        if iterations is not None and steps >= iterations:
            return safe
        if integer:
            half = (int(gap) + 1) // 2
            mid = risky + half if safe > risky else risky - half
        else:
            mid = 0.5 * (safe + risky)
        if accept(mid):
            safe = mid
        else:
            risky = mid
        steps += 1
