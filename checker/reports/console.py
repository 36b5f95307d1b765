"""Console report: grouped by target, one line per problem, then the summary line.

Colour only when the caller asks (it knows whether stdout is a terminal); every piece of text
from a firewall export or a policy goes through `printable()` first, so a rule comment holding
an ANSI escape cannot repaint the terminal or forge a line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from checker.findings import Finding, Severity, Status
from checker.reports import atomic, exposure_table
from checker.reports.data import (
    Cause,
    ReportOptions,
    RunReport,
    TargetInfo,
    below_threshold,
    capped,
    effective_findings,
    gate_summary,
    gate_verdict,
    printable,
    shared_causes,
    tally,
    target_order,
)
from checker.reports.flag import ReportFlag
from checker.waivers import WAIVER_POLICY

if TYPE_CHECKING:
    from checker.reports.drift import Baseline

NAME = "console"
# The console summary is always printed (reports/publish.print_console): no flag asks for it.
FLAG: ReportFlag | None = None

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
    return printable(capped(text), one_line=True)


def _severity(finding: Finding, fail_on: Severity) -> str:
    if below_threshold(finding, fail_on):
        return f"[{finding.severity.value}, below --fail-on {fail_on.value}]"
    return f"[{finding.severity.value}]"


def finding_line(
    finding: Finding, *, color: bool, with_target: bool, fail_on: Severity = Severity.INFO
) -> str:
    """One line: status, severity, rule, message (which states the flow), the counterexample when
    the message does not state it, and the deciding rule."""
    label = _paint(_LABEL[finding.status], _STYLE[finding.status], color)
    head = f"{_clean(finding.target)}: " if with_target else ""
    parts = [
        f"{head}{label} {_severity(finding, fail_on)} {_clean(finding.rule_key)}: {_clean(finding.message)}"
    ]
    if finding.status is Status.WAIVED:
        parts.append(f"waived: {_clean(finding.waiver_reason or '')}")
        return " | ".join(parts)
    if finding.counterexample and finding.counterexample not in finding.message:
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
    if finding.controls:
        parts.append(f"controls: {_clean(', '.join(finding.controls))}")
    return " | ".join(parts)


def cause_line(
    cause: Cause, *, color: bool, with_target: bool, fail_on: Severity = Severity.INFO
) -> str:
    """One line for a cause several results share: status, how many rules, the message, and
    the first rules it touches."""
    label = _paint(_LABEL[cause.status], _STYLE[cause.status], color)
    head = f"{_clean(cause.target)}: " if with_target else ""
    keys = [f.rule_key for f in cause.findings]
    named = ", ".join(_clean(k) for k in keys[:3])
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    below = all(below_threshold(f, fail_on) for f in cause.findings)
    severity = f"up to {cause.severity.value}" + (
        f", below --fail-on {fail_on.value}" if below and cause.status is not Status.ERROR else ""
    )
    return (
        f"{head}{label} [{severity}] {len(keys)} rules: {_clean(cause.message)}"
        f" | rules: {named}{more}"
    )


def _waiver_line(finding: Finding, *, with_target: bool) -> str:
    """A problem with a waiver file (expired, malformed): a waiver problem at file:line, not a
    failed check of a target named after the waiver file."""
    where = (
        f"{finding.policy_file}:{finding.policy_line}" if finding.policy_file else finding.target
    )
    head = f"{_clean(finding.target)}: " if with_target else ""
    return f"{head}WAIVER PROBLEM {_clean(where)}: {_clean(finding.message)}"


def render(
    report: RunReport,
    *,
    color: bool,
    quiet: bool,
    baseline: Baseline | None = None,
    fail_on: Severity = Severity.INFO,
) -> str:
    findings = effective_findings(report)
    by_target: dict[str, list[Finding]] = {}
    for finding in findings:
        by_target.setdefault(finding.target, []).append(finding)
    infos = {t.name: t for t in report.targets}
    lines: list[str] = []
    for name in target_order(report, findings):
        lines.extend(
            target_lines(
                name,
                by_target.get(name, []),
                infos.get(name),
                color=color,
                quiet=quiet,
                fail_on=fail_on,
            )
        )
    lines.extend(
        summary_lines(
            report, findings, color=color, quiet=quiet, baseline=baseline, fail_on=fail_on
        )
    )
    return "\n".join(lines) + "\n"


def target_lines(
    name: str,
    own: list[Finding],
    info: TargetInfo | None,
    *,
    color: bool,
    quiet: bool,
    fail_on: Severity,
) -> list[str]:
    """The lines of one target (`own`: its findings in report order; `info`: None for a name
    only findings give, e.g. a waiver file). Streamed fleet runs print these per host."""
    lines: list[str] = []
    if own and all(f.policy == WAIVER_POLICY for f in own) and info is None:
        if not quiet:
            lines.append(f"waiver problems in {_clean(name)}: {len(own)}")
        lines.extend(("" if quiet else "  ") + _waiver_line(f, with_target=quiet) for f in own)
        return lines
    # A cause that many results share (a host that could not be collected, no IPv6
    # ruleset) is said once, not once per rule.
    causes, single = shared_causes(own)
    problems = [f for f in single if f.status in _PROBLEMS]
    said = [cause_line(c, color=color, with_target=quiet, fail_on=fail_on) for c in causes] + [
        finding_line(f, color=color, with_target=quiet, fail_on=fail_on) for f in problems
    ]
    if quiet:
        return said
    files = f" ({_clean(', '.join(info.files))})" if info and info.files else ""
    lines.append(f"{_paint(_clean(name), chr(27) + '[1m', color)}{files}: {tally(own).summary()}")
    lines.extend("  " + line for line in said)
    lines.extend(
        "  " + finding_line(f, color=color, with_target=False, fail_on=fail_on)
        for f in own
        if f.status is Status.WAIVED
    )
    return lines


def summary_lines(
    report: RunReport,
    findings: tuple[Finding, ...] | list[Finding],
    *,
    color: bool,
    quiet: bool,
    baseline: Baseline | None,
    fail_on: Severity,
) -> list[str]:
    """The notes, the drift line and the run's summary. Only statuses, severities and result
    keys of `findings` are read (a streamed run passes their summary view)."""
    lines: list[str] = []
    if not quiet:
        lines.extend(f"note: {_clean(note)}" for note in report.notes)
    counts = tally(findings)
    bad = gate_verdict(findings, fail_on) != "pass"
    summary_style = _STYLE[Status.FAIL] if bad else _STYLE[Status.PASS]
    if baseline is not None:
        # Drift counts open results (anything but a pass) against the previous run.
        lines.append(
            f"since {_clean(baseline.describe_previous())}: {baseline.counts(findings).summary()}"
        )
        new = exposure_table.new_since(findings, baseline)
        if new:
            lines.append(f"new exposure since last run: {_clean(exposure_table.new_text(new))}")
    verdict = gate_summary(findings, fail_on)
    lines.append(_paint(f"{counts.summary()}; {verdict}", summary_style, color))
    return lines


def write(report: RunReport, path: Path, *, options: ReportOptions) -> None:
    atomic.write_text(path, render(report, color=False, quiet=False, fail_on=options.fail_on))


def encode(report: RunReport, options: ReportOptions, baseline: Baseline | None) -> bytes:
    return render(
        report, color=False, quiet=False, baseline=baseline, fail_on=options.fail_on
    ).encode("utf-8")
