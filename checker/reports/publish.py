"""Writing a run's reports and its console summary, shared by `fwcheck check`, `scan` and
`merge`: all reports rendered and staged, then all renamed, so they are published as one set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from checker import reports
from checker.reports import ReportOptions, RunReport, atomic, flagged
from checker.reports import console as console_report
from checker.reports.drift import Baseline

# The path that means standard output (`--json -`): the console summary then goes to stderr.
STDOUT = "-"


def write_reports(
    report: RunReport,
    paths: Mapping[str, str | None],
    options: ReportOptions,
    baseline: Baseline | None,
) -> None:
    """Render every asked-for report (`paths`: reporter name -> file, checker.reports
    .REPORTERS), then publish them together (atomic.write_all): a run killed half way leaves the
    previous set whole. A path of `-` is standard output. Each reporter shows the drift against
    `baseline` if its format has a place for it."""
    files: list[tuple[Path, bytes]] = []
    to_stdout: list[bytes] = []
    for name, _ in flagged():
        path = paths.get(name)
        if not path:
            continue
        data = reports.REPORTERS[name].encode(report, options, baseline)
        if path == STDOUT:
            to_stdout.append(data)
        else:
            files.append((Path(path), data))
    atomic.write_all(files)
    for data in to_stdout:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def print_console(
    report: RunReport,
    paths: Mapping[str, str | None],
    options: ReportOptions,
    *,
    quiet: bool,
    color: str,
    baseline: Baseline | None = None,
) -> None:
    """The console summary: on stdout, or on stderr when a report goes to stdout (`-`)."""
    stream = sys.stderr if STDOUT in paths.values() else sys.stdout
    stream.write(
        console_report.render(
            report,
            color=use_color(color, stream),
            quiet=quiet,
            baseline=baseline,
            fail_on=options.fail_on,
        )
    )
    stream.flush()


def use_color(mode: str, stream: TextIO) -> bool:
    """--color: "always", "never", or "auto": only on a terminal and only when the NO_COLOR
    environment variable is unset or empty (https://no-color.org)."""
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()
