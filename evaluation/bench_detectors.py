"""Detector benchmarks: speed against river and detection quality on known change points.

Run ``python -m driftline.evaluation.bench_detectors [--quick] [--speed-only] [--repeats N]
[--json PATH]``.
Prints two markdown tables (only the first with ``--speed-only``):

(a) speed — µs per value of each driftline detector (single-value ``update()`` and batch
    ``update_many()``) and of river's counterpart timed in the same run, with the ratio
    river / ours (:mod:`evaluation.bench_speed`);
(b) detection — mean delay, missed rate and false alarms per 10k on seeded streams with known
    change points, pooled over seeds (:mod:`evaluation.bench_detection`).

Targets are printed next to the figures with PASS/FAIL. ``--quick`` shrinks every size for a
smoke run (well under a minute); the full run takes a few minutes on 2 cores. Detectors that are
missing or fail are reported as "not available" / "failed" rather than aborting the run.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from driftline.evaluation.bench_detection import DetectionConfig, detection_table, run_detection
from driftline.evaluation.bench_speed import DEFAULT_BATCH_SIZE, run_speed, speed_table

__all__ = ["main", "run_benchmarks"]

FULL_SPEED_VALUES = 100_000
QUICK_SPEED_VALUES = 4_000
#: timed rounds per speed case in a full run (best of, after an untimed warm-up round)
FULL_REPEATS = 5


def run_benchmarks(
    *, quick: bool = False, speed_values: int | None = None,
    detection: DetectionConfig | None = None, repeats: int | None = None,
    speed_only: bool = False,
) -> dict[str, Any]:
    """Run both benchmarks (or only the speed one) and return their results (JSON-able)."""
    n_values = speed_values or (QUICK_SPEED_VALUES if quick else FULL_SPEED_VALUES)
    cfg = detection or (DetectionConfig.quick() if quick else DetectionConfig())
    started = time.perf_counter()
    speed = run_speed(n_values, repeats=repeats or (1 if quick else FULL_REPEATS))
    detect = None if speed_only else run_detection(cfg)
    return {
        "quick": quick,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "river": _version("river"),
        "speed_values": n_values,
        "batch_size": DEFAULT_BATCH_SIZE,
        "detection_config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "speed": speed,
        "detection": detect,
        "elapsed_s": time.perf_counter() - started,
    }


def _version(module: str) -> str:
    try:
        return str(__import__(module).__version__)
    except Exception:  # version is informative only
        return "unknown"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def render(results: dict[str, Any]) -> str:
    """The markdown tables with their headings (speed only when detection was not run)."""
    n = results["speed_values"]
    footer = (f"_elapsed {results['elapsed_s']:.1f} s; river {results['river']}, "
              f"numpy {results['numpy']}, python {results['python']}_")
    speed_part = [
        f"## (a) Speed: µs per value on {n:,} values (river timed in the same run)",
        "",
        speed_table(results["speed"]),
        "",
        f"update_many() is fed batches of {results['batch_size']:,} values (rows for banks); "
        "banks are timed per value (rows x features); ratio = river µs / ours µs; best of the "
        "timed rounds after an untimed warm-up, our batch path and river alternating.",
        "",
    ]
    if results["detection"] is None:
        return "\n".join([*speed_part, footer])
    return "\n".join([
        *speed_part,
        "## (b) Detection on seeded streams with known change points (pooled over seeds)",
        "",
        detection_table(results["detection"]),
        "",
        "Delay and missed count the first detection after the change whatever its cause: a "
        "detector with a high false-alarm rate also 'detects' changes it cannot see, by chance "
        "(read them with the false-alarm column). False alarms are counted before the change "
        "and on the no-drift stream; 95% CI: exact Poisson (Garwood). MTR = MTFA / MTD x "
        "(1 - MDR) (Bifet et al., IDA 2013).",
        "",
        footer,
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m driftline.evaluation.bench_detectors",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke tests")
    parser.add_argument("--speed-only", action="store_true",
                        help="only the speed table (a), not the detection table (b)")
    parser.add_argument("--repeats", type=int, default=None, metavar="N",
                        help=f"timed rounds per speed case (default {FULL_REPEATS}; 1 "
                        "with --quick)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    results = run_benchmarks(quick=args.quick, repeats=args.repeats,
                             speed_only=args.speed_only)
    print(render(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(_jsonable(results), fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
