"""Scan progress on stderr: a rich progress bar on a terminal, plain periodic lines otherwise
(CI logs, `| tee`), nothing under --quiet. stdout stays the report's alone.

Every variant shows hosts done / total, hosts failed so far and the estimated time left.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

# Plain mode: a line at most this often, plus one at every tenth of the fleet and at the end.
PLAIN_INTERVAL_S = 10.0


class Progress(Protocol):
    def advance(self, failed: bool) -> None: ...

    def close(self) -> None: ...


def _eta(done: int, total: int, elapsed_s: float) -> str:
    if done == 0 or done >= total:
        return "-"
    left_s = int(elapsed_s / done * (total - done))
    return f"{left_s // 3600:d}:{left_s // 60 % 60:02d}:{left_s % 60:02d}"


class Silent:
    def advance(self, failed: bool) -> None:
        del failed

    def close(self) -> None:
        pass


class PlainLines:
    """`fwcheck: 120/500 hosts done, 3 failed, ETA 0:00:42` now and then."""

    def __init__(self, total: int, stream: TextIO, *, interval_s: float = PLAIN_INTERVAL_S) -> None:
        self.total = total
        self.stream = stream
        self.interval_s = interval_s
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._last_line = self.started
        self._last_tenth = 0

    def _line(self) -> str:
        elapsed = time.monotonic() - self.started
        return (
            f"fwcheck: {self.done}/{self.total} hosts done, {self.failed} failed, "
            f"ETA {_eta(self.done, self.total, elapsed)}"
        )

    def advance(self, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        now = time.monotonic()
        tenth = self.done * 10 // max(self.total, 1)
        if now - self._last_line >= self.interval_s or (
            tenth > self._last_tenth and self.done < self.total
        ):
            self._last_line = now
            self._last_tenth = tenth
            print(self._line(), file=self.stream, flush=True)

    def close(self) -> None:
        elapsed = time.monotonic() - self.started
        print(
            f"fwcheck: {self.done}/{self.total} hosts done in {elapsed:.1f} s, {self.failed} failed",
            file=self.stream,
            flush=True,
        )


class RichBar:
    """A rich progress bar on stderr (transient: it leaves one summary line behind)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self.total = total
        self.failed = 0
        self.started = time.monotonic()
        self.console = Console(file=stream, stderr=stream is sys.stderr)
        self.bar = RichProgress(
            TextColumn("[bold]scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("hosts · [red]{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task = self.bar.add_task("scan", total=total, failed=0)
        self.bar.start()

    def advance(self, failed: bool) -> None:
        self.failed += int(failed)
        self.bar.update(self.task, advance=1, failed=self.failed)

    def close(self) -> None:
        self.bar.stop()
        done = int(self.bar.tasks[0].completed)
        self.console.print(
            f"fwcheck: {done}/{self.total} hosts done in {time.monotonic() - self.started:.1f} s, "
            f"{self.failed} failed",
            highlight=False,
        )


def progress_for(total: int, *, quiet: bool, stream: TextIO | None = None) -> Progress:
    """The right progress display for this run."""
    out = stream if stream is not None else sys.stderr
    if quiet or total == 0:
        return Silent()
    if out.isatty():
        return RichBar(total, out)
    return PlainLines(total, out)
