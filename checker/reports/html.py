"""HTML report (`--html FILE`): one self-contained page a compliance officer can open offline.

Inline CSS only: no scripts, no images, no fonts, no links to load; a Content-Security-Policy of
`default-src 'none'` makes the browser refuse any fetch even if one slipped in. First the gate
(--fail-on and its verdict), then a target x policy matrix (pass / fail / indeterminate / error /
waived counts per cell; each count of open or waived results links to them), a control x target
matrix when rules carry control ids (checker.reports.html_controls), then one foldable
section per target (<details>) with its results grouped by policy: failures and indeterminate
results with counterexample, deciding rules and the policy's source, and the waived ones. A cause
that several results of a target share (a host that could not be collected, no IPv6 ruleset) is
one card, and the results it covers point at it. Checkboxes filter the results by status and
severity with CSS alone (`:has()`), so the page still runs no script. Every piece of text is
HTML-escaped (quotes too) after control characters and bidi controls are made visible, and long
text is capped (the JSON report keeps it whole), so a rule comment like `<script>` is shown,
never run.
"""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

from checker.findings import Finding, Severity, Status
from checker.reports import atomic, exposure_table
from checker.reports.data import (
    Cause,
    ReportOptions,
    RunReport,
    Tally,
    below_threshold,
    capped,
    describe_requirement,
    effective_findings,
    gate_summary,
    gate_verdict,
    printable,
    requirement_index,
    shared_causes,
    tally,
    target_order,
    unique_requirements,
)
from checker.reports.flag import ReportFlag
from checker.reports.html_controls import controls_section

if TYPE_CHECKING:
    from checker.reports.drift import Baseline

NAME = "html"
FLAG: ReportFlag | None = ReportFlag(
    "--html", "write a self-contained HTML report (- : stdout)", "fwcheck.html"
)
# Rows per drift state in "Changed since last run"; the counts above the table stay exact.
_MAX_CHANGE_ROWS = 500

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #1b1f24; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
.meta { color: #57606a; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #d0d7de; padding: 0.35em 0.7em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.cell span { display: inline-block; min-width: 2.2em; margin-right: 0.3em; padding: 0 0.3em; border-radius: 3px; }
.pass { background: #dafbe1; } .fail { background: #ffd7d5; } .indeterminate { background: #fff1c2; }
.error { background: #f5d0ff; } .waived { background: #ddf4ff; }
td.ok { background: #eefbf1; } td.bad { background: #fff0ef; } td.empty { color: #8c959f; }
.finding { border: 1px solid #d0d7de; border-left: 6px solid #cf222e; padding: 0.6em 1em; margin: 0.8em 0; }
.finding.indeterminate-f { border-left-color: #bf8700; background: none; }
.finding.waived-f { border-left-color: #0969da; }
.finding.error-f { border-left-color: #8250df; }
code, pre { font: 12.5px/1.4 ui-monospace, monospace; background: #f6f8fa; }
pre { padding: 0.4em 0.6em; white-space: pre-wrap; overflow-wrap: anywhere; }
.summary { font-weight: 600; }
tr.new td:first-child { background: #ffd7d5; } tr.fixed td:first-child { background: #dafbe1; }
tr.absent td:first-child { background: #eaeef2; }
td.cell a { color: inherit; text-decoration: none; } td.cell a:hover { text-decoration: underline; }
.gate { font-weight: 600; padding: 0.4em 0.7em; display: inline-block; border-radius: 4px; }
.gate.pass { background: #dafbe1; } .gate.fail, .gate.error { background: #ffd7d5; }
.filters { margin: 0.6em 0; } .filters label { margin-right: 0.9em; white-space: nowrap; }
details.target { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.3em 1em; margin: 0.8em 0; }
details.target > summary { cursor: pointer; font-weight: 600; font-size: 1.1em; }
.below { opacity: 0.75; } .below-note { color: #57606a; font-style: italic; }
.cause { border-left-style: double; } .refers { color: #57606a; }
"""
_STATUSES = ("fail", "indeterminate", "error", "waived")
# One rule per status and severity: unticking a box hides the cards carrying that value.
_FILTER_CSS = "\n".join(
    [
        f'body:has(#show-{v}:not(:checked)) [data-{k}="{v}"].finding {{ display: none; }}'
        for k, values in (("status", _STATUSES), ("severity", [s.value for s in Severity]))
        for v in values
    ]
)

_KINDS = (
    ("pass", Status.PASS, "passed"),
    ("fail", Status.FAIL, "failed"),
    ("indeterminate", Status.INDETERMINATE, "indeterminate"),
    ("error", Status.ERROR, "errors"),
    ("waived", Status.WAIVED, "waived"),
)


def _e(text: object) -> str:
    return html.escape(printable(capped(str(text))), quote=True)


def _id(prefix: str, *parts: str) -> str:
    """An element id from any text: a hash, so hostile names cannot break the attribute."""
    key = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return f"{prefix}-{hashlib.sha256(key).hexdigest()[:12]}"


def _cell(counts: Tally, anchor: str = "") -> str:
    values = {
        "pass": counts.passed,
        "fail": counts.failed,
        "indeterminate": counts.indeterminate,
        "error": counts.errors,
        "waived": counts.waived,
    }
    state = "bad" if counts.failed or counts.indeterminate or counts.errors else "ok"
    attrs = " ".join(f'data-{kind}="{values[kind]}"' for kind, _, _ in _KINDS)
    # Passes are counted, not listed: only the other counts link to their results.
    spans = " ".join(
        f'<span class="{kind}" title="{label}">'
        + (
            f'<a href="#{anchor}">{values[kind]} {label}</a>'
            if anchor and kind != "pass"
            else f"{values[kind]} {label}"
        )
        + "</span>"
        for kind, _, label in _KINDS
        if values[kind]
    )
    return f'<td class="cell {state}" {attrs}>{spans}</td>'


def _source(text: str | None) -> str:
    if not text:
        return "not given"
    # A link is not a fetch; only http(s) becomes one, so no javascript: or file: reaches href.
    if re.fullmatch(r"https?://[^\s\"'<>]+", text):
        return f'<a href="{_e(text)}" rel="noreferrer">{_e(text)}</a>'
    return _e(text)


def _finding_block(finding: Finding, report: RunReport, fail_on: Severity = Severity.INFO) -> str:
    req = requirement_index(report).get(finding.rule_key)
    kind = finding.status.value
    title = finding.title or (req.title if req is not None else "")
    below = below_threshold(finding, fail_on)
    parts = [
        f'<div class="finding {kind}-f{" below" if below else ""}" data-status="{kind}" '
        f'data-severity="{finding.severity.value}" data-target="{_e(finding.target)}" '
        f'data-rule="{_e(finding.rule_key)}" data-below-threshold="{str(below).lower()}">',
        f"<h3>{_e(finding.status.value.upper())} · {_e(finding.target)} · <code>{_e(finding.rule_key)}</code>"
        f"{' — ' + _e(title) if title else ''}</h3>",
        f"<p>Severity: <b>{_e(finding.severity.value)}</b>"
        + (
            f' <span class="below-note">(below --fail-on {_e(fail_on.value)}: does not fail the run)</span>'
            if below
            else ""
        )
        + f". {_e(finding.message)}</p>",
    ]
    if finding.counterexample:
        parts.append(
            f'<p>Counterexample: <code class="counterexample">{_e(finding.counterexample)}</code></p>'
        )
    if finding.evidence:
        parts.append("<p>Deciding rule(s):</p><ul>")
        for evidence in finding.evidence:
            where = f"{evidence.file}:{evidence.line}" if evidence.line > 0 else evidence.file
            parts.append(
                f'<li><code class="where">{_e(where)}</code><pre class="evidence">{_e(evidence.text)}</pre></li>'
            )
        parts.append("</ul>")
    if req is not None:
        parts.append(f"<p>Required: {_e(describe_requirement(req))}.</p>")
        policy = req.policy_title or req.policy_id
        parts.append(
            f'<p>Policy: {_e(policy)} (<code>{_e(req.origin)}</code>); source: <span class="source">{_source(req.source)}</span></p>'
        )
    elif finding.policy_file:
        parts.append(
            f"<p>Policy rule: <code>{_e(finding.policy_file)}:{finding.policy_line}</code></p>"
        )
    if finding.controls:
        parts.append(f'<p class="controls">Controls: {_e(", ".join(finding.controls))}</p>')
    if finding.status is Status.WAIVED:
        parts.append(f'<p class="waiver">Waived: {_e(finding.waiver_reason or "")}</p>')
    for name, value in finding.details:
        parts.append(f"<p>{_e(name)}: {_e(value)}</p>")
    parts.append("</div>")
    return "\n".join(parts)


def _changes(findings: tuple[Finding, ...], baseline: Baseline) -> list[str]:
    """The "Changed since last run" section: drift counts, then the new, fixed and absent
    results (open results only: see checker.reports.drift)."""
    from checker.reports.drift import DriftState, is_open

    counts = baseline.counts(findings)
    out = [
        '<h2 id="changes">Changed since last run</h2>',
        f'<p class="drift" data-new="{counts.new}" data-fixed="{counts.fixed}" '
        f'data-absent="{counts.absent}" data-unchanged="{counts.unchanged}">'
        f"Compared with {_e(baseline.describe_previous())}: {_e(counts.summary())}.</p>",
        *exposure_table.new_paragraph(findings, baseline, _e),
    ]
    rows: list[tuple[str, str, str, str, str, str]] = []
    for state in (DriftState.NEW, DriftState.FIXED):
        chosen = [
            f
            for f in findings
            if baseline.state(f) is state and (state is DriftState.FIXED or is_open(f.status))
        ]
        rows.extend(
            (state.value, f.target, f.rule_key, f.status.value, f.severity.value, f.message)
            for f in chosen[:_MAX_CHANGE_ROWS]
        )
        if len(chosen) > _MAX_CHANGE_ROWS:
            rows.append(
                (state.value, "…", f"and {len(chosen) - _MAX_CHANGE_ROWS} more", "", "", "")
            )
    rows.extend(
        ("absent", a.target, a.rule_key, a.status, a.severity, a.message)
        for a in baseline.absent[:_MAX_CHANGE_ROWS]
    )
    if len(baseline.absent) > _MAX_CHANGE_ROWS:
        rows.append(
            ("absent", "…", f"and {len(baseline.absent) - _MAX_CHANGE_ROWS} more", "", "", "")
        )
    if not rows:
        out.append("<p>Nothing changed.</p>")
        return out
    out.append(
        '<table id="drift"><thead><tr><th>Change</th><th>Target</th><th>Rule</th>'
        "<th>Status</th><th>Severity</th><th>Message</th></tr></thead><tbody>"
    )
    out.extend(
        f'<tr class="{_e(state)}" data-state="{_e(state)}" data-target="{_e(target)}" '
        f'data-rule="{_e(rule)}"><td>{_e(state)}</td><td>{_e(target)}</td>'
        f"<td><code>{_e(rule)}</code></td><td>{_e(status)}</td><td>{_e(severity)}</td>"
        f"<td>{_e(message)}</td></tr>"
        for state, target, rule, status, severity, message in rows
    )
    out.append("</tbody></table>")
    return out


def _cause_block(cause: Cause, fail_on: Severity) -> str:
    """One card for a cause several results of a target share, listing the rules it covers."""
    kind = cause.status.value
    below = all(below_threshold(f, fail_on) for f in cause.findings)
    rules = "".join(
        f'<li><code id="{_id("r", f.target, f.rule_key)}">{_e(f.rule_key)}</code>'
        f"{' — ' + _e(f.title) if f.title else ''} ({_e(f.severity.value)})</li>"
        for f in cause.findings
    )
    return "\n".join(
        [
            f'<div class="finding cause {kind}-f{" below" if below else ""}" id="{cause.anchor}" '
            f'data-status="{kind}" data-severity="{cause.severity.value}" '
            f'data-target="{_e(cause.target)}" data-rules="{len(cause.findings)}">',
            f"<h3>{_e(kind.upper())} · {_e(cause.target)} · {len(cause.findings)} rules</h3>",
            f"<p>{_e(cause.message)}</p>",
            f"<details><summary>Rules this covers ({len(cause.findings)})</summary><ul>{rules}</ul></details>",
            "</div>",
        ]
    )


def _target_section(
    target: str, own: list[Finding], report: RunReport, fail_on: Severity
) -> list[str]:
    """A foldable section: the target's shared causes, then its results policy by policy (the
    matrix links to each policy's group)."""
    causes, single = shared_causes(own)
    covered = {id(f): cause for cause in causes for f in cause.findings}
    counts = tally(own)
    out = [
        f'<details class="target" open id="{_id("t", target)}" data-target="{_e(target)}">',
        f"<summary>{_e(target)}: {_e(counts.summary())}</summary>",
        *exposure_table.table(own, _e),
    ]
    out.extend(_cause_block(c, fail_on) for c in causes)
    policies = sorted({f.policy for f in own if f.status is not Status.PASS})
    for policy in policies:
        shown = [f for f in own if f.policy == policy and f.status is not Status.PASS]
        out.append(
            f'<div class="policy-group" id="{_id("tp", target, policy)}" data-policy="{_e(policy)}">'
            f"<h3>Policy <code>{_e(policy)}</code></h3>"
        )
        referred: dict[str, list[Finding]] = {}
        for finding in shown:
            cause = covered.get(id(finding))
            if cause is None:
                out.append(_finding_block(finding, report, fail_on))
            else:
                referred.setdefault(cause.anchor, []).append(finding)
        for anchor, members in referred.items():
            names = ", ".join(_e(f.rule) for f in members)
            out.append(
                f'<p class="refers">{len(members)} rule(s) of this policy ({names}): see '
                f'<a href="#{anchor}">the shared cause above</a>.</p>'
            )
        out.append("</div>")
    out.append("</details>")
    return out


def _filters() -> str:
    boxes = [
        f'<label><input type="checkbox" id="show-{v}" checked> {v}</label>'
        for v in (*_STATUSES, *(s.value for s in Severity))
    ]
    return (
        '<div class="filters" id="filters"><b>Show:</b> '
        + " ".join(boxes[: len(_STATUSES)])
        + " · <b>severity:</b> "
        + " ".join(boxes[len(_STATUSES) :])
        + "</div>"
    )


def render(
    report: RunReport, baseline: Baseline | None = None, options: ReportOptions | None = None
) -> str:
    fail_on = options.fail_on if options is not None else Severity.INFO
    findings = effective_findings(report)
    targets = target_order(report, findings)
    policies = sorted({f.policy for f in findings} | {r.policy_id for r in report.requirements})
    grid: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        grid.setdefault((finding.target, finding.policy), []).append(finding)
    counts = tally(findings)
    verdict = gate_verdict(findings, fail_on)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>fwcheck report</title>",
        f"<style>{_CSS}{_FILTER_CSS}</style></head><body>",
        "<h1>fwcheck report</h1>",
        f'<p class="meta">fwcheck {_e(report.tool_version)} · started {_e(report.started_at)} · '
        f"{len(targets)} target(s), {len(unique_requirements(report))} policy rule(s)</p>",
        f'<p class="gate {verdict}" id="gate" data-fail-on="{fail_on.value}" data-verdict="{verdict}">'
        f"{_e(gate_summary(findings, fail_on))}</p>",
        *(_changes(findings, baseline) if baseline is not None else []),
        f'<p class="summary" id="summary" data-pass="{counts.passed}" data-fail="{counts.failed}" '
        f'data-indeterminate="{counts.indeterminate}" data-error="{counts.errors}" data-waived="{counts.waived}">'
        f"{_e(counts.summary())}</p>",
        "<h2>Targets × policies</h2>",
        '<table id="matrix"><thead><tr><th>Target</th>',
    ]
    out.extend(f'<th scope="col">{_e(p)}</th>' for p in policies)
    out.append("</tr></thead><tbody>")
    for target in targets:
        out.append(f'<tr data-target="{_e(target)}"><th scope="row">{_e(target)}</th>')
        for policy in policies:
            cell = grid.get((target, policy))
            if cell:
                out.append(
                    _cell(tally(cell), _id("tp", target, policy)).replace(
                        "<td ", f'<td data-policy="{_e(policy)}" ', 1
                    )
                )
            else:
                out.append(f'<td class="cell empty" data-policy="{_e(policy)}">not checked</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    out.extend(controls_section(findings, targets, _cell))
    problems = [
        f for f in findings if f.status in (Status.FAIL, Status.INDETERMINATE, Status.ERROR)
    ]
    waived = [f for f in findings if f.status is Status.WAIVED]
    out.append(
        f'<h2 id="failures">Failures, indeterminate results and errors ({len(problems)})'
        f"{f' and waived ({len(waived)})' if waived else ''}</h2>"
    )
    if not problems and not waived:
        out.append("<p>None.</p>")
    else:
        out.append(_filters())
        for target in targets:
            own = [f for f in findings if f.target == target]
            if any(f.status is not Status.PASS for f in own):
                out.extend(_target_section(target, own, report, fail_on))
    if report.notes:
        out.append("<h2>Notes</h2><ul>")
        out.extend(f"<li>{_e(note)}</li>" for note in report.notes)
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write(
    report: RunReport, path: Path, *, options: ReportOptions, baseline: Baseline | None = None
) -> None:
    atomic.write_text(path, render(report, baseline, options))


def encode(report: RunReport, options: ReportOptions, baseline: Baseline | None) -> bytes:
    return render(report, baseline, options).encode("utf-8")
