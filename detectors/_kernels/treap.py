"""Treap of the two-sample ECDF difference, the O(log n) structure of the incremental KS test.

Private helper of :mod:`detectors.incremental_ks` (dos Reis, Flach, Matwin, Batista, "Fast
unsupervised online drift detection using incremental Kolmogorov-Smirnov test", KDD 2016).

Every distinct value of ``reference ∪ window`` is one node keyed by the value. A node holds the
integer ``D(v) = c_ref(v) * n_win - c_win(v) * n_ref`` where ``c_ref`` / ``c_win`` are the
numbers of reference / window values ``<= v`` and ``n_win`` is the full window size. Inserting
(removing) a window value ``x`` subtracts (adds) ``n_ref`` from ``D`` at every key ``>= x``: a
range addition done lazily along one root-to-leaf path, while every node keeps the max and min
of ``D`` over its subtree. Integers keep the arithmetic exact; the float statistic is then
produced exactly as scipy does (see :meth:`ECDFDiffTreap.statistic`).

Priorities are a seeded hash of the key (splitmix64), so the tree shape depends only on the set
of keys: a treap rebuilt from a checkpoint is identical to the one that was saved.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right
from collections.abc import Sequence

__all__ = ["ECDFDiffTreap", "key_priority", "lcm_statistic", "uses_lcm_rounding"]

_MASK64 = (1 << 64) - 1
_PACK = struct.Struct("<d")
_UNPACK = struct.Struct("<Q")


#: scipy.stats.ks_2samp tries the exact distribution (and rounds d to h / lcm) up to this size
SCIPY_MAX_AUTO_N = 10000
_INT32_MAX = 2**31 - 1


def uses_lcm_rounding(n_ref: int, n_win: int) -> bool:
    """Whether ``ks_2samp(method="auto")`` reports ``d`` as ``h / lcm(n_ref, n_win)``."""
    g = math.gcd(n_ref, n_win)
    return max(n_ref, n_win) <= SCIPY_MAX_AUTO_N and n_ref // g < _INT32_MAX / (n_win // g)


def lcm_statistic(d_abs: int, n_ref: int, n_win: int) -> float:
    """``d = h / lcm`` as scipy computes it, from ``d_abs = max |c1 * n_win - c2 * n_ref|``."""
    g = math.gcd(n_ref, n_win)
    return (d_abs // g) * 1.0 / ((n_ref // g) * n_win)


def key_priority(key: float, seed: int) -> int:
    """Seeded 64-bit splitmix64 hash of the bits of ``key`` (``-0.0`` hashes like ``0.0``)."""
    bits = _UNPACK.unpack(_PACK.pack(key + 0.0))[0]
    z = (bits ^ (seed * 0x9E3779B97F4A7C15)) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class ECDFDiffTreap:
    """Treap over ``reference ∪ window`` keys with lazy range addition of ``D`` (see module).

    Parameters
    ----------
    reference : sequence of float
        Sorted reference sample (fixed for the lifetime of the tree).
    window_size : int
        Size ``n_win`` of the full window.
    seed : int
        Seed of the priority hash.
    window : sequence of float, optional
        Window values already present.
    """

    __slots__ = (
        "_free", "_ref", "c1", "key", "left", "mn", "mx", "n_ref", "n_win", "pri", "rcnt",
        "right", "root", "seed", "tag", "val", "wcnt",
    )

    def __init__(
        self, reference: Sequence[float], window_size: int, seed: int,
        window: Sequence[float] = (),
    ) -> None:
        self._ref = list(reference)
        self.n_ref = len(self._ref)
        self.n_win = int(window_size)
        self.seed = int(seed)
        self.build(window)

    # -- construction -------------------------------------------------------------------------
    def build(self, window: Sequence[float]) -> None:
        """Rebuild the tree for the reference and ``window`` in O(n) after sorting."""
        counts: dict[float, list[int]] = {}
        for value in self._ref:
            counts.setdefault(value + 0.0, [0, 0])[0] += 1
        for value in window:
            counts.setdefault(value + 0.0, [0, 0])[1] += 1
        keys = sorted(counts)
        # index 0 is the empty sentinel; its aggregates are never read
        self.key: list[float] = [0.0]
        self.pri: list[int] = [0]
        self.left: list[int] = [0]
        self.right: list[int] = [0]
        self.val: list[int] = [0]
        self.mx: list[int] = [0]
        self.mn: list[int] = [0]
        self.tag: list[int] = [0]
        self.rcnt: list[int] = [0]
        self.wcnt: list[int] = [0]
        self.c1: list[int] = [0]
        self._free: list[int] = []
        c_ref = c_win = 0
        stack: list[int] = []
        for k in keys:
            r, w = counts[k]
            c_ref += r
            c_win += w
            v = self._new_node(k, c_ref, c_ref * self.n_win - c_win * self.n_ref)
            self.rcnt[v] = r
            self.wcnt[v] = w
            last = 0
            while stack and self.pri[stack[-1]] < self.pri[v]:
                last = stack.pop()
            self.left[v] = last
            if stack:
                self.right[stack[-1]] = v
            stack.append(v)
        self.root = stack[0] if stack else 0
        self._pull_all(self.root)

    def _pull_all(self, root: int) -> None:
        order: list[int] = []
        todo = [root] if root else []
        while todo:
            v = todo.pop()
            order.append(v)
            if self.left[v]:
                todo.append(self.left[v])
            if self.right[v]:
                todo.append(self.right[v])
        for v in reversed(order):
            self._pull(v)

    def _new_node(self, key: float, c1: int, d: int) -> int:
        pri = key_priority(key, self.seed)
        if self._free:
            v = self._free.pop()
            self.key[v], self.pri[v], self.c1[v] = key, pri, c1
            self.left[v] = self.right[v] = self.tag[v] = self.rcnt[v] = self.wcnt[v] = 0
            self.val[v] = self.mx[v] = self.mn[v] = d
            return v
        self.key.append(key)
        self.pri.append(pri)
        self.left.append(0)
        self.right.append(0)
        self.val.append(d)
        self.mx.append(d)
        self.mn.append(d)
        self.tag.append(0)
        self.rcnt.append(0)
        self.wcnt.append(0)
        self.c1.append(c1)
        return len(self.key) - 1

    # -- lazy propagation ---------------------------------------------------------------------
    def _apply(self, v: int, delta: int) -> None:
        if v:
            self.val[v] += delta
            self.mx[v] += delta
            self.mn[v] += delta
            self.tag[v] += delta

    def _push(self, v: int) -> None:
        t = self.tag[v]
        if t:
            self._apply(self.left[v], t)
            self._apply(self.right[v], t)
            self.tag[v] = 0

    def _pull(self, v: int) -> None:
        hi = lo = self.val[v]
        child = self.left[v]
        if child:
            hi = max(hi, self.mx[child])
            lo = min(lo, self.mn[child])
        child = self.right[v]
        if child:
            hi = max(hi, self.mx[child])
            lo = min(lo, self.mn[child])
        self.mx[v] = hi
        self.mn[v] = lo

    def _merge(self, a: int, b: int) -> int:
        if not a:
            return b
        if not b:
            return a
        if self.pri[a] > self.pri[b]:
            self._push(a)
            self.right[a] = self._merge(self.right[a], b)
            self._pull(a)
            return a
        self._push(b)
        self.left[b] = self._merge(a, self.left[b])
        self._pull(b)
        return b

    # -- window updates -----------------------------------------------------------------------
    def change_window(self, x: float, step: int) -> None:
        """Insert (``step=1``) or remove (``step=-1``) one window value ``x``.

        One descent from the root pushes pending additions, adds ``delta`` to every key ``>= x``
        (a node on the path and, lazily, its right subtree, whenever the path turns left), and
        finds the node of ``x``; a new key is then inserted as a leaf and rotated up, an emptied
        key is replaced by the merge of its subtrees. Aggregates are recomputed along the path.
        """
        x = x + 0.0
        delta = -step * self.n_ref
        key, left, right, val, tag = self.key, self.left, self.right, self.val, self.tag
        apply = self._apply
        path: list[int] = []
        went_left: list[bool] = []
        pred = 0
        v = self.root
        while v:
            t = tag[v]
            if t:
                apply(left[v], t)
                apply(right[v], t)
                tag[v] = 0
            k = key[v]
            if x < k:
                val[v] += delta
                apply(right[v], delta)
                path.append(v)
                went_left.append(True)
                v = left[v]
            elif x > k:
                pred = v
                path.append(v)
                went_left.append(False)
                v = right[v]
            else:
                break
        if v:
            self.wcnt[v] += step
            val[v] += delta
            apply(right[v], delta)
            if self.wcnt[v] == 0 and self.rcnt[v] == 0:
                self._free.append(v)
                self._attach(path, went_left, self._merge(left[v], right[v]))
            else:
                self._pull(v)
        elif step < 0:
            # undo the additions made on the way down before reporting the error
            for node, turned_left in zip(path, went_left, strict=True):
                if turned_left:
                    val[node] -= delta
                    apply(right[node], -delta)
            raise KeyError(f"{x!r} is not in the window")
        else:
            v = self._new_node(x, bisect_right(self._ref, x), (val[pred] if pred else 0) + delta)
            self.wcnt[v] = step
            pri = self.pri
            while path and pri[v] > pri[path[-1]]:
                parent = path.pop()
                if went_left.pop():
                    left[parent] = right[v]
                    right[v] = parent
                else:
                    right[parent] = left[v]
                    left[v] = parent
                self._pull(parent)
            self._pull(v)
            self._attach(path, went_left, v)
        for node in reversed(path):
            self._pull(node)

    def _attach(self, path: list[int], went_left: list[bool], child: int) -> None:
        if not path:
            self.root = child
        elif went_left[-1]:
            self.left[path[-1]] = child
        else:
            self.right[path[-1]] = child

    # -- queries ------------------------------------------------------------------------------
    def _cdf_diff(self, v: int, offset: int) -> float:
        c1 = self.c1[v]
        c2 = (c1 * self.n_win - (self.val[v] + offset)) // self.n_ref
        return c1 / self.n_ref - c2 / self.n_win

    def statistic(self) -> float:
        """Two-sample KS statistic, bit-identical to ``scipy.stats.ks_2samp`` (window full).

        scipy's default ``method="auto"`` rounds ``d`` to ``h / lcm(n_ref, n_win)`` whenever it
        attempts the exact distribution; otherwise it keeps the float expression
        ``|c1 / n_ref - c2 / n_win|``. Nodes sharing the integer max (min) of ``D`` have the same
        exact difference but may round differently in that expression, and scipy takes the
        float max (min), so every arg-max (arg-min) node is then evaluated.
        """
        if not self.root:
            return 0.0
        d_max, d_min = self.mx[self.root], self.mn[self.root]
        if uses_lcm_rounding(self.n_ref, self.n_win):
            return lcm_statistic(max(d_max, -d_min), self.n_ref, self.n_win)
        hi = self._float_extreme(d_max, True)
        lo = self._float_extreme(d_min, False)
        return max(min(max(-lo, 0.0), 1.0), hi)

    def _float_extreme(self, target: int, use_max: bool) -> float:
        best = -math.inf if use_max else math.inf
        todo = [(self.root, 0)]
        agg = self.mx if use_max else self.mn
        while todo:
            v, offset = todo.pop()
            if self.val[v] + offset == target:
                value = self._cdf_diff(v, offset)
                best = max(best, value) if use_max else min(best, value)
            offset += self.tag[v]
            for child in (self.left[v], self.right[v]):
                if child and agg[child] + offset == target:
                    todo.append((child, offset))
        return best

    def depth(self) -> int:
        """Height of the tree (for tests of the O(log n) shape)."""
        best = 0
        todo = [(self.root, 1)] if self.root else []
        while todo:
            v, d = todo.pop()
            best = max(best, d)
            for child in (self.left[v], self.right[v]):
                if child:
                    todo.append((child, d + 1))
        return best

    def items(self) -> list[tuple[float, int, int]]:
        """In-order ``(key, reference count, window count)`` of every node (for tests)."""
        out: list[tuple[float, int, int]] = []
        stack: list[int] = []
        v = self.root
        while stack or v:
            while v:
                stack.append(v)
                v = self.left[v]
            v = stack.pop()
            out.append((self.key[v], self.rcnt[v], self.wcnt[v]))
            v = self.right[v]
        return out
