"""The detection worker's side: partition pipelines and the request handlers.

:func:`serve` runs in the child process forked by :class:`executor.worker.DetectionWorker` and
answers its requests in order with :class:`WorkerChild`'s methods. The pipelines here report to
an :class:`ExporterRecorder`; the executor replays the recorded calls on the real exporter.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import signal
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from driftline.executor.checkpoint import CheckpointStore

__all__ = ["BankReading", "ExporterRecorder", "WorkerChild", "WorkerError", "serve"]

log = logging.getLogger("driftline.worker")


class WorkerError(RuntimeError):
    """The detection worker failed a request or is gone."""


@dataclasses.dataclass
class BankReading:
    """What :meth:`executor.exporter.DriftExporter.observe_bank` reads from a feature bank,
    captured in the worker so it can cross the process boundary."""

    n_features: int
    drift_detected: np.ndarray
    warning_detected: np.ndarray
    statistics: dict[str, dict[str, float]]

    @classmethod
    def of(cls, bank: Any) -> BankReading:
        return cls(int(bank.n_features), np.array(bank.drift_detected, dtype=bool),
                   np.array(bank.warning_detected, dtype=bool), bank.feature_statistics())

    def feature_statistics(self) -> dict[str, dict[str, float]]:
        return self.statistics


class ExporterRecorder:
    """Stands in for the exporter inside the worker: records each call for replay."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def observe_bank(self, detector: str, stream: str, bank: Any,
                     detections: Any | None = None) -> None:
        self.calls.append(("observe_bank", (detector, stream, BankReading.of(bank), detections),
                           {}))

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))
        return record

    def take(self) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        calls, self.calls = self.calls, []
        return calls


class WorkerChild:
    """The worker's side: partition pipelines and the request handlers."""

    def __init__(self, model: Any, config: Any, decoder: Any,
                 template_state: Mapping[str, Any] | None) -> None:
        self.model = model
        self.config = config
        self.decoder = decoder
        self.template_state = template_state
        self.store = CheckpointStore(config.checkpoint.dir)
        self.pipelines: dict[int, tuple[Any, ExporterRecorder]] = {}
        self.snapshots: dict[tuple[str, int], tuple[int, bytes]] = {}
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None
        self._writes: list[concurrent.futures.Future[None]] = []

    def _check_writes(self, *, wait: bool) -> None:
        """Raise the first failed background checkpoint write (all of them with ``wait``)."""
        pending = []
        for future in self._writes:
            if wait or future.done():
                future.result()
            else:
                pending.append(future)
        self._writes = pending

    def flush_writes(self) -> None:
        self._check_writes(wait=True)

    def _get(self, partition: int) -> tuple[Any, ExporterRecorder]:
        try:
            return self.pipelines[partition]
        except KeyError:
            raise WorkerError(f"no pipeline for partition {partition} in the worker") from None

    def create(self, partition: int, state: Mapping[str, Any] | None) -> list[Any]:
        from driftline.executor.pipeline import DetectionPipeline

        recorder = ExporterRecorder()
        pipeline = DetectionPipeline(self.model, self.config, exporter=recorder,
                                     state=state if state is not None else self.template_state)
        self.pipelines[partition] = (pipeline, recorder)
        return recorder.take()

    def batch(self, items: list[tuple[str, int, Iterable[Any]]]) -> list[Any]:
        from driftline.executor.kafka_batch import detect_records

        self._check_writes(wait=False)
        outcomes = []
        for topic, partition, records in items:
            pipeline, recorder = self._get(partition)
            outcome = detect_records(self.decoder, pipeline, topic, partition, records)
            outcome.exporter_calls = recorder.take()
            outcomes.append(outcome)
        return outcomes

    def labels(self, partition: int, labels: dict[str, int]) -> tuple[list[Any], list[Any]]:
        pipeline, recorder = self._get(partition)
        return pipeline.add_labels(labels), recorder.take()

    def checkpoint(self, topic: str, partition: int, offset: int) -> None:
        self.flush_writes()
        self.snapshots.pop((topic, partition), None)  # superseded
        self.store.save(topic, partition, offset, self._get(partition)[0].state_dict())

    def snapshot(self, topic: str, partition: int, offset: int) -> None:
        # Encoded now, written by ``write`` once the executor knows the batch's outputs are
        # acknowledged; meanwhile the next batch may already change the pipeline.
        self.snapshots[(topic, partition)] = (
            offset, self.store.encode(self._get(partition)[0].state_dict()))

    def write(self, stateless: list[tuple[str, int, int]]) -> None:
        # On a thread of the worker, in order: the file writes and fsyncs wait on the disk
        # (without the GIL) while the next batch is processed. A failure is raised by the next
        # request, before anything else is written or processed.
        self._check_writes(wait=False)
        snapshots, self.snapshots = self.snapshots, {}

        def save() -> None:
            for (topic, partition), (offset, payload) in snapshots.items():
                self.store.save_payload(topic, partition, offset, payload)
            # Labels-topic offsets last: never ahead of the events state holding those labels.
            for topic, partition, offset in stateless:
                self.store.save(topic, partition, offset, {})
        if self._writer is None:
            self._writer = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="driftline-checkpoint")
        self._writes.append(self._writer.submit(save))

    def state(self, partition: int) -> dict[str, Any]:
        return self._get(partition)[0].state_dict()

    def forget(self, partition: int) -> None:
        self.flush_writes()
        self.pipelines.pop(partition, None)
        self.snapshots = {k: v for k, v in self.snapshots.items() if k[1] != partition}

    def clear(self) -> None:
        self.flush_writes()
        self.pipelines.clear()
        self.snapshots.clear()


def serve(conn: Any, executor_end: Any, child: WorkerChild) -> None:
    """The worker process's loop: answer requests in order until ``stop`` or EOF."""
    # The forked child inherited the executor's end of the pipe too: closed here, the pipe
    # reports EOF as soon as the executor is gone (even after kill -9) and the child exits.
    executor_end.close()
    # The executor owns shutdown: a Ctrl-C or SIGTERM sent to the whole process group must not
    # kill the worker before the executor has written its last checkpoints through it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        try:
            kind, args = conn.recv()
        except (EOFError, OSError):
            return  # the executor is gone
        if kind == "stop":
            try:
                child.flush_writes()
                conn.send(("ok", None))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
            return
        try:
            conn.send(("ok", getattr(child, kind)(*args)))
        except Exception as exc:
            log.debug("worker request %s failed", kind, exc_info=True)
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
