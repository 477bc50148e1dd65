"""Readings as data: bucket counts against a plain loop, bank updates against the bank."""

from __future__ import annotations

import pickle

import numpy as np

from driftline.detectors.page_hinkley_bank import PageHinkleyBank
from driftline.executor.outcome import BatchResult, Readings, bank_updates, bin_counts


def test_bin_counts_follow_the_upper_bound_convention() -> None:
    rng = np.random.default_rng(0)
    edges = np.array([-1.0, 0.0, 0.5, 2.0])
    values = np.concatenate([rng.normal(size=500), edges, [np.nan, np.inf, -np.inf]])
    counts, total = bin_counts(edges, values)
    expected = [0] * (len(edges) + 1)
    finite = [v for v in values.tolist() if np.isfinite(v)]
    for v in finite:  # the first bucket whose upper bound is >= v, else +Inf
        expected[next((i for i, e in enumerate(edges) if v <= e), len(edges))] += 1
    assert counts.tolist() == expected
    assert abs(total - sum(finite)) < 1e-9
    empty, zero = bin_counts(edges, [])
    assert empty.tolist() == [0] * 5 and zero == 0.0


def test_bank_updates_capture_the_bank_by_value() -> None:
    rng = np.random.default_rng(1)
    bank = PageHinkleyBank(["a", "b"], threshold=15.0)
    rows = rng.normal(size=(400, 2))
    rows[200:, 1] += 4.0
    hits = bank.update_many(rows)
    updates = bank_updates("page_hinkley", "inputs", bank, hits)
    pairs = np.asarray(hits).reshape(-1, 2)
    assert [u.feature for u in updates] == ["a", "b"]
    for j, update in enumerate(updates):
        assert update.detections == int(np.sum(pairs[:, 1] == j))
        assert update.drift == bool(bank.drift_detected[j])
        np.testing.assert_equal(update.statistics, bank.feature_statistics()[update.feature])
    assert updates[1].detections >= 1
    frozen = pickle.loads(pickle.dumps(updates))
    bank.update_many(rng.normal(size=(300, 2)))  # later changes do not leak into the reading
    np.testing.assert_equal([vars(u) for u in frozen], [vars(u) for u in updates])
    assert updates[1].statistics["n_seen"] == 400
    assert bank.feature_statistics()["b"]["n_seen"] == 700
    assert [u.detections for u in bank_updates("page_hinkley", "inputs", bank)] == [0, 0]


def test_results_cross_a_pipe() -> None:
    result = BatchResult(n_processed=2, event_ids=["a", "b"],
                         readings=Readings(n_processed=2, failed_by_reason={"detector": 1}))
    copy = pickle.loads(pickle.dumps(result))
    assert copy.event_ids == ["a", "b"] and copy.readings == result.readings
