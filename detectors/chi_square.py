"""Chi-square test of a sliding window's category counts against reference counts.

Pearson's chi-square test of homogeneity (Pearson 1900) between the reference counts of a
categorical feature (the profile's, per code of its
:class:`dataloader.field_values.CategoryVocabulary`) and the counts of its last ``window_size``
values, updated in O(1) per value, with a binomial test of its own for categories the reference
never showed.

Definition
----------
1. **Cells.** A code's reference count is ``reference[code]``. Codes with a positive count whose
   expected window count ``window_size * count / N`` is below ``min_expected`` are pooled into
   one cell, joined by the least frequent other codes while the pooled cell still expects fewer
   than ``min_expected`` values (Cochran's rule of thumb for the chi-square approximation,
   Cochran 1954); ``min_expected=0`` pools nothing. Codes with a zero count — and codes past the
   end of ``reference`` — are *unseen* (:func:`detectors.contingency.cell_layout`).
2. **Test of the seen values.** The window's ``n`` values in tested cells against the reference:
   the homogeneity statistic of the ``2 x K`` table, equal to
   ``scipy.stats.chi2_contingency(table, correction=False)``, with ``K - 1`` degrees of freedom.
   Not a goodness-of-fit test (``scipy.stats.chisquare`` with expected counts ``n R_k / N``):
   that one takes the reference frequencies as exact, but they are counts of a finite sample;
   its null mean is then ``(K - 1)(1 + n / N)`` instead of ``K - 1``, and its false-alarm rate
   at a small level grows several-fold when the reference is only a few times the window. The
   homogeneity test has the right level for any ``N`` and becomes the goodness-of-fit test as
   ``N / n`` grows (``tests/detectors/test_chi_square.py`` measures both).
3. **Unseen values.** Their expected count under the reference is zero, so the chi-square
   approximation cannot judge them (a goodness-of-fit statistic would be infinite, a homogeneity
   term ``N u / n`` would fire on a single value of a large reference). They have their own
   cell and their own one-sided binomial test: the window's ``u`` unseen values against a null
   rate ``unseen_rate`` (default: the Good-Turing estimate of the probability of a category the
   reference did not show, ``max(1, n1) / N`` with ``n1`` the codes counted once).
4. **Alarm.** Once the window is full, drift is signalled when the chi-square statistic exceeds
   ``chi2.isf(alpha / 2, K - 1)`` or ``u`` exceeds the binomial critical count at ``alpha / 2``
   (``statistics["unseen_drift"]`` says which); the reported ``p_value`` is
   ``min(1, 2 min(p_chi2, p_unseen))``, so drift fires when ``p_value <= alpha`` (Bonferroni over
   the two tests). With ``reset_on_drift`` the window is emptied before the next value (the
   statistics keep describing the window that fired until then).
5. **Effect sizes** between the window's and the reference's cell frequencies (unseen cell
   included): Jensen-Shannon distance (base 2, Lin 1991) and the population stability index.

The statistic is kept as three running sums (:mod:`detectors._kernels.chi_square_state`), so a
value entering and one leaving the window cost O(1); the sums are recomputed from the counts each
time the values consumed reach a multiple of ``8 * window_size``, which bounds rounding.
:meth:`ChiSquare.update_many` and banks run the kernel (:mod:`detectors._kernels.chi_square`),
equal to this loop bit for bit.

Input: integer category codes (:data:`detectors.inputs.CATEGORICAL`); a negative or fractional
code raises ``ValueError``; NaN / inf follow ``on_nonfinite``.

Examples
--------
>>> import numpy as np
>>> from driftline.detectors.chi_square import ChiSquare
>>> rng = np.random.default_rng(7)
>>> before = rng.choice(4, size=3000, p=[0.4, 0.3, 0.2, 0.1])
>>> detector = ChiSquare(reference=np.bincount(before), window_size=300, alpha=1e-4)
>>> after = rng.choice(4, size=1000, p=[0.25, 0.3, 0.2, 0.25])
>>> fired = detector.update_many(np.r_[rng.choice(4, size=1000, p=[0.4, 0.3, 0.2, 0.1]), after])
>>> bool(len(fired) > 0 and fired[0] >= 1000)
True
>>> detector.dof, round(detector.threshold, 2)
(3, 22.55)
>>> detector.update(9.0), detector.statistics["unseen_count"]  # a code the reference never had
(False, 1.0)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from driftline.detectors._kernels.chi_square import KERNEL
from driftline.detectors._kernels.chi_square_state import (
    ChiSquareTable,
    build_table,
    read_state,
    table_statistics,
)
from driftline.detectors.alarm import AlarmParameter
from driftline.detectors.base import (
    DriftDetector,
    check_bool,
    check_int,
    check_number,
    check_probability,
)
from driftline.detectors.contingency import check_codes, check_counts
from driftline.detectors.inputs import CATEGORICAL

__all__ = ["ChiSquare"]


class ChiSquare(DriftDetector):
    """Sliding-window chi-square test of category codes (see module docstring).

    Parameters
    ----------
    reference : sequence of int
        Reference count of each code (``reference[c]`` for code ``c``), e.g. a profile's
        category counts followed by its reserved codes' counts; codes past its end are unseen.
    window_size : int
        Number of most recent values compared with the reference.
    alpha : float
        Per-window level of the two tests together (each runs at ``alpha / 2``).
    min_expected : float
        Codes expected fewer times than this in a full window are pooled (0: never).
    unseen_rate : float, optional
        Rate of unseen categories the binomial test tolerates (default: Good-Turing estimate).
    reset_on_drift : bool
        Empty the window after a detection, so the next test needs ``window_size`` new values.
    on_nonfinite : {"raise", "skip"}
        Policy for NaN / inf input (see :class:`detectors.base.DriftDetector`).

    Notes
    -----
    ``statistics``: ``statistic`` (chi-square of the current window, also while it fills),
    ``threshold``, ``p_value`` (1 while the window fills), ``chi2_p_value``, ``dof``,
    ``window_size``, ``window_fill``, ``unseen_count``, ``unseen_rate``, ``unseen_threshold``
    (unseen drift when the count exceeds it), ``unseen_p_value``, ``unseen_drift``,
    ``js_distance``, ``psi`` and the base counters. ``state_dict`` holds the window's codes and
    the running sums.
    """

    name = "chi_square"
    alarm = AlarmParameter("alpha", fewer_alarms="lower", bounds=(-15.0, math.log10(0.5)),
                           log_scale=True, method="chi_square")
    input_kinds = (CATEGORICAL,)
    needs_reference = True
    test_params = ({"window_size": 40, "alpha": 0.01},
                   {"window_size": 40, "alpha": 0.05, "reset_on_drift": False},
                   {"window_size": 25, "alpha": 0.02, "min_expected": 0.0,
                    "unseen_rate": 0.01})
    kernel = KERNEL

    def __init__(
        self,
        reference: Any,
        window_size: int = 500,
        alpha: float = 0.001,
        min_expected: float = 5.0,
        unseen_rate: float | None = None,
        reset_on_drift: bool = True,
        on_nonfinite: str = "raise",
    ) -> None:
        self.reference = check_counts("reference", reference)
        self.window_size = check_int("window_size", window_size, low=1)
        self.alpha = check_probability("alpha", alpha)
        self.min_expected = check_number("min_expected", min_expected, low=0.0)
        self.unseen_rate = check_number("unseen_rate", unseen_rate, low=0.0, high=1.0,
                                        high_inclusive=False, allow_none=True)
        self.reset_on_drift = check_bool("reset_on_drift", reset_on_drift)
        self._table = build_table(self.reference, self.window_size, self.alpha,
                                  self.min_expected, self.unseen_rate)
        super().__init__(on_nonfinite)

    @classmethod
    def reference_params(cls, reference: np.ndarray,
                         fallback: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The counts of a reference sample of codes: a list for a 1-D sample, an array
        ``(codes, columns)`` for a 2-D one."""
        codes = check_codes("reference", reference)
        if codes.ndim == 1:
            return {"reference": np.bincount(codes).tolist()}
        size = int(codes.max()) + 1 if codes.size else 1
        return {"reference": np.stack([np.bincount(col, minlength=size) for col in codes.T],
                                      axis=1)}

    # -- public read-outs ---------------------------------------------------------------------
    @property
    def table(self) -> ChiSquareTable:
        """The reference side of the test: cells, reference counts, alarm levels."""
        return self._table

    @property
    def threshold(self) -> float:
        """Critical value of the chi-square statistic (at ``alpha / 2``)."""
        return self._table.threshold

    @property
    def dof(self) -> int:
        """Degrees of freedom: tested cells minus one."""
        return self._table.dof

    @property
    def window(self) -> list[int]:
        """The window's codes, oldest first."""
        return list(self._window)

    def window_counts(self) -> np.ndarray:
        """Count of each code in the window (length ``len(reference)``; codes past the end are
        unseen and not listed)."""
        codes = np.fromiter(self._window, dtype=np.int64, count=len(self._window))
        return np.bincount(codes[codes < len(self.reference)], minlength=len(self.reference))

    # -- running state ------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._clear_window()
        self._steps = 0  # values consumed, modulo the table's refresh period

    def _clear_window(self) -> None:
        self._window: deque[int] = deque()
        self._counts = [0] * (self._table.n_cells + 1)
        self._sums = self._table.sums(np.zeros(self._table.n_cells + 1, dtype=np.int64))
        self._pending = False

    def _move(self, cell: int, step: int) -> tuple[float, float, float]:
        """A value enters (``step=1``) or leaves (``-1``) cell ``cell``; the sums' change."""
        before = self._counts[cell]
        self._counts[cell] = before + step
        return self._table.deltas(cell, before, before + step)

    def _cell(self, code: int) -> int:
        cells = self._table.cell_of_code
        return int(cells[min(code, len(cells) - 1)])

    def _update_one(self, x: float) -> None:
        table, window = self._table, self._window
        if self._pending:
            self._clear_window()
            window = self._window
        out = (0.0, 0.0, 0.0)
        if len(window) == self.window_size:
            out = self._move(self._cell(window.popleft()), -1)
        code = int(x)
        window.append(code)
        into = self._move(self._cell(code), 1)
        p, q, s = self._sums
        self._sums = (p + (out[0] + into[0]), q + (out[1] + into[1]), s + (out[2] + into[2]))
        self._steps += 1
        if self._steps == table.refresh_period:  # drop the rounding the updates accumulated
            self._sums = table.sums(np.array(self._counts, dtype=np.int64))
            self._steps = 0
        self._warning = False
        if len(window) < self.window_size:
            self._drift = False
        else:
            unseen = self._counts[table.unseen_cell]
            n = len(window) - unseen
            self._drift = (unseen > table.unseen_threshold
                           or table.statistic(n, self._sums) > table.threshold)
        self._pending = self._drift and self.reset_on_drift

    def _statistics(self) -> dict[str, float]:
        return table_statistics(self._table, np.array(self._counts, dtype=np.int64),
                                len(self._window), self._sums)

    def _get_state(self) -> dict[str, Any]:
        return {"window": list(self._window), "sums": list(self._sums), "steps": self._steps,
                "pending": self._pending}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        codes, sums, steps, pending = read_state(self._table, state)
        self._clear_window()
        self._window = deque(codes.tolist())
        for code in self._window:
            self._counts[self._cell(code)] += 1
        self._sums, self._steps, self._pending = sums, steps, pending
