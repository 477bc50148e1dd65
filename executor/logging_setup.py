"""Structured logging for the executor: one JSON object per line on stderr (or plain text).

Fields: ``ts`` (ISO-8601 UTC), ``level``, ``logger``, ``msg`` and every ``extra={...}`` key of the
call, so ``log.info("batch", extra={"partition": 3})`` becomes
``{"ts": ..., "level": "INFO", "logger": ..., "msg": "batch", "partition": 3}``.

Example
-------
>>> import logging
>>> record = logging.LogRecord("driftline", logging.INFO, __file__, 1, "hello", None, None)
>>> record.partition = 3
>>> import json
>>> json.loads(JsonFormatter().format(record))["partition"]
3
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

__all__ = ["JsonFormatter", "setup_logging"]

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message",
                                                                                "asctime"}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=repr)


def setup_logging(level: str = "INFO", fmt: str = "json", stream: IO[str] | None = None) -> None:
    """Route the ``driftline`` loggers to ``stream`` (stderr) in ``fmt`` at ``level``."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("driftline")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
