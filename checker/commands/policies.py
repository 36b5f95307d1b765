"""`fwcheck policies [--role ROLE]`: what a role will be checked against, after includes and
params, one rule per line (so a user can read exactly what `check` will ask of a firewall)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from checker.errors import ExitCode, Location, Problem, UsageError
from checker.model.net import PORT_PROTOCOLS
from checker.policies.addresses import format_range
from checker.policies.controls import no_control_matches, select
from checker.policies.loader import PolicySet, is_shipped, load_policy_set, policy_search_paths
from checker.policies.model import PROFILES, IpRange, Policy, Requirement
from checker.policies.params import coerce_override
from checker.policies.rules import PROTOCOL_NUMBERS

_PROTOCOL_NAMES = {number: name for name, number in PROTOCOL_NUMBERS.items()}


def _protocol(protocol: int | None) -> str:
    if protocol is None:
        return "any"
    return _PROTOCOL_NAMES.get(protocol, f"proto-{protocol}")


def _ports(requirement: Requirement) -> str:
    if requirement.ports is None:
        return "-" if requirement.protocol not in PORT_PROTOCOLS else "any"
    return ",".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in requirement.ports)


def _source_ports(requirement: Requirement) -> str:
    ports = requirement.source_ports or ()
    return ",".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in ports)


def _addresses(ranges: Iterable[IpRange] | None) -> str:
    if ranges is None:
        return "any"
    return ",".join(format_range(ip_range) for ip_range in ranges)


def format_requirement(requirement: Requirement) -> str:
    """One line: expect direction protocol ports remote [except] [local] [program] ..."""
    if requirement.setting is not None:
        return (
            f"  setting  {requirement.setting.describe()}"
            f"  [{requirement.rule_id}, {requirement.severity.value}] {requirement.title}"
        )
    if requirement.exclusive:
        return (
            f"exclusive {requirement.direction.value}: every new flow accepted must be declared"
            f"  [{requirement.rule_id}, {requirement.severity.value}] {requirement.title}"
        )
    parts = [
        f"{requirement.expect.value:<5}",
        f"{requirement.direction.value:<8}",
        f"{_protocol(requirement.protocol):<6}",
        f"{_ports(requirement):<11}",
        f"remote {_addresses(requirement.remote)}",
    ]
    if requirement.source_ports is not None:
        parts.append(f"source-port {_source_ports(requirement)}")
    if requirement.except_remote:
        parts.append(f"except {_addresses(requirement.except_remote)}")
    if requirement.local is not None:
        parts.append(f"local {_addresses(requirement.local)}")
    if requirement.families != frozenset({4, 6}):
        parts.append("ipv" + "+ipv".join(str(f) for f in sorted(requirement.families)) + " only")
    if requirement.icmp_type is not None:
        parts.append(f"icmp-type {requirement.icmp_type}")
    if requirement.program:
        parts.append(f"program {requirement.program}")
    if requirement.service:
        parts.append(f"service {requirement.service}")
    if requirement.profiles != PROFILES:
        parts.append("profiles " + ",".join(sorted(requirement.profiles)))
    parts.append(f"[{requirement.rule_id}, {requirement.severity.value}] {requirement.title}")
    if requirement.controls:
        parts.append(f"controls {', '.join(requirement.controls)}")
    return "  " + "  ".join(parts)


def _effective_params(policy: Policy, params: Mapping[str, str]) -> str:
    shown = []
    for name, default in policy.params:
        if name in params:
            shown.append(f"{name}={coerce_override(params[name], default)!s} (default {default})")
        else:
            shown.append(f"{name}={default}")
    return ", ".join(shown)


def format_policies(
    policy_set: PolicySet,
    selected: Sequence[Policy],
    params: Mapping[str, str],
    controls: Sequence[str] = (),
) -> list[str]:
    requirements = select(policy_set.requirements_of(selected, params), controls)
    lines: list[str] = []
    for policy in selected:
        lines.append(f"{policy.id}: {policy.title}")
        origin = "shipped with fwcheck" if is_shipped(policy.origin.file) else "local"
        lines.append(f"  file: {policy.origin.file} ({origin})")
        if policy.source:
            lines.append(f"  source: {policy.source}")
        if policy.controls:
            lines.append(f"  controls: {', '.join(policy.controls)}")
        lines.append(f"  roles: {', '.join(policy.roles) or '(none: only included)'}")
        if policy.include:
            lines.append(f"  includes: {', '.join(policy.include)}")
        if policy.params:
            lines.append(f"  params: {_effective_params(policy, params)}")
        lines.extend(format_requirement(r) for r in requirements if r.policy_id == policy.id)
        lines.append("")
    count = len(requirements)
    lines.append(f"{len(selected)} policies, {count} rule{'s' * (count != 1)}")
    return lines


def format_controls(requirements: Sequence[Requirement]) -> list[str]:
    """`policies --controls`: each control id, then the rules that check it."""
    rules: dict[str, list[Requirement]] = {}
    for requirement in requirements:
        for control in requirement.controls:
            rules.setdefault(control, []).append(requirement)
    lines: list[str] = []
    for control in sorted(rules):
        lines.append(control)
        lines.extend(
            f"  {r.key}  [{r.severity.value}] {r.title}  ({r.origin})" for r in rules[control]
        )
    without = [r for r in requirements if not r.controls]
    count = len(rules)
    lines.append(
        f"{count} control{'s' * (count != 1)}; {len(without)} of {len(requirements)} rules"
        " carry no control id"
    )
    return lines


def run(
    *,
    policy_paths: Sequence[str] | None,
    roles: Sequence[str],
    params: Mapping[str, str],
    builtin_policies: bool = True,
    controls: Sequence[str] = (),
    by_control: bool = False,
) -> int:
    policy_set = load_policy_set(policy_search_paths(policy_paths, builtin=builtin_policies))
    known_roles = set(policy_set.roles())
    unknown = [role for role in roles if role not in known_roles]
    if unknown:
        raise UsageError(
            *(
                Problem.at(
                    Location("--role"),
                    "unknown-role",
                    f"no policy has role {role!r} (roles: {', '.join(sorted(known_roles))})",
                )
                for role in unknown
            )
        )
    selected = policy_set.policies_for(roles) if roles else list(policy_set.policies.values())
    if not roles:
        # requirements_for's unknown-param check, over every policy.
        policy_set.requirements_for(known_roles, params)
    if by_control or controls:
        chosen = select(policy_set.requirements_of(selected, params), controls)
        if controls and not chosen:
            raise no_control_matches(controls)
        if by_control:
            for line in format_controls(chosen):
                print(line)
            return ExitCode.OK
        selected = [p for p in selected if any(r.policy_id == p.id for r in chosen)]
    for line in format_policies(policy_set, selected, params, controls):
        print(line)
    return ExitCode.OK
