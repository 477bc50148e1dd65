"""Benchmark: the chi-square bank over categorical columns against a per-value Python loop.

``k`` categorical columns (12 to 50 categories, as the decoder codes them: categories, then the
reserved other / unseen / missing codes), each with its reference counts from 100,000 reference
draws and a :class:`detectors.chi_square.ChiSquare` detector (``window_size`` 500). The stream is
in control for its first half; in the second, every other column's frequencies move and a new
category appears, so detections (and the window restarts they cause) are part of the work.

Three ways to run the same detectors over the same rows, alternating round by round so machine
load hits them alike (best of the timed rounds after an untimed warm-up, wall time and this
process's CPU time measured together; the verdict uses CPU time, which other processes on a
shared machine do not inflate):

* ``loop`` — the readable detectors, ``update()`` value by value (the per-value Python loop);
* ``update_many`` — each column's detector over its whole column (the kernel, one column);
* ``bank`` — a :class:`detectors.bank.DetectorBank` over all columns, in batches of rows
  (the kernel through the scheduler, as the executor feeds it).

The ratio loop / bank is the figure issue 13 asks for (target >= 10x); all three must find the
same detections, which the run checks.

.. code-block:: console

    $ python -m driftline.evaluation.bench_categorical --columns 10 --rows 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from driftline.detectors.bank import DetectorBank
from driftline.detectors.chi_square import ChiSquare
from driftline.evaluation.bench_common import markdown_table

__all__ = ["categorical_columns", "main", "run"]

#: rows per bank batch (the executor's default batch.max_rows)
BATCH_ROWS = 500
TARGET_RATIO = 10.0


def categorical_columns(n_columns: int, n_rows: int, seed: int = 0
                        ) -> tuple[list[list[int]], np.ndarray]:
    """Reference counts per column and the stream ``(n_rows, n_columns)`` of codes."""
    rng = np.random.default_rng(seed)
    references, columns = [], []
    for j in range(n_columns):
        n_categories = int(rng.integers(12, 51))
        frequencies = np.r_[rng.dirichlet(np.full(n_categories, 1.5)), 0.0, 0.0, 0.0]
        frequencies[n_categories] = 0.02  # "other"
        frequencies[n_categories + 2] = 0.01  # "missing"
        frequencies /= frequencies.sum()
        references.append(rng.multinomial(100_000, frequencies).tolist())
        half = n_rows // 2
        before = rng.choice(len(frequencies), size=half, p=frequencies)
        moved = frequencies.copy()
        if j % 2:
            moved = np.r_[rng.dirichlet(np.full(n_categories, 1.5)) * 0.95, 0.02, 0.02, 0.01]
        after = rng.choice(len(moved), size=n_rows - half, p=moved / moved.sum())
        columns.append(np.r_[before, after])
    return references, np.column_stack(columns).astype(np.float64)


def time_rounds(runs: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]], repeats: int
                ) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds of each of ``runs`` — ``(setup, run)``: ``run(setup())``, the
    setup (building fresh detectors) not timed — over ``repeats`` interleaved rounds, after an
    untimed warm-up round."""
    best = {name: (float("inf"), float("inf")) for name in runs}
    for round_ in range(repeats + 1):
        for name, (setup, run) in runs.items():
            fresh = setup()
            wall, cpu = time.perf_counter(), time.process_time()
            run(fresh)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if round_:
                best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def run(n_columns: int = 10, n_rows: int = 20_000, *, window_size: int = 500,
        alpha: float = 1e-6, repeats: int = 3, seed: int = 0) -> dict[str, Any]:
    """Time the three paths; return µs per value, the ratios and the detection counts."""
    references, rows = categorical_columns(n_columns, n_rows, seed)
    names = [f"c{j}" for j in range(n_columns)]

    def detectors() -> list[ChiSquare]:
        return [ChiSquare(ref, window_size=window_size, alpha=alpha) for ref in references]

    found: dict[str, list[tuple[int, int]]] = {}

    def loop(fresh: list[ChiSquare]) -> None:
        hits = []
        for j, det in enumerate(fresh):
            hits += [(i, j) for i, x in enumerate(rows[:, j].tolist()) if det.update(x)]
        found["loop"] = sorted(hits)

    def update_many(fresh: list[ChiSquare]) -> None:
        found["update_many"] = sorted((int(i), j) for j, det in enumerate(fresh)
                                      for i in det.update_many(rows[:, j]))

    def bank(detector_bank: DetectorBank) -> None:
        hits = []
        for start in range(0, n_rows, BATCH_ROWS):
            hits += [(int(r) + start, int(c))
                     for r, c in detector_bank.update_many(rows[start:start + BATCH_ROWS])]
        found["bank"] = hits

    times = time_rounds({"loop": (detectors, loop), "update_many": (detectors, update_many),
                         "bank": (lambda: DetectorBank(names, detectors()), bank)}, repeats)
    n_values = n_rows * n_columns
    wall = {name: t[0] / n_values * 1e6 for name, t in times.items()}
    cpu = {name: t[1] / n_values * 1e6 for name, t in times.items()}
    if not found["loop"] == found["update_many"] == found["bank"]:
        raise AssertionError("the three paths found different detections")
    ratio = cpu["loop"] / cpu["bank"]
    return {"columns": n_columns, "rows": n_rows, "window_size": window_size,
            "categories": [len(r) for r in references], "us_per_value_cpu": cpu,
            "us_per_value_wall": wall, "ratio_loop_over_bank": ratio,
            "ratio_loop_over_bank_wall": wall["loop"] / wall["bank"],
            "ratio_loop_over_update_many": cpu["loop"] / cpu["update_many"],
            "target": TARGET_RATIO, "pass": ratio >= TARGET_RATIO,
            "detections": len(found["bank"]), "repeats": repeats,
            "python": platform.python_version(), "numpy": np.__version__}


def render(result: dict[str, Any]) -> str:
    cpu, wall = result["us_per_value_cpu"], result["us_per_value_wall"]
    labels = {"loop": "per-value loop (`update()`)", "update_many": "`update_many()` per column",
              "bank": f"`DetectorBank`, batches of {BATCH_ROWS} rows"}
    rows = [[label, cpu[name], cpu["loop"] / cpu[name], wall[name], wall["loop"] / wall[name]]
            for name, label in labels.items()]
    verdict = "PASS" if result["pass"] else "FAIL"
    return "\n".join([
        f"## Chi-square over {result['columns']} categorical columns x {result['rows']:,} rows "
        f"(window {result['window_size']}, {min(result['categories'])}-"
        f"{max(result['categories'])} codes)",
        "",
        markdown_table(["path", "CPU µs per value", "speed-up vs loop", "wall µs per value",
                        "speed-up (wall)"], rows),
        "",
        f"bank / loop: {result['ratio_loop_over_bank']:.1f}x in CPU time "
        f"({result['ratio_loop_over_bank_wall']:.1f}x wall; target >= {result['target']:.0f}x: "
        f"{verdict}); {result['detections']} detections, identical on the three paths; best of "
        f"{result['repeats']} interleaved rounds; python {result['python']}, numpy "
        f"{result['numpy']}",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m driftline.evaluation.bench_categorical",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--window-size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    for name in ("columns", "rows", "window_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    result = run(args.columns, args.rows, window_size=args.window_size, repeats=args.repeats)
    print(render(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
