"""The ``driftline`` command line: one sub-command per job, each owned by its package.

A sub-command is registered as ``"module:prefix"`` (module relative to ``driftline``); the module
defines ``<prefix>_arguments(parser)`` and ``<prefix>_main(args) -> int``. Modules are imported
only when their sub-command runs, so ``driftline replay`` does not pay for torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["SUBCOMMANDS", "main"]

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": ("model.cli:train", "train the model and write it with its reference profile"),
    "months": ("model.cli:months", "print the model's quality on each insurance month"),
    "profile": ("model.profile_cli:profile",
                "build the reference profile of your reference data under an event schema"),
    "train-digits": ("model.digits_cli:train_digits",
                     "train the vision example's CNN on the 8x8 digits and write its events"),
    "train-classifier": ("model.adapters.cli:train_classifier",
                         "train a TorchScript classifier on a reference file for a run config"),
    "check-model": ("model.adapters.cli:check_model",
                    "load the model of a run config as the executor will, and describe it"),
    "run": ("executor.cli:run", "run the streaming executor (source -> model -> detectors)"),
    "replay": ("executor.cli:replay", "replay the insurance months or a scenario into Kafka"),
    "evaluate": ("evaluation.cli:evaluate", "compare detectors on streams with known drift"),
    "config-schema": ("configs.cli:config_schema",
                      "print, write or check the JSON Schema of the configs and event schemas"),
}


def _resolve(target: str, suffix: str) -> Callable[..., Any]:
    module_name, prefix = target.split(":")
    module = importlib.import_module(f"driftline.{module_name}")
    return getattr(module, f"{prefix}_{suffix}")


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only the ``selected`` sub-command's module is imported."""
    parser = argparse.ArgumentParser(
        prog="driftline",
        description="Streaming drift detection for ML models in production.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (target, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            _resolve(target, "arguments")(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``driftline`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    if selected not in SUBCOMMANDS:
        selected = None
    parser = build_parser(selected)
    args = parser.parse_args(argv)
    return int(_resolve(SUBCOMMANDS[args.command][0], "main")(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
