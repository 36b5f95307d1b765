"""JUnit XML report (`--junit FILE`), valid against the Ant/Jenkins junit.xsd.

One <testsuite> per target x policy, one <testcase> per policy rule:
- pass: an empty testcase;
- fail: <failure message=… type=severity>, the text holding counterexample, deciding rules and
  the policy rule's origin;
- indeterminate: <failure> (default) or <skipped> with `indeterminate_as="skip"`, message
  prefixed "indeterminate: ";
- error (the target could not be read): <error>; when many rules of one target share the error
  (a host that could not be collected), one testcase `fwcheck/target-error` carries it and each
  rule is <skipped> with a message pointing at it;
- a fail or indeterminate below --fail-on says so in its message; every suite's properties hold
  the run's `fail-on` and `verdict` (the Ant schema allows properties on suites only);
- waived: <skipped message="waived: …">, never counted as passed;
- a rule's control ids (policy `controls:`) are a suite property `controls:RULE-ID` (the Ant
  schema has no testcase properties) and a line of the failure text.

GitLab and others key test cases on classname + name and merge duplicates, so the pair is made
unique across the whole file (after the xs:token whitespace collapse that XML schema processors
apply to both attributes). The Ant schema allows no attributes on <testsuites> and requires
properties, system-out and system-err in every suite, plus package and id; the counts live on
each suite. Text is built with xml.etree (which escapes &, <, > and quotes) after every character
XML 1.0 cannot carry (section 2.2, "Char") is replaced by a visible escape.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from checker.findings import Finding, Status
from checker.reports import atomic
from checker.reports.data import (
    READ_POLICY,
    ReportOptions,
    RunReport,
    below_threshold,
    capped,
    effective_findings,
    gate_verdict,
    printable,
    requirement_index,
    shared_causes,
    started_at_utc,
    target_order,
)
from checker.reports.flag import ReportFlag

# ElementTree is imported where used: every run imports this module (the reporter registry
# reads its FLAG), only a run asked for --junit needs it (bench/pre_commit.py).
if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from checker.reports.drift import Baseline

NAME = "junit"
FLAG: ReportFlag | None = ReportFlag(
    "--junit", "write a JUnit XML report (- : stdout)", "fwcheck-junit.xml"
)


def _text(text: str) -> str:
    return printable(capped(text))


def _token(text: str) -> str:
    """An xs:token value: no control characters, whitespace collapsed, never empty."""
    return printable(capped(text), one_line=True) or "-"


# A requirement not checked because its whole target could not be read: <skipped>, pointing at
# the target's one <error> testcase (fwcheck/target-error).
_NOT_CHECKED = "not-checked"
TARGET_ERROR_RULE = "target-error"


def _with_target_errors(findings: tuple[Finding, ...]) -> list[tuple[Finding, str]]:
    """Each finding with how to show it: an error many rules of one target share (a host that
    could not be collected) becomes one errored testcase for the target, and the rules it
    touches become skipped testcases that refer to it."""
    causes, _ = shared_causes(findings)
    member = {
        id(f): cause for cause in causes if cause.status is Status.ERROR for f in cause.findings
    }
    shown: list[tuple[Finding, str]] = []
    said: set[int] = set()
    for finding in findings:
        cause = member.get(id(finding))
        if cause is None:
            shown.append((finding, ""))
            continue
        if id(cause) not in said:
            said.add(id(cause))
            shown.append(
                (
                    replace(
                        finding,
                        policy=READ_POLICY,
                        rule=TARGET_ERROR_RULE,
                        title="target could not be checked",
                        severity=cause.severity,
                        policy_file=None,
                        policy_line=0,
                    ),
                    "",
                )
            )
        shown.append((finding, _NOT_CHECKED))
    return shown


def _detail(finding: Finding, report: RunReport) -> str:
    lines = [finding.message]
    if finding.counterexample:
        lines.append(f"counterexample: {finding.counterexample}")
    for evidence in finding.evidence:
        where = f"{evidence.file}:{evidence.line}" if evidence.line > 0 else evidence.file
        lines.append(f"deciding rule: {where}: {evidence.text}")
    req = requirement_index(report).get(finding.rule_key)
    if finding.policy_file:
        lines.append(f"policy rule: {finding.policy_file}:{finding.policy_line}")
    elif req is not None:
        lines.append(f"policy rule: {req.origin}")
    if req is not None and req.source:
        lines.append(f"source: {req.source}")
    if finding.controls:
        lines.append(f"controls: {', '.join(finding.controls)}")
    for name, value in finding.details:
        lines.append(f"{name}: {value}")
    return printable("\n".join(capped(line) for line in lines))


def _outcome(
    testcase: ET.Element, finding: Finding, report: RunReport, options: ReportOptions, mode: str
) -> str:
    """Add the failure/error/skipped child; return which one ("" for a pass)."""
    import xml.etree.ElementTree as ET

    message = _text(finding.message)
    status = finding.status
    if status is Status.PASS:
        return ""
    if mode == _NOT_CHECKED:
        ET.SubElement(
            testcase,
            "skipped",
            message=_text(
                f"not checked: {finding.target} could not be read or collected"
                f" (see {READ_POLICY}/{TARGET_ERROR_RULE})"
            ),
        ).text = _text(finding.message)
        return "skipped"
    if below_threshold(finding, options.fail_on):
        message += f" (below --fail-on {options.fail_on.value}: does not fail the run)"
    if status is Status.WAIVED:
        ET.SubElement(
            testcase, "skipped", message=_text(f"waived: {finding.waiver_reason or ''}")
        ).text = _detail(finding, report)
        return "skipped"
    if status is Status.ERROR:
        ET.SubElement(testcase, "error", message=message, type="error").text = _detail(
            finding, report
        )
        return "error"
    if status is Status.INDETERMINATE:
        message = f"indeterminate: {message}"
        if options.indeterminate_as == "skip":
            ET.SubElement(testcase, "skipped", message=message).text = _detail(finding, report)
            return "skipped"
    ET.SubElement(testcase, "failure", message=message, type=finding.severity.value).text = _detail(
        finding, report
    )
    return "failure"


def _unique(classname: str, name: str, taken: set[tuple[str, str]]) -> str:
    candidate, number = name, 1
    while (classname, candidate) in taken:
        number += 1
        candidate = f"{name} [{number}]"
    taken.add((classname, candidate))
    return candidate


def build(report: RunReport, options: ReportOptions) -> ET.Element:
    import xml.etree.ElementTree as ET

    findings = effective_findings(report)
    verdict = gate_verdict(findings, options.fail_on)
    # The Ant schema's timestamp is xs:dateTime without a zone (pattern ....-..-..T..:..:..).
    timestamp = started_at_utc(report).strftime("%Y-%m-%dT%H:%M:%S")
    hostname = _token(options.hostname)
    infos = {t.name: t for t in report.targets}
    groups: dict[tuple[str, str], list[tuple[Finding, str]]] = {}
    for finding, mode in _with_target_errors(findings):
        groups.setdefault((finding.target, finding.policy), []).append((finding, mode))
    order = {name: index for index, name in enumerate(target_order(report, findings))}
    root = ET.Element("testsuites")
    taken: set[tuple[str, str]] = set()
    for suite_id, (target, policy) in enumerate(sorted(groups, key=lambda k: (order[k[0]], k[1]))):
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_token(f"{target} / {policy}"),
            package=_token(target),
            id=str(suite_id),
            timestamp=timestamp,
            hostname=hostname,
            time="0",
        )
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="target", value=_text(target))
        ET.SubElement(properties, "property", name="policy", value=_text(policy))
        # The Ant schema allows properties only on suites: every suite carries the run's gate.
        ET.SubElement(properties, "property", name="fail-on", value=options.fail_on.value)
        ET.SubElement(properties, "property", name="verdict", value=verdict)
        info = infos.get(target)
        if info is not None:
            if info.platform:
                ET.SubElement(properties, "property", name="platform", value=_text(info.platform))
            for file in info.files:
                ET.SubElement(properties, "property", name="file", value=_text(file))
        # Control ids per rule: the Ant schema has no testcase properties, so the suite says them.
        for finding, _mode in groups[(target, policy)]:
            if finding.controls:
                ET.SubElement(
                    properties,
                    "property",
                    name=_text(f"controls:{finding.rule}"),
                    value=_text(", ".join(finding.controls)),
                )
        counts = {"failure": 0, "error": 0, "skipped": 0, "": 0}
        classname = _token(f"{target}.{policy}")
        for finding, mode in groups[(target, policy)]:
            title = f" - {finding.title}" if finding.title else ""
            name = _unique(classname, _token(f"{finding.rule}{title}"), taken)
            testcase = ET.SubElement(suite, "testcase", name=name, classname=classname, time="0")
            counts[_outcome(testcase, finding, report, options, mode)] += 1
        suite.set("tests", str(len(groups[(target, policy)])))
        suite.set("failures", str(counts["failure"]))
        suite.set("errors", str(counts["error"]))
        suite.set("skipped", str(counts["skipped"]))
        ET.SubElement(suite, "system-out").text = ""
        ET.SubElement(suite, "system-err").text = ""
    return root


def render(report: RunReport, options: ReportOptions) -> bytes:
    import xml.etree.ElementTree as ET

    root = build(report, options)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write(report: RunReport, path: Path, *, options: ReportOptions) -> None:
    atomic.write_bytes(path, render(report, options))


def encode(report: RunReport, options: ReportOptions, baseline: Baseline | None) -> bytes:
    # JUnit has no notion of a baseline: drift is not shown.
    return render(report, options)
