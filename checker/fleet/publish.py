"""The end of a fleet run (`fwcheck scan` and `merge`): write the reports and the console summary
(checker.reports.publish), then record the run in the history.

The history is committed last: if a report cannot be written (exit 2) the run is not recorded,
so the next run's drift still compares with a run whose reports exist.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

from checker.fleet.history import RunRecorder
from checker.reports import ReportOptions, RunReport
from checker.reports.data import effective_findings, tally
from checker.reports.drift import Baseline
from checker.reports.publish import print_console, write_reports


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
