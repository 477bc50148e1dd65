"""BatchProcessor: poisoned and unreadable records are set aside (dead-lettered, skipped) while
their partition's offsets move past them; a batch the backend fails on says where it lay."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from kafka import TopicPartition

from driftline.executor.decoded import SkippedRecord
from driftline.executor.detection import InProcessDetection
from driftline.executor.kafka_batch import BatchError, BatchProcessor
from driftline.executor.sinks import OutcomeSinks
from driftline.executor.summary import RunSummary
from tests.executor.test_detection import DECODER, Recording, record
from tests.executor.test_rebalance import EVENTS, LABELS, RecordingConsumer, states_with
from tests.executor.test_sinks import Letters

TP = TopicPartition(EVENTS, 0)


def consumed(event_id: str, offset: int) -> Any:
    value, key, _, timestamp = record(event_id, offset)
    return SimpleNamespace(topic=EVENTS, partition=0, offset=offset, value=value, key=key,
                           timestamp=timestamp)


class Scoring(Recording):
    """A Recording pipeline that also serves class 0 to every event (as the summary needs)."""

    def process(self, events: Any) -> Any:
        result = super().process(events)
        n = result.n_processed
        result.predicted, result.labels = np.zeros(n, dtype=int), np.full(n, -1)
        result.used_fallback = np.zeros(n, dtype=bool)
        return result


def processor_with(tmp_path: Path, pipeline: Any = Scoring,
                   poisoned: Any = None) -> tuple[BatchProcessor, Any, Letters, RunSummary]:
    states = states_with(tmp_path, RecordingConsumer())
    states.backend = InProcessDetection(DECODER, pipeline)
    letters, summary = Letters(), RunSummary()
    processor = BatchProcessor(states.backend, states, OutcomeSinks(summary, dead_letters=letters),
                               events_topic=EVENTS, labels_topic=LABELS, n_classes=3,
                               poisoned=poisoned)
    return processor, states, letters, summary


def test_poisoned_and_unreadable_records_are_set_aside_in_order(tmp_path: Path) -> None:
    processor, states, letters, summary = processor_with(
        tmp_path, poisoned=lambda tp, offset: "failed detect 3 times" if offset == 2 else None)
    records = [consumed("a", 0), consumed("b", 1), consumed("c", 2),
               SkippedRecord(EVENTS, 0, 3, "corrupt_record", "header key is not UTF-8"),
               consumed("e", 4)]
    processor.submit({TP: records})
    assert processor.receive()
    counts = processor.complete()
    processor.flush_outputs()
    assert states.next_offsets == {TP: 5}
    assert states.backend.pipelines[0].log == [["a", "b", "e"]]
    assert counts.n_processed == 3 and counts.dead_letters == {"processing_failed": 1}
    assert counts.skipped == {"corrupt_record": 1}
    poison, marker = letters.sent[1], letters.sent[0]
    assert (poison.reason, poison.offset, poison.value, poison.detail) == (
        "processing_failed", 2, records[2].value, "failed detect 3 times")
    assert (marker.reason, marker.offset, marker.value) == ("corrupt_record", 3, None)
    assert summary.skipped_at == ["events/0@3"]


def test_a_partition_whose_records_are_all_set_aside_still_moves_on(tmp_path: Path) -> None:
    processor, states, _, _ = processor_with(tmp_path)
    processor.submit({TP: [SkippedRecord(EVENTS, 0, 7, "corrupt_record", "crc")]})
    processor.receive()
    processor.complete()
    assert states.next_offsets == {TP: 8} and states.open_partitions == {0}


class Exploding(Scoring):
    def process(self, events: Any) -> Any:
        raise ZeroDivisionError("detector exploded")


def test_a_failed_batch_says_where_it_lay(tmp_path: Path) -> None:
    processor, _, _, _ = processor_with(tmp_path, pipeline=Exploding)
    processor.submit({TP: [consumed("a", 10), consumed("b", 11)]})
    processor.receive()
    with pytest.raises(BatchError) as failure:
        processor.complete()
    assert failure.value.stage == "detect" and failure.value.positions == {TP: (10, 12)}
    assert "ZeroDivisionError: detector exploded" in failure.value.cause
    assert "events/0@10-11" in str(failure.value)


def test_labels_records_are_read_with_the_schemas_label_decoder(tmp_path: Path) -> None:
    """On the schema path the labels topic carries the schema's own label records (here
    ``{"id": ..., "outcome": {"flare": "yes"}}``): valid ones reach the pipeline as classes,
    the others are dead-lettered with the decoder's reason."""
    from driftline.configs import build_config
    from driftline.dataloader.schema import EventSchema
    from driftline.executor.schema_decoder import SchemaDecoder

    schema = build_config({"fields": [{"name": "x", "type": "numeric"}], "outputs": {
        "classes": ["no", "yes"], "label": {"path": "outcome.flare", "topic": LABELS,
                                            "key_path": "id"}}}, EventSchema)
    processor, states, letters, _ = processor_with(tmp_path)
    processor.label_decoder = SchemaDecoder(schema).decode_label
    values = [b'{"id": "a", "outcome": {"flare": "yes"}}', b'{"id": "b", "outcome": {}}',
              b'{"id": "c", "outcome": {"flare": "perhaps"}}',
              b'{"id": "d", "outcome": {"flare": "no"}}']
    records = [SimpleNamespace(topic=LABELS, partition=0, offset=i, value=v, key=None,
                               timestamp=None) for i, v in enumerate(values)]
    for poll in ({TP: [consumed("e", 0)]}, {TopicPartition(LABELS, 0): records}):
        processor.submit(poll)
        assert processor.receive()
        processor.complete()
        processor.flush_outputs()
    assert states.backend.pipelines[0].log == [["e"], {"a": 1, "d": 0}]
    assert [(d.reason, d.offset) for d in letters.sent] == [("missing_field", 1), ("bad_label", 2)]
    assert letters.sent[0].detail == "labels record does not match the schema's outputs.label"
