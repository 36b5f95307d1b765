"""The per-host "exposed services" table of the HTML report (docs/reports.md).

One row per `exposure/<protocol>-<port>` result of a target (checker.engine.netfilter.exposure): port,
protocol, program, reachable from, declared by, and the result's status, so a reader sees at a
glance what is listening and reachable and whether a policy declares it. Exposure results that
say "allowed but unused" are not services and are left out; they stay in the result list.

With a history (`fwcheck scan --history`), "new exposure since last run" names the exposure
results that are open now (a reachable socket no policy declares, or one fwcheck cannot
decide) and were not open in the previous run (checker.reports.drift: state new): a service
that started listening, or that the firewall opened, since last night. A declared service is a
pass and is not drift (the history keeps open results only).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from checker.findings import Finding
from checker.reports.drift import Baseline, DriftState, is_open

POLICY = "exposure"
COLUMNS = ("port", "protocol", "program", "reachable from", "declared by")


def rows(findings: Sequence[Finding]) -> list[tuple[str, ...]]:
    """(status, port, protocol, program, reachable from, declared by) per exposed service,
    ordered by protocol and port."""
    out = []
    for finding in findings:
        if finding.policy != POLICY:
            continue
        details = dict(finding.details)
        if not all(name in details for name in COLUMNS):
            continue
        out.append((finding.status.value, *(details[name] for name in COLUMNS)))
    return sorted(out, key=lambda row: (row[2], int(row[1]) if row[1].isdigit() else 0))


def _escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def table(findings: Sequence[Finding], escape: Callable[[object], str] = _escape) -> list[str]:
    """The table's HTML lines (none when the target has no exposure result with a row)."""
    found = rows(findings)
    if not found:
        return []
    head = "".join(f"<th>{escape(name.capitalize())}</th>" for name in ("status", *COLUMNS))
    out = [
        '<table class="exposed"><caption>Exposed services</caption>',
        f"<thead><tr>{head}</tr></thead><tbody>",
    ]
    for row in found:
        cells = "".join(f"<td>{escape(value)}</td>" for value in row)
        out.append(f'<tr class="{escape(row[0])}" data-status="{escape(row[0])}">{cells}</tr>')
    out.append("</tbody></table>")
    return out


def new_since(findings: Sequence[Finding], baseline: Baseline) -> list[Finding]:
    """The open exposure results that the previous run did not have open, by target and rule
    (none without a previous run: there is nothing to be new against)."""
    if baseline.previous_run is None:
        return []
    found = [
        f
        for f in findings
        if f.policy == POLICY
        and not f.rule.startswith("unused-")
        and is_open(f.status)
        and baseline.state(f) is DriftState.NEW
    ]
    return sorted(found, key=lambda f: (f.target, f.rule))


def new_text(found: Sequence[Finding], limit: int = 10) -> str:
    """`2 (lab1 udp-5360, lab2 tcp-8084)`: the count and the first few."""
    shown = ", ".join(f"{f.target} {f.rule}" for f in found[:limit])
    more = f", and {len(found) - limit} more" if len(found) > limit else ""
    return f"{len(found)}" + (f" ({shown}{more})" if found else "")


def new_paragraph(
    findings: Sequence[Finding], baseline: Baseline, escape: Callable[[object], str] = _escape
) -> list[str]:
    """The HTML "new exposure since last run" line of the changes section."""
    found = new_since(findings, baseline)
    return [
        f'<p class="new-exposure" id="new-exposure" data-count="{len(found)}">'
        f"New exposure since last run: {escape(new_text(found))}.</p>"
    ]
