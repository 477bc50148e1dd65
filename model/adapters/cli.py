"""``driftline check-model`` and ``driftline train-classifier`` (registered in
:mod:`utils.cli`).

``check-model`` loads the model a run config names, exactly as the executor will, runs it once
on a probe input and, with ``--reference``, on the reference rows (predicted class distribution
and, with labels, accuracy), and prints what it loaded. ``train-classifier`` trains the
TorchScript model of a ``kind: torchscript`` run config on a reference file
(:mod:`model.train_classifier`). Relative paths in the config are taken from the working
directory, as ``driftline run`` does.

Example
-------
.. code-block:: console

    $ driftline profile --schema my/schema.yaml --reference my/ref.csv --output-dir my/artifacts
    $ driftline train-classifier --config my/run.yaml --reference my/ref.csv
    $ driftline check-model --config my/run.yaml --reference my/ref.csv

Exit codes: 0 fine, 2 a config, schema, profile, model or data problem (one line on stderr
naming the file and the key or field).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from driftline.configs import ConfigError
from driftline.dataloader.reference_reader import ReferenceDataError
from driftline.model.adapters.base import InputBatch, ModelError, ModelLoadError
from driftline.model.adapters.loading import load_model_adapter, load_reference

__all__ = ["check_model_arguments", "check_model_main", "train_classifier_arguments",
           "train_classifier_main"]

_PROBLEMS = (ConfigError, ModelLoadError, ModelError, ReferenceDataError, OSError)


def _fail(command: str, exc: BaseException) -> int:
    text = str(exc) if not isinstance(exc, OSError) else (
        f"{exc.filename or ''}: {exc.strerror or exc}")
    if isinstance(exc, ModelError):
        text = f"the model fails on the reference rows: {text}"
    print(f"driftline {command}: error: {text}", file=sys.stderr)
    return 2


def _load_config(path: str) -> Any:
    from driftline.executor.config import load_run_config

    return load_run_config(path).model


def check_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``driftline check-model``."""
    parser.add_argument("--config", required=True, help="run config (YAML) with a model: section")
    parser.add_argument("--reference", default=None,
                        help="reference data file to run the model on (torch kinds)")
    parser.add_argument("--delimiter", default=None, help="CSV delimiter (default: sniffed)")


def _reference_rows(config: Any, adapter: Any, path: str | None, delimiter: str | None,
                    ) -> tuple[Any, np.ndarray | None] | None:
    if adapter.kind == "driftline":
        return InputBatch.from_profile(adapter.profile), None
    if path is None or adapter.kind == "none":
        return None
    from driftline.model.reference_rows import read_reference_rows

    schema, _, profile = load_reference(config, profile=adapter.profile)
    return read_reference_rows(path, schema, profile, delimiter=delimiter)


def check_model_main(args: argparse.Namespace) -> int:
    """Load, probe and describe the model; see the module docstring for the exit codes."""
    try:
        config = _load_config(args.config)
        adapter = load_model_adapter(config, source=args.config)
        rows = _reference_rows(config, adapter, args.reference, args.delimiter)
        served = None if rows is None else adapter.predict(rows[0])
    except _PROBLEMS as exc:
        return _fail("check-model", exc)
    described = adapter.describe()
    print(f"kind {described['kind']}, model sha256 {described['model_sha256'][:16] or '-'}, "
          f"classes {described['classes']}")
    inputs = described["inputs"]
    if inputs:
        shown = ", ".join(inputs[:12]) + (f", ... ({len(inputs) - 12} more)"
                                          if len(inputs) > 12 else "")
        print(f"inputs ({len(inputs)}): {shown}")
    if adapter.kind == "none":
        print(f"predictions from the events: prediction {described['prediction']}, score "
              f"{described['score']}")
    if rows is not None and served is not None:
        n_classes = max(len(adapter.class_names), 1)
        shares = np.bincount(served.labels[served.labels >= 0], minlength=n_classes) / max(
            len(served.labels), 1)
        names = adapter.class_names or [str(i) for i in range(n_classes)]
        print(f"reference: {len(served.labels)} rows, predicted " + ", ".join(
            f"{name} {share:.3f}" for name, share in zip(names, shares, strict=True)))
        labels = rows[1]
        if labels is not None and (labels >= 0).any():
            known = labels >= 0
            accuracy = float((served.labels[known] == labels[known]).mean())
            print(f"reference accuracy {accuracy:.4f} on {int(known.sum())} labelled rows")
    return 0


def train_classifier_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``driftline train-classifier``."""
    from driftline.model.train_classifier import TrainingOptions

    defaults = TrainingOptions()
    parser.add_argument("--config", required=True,
                        help="run config (YAML) whose model: section is kind torchscript")
    parser.add_argument("--reference", required=True, help="reference data with labels "
                        "(.csv/.tsv[.gz], .parquet, .jsonl[.gz])")
    parser.add_argument("--delimiter", default=None, help="CSV delimiter (default: sniffed)")
    parser.add_argument("--hidden-sizes", type=int, nargs="+",
                        default=list(defaults.hidden_sizes), metavar="WIDTH")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--validation-fraction", type=float,
                        default=defaults.validation_fraction)
    parser.add_argument("--seed", type=int, default=defaults.seed)


def train_classifier_main(args: argparse.Namespace) -> int:
    """Train and save; exit 2 (one line) on a bad config, schema, profile or data."""
    from driftline.model.train_classifier import TrainingOptions, train_torchscript

    try:
        config = _load_config(args.config)
        if config.kind != "torchscript":
            raise ModelLoadError(args.config, "model.kind", f"train-classifier writes a "
                                 f"TorchScript file: kind must be torchscript, got {config.kind}")
        options = TrainingOptions(
            hidden_sizes=tuple(args.hidden_sizes), epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.learning_rate,
            weight_decay=args.weight_decay, validation_fraction=args.validation_fraction,
            seed=args.seed)
        path, result = train_torchscript(config, args.reference, options, source=args.config,
                                         delimiter=args.delimiter)
    except (*_PROBLEMS, ValueError) as exc:
        return _fail("train-classifier", exc)
    validation = ("" if result.validation_accuracy is None else
                  f", validation accuracy {result.validation_accuracy:.4f} on "
                  f"{result.n_validation} rows")
    print(f"trained on {result.n_train} rows in {result.seconds:.2f} s: train accuracy "
          f"{result.train_accuracy:.4f}{validation}")
    print(f"wrote {path}")
    return 0
