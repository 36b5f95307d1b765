"""`fwcheck scan`: collect every inventory host and check it with the same pipeline as `check`.

A host that cannot be collected gets `error` findings (and its TargetInfo says why); the other
hosts are still checked; the exit code is then 3 unless a worse one applies (cli.ExitCode).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from checker import __version__, resources
from checker.collectors import collect_hosts
from checker.collectors.evidence import new_run_id, write_evidence
from checker.collectors.hostkeys import KnownHosts
from checker.collectors.result import CollectResult
from checker.collectors.sources import sources_for
from checker.commands.check import exit_code
from checker.commands.collect import configure_logging, open_inventory, select_hosts
from checker.errors import CollectError, Problem, format_problem
from checker.findings import Finding
from checker.inventory.model import HostSpec
from checker.pipeline import error_findings, evaluate_target
from checker.policies.loader import default_policy_paths, load_policy_set
from checker.policies.model import Requirement
from checker.reports import REPORTERS, ReportOptions, RunReport, TargetInfo
from checker.reports import console as console_report
from checker.reports.data import effective_findings


def check_host(
    host: HostSpec,
    result: CollectResult,
    requirements: Sequence[Requirement],
    evidence_run: Path | None,
    evidence_problem: Problem | None = None,
) -> tuple[TargetInfo, list[Finding]]:
    if result.error is not None:
        problems = [result.error]
        findings = error_findings(host.name, requirements, problems)
        return TargetInfo(host.name, (), host.roles, None, format_problem(result.error)), findings
    sources = sources_for(result, evidence_run)
    files = tuple(origin for origin, _ in sources)
    findings, platform, problems = evaluate_target(host.name, sources, requirements)
    errors = [format_problem(p) for p in problems]
    if evidence_problem is not None:
        errors.append(format_problem(evidence_problem))
    return TargetInfo(host.name, files, host.roles, platform, "; ".join(errors) or None), findings


def run(
    *,
    inventory: str,
    evidence_dir: str | None = None,
    policy_paths: Sequence[str] | None = None,
    params: Mapping[str, str] | None = None,
    role_map: str | None = None,
    hosts: Sequence[str] = (),
    jobs: int = 8,
    user_known_hosts: bool = True,
    json_path: str | None = None,
    junit_path: str | None = None,
    sarif_path: str | None = None,
    html_path: str | None = None,
    fail_on: str = "info",
    indeterminate_as: str = "fail",
    waivers_path: str | None = None,
    quiet: bool = False,
    today: date | None = None,
) -> int:
    from checker.cli import ExitCode

    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    configure_logging()
    parsed = open_inventory(inventory, role_map)
    selected = select_hosts(parsed, hosts)
    policy_set = load_policy_set(list(policy_paths or default_policy_paths()))

    def requirements_for(host: HostSpec) -> tuple[Requirement, ...]:
        merged: dict[str, str | int] = dict(host.params)
        merged.update(params or {})
        return policy_set.requirements_for(host.roles, merged)

    # Policy errors are the user's to fix first (exit 2), before any host is contacted.
    for host in selected:
        requirements_for(host)
    known_hosts = KnownHosts.for_scan(parsed.known_hosts_files, include_user=user_known_hosts)
    run_id = new_run_id()
    results = collect_hosts(selected, known_hosts, jobs=jobs)

    infos: list[TargetInfo] = []
    findings: list[Finding] = []
    seen: dict[str, Requirement] = {}
    collect_failed = False
    for host, result in zip(selected, results, strict=True):
        requirements = requirements_for(host)
        for requirement in requirements:
            seen.setdefault(requirement.key, requirement)
        run_dir: Path | None = None
        evidence_problem: Problem | None = None
        if evidence_dir:
            try:
                run_dir = write_evidence(evidence_dir, result, run_id)
            except CollectError as exc:
                evidence_problem = exc.problems[0]
        info, host_findings = check_host(host, result, requirements, run_dir, evidence_problem)
        collect_failed = collect_failed or info.error is not None
        infos.append(info)
        findings.extend(host_findings)
    if waivers_path:
        from checker.waivers import apply_waivers, load_waivers

        findings, extra = apply_waivers(findings, load_waivers(waivers_path), today or date.today())
        findings = list(findings) + list(extra)
    notes = tuple(f"{r.host}: {note}" for r in results for note in r.notes)
    report = RunReport(
        __version__, started, tuple(infos), tuple(findings), tuple(seen.values()), notes
    )
    options = ReportOptions(
        indeterminate_as=indeterminate_as,  # type: ignore[arg-type]
        repo_root=Path.cwd(),
        policy_root=resources.shipped_policies_dir(),
    )
    for name, path in (
        ("json", json_path),
        ("junit", junit_path),
        ("sarif", sarif_path),
        ("html", html_path),
    ):
        if path:
            REPORTERS[name].write(report, Path(path), options=options)
    sys.stdout.write(console_report.render(report, color=sys.stdout.isatty(), quiet=quiet))
    code = exit_code(effective_findings(report), fail_on)
    if collect_failed:
        return ExitCode.TARGET_ERROR
    return code
