"""``driftline evaluate``: compare detectors on known drift and on the insurance replay, or (a
config with ``protocol: failing_loudly``, e.g. ``configs/evaluate_failing_loudly.yaml``) run
Failing Loudly's reduce-then-test protocol on the digits (:mod:`evaluation.failing_loudly`), or
(``protocol: soak``, ``configs/evaluate_soak.yaml``) the soak of the executor into a real
Prometheus (:mod:`evaluation.soak`).

Writes into the output directory ``results.md``, ``results.json`` and the figures
``statistic_traces.png``, ``tradeoff.png``, ``insurance_timeline.png`` and
``insurance_quality.png`` (the last two when the insurance replay is enabled); Failing Loudly
writes ``results.md``, ``results.json`` and ``detection_rates.png`` and prints its table.

Example
-------
>>> import tempfile
>>> from driftline.configs import CONFIG_DIR
>>> from driftline.utils.cli import main
>>> out = tempfile.TemporaryDirectory()
>>> main(["evaluate", "--config", str(CONFIG_DIR / "evaluate_small.yaml"),
...       "--output-dir", out.name, "--no-insurance"])  # doctest: +ELLIPSIS
wrote .../results.md
wrote .../results.json
wrote .../statistic_traces.png
wrote .../tradeoff.png
evaluation took ... s
0
>>> out.cleanup()
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from driftline.configs import CONFIG_DIR, ConfigError, load_config
from driftline.evaluation.config import EvaluateConfig

__all__ = ["DEFAULT_CONFIG_PATH", "evaluate_arguments", "evaluate_main", "run_all"]

DEFAULT_CONFIG_PATH = CONFIG_DIR / "evaluate.yaml"


def evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``driftline evaluate``."""
    parser.add_argument("--config", default=str(DEFAULT_CONFIG_PATH),
                        help="evaluation config (YAML, schema evaluation.config.EvaluateConfig)")
    parser.add_argument("--output-dir", default=None,
                        help="where results and figures go (default: output_dir of the config)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--no-insurance", action="store_true",
                        help="skip the insurance replay (and the calibration checks on the "
                             "insurance reference)")


def run_all(config: EvaluateConfig, output_dir: str | Path, *, progress: bool | None = None,
            insurance: bool = True) -> list[Path]:
    """Run the evaluation of ``config`` and write results and figures; return the files."""
    from driftline.evaluation.curves import statistic_traces, tradeoff_curves
    from driftline.evaluation.figures import (
        plot_insurance_quality,
        plot_insurance_timeline,
        plot_statistic_traces,
        plot_tradeoff,
    )
    from driftline.evaluation.insurance_eval import evaluate_insurance
    from driftline.evaluation.report import write_results
    from driftline.evaluation.runner import run_evaluation

    out = Path(output_dir)
    result = run_evaluation(config, progress=progress)
    curves = tradeoff_curves(config, result)
    traces = statistic_traces(config, result)
    replay = evaluate_insurance(config) if insurance and config.insurance.enabled else None
    checks = None
    if config.calibration_checks.enabled:
        from driftline.dataloader.insurance import load_split
        from driftline.evaluation.calibration_checks import run_calibration_checks

        reference = load_split("reference") if insurance else None
        checks = run_calibration_checks(
            config.calibration_checks,
            None if reference is None else (reference.features, list(reference.feature_names)))
    files = list(write_results(out, config, result, curves, replay, checks))
    if traces:
        files.append(out / "statistic_traces.png")
        plot_statistic_traces(traces, files[-1])
    if curves:
        files.append(out / "tradeoff.png")
        plot_tradeoff(curves, files[-1])
    if replay is not None:
        files.append(out / "insurance_timeline.png")
        plot_insurance_timeline(replay, files[-1])
        files.append(out / "insurance_quality.png")
        plot_insurance_quality(replay, files[-1])
    return files


def _protocol(path: str) -> str | None:
    """The config's ``protocol`` key (``failing_loudly``), or None for the detector comparison."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # load_config reports it
    return data.get("protocol") if isinstance(data, dict) else None


def _failing_loudly_main(args: argparse.Namespace, started: float) -> int:
    from driftline.evaluation.failing_loudly import run_failing_loudly
    from driftline.evaluation.failing_loudly_config import FailingLoudlyConfig
    from driftline.evaluation.failing_loudly_report import findings, summary_table, write_results

    try:
        config = load_config(args.config, FailingLoudlyConfig)
    except ConfigError as exc:
        print(f"driftline evaluate: error: {exc}", file=sys.stderr)
        return 2
    if args.no_progress:
        config.progress = False
    output_dir = args.output_dir if args.output_dir is not None else config.output_dir
    try:
        result = run_failing_loudly(config)
        files = write_results(output_dir, result)
    except (ImportError, ValueError, OSError) as exc:
        print(f"driftline evaluate: error: {exc}", file=sys.stderr)
        return 2
    print(summary_table(result))
    print("\n".join(findings(result)))
    for path in files:
        print(f"wrote {path}")
    print(f"evaluation took {time.perf_counter() - started:.1f} s")
    return 0


def _soak_main(args: argparse.Namespace, started: float) -> int:
    from driftline.evaluation.soak import run_soak, write_report
    from driftline.evaluation.soak_config import SoakConfig

    try:
        config = load_config(args.config, SoakConfig)
    except ConfigError as exc:
        print(f"driftline evaluate: error: {exc}", file=sys.stderr)
        return 2
    output_dir = args.output_dir if args.output_dir is not None else config.output_dir
    config = config.model_copy(update={"output_dir": str(output_dir)})
    try:
        result = run_soak(config)
        files = write_report(result, output_dir)
    except (ConfigError, ValueError, OSError, RuntimeError, TimeoutError) as exc:
        print(f"driftline evaluate: error: {exc}", file=sys.stderr)
        return 2
    for path in files:
        print(f"wrote {path}")
    print(f"soak {'passed' if result.passed else 'FAILED'}; "
          f"took {time.perf_counter() - started:.1f} s")
    return 0 if result.passed else 1


def evaluate_main(args: argparse.Namespace) -> int:
    """Run ``driftline evaluate``. Exit codes: 0 done (a soak: passed), 1 a soak failed, 2 bad
    config or data."""
    started = time.perf_counter()
    protocol = _protocol(args.config)
    if protocol == "failing_loudly":
        return _failing_loudly_main(args, started)
    if protocol == "soak":
        return _soak_main(args, started)
    try:
        config = load_config(args.config, EvaluateConfig)
    except ConfigError as exc:
        print(f"driftline evaluate: error: {exc}", file=sys.stderr)
        return 2
    output_dir = args.output_dir if args.output_dir is not None else config.output_dir
    try:
        files = run_all(config, output_dir, progress=False if args.no_progress else None,
                        insurance=not args.no_insurance)
    except (ValueError, OSError) as exc:
        print(f"driftline evaluate: error: {exc}", file=sys.stderr)
        return 2
    for path in files:
        print(f"wrote {path}")
    print(f"evaluation took {time.perf_counter() - started:.1f} s")
    return 0
