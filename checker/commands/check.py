"""`fwcheck check`: check firewall exports against the policies of their targets' roles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, cast

from checker import __version__
from checker.commands.outputs import NO_OUTPUTS, Outputs
from checker.engine.budget import BudgetSetting
from checker.errors import Problem, UsageError, format_problem
from checker.findings import Finding
from checker.gate import exit_code
from checker.parsers.options import NO_OPTIONS, ParseOptions
from checker.pipeline import Evaluation, Source, evaluate_target, input_limit
from checker.policies.controls import no_control_matches, select
from checker.policies.loader import load_policy_set, policy_search_paths
from checker.policies.model import Requirement
from checker.reports import RunReport, TargetInfo
from checker.reports.data import effective_findings
from checker.reports.publish import print_console, write_reports
from checker.sources import read_sources
from checker.target_guard import guarded, is_internal
from checker.target_selection import targets_for
from checker.targets import TargetSpec
from checker.waivers import apply_waivers, load_waivers

if TYPE_CHECKING:
    # Imported when a cache is used: `check` without one (a pre-commit run) skips sqlite3.
    from checker.fleet.verdict_cache import VerdictCache


def _cacheable(sources: Sequence[Source]) -> bool:
    """Whether the sources' bytes are everything the parsers will read. A configuration tree
    (a folder: its files are read by the folder parser) and an nft file that may include others
    read more than their bytes; such targets are always checked anew."""
    return all(data and b"include" not in data for _, data in sources)


def check_targets(
    planned: Sequence[tuple[TargetSpec, tuple[Requirement, ...]]],
    options: ParseOptions = NO_OPTIONS,
    budget: BudgetSetting = None,
    cache: VerdictCache | None = None,
    from_cache: list[str] | None = None,
) -> tuple[list[TargetInfo], list[Finding], list[Requirement]]:
    """Read and check each target against its resolved requirements (`options`: the parser
    options of the command line, over each target's own from its config; `budget`: the work
    budget of each target, engine/budget.py). With `cache`, a target whose sources, resolved
    requirements, budget and format are those of an earlier check reuses its findings (its name
    is then appended to `from_cache`); see checker/fleet/verdict_cache.py."""
    infos: list[TargetInfo] = []
    findings: list[Finding] = []
    seen: dict[str, Requirement] = {}
    for target, requirements in planned:
        for requirement in requirements:
            seen.setdefault(requirement.key, requirement)

        def evaluate(
            target: TargetSpec = target, requirements: tuple[Requirement, ...] = requirements
        ) -> Evaluation:
            given = {**dict(target.folder_options), **options}
            sources, problems = read_sources(target.files, dict(target.digests), input_limit(given))
            if problems:
                return [], None, problems
            cache_key = None
            if cache is not None and _cacheable(sources):
                from checker.fleet import verdict_cache

                cache_key = verdict_cache.key(
                    sources,
                    requirements,
                    version=__version__,
                    budget=budget,
                    format_name=target.format_name,
                )
                stored = cache.get(cache_key)
                reused = verdict_cache.decode(stored, target.name, target.files) if stored else None
                if reused is not None:
                    if from_cache is not None:
                        from_cache.append(target.name)
                    return reused[0], reused[1], []
            found, platform, problems = evaluate_target(
                target.name,
                sources,
                requirements,
                format_name=target.format_name,
                options=given,
                budget=budget,
            )
            if cache is not None and cache_key is not None and not problems:
                from checker.fleet import verdict_cache

                cache.put(cache_key, verdict_cache.encode(target.files, platform, found))
            return found, platform, problems

        target_findings, platform, problems = guarded(
            target.name, evaluate, lambda problem: ([], None, [problem])
        )
        error = "; ".join(format_problem(p) for p in problems) or None
        infos.append(
            TargetInfo(
                target.name, target.files, target.roles, platform, error, is_internal(problems)
            )
        )
        findings.extend(target_findings)
    return infos, findings, list(seen.values())


def _params(target: TargetSpec) -> dict[str, str | int]:
    # A target config's params are validated by its schema (integer, string, or a list that the
    # policy's own schema then judges), as explain reads them.
    return cast("dict[str, str | int]", dict(target.params))


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
    builtin_policies: bool = True,
    parse_options: ParseOptions = NO_OPTIONS,
    controls: Sequence[str] = (),
    budget: BudgetSetting = None,
    cache_path: str | None = None,
) -> int:
    """`parse_options`: the parser options given on the command line (checker.parsers.options);
    they win over a target config's (fwcheck.yaml `ufw_defaults:`). `cache_path`: a history
    database whose verdict cache is read and filled (None: none)."""
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    notes: list[str] = []
    targets, unmatched, config_policies = targets_for(
        files, roles, params, format_name, config_path, target_name, notes
    )
    chosen = policy_paths or config_policies
    policy_set = load_policy_set(policy_search_paths(chosen, builtin=builtin_policies))

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
        (target, select(policy_set.requirements_for(target.roles, _params(target)), controls))
        for target in targets
    ]
    if controls and targets and not any(requirements for _, requirements in planned):
        raise no_control_matches(controls)
    waivers = load_waivers(outputs.waivers_path) if outputs.waivers_path else None
    from_cache: list[str] = []
    if cache_path is None:
        infos, findings, requirements = check_targets(planned, parse_options, budget)
    else:
        from checker.fleet.history import History

        with History.open(cache_path) as history:
            cache = history.verdict_cache((today or date.today()).isoformat())
            infos, findings, requirements = check_targets(
                planned, parse_options, budget, cache, from_cache
            )
            cache.flush()
    if from_cache:
        notes.append(
            f"verdict cache: {len(from_cache)} of {len(planned)} targets unchanged since an"
            f" earlier check, their results reused (--no-cache to re-check): {', '.join(from_cache)}"
        )
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
    if waivers is not None:
        findings, extra = apply_waivers(findings, waivers, today or date.today())
        findings = list(findings) + list(extra)
    report = RunReport(
        __version__, started, tuple(infos), tuple(findings), tuple(requirements), tuple(notes)
    )
    options = outputs.report_options()
    paths = outputs.report_paths()
    write_reports(report, paths, options, baseline=None)
    print_console(report, paths, options, quiet=outputs.quiet, color=outputs.color)
    return exit_code(effective_findings(report), outputs.fail_on, report.targets)
