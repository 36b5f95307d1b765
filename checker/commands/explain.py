"""`fwcheck explain` (and `fwcheck check --explain RULE_ID`): why one requirement has its verdict
on one target, as the walk of one concrete packet through the firewall, hop by hop.

The verdict comes from the engine, exactly as `check` gives it. The walk takes the flow the
verdict names (its counterexample, or a sample flow when it passes) and shows every chain it
entered and every rule it matched, each with file:line (checker.engine.netfilter.trace). Windows
Defender Firewall is not first-match: its walk lists, per profile, the rules that match the flow
in the order of precedence (authenticated bypass, block, allow) and the default action
(checker.engine.windows.trace).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import cast

from checker.errors import ExitCode, ParseError, Problem, UsageError, format_problem
from checker.model.netfilter import IpSets, NftDevices, Ruleset
from checker.model.windows import WindowsRuleset
from checker.pipeline import engine_for, finding, parse_sources
from checker.policies.loader import load_policy_set, policy_search_paths
from checker.policies.model import Requirement
from checker.reports.data import describe_requirement, printable
from checker.sources import read_sources
from checker.target_selection import targets_for


def pick(requirements: Sequence[Requirement], rule_id: str) -> Requirement:
    """The requirement named `policy/rule`, or `rule` when only one policy has that rule."""
    exact = [r for r in requirements if r.key == rule_id]
    by_rule = [r for r in requirements if r.rule_id == rule_id]
    chosen = exact or by_rule
    if len(chosen) == 1:
        return chosen[0]
    if len(chosen) > 1:
        keys = ", ".join(r.key for r in chosen)
        raise UsageError(
            Problem(
                "fwcheck explain", 0, 0, "usage", f"{rule_id!r} is ambiguous: give one of {keys}"
            )
        )
    near = [r.key for r in requirements if rule_id.lower() in r.key.lower()][:5]
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    raise UsageError(
        Problem(
            "fwcheck explain",
            0,
            0,
            "unknown-rule",
            f"the target's policies have no rule {rule_id!r}{hint}",
        )
    )


def explain_target(
    name: str,
    sources: Sequence[tuple[str, bytes]],
    requirement: Requirement,
    format_name: str | None = None,
    requirements: Sequence[Requirement] = (),
) -> list[str]:
    """The verdict of `requirement` on the target and the walk behind it, as lines. An
    exclusive result is explained by its blocks (each names its accepting rule), which need
    the target's other requirements (`requirements`): they declare the allowed flows."""
    if requirement.exclusive:
        return _explain_exclusive(name, sources, requirement, format_name, requirements)
    try:
        models = parse_sources(sources, format_name)
        engine, platform = engine_for(models)
    except ParseError as exc:
        return [f"{name}: the target could not be read:"] + [
            f"  {format_problem(p)}" for p in exc.problems
        ]
    if requirement.setting is not None:
        from checker.engine import settings

        verdict = settings.check(models, requirement)
    else:
        verdict = engine.check(models, requirement)
    result = finding(name, requirement, verdict)
    title = f" ({requirement.title})" if requirement.title else ""
    lines = [
        f"{name}: {requirement.key}{title}: {result.status.value.upper()}",
        f"  {result.message}",
        f"  required: {describe_requirement(requirement)}",
    ]
    if requirement.setting is not None:
        # A setting has no walk: the evidence is the registry value or chain that decides it.
        lines.extend(f"  decided by: {e.file}:{e.line}: {e.text}" for e in result.evidence)
    elif platform == "netfilter":
        from checker.engine.netfilter import trace as netfilter_trace

        traces = netfilter_trace.trace(
            cast("list[Ruleset | IpSets | NftDevices]", models), requirement
        )
        if not traces:
            lines.append("  (no flow of the requirement meets a ruleset of the target)")
        lines.extend("  " + line for line in netfilter_trace.render(traces))
    else:
        from checker.engine.windows import trace as windows_trace

        windows = cast("list[WindowsRuleset]", models)
        lines.extend("  " + line for line in windows_trace.explain(windows, requirement))
    return [printable(line) for line in lines]


def _explain_exclusive(
    name: str,
    sources: Sequence[tuple[str, bytes]],
    requirement: Requirement,
    format_name: str | None,
    requirements: Sequence[Requirement],
) -> list[str]:
    from checker.pipeline import evaluate_target

    everything = list(requirements) or [requirement]
    findings, _platform, problems = evaluate_target(
        name, sources, everything, format_name=format_name
    )
    if problems:
        return [f"{name}: the target could not be read:"] + [
            f"  {format_problem(p)}" for p in problems
        ]
    (result,) = [f for f in findings if f.rule_key == requirement.key]
    lines = [
        f"{name}: {requirement.key} ({requirement.title}): {result.status.value.upper()}",
        f"  {result.message}",
        "  required: every new flow of the direction accepted is declared by an allow rule or is"
        " infrastructure (docs/policy-format.md, Exclusive policies)",
    ]
    lines.extend(f"  {label}: {text}" for label, text in result.details)
    return [printable(line) for line in lines]


def run(
    *,
    files: Sequence[str],
    rule_id: str,
    policy_paths: Sequence[str] | None,
    roles: Sequence[str],
    params: Mapping[str, str],
    format_name: str | None = None,
    config_path: str | None = None,
    target_name: str | None = None,
    builtin_policies: bool = True,
) -> int:
    targets, unmatched, config_policies = targets_for(
        files, roles, params, format_name, config_path, target_name
    )
    policy_set = load_policy_set(
        policy_search_paths(policy_paths or config_policies or None, builtin=builtin_policies)
    )
    code = ExitCode.OK
    explained = 0
    for target in targets:
        params_of = cast("dict[str, str | int]", dict(target.params))
        requirements = policy_set.requirements_for(target.roles, params_of)
        try:
            requirement = pick(requirements, rule_id)
        except UsageError:
            if len(targets) > 1:
                continue  # another target's roles may carry the rule
            raise
        sources, problems = read_sources(target.files)
        if problems:
            sys.stdout.write(
                f"{target.name}: the target could not be read:\n"
                + "".join(f"  {format_problem(p)}\n" for p in problems)
            )
            code = ExitCode.TARGET_ERROR
            continue
        lines = explain_target(target.name, sources, requirement, target.format_name, requirements)
        sys.stdout.write("\n".join(lines) + "\n")
        explained += 1
    for file in unmatched:
        sys.stdout.write(f"{file}: belongs to no target of the target config (fwcheck.yaml)\n")
    if not explained and code == ExitCode.OK:
        raise UsageError(
            Problem("fwcheck explain", 0, 0, "unknown-rule", f"no target has the rule {rule_id!r}")
        )
    return code
