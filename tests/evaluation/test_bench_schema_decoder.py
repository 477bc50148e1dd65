"""The schema-decoder benchmark runs, checks both decoders agree, and reports positive rates
(a smoke test: speed is measured by running the module, never asserted)."""

from __future__ import annotations

import pytest

from driftline.evaluation.bench_schema_decoder import main, run, wide_events
from driftline.executor.schema_decoder import SchemaDecoder


def test_run_reports_rates_for_both_decoders() -> None:
    result = run(rounds=2, n_wide=200, months=[1])
    assert result["n_insurance"] == 1500 and result["n_wide"] == 200
    for key in ("old", "new", "ratio", "wide"):
        assert len(result[key]) == 2 and min(result[key]) > 0


def test_wide_events_decode_without_dead_letters() -> None:
    schema, vocabularies, events = wide_events(300, seed=1)
    batch = SchemaDecoder(schema, vocabularies=vocabularies).decode_batch(
        events, topic="t", partition=0, offsets=list(range(300)))
    assert not batch.dead_letters and batch.numeric.shape == (300, 20)
    assert batch.categorical.shape == (300, 10)
    assert 0 < batch.flagged("unseen_category").mean() < 0.3  # codes 12, 13 are not known


def test_main_prints_the_tables(capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    import driftline.evaluation.bench_schema_decoder as bench

    monkeypatch.setattr(bench, "run", lambda rounds, n_wide: run(rounds, n_wide, months=[2]))
    assert main(["--rounds", "1", "--wide-events", "50"]) == 0
    out = capsys.readouterr().out
    assert "EventDecoder.decode" in out and "ratio schema/old per round" in out
