"""JSON report (`--json FILE`): the whole run, described by schemas/report.schema.json.

Shape (version 2): ``{"version": 2, "tool": {...}, "started_at": ..., "targets": [...],
"rules": [...], "results": [...], "summary": {...}, "notes": [...], "gate": {...}}``. `gate` holds --fail-on and the run's
verdict under it; each result says whether it is `below_threshold`. Every finding is a
result, passes included; a target that could not be read also gets an `error` result (policy
"fwcheck", rule "read-target") so that `summary` agrees with the other formats.

Version 2 adds the structured fields (checker.reports.json_fields): each rule's `requirement`
(what the description sentence says, as fields), each result's `outcome` (the engine's
status, reason code and parameters, the counterexample flow as fields) and each evidence
item's chain and table or store. docs/reports.md, "JSON report v2: what changed from v1".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checker.findings import Finding, Severity
from checker.policies import settings
from checker.policies.model import Requirement
from checker.reports import atomic
from checker.reports.data import (
    INFORMATION_URI,
    TOOL_NAME,
    ReportOptions,
    RunReport,
    TargetInfo,
    below_threshold,
    describe_requirement,
    effective_findings,
    gate_verdict,
    tally,
    unique_requirements,
)
from checker.reports.flag import ReportFlag
from checker.reports.json_fields import evidence_to_json, outcome_to_json, requirement_to_json

if TYPE_CHECKING:
    from checker.reports.drift import Baseline

NAME = "json"
FLAG: ReportFlag | None = ReportFlag(
    "--json",
    "write the JSON report (- : to stdout, summary to stderr)",
    "fwcheck.json",
)
VERSION = 2


def _target(target: TargetInfo) -> dict[str, Any]:
    return {
        "name": target.name,
        "files": list(target.files),
        "roles": list(target.roles),
        "platform": target.platform,
        "error": target.error,
    }


def _rule(req: Requirement) -> dict[str, Any]:
    return {
        "id": req.key,
        "policy": req.policy_id,
        "rule": req.rule_id,
        "title": req.title,
        "policy_title": req.policy_title,
        "description": describe_requirement(req),
        "severity": req.severity.value,
        "source": req.source,
        "file": req.origin.file,
        "line": req.origin.line,
        "controls": list(req.controls),
        "setting": settings.to_json(req.setting) if req.setting is not None else None,
        "requirement": requirement_to_json(req),
    }


def _result(finding: Finding, fail_on: Severity) -> dict[str, Any]:
    return {
        "target": finding.target,
        "policy": finding.policy,
        "rule": finding.rule,
        "title": finding.title,
        "status": finding.status.value,
        "severity": finding.severity.value,
        "message": finding.message,
        "counterexample": finding.counterexample,
        "evidence": [evidence_to_json(e) for e in finding.evidence],
        "policy_file": finding.policy_file,
        "policy_line": finding.policy_line,
        "details": [{"name": k, "value": v} for k, v in finding.details],
        "waiver_reason": finding.waiver_reason,
        "below_threshold": below_threshold(finding, fail_on),
        "controls": list(finding.controls),
        "outcome": outcome_to_json(finding.outcome),
    }


def to_dict(report: RunReport, options: ReportOptions | None = None) -> dict[str, Any]:
    findings = effective_findings(report)
    fail_on = options.fail_on if options is not None else Severity.INFO
    counts = tally(findings)
    return {
        "version": VERSION,
        "tool": {"name": TOOL_NAME, "version": report.tool_version, "url": INFORMATION_URI},
        "started_at": report.started_at,
        "targets": [_target(t) for t in report.targets],
        "rules": [_rule(r) for r in unique_requirements(report)],
        "results": [_result(f, fail_on) for f in findings],
        "summary": {
            "pass": counts.passed,
            "fail": counts.failed,
            "indeterminate": counts.indeterminate,
            "error": counts.errors,
            "waived": counts.waived,
        },
        "notes": list(report.notes),
        "gate": {"fail_on": fail_on.value, "verdict": gate_verdict(findings, fail_on)},
    }


def render(report: RunReport, options: ReportOptions | None = None) -> str:
    # ensure_ascii keeps the file 7-bit clean: no encoding surprises in CI log viewers, and lone
    # surrogates from a hostile export stay valid JSON escapes.
    return json.dumps(to_dict(report, options), indent=2, ensure_ascii=True) + "\n"


def write(report: RunReport, path: Path, *, options: ReportOptions) -> None:
    atomic.write_text(path, render(report, options))


def encode(report: RunReport, options: ReportOptions, baseline: Baseline | None) -> bytes:
    # The JSON report (schema version 1) has no place for drift: `baseline` is not shown.
    return render(report, options).encode("utf-8")
