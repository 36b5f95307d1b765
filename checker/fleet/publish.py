"""The end of a fleet run (`fwcheck scan` and `merge`): write the reports and the console summary
(checker.reports.publish), then record the run in the history.

The history is committed last: if a report cannot be written (exit 2) the run is not recorded,
so the next run's drift still compares with a run whose reports exist.

`finish_streamed` is the same end for a scan whose results are spooled (checker/fleet/spool.py):
the JSON report and the console are written host by host from the spool, so memory does not grow
with the fleet; the bytes are those `finish` writes. JUnit, SARIF and HTML lay a run out as one
document (SARIF's caps and sorting, HTML's tables): a scan asking for them gets `finish` on the
whole run read back from the spool.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from checker.findings import Finding
from checker.fleet import json_stream
from checker.fleet.history import RunRecorder
from checker.fleet.spool import HostSpool
from checker.reports import ReportOptions, RunReport, TargetInfo, console
from checker.reports.data import effective_findings, tally, target_order
from checker.reports.drift import Baseline
from checker.reports.publish import STDOUT, print_console, use_color, write_reports

# The report formats finish_streamed writes host by host (a file path, not standard output).
STREAMED = frozenset({"json"})


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
        _record(recorder, baseline, effective_findings(report), started_monotonic)
    return baseline


def _record(
    recorder: RunRecorder,
    baseline: Baseline,
    findings: list[Finding] | tuple[Finding, ...],
    started_monotonic: float,
) -> None:
    """Commit the run's tallies and drift counts to the history database."""
    recorder.commit(
        tally(findings),
        baseline.counts(findings),
        finished_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        duration_s=time.monotonic() - started_monotonic,
    )


def streamable(paths: Mapping[str, str | None]) -> bool:
    """Whether every report asked for can be written host by host."""
    return all(not path or (name in STREAMED and path != STDOUT) for name, path in paths.items())


def finish_streamed(
    summary: RunReport,
    spool: HostSpool,
    trailing: Sequence[Finding],
    paths: Mapping[str, str | None],
    options: ReportOptions,
    recorder: RunRecorder | None,
    *,
    quiet: bool,
    started_monotonic: float,
    color: str = "auto",
) -> Baseline | None:
    """`finish` for a spooled scan. `summary`: the run with the summary views of the spool's
    findings then of `trailing` (findings of no host: waiver problems), in that order."""
    baseline = recorder.baseline() if recorder is not None else None
    findings = effective_findings(summary)
    # Error results of unreadable targets: whole findings, made from the targets alone.
    extra = findings[len(summary.findings) :]
    json_path = paths.get("json")
    if json_path:
        json_stream.write(summary, _chain(spool, trailing), Path(json_path), options=options)
    stream = sys.stdout
    painted = use_color(color, stream)
    after = [*trailing, *extra]
    infos = {t.name: t for t in summary.targets}

    def write_target(name: str, own: Sequence[Finding], info: TargetInfo | None) -> None:
        lines = console.target_lines(
            name,
            [*own, *(f for f in after if f.target == name)],
            info,
            color=painted,
            quiet=quiet,
            fail_on=options.fail_on,
        )
        if lines:
            stream.write("\n".join(lines) + "\n")

    for info, own in spool.hosts():
        write_target(info.name, own, info)
    for name in target_order(summary, findings)[len(spool) :]:
        write_target(name, (), infos.get(name))
    lines = console.summary_lines(
        summary, findings, color=painted, quiet=quiet, baseline=baseline, fail_on=options.fail_on
    )
    stream.write("\n".join(lines) + "\n")
    stream.flush()
    if recorder is not None and baseline is not None:
        _record(recorder, baseline, findings, started_monotonic)
    return baseline


def _chain(spool: HostSpool, trailing: Sequence[Finding]) -> Iterator[Finding]:
    yield from spool.findings()
    yield from trailing
