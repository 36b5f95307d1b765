"""The per-host "exposed services" table of the HTML report (docs/reports.md).

One row per `exposure/<protocol>-<port>` result of a target (checker.engine.netfilter.exposure): port,
protocol, program, reachable from, declared by, and the result's status, so a reader sees at a
glance what is listening and reachable and whether a policy declares it. Exposure results that
say "allowed but unused" are not services and are left out; they stay in the result list.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from checker.findings import Finding

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
