"""The high-dimensional benchmark: its events decode to the values they were made of, both
paths run on them, and it prints the throughput and memory tables (a smoke test: speed is
measured by running the module, never asserted)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from driftline.evaluation.bench_highdim import _decode_all, _paths, _workload, main
from driftline.executor.schema_decoder import SchemaDecoder


@pytest.mark.parametrize(("kind", "size"), [("image", 64), ("embedding", 768),
                                            ("embedding_base64", 768)])
def test_the_events_decode_to_their_values(kind: str, size: int) -> None:
    work = _workload(kind, 50, seed=0)
    assert work["reference"].shape[1] == work["spec"].size == size
    block = _decode_all(SchemaDecoder(work["schema"]), work["events"])
    values = [json.loads(e)["features"][work["spec"].name] for e in work["events"]]
    if kind == "embedding_base64":
        values = [np.frombuffer(base64.b64decode(v), "<f4") for v in values]
    assert np.array_equal(block, np.asarray(values, dtype=np.float32).reshape(50, size))


def test_both_paths_run_and_main_prints_the_tables(capsys: pytest.CaptureFixture[str]) -> None:
    work = _workload("image", 400, seed=1)
    for factory in _paths(work, 8).values():
        factory()(work["events"])
    assert main(["--events", "600", "--rounds", "1", "--memory-events", "2000",
                 "--components", "8"]) == 0
    out = capsys.readouterr().out
    assert "| image 8x8 (64-d) | PCA:8 -> IKS bank + NM-DDM |" in out
    assert "| embedding 768-d | PCA:8 -> IKS bank + NM-DDM |" in out
    assert "| embedding 768-d, base64 | PCA:8 -> IKS bank + NM-DDM |" in out
    assert "RSS MiB at 0" in out
