"""``driftline profile`` (registered in :mod:`utils.cli`): the reference profile of the user's
reference data under their event schema, written into an artifacts directory.

Example
-------
.. code-block:: console

    $ driftline profile --schema dataloader/data/insurance/schema.yaml \\
          --reference dataloader/data/insurance/reference.csv.gz --output-dir artifacts-ref
    $ driftline profile --schema my_events.yaml --reference ref.parquet --sample-size 50000
    $ driftline profile --schema digits.yaml --reference digits.jsonl --output-dir digits \
          --reducer pca:32 --reducer srp:32 --reducer uae:32 --reducer bbsd

``--reducer`` fits a dimensionality reducer on a vector or image field's reference sample
(:mod:`model.reducers.spec` for the syntax) and writes it beside the profile.

Progress: a bar on a terminal, else one line per stage. Exit codes: 0 written, 2 bad schema,
data or options (one line on stderr naming the file and the field).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from driftline.configs import ConfigError
from driftline.dataloader.reference_reader import ReferenceDataError
from driftline.model.profile_builder import (
    DEFAULT_QUANTILE_LEVELS,
    ProfileError,
    ProfileOptions,
    build_profile,
)
from driftline.model.profile_files import MODEL_FILE, write_profile

__all__ = ["profile_arguments", "profile_main"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _reducer(text: str) -> Any:
    from driftline.model.reducers.spec import parse_reducer_option

    try:
        return parse_reducer_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--reducer {text}: ")) from None


def profile_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``driftline profile``."""
    defaults = ProfileOptions()
    parser.add_argument("--schema", required=True, help="event schema (YAML, "
                        "dataloader/schema.py; JSON Schema: driftline config-schema event)")
    parser.add_argument("--reference", required=True,
                        help="reference data: .csv/.tsv[.gz], .parquet/.pq, .jsonl/.ndjson[.gz]")
    parser.add_argument("--output-dir", default="artifacts",
                        help="where to write reference_profile.json and event_schema.yaml")
    parser.add_argument("--sample-size", type=_positive, default=defaults.sample_size,
                        help="reference rows kept as samples for the KS tests "
                             f"(default {defaults.sample_size})")
    parser.add_argument("--quantile-sample-size", type=_positive,
                        default=defaults.quantile_sample_size,
                        help="reservoir rows for quantiles and bucket edges; files up to this "
                             f"size are profiled exactly (default {defaults.quantile_sample_size})")
    parser.add_argument("--vector-sample-size", type=_positive,
                        default=defaults.vector_sample_size,
                        help="reference rows of vector and image fields kept beside the "
                             "profile (reducers are fitted on them; default "
                             f"{defaults.vector_sample_size})")
    parser.add_argument("--reducer", type=_reducer, action="append", default=[],
                        metavar="SPEC", help="fit a reducer on a vector or image field: pca:32, "
                        "pca:0.8, srp:32, uae:32, bbsd, bbsd:embedding, none; options "
                        ",field=F,name=N,seed=S (repeatable)")
    parser.add_argument("--histogram-buckets", type=_positive, default=defaults.histogram_buckets)
    parser.add_argument("--quantile-levels", type=float, nargs="+",
                        default=list(DEFAULT_QUANTILE_LEVELS), metavar="Q")
    parser.add_argument("--max-tracked-categories", type=_positive,
                        default=defaults.max_tracked_categories,
                        help="distinct values counted exactly per categorical field")
    parser.add_argument("--chunk-rows", type=_positive, default=defaults.chunk_rows)
    parser.add_argument("--delimiter", default=None, help="CSV delimiter (default: sniffed)")
    parser.add_argument("--unknown-columns", choices=("warn", "error", "ignore"), default="warn",
                        help="reference columns the schema does not use (default: warn and "
                             "ignore them)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the reservoir sampling")
    parser.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                        help="auto: a bar on a terminal, else one line per stage")


class _Progress:
    """A tqdm bar per stage on a terminal, else one line when a stage starts and ends."""

    def __init__(self, mode: str, stream: TextIO, total_hint: str) -> None:
        if mode == "auto":
            mode = "bar" if stream.isatty() else "lines"
        self.mode = mode
        self.stream = stream
        self.total_hint = total_hint
        self.stage: str | None = None
        self.bar: Any = None
        self.rows = 0
        self.started = time.perf_counter()

    def __call__(self, stage: str, rows: int | None) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.rows, self.started = stage, 0, time.perf_counter()
            if self.mode == "lines":
                print(f"{stage} {self.total_hint}".rstrip() + " ...", file=self.stream,
                      flush=True)
        if rows is not None:
            if self.mode == "bar":
                if self.bar is None:  # stages that count rows get a bar
                    from tqdm import tqdm

                    self.bar = tqdm(desc=stage, unit=" rows", file=self.stream,
                                    unit_scale=True)
                self.bar.update(rows - self.rows)
            self.rows = rows

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.mode == "lines" and self.stage is not None and self.rows:
            print(f"{self.stage}: {self.rows:,} rows in {time.perf_counter() - self.started:.1f} "
                  "s", file=self.stream, flush=True)


def profile_main(args: argparse.Namespace) -> int:
    """Build and write the profile; see the module docstring for the exit codes."""
    output = Path(args.output_dir)
    if (output / MODEL_FILE).exists():
        print(f"driftline profile: error: {output} holds a trained model ({MODEL_FILE}) whose "
              "profile this would replace; choose another --output-dir", file=sys.stderr)
        return 2
    progress = _Progress(args.progress, sys.stderr, f"{args.reference}")
    try:
        specs = _resolved_reducers(args)
        options = ProfileOptions(
            sample_size=args.sample_size, quantile_sample_size=args.quantile_sample_size,
            vector_sample_size=args.vector_sample_size,
            histogram_buckets=args.histogram_buckets,
            quantile_levels=tuple(args.quantile_levels),
            max_tracked_categories=args.max_tracked_categories, chunk_rows=args.chunk_rows,
            delimiter=args.delimiter, unknown_columns=args.unknown_columns, seed=args.seed)
        profile, report = build_profile(args.schema, args.reference, options,
                                        progress if args.progress != "none" else None)
        progress.close()
        if specs:
            _fit_reducers(specs, args.schema, profile, report.files)
        paths = write_profile(output, profile, args.schema, files=report.files)
    except (ConfigError, ReferenceDataError, ProfileError, ValueError, OSError) as exc:
        progress.close()
        text = str(exc) if not isinstance(exc, OSError) else (
            f"{exc.filename or ''}: {exc.strerror or exc}")
        print(f"driftline profile: error: {text}", file=sys.stderr)
        return 2
    for warning in report.warnings:
        print(f"driftline profile: warning: {warning}", file=sys.stderr)
    features = len(profile.feature_names)
    print(f"profiled {report.n_rows:,} rows of {args.reference}: {features} numeric/boolean and "
          f"{len(profile.categorical)} categorical features, {report.passes} pass(es), "
          f"{sum(report.seconds.values()):.2f} s")
    if profile.baseline_error_rate is not None:
        print(f"reference error rate {profile.baseline_error_rate:.4f}")
    for entry in profile.reducers:
        width = (f"{len(entry.component_names)} components" if entry.component_names
                 else "its components come from the model")
        field = f", field {entry.field}" if entry.field else ""
        print(f"reducer {entry.name} ({entry.kind}{field}): {width}")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _resolved_reducers(args: argparse.Namespace) -> list[Any]:
    """The ``--reducer`` specs checked against the schema before any data is read."""
    if not args.reducer:
        return []
    from driftline.dataloader.schema import load_schema
    from driftline.model.reducers.spec import resolve_specs

    return resolve_specs(args.reducer, load_schema(args.schema))


def _fit_reducers(specs: list[Any], schema_path: str, profile: Any,
                  files: dict[str, bytes]) -> None:
    """Fit ``specs`` on the profile's vector samples; record them in ``profile`` and ``files``."""
    import io

    import numpy as np

    from driftline.dataloader.schema import load_schema
    from driftline.model.reducers.store import fit_reducers

    samples = {name: np.load(io.BytesIO(files[entry.file]), allow_pickle=False)
               for name, entry in profile.vectors.items()}
    entries, reducer_files = fit_reducers(specs, load_schema(schema_path), samples)
    profile.reducers = entries
    files.update(reducer_files)
