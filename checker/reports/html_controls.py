"""The HTML report's "Controls" view: control id -> status on each target (policy `controls:`).

An auditor files findings by control: each row is one control (FRAMEWORK:ID), each cell the
tally of that control's results on one target (a control several rules check counts each).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from checker.findings import Finding
from checker.reports.data import Tally, capped, printable, tally


def _e(text: object) -> str:
    return html.escape(printable(capped(str(text))), quote=True)


def controls_section(
    findings: Sequence[Finding], targets: Sequence[str], cell: Callable[[Tally], str]
) -> list[str]:
    """The section's lines; none when no finding carries a control."""
    by_control: dict[str, dict[str, list[Finding]]] = {}
    for finding in findings:
        for control in finding.controls:
            by_control.setdefault(control, {}).setdefault(finding.target, []).append(finding)
    if not by_control:
        return []
    out = [
        f'<h2 id="controls">Controls ({len(by_control)})</h2>',
        '<table id="controls-matrix"><thead><tr><th>Control</th>',
        *(f'<th scope="col">{_e(target)}</th>' for target in targets),
        "</tr></thead><tbody>",
    ]
    for control in sorted(by_control):
        out.append(f'<tr data-control="{_e(control)}"><th scope="row">{_e(control)}</th>')
        for target in targets:
            own = by_control[control].get(target)
            out.append(cell(tally(own)) if own else '<td class="cell empty">not checked</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return out
