"""Progress of a long stage: a live bar on a terminal, one summary line when output is a file.

``driftline evaluate > log`` or a container's log collector must not receive hundreds of
carriage-return updates, so the bar is drawn (by tqdm) only when the stream is a terminal;
otherwise nothing is written while the stage runs and one line is written when it ends (or
stops on an error), e.g. ``calibrate: 24/24 calibrations in 31.0 s``. Notes (``note``) are
written as whole lines in both cases, above the bar on a terminal.

Example
-------
>>> import io
>>> log = io.StringIO()  # not a terminal
>>> with stage_progress("replay", total=3, unit="events", stream=log) as bar:
...     for _ in range(3):
...         bar.update()
>>> print(log.getvalue(), end="")  # doctest: +ELLIPSIS
replay: 3/3 events in ... s
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

__all__ = ["Progress", "stage_progress"]


class Progress:
    """A stage's progress; use :func:`stage_progress` to create one, as a context manager."""

    def __init__(self, desc: str, total: int | None, *, unit: str, enabled: bool,
                 stream: TextIO, interactive: bool,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.desc = desc
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.stream = stream
        self.interactive = interactive
        self.n = 0
        self._clock = clock
        self._started = clock()
        self._finished: float | None = None
        self._bar = (tqdm(total=total, desc=desc, unit=f" {unit}", file=stream, mininterval=0.5)
                     if enabled and interactive else None)

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done."""
        self.n += n
        if self._bar is not None:
            self._bar.update(n)

    def set_detail(self, text: str) -> None:
        """What is being done right now (shown beside a live bar; never in a log)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def note(self, text: str) -> None:
        """A message worth keeping (a skipped item...), written as one whole line."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def elapsed_text(self) -> str:
        """Wall time of the stage so far (until it ended, once it has), e.g. ``"3.2 s"``."""
        end = self._finished if self._finished is not None else self._clock()
        return f"{end - self._started:.1f} s"

    def summary(self) -> str:
        """The one line written when a non-interactive stage ends."""
        done = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        return f"{self.desc}: {done} {self.unit} in {self.elapsed_text()}"

    def close(self, error: BaseException | None = None) -> None:
        """End the stage: close the bar, or write the summary line (saying it stopped on
        ``error``)."""
        if self._finished is not None:
            return
        self._finished = self._clock()
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            stopped = f" (stopped: {type(error).__name__})" if error is not None else ""
            print(self.summary() + stopped, file=self.stream, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close(exc)


def stage_progress(desc: str, total: int | None = None, *, unit: str = "steps",
                   enabled: bool = True, stream: TextIO | None = None,
                   interactive: bool | None = None) -> Progress:
    """Progress of one stage named ``desc``, on ``stream`` (default: standard error).

    ``interactive`` (default: whether ``stream`` is a terminal) selects the live bar; otherwise
    one line is written when the stage ends. ``enabled=False`` writes nothing at all.
    """
    stream = sys.stderr if stream is None else stream
    if interactive is None:
        isatty = getattr(stream, "isatty", None)
        interactive = bool(isatty and isatty())
    return Progress(desc, total, unit=unit, enabled=enabled, stream=stream,
                    interactive=interactive)
