"""The end of a run, shared by `fwcheck scan` and `fwcheck merge`: write the reports (each one
atomically), print the console summary, then record the run in the history.

The history is committed last: if a report cannot be written (exit 2) the run is not recorded,
so the next run's drift still compares with a run whose reports exist.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from checker.fleet.drift import Baseline
from checker.fleet.history import RunRecorder
from checker.reports import REPORTERS, ReportOptions, RunReport
from checker.reports import console as console_report
from checker.reports.data import effective_findings, tally

# Formats that show drift (the others have no place for it: JUnit has no notion of a baseline,
# and the JSON report's schema is version 1).
_WITH_BASELINE = frozenset({"sarif", "html"})


def write_reports(
    report: RunReport,
    paths: Mapping[str, str | None],
    options: ReportOptions,
    baseline: Baseline | None,
) -> None:
    for name in ("json", "junit", "sarif", "html"):
        path = paths.get(name)
        if not path:
            continue
        if name in _WITH_BASELINE and baseline is not None:
            REPORTERS[name].write(report, Path(path), options=options, baseline=baseline)
        else:
            REPORTERS[name].write(report, Path(path), options=options)


def finish(
    report: RunReport,
    paths: Mapping[str, str | None],
    options: ReportOptions,
    recorder: RunRecorder | None,
    *,
    quiet: bool,
    started_monotonic: float,
) -> Baseline | None:
    baseline = recorder.baseline() if recorder is not None else None
    write_reports(report, paths, options, baseline)
    sys.stdout.write(
        console_report.render(report, color=sys.stdout.isatty(), quiet=quiet, baseline=baseline)
    )
    if recorder is not None and baseline is not None:
        findings = effective_findings(report)
        recorder.commit(
            tally(findings),
            baseline.counts(findings),
            finished_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            duration_s=time.monotonic() - started_monotonic,
        )
    return baseline
