"""`fwcheck merge REPORT.json…`: one run from the JSON reports of `fwcheck scan --shard K/N`.

Writes the merged JSON/JUnit/SARIF/HTML reports and the console summary like a scan would, and
records the merged run in the history once, under the whole inventory's scope (read from the
shards' notes, or --history-scope), so drift compares whole fleets night after night.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import date

from checker.commands.outputs import NO_OUTPUTS, Outputs
from checker.fleet.history import History, RunRecorder
from checker.fleet.merge import merge_reports
from checker.fleet.publish import finish
from checker.gate import exit_code
from checker.reports import RunReport
from checker.reports.data import effective_findings

# Scope of a merge whose reports carry no shard note and no --history-scope was given.
DEFAULT_SCOPE = "merged"


def run(
    *,
    reports: Sequence[str],
    history_path: str | None = None,
    history_scope: str | None = None,
    outputs: Outputs = NO_OUTPUTS,
    today: date | None = None,
) -> int:
    started_monotonic = time.monotonic()
    merged = merge_reports(reports)
    report = merged.report
    if outputs.waivers_path:
        from checker.waivers import apply_waivers, load_waivers

        findings, extra = apply_waivers(
            report.findings, load_waivers(outputs.waivers_path), today or date.today()
        )
        known = {(f.target, f.policy, f.rule, f.message) for f in findings}
        findings += [f for f in extra if (f.target, f.policy, f.rule, f.message) not in known]
        report = RunReport(
            report.tool_version,
            report.started_at,
            report.targets,
            tuple(findings),
            report.requirements,
            report.notes,
        )
    history = None
    recorder: RunRecorder | None = None
    if history_path and not merged.shards.complete:
        print(
            "fwcheck: not recording this merge in the history: "
            + "; ".join(n for n in report.notes if "missing" in n or "different" in n),
            file=sys.stderr,
        )
    elif history_path:
        history = History.open(history_path)
        recorder = history.start_run(
            history_scope or merged.shards.scope or DEFAULT_SCOPE,
            started_at=report.started_at,
            tool_version=report.tool_version,
            source="merge",
            shard=None,
        )
        by_target: dict[str, list] = {}
        for finding in effective_findings(report):
            by_target.setdefault(finding.target, []).append(finding)
        infos = {t.name: t for t in report.targets}
        for target, findings_of in by_target.items():
            info = infos.get(target)
            recorder.add(
                target,
                info.platform if info else None,
                info.error if info else None,
                findings_of,
            )
        for info in report.targets:
            if info.name not in by_target:
                recorder.add(info.name, info.platform, info.error, [])
    options = outputs.report_options()
    try:
        finish(
            report,
            outputs.report_paths(),
            options,
            recorder,
            quiet=outputs.quiet,
            started_monotonic=started_monotonic,
            color=outputs.color,
        )
    finally:
        if history is not None:
            history.close()
    return exit_code(effective_findings(report), outputs.fail_on)
