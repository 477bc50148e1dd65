"""Dead-letter topic producer: rejected events go to ``<topic>.dlt`` with why and where from.

Every record the executor cannot use (undecodable, invalid, or refused by the model) is sent
unchanged -- original value bytes, original key -- to the topic named after its source topic plus
a suffix (``.dlt`` by default), with headers that say why and where it came from:

=============================  ====================================================
``driftline.reason``           short machine code (``not_json``, ``non_finite``...)
``driftline.detail``           human-readable explanation (at most 1000 bytes)
``driftline.source.topic``     topic the record was read from
``driftline.source.partition`` its partition (decimal)
``driftline.source.offset``    its offset (decimal)
``driftline.source.timestamp`` its timestamp in ms since the epoch (empty if unknown)
``driftline.source.null``      ``value`` / ``key+value`` when they were null on the source
=============================  ====================================================

Kafka refuses a record without key and value, so a null value is sent as ``b""`` and flagged by
``driftline.source.null``.

A dead letter never exceeds ``max_record_bytes`` (the producer's and, where the broker says,
the broker's limit: :func:`executor.kafka_clients.message_size_limit`): a larger record keeps a
prefix of its value (and of its key when the key alone is too large), and says what it lost:

=============================  ====================================================
``driftline.truncated``        the original value's size in bytes
``driftline.source.sha256``    SHA-256 (hex) of the original value
``driftline.key_truncated``    the original key's size, when the key was cut too
``driftline.source.key_sha256`` SHA-256 (hex) of the original key
=============================  ====================================================

:meth:`DeadLetterProducer.flush` blocks until every record sent so far is acknowledged. A
failure the broker may get over (``retriable``: a timeout, no leader) raises
:class:`DeadLetterError`: the executor then redoes the batch from its checkpoint, so a dead
letter is never lost behind a commit. A dead letter that can never be written (refused for
what it is) is returned instead, for the executor to skip past with an ERROR and a metric --
retrying it would loop forever. The embedded replay writes its dead letters to a JSONL file
instead (:class:`DeadLetterFile`, one :meth:`executor.decode.DeadLetter.to_record` per line).

Example
-------
>>> from types import SimpleNamespace
>>> headers = dead_letter_headers(SimpleNamespace(
...     reason="not_json", detail="expecting value", topic="events", partition=2, offset=17,
...     timestamp_ms=1700000000000, value=b"oops", key=None))
>>> dict(headers)["driftline.source.offset"]
b'17'
>>> value, key, headers = dead_letter_record(SimpleNamespace(
...     reason="too_large", detail="", topic="events", partition=0, offset=3,
...     timestamp_ms=None, value=b"x" * 5000, key=b"k"), max_record_bytes=2000)
>>> len(value) + len(key) + sum(len(k) + len(v) for k, v in headers) <= 2000
True
>>> dict(headers)["driftline.truncated"], value == b"x" * len(value)
(b'5000', True)
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftline.executor.decode import DeadLetter

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "DETAIL_MAX_BYTES",
    "HEADER_PREFIX",
    "MIN_MAX_RECORD_BYTES",
    "RECORD_OVERHEAD_BYTES",
    "DeadLetterError",
    "DeadLetterFile",
    "DeadLetterProducer",
    "dead_letter_headers",
    "dead_letter_record",
    "is_retriable",
]

HEADER_PREFIX = "driftline."
DETAIL_MAX_BYTES = 1000
#: below kafka-python's default ``max_request_size`` (1 MiB) and Kafka's ``message.max.bytes``
DEFAULT_MAX_RECORD_BYTES = 1_000_000
#: an upper bound of what a one-record batch adds to key, value and headers (batch header,
#: record length, attributes, deltas and the varint lengths)
RECORD_OVERHEAD_BYTES = 128
#: room for the headers of a cut record (the detail alone may take DETAIL_MAX_BYTES)
MIN_MAX_RECORD_BYTES = 4096
_HEADER_OVERHEAD_BYTES = 10

log = logging.getLogger("driftline.dead_letter")


class DeadLetterError(RuntimeError):
    """A dead-letter record could not be written; the batch must not be committed."""


def _text(value: Any) -> bytes:
    return b"" if value is None else str(value).encode("utf-8", "replace")


def _truncate_utf8(data: bytes, limit: int) -> bytes:
    if len(data) <= limit:
        return data
    # Cut on a character boundary so the header stays valid UTF-8.
    return data[:limit].decode("utf-8", "ignore").encode("utf-8")


def dead_letter_headers(dl: DeadLetter) -> list[tuple[str, bytes]]:
    """The Kafka headers describing the dead letter ``dl`` (see the module docstring)."""
    headers = [
        ("driftline.reason", _text(dl.reason)),
        ("driftline.detail", _truncate_utf8(_text(dl.detail), DETAIL_MAX_BYTES)),
        ("driftline.source.topic", _text(dl.topic)),
        ("driftline.source.partition", _text(dl.partition)),
        ("driftline.source.offset", _text(dl.offset)),
        ("driftline.source.timestamp", _text(dl.timestamp_ms)),
    ]
    if dl.value is None:
        headers.append(("driftline.source.null", b"value" if dl.key is not None else b"key+value"))
    return headers


def is_retriable(error: BaseException) -> bool:
    """Whether a Kafka client error may go away by itself (kafka-python's ``retriable``)."""
    return bool(getattr(error, "retriable", False))


def _headers_size(headers: list[tuple[str, bytes]]) -> int:
    return sum(len(k.encode()) + len(v) + _HEADER_OVERHEAD_BYTES for k, v in headers)


def dead_letter_record(dl: DeadLetter, max_record_bytes: int,
                       ) -> tuple[bytes, bytes | None, list[tuple[str, bytes]]]:
    """``(value, key, headers)`` of the dead letter ``dl``, cut to fit ``max_record_bytes``
    with :data:`RECORD_OVERHEAD_BYTES` to spare (see the module docstring)."""
    value = b"" if dl.value is None else bytes(dl.value)
    key = None if dl.key is None else bytes(dl.key)
    headers = dead_letter_headers(dl)
    budget = max_record_bytes - RECORD_OVERHEAD_BYTES
    if len(value) + len(key or b"") + _headers_size(headers) <= budget:
        return value, key, headers
    headers += [("driftline.truncated", str(len(value)).encode()),
                ("driftline.source.sha256", hashlib.sha256(value).hexdigest().encode())]
    if key is not None and len(key) > budget // 4:
        headers += [("driftline.key_truncated", str(len(key)).encode()),
                    ("driftline.source.key_sha256", hashlib.sha256(key).hexdigest().encode())]
        key = key[: budget // 4]
    room = budget - len(key or b"") - _headers_size(headers)
    if room < 0:
        raise ValueError(f"max_record_bytes={max_record_bytes} leaves no room for the headers "
                         f"of a dead letter")
    return value[:room], key, headers


class DeadLetterProducer:
    """Sends :class:`executor.decode.DeadLetter` records to ``<source topic><suffix>``.

    Parameters
    ----------
    producer : kafka.KafkaProducer
        A producer with bytes (no) serialisers; shared with other outputs is fine.
    suffix : str, default ".dlt"
        Appended to the source topic to name the dead-letter topic.
    max_record_bytes : int
        Largest record written (see :func:`dead_letter_record`); the producer's
        ``max_request_size`` must be at least this.
    """

    def __init__(self, producer: Any, suffix: str = ".dlt", *,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        if not isinstance(suffix, str) or not suffix:
            raise ValueError(f"suffix must be a non-empty string, got {suffix!r}")
        if max_record_bytes < MIN_MAX_RECORD_BYTES:
            raise ValueError(f"max_record_bytes must be >= {MIN_MAX_RECORD_BYTES}, "
                             f"got {max_record_bytes}")
        self.producer = producer
        self.suffix = suffix
        self.max_record_bytes = int(max_record_bytes)
        self.sent_by_reason: Counter[str] = Counter()
        self._pending: list[tuple[Any, DeadLetter]] = []
        self._refused: list[tuple[DeadLetter, BaseException]] = []

    def topic_for(self, source_topic: str) -> str:
        """The dead-letter topic of ``source_topic``."""
        return f"{source_topic}{self.suffix}"

    def send(self, dl: DeadLetter) -> None:
        """Queue ``dl`` for its dead-letter topic (call :meth:`flush` before committing). A
        record the client refuses at once is kept for :meth:`flush` to return."""
        try:
            value, key, headers = dead_letter_record(dl, self.max_record_bytes)
            future = self.producer.send(self.topic_for(dl.topic), value=value, key=key,
                                        headers=headers)
        except Exception as exc:
            self._refused.append((dl, exc))
            return
        self._pending.append((future, dl))
        self.sent_by_reason[str(dl.reason)] += 1

    @property
    def pending(self) -> int:
        """Records sent since the last :meth:`flush`."""
        return len(self._pending) + len(self._refused)

    def flush(self, timeout: float | None = None) -> list[tuple[DeadLetter, BaseException]]:
        """Wait until every queued record is acknowledged; returns the dead letters that can
        never be written, with why (refused by the client or by the broker for what they are).

        Raises :class:`DeadLetterError` naming the first record that failed for a reason that
        may pass (all queued records are then forgotten: the caller re-processes the batch from
        its last checkpoint).
        """
        pending, self._pending = self._pending, []
        refused, self._refused = self._refused, []
        if not pending:
            return refused
        try:
            self.producer.flush(timeout=timeout)
        except Exception as exc:
            raise DeadLetterError(f"flushing {len(pending)} dead letters failed: {exc}") from exc
        for future, dl in pending:
            if not future.is_done:
                raise DeadLetterError(
                    f"dead letter of {dl.topic}/{dl.partition}@{dl.offset} not acknowledged")
            if future.failed():
                if is_retriable(future.exception):
                    raise DeadLetterError(
                        f"dead letter of {dl.topic}/{dl.partition}@{dl.offset} failed: "
                        f"{future.exception}")
                refused.append((dl, future.exception))
        return refused


class DeadLetterFile:
    """Appends dead letters to a JSONL file (``path`` None: counts them only).

    Parameters
    ----------
    path : str or Path, optional
        Created with its directory if missing; lines are appended.
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self.n_written = 0
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def send(self, dl: DeadLetter) -> None:
        """Write ``dl`` as one JSON line."""
        if self._file is not None:
            self._file.write(json.dumps(dl.to_record()) + "\n")
        self.n_written += 1

    def flush(self, timeout: float | None = None) -> list[tuple[DeadLetter, BaseException]]:
        """Flush the file buffer (every line is JSON: none is ever refused)."""
        if self._file is not None:
            self._file.flush()
        return []

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
