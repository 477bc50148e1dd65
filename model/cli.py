"""``driftline train`` and ``driftline months`` (dispatched by :mod:`utils.cli`).

Example
-------
``driftline train --config configs/train.yaml`` and ``driftline months --months 1 36`` from
Python, into a temporary directory:

>>> import tempfile
>>> from driftline.utils.cli import main
>>> artifacts = tempfile.TemporaryDirectory()
>>> main(["train", "--output-dir", artifacts.name, "--no-months"])  # doctest: +ELLIPSIS
test accuracy 0.7267, test macro-F1 0.7031
reference: error rate 0.2553 (network alone 0.2573), fallback rate 0.0280
trained in ... s; wrote .../model.pt and .../reference_profile.json (model sha256 ...)
config, data, training, profile and save took ... s
0
>>> main(["months", "--artifacts", artifacts.name, "--months", "1", "36"])  # doctest: +ELLIPSIS
| month | rows | accuracy | macro-F1 | network accuracy | fallback rate | ... | mean miles |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| 1 | 1500 | 0.734 | 0.713 | 0.731 | 0.023 | 36.14 | 0.39 | 79.83 |
| 36 | 1500 | 0.498 | 0.414 | 0.504 | 0.013 | 39.44 | 0.94 | 62.77 |
0
>>> artifacts.cleanup()
"""

from __future__ import annotations

import argparse
import sys
import time

from driftline.configs import ConfigError, load_config
from driftline.dataloader.insurance import N_MONTHS, InsuranceDataError
from driftline.model.artifacts import ArtifactError, load_artifacts
from driftline.model.config import DEFAULT_CONFIG_PATH, TrainConfig
from driftline.model.months import evaluate_months, months_table
from driftline.model.train import QualityGateError, train_and_save

__all__ = ["months_arguments", "months_main", "train_arguments", "train_main"]


def _month(text: str) -> int:
    try:
        month = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a month number: {text!r}") from None
    if not 1 <= month <= N_MONTHS:
        raise argparse.ArgumentTypeError(f"month must be in [1, {N_MONTHS}], got {month}")
    return month


def train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``driftline train``."""
    parser.add_argument("--config", default=str(DEFAULT_CONFIG_PATH),
                        help="training config (YAML, schema model.config.TrainConfig)")
    parser.add_argument("--output-dir", default=None,
                        help="where to write model.pt and reference_profile.json "
                             "(default: output_dir from the config)")
    parser.add_argument("--seed", type=int, default=None, help="override optimiser.seed")
    parser.add_argument("--epochs", type=int, default=None, help="override optimiser.epochs")
    parser.add_argument("--no-months", action="store_true",
                        help="skip the per-month evaluation table after training")


def train_main(args: argparse.Namespace) -> int:
    """Train, enforce the quality gate, save the artifacts, print the per-month table.

    Exit codes: 0 saved, 1 quality gate failed (nothing saved), 2 bad config or data.
    """
    overrides = {}
    if args.seed is not None:
        overrides["optimiser.seed"] = args.seed
    if args.epochs is not None:
        overrides["optimiser.epochs"] = args.epochs
    started = time.perf_counter()
    try:
        config = load_config(args.config, TrainConfig, overrides)
        result, directory = train_and_save(config, args.output_dir)
    except (ConfigError, InsuranceDataError) as exc:
        print(f"driftline train: error: {exc}", file=sys.stderr)
        return 2
    except QualityGateError as exc:
        print(f"driftline train: quality gate failed, {exc}", file=sys.stderr)
        return 1
    profile = result.profile
    print(f"test accuracy {result.test_accuracy:.4f}, test macro-F1 {result.test_macro_f1:.4f}")
    print(f"reference: error rate {profile.baseline_error_rate:.4f} (network alone "
          f"{profile.baseline_model_error_rate:.4f}), fallback rate "
          f"{profile.baseline_fallback_rate:.4f}")
    print(f"trained in {result.train_seconds:.2f} s; wrote {directory}/model.pt and "
          f"{directory}/reference_profile.json (model sha256 {profile.model_sha256[:16]})")
    print(f"config, data, training, profile and save took {time.perf_counter() - started:.2f} s")
    if not args.no_months:
        print()
        print(months_table(evaluate_months(load_artifacts(directory),
                                           data_dir=config.data.data_dir)))
    return 0


def months_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``driftline months``."""
    parser.add_argument("--artifacts", default="artifacts",
                        help="directory with model.pt and reference_profile.json")
    parser.add_argument("--data-dir", default=None,
                        help="insurance data directory (default: the packaged copy)")
    parser.add_argument("--months", type=_month, nargs="+", default=None, metavar="MONTH",
                        help=f"months to evaluate (default: 1..{N_MONTHS})")


def months_main(args: argparse.Namespace) -> int:
    """Print the per-month markdown table; exit 2 if the artifacts or data are bad."""
    try:
        model = load_artifacts(args.artifacts)
        rows = evaluate_months(model, args.months, args.data_dir)
    except (ArtifactError, InsuranceDataError) as exc:
        print(f"driftline months: error: {exc}", file=sys.stderr)
        return 2
    print(months_table(rows))
    return 0
