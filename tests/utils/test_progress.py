"""Stage progress: a live bar on a terminal, exactly one line per stage in a log."""

from __future__ import annotations

import io

import pytest

from driftline.utils.progress import Progress, stage_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """Moves only when told to."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def _stage(stream: io.StringIO, clock: Clock) -> Progress:
    return Progress("replay", 500, unit="rows", enabled=True, stream=stream,
                    interactive=stream.isatty(), clock=clock)


def test_a_log_gets_one_line_per_stage_whatever_the_number_of_updates() -> None:
    log, clock = io.StringIO(), Clock()
    with _stage(log, clock) as bar:
        for _ in range(500):
            bar.update()
            bar.set_detail("row")
            clock.now += 0.005
    assert log.getvalue() == "replay: 500/500 rows in 2.5 s\n"


def test_a_terminal_gets_a_live_bar() -> None:
    terminal = Terminal()
    with stage_progress("replay", 500, unit="rows", stream=terminal) as bar:
        for _ in range(500):
            bar.update()
    drawn = terminal.getvalue()
    assert "\r" in drawn  # redrawn in place
    assert "500/500" in drawn and "replay" in drawn


def test_interactive_follows_the_stream() -> None:
    assert stage_progress("a", stream=Terminal()).interactive
    assert not stage_progress("a", stream=io.StringIO()).interactive


def test_default_stream_is_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with stage_progress("evaluate", 2, unit="runs") as bar:  # captured stderr: not a terminal
        bar.update(2)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("evaluate: 2/2 runs in ") and captured.err.count("\n") == 1


@pytest.mark.parametrize("stream_class", [io.StringIO, Terminal])
def test_disabled_writes_nothing(stream_class: type[io.StringIO]) -> None:
    stream = stream_class()
    with stage_progress("quiet", 10, enabled=False, stream=stream) as bar:
        bar.update(10)
        bar.note("not shown either")
    assert stream.getvalue() == ""
    assert bar.n == 10


def test_an_error_ends_the_stage_with_a_line_saying_so() -> None:
    log, clock = io.StringIO(), Clock()
    with pytest.raises(ValueError, match="bad row"), _stage(log, clock) as bar:
        bar.update(120)
        clock.now += 1.0
        raise ValueError("bad row")
    assert log.getvalue() == "replay: 120/500 rows in 1.0 s (stopped: ValueError)\n"


def test_unknown_total_counts_only() -> None:
    log, clock = io.StringIO(), Clock()
    with Progress("consume", None, unit="events", enabled=True, stream=log, interactive=False,
                  clock=clock) as bar:
        bar.update(7)
    assert log.getvalue() == "consume: 7 events in 0.0 s\n"


@pytest.mark.parametrize("stream_class", [io.StringIO, Terminal])
def test_notes_are_whole_lines(stream_class: type[io.StringIO]) -> None:
    stream = stream_class()
    with stage_progress("calibrate", 2, stream=stream) as bar:
        bar.update()
        bar.note("skipped river.KSWIN: not installed")
        bar.update()
    lines = stream.getvalue().replace("\r", "\n").splitlines()
    assert "skipped river.KSWIN: not installed" in lines


def test_closing_twice_writes_once() -> None:
    log = io.StringIO()
    bar = stage_progress("stage", 1, stream=log)
    bar.update()
    bar.close()
    bar.close()
    assert log.getvalue().count("\n") == 1
