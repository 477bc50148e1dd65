"""Detection in a worker process, so that it overlaps the Kafka consumer's record parsing.

kafka-python parses fetched records in pure Python (CRC-32C included) on the thread that calls
``poll``, and the detectors need about as much CPU again; in one process the two add up. With
``batch.worker_process: true`` the Kafka executor keeps the consumer, the producers, the
exporter, commits and rebalances in the main process and runs decoding, the model, every
detector and the checkpoint writes in one child process (:class:`DetectionWorker`). The main
loop submits batch *k* and polls batch *k+1* while the worker processes *k*
(``executor/kafka_runner.py``), so on two cores the executor runs at the speed of the slower of
the two halves instead of their sum.

The child is forked from the executor (it inherits the loaded model and the calibrated fresh
state, nothing is re-read) and answers requests over a pipe in the order they were sent
(:mod:`executor.worker_child`); the executor writes them on a sender thread, so it never waits
for the child to read:

* ``create`` builds a partition's :class:`executor.pipeline.DetectionPipeline` from a checkpoint
  state (or the fresh template);
* ``batch`` decodes and processes the records of several partitions
  (:func:`executor.kafka_batch.detect_records`) and returns the outcomes;
* ``labels`` joins late labels; ``checkpoint`` writes a partition's state with the offset it
  corresponds to; ``snapshot`` captures it and ``write`` writes the captured states later;
  ``state`` returns it; ``forget`` and ``clear`` drop pipelines.

The pipelines in the child report to an :class:`ExporterRecorder`; the main process replays
the recorded calls on the real exporter (:class:`RemotePipeline`). If the child dies, the next
request raises and the consumer session is rebuilt with a new child, restoring each partition
from its checkpoint -- the same path as any other session failure.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import pickle
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from driftline.executor.worker_child import (
    BankReading,
    ExporterRecorder,
    WorkerChild,
    WorkerError,
    serve,
)

__all__ = ["BankReading", "DetectionWorker", "ExporterRecorder", "PackedRecords", "RemotePipeline",
           "WorkerError", "replay"]

log = logging.getLogger("driftline.worker")

_STOP_TIMEOUT_S = 10.0


def replay(exporter: Any | None, calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
    """Apply recorded exporter calls to ``exporter`` (a per-partition view), in order."""
    if exporter is None:
        return
    for name, args, kwargs in calls:
        getattr(exporter, name)(*args, **kwargs)


class PackedRecords:
    """One partition's records as ``(value, key, offset, timestamp_ms)`` tuples, packed for the
    pipe to the worker: the values and the keys each as one byte string with their lengths (-1
    for None). Pickling 2,000 separate ``bytes`` costs the executor several times more (each
    one is memoised); the worker slices them back out as it iterates."""

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

    def __iter__(self) -> Iterator[tuple[bytes | None, bytes | None, int, int | None]]:
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


class _Sender:
    """Writes the requests to the worker, in order, on a thread of its own: the executor does
    not wait while the worker finishes an earlier request (a checkpoint capture) before it
    reads a batch. A blocking write releases the GIL."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="driftline-worker-send",
                                        daemon=True)
        self._thread.start()

    def send(self, message: Any) -> None:
        """Queue ``message`` (pickled here, so that an unpicklable one fails its caller)."""
        if self.error is not None:
            raise WorkerError(f"detection worker is gone: {self.error!r}")
        self._queue.put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            try:
                self._conn.send_bytes(data)
            except (OSError, ValueError) as exc:  # the worker is gone: its answers say so
                self.error = exc
                return

    def close(self, timeout: float) -> None:
        """Stop after the messages queued so far are written."""
        self._queue.put(None)
        self._thread.join(timeout)


class DetectionWorker:
    """The executor's handle on the detection child process (see the module docstring).

    Requests are answered in order. :meth:`call` waits for its answer; :meth:`post` (checkpoint
    writes) and :meth:`submit_batch` do not -- their answers are read by the next
    :meth:`collect_batch`, :meth:`call` or :meth:`drain`, which raise :class:`WorkerError` if
    any of them failed (a failed batch at :meth:`collect_batch`). At most one batch is in the
    worker at a time; once :meth:`drain` has its answer the next one may be submitted before
    the answer is collected. Thread-safe (rebalance callbacks run on kafka-python's network
    thread).

    Parameters
    ----------
    model, config, decoder
        What the child's pipelines use (inherited through ``fork``).
    template_state : dict, optional
        The calibrated state of a fresh pipeline.
    """

    def __init__(self, model: Any, config: Any, decoder: Any,
                 template_state: Mapping[str, Any] | None) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child_conn = context.Pipe()
        self.process = context.Process(
            target=serve,
            args=(child_conn, self._conn, WorkerChild(model, config, decoder, template_state)),
            name="driftline-detect", daemon=True)
        self.process.start()
        child_conn.close()
        self._sender = _Sender(self._conn)
        self._lock = threading.RLock()
        # answers not read yet: "batch", or what to do with a posted request's answer
        self._expected: collections.deque[str | Callable[[Any], None] | None] = (
            collections.deque())
        # batch answers read off the pipe (still pickled) and not collected yet
        self._collected: collections.deque[bytes] = collections.deque()
        self.closed = False

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def _receive_bytes(self) -> bytes:
        try:
            return self._conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise WorkerError(f"detection worker is gone (exit code "
                              f"{self.process.exitcode}): {exc!r}") from None

    def _receive(self, raw: bytes | None = None) -> Any:
        status, value = pickle.loads(self._receive_bytes() if raw is None else raw)
        if status == "error":
            raise WorkerError(value)
        return value

    def _send(self, kind: str, *args: Any) -> None:
        self._sender.send((kind, args))

    def _settle(self) -> None:
        """Read every outstanding answer, in order; a batch's answer is kept (unpickled only
        by :meth:`collect_batch`, so that the next batch can be sent first). Raises the first
        failure after reading the rest."""
        failure: WorkerError | None = None
        while self._expected:
            kind = self._expected.popleft()
            try:
                if kind == "batch":
                    self._collected.append(self._receive_bytes())
                elif kind is None:
                    self._receive()
                else:
                    kind(self._receive())
            except WorkerError as exc:
                if not self.alive:
                    self._expected.clear()
                    raise
                failure = failure or exc
        if failure is not None:
            raise failure

    def call(self, kind: str, *args: Any) -> Any:
        """Send a request and wait for its answer (after all earlier ones)."""
        with self._lock:
            self._settle()
            self._send(kind, *args)
            return self._receive()

    def post(self, kind: str, *args: Any,
             on_answer: Callable[[Any], None] | None = None) -> None:
        """Send a request without waiting for its answer (given to ``on_answer`` when read)."""
        with self._lock:
            self._send(kind, *args)
            self._expected.append(on_answer)

    def submit_batch(self, items: list[tuple[str, int, Iterable[Any]]]) -> None:
        """Start processing ``[(topic, partition, records), ...]`` in the worker."""
        with self._lock:
            if "batch" in self._expected:
                raise RuntimeError("a batch is already in flight; drain it first")
            self._send("batch", items)
            self._expected.append("batch")

    def collect_batch(self) -> list[Any]:
        """The outcomes of the oldest batch not collected yet (waits for them)."""
        with self._lock:
            if not self._collected:
                self._settle()
            if not self._collected:
                raise RuntimeError("no batch was submitted")
            return self._receive(self._collected.popleft())

    def drain(self) -> None:
        """Wait until every request sent so far is done (raises if one failed)."""
        with self._lock:
            self._settle()

    def close(self) -> None:
        """Stop the worker (after the requests sent so far); kill it if it does not stop."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(WorkerError, OSError, ValueError):
                self._send("stop")
            self._sender.close(_STOP_TIMEOUT_S)
            self.process.join(_STOP_TIMEOUT_S)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(_STOP_TIMEOUT_S)
            self._conn.close()


class RemotePipeline:
    """A partition's pipeline living in the :class:`DetectionWorker` (main-process side).

    Offers what the Kafka executor uses of a :class:`executor.pipeline.DetectionPipeline`:
    :meth:`add_labels`, :meth:`state_dict`, plus :meth:`save_checkpoint` (the worker writes the
    checkpoint itself) and :meth:`close`. Raises :class:`WorkerError` when the state does not fit
    (the caller then starts the partition fresh).
    """

    def __init__(self, worker: DetectionWorker, partition: int,
                 state: Mapping[str, Any] | None, exporter: Any | None) -> None:
        self.worker = worker
        self.partition = int(partition)
        self.exporter = exporter
        if state is None:
            # A fresh pipeline is built from the template, which fits by construction: no
            # need to wait here (for the batch in flight, then the construction).
            worker.post("create", self.partition, None, on_answer=self.replay)
        else:
            self.replay(worker.call("create", self.partition, state))

    def replay(self, calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
        """Apply exporter calls recorded by this partition's pipeline in the worker."""
        replay(self.exporter, calls)

    def add_labels(self, labels: Mapping[str, int]) -> list[Any]:
        detections, calls = self.worker.call("labels", self.partition, dict(labels))
        self.replay(calls)
        return detections

    def state_dict(self) -> dict[str, Any]:
        return self.worker.call("state", self.partition)

    def save_checkpoint(self, topic: str, partition: int, offset: int) -> None:
        """Have the worker write this pipeline's checkpoint (in order after the batches sent
        so far; errors surface at the next answer read)."""
        self.worker.post("checkpoint", topic, partition, offset)

    def snapshot_checkpoint(self, topic: str, partition: int, offset: int) -> None:
        """Have the worker capture this pipeline's state now (after the batches sent so far);
        :meth:`DetectionWorker.post` ``("write", ...)`` writes the captured states."""
        self.worker.post("snapshot", topic, partition, offset)

    def close(self) -> None:
        """Drop the pipeline in the worker, once every earlier request is done."""
        if self.worker.closed:
            return
        try:
            self.worker.call("forget", self.partition)
        except WorkerError as exc:
            log.warning("worker could not drop partition %d: %s", self.partition, exc)
