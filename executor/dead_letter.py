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
``driftline.source.null``. :meth:`DeadLetterProducer.flush` blocks until every record sent so far
is acknowledged and raises :class:`DeadLetterError` if one failed; the executor calls it before
committing offsets, so a dead letter is never lost behind a commit. The embedded replay writes
its dead letters to a JSONL file instead (:class:`DeadLetterFile`, one
:meth:`executor.decode.DeadLetter.to_record` per line).

Example
-------
>>> from types import SimpleNamespace
>>> headers = dead_letter_headers(SimpleNamespace(
...     reason="not_json", detail="expecting value", topic="events", partition=2, offset=17,
...     timestamp_ms=1700000000000, value=b"oops", key=None))
>>> dict(headers)["driftline.source.offset"]
b'17'
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftline.executor.decode import DeadLetter

__all__ = [
    "DETAIL_MAX_BYTES",
    "HEADER_PREFIX",
    "DeadLetterError",
    "DeadLetterFile",
    "DeadLetterProducer",
    "dead_letter_headers",
]

HEADER_PREFIX = "driftline."
DETAIL_MAX_BYTES = 1000

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


class DeadLetterProducer:
    """Sends :class:`executor.decode.DeadLetter` records to ``<source topic><suffix>``.

    Parameters
    ----------
    producer : kafka.KafkaProducer
        A producer with bytes (no) serialisers; shared with other outputs is fine.
    suffix : str, default ".dlt"
        Appended to the source topic to name the dead-letter topic.
    """

    def __init__(self, producer: Any, suffix: str = ".dlt") -> None:
        if not isinstance(suffix, str) or not suffix:
            raise ValueError(f"suffix must be a non-empty string, got {suffix!r}")
        self.producer = producer
        self.suffix = suffix
        self.sent_by_reason: Counter[str] = Counter()
        self._pending: list[tuple[Any, DeadLetter]] = []

    def topic_for(self, source_topic: str) -> str:
        """The dead-letter topic of ``source_topic``."""
        return f"{source_topic}{self.suffix}"

    def send(self, dl: DeadLetter) -> None:
        """Queue ``dl`` for its dead-letter topic (call :meth:`flush` before committing)."""
        value = dl.value if dl.value is not None else b""
        future = self.producer.send(
            self.topic_for(dl.topic), value=bytes(value),
            key=None if dl.key is None else bytes(dl.key), headers=dead_letter_headers(dl))
        self._pending.append((future, dl))
        self.sent_by_reason[str(dl.reason)] += 1

    @property
    def pending(self) -> int:
        """Records sent since the last :meth:`flush`."""
        return len(self._pending)

    def flush(self, timeout: float | None = None) -> int:
        """Wait until every queued record is acknowledged; returns how many were flushed.

        Raises :class:`DeadLetterError` naming the first failed record (all queued records are
        then forgotten: the caller re-processes the batch from its last commit).
        """
        if not self._pending:
            return 0
        pending, self._pending = self._pending, []
        try:
            self.producer.flush(timeout=timeout)
        except Exception as exc:
            raise DeadLetterError(f"flushing {len(pending)} dead letters failed: {exc}") from exc
        for future, dl in pending:
            if not future.is_done:
                raise DeadLetterError(
                    f"dead letter of {dl.topic}/{dl.partition}@{dl.offset} not acknowledged")
            if future.failed():
                raise DeadLetterError(
                    f"dead letter of {dl.topic}/{dl.partition}@{dl.offset} failed: "
                    f"{future.exception}")
        return len(pending)


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

    def flush(self, timeout: float | None = None) -> int:
        """Flush the file buffer; returns the dead letters written so far."""
        if self._file is not None:
            self._file.flush()
        return self.n_written

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
