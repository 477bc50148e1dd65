"""Benchmark: high-dimensional events through decode -> reducer -> detectors, on one core.

For two kinds of events, measured in the same run on the same encoded events:

* ``image 8x8`` -- the 64-pixel digits of :mod:`dataloader.digits` (the held-out test pool
  drawn with replacement), JSON nested arrays;
* ``embedding 768`` -- 768-dimensional float embeddings (a 32-factor Gaussian model plus
  noise, as a text encoder's embeddings are far from isotropic), as JSON arrays and as the
  schema's compact ``base64_float32`` encoding (what an embedding service would send: parsing
  768 JSON numbers is most of the decoding);

it times the path of the executor's batch (per micro-batch of records the
:class:`executor.schema_decoder.SchemaDecoder`, a PCA reducer fitted on a reference sample, run
in torch, and the reduced streams' detectors: the Incremental KS bank over the components with
Bonferroni, NM-DDM on the reduced vector, :mod:`executor.reduced_detectors`) against the
*baseline* of the same decode followed by the Incremental KS bank over every raw dimension
(Bonferroni over 64 or 768 columns, no reduction). Both detector sets are calibrated with
``calibration: bound`` at the same ``target_arl0``. It prints events/s of both, their ratio, and
the resident memory of the process (``/proc/self/statm``) after each stretch of the stream: the
detectors' state is bounded by their windows, so the memory should not grow with the stream's
length.

With ``--pipeline`` it also times the whole :class:`executor.schema_pipeline.SchemaPipeline` on
the digits events with the digits CNN served through its adapter (``model.kind: torchscript``;
decoding, the model, PCA and BBSD reducers and the predicted-class test included), built into
``--work-dir``.

Torch runs one intra-op thread, as in the executor's pipeline processes.

Run::

    python -m driftline.evaluation.bench_highdim --events 20000 --memory-events 200000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from driftline.evaluation.bench_common import markdown_table

__all__ = ["main"]

WINDOW = 200
TARGET_ARL0 = 100_000
BATCH_ROWS = 1000


def _rss_mib() -> float:
    """Resident memory of this process now (MiB)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):  # not Linux: the peak is the best there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _embeddings(n: int, dim: int, rng: np.random.Generator, loadings: np.ndarray) -> np.ndarray:
    factors = rng.normal(size=(n, loadings.shape[0]))
    return (factors @ loadings + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)


def _workload(kind: str, n_events: int, seed: int) -> dict[str, Any]:
    """The field spec, a reference sample and ``n_events`` encoded events of one kind
    (``image``, ``embedding`` or ``embedding_base64``)."""
    from driftline.configs import build_config
    from driftline.dataloader.schema import EventSchema, ImageField, VectorField
    from driftline.dataloader.vector_values import array_json

    rng = np.random.default_rng(seed)
    if kind == "image":
        from driftline.dataloader.digits import image_json, load_digits_split

        split = load_digits_split(seed)
        spec: Any = build_config({"name": "pixels", "type": "image", "shape": [8, 8],
                                  "range": [0, 16]}, ImageField)
        reference = split.reference.flat()
        pool = split.test.images
        rows = rng.integers(0, len(pool), n_events)
        values = [image_json(pool[i]) for i in rows]
    else:
        dim = 768
        encoding = "base64_float32" if kind == "embedding_base64" else "array"
        spec = build_config({"name": "embedding", "type": "vector", "length": dim,
                             "encoding": encoding}, VectorField)
        loadings = rng.normal(size=(32, dim)) / np.sqrt(32)
        reference = _embeddings(2000, dim, rng, loadings)
        rows = _embeddings(n_events, dim, rng, loadings)
        values = ([array_json(spec, row) for row in rows] if encoding != "array"
                  else [[round(float(x), 5) for x in row] for row in rows])
    events = [json.dumps({"event_id": f"e{i}", "features": {spec.name: value}},
                         separators=(",", ":")).encode() for i, value in enumerate(values)]
    schema = build_config({"event_id": {"path": "event_id"}, "fields": [
        {**spec.model_dump(exclude_none=True), "path": f"features.{spec.name}"}]}, EventSchema)
    return {"spec": spec, "schema": schema, "reference": reference, "events": events}


def _decode_all(decoder: Any, events: Sequence[bytes]) -> np.ndarray:
    """The vector field's ``(n, size)`` block of a micro-batch (the executor's decoding)."""
    batch = decoder.decode_batch(list(events), topic="t", partition=0,
                                 offsets=list(range(len(events))))
    return next(iter(batch.vectors.values()))


def _entry(detector: str, **params: Any) -> Any:
    """A ``detectors.streams`` entry at the benchmark's target (IKS and chi-square: the
    instant ``bound`` calibration)."""
    from driftline.executor.detectors_config import DetectorEntry

    bound = {"calibration": "bound"} if detector in ("incremental_ks", "chi_square") else {}
    return DetectorEntry.model_validate({"detector": detector, "target_arl0": TARGET_ARL0,
                                         "params": params, **bound})


def _paths(work: dict[str, Any], n_components: int) -> dict[str, Callable[[], Callable]]:
    """Factories of the two paths: each returns a fresh ``process(events)`` callable."""
    from driftline.executor.reduced_detectors import build_reduced_detectors
    from driftline.executor.schema_decoder import SchemaDecoder
    from driftline.model.reducers.linear import fit_pca

    spec, reference = work["spec"], work["reference"]
    pca = fit_pca("pca", spec.name, reference, n_components)
    reduced_reference = pca.transform(reference)

    def reduced() -> Callable:
        decoder = SchemaDecoder(work["schema"])
        detectors = build_reduced_detectors(
            {"pca": reduced_reference}, None,
            {"reduced_components": [_entry("incremental_ks", window_size=WINDOW)],
             "reduced_vector": [_entry("nm_ddm", window_size=WINDOW, n_features_rff=128,
                                       calibration_steps=50_000)]}, n_streams=10)

        def process(events: Sequence[bytes]) -> None:
            block = _decode_all(decoder, events)
            detectors.update({"pca": pca.transform(block)}, None)
        return process

    def per_dimension() -> Callable:
        decoder = SchemaDecoder(work["schema"])
        raw = build_reduced_detectors(
            {"raw": reference}, None,
            {"reduced_components": [_entry("incremental_ks", window_size=WINDOW)]},
            n_streams=10)

        def process(events: Sequence[bytes]) -> None:
            raw.update({"raw": _decode_all(decoder, events)}, None)
        return process

    return {"reduced": reduced, "per_dimension_iks": per_dimension}


def _run(process: Callable, events: Sequence[bytes]) -> float:
    started = time.perf_counter()
    for start in range(0, len(events), BATCH_ROWS):
        process(events[start:start + BATCH_ROWS])
    return len(events) / (time.perf_counter() - started)


def _throughput(work: dict[str, Any], n_components: int, rounds: int) -> dict[str, float]:
    paths = _paths(work, n_components)
    built = {name: factory() for name, factory in paths.items()}
    warm = work["events"][:BATCH_ROWS]
    for process in built.values():
        _run(process, warm)
    rates: dict[str, list[float]] = {name: [] for name in built}
    for _ in range(rounds):  # interleaved: both paths see the same load of the machine
        for name, process in built.items():
            rates[name].append(_run(process, work["events"]))
    return {name: statistics.median(values) for name, values in rates.items()}


def _memory(work: dict[str, Any], n_components: int, n_events: int,
            marks: int) -> list[tuple[int, float]]:
    """RSS after each of ``marks`` stretches of a stream of ``n_events`` (the workload's events
    cycled) through the reduced path."""
    process = _paths(work, n_components)["reduced"]()
    events = work["events"]
    out = [(0, _rss_mib())]
    seen = 0
    step = n_events // marks
    while seen < n_events:
        for start in range(0, step, BATCH_ROWS):
            first = (seen + start) % len(events)
            chunk = events[first:first + BATCH_ROWS]
            process(chunk)
        seen += step
        out.append((seen, _rss_mib()))
    return out


def _pipeline_rate(work_dir: Path, n_events: int, seed: int) -> dict[str, float]:
    """events/s of the whole DetectionPipeline on digits events with the CNN."""
    from driftline.configs import build_config
    from driftline.dataloader.image_replay import ImageReplay, ImageReplayConfig
    from driftline.executor.config import RunConfig
    from driftline.executor.detection import PartitionBatch
    from driftline.executor.monitoring import open_monitoring
    from driftline.utils.cli import main as cli

    schema = Path(__file__).resolve().parents[1] / "configs" / "examples" / "digits" / \
        "schema.yaml"
    if not (work_dir / "reference_profile.json").is_file():
        assert cli(["train-digits", "--output-dir", str(work_dir), "--epochs", "15"]) == 0
        assert cli(["profile", "--schema", str(schema), "--reference",
                    str(work_dir / "digits_reference.jsonl"), "--output-dir", str(work_dir),
                    "--reducer", "pca:16", "--reducer", "bbsd", "--progress", "none"]) == 0
    streams = {"reduced_components": [_entry("incremental_ks", window_size=WINDOW)],
               "reduced_vector": [_entry("nm_ddm", window_size=WINDOW, n_features_rff=128,
                                         calibration_steps=50_000)],
               "predicted_class": [_entry("chi_square", window_size=WINDOW)]}
    config = RunConfig.model_validate({
        "model": {"kind": "torchscript", "artifacts_dir": str(work_dir),
                  "path": str(work_dir / "model.ts"), "returns": ["probabilities", "embedding"],
                  "preprocessing": {"features": ["pixels"], "standardise": "none",
                                    "missing": "refuse"}},
        "detectors": {"calibration": {"n_streams": 10, "seed": 0}, "streams": {
            name: [entry.model_dump(exclude_none=True) for entry in entries]
            for name, entries in streams.items()}}})
    monitoring = open_monitoring(config)
    pipeline = monitoring.pipeline()
    decoder = monitoring.decoder()
    replay = build_config({"length": n_events, "change_point": None, "seed": seed,
                           "start_time": 0.0}, ImageReplayConfig)
    values = [event.value for event in ImageReplay(replay).events()]
    started = time.perf_counter()
    for start in range(0, len(values), BATCH_ROWS):
        records = [(v, None, start + i, None)
                   for i, v in enumerate(values[start:start + BATCH_ROWS])]
        pipeline.process(decoder.decode_records(PartitionBatch("t", 0, records)).events)
    return {"events_per_s": n_events / (time.perf_counter() - started)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per timed round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-events", type=int, default=200_000,
                        help="stream length of the memory measurement")
    parser.add_argument("--components", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pipeline", action="store_true",
                        help="also time the whole DetectionPipeline with the digits CNN")
    parser.add_argument("--work-dir", default="runs/bench_highdim")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = []
    memory_rows = []
    for kind, label in (("image", "image 8x8 (64-d)"), ("embedding", "embedding 768-d"),
                        ("embedding_base64", "embedding 768-d, base64")):
        work = _workload(kind, args.events, args.seed)
        components = min(args.components, work["spec"].size // 2)
        rates = _throughput(work, components, args.rounds)
        ratio = rates["reduced"] / rates["per_dimension_iks"]
        rows.append([label, f"PCA:{components} -> IKS bank + NM-DDM",
                     f"{rates['reduced']:,.0f}", f"{rates['per_dimension_iks']:,.0f}",
                     f"{ratio:.2f}x"])
        print(f"{label}: reduced {rates['reduced']:,.0f} ev/s, per-dimension IKS "
              f"{rates['per_dimension_iks']:,.0f} ev/s ({ratio:.2f}x)", flush=True)
        marks = _memory(work, components, args.memory_events, 4)
        memory_rows.append([label] + [f"{rss:.0f}" for _, rss in marks])
        print(f"{label}: RSS MiB at " + ", ".join(f"{n:,}: {rss:.0f}" for n, rss in marks),
              flush=True)
    print()
    print(markdown_table(["events", "reduced path", "reduced ev/s", "per-dimension IKS ev/s",
                          "ratio"], rows))
    print()
    stretch = args.memory_events // 4
    print(markdown_table(["events", "RSS MiB at 0"] + [f"at {stretch * k:,}" for k in
                                                      range(1, 5)], memory_rows))
    if args.pipeline:
        rate = _pipeline_rate(Path(args.work_dir), args.events, args.seed)
        print(f"\nSchemaPipeline, digits CNN (torchscript) + PCA:16 + BBSD, IKS + NM-DDM + "
              f"chi-square: {rate['events_per_s']:,.0f} events/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
