"""Benchmark: events/s of the schema decoder against today's insurance :class:`EventDecoder`.

Both decode the 54,000 replayed insurance events (``encode_event`` bytes of months 1-36) into
a float64 feature matrix; runs alternate between the two decoders and the ratio is taken per
round, so machine load hits both alike. A second table times the schema decoder alone on a
wide nested schema (20 numeric + 10 categorical fields), which the old decoder cannot read.

.. code-block:: console

    $ python -m driftline.evaluation.bench_schema_decoder --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from driftline.configs import build_config
from driftline.dataloader.field_values import CategoryVocabulary
from driftline.dataloader.insurance import DATA_DIR, FEATURE_NAMES, load_months
from driftline.dataloader.schema import EventSchema, load_schema
from driftline.executor.decode import EventDecoder, encode_event
from driftline.executor.schema_decoder import SchemaDecoder

__all__ = ["insurance_events", "main", "run", "wide_events"]


def insurance_events(months: Sequence[int] = range(1, 37)) -> list[bytes]:
    """The replayed insurance events as the producer writes them."""
    data = load_months(list(months))
    return [encode_event(data.event_ids[i], dict(zip(FEATURE_NAMES, data.features[i],
                                                     strict=True)),
                         label=int(data.group[i]), timestamp=float(data.timestamps[i]))
            for i in range(len(data.event_ids))]


def wide_events(n: int, seed: int = 0) -> tuple[EventSchema, dict[str, CategoryVocabulary],
                                                list[bytes]]:
    """``n`` nested events with 20 numeric and 10 categorical fields, and their schema."""
    rng = np.random.default_rng(seed)
    fields: list[dict[str, Any]] = [
        {"name": f"n{j}", "path": f"features.n{j}", "type": "numeric"} for j in range(20)]
    fields += [{"name": f"c{j}", "path": f"context.c{j}", "type": "categorical"}
               for j in range(10)]
    schema = build_config({"fields": fields, "outputs": {"classes": ["a", "b"],
                                                         "prediction": {}, "score": {}}},
                          EventSchema)
    vocabularies = {f"c{j}": CategoryVocabulary([f"v{k}" for k in range(12)]) for j in range(10)}
    numbers = rng.normal(size=(n, 20))
    codes = rng.integers(0, 14, size=(n, 10))
    events = [json.dumps({
        "event_id": f"e{i}", "features": {f"n{j}": float(numbers[i, j]) for j in range(20)},
        "context": {f"c{j}": f"v{codes[i, j]}" for j in range(10)},
        "prediction": int(i % 2), "score": 0.5}, separators=(",", ":")).encode()
        for i in range(n)]
    return schema, vocabularies, events


def _timed(decode: Callable[[], Any]) -> float:
    started = time.perf_counter()
    decode()
    return time.perf_counter() - started


def run(rounds: int = 5, n_wide: int = 20_000,
        months: Sequence[int] = range(1, 37)) -> dict[str, Any]:
    """Events/s per round of both decoders on the insurance events of ``months``, and of the
    schema decoder on ``n_wide`` wide events."""
    events = insurance_events(months)
    offsets = list(range(len(events)))
    old = EventDecoder(list(FEATURE_NAMES), n_classes=3)
    new = SchemaDecoder(load_schema(DATA_DIR / "schema.yaml"))

    def old_decode() -> np.ndarray:
        out = [old.decode(v, topic="t", partition=0, offset=i, timestamp_ms=None)
               for i, v in enumerate(events)]
        return np.vstack([e.features for e in out])

    def new_decode() -> np.ndarray:
        return new.decode_batch(events, topic="t", partition=0, offsets=offsets).numeric

    np.testing.assert_array_equal(old_decode(), new_decode())
    schema, vocabularies, wide = wide_events(n_wide)
    wide_decoder = SchemaDecoder(schema, vocabularies=vocabularies)
    wide_offsets = list(range(len(wide)))
    result: dict[str, Any] = {"n_insurance": len(events), "n_wide": len(wide),
                              "old": [], "new": [], "ratio": [], "wide": []}
    for _ in range(rounds):
        t_old, t_new = _timed(old_decode), _timed(new_decode)
        result["old"].append(len(events) / t_old)
        result["new"].append(len(events) / t_new)
        result["ratio"].append(t_old / t_new)
        result["wide"].append(len(wide) / _timed(lambda: wide_decoder.decode_batch(
            wide, topic="t", partition=0, offsets=wide_offsets)))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Print the medians and the per-round ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--wide-events", type=int, default=20_000)
    args = parser.parse_args(argv)
    result = run(args.rounds, args.wide_events)
    print(f"insurance events ({result['n_insurance']:,}), median of {args.rounds} rounds:")
    print(f"  EventDecoder.decode (one by one)   {statistics.median(result['old']):>10,.0f} ev/s")
    print(f"  SchemaDecoder.decode_batch         {statistics.median(result['new']):>10,.0f} ev/s")
    print("  ratio schema/old per round: " + ", ".join(f"{r:.2f}" for r in result["ratio"]))
    print(f"wide nested events, 20 numeric + 10 categorical ({result['n_wide']:,}):")
    print(f"  SchemaDecoder.decode_batch         {statistics.median(result['wide']):>10,.0f} ev/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
