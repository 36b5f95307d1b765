"""Writing a run's reports and its console summary, shared by `fwcheck check`, `scan` and
`merge`: all reports rendered and staged, then all renamed, so they are published as one set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from checker.reports import ReportOptions, RunReport, atomic, html, json_report, junit, sarif
from checker.reports import console as console_report
from checker.reports.drift import Baseline

# Formats that show drift (the others have no place for it: JUnit has no notion of a baseline,
# and the JSON report's schema is version 1).
_WITH_BASELINE = frozenset({"sarif", "html"})


# The path that means standard output (`--json -`): the console summary then goes to stderr.
STDOUT = "-"


def _encode(
    name: str, report: RunReport, options: ReportOptions, baseline: Baseline | None
) -> bytes:
    if name == "json":
        return json_report.render(report, options).encode("utf-8")
    if name == "junit":
        return junit.render(report, options)
    if name == "sarif":
        return sarif.render(report, options, baseline)
    return html.render(report, baseline, options).encode("utf-8")


def write_reports(
    report: RunReport,
    paths: Mapping[str, str | None],
    options: ReportOptions,
    baseline: Baseline | None,
) -> None:
    """Render every asked-for report, then publish them together (atomic.write_all): a run
    killed half way leaves the previous set whole. A path of `-` is standard output."""
    files: list[tuple[Path, bytes]] = []
    to_stdout: list[bytes] = []
    for name in ("json", "junit", "sarif", "html"):
        path = paths.get(name)
        if not path:
            continue
        data = _encode(name, report, options, baseline if name in _WITH_BASELINE else None)
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
