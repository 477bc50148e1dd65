"""``driftline train-digits`` (registered in :mod:`utils.cli`): the vision example's model and
data (:func:`model.digits_cnn.export_digits_example`).

Example
-------
.. code-block:: console

    $ driftline train-digits --output-dir artifacts-digits
    $ driftline profile --schema dataloader/data/digits/schema.yaml \\
          --reference artifacts-digits/digits_reference.jsonl --output-dir artifacts-digits \\
          --reducer pca:32 --reducer srp:32 --reducer uae:32 --reducer bbsd

Exit codes: 0 written, 2 scikit-learn missing or the directory not writable (one line).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["train_digits_arguments", "train_digits_main"]


def train_digits_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``driftline train-digits``."""
    parser.add_argument("--output-dir", default="artifacts-digits",
                        help="where model.ts and the digits_*.jsonl events go")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the training")
    parser.add_argument("--epochs", type=int, default=40)


def train_digits_main(args: argparse.Namespace) -> int:
    """Train and write the example's files; see the module docstring for the exit codes."""
    try:
        from driftline.model.digits_cnn import export_digits_example

        written = export_digits_example(args.output_dir, seed=args.seed, epochs=args.epochs)
    except (ImportError, OSError, ValueError) as exc:
        print(f"driftline train-digits: error: {exc}", file=sys.stderr)
        return 2
    print(f"accuracy: train {written['train_accuracy']:.4f}, reference "
          f"{written['reference_accuracy']:.4f}, test {written['test_accuracy']:.4f}")
    for key in ("model", "reference", "test"):
        print(f"wrote {written[key]}")
    return 0
