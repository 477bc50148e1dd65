"""Structured logs: one JSON object per line with the extra fields of the call."""

from __future__ import annotations

import io
import json
import logging

from driftline.executor.logging_setup import setup_logging


def test_json_lines_carry_extra_fields() -> None:
    stream = io.StringIO()
    setup_logging("INFO", "json", stream=stream)
    log = logging.getLogger("driftline.test")
    log.info("batch done", extra={"partition": 3, "n_events": 500})
    log.debug("hidden")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    assert lines[0]["msg"] == "batch done" and lines[0]["partition"] == 3
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "driftline.test"
    assert lines[0]["ts"].endswith("+00:00")
    assert "ValueError: boom" in lines[1]["exc"]


def test_text_format_and_level() -> None:
    stream = io.StringIO()
    setup_logging("WARNING", "text", stream=stream)
    logging.getLogger("driftline.test").info("quiet")
    logging.getLogger("driftline.test").warning("loud")
    assert "quiet" not in stream.getvalue() and "WARNING driftline.test loud" in stream.getvalue()
