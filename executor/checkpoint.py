"""Per-partition checkpoints of detector state together with the offset they correspond to.

A checkpoint says: "the pipeline state ``state`` is what you get after processing every record
of ``topic``/``partition`` before offset ``offset``". The Kafka executor writes one after a batch
(before committing the offsets) and reads it back when the partition is assigned, so detection
continues warm after a restart or when the partition moves to another replica sharing the
directory.

:class:`StateStore` is what the executor needs of a store (save / load / delete one partition's
state with its offset); :class:`CheckpointStore` keeps them in a directory, one file per
partition, ``<topic>.<partition>.ckpt``, in the record format of :mod:`executor.state_record` (a
JSON header line -- format version, topic, partition, offset, wall time, length and SHA-256 of
the payload -- followed by the JSON payload); :class:`executor.changelog.ChangelogStore` keeps
them in a compacted Kafka topic instead. :meth:`CheckpointStore.save` writes a temporary file in
the same directory, fsyncs it and renames it over the old one (then fsyncs the directory), so a
reader sees either the old or the new checkpoint, never a mix. A file that cannot be read,
parsed or verified is logged, reported to ``on_restore_failure`` with its reason and ignored:
the partition starts cold instead of crashing the executor. :class:`CheckpointWriter` writes
encoded states on a thread of its own, in order, so that the disk is waited for while the next
batch is processed; its futures tell when a checkpoint is durable.

Example
-------
>>> import tempfile
>>> store = CheckpointStore(tempfile.mkdtemp())
>>> store.save("events", 0, 1200, {"n_seen": 1200})
>>> store.load("events", 0)
Checkpoint(offset=1200, state={'n_seen': 1200})
>>> store.load("events", 1) is None
True
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from driftline.executor.state_record import (
    CHECKPOINT_FORMAT,
    Checkpoint,
    RestoreFailure,
    decode_checkpoint,
    dump_state,
    encode_record,
    encode_state,
    load_state,
    read_record,
)

__all__ = ["CHECKPOINT_FORMAT", "NO_STATE", "Checkpoint", "CheckpointStore", "CheckpointWriter",
           "StateStore", "dump_state", "encode_state", "load_state"]

_SUFFIX = ".ckpt"
# Kafka's legal topic characters; anything else could escape the checkpoint directory.
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")

log = logging.getLogger("driftline.checkpoint")


#: the payload of an offsets-only checkpoint (a labels topic: its state lives with the events)
NO_STATE = b"{}"


class StateStore(Protocol):
    """Where the executor keeps each partition's state and the offset it belongs to
    (:class:`CheckpointStore`: a directory; any store with these methods will do)."""

    def save(self, topic: str, partition: int, offset_next: int,
             pipeline_state: dict[str, Any]) -> None:
        """Replace the checkpoint of ``topic``/``partition``."""

    def save_payload(self, topic: str, partition: int, offset_next: int,
                     payload: bytes) -> None:
        """:meth:`save` of a state already encoded by :func:`encode_state`."""

    def save_many(self, checkpoints: Iterable[tuple[str, int, int, bytes]]) -> None:
        """:meth:`save_payload` of ``(topic, partition, offset_next, payload)`` checkpoints,
        all durable when it returns (the first refusal raises)."""

    def load(self, topic: str, partition: int) -> Checkpoint | None:
        """The checkpoint of ``topic``/``partition``; None when absent or unusable."""

    def load_many(self, partitions: Iterable[tuple[str, int]],
                  ) -> dict[tuple[str, int], Checkpoint | None]:
        """:meth:`load` of several ``(topic, partition)`` at once."""

    def delete(self, topic: str, partition: int) -> None:
        """Remove the checkpoint of ``topic``/``partition``."""

    def close(self) -> None:
        """Release connections (the store is not used afterwards)."""


def _check_topic(topic: str) -> str:
    if not isinstance(topic, str) or not _TOPIC.match(topic) or topic in (".", ".."):
        raise ValueError(f"topic must match [A-Za-z0-9._-]{{1,249}}, got {topic!r}")
    return topic


def _check_partition(partition: int) -> int:
    if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
        raise ValueError(f"partition must be an int >= 0, got {partition!r}")
    return partition


class CheckpointStore:
    """Atomic per-partition checkpoint files in ``directory`` (created if missing).

    Parameters
    ----------
    directory : str or Path
        Where the files go; replicas of one consumer group share it so that a partition's state
        follows the partition.
    fsync : bool, default True
        Flush file and directory to disk on save (turn off only in throw-away runs).
    on_restore_failure : callable, optional
        Called with the reason (:data:`executor.state_record.RESTORE_FAILURE_REASONS`) of each
        checkpoint found unusable.
    """

    def __init__(self, directory: str | Path, *, fsync: bool = True,
                 on_restore_failure: Callable[[str], None] | None = None) -> None:
        self.directory = Path(directory)
        self.fsync = bool(fsync)
        self.on_restore_failure = on_restore_failure
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, topic: str, partition: int) -> Path:
        """The checkpoint file of ``topic``/``partition``."""
        return self.directory / f"{_check_topic(topic)}.{_check_partition(partition)}{_SUFFIX}"

    def save(self, topic: str, partition: int, offset_next: int,
             pipeline_state: dict[str, Any]) -> None:
        """Atomically replace the checkpoint of ``topic``/``partition``.

        ``offset_next`` is the offset of the first record *not* reflected in ``pipeline_state``.
        Raises ``ValueError`` for a bad offset or a state that is not JSON-serialisable, and
        ``OSError`` when the disk refuses the write (the previous checkpoint is then intact).
        """
        self.save_payload(topic, partition, offset_next, encode_state(pipeline_state))

    def save_payload(self, topic: str, partition: int, offset_next: int,
                     payload: bytes) -> None:
        """:meth:`save` of a state already encoded by :func:`encode_state`."""
        target = self.path(topic, partition)
        data = encode_record(topic, partition, offset_next, payload)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                        dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        if self.fsync:
            self._fsync_directory()

    def save_many(self, checkpoints: Iterable[tuple[str, int, int, bytes]]) -> None:
        """:meth:`save_payload` of each ``(topic, partition, offset_next, payload)``, in
        order (the first refusal raises; the rest are not attempted)."""
        for topic, partition, offset, payload in checkpoints:
            self.save_payload(topic, partition, offset, payload)

    def _fsync_directory(self) -> None:
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def load(self, topic: str, partition: int) -> Checkpoint | None:
        """The checkpoint of ``topic``/``partition``, or None when absent or unusable.

        An unreadable, truncated, tampered or mismatched file is logged at WARNING, reported
        to ``on_restore_failure`` and ignored.
        """
        target = self.path(topic, partition)
        try:
            raw = target.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._failed(target, RestoreFailure("unreachable", f"unreadable: {exc}"))
        read = read_record(raw, topic, partition)
        found = read if isinstance(read, RestoreFailure) else decode_checkpoint(*read)
        if isinstance(found, RestoreFailure):
            return self._failed(target, found)
        return found

    def _failed(self, target: Path, failure: RestoreFailure) -> None:
        log.warning("checkpoint %s ignored, starting cold (%s): %s", target, failure.reason,
                    failure.detail)
        if self.on_restore_failure is not None:
            self.on_restore_failure(failure.reason)

    def load_many(self, partitions: Iterable[tuple[str, int]],
                  ) -> dict[tuple[str, int], Checkpoint | None]:
        """:meth:`load` of each ``(topic, partition)``."""
        return {(topic, partition): self.load(topic, partition)
                for topic, partition in partitions}

    def delete(self, topic: str, partition: int) -> None:
        """Remove the checkpoint of ``topic``/``partition`` (no error when absent)."""
        with contextlib.suppress(FileNotFoundError):
            self.path(topic, partition).unlink()

    def partitions(self) -> list[tuple[str, int]]:
        """``(topic, partition)`` of every checkpoint file present, sorted."""
        found = []
        for path in self.directory.glob(f"*{_SUFFIX}"):
            topic, _, part = path.name[: -len(_SUFFIX)].rpartition(".")
            if topic and part.isdigit():
                found.append((topic, int(part)))
        return sorted(found)

    def close(self) -> None:
        """Nothing to release: files are closed after each read and write."""


class CheckpointWriter:
    """Writes encoded checkpoints to ``store`` on one background thread, in the order given.

    :meth:`write` returns at once with a future per group of checkpoints: done when all of them
    are saved, or failed with the first save's error (the rest of the group is not attempted;
    later groups are). The file writes and fsyncs wait on the disk without the GIL.
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._writes: list[concurrent.futures.Future[None]] = []

    def write(self, checkpoints: Iterable[tuple[str, int, int, bytes]],
              ) -> concurrent.futures.Future[None]:
        """Queue ``(topic, partition, offset_next, payload)`` saves, in order."""
        batch = list(checkpoints)

        def save() -> None:
            self.store.save_many(batch)
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="driftline-checkpoint")
        future = self._pool.submit(save)
        self._writes = [w for w in self._writes if not w.done()] + [future]
        return future

    def wait(self) -> None:
        """Wait for every queued write (their failures stay on their futures)."""
        writes, self._writes = self._writes, []
        concurrent.futures.wait(writes)

    def close(self) -> None:
        """Wait for the queued writes and stop the thread."""
        self.wait()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
