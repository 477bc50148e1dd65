"""Per-partition checkpoints of detector state together with the offset they correspond to.

A checkpoint says: "the pipeline state ``state`` is what you get after processing every record
of ``topic``/``partition`` before offset ``offset``". The Kafka executor writes one after a batch
(before committing the offsets) and reads it back when the partition is assigned, so detection
continues warm after a restart or when the partition moves to another replica sharing the
directory.

:class:`StateStore` is what the executor needs of a store (save / load / delete one partition's
state with its offset); :class:`CheckpointStore` keeps them in a directory, one file per
partition, ``<topic>.<partition>.ckpt``. The file is a JSON header line (format
version, topic, partition, offset, wall time, length and SHA-256 of the payload) followed by the
JSON payload. :meth:`CheckpointStore.save` writes a temporary file in the same directory, fsyncs
it and renames it over the old one (then fsyncs the directory), so a reader sees either the old
or the new checkpoint, never a mix. A file that cannot be read, parsed or verified is logged and
ignored: the partition starts cold instead of crashing the executor. :class:`CheckpointWriter`
writes encoded states on a thread of its own, in order, so that the disk is waited for while
the next batch is processed; its futures tell when a checkpoint is durable.

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
import hashlib
import json
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson

__all__ = ["CHECKPOINT_FORMAT", "NO_STATE", "Checkpoint", "CheckpointStore", "CheckpointWriter",
           "StateStore", "dump_state", "encode_state", "load_state"]

CHECKPOINT_FORMAT = 1
_SUFFIX = ".ckpt"
# Kafka's legal topic characters; anything else could escape the checkpoint directory.
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")

log = logging.getLogger("driftline.checkpoint")


#: the payload of an offsets-only checkpoint (a labels topic: its state lives with the events)
NO_STATE = b"{}"


class Checkpoint(NamedTuple):
    """A restored checkpoint: the next offset to read and the pipeline state at that point."""

    offset: int
    state: dict[str, Any]


def _all_finite(value: Any) -> bool:
    """False if a float anywhere in ``value`` is NaN or infinite (or a sum overflows: then
    the caller takes the slow exact path, which is still correct)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        # C-level passes over flat or 2-D lists of numbers (windows, reference samples);
        # other lists are walked.
        try:
            return math.isfinite(sum(value))
        except TypeError:
            pass
        try:
            return math.isfinite(sum(map(sum, value)))
        except TypeError:
            return all(_all_finite(v) for v in value)
    return True


def dump_state(state: Any) -> bytes:
    """``state`` as compact JSON bytes, identical in meaning to ``json.dumps``.

    orjson is ~20x faster than the standard encoder on detector states (windows of floats),
    but writes NaN and infinity as ``null``; a state holding one is written by ``json`` (as
    ``NaN``/``Infinity``, which :func:`load_state` reads back) so no value changes silently.
    """
    if _all_finite(state):
        try:
            return orjson.dumps(state)
        except TypeError:
            pass  # e.g. non-str keys or a float subclass: the standard encoder decides
    return json.dumps(state, separators=(",", ":")).encode("utf-8")


def load_state(payload: bytes | str) -> Any:
    """Inverse of :func:`dump_state` (orjson, or ``json`` for NaN/Infinity tokens)."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return json.loads(payload)


def encode_state(pipeline_state: dict[str, Any]) -> bytes:
    """The payload a store saves for ``pipeline_state`` (``ValueError`` if it is not
    JSON-serialisable). Encoding early freezes a state that keeps changing."""
    try:
        return dump_state(pipeline_state)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"pipeline_state is not JSON-serialisable: {exc}") from None


class StateStore(Protocol):
    """Where the executor keeps each partition's state and the offset it belongs to
    (:class:`CheckpointStore`: a directory; any store with these methods will do)."""

    def save(self, topic: str, partition: int, offset_next: int,
             pipeline_state: dict[str, Any]) -> None:
        """Replace the checkpoint of ``topic``/``partition``."""

    def save_payload(self, topic: str, partition: int, offset_next: int,
                     payload: bytes) -> None:
        """:meth:`save` of a state already encoded by :func:`encode_state`."""

    def load(self, topic: str, partition: int) -> Checkpoint | None:
        """The checkpoint of ``topic``/``partition``; None when absent or unusable."""

    def delete(self, topic: str, partition: int) -> None:
        """Remove the checkpoint of ``topic``/``partition``."""


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
    """

    def __init__(self, directory: str | Path, *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.fsync = bool(fsync)
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
        if isinstance(offset_next, bool) or not isinstance(offset_next, int) or offset_next < 0:
            raise ValueError(f"offset_next must be an int >= 0, got {offset_next!r}")
        header = {
            "format": CHECKPOINT_FORMAT, "topic": topic, "partition": partition,
            "offset": offset_next, "saved_at": time.time(), "length": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
        data = json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n" + payload
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

        An unreadable, truncated, tampered or mismatched file is logged at WARNING and ignored.
        """
        target = self.path(topic, partition)
        try:
            raw = target.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("checkpoint %s unreadable, starting cold: %s", target, exc)
            return None
        problem, checkpoint = self._parse(raw, topic, partition)
        if checkpoint is None:
            log.warning("checkpoint %s ignored, starting cold: %s", target, problem)
        return checkpoint

    @staticmethod
    def _parse(raw: bytes, topic: str, partition: int) -> tuple[str, Checkpoint | None]:
        head, sep, payload = raw.partition(b"\n")
        if not sep:
            return "no header line", None
        try:
            header = json.loads(head)
        except (UnicodeDecodeError, ValueError):
            return "header is not JSON", None
        if not isinstance(header, dict):
            return "header is not an object", None
        if header.get("format") != CHECKPOINT_FORMAT:
            return f"unknown format {header.get('format')!r}", None
        if header.get("topic") != topic or header.get("partition") != partition:
            return (f"written for {header.get('topic')!r}/{header.get('partition')!r}, "
                    f"not {topic!r}/{partition}"), None
        offset = header.get("offset")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            return f"bad offset {offset!r}", None
        if header.get("length") != len(payload):
            return f"payload has {len(payload)} bytes, header says {header.get('length')!r}", None
        if header.get("sha256") != hashlib.sha256(payload).hexdigest():
            return "payload checksum mismatch", None
        try:
            state = load_state(payload)
        except (UnicodeDecodeError, ValueError):
            return "payload is not JSON", None
        if not isinstance(state, dict):
            return "payload is not an object", None
        return "", Checkpoint(offset=offset, state=state)

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
            for topic, partition, offset, payload in batch:
                self.store.save_payload(topic, partition, offset, payload)
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
