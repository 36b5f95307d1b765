"""The end of a run, shared by `fwcheck check`, `scan` and `merge`: write the reports (as one
set: all rendered and staged, then all renamed), print the console summary, then record the run
in the history.

The history is committed last: if a report cannot be written (exit 2) the run is not recorded,
so the next run's drift still compares with a run whose reports exist.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from checker.fleet.drift import Baseline
from checker.fleet.history import RunRecorder
from checker.reports import ReportOptions, RunReport, atomic, html, json_report, junit, sarif
from checker.reports import console as console_report
from checker.reports.data import effective_findings, tally

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


def finish(
    report: RunReport,
    paths: Mapping[str, str | None],
    options: ReportOptions,
    recorder: RunRecorder | None,
    *,
    quiet: bool,
    started_monotonic: float,
    color: str = "auto",
) -> Baseline | None:
    baseline = recorder.baseline() if recorder is not None else None
    write_reports(report, paths, options, baseline)
    print_console(report, paths, options, quiet=quiet, color=color, baseline=baseline)
    if recorder is not None and baseline is not None:
        findings = effective_findings(report)
        recorder.commit(
            tally(findings),
            baseline.counts(findings),
            finished_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            duration_s=time.monotonic() - started_monotonic,
        )
    return baseline
