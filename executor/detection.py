"""Where detection runs: one protocol (:class:`DetectionBackend`), two places.

The executor hands detection batches of raw records and gets outcomes back as data
(:mod:`executor.outcome`); it never reaches into a pipeline. The whole contract:

* ``open(partition, state)`` builds a partition's pipeline from a checkpointed ``state``
  (:class:`StateMismatchError` when it does not fit) or fresh (``state=None``);
* ``submit(batch)`` starts a batch: several partitions' records, each with the late labels to
  join before them (:class:`PartitionBatch`); ``wait()`` returns once it is done and
  ``collect()`` returns its :class:`executor.outcome.PartitionOutcome` list. One batch is in
  flight at a time; the next may be submitted once ``wait`` returned, before the previous
  one is collected;
* ``capture(checkpoints)`` freezes the states of the named partitions as of the batches
  submitted so far, encoded (:func:`executor.checkpoint.encode_state`); ``captured()`` returns
  them, oldest capture first. Where they are written -- and when the offsets they cover may be
  committed -- is the executor's business (:mod:`executor.checkpoint_commits`): a backend
  never touches the state store;
* ``state(partition)`` is a partition's current state; ``drop(partitions)`` forgets pipelines
  (and their captured states); ``close()`` ends the backend.

Requests take effect in the order they are made, in every implementation. A failure of a
request that does not wait for its answer (``open`` of a fresh pipeline, ``capture``,
``drop``) is raised by the next request that does; a failed batch by its ``collect``.

:class:`InProcessDetection` runs the pipelines in this process (the embedded replay; the Kafka
executor without ``batch.worker_process``); :class:`executor.forked_detection.ForkedDetection`
runs one in a forked child, so that detection overlaps the consumer's parsing of the next
batch. Both decode and detect a partition's records with :func:`detect_partition`, which also
counts the decoded values outside the reference range of their feature (a data-quality signal:
the events are still served).

Example
-------
>>> from driftline.executor.decode import EventDecoder, encode_event
>>> from driftline.executor.outcome import BatchResult
>>> class Counting:  # a pipeline: process, add_labels, state_dict
...     def __init__(self, state):
...         self.seen = 0 if state is None else state["seen"]
...     def process(self, events):
...         self.seen += len(events)
...         return BatchResult(n_processed=len(events), event_ids=[e.event_id for e in events])
...     def add_labels(self, labels):
...         return BatchResult()
...     def state_dict(self):
...         return {"seen": self.seen}
>>> backend = InProcessDetection(EventDecoder(["x"]), Counting)
>>> backend.open(0)
>>> records = [(encode_event("a", {"x": 1.0}), b"a", 40, None), (b"oops", None, 41, None)]
>>> backend.submit([PartitionBatch("events", 0, records)])
>>> (outcome,) = backend.collect()
>>> outcome.result.event_ids, outcome.offsets, [d.reason for d in outcome.dead_letters]
(['a'], [40], ['not_json'])
>>> backend.capture([CheckpointAt("events", 0, 42)])
>>> [(at.offset, payload) for at, payload in backend.captured()]
[(42, b'{"seen":1}')]
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

from driftline.executor.checkpoint import encode_state
from driftline.executor.decode import DeadLetter, DecodedEvent, EventDecoder, with_originals
from driftline.executor.outcome import BatchResult, PartitionOutcome

__all__ = ["CapturedState", "CheckpointAt", "DecodedRecords", "DetectionBackend",
           "InProcessDetection", "PackedRecords", "PartitionBatch", "Pipeline", "RawRecord",
           "RecordDecoder", "StateMismatchError", "decode_events", "detect_partition"]

#: one record as consumed: ``(value, key, offset, timestamp_ms)``
RawRecord = tuple[bytes | None, bytes | None, int, int | None]
#: a captured checkpoint: where it belongs and the encoded pipeline state
CapturedState = tuple["CheckpointAt", bytes]


class StateMismatchError(ValueError):
    """A checkpointed state could not be restored into a pipeline (another model or detector
    set, or a damaged state): the partition has to start fresh."""


class CheckpointAt(NamedTuple):
    """A partition and the offset of the first record its checkpoint does not cover."""

    topic: str
    partition: int
    offset: int


@dataclass
class PartitionBatch:
    """One partition's part of a batch: the late ``labels`` to join (each a mapping of event
    id to class, in order), then the ``records`` to decode and detect; ``periods`` (optional)
    name each record's reporting period for the run summary."""

    topic: str
    partition: int
    records: Iterable[RawRecord] = ()
    labels: list[dict[str, int]] = field(default_factory=list)
    periods: Sequence[str] | None = None


class Pipeline(Protocol):
    """What a backend needs of a partition's pipeline
    (:class:`executor.pipeline.DetectionPipeline`)."""

    def process(self, events: Any) -> BatchResult: ...

    def add_labels(self, labels: Mapping[str, int]) -> BatchResult: ...

    def state_dict(self) -> dict[str, Any]: ...


class DetectionBackend(Protocol):
    """Where detection runs (see the module docstring)."""

    def open(self, partition: int, state: Mapping[str, Any] | None = None) -> None:
        """Build ``partition``'s pipeline from ``state``, or fresh for None."""

    def submit(self, batch: Sequence[PartitionBatch]) -> None:
        """Start a batch (after ``wait`` of the previous one)."""

    def wait(self) -> None:
        """Return once the batch in flight is done."""

    def collect(self) -> list[PartitionOutcome]:
        """The outcomes of the oldest batch not collected yet, one per partition."""

    def capture(self, checkpoints: Sequence[CheckpointAt]) -> None:
        """Freeze these partitions' states (encoded) for ``captured``."""

    def captured(self) -> list[CapturedState]:
        """The states of the oldest ``capture`` not returned yet (waits for it)."""

    def state(self, partition: int) -> dict[str, Any]:
        """``partition``'s current pipeline state."""

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget these partitions' pipelines and captured states."""

    def close(self) -> None:
        """End the backend; the batch in flight and captures not returned are discarded."""


class PackedRecords:
    """One partition's records as :data:`RawRecord` tuples, packed for a pipe: the values and
    the keys each as one byte string with their lengths (-1 for None). Pickling 2,000
    separate ``bytes`` costs the executor several times more (each one is memoised); the
    records are sliced back out on iteration."""

    __slots__ = ("_key_lengths", "_keys", "_offsets", "_timestamps", "_value_lengths", "_values")

    def __init__(self, records: Sequence[Any]) -> None:
        values = [r.value for r in records]
        keys = [r.key for r in records]
        self._values = b"".join(v for v in values if v is not None)
        self._value_lengths = [-1 if v is None else len(v) for v in values]
        self._keys = b"".join(k for k in keys if k is not None)
        self._key_lengths = [-1 if k is None else len(k) for k in keys]
        self._offsets = [r.offset for r in records]
        self._timestamps = [r.timestamp for r in records]

    def __len__(self) -> int:
        return len(self._offsets)

    def __iter__(self) -> Iterator[RawRecord]:
        return zip(_unpack(self._values, self._value_lengths),
                   _unpack(self._keys, self._key_lengths), self._offsets, self._timestamps,
                   strict=True)


def _unpack(joined: bytes, lengths: list[int]) -> Iterator[bytes | None]:
    start = 0
    for length in lengths:
        if length < 0:
            yield None
        else:
            yield joined[start : start + length]
            start += length


class DecodedRecords(NamedTuple):
    """A partition's records after decoding: ``events`` for ``pipeline.process`` (a list of
    :class:`DecodedEvent`, or a :class:`executor.schema_decoder.DecodedBatch`), their
    ``offsets`` and ``periods`` (None when the batch gave none), the records that did not
    decode, the original ``(value, key, timestamp_ms)`` by offset, and the data-quality flags
    counted as ``{feature: {flag: count}}``."""

    events: Any
    offsets: list[int]
    periods: list[str] | None
    dead_letters: list[DeadLetter]
    originals: dict[int, tuple[bytes | None, bytes | None, int | None]]
    quality: dict[str, dict[str, int]]


@runtime_checkable
class RecordDecoder(Protocol):
    """Decodes a partition's records at once (the schema path:
    :class:`executor.schema_pipeline.SchemaRecordDecoder`)."""

    def decode_records(self, batch: PartitionBatch) -> DecodedRecords: ...


def decode_events(decoder: EventDecoder, batch: PartitionBatch) -> DecodedRecords:
    """``batch``'s records decoded one by one into :class:`DecodedEvent`; decoded values
    outside their feature's reference range are counted as ``out_of_range``."""
    events: list[DecodedEvent] = []
    dead: list[DeadLetter] = []
    originals = {}
    given = batch.periods
    periods: list[str] = []
    for i, (value, key, offset, timestamp) in enumerate(batch.records):
        decoded = decoder.decode(value, key=key, topic=batch.topic, partition=batch.partition,
                                 offset=offset, timestamp_ms=timestamp)
        if isinstance(decoded, DeadLetter):
            dead.append(decoded)
            continue
        events.append(decoded)
        originals[offset] = (value, key, timestamp)
        if given is not None:
            periods.append(given[i])
    quality = ({feature: {"out_of_range": n}
                for feature, n in decoder.out_of_range(events).items()} if events else {})
    return DecodedRecords(events, [event.offset for event in events],
                          periods if given is not None else None, dead, originals, quality)


def detect_partition(decoder: EventDecoder | RecordDecoder, pipeline: Pipeline,
                     batch: PartitionBatch) -> PartitionOutcome:
    """Join ``batch``'s labels, decode its records and run the decoded events through
    ``pipeline``; records that do not decode, or that the model fails on, come back as dead
    letters with their original bytes. Data-quality flags of the decoded events are counted
    in ``outcome.quality``."""
    outcome = PartitionOutcome(batch.topic, batch.partition)
    for labels in batch.labels:
        outcome.label_results.append(pipeline.add_labels(labels))
    records = (decoder.decode_records(batch) if isinstance(decoder, RecordDecoder)
               else decode_events(decoder, batch))
    outcome.dead_letters.extend(records.dead_letters)
    if not len(records.events):
        return outcome
    outcome.quality = records.quality
    result = pipeline.process(records.events)
    outcome.dead_letters.extend(with_originals(result.dead_letters, records.originals))
    result.dead_letters = []
    outcome.result = result
    if result.n_processed:
        outcome.offsets = records.offsets
        outcome.periods = records.periods
    return outcome


class InProcessDetection:
    """:class:`DetectionBackend` running the pipelines in this process.

    A submitted batch is processed when it is waited for (``wait``, ``collect`` or any other
    request), so requests take effect in the order they were made.

    Parameters
    ----------
    decoder : EventDecoder or RecordDecoder
        Decodes a partition's records (:func:`decode_events`, or the decoder's own
        ``decode_records``).
    make_pipeline : callable
        ``make_pipeline(state)``: a partition's pipeline restored from ``state`` (a
        ``state_dict``), or fresh for ``None``; raises when the state does not fit.

    Attributes
    ----------
    pipelines : dict of int to Pipeline
        The open partitions' pipelines.
    """

    def __init__(self, decoder: EventDecoder | RecordDecoder,
                 make_pipeline: Callable[[Mapping[str, Any] | None], Pipeline]) -> None:
        self.decoder = decoder
        self.make_pipeline = make_pipeline
        self.pipelines: dict[int, Pipeline] = {}
        self._captures: collections.deque[list[CapturedState]] = collections.deque()
        self._in_flight: list[PartitionBatch] | None = None
        self._done: collections.deque[list[PartitionOutcome] | Exception] = (
            collections.deque())
        self.closed = False

    def _pipeline(self, partition: int) -> Pipeline:
        try:
            return self.pipelines[partition]
        except KeyError:
            raise LookupError(f"no pipeline for partition {partition}") from None

    def _settle(self) -> None:
        """Process the batch in flight (its failure is kept for ``collect``)."""
        if self.closed:
            raise RuntimeError("the detection backend is closed")
        batch, self._in_flight = self._in_flight, None
        if batch is None:
            return
        try:
            self._done.append([detect_partition(self.decoder, self._pipeline(part.partition),
                                                part) for part in batch])
        except Exception as exc:
            self._done.append(exc)

    def open(self, partition: int, state: Mapping[str, Any] | None = None) -> None:
        self._settle()
        if state is None:
            self.pipelines[partition] = self.make_pipeline(None)
            return
        try:
            pipeline = self.make_pipeline(state)
        except Exception as exc:
            raise StateMismatchError(f"{type(exc).__name__}: {exc}") from exc
        self.pipelines[partition] = pipeline

    def submit(self, batch: Sequence[PartitionBatch]) -> None:
        if self.closed:
            raise RuntimeError("the detection backend is closed")
        if self._in_flight is not None:
            raise RuntimeError("a batch is already in flight; wait for it first")
        self._in_flight = list(batch)

    def wait(self) -> None:
        self._settle()

    def collect(self) -> list[PartitionOutcome]:
        self._settle()
        if not self._done:
            raise RuntimeError("no batch was submitted")
        done = self._done.popleft()
        if isinstance(done, Exception):
            raise done
        return done

    def capture(self, checkpoints: Sequence[CheckpointAt]) -> None:
        self._settle()
        # Encoded now: the next batch may change the pipeline before the state is written.
        self._captures.append([(at, encode_state(self._pipeline(at.partition).state_dict()))
                               for at in checkpoints])

    def captured(self) -> list[CapturedState]:
        self._settle()
        if not self._captures:
            raise RuntimeError("nothing was captured")
        return self._captures.popleft()

    def state(self, partition: int) -> dict[str, Any]:
        self._settle()
        return self._pipeline(partition).state_dict()

    def drop(self, partitions: Iterable[int]) -> None:
        self._settle()
        dropped = set(partitions)
        for partition in dropped:
            self.pipelines.pop(partition, None)
        self._captures = collections.deque(
            [(at, payload) for at, payload in capture if at.partition not in dropped]
            for capture in self._captures)

    def close(self) -> None:
        """Discard the batch in flight and the captures not returned."""
        if self.closed:
            return
        self.closed = True
        self._in_flight = None
        self._done.clear()
        self._captures.clear()
