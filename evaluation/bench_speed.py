"""Speed benchmark: µs per value of driftline detectors vs river's counterparts, same run.

Each case times, on the same seeded data,

* our single-value path: ``detector.update(x)`` for each value (for banks: ``update_many`` on one
  row at a time),
* our batch path: ``update_many`` on consecutive batches of ``batch_size`` values (rows),
* river's detector (for banks: one river detector per feature) updated value by value,

and reports ``ratio = river µs / ours µs`` for both of our paths. Banks are timed per *value*
(rows × features). Targets: IncrementalKS ≤ 5 µs per update at window 500 (verdict given for
the batch path, ``update_many``); the PageHinkley and DDM banks over 32 features ≥ 10× river per
value in batch mode.

Fairness: every contender gets the same seeded values; river's detector is updated value by
value in a plain loop (its only API), ours through the path named in the column; a first
untimed run of each is a warm-up, and the batch path and river alternate round by round (best
of ``repeats``) so that background load on a shared machine hits both alike. The single-value
``update()`` path of the Incremental KS (a pure-Python treap, one to two orders of magnitude
slower than its batch path) is printed for information; the target is checked on the batch
path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.evaluation.bench_common import Available, markdown_table, time_interleaved, try_build
from driftline.evaluation.bench_common import verdict as _verdict

__all__ = ["DEFAULT_BATCH_SIZE", "SpeedCase", "run_speed", "speed_cases", "speed_table"]

DEFAULT_BATCH_SIZE = 1000
IKS_TARGET_US = 5.0
IKS_REFERENCE_SIZE = 2000
BANK_TARGET_RATIO = 10.0


@dataclass(frozen=True)
class SpeedCase:
    """One row of the speed table."""

    label: str
    river_label: str
    ours: Available
    river: Available
    data: str  # "gaussian" or "binary"
    n_features: int = 0  # 0: single detector; > 0: a bank over that many features
    target: str = ""
    #: path ("update()" / "update_many()") -> whether the timings meet the target on that path
    checks: dict[str, Callable[[dict[str, float]], bool]] = field(default_factory=dict)


def _river(path: str, **params: Any) -> Callable[[], Any]:
    def build() -> Any:
        import importlib

        module_name, class_name = path.rsplit(".", 1)
        return getattr(importlib.import_module(module_name), class_name)(**params)

    return build


def _ours(name: str, **params: Any) -> Callable[[], Any]:
    def build() -> Any:
        from driftline.detectors import make_detector

        return make_detector(name, **params)

    return build


def _bank(module: str, class_name: str, names: list[str], **params: Any) -> Callable[[], Any]:
    def build() -> Any:
        import importlib

        return getattr(importlib.import_module(module), class_name)(names, **params)

    return build


def speed_cases(*, seed: int = 0, n_features: int = 32) -> list[SpeedCase]:
    """The benchmarked pairs, each factory checked for availability."""
    reference = np.random.default_rng(seed + 10_000).standard_normal(IKS_REFERENCE_SIZE)
    names = [f"f{j}" for j in range(n_features)]
    iks_label = f"IncrementalKS (window 500, reference {IKS_REFERENCE_SIZE:,})"
    iks_checks = {"update_many()": lambda r: r["ours_batch_us"] <= IKS_TARGET_US}
    bank_checks = {"update_many()": lambda r: r["ratio_batch"] >= BANK_TARGET_RATIO}
    return [
        SpeedCase("PageHinkley", "river.drift.PageHinkley",
                  try_build(_ours("page_hinkley", reference_mean=0.0, reference_std=1.0)),
                  try_build(_river("river.drift.PageHinkley")), "gaussian"),
        SpeedCase(iks_label, "river.drift.KSWIN (window 500)",
                  try_build(_ours("incremental_ks", reference=reference.tolist(),
                                  window_size=500, alpha=1e-6)),
                  try_build(_river("river.drift.KSWIN", window_size=500, seed=seed)), "gaussian",
                  target=f"batch <= {IKS_TARGET_US:g} µs/update", checks=iks_checks),
        SpeedCase(iks_label, "frouros IncrementalKSTest",
                  try_build(_ours("incremental_ks", reference=reference.tolist(),
                                  window_size=500, alpha=1e-6)),
                  try_build(_frouros_iks(reference, 500)), "gaussian"),
        SpeedCase("DDM", "river.drift.binary.DDM", try_build(_ours("ddm")),
                  try_build(_river("river.drift.binary.DDM")), "binary"),
        SpeedCase("EDDM", "river.drift.binary.EDDM", try_build(_ours("eddm")),
                  try_build(_river("river.drift.binary.EDDM")), "binary"),
        SpeedCase("HDDM_A", "river.drift.binary.HDDMA", try_build(_ours("hddm_a")),
                  try_build(_river("river.drift.binary.HDDMA")), "binary"),
        SpeedCase("ADWIN", "river.drift.ADWIN", try_build(_ours("adwin", kind="real")),
                  try_build(_river("river.drift.ADWIN")), "gaussian"),
        SpeedCase(f"PageHinkleyBank ({n_features} features)",
                  f"{n_features} x river.drift.PageHinkley",
                  try_build(_bank("driftline.detectors.page_hinkley_bank", "PageHinkleyBank", names,
                                  reference_means=0.0, reference_stds=1.0)),
                  try_build(_river("river.drift.PageHinkley")), "gaussian",
                  n_features=n_features, target=f"batch >= {BANK_TARGET_RATIO:g}x river",
                  checks=bank_checks),
        SpeedCase(f"DDMBank ({n_features} features)", f"{n_features} x river.drift.binary.DDM",
                  try_build(_bank("driftline.detectors.ddm_bank", "DDMBank", names)),
                  try_build(_river("river.drift.binary.DDM")), "binary",
                  n_features=n_features, target=f"batch >= {BANK_TARGET_RATIO:g}x river",
                  checks=bank_checks),
    ]


def _frouros_iks(reference: np.ndarray, window_size: int) -> Callable[[], Any]:
    def build() -> Any:
        from frouros.detectors.data_drift import IncrementalKSTest  # type: ignore[import-not-found]

        det = IncrementalKSTest(window_size=window_size)
        det.fit(X=reference)
        return det

    return build


def _data(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "binary":
        return (rng.random(n) < 0.1).astype(np.float64)
    return rng.standard_normal(n)


def _time_case(case: SpeedCase, n_values: int, batch_size: int, seed: int,
               repeats: int, budget_s: float = 4.0) -> dict[str, float]:
    assert case.ours.factory is not None and case.river.factory is not None
    make_ours, make_river = case.ours.factory, case.river.factory
    if case.n_features:
        n_rows = max(1, n_values // case.n_features)
        rows = _data(case.data, n_rows * case.n_features, seed).reshape(n_rows, case.n_features)
        n = rows.size
        row_list = rows.tolist()

        def ours_single() -> None:
            bank = make_ours()
            for i in range(n_rows):
                bank.update_many(rows[i : i + 1])

        def ours_batch() -> None:
            bank = make_ours()
            for start in range(0, n_rows, batch_size):
                bank.update_many(rows[start : start + batch_size])

        def river_run() -> None:
            dets = [make_river() for _ in range(case.n_features)]
            for row in row_list:
                for det, x in zip(dets, row, strict=True):
                    det.update(x)
    else:
        values = _data(case.data, n_values, seed)
        n = len(values)
        value_list = values.tolist()

        def ours_single() -> None:
            det = make_ours()
            for x in value_list:
                det.update(x)

        def ours_batch() -> None:
            det = make_ours()
            for start in range(0, n, batch_size):
                det.update_many(values[start : start + batch_size])

        def river_run() -> None:
            det = make_river()
            for x in value_list:
                det.update(x)

    # the batch path (the one with targets) and river alternate round by round, so both see
    # the same background load; the first round of each is an untimed warm-up
    timed = time_interleaved({"batch": ours_batch, "river": river_run}, repeats=repeats,
                             budget_s=budget_s)
    single_times = time_interleaved({"single": ours_single}, repeats=repeats,
                                    budget_s=budget_s, warmup=False)
    single = min(single_times["single"]) / n * 1e6
    batch = min(timed["batch"]) / n * 1e6
    river = min(timed["river"]) / n * 1e6
    return {
        "n_values": float(n),
        "ours_update_us": single,
        "ours_batch_us": batch,
        "river_us": river,
        "ratio_update": river / single if single > 0 else math.inf,
        "ratio_batch": river / batch if batch > 0 else math.inf,
    }


def run_speed(
    n_values: int = 100_000, *, batch_size: int = DEFAULT_BATCH_SIZE, seed: int = 0,
    repeats: int = 1, n_features: int = 32,
) -> list[dict[str, Any]]:
    """Time every case; unavailable detectors give a row with ``status`` saying why."""
    results: list[dict[str, Any]] = []
    for case in speed_cases(seed=seed, n_features=n_features):
        row: dict[str, Any] = {"detector": case.label, "river": case.river_label,
                               "target": case.target}
        if not case.ours.ok or not case.river.ok:
            row["status"] = case.ours.reason or case.river.reason
            row["pass"] = None
        else:
            try:
                row.update(_time_case(case, n_values, batch_size, seed, repeats))
                row["status"] = "ok"
                by_path = {path: bool(check(row)) for path, check in case.checks.items()}
                row["pass_by_path"] = by_path
                row["pass"] = all(by_path.values()) if by_path else None
            except Exception as exc:  # a detector that breaks at run time is reported, not fatal
                row["status"] = f"failed: {type(exc).__name__}: {exc}"
                row["pass"] = False if case.target else None
        results.append(row)
    return results


def _ratio(value: float) -> str:
    return f"{value:.2f}x" if value < 1 else f"{value:.1f}x"


def speed_table(results: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`run_speed` results."""
    headers = ["detector", "river counterpart", "ours update() µs", "ours update_many() µs",
               "river µs", "ratio update()", "ratio update_many()", "target", "PASS/FAIL"]
    rows: list[list[Any]] = []
    for r in results:
        verdict = _verdict(r)
        if len(r.get("pass_by_path", {})) > 1:
            verdict = ", ".join(f"{path} {'PASS' if ok else 'FAIL'}"
                                for path, ok in r["pass_by_path"].items())
        if r["status"] != "ok":
            rows.append([r["detector"], r["river"], r["status"], "-", "-", "-", "-",
                         r["target"], verdict])
            continue
        rows.append([r["detector"], r["river"], r["ours_update_us"], r["ours_batch_us"],
                     r["river_us"], _ratio(r["ratio_update"]), _ratio(r["ratio_batch"]),
                     r["target"], verdict])
    return markdown_table(headers, rows)
