"""Progress on stderr: rich on a terminal (a real pty here), plain lines otherwise, silent when
quiet."""

from __future__ import annotations

import io
import os
import pty
import select

from checker.fleet.progress import PlainLines, RichBar, Silent, progress_for


class _NotATty(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_plain_lines_when_not_a_terminal() -> None:
    stream = _NotATty()
    progress = progress_for(20, quiet=False, stream=stream)
    assert isinstance(progress, PlainLines)
    for n in range(20):
        progress.advance(failed=n % 5 == 0)
    progress.close()
    lines = stream.getvalue().splitlines()
    # One line per tenth of the fleet (time-based lines are 10 s apart), then the total.
    assert 5 <= len(lines) <= 11
    assert lines[0].startswith("fwcheck: 2/20 hosts done, 1 failed, ETA ")
    assert lines[-1].startswith("fwcheck: 20/20 hosts done in ")
    assert lines[-1].endswith(", 4 failed")


def test_nothing_when_quiet() -> None:
    stream = _NotATty()
    progress = progress_for(5, quiet=True, stream=stream)
    assert isinstance(progress, Silent)
    progress.advance(failed=True)
    progress.close()
    assert stream.getvalue() == ""


def test_rich_bar_on_a_terminal() -> None:
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", closefd=True) as terminal:
            progress = progress_for(3, quiet=False, stream=terminal)
            assert isinstance(progress, RichBar)
            for _ in range(3):
                progress.advance(failed=True)
            progress.close()
            terminal.flush()
            chunks = []
            while select.select([master], [], [], 0.5)[0]:
                chunks.append(os.read(master, 65536))
            written = b"".join(chunks).decode(errors="replace")
    finally:
        os.close(master)
    assert "3/3 hosts done in" in written and "3 failed" in written
    assert "\x1b[" in written  # drawn with terminal control sequences
