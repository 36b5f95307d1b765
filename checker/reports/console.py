"""Console report: grouped by target, one line per problem, then the summary line.

Colour only when the caller asks (it knows whether stdout is a terminal); every piece of text
from a firewall export or a policy goes through `printable()` first, so a rule comment holding
an ANSI escape cannot repaint the terminal or forge a line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from checker.findings import Finding, Status
from checker.reports import atomic
from checker.reports.data import (
    ReportOptions,
    RunReport,
    effective_findings,
    printable,
    tally,
    target_order,
)

if TYPE_CHECKING:
    from checker.fleet.drift import Baseline

NAME = "console"

_RESET = "\x1b[0m"
_STYLE = {
    Status.FAIL: "\x1b[1;31m",
    Status.INDETERMINATE: "\x1b[1;33m",
    Status.ERROR: "\x1b[1;35m",
    Status.WAIVED: "\x1b[36m",
    Status.PASS: "\x1b[32m",
}
_LABEL = {
    Status.FAIL: "FAIL",
    Status.INDETERMINATE: "INDETERMINATE",
    Status.ERROR: "ERROR",
    Status.WAIVED: "WAIVED",
    Status.PASS: "PASS",
}
_PROBLEMS = (Status.FAIL, Status.INDETERMINATE, Status.ERROR)


def _paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color else text


def _clean(text: str) -> str:
    return printable(text, one_line=True)


def finding_line(finding: Finding, *, color: bool, with_target: bool) -> str:
    """One line: status, severity, rule, message, counterexample and the deciding rule."""
    label = _paint(_LABEL[finding.status], _STYLE[finding.status], color)
    head = f"{_clean(finding.target)}: " if with_target else ""
    parts = [
        f"{head}{label} [{finding.severity.value}] {_clean(finding.rule_key)}: {_clean(finding.message)}"
    ]
    if finding.status is Status.WAIVED:
        parts.append(f"waived: {_clean(finding.waiver_reason or '')}")
        return " | ".join(parts)
    if finding.counterexample:
        parts.append(f"counterexample: {_clean(finding.counterexample)}")
    if finding.evidence:
        deciding = finding.evidence[0]
        where = (
            f"{_clean(deciding.file)}:{deciding.line}"
            if deciding.line > 0
            else _clean(deciding.file)
        )
        more = f" (+{len(finding.evidence) - 1} more)" if len(finding.evidence) > 1 else ""
        parts.append(f"deciding rule: {where}: {_clean(deciding.text)}{more}")
    elif finding.policy_file and finding.status is not Status.ERROR:
        parts.append(f"policy: {_clean(finding.policy_file)}:{finding.policy_line}")
    return " | ".join(parts)


def render(report: RunReport, *, color: bool, quiet: bool, baseline: Baseline | None = None) -> str:
    findings = effective_findings(report)
    by_target: dict[str, list[Finding]] = {}
    for finding in findings:
        by_target.setdefault(finding.target, []).append(finding)
    infos = {t.name: t for t in report.targets}
    lines: list[str] = []
    for name in target_order(report, findings):
        own = by_target.get(name, [])
        problems = [f for f in own if f.status in _PROBLEMS]
        if quiet:
            lines.extend(finding_line(f, color=color, with_target=True) for f in problems)
            continue
        info = infos.get(name)
        files = f" ({_clean(', '.join(info.files))})" if info and info.files else ""
        lines.append(
            f"{_paint(_clean(name), chr(27) + '[1m', color)}{files}: {tally(own).summary()}"
        )
        shown = problems + [f for f in own if f.status is Status.WAIVED]
        lines.extend("  " + finding_line(f, color=color, with_target=False) for f in shown)
    if not quiet:
        lines.extend(f"note: {_clean(note)}" for note in report.notes)
    counts = tally(findings)
    bad = counts.failed or counts.indeterminate or counts.errors
    summary_style = _STYLE[Status.FAIL] if bad else _STYLE[Status.PASS]
    if baseline is not None:
        # Drift counts open results (anything but a pass) against the previous run.
        lines.append(
            f"since {_clean(baseline.describe_previous())}: {baseline.counts(findings).summary()}"
        )
    lines.append(_paint(counts.summary(), summary_style, color))
    return "\n".join(lines) + "\n"


def write(report: RunReport, path: Path, *, options: ReportOptions) -> None:
    atomic.write_text(path, render(report, color=False, quiet=False))
