"""Detection in a forked child process, so that it overlaps the Kafka consumer's record parsing.

kafka-python parses fetched records in pure Python (CRC-32C included) on the thread that calls
``poll``, and the detectors need about as much CPU again; in one process the two add up. With
``batch.worker_process: true`` the Kafka executor keeps the consumer, the producers, the
exporter, commits, rebalances and checkpoint writes in its process and runs decoding, the
model and every detector in a child (:class:`ForkedDetection`); captured states come back
encoded, for the executor to write. The executor submits batch *k* and polls batch *k+1*
while the child processes *k* (``executor/kafka_runner.py``), so on two cores it runs at the
speed of the slower half instead of their sum.

:class:`ForkedDetection` is a :class:`executor.detection.DetectionBackend`: it forks, calls
``make_backend()`` in the child (which inherits the loaded model and the calibrated fresh
state: nothing is re-read) and forwards each request over a pipe to that backend (an
:class:`executor.detection.InProcessDetection`), whose answers -- outcomes, states -- come back
pickled, in order. The executor writes the requests on a sender thread, so it never waits for
the child to read. If the child dies -- or does not answer within ``answer_timeout_s`` (it
is stuck) -- the next request that waits raises :class:`WorkerError` and the consumer session
is rebuilt with a new child, each partition restored from its checkpoint: the same path as
any other session failure.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import pickle
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from driftline.executor.detection import (
    CapturedState,
    CheckpointAt,
    DetectionBackend,
    PartitionBatch,
    StateMismatchError,
)
from driftline.executor.outcome import PartitionOutcome

__all__ = ["ForkedDetection", "WorkerError", "serve"]

log = logging.getLogger("driftline.worker")

_STOP_TIMEOUT_S = 10.0
_BATCH = "batch"
_CAPTURE = "capture"


class WorkerError(RuntimeError):
    """The detection worker failed a request or is gone."""


class _Sender:
    """Writes the requests to the child, in order, on a thread of its own: the executor does
    not wait while the child finishes an earlier request (a checkpoint capture) before it
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
            except (OSError, ValueError) as exc:  # the child is gone: its answers say so
                self.error = exc
                return

    def close(self, timeout: float) -> None:
        """Stop after the messages queued so far are written."""
        self._queue.put(None)
        self._thread.join(timeout)


class ForkedDetection:
    """A :class:`executor.detection.DetectionBackend` in a forked child process (see the
    module docstring). Thread-safe: rebalance callbacks may call it from kafka-python's
    thread.

    Parameters
    ----------
    make_backend : callable
        Called once in the child: the backend that serves the requests there.
    answer_timeout_s : float, optional
        The longest wait for one answer (a batch's included); longer means the child is stuck
        and is a :class:`WorkerError`. None waits forever.
    """

    def __init__(self, make_backend: Callable[[], DetectionBackend],
                 answer_timeout_s: float | None = None) -> None:
        if answer_timeout_s is not None and not answer_timeout_s > 0:
            raise ValueError(f"answer_timeout_s must be > 0, got {answer_timeout_s}")
        self.answer_timeout_s = answer_timeout_s
        context = multiprocessing.get_context("fork")
        self._conn, child_conn = context.Pipe()
        self.process = context.Process(target=serve, args=(child_conn, self._conn, make_backend),
                                       name="driftline-detect", daemon=True)
        self.process.start()
        child_conn.close()
        self._sender = _Sender(self._conn)
        self._lock = threading.RLock()
        # answers not read yet, in order: a batch's, or a posted request's (None)
        self._expected: collections.deque[str | None] = collections.deque()
        # batch answers read off the pipe (still pickled) and not collected yet
        self._answered: collections.deque[bytes] = collections.deque()
        # capture answers (encoded states) not taken yet
        self._captures: collections.deque[list[CapturedState]] = collections.deque()
        self._stuck = False
        self.closed = False

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    # -- the pipe ---------------------------------------------------------------------------

    def _check_stuck(self) -> None:
        if self._stuck:
            raise WorkerError("detection worker is stuck (an answer timed out)")

    def _receive_bytes(self) -> bytes:
        self._check_stuck()
        try:
            if self.answer_timeout_s is not None and not self._conn.poll(self.answer_timeout_s):
                self._stuck = True
                raise WorkerError(f"detection worker did not answer within "
                                  f"{self.answer_timeout_s:g} s (stuck)")
            return self._conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise WorkerError(f"detection worker is gone (exit code "
                              f"{self.process.exitcode}): {exc!r}") from None

    def _receive(self, raw: bytes | None = None) -> Any:
        status, value = pickle.loads(self._receive_bytes() if raw is None else raw)
        if status == "mismatch":
            raise StateMismatchError(value)
        if status == "error":
            raise WorkerError(value)
        return value

    def _settle(self, *, until_capture: bool = False) -> None:
        """Read every outstanding answer (``until_capture``: up to the first capture's), in
        order; a batch's answer is kept (unpickled only by :meth:`collect`, so that the next
        batch can be sent first), a capture's for :meth:`captured`. Raises the first failure
        after reading the rest."""
        self._check_stuck()
        failure: Exception | None = None
        while self._expected:
            kind = self._expected.popleft()
            try:
                if kind == _BATCH:
                    self._answered.append(self._receive_bytes())
                elif kind == _CAPTURE:
                    self._captures.append(self._receive())
                    if until_capture:
                        break
                else:
                    self._receive()
            except (WorkerError, StateMismatchError) as exc:
                if self._stuck or not self.alive:
                    self._expected.clear()
                    raise
                failure = failure or exc
        if failure is not None:
            raise failure

    def _call(self, kind: str, *args: Any) -> Any:
        """Send a request and wait for its answer (after all earlier ones)."""
        with self._lock:
            self._settle()
            self._sender.send((kind, args))
            return self._receive()

    def _post(self, kind: str, *args: Any, answer: str | None = None) -> None:
        """Send a request without waiting for its answer (kept when ``answer`` names its
        kind)."""
        with self._lock:
            self._sender.send((kind, args))
            self._expected.append(answer)

    # -- DetectionBackend -------------------------------------------------------------------

    def open(self, partition: int, state: Mapping[str, Any] | None = None) -> None:
        if state is None:
            # A fresh pipeline is built from the template, which fits by construction: no
            # need to wait here (for the batch in flight, then the construction).
            self._post("open", partition, None)
        else:
            self._call("open", partition, dict(state))

    def submit(self, batch: Sequence[PartitionBatch]) -> None:
        with self._lock:
            if _BATCH in self._expected:
                raise RuntimeError("a batch is already in flight; wait for it first")
            self._sender.send((_BATCH, (list(batch),)))
            self._expected.append(_BATCH)

    def wait(self) -> None:
        with self._lock:
            self._settle()

    def collect(self) -> list[PartitionOutcome]:
        with self._lock:
            self._check_stuck()
            if not self._answered:
                self._settle()
            if not self._answered:
                raise RuntimeError("no batch was submitted")
            return self._receive(self._answered.popleft())

    def capture(self, checkpoints: Sequence[CheckpointAt]) -> None:
        self._post(_CAPTURE, list(checkpoints), answer=_CAPTURE)

    def captured(self) -> list[CapturedState]:
        with self._lock:
            if not self._captures:
                self._settle(until_capture=True)
            if not self._captures:
                raise RuntimeError("nothing was captured")
            return self._captures.popleft()

    def state(self, partition: int) -> dict[str, Any]:
        return self._call("state", partition)

    def drop(self, partitions: Iterable[int]) -> None:
        self._post("drop", list(partitions))

    def close(self) -> None:
        """Stop the child (after the requests sent so far); kill it if it does not stop."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(WorkerError, OSError, ValueError):
                self._sender.send(("stop", ()))
            self._sender.close(_STOP_TIMEOUT_S)
            self.process.join(_STOP_TIMEOUT_S)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(_STOP_TIMEOUT_S)
            self._conn.close()


def _handlers(backend: DetectionBackend) -> dict[str, Callable[..., Any]]:
    def batch(parts: list[PartitionBatch]) -> list[PartitionOutcome]:
        backend.submit(parts)
        return backend.collect()

    def capture(checkpoints: list[CheckpointAt]) -> list[CapturedState]:
        backend.capture(checkpoints)
        return backend.captured()

    return {"open": backend.open, _BATCH: batch, _CAPTURE: capture, "state": backend.state,
            "drop": backend.drop, "stop": lambda: None}


def serve(conn: Any, executor_end: Any, make_backend: Callable[[], DetectionBackend]) -> None:
    """The child process's loop: answer requests in order until ``stop`` or EOF."""
    # The forked child inherited the executor's end of the pipe too: closed here, the pipe
    # reports EOF as soon as the executor is gone (even after kill -9) and the child exits.
    executor_end.close()
    # The executor owns shutdown: a Ctrl-C or SIGTERM sent to the whole process group must not
    # kill the child before the executor has captured its last states through it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    backend = make_backend()
    handlers = _handlers(backend)
    try:
        while True:
            try:
                kind, args = conn.recv()
            except (EOFError, OSError):
                return  # the executor is gone
            try:
                answer = ("ok", handlers[kind](*args))
            except StateMismatchError as exc:
                answer = ("mismatch", str(exc))
            except Exception as exc:
                log.debug("worker request %s failed", kind, exc_info=True)
                answer = ("error", f"{type(exc).__name__}: {exc}")
            conn.send(answer)
            if kind == "stop":
                return
    finally:
        backend.close()
