"""The JSON report written as results arrive: the same bytes as `json_report.render`, without
holding the run's results in memory (fleet scans, issue 16).

The document is laid out by `json_report.to_dict` without the results (its summary and gate
counted from the run's summary view: statuses and result keys) and with the results list
replaced by one unguessable placeholder; the results are then written one by one where the
placeholder stands, each indented as `json.dumps(indent=2)` nests it. A test compares the bytes
with `json_report.render` (tests/reports/test_report_streamed.py). The file is
published atomically (reports/atomic.py): until the rename, readers see the previous report.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterable
from pathlib import Path

from checker.findings import Finding, Status
from checker.reports import atomic, json_report
from checker.reports.data import ReportOptions, RunReport, effective_findings, gate_verdict, tally

# Where a result sits in the document: the results list of the top-level object.
_INDENT = "    "


def write(
    summary: RunReport, results: Iterable[Finding], path: Path, *, options: ReportOptions
) -> None:
    """Write the report of a run whose findings are `results` (in report order: every target's
    findings, then the run's trailing findings; `effective_findings`' error results of
    unreadable targets follow them here as there). `summary` is the run with each finding
    reduced to its summary view, in the same order."""
    findings = effective_findings(summary)
    expected = len(findings)
    if not expected:
        # Nothing to stream: the summary view is the whole run.
        atomic.write_text(path, json_report.render(summary, options))
        return
    # The layout from to_dict on the error results alone (they decide which targets get an
    # invented read error); the summary and the gate from every result, as to_dict counts them.
    errors = tuple(f for f in summary.findings if f.status is Status.ERROR)
    document = json_report.to_dict(dataclasses.replace(summary, findings=errors), options)
    extra = document["results"][len(errors) :]
    counts = tally(findings)
    document["summary"] = {
        "pass": counts.passed,
        "fail": counts.failed,
        "indeterminate": counts.indeterminate,
        "error": counts.errors,
        "waived": counts.waived,
    }
    document["gate"] = {
        "fail_on": options.fail_on.value,
        "verdict": gate_verdict(findings, options.fail_on),
    }
    placeholder = f"fwcheck-results-{secrets.token_hex(16)}"
    document["results"] = [placeholder]
    text = json.dumps(document, indent=2, ensure_ascii=True) + "\n"
    head, tail = text.split(f"{_INDENT}{json.dumps(placeholder)}")
    fail_on = options.fail_on
    with atomic.atomic_writer(path) as handle:
        handle.write(head.encode("utf-8"))
        written = 0

        def emit(row: object) -> None:
            nonlocal written
            block = json.dumps(row, indent=2, ensure_ascii=True).replace("\n", "\n" + _INDENT)
            handle.write(((",\n" if written else "") + _INDENT + block).encode("utf-8"))
            written += 1

        for finding in results:
            emit(json_report._result(finding, fail_on))
        for row in extra:
            emit(row)
        if written != expected:
            # A bug, not a user error: the previous report stays (the temporary file is removed).
            raise RuntimeError(f"streamed {written} results where the run has {expected}")
        handle.write(tail.encode("utf-8"))
