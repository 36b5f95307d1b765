"""`fwcheck check`: check firewall exports against the policies of their targets' roles."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from checker import __version__
from checker.commands.outputs import NO_OUTPUTS, Outputs
from checker.errors import Problem, UsageError, format_problem
from checker.findings import Finding, Severity, Status
from checker.fleet.publish import write_reports
from checker.pipeline import Source, evaluate_target
from checker.policies.loader import default_policy_paths, load_policy_set
from checker.policies.model import Requirement
from checker.reports import RunReport, TargetInfo
from checker.reports import console as console_report
from checker.reports.data import effective_findings
from checker.targets import TargetSpec, load_target_config, select_targets
from checker.waivers import apply_waivers, load_waivers


def read_sources(files: Sequence[str]) -> tuple[list[Source], list[Problem]]:
    sources: list[Source] = []
    problems: list[Problem] = []
    for file in files:
        try:
            sources.append((file, Path(file).read_bytes()))
        except OSError as exc:
            problems.append(
                Problem(file, 0, 0, "unreadable", f"cannot read: {exc.strerror or exc}")
            )
    return sources, problems


def exit_code(findings: Sequence[Finding], fail_on: str) -> int:
    from checker.cli import ExitCode

    if any(f.status is Status.ERROR for f in findings):
        return ExitCode.TARGET_ERROR
    threshold = Severity(fail_on).rank
    if any(
        f.status in (Status.FAIL, Status.INDETERMINATE) and f.severity.rank >= threshold
        for f in findings
    ):
        return ExitCode.VIOLATIONS
    return ExitCode.OK


def check_targets(
    planned: Sequence[tuple[TargetSpec, tuple[Requirement, ...]]],
    nft_include: tuple[str, ...] = (),
) -> tuple[list[TargetInfo], list[Finding], list[Requirement]]:
    """Read and check each target against its resolved requirements."""
    infos: list[TargetInfo] = []
    findings: list[Finding] = []
    seen: dict[str, Requirement] = {}
    for target, requirements in planned:
        for requirement in requirements:
            seen.setdefault(requirement.key, requirement)
        sources, problems = read_sources(target.files)
        if problems:
            target_findings, platform = [], None
        else:
            target_findings, platform, problems = evaluate_target(
                target.name,
                sources,
                requirements,
                format_name=target.format_name,
                include_dirs=nft_include,
            )
        error = "; ".join(format_problem(p) for p in problems) or None
        infos.append(TargetInfo(target.name, target.files, target.roles, platform, error))
        findings.extend(target_findings)
    return infos, findings, list(seen.values())


def run(
    *,
    files: Sequence[str],
    policy_paths: Sequence[str] | None,
    roles: Sequence[str],
    params: Mapping[str, str],
    format_name: str | None = None,
    config_path: str | None = None,
    target_name: str | None = None,
    outputs: Outputs = NO_OUTPUTS,
    today: date | None = None,
    nft_include: tuple[str, ...] = (),
) -> int:
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    targets, unmatched, config_policies = _targets(
        files, roles, params, format_name, config_path, target_name
    )
    chosen_policies = list(policy_paths or config_policies or default_policy_paths())
    policy_set = load_policy_set(chosen_policies)

    # Resolve every target's policies and the waivers before reading anything: those errors are
    # the user's to fix first (exit 2), not per-target findings.
    known_roles = set(policy_set.roles())
    for target in targets:
        unknown = [role for role in target.roles if role not in known_roles]
        if unknown:
            raise UsageError(
                Problem(
                    f"target {target.name}",
                    0,
                    0,
                    "unknown-role",
                    f"no policy has the role {unknown[0]!r} (known roles: {', '.join(sorted(known_roles))})",
                )
            )
    planned = [
        (target, policy_set.requirements_for(target.roles, dict(target.params)))
        for target in targets
    ]
    waivers = load_waivers(outputs.waivers_path) if outputs.waivers_path else None
    infos, findings, requirements = check_targets(planned, nft_include)
    for file in unmatched:
        infos.append(
            TargetInfo(
                file,
                (file,),
                (),
                None,
                "this file belongs to no target of the target config (fwcheck.yaml)",
            )
        )
    notes: list[str] = []
    if waivers is not None:
        findings, extra = apply_waivers(findings, waivers, today or date.today())
        findings = list(findings) + list(extra)
    report = RunReport(
        __version__, started, tuple(infos), tuple(findings), tuple(requirements), tuple(notes)
    )
    options = outputs.report_options()
    write_reports(report, outputs.report_paths(), options, baseline=None)
    color = sys.stdout.isatty()
    sys.stdout.write(console_report.render(report, color=color, quiet=outputs.quiet))
    return exit_code(effective_findings(report), outputs.fail_on)


def _targets(
    files: Sequence[str],
    roles: Sequence[str],
    params: Mapping[str, str],
    format_name: str | None,
    config_path: str | None,
    target_name: str | None,
) -> tuple[list[TargetSpec], list[str], list[Path]]:
    # FILEs with --role are one ad-hoc target; FILEs without (as pre-commit passes them) are
    # looked up in ./fwcheck.yaml, when there is one.
    if files and not config_path and (roles or not Path("fwcheck.yaml").is_file()):
        if not roles:
            raise UsageError(
                Problem(
                    "fwcheck check",
                    0,
                    0,
                    "usage",
                    "give the target's roles with --role (or use a fwcheck.yaml target config)",
                )
            )
        name = target_name or (
            Path(files[0]).stem
            if len(files) == 1
            else Path(files[0]).parent.name or Path(files[0]).stem
        )
        return (
            [TargetSpec(name, tuple(files), tuple(roles), tuple(params.items()), format_name)],
            [],
            [],
        )
    config = load_target_config(config_path or "fwcheck.yaml")
    selection = select_targets(
        config, files, extra_roles=roles, params=params, format_name=format_name
    )
    policies = [config.root / p for p in config.policies]
    return selection.targets, selection.unmatched, policies
