"""SARIF 2.1.0 report (`--sarif FILE`) for GitHub code scanning and other SARIF consumers.

Rules of the format (OASIS SARIF 2.1.0, and GitHub's "SARIF support for code scanning"):
- One reportingDescriptor per policy rule, id "policy-id/rule-id", with shortDescription,
  fullDescription, help (text + markdown: what is required, why, the source document) and
  properties.security-severity. GitHub maps that score like CVSS: >= 9.0 critical, 7.0-8.9 high,
  4.0-6.9 medium, 0.1-3.9 low; we use a value well inside each band (info has no band of its
  own, so it sits at the bottom of "low").
- Only fail, indeterminate and waived results are written: GitHub turns every result into an
  alert, so a pass would be a false alarm. Indeterminate results are kind "fail" (GitHub ignores
  other kinds) with the property fwcheck/status = "indeterminate" and a message saying so.
- Every result has a physical location with a repo-relative uri and region.startLine >= 1
  (GitHub rejects the whole upload otherwise): the first deciding firewall rule that sits in a
  file (evidence names a file when the target's `files` list it or it exists on disk; a live
  host's "ssh://db1" or a registry key does not), else the policy rule's line, else the target's
  first file. Other evidence and the policy rule go to relatedLocations (at most 100: GitHub
  keeps no more per result).
- Control ids (policy `controls:`): the rule's properties.tags (at most 10, GitHub's display
  limit) and fwcheck/controls, and one run.taxonomies entry per framework with each rule's
  relationships to its taxa (checker.reports.taxonomies).
- partialFingerprints["fwcheck/v1"] hashes the target, the rule key and the deciding evidence's
  text with counters and whitespace normalized: stable when lines move, new when the deciding rule
  changes. Line numbers are not part of it.
- Waived results carry suppressions (kind external, status accepted); once one does, every result
  carries the property (an empty list when not suppressed), as section 3.27.23 requires.
- One toolExecutionNotification per target-level error (a host that could not be collected),
  however many rules it left unchecked; run.invocations[0].properties hold the run's gate
  (fwcheck/fail-on, fwcheck/verdict), and a result below --fail-on has fwcheck/below-threshold.
- Message text has bidi controls made visible and each line capped (data.capped): a 1 MB rule
  name stays in the JSON report, not in every alert.
- At most `sarif_max_results` results (25,000) and `sarif_max_gzip_bytes` (10 MB gzipped):
  beyond that the most severe results are kept, in a fixed order, and a warning notification in
  run.invocations says how many were left out.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from checker.findings import Evidence, Finding, Severity, Status
from checker.policies.model import Requirement
from checker.reports import atomic, taxonomies
from checker.reports.data import (
    INFORMATION_URI,
    TOOL_NAME,
    ReportOptions,
    RunReport,
    below_threshold,
    capped,
    describe_requirement,
    effective_findings,
    gate_verdict,
    printable,
    requirement_index,
    started_at_utc,
)
from checker.reports.flag import ReportFlag

if TYPE_CHECKING:
    from checker.reports.drift import Baseline

NAME = "sarif"
FLAG: ReportFlag | None = ReportFlag(
    "--sarif", "write a SARIF 2.1.0 report (- : stdout)", "fwcheck.sarif"
)
SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
FINGERPRINT_KEY = "fwcheck/v1"
SRCROOT = "%SRCROOT%"
POLICYROOT = "POLICYROOT"

SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_MAX_RELATED = 100
_REPORTED = (Status.FAIL, Status.INDETERMINATE, Status.WAIVED)
_STATUS_ORDER = {Status.FAIL: 0, Status.INDETERMINATE: 1, Status.WAIVED: 2}


# --- locations -----------------------------------------------------------------------------


class _Locator:
    """Turns file paths into SARIF artifactLocations relative to the repo (or policy) root."""

    def __init__(self, report: RunReport, options: ReportOptions) -> None:
        self.repo_root = Path(os.path.abspath(options.repo_root))
        self.policy_root = (
            Path(os.path.abspath(options.policy_root)) if options.policy_root else None
        )
        self.target_files = {t.name: set(t.files) for t in report.targets}
        self.used_policy_root = False
        self.fail_on = options.fail_on

    def is_file(self, finding: Finding, evidence: Evidence) -> bool:
        """Evidence names a file (not a live host or a registry key) when the target read it."""
        if evidence.line < 1:
            return False
        if evidence.file in self.target_files.get(finding.target, ()):
            return True
        return os.path.isfile(evidence.file)

    def artifact(self, file: str) -> dict[str, Any]:
        absolute = Path(os.path.abspath(file))
        if absolute.is_relative_to(self.repo_root):
            return {"uri": _uri(absolute.relative_to(self.repo_root)), "uriBaseId": SRCROOT}
        if self.policy_root is not None and absolute.is_relative_to(self.policy_root):
            self.used_policy_root = True
            return {"uri": _uri(absolute.relative_to(self.policy_root)), "uriBaseId": POLICYROOT}
        # Outside both roots: still a relative reference, never a local absolute path.
        return {"uri": _uri(Path(os.path.relpath(absolute, self.repo_root))), "uriBaseId": SRCROOT}


def _uri(relative: Path) -> str:
    # The path's own bytes, percent-encoded (RFC 3986): a name that is not UTF-8 (decoded with
    # surrogateescape) still names its file.
    return quote(os.fsencode(relative.as_posix()), safe="/")


def _physical(locator: _Locator, file: str, line: int, text: str | None = None) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": max(line, 1)}
    if text:
        region["snippet"] = {"text": text}
    return {"physicalLocation": {"artifactLocation": locator.artifact(file), "region": region}}


def _locations(
    finding: Finding, req: Requirement | None, locator: _Locator, report: RunReport
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    candidates: list[tuple[str, int, str]] = []  # (file, line, what) in order of preference
    for evidence in finding.evidence:
        if locator.is_file(finding, evidence):
            candidates.append((evidence.file, evidence.line, f"deciding rule: {evidence.text}"))
    if finding.policy_file:
        candidates.append((finding.policy_file, finding.policy_line, "policy rule"))
    elif req is not None and req.origin.file:
        candidates.append((req.origin.file, req.origin.line, "policy rule"))
    if not candidates:
        files = [f for t in report.targets if t.name == finding.target for f in t.files]
        # Last resort so the result keeps a location: GitHub rejects the upload otherwise.
        candidates.append((files[0] if files else f"policies/{finding.policy}.yaml", 1, "target"))
    primary_file, primary_line, _ = candidates[0]
    primary = _physical(locator, primary_file, primary_line)
    related = []
    for index, (file, line, what) in enumerate(candidates[1 : _MAX_RELATED + 1], start=1):
        location = _physical(locator, file, line)
        location["id"] = index
        location["message"] = {"text": what}
        related.append(location)
    return primary, related


# --- fingerprints --------------------------------------------------------------------------

# Packet/byte counters change on every export without changing the rule: iptables-save -c puts
# "[12:3456]" before a rule and after a chain policy (":INPUT DROP [0:0]"), nft prints
# "counter packets 12 bytes 3456".
_COUNTERS = re.compile(r"\[\d+:\d+\]|\bpackets \d+ bytes \d+\b")


def _normalized(text: str) -> str:
    return " ".join(_COUNTERS.sub(" ", text).split())


def fingerprint(finding: Finding) -> str:
    parts = [finding.target, finding.rule_key] + [_normalized(e.text) for e in finding.evidence]
    if not finding.evidence and finding.counterexample:
        parts.append(_normalized(finding.counterexample))
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:32]


# --- rules ---------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Escape Markdown (and inline HTML) so policy text renders as written."""
    return re.sub(r"([\\`*_{}\[\]<>&|#~!])", r"\\\1", text)


def _rule_from_requirement(req: Requirement) -> dict[str, Any]:
    what = describe_requirement(req)
    why = req.policy_title or req.policy_id
    source = req.source or "not given"
    text = f"{req.title}\n\nRequired: {what}.\nPolicy: {why} ({req.policy_id}).\nSource: {source}.\nDefined at {req.origin}."
    markdown = (
        f"**{_md(req.title)}**\n\n"
        f"- **Required:** {_md(what)}\n"
        f"- **Why:** policy *{_md(why)}* (`{req.policy_id}`)\n"
        f"- **Source:** {_md(source)}\n"
        f"- **Defined at:** `{req.origin}`\n"
    )
    rule: dict[str, Any] = {
        "id": req.key,
        "name": _pascal(req.key),
        "shortDescription": {"text": req.title or req.key},
        "fullDescription": {"text": f"{req.title or req.key}: {what}."},
        "help": {"text": text, "markdown": markdown},
        "defaultConfiguration": {"level": LEVEL[req.severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[req.severity],
            "tags": taxonomies.tags(["security", "firewall", req.policy_id], req.controls),
            "precision": "very-high",
        },
    }
    if req.controls:
        rule["properties"]["fwcheck/controls"] = list(req.controls)
    if req.source and re.match(r"https?://", req.source):
        rule["helpUri"] = req.source
    return rule


def _rule_from_finding(finding: Finding) -> dict[str, Any]:
    title = finding.title or finding.rule_key
    return {
        "id": finding.rule_key,
        "name": _pascal(finding.rule_key),
        "shortDescription": {"text": title},
        "fullDescription": {"text": f"{title} (reported by fwcheck itself, not by a policy rule)."},
        "help": {"text": title, "markdown": _md(title)},
        "defaultConfiguration": {"level": LEVEL[finding.severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[finding.severity],
            "tags": taxonomies.tags(["security", "firewall"], finding.controls),
        },
    }


def _pascal(key: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", key)
    return "".join(w[:1].upper() + w[1:] for w in words if w) or "Rule"


# --- results -------------------------------------------------------------------------------


def _message(finding: Finding) -> str:
    lines = []
    if finding.status is Status.INDETERMINATE:
        lines.append(
            f"Indeterminate (fwcheck cannot prove this rule either way): {finding.message}"
        )
    else:
        lines.append(finding.message)
    if finding.counterexample:
        lines.append(f"Counterexample: {finding.counterexample}")
    for evidence in finding.evidence:
        where = f"{evidence.file}:{evidence.line}" if evidence.line > 0 else evidence.file
        lines.append(f"Deciding rule: {where}: {evidence.text}")
    if finding.status is Status.WAIVED:
        lines.append(f"Waived: {finding.waiver_reason or ''}")
    # Bidi controls are made visible and each piece is capped: the JSON report keeps it whole.
    return printable("\n".join(capped(line) for line in lines))


def _result(
    finding: Finding,
    rule_index: int,
    req: Requirement | None,
    locator: _Locator,
    report: RunReport,
    baseline: Baseline | None = None,
) -> dict[str, Any]:
    primary, related = _locations(finding, req, locator, report)
    fail_on = locator.fail_on
    result: dict[str, Any] = {
        "ruleId": finding.rule_key,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": LEVEL[finding.severity],
        "message": {"text": _message(finding)},
        "locations": [primary],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding)},
        "properties": {
            "fwcheck/target": finding.target,
            "fwcheck/status": finding.status.value,
            "fwcheck/severity": finding.severity.value,
        },
    }
    if below_threshold(finding, fail_on):
        result["properties"]["fwcheck/below-threshold"] = True
    if finding.counterexample:
        result["properties"]["fwcheck/counterexample"] = printable(capped(finding.counterexample))
    if baseline is not None:
        # §3.27.24: written results are open ones, so their state is "new" or "unchanged".
        result["baselineState"] = baseline.state(finding).value
    if related:
        result["relatedLocations"] = related
    if finding.status is Status.WAIVED:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": finding.waiver_reason or "waived",
            }
        ]
    return result


def _sort_key(finding: Finding) -> tuple[Any, ...]:
    return (
        -finding.severity.rank,
        _STATUS_ORDER[finding.status],
        finding.target,
        finding.rule_key,
        fingerprint(finding),
    )


def _document(
    report: RunReport,
    options: ReportOptions,
    findings: list[Finding],
    total: int,
    limit_note: str,
    baseline: Baseline | None = None,
) -> dict[str, Any]:
    locator = _Locator(report, options)
    requirements = requirement_index(report)
    rules: list[dict[str, Any]] = [_rule_from_requirement(req) for req in requirements.values()]
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    reported_all = [f for f in effective_findings(report) if f.status in _REPORTED]
    for finding in reported_all:
        if finding.rule_key not in index:
            index[finding.rule_key] = len(rules)
            rules.append(_rule_from_finding(finding))
    # Control ids: one taxonomy per framework, each rule related to its taxa (SARIF 3.49.15).
    run_taxonomies, relationships = taxonomies.build(requirements.values())
    for rule in rules:
        if rule["id"] in relationships:
            rule["relationships"] = relationships[rule["id"]]
    results = [
        _result(f, index[f.rule_key], requirements.get(f.rule_key), locator, report, baseline)
        for f in findings
    ]
    if any("suppressions" in r for r in results):
        for result in results:
            result.setdefault("suppressions", [])
    notifications: list[dict[str, Any]] = []
    everything = effective_findings(report)
    errors = [f for f in everything if f.status is Status.ERROR]
    # One notification per target-level error, however many rules it left unchecked.
    said: dict[tuple[str, str], int] = {}
    for finding in errors:
        said[(finding.target, finding.message)] = said.get((finding.target, finding.message), 0) + 1
    for (target, message), unchecked in said.items():
        text = f"{target}: {message}"
        if unchecked > 1:
            text += f" ({unchecked} rules not checked)"
        notifications.append(
            {
                "level": "error",
                "message": {"text": printable(capped(text))},
                "descriptor": {"id": "fwcheck/target-error"},
            }
        )
    for note in report.notes:
        notifications.append({"level": "note", "message": {"text": note}})
    if len(findings) < total:
        notifications.append(
            {
                "level": "warning",
                "descriptor": {"id": "fwcheck/truncated"},
                "message": {
                    "text": f"SARIF truncated: {len(findings)} of {total} results written ({limit_note}); the most severe are kept. See the JSON or HTML report for all of them."
                },
            }
        )
    invocation: dict[str, Any] = {
        "executionSuccessful": not errors,
        "startTimeUtc": started_at_utc(report).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "properties": {
            "fwcheck/fail-on": options.fail_on.value,
            "fwcheck/verdict": gate_verdict(everything, options.fail_on),
        },
    }
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": report.tool_version,
                "semanticVersion": report.tool_version,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "invocations": [invocation],
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": {"fwcheck/results-total": total, "fwcheck/results-written": len(findings)},
    }
    if run_taxonomies:
        run["taxonomies"] = run_taxonomies
    if locator.used_policy_root and options.policy_root is not None:
        run["originalUriBaseIds"] = {
            POLICYROOT: {
                "uri": Path(os.path.abspath(options.policy_root)).as_uri().rstrip("/") + "/",
                "description": {"text": "fwcheck's policy folder (outside the repository)"},
            }
        }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _encode(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=1, ensure_ascii=True) + "\n").encode("ascii")


def _gzipped_size(data: bytes) -> int:
    # mtime=0 so the size (and the test) does not depend on the clock.
    return len(gzip.compress(data, compresslevel=6, mtime=0))


def render(report: RunReport, options: ReportOptions, baseline: Baseline | None = None) -> bytes:
    reported = sorted(
        (f for f in effective_findings(report) if f.status in _REPORTED), key=_sort_key
    )
    total = len(reported)
    keep = min(total, options.sarif_max_results)
    limit_note = f"at most {options.sarif_max_results} results per run"
    data = _encode(_document(report, options, reported[:keep], total, limit_note, baseline))
    if _gzipped_size(data) <= options.sarif_max_gzip_bytes:
        return data
    # Binary search for the largest prefix that fits: size grows with the number of results.
    limit_note = f"at most {options.sarif_max_gzip_bytes} bytes gzipped"
    low, high = 0, keep - 1
    best = _encode(_document(report, options, [], total, limit_note, baseline))
    while low <= high:
        middle = (low + high) // 2
        candidate = _encode(
            _document(report, options, reported[:middle], total, limit_note, baseline)
        )
        if _gzipped_size(candidate) <= options.sarif_max_gzip_bytes:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def write(
    report: RunReport, path: Path, *, options: ReportOptions, baseline: Baseline | None = None
) -> None:
    atomic.write_bytes(path, render(report, options, baseline))


def encode(report: RunReport, options: ReportOptions, baseline: Baseline | None) -> bytes:
    return render(report, options, baseline)
