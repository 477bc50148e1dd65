"""FailureTracker: backoff per kind of failure (not reset by other partitions' successes),
suspects detected one record at a time, the record that fails alone is poison."""

from __future__ import annotations

import pytest
from kafka import TopicPartition

from driftline.executor.failures import FailureTracker
from driftline.executor.kafka_batch import BatchError

P0, P1 = TopicPartition("events", 0), TopicPartition("events", 1)


def batch_error(stage: str = "detect", **positions: tuple[int, int]) -> BatchError:
    where = {TopicPartition("events", int(name[1:])): span for name, span in positions.items()}
    return BatchError(stage, where, RuntimeError("detector exploded"))


def test_backoff_doubles_while_one_partition_fails_and_the_others_succeed() -> None:
    tracker = FailureTracker(max_retries=5, backoff_initial_s=0.5, backoff_max_s=4.0)
    waits = []
    for other in range(100, 700, 100):
        waits.append(tracker.failed("detect", batch_error(p0=(40, 90))))
        tracker.succeeded({P0: 40, P1: other})  # partition 1 goes on; partition 0 is stuck
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    tracker.succeeded({P0: 90, P1: 700})  # partition 0 got past: that kind is over
    assert tracker.failed("detect", batch_error(p0=(90, 120))) == 0.5


def test_other_kinds_have_their_own_backoff_reset_by_any_success() -> None:
    tracker = FailureTracker(max_retries=3, backoff_initial_s=0.5, backoff_max_s=30.0)
    assert [tracker.failed("connect", ConnectionError("no broker")) for _ in range(3)] == [
        0.5, 1.0, 2.0]
    assert tracker.failed("outputs", TimeoutError("flush")) == 0.5  # another kind
    assert tracker.failed("connect", ConnectionError("no broker")) == 4.0
    tracker.succeeded({P1: 5})
    assert tracker.failed("connect", ConnectionError("no broker")) == 0.5


def test_a_batch_failing_max_retries_times_is_isolated_and_its_poison_found() -> None:
    tracker = FailureTracker(max_retries=3, backoff_initial_s=0.5, backoff_max_s=30.0)
    # the batches differ from one session to the next, but keep failing before offset 90
    tracker.failed("detect", batch_error(p0=(40, 90), p1=(7, 20)))
    tracker.failed("detect", batch_error(p0=(40, 75)))
    assert not tracker.isolating()
    tracker.succeeded({P0: 40, P1: 20})  # partition 1 is innocent: it got past
    tracker.failed("apply", batch_error("apply", p0=(40, 80)))
    assert tracker.isolating()
    assert tracker.poisoned(P0, 55) is None
    tracker.succeeded({P0: 55})  # one record at a time: 40 .. 54 went through
    assert tracker.isolating()
    tracker.failed("detect", batch_error(p0=(55, 56)))  # one record, failing alone
    assert tracker.poisoned(P0, 55) == ("failed detect 4 times: RuntimeError: detector "
                                        "exploded")
    assert tracker.poisoned(P0, 56) is None and tracker.poisoned(P1, 55) is None
    tracker.succeeded({P0: 90})  # dead-lettered, and past the range: all over
    assert not tracker.isolating() and tracker.poisoned(P0, 55) is None


def test_a_failure_that_passes_in_isolation_dead_letters_nothing() -> None:
    tracker = FailureTracker(max_retries=1, backoff_initial_s=0.5, backoff_max_s=30.0)
    tracker.failed("detect", batch_error(p0=(0, 50)))  # e.g. the worker killed from outside
    assert tracker.isolating()
    for offset in range(1, 51):
        tracker.succeeded({P0: offset})
    assert not tracker.isolating()
    assert all(tracker.poisoned(P0, o) is None for o in range(50))


def test_a_single_record_batch_outside_isolation_is_not_poison_yet() -> None:
    tracker = FailureTracker(max_retries=2, backoff_initial_s=0.5, backoff_max_s=30.0)
    tracker.failed("detect", batch_error(p0=(9, 10)))
    assert tracker.poisoned(P0, 9) is None  # once is not a pattern


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        FailureTracker(max_retries=0, backoff_initial_s=0.5, backoff_max_s=1.0)
    with pytest.raises(ValueError, match="backoff"):
        FailureTracker(max_retries=1, backoff_initial_s=2.0, backoff_max_s=1.0)
