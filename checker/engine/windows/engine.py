"""Windows Defender Firewall semantics: does a host's policy meet a requirement?

Semantics (Microsoft: "Windows Firewall rules" on Microsoft Learn, MS-FASP 2.2.37/2.2.38):
- Not first-match. For a flow, **authenticated-bypass allow > block > allow > the profile's default
  action**; rule order means nothing.
- Only enabled rules count, only in the profiles they list (none listed = all three), only in
  their direction. Local-store rules count only if AllowLocalPolicyMerge is not 0 from Group
  Policy (checker.engine.windows.profiles gives the merged profile settings).
- Firewall off in a profile: nothing is blocked there. Shields up (DoNotAllowExceptions): "the
  server MUST block all incoming traffic regardless of other policy settings" (MS-FASP 2.2.38
  FW_PROFILE_CONFIG_SHIELDED), so inbound allow and bypass rules are ignored.
- Several exports of one host (a GPO's Registry.pol plus the local .wfw) combine: all rules,
  profile settings merged GPO-first. A local rule with the ID of a GPO rule is replaced by it
  (checker.engine.windows.stores); replaced rules that concern the requirement are named in a
  warning appended to the verdict's message, with their file:line as extra evidence.

Three-valued evaluation. Each rule has a lower and an upper bound of what it matches
(checker.engine.windows.match). Over the requirement's flows Q, per profile:
  surely allowed   SA = bypass_lower ∪ (allow_lower − block_upper)        (default Block)
                   SA = Q − block_upper                                    (default Allow)
  possibly allowed PA = bypass_upper ∪ (allow_upper − block_lower)        (default Block)
                   PA = bypass_upper ∪ (Q − block_lower)                   (default Allow)
(bypass_lower is always empty: bypass needs an authenticated peer.) `expect: allow` passes when
Q ⊆ SA and fails when some flow of Q is outside PA computed without the authenticated-only
rules (an unauthenticated peer's flow, which every requirement includes); `expect: deny` passes when Q ∩ PA is empty
and fails when Q ∩ SA is not, or when an allow rule scoped to LocalSubnet (never empty, see
windows_match) surely lets some LocalSubnet peer in. Anything else is indeterminate, naming the
rule conditions that only the live host can resolve.

Evidence. The first item is what decides the flows the message speaks of: the rule that
matches the counterexample, or the profile's default action when no rule does ("Windows
Firewall rules": a flow no rule matches gets the default). A block rule is cited only for flows
it covers, so a deny that holds partly by a block rule and partly by the default cites the
default first. A local allow rule left out by AllowLocalPolicyMerge=0 (MS-GPFAS 2.2.3.13) is
named with that Group Policy setting, which is then the deciding item.

The requirement holds per profile: the requirement's profiles, narrowed to the target's active
profiles when the export states them (collector JSON). The verdict fails if any profile fails and
names it; `details` lists each profile's outcome when they differ.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace

from checker.engine.budget import Budget, BudgetExceeded
from checker.engine.reasons import budget_verdict, render, verdict
from checker.engine.space import Space
from checker.engine.verdict import Verdict, flow_of, format_address
from checker.engine.windows.match import (
    RuleMatch,
    Symbols,
    compile_rule,
    requirement_space,
    widen,
)
from checker.engine.windows.profiles import EffectiveProfile, Setting, effective_profile
from checker.engine.windows.stores import effective_rules
from checker.findings import Evidence, Flow, Reason, Status
from checker.model.net import host_chooser
from checker.model.windows import PROFILE_NAMES, ShadowedRule, WindowsRule, WindowsRuleset
from checker.policies.model import Direction, Expect, Requirement

_MAX_EVIDENCE = 5
_PREFERRED = {
    "remote": int(ipaddress.IPv4Address("203.0.113.7")),
    "local": int(ipaddress.IPv4Address("192.0.2.10")),
    "family": 4,
    "proto": 6,
    "rport": 49152,
    "lport": 49152,
}
_PREFERRED_V6 = {
    "remote": int(ipaddress.IPv6Address("2001:db8::7")),
    "local": int(ipaddress.IPv6Address("2001:db8::10")),
}


def rule_evidence(rule: WindowsRule) -> Evidence:
    return Evidence(
        rule.origin.file, rule.origin.line, f"{rule.label()}: {rule.text}", store=rule.store
    )


@dataclass(frozen=True, slots=True)
class _Context:
    requirement: Requirement
    symbols: Symbols
    query: Space
    matches: tuple[RuleMatch, ...]
    # The target's work budget (engine/budget.py); None: unbounded.
    budget: Budget | None = None


def check(
    ruleset: WindowsRuleset | Sequence[WindowsRuleset],
    requirement: Requirement,
    *,
    budget: Budget | None = None,
) -> Verdict:
    rulesets = [ruleset] if isinstance(ruleset, WindowsRuleset) else list(ruleset)
    direction = "in" if requirement.direction == Direction.INBOUND else "out"
    applied, shadowed = effective_rules(rulesets)
    rules = [rule for rule in applied if rule.direction == direction]
    symbols = Symbols.build(rules, requirement)
    dims = symbols.dims()
    query = requirement_space(requirement, symbols, dims)
    if query.is_empty():
        # Nothing to check is no evidence of anything: an empty space never passes.
        return verdict(Status.ERROR, Reason("windows.empty-requirement"))
    matches = tuple(compile_rule(rule, symbols, dims) for rule in rules if rule.enabled)
    context = _Context(requirement, symbols, query, matches, budget)
    profiles = _profiles_to_check(rulesets, requirement)
    try:
        verdicts = [
            (profile, _decide(context, effective_profile(profile, rulesets)))
            for profile in profiles
        ]
    except BudgetExceeded as exc:
        return budget_verdict(exc)
    return _warn_shadowed(_combine(verdicts), shadowed, requirement, direction)


def _concerns(shadowed: ShadowedRule, requirement: Requirement, direction: str) -> bool:
    """Whether the replaced rule or its replacement may match a flow of the requirement."""
    pair = [rule for rule in (shadowed.rule, shadowed.by) if rule.direction == direction]
    if not pair:
        return False
    # Own symbols: the verdict's counterexample must not change with rules that do not apply.
    symbols = Symbols.build(pair, requirement)
    dims = symbols.dims()
    query = requirement_space(requirement, symbols, dims)
    return any(compile_rule(rule, symbols, dims).upper.touches(query) for rule in pair)


def _warn_shadowed(
    verdict: Verdict, shadowed: Sequence[ShadowedRule], requirement: Requirement, direction: str
) -> Verdict:
    """Name the rules that are written but not applied (same rule ID replaced) when they concern
    the requirement: a reader of the export would expect them to count."""
    relevant = [item for item in shadowed if _concerns(item, requirement, direction)]
    if not relevant:
        return verdict
    first = relevant[0]
    where = first.rule.origin
    extra = tuple(
        Evidence(
            item.rule.origin.file,
            item.rule.origin.line,
            f"not applied: {item.rule.label()} ({item.rule.store} store): {item.reason}",
        )
        for item in relevant[:_MAX_EVIDENCE]
    )
    assert verdict.reason is not None  # every verdict _combine gives has its reason
    reason = replace(
        verdict.reason,
        params=verdict.reason.params
        + (
            ("not_applied", tuple(item.rule.label() for item in relevant)),
            ("not_applied_at", _place(where.file, where.line)),
            ("not_applied_why", first.reason),
        ),
    )
    return replace(
        verdict,
        message=render(reason, verdict.flow, verdict.evidence, verdict.status),
        evidence=verdict.evidence + extra,
        reason=reason,
    )


def _profiles_to_check(rulesets: Sequence[WindowsRuleset], requirement: Requirement) -> list[str]:
    wanted = set(requirement.profiles) or set(PROFILE_NAMES)
    active: set[str] = set()
    known = False
    for ruleset in rulesets:
        if ruleset.active_profiles is not None:
            known = True
            active |= ruleset.active_profiles
    if known and wanted & active:
        wanted &= active
    return [profile for profile in PROFILE_NAMES if profile in wanted]


def _combine(verdicts: list[tuple[str, Verdict]]) -> Verdict:
    failing = [(p, v) for p, v in verdicts if v.status == Status.FAIL]
    unknown = [(p, v) for p, v in verdicts if v.status == Status.INDETERMINATE]
    chosen = failing or unknown or verdicts
    status = Status.FAIL if failing else Status.INDETERMINATE if unknown else Status.PASS
    first_profile, first = chosen[0]
    evidence: list[Evidence] = []
    for _, one in chosen:
        for item in one.evidence:
            if item not in evidence:
                evidence.append(item)
    details: tuple[tuple[str, str], ...] = ()
    # Profiles differ when their outcomes differ beyond the profile's own name.
    if len({(v.status, v.message.replace(p, "*")) for p, v in verdicts}) > 1:
        details = tuple((profile, f"{v.status.value}: {v.message}") for profile, v in verdicts)
    assert first.reason is not None  # every verdict _decide gives has its reason
    profiles = ("profiles", tuple(p for p, _ in chosen))
    reason = replace(first.reason, params=first.reason.params + (profiles,))
    return verdict(status, reason, first.flow, evidence, details)


def _decide(context: _Context, settings: EffectiveProfile) -> Verdict:
    requirement = context.requirement
    profile = settings.profile
    query = context.query
    inbound = requirement.direction == Direction.INBOUND
    expect_allow = requirement.expect == Expect.ALLOW
    if not settings.enabled.value:
        if expect_allow:
            return verdict(
                Status.PASS,
                Reason("windows.firewall-off", (("profile", profile),)),
                None,
                (settings.enabled.evidence,),
            )
        return verdict(
            Status.FAIL,
            Reason("windows.firewall-off", (("profile", profile),)),
            _flow(context, _sample(query), profile),
            (settings.enabled.evidence,),
        )
    default = settings.default_inbound if inbound else settings.default_outbound
    default_allows = default.value == "allow"
    shields_up = inbound and bool(settings.shields_up.value)
    active: list[RuleMatch] = []
    # Local rules that would count but for AllowLocalPolicyMerge=0: the evidence names the
    # setting when one of them is what the reader expects to decide.
    merged_out: list[RuleMatch] = []
    for match in context.matches:
        rule = match.rule
        if profile not in rule.profiles:
            continue
        if shields_up and rule.action in ("allow", "bypass"):
            continue
        if not match.upper.touches(query):
            continue
        if rule.store == "local" and not settings.allow_local_policy_merge.value:
            merged_out.append(match)
            continue
        active.append(match)
    dims = query.dims
    # Collected, then united once: a fold of `union` compacts the growing union again at every
    # rule (quadratic: 300 rules under a wide question took 9 s, issue 16).
    parts: dict[str, list[Space]] = {
        name: [] for name in ("block_l", "block_u", "allow_l", "allow_u", "bypass_u", "plain_u")
    }
    budget = context.budget
    for match in active:
        if budget is not None:
            budget.spend(1)
        if match.rule.action == "block":
            parts["block_l"].append(match.lower.intersect(query))
            parts["block_u"].append(match.upper.intersect(query))
        elif match.rule.action == "allow":
            parts["allow_l"].append(match.lower.intersect(query))
            parts["allow_u"].append(match.upper.intersect(query))
            if not match.authenticated_only:
                # What an unauthenticated peer may get through: authenticated-only rules out.
                parts["plain_u"].append(match.upper.intersect(query))
        else:
            parts["bypass_u"].append(match.upper.intersect(query))
    block_lower, block_upper, allow_lower, allow_upper, bypass_upper, plain_allow_upper = (
        Space.union_all(dims, parts[name])
        for name in ("block_l", "block_u", "allow_l", "allow_u", "bypass_u", "plain_u")
    )
    if budget is not None:
        # The subtractions below cost (and may make) the product of the box counts; a pair of
        # these boxes costs about an eighth of a netfilter step (bench/wide.py's figures).
        budget.spend(
            (len(query.boxes) + len(allow_lower.boxes) + len(allow_upper.boxes))
            * (len(block_lower.boxes) + len(block_upper.boxes))
            // 8
        )
    if default_allows:
        surely = query.subtract(block_upper)
        possibly = bypass_upper.union(query.subtract(block_lower))
        possibly_plain = query.subtract(block_lower)
    else:
        surely = allow_lower.subtract(block_upper)
        possibly = bypass_upper.union(allow_upper.subtract(block_lower))
        possibly_plain = plain_allow_upper.subtract(block_lower)
    verdict_args = (context, profile, active, default, shields_up, settings)
    if expect_allow:
        missing = query.subtract(surely)
        if missing.is_empty():
            return _pass_allow(*verdict_args)
        denied = query.subtract(possibly_plain)
        if not denied.is_empty():
            return _fail_allow(*verdict_args, _sample(denied), merged_out)
        return _indeterminate(context, profile, active, _sample(missing), "allowed")
    reachable = query.intersect(surely)
    if not reachable.is_empty():
        return _fail_deny(*verdict_args, _sample(reachable))
    if query.intersect(possibly).is_empty():
        return _pass_deny(*verdict_args, merged_out)
    witness = _local_subnet_witness(context, active, block_upper, default_allows)
    if witness is not None:
        match, point = witness
        flow = _flow(context, point, profile, remote_set="LocalSubnet")
        return verdict(
            Status.FAIL,
            Reason(
                "windows.local-subnet-allowed", (("profile", profile), ("rule", match.rule.label()))
            ),
            flow,
            (rule_evidence(match.rule),),
        )
    return _indeterminate(context, profile, active, _sample(query.intersect(possibly)), "blocked")


def _local_subnet_witness(
    context: _Context, active: list[RuleMatch], block_upper: Space, default_allows: bool
) -> tuple[RuleMatch, dict[str, int]] | None:
    requirement = context.requirement
    if default_allows or requirement.remote is not None or requirement.except_remote:
        return None
    query_cylinder = widen(context.query, "remote")
    blocked_somewhere = widen(block_upper, "remote")
    for match in active:
        if match.rule.action != "allow" or match.witness.is_empty():
            continue
        region = match.witness.intersect(query_cylinder).subtract(blocked_somewhere)
        if not region.is_empty():
            return match, _sample(region)
    return None


def _containing(
    active: list[RuleMatch], point: dict[str, int], action: str, bound: str
) -> list[RuleMatch]:
    return [m for m in active if m.rule.action == action and getattr(m, bound).contains(point)]


def _pass_allow(context, profile, active, default, shields_up, settings) -> Verdict:  # type: ignore[no-untyped-def]
    if default.value == "allow":
        reason = Reason(
            "windows.no-block-rule-default-allows",
            (("profile", profile), ("setting", _setting_text(default))),
        )
        return verdict(Status.PASS, reason, None, (default.evidence,))
    allowing = [m for m in active if m.rule.action == "allow" and m.lower.touches(context.query)]
    evidence = tuple(rule_evidence(m.rule) for m in allowing[:_MAX_EVIDENCE])
    reason = Reason(
        "windows.allowed-by-rules",
        (("profile", profile), ("rules", tuple(m.rule.label() for m in allowing))),
    )
    return verdict(Status.PASS, reason, None, evidence)


def _fail_allow(
    context: _Context,
    profile: str,
    active: list[RuleMatch],
    default: Setting,
    shields_up: bool,
    settings: EffectiveProfile,
    point: dict[str, int],
    merged_out: list[RuleMatch],
) -> Verdict:
    flow = _flow(context, point, profile)
    blockers = _containing(active, point, "block", "lower")
    if blockers:
        rule = blockers[0].rule
        return verdict(
            Status.FAIL,
            Reason("windows.blocked-by-rule", (("profile", profile), ("rule", rule.label()))),
            flow,
            tuple(rule_evidence(m.rule) for m in blockers[:_MAX_EVIDENCE]),
        )
    if shields_up:
        return verdict(
            Status.FAIL,
            Reason("windows.shields-up", (("profile", profile),)),
            flow,
            (settings.shields_up.evidence,),
        )
    ignored = [m for m in merged_out if m.rule.action != "block" and m.upper.contains(point)]
    if ignored:
        # The local allow rule is what the reader sees; the GPO setting is what overrides it
        # (MS-GPFAS 2.2.3.13 AllowLocalPolicyMerge, MS-FASP 2.2.38).
        merge = settings.allow_local_policy_merge.evidence
        reason = Reason(
            "windows.local-rule-ignored",
            (
                ("profile", profile),
                ("rule", ignored[0].rule.label()),
                ("surely", "yes" if ignored[0].lower.contains(point) else "no"),
                ("merge_setting_at", _place(merge.file, merge.line)),
                ("setting", _setting_text(default)),
            ),
        )
        return verdict(
            Status.FAIL,
            reason,
            flow,
            (merge,)
            + tuple(rule_evidence(m.rule) for m in ignored[:_MAX_EVIDENCE])
            + (default.evidence,),
        )
    return verdict(
        Status.FAIL,
        Reason(
            "windows.no-allow-rule", (("profile", profile), ("setting", _setting_text(default)))
        ),
        flow,
        (default.evidence,),
    )


def _place(file: str, line: int) -> str:
    """file:line, or the file alone for hive and Registry.pol locations, which have no lines."""
    return f"{file}:{line}" if line else file


def _setting_text(setting: Setting) -> str:
    """ "default inbound action Block (DefaultInboundAction, gpo store)" from its evidence."""
    return setting.evidence.text.split(": ", 1)[1]


def _fail_deny(context, profile, active, default, shields_up, settings, point) -> Verdict:  # type: ignore[no-untyped-def]
    flow = _flow(context, point, profile)
    allowers = _containing(active, point, "allow", "lower")
    if allowers and default.value != "allow":
        rule = allowers[0].rule
        return verdict(
            Status.FAIL,
            Reason("windows.allowed-by-rule", (("profile", profile), ("rule", rule.label()))),
            flow,
            tuple(rule_evidence(m.rule) for m in allowers[:_MAX_EVIDENCE]),
        )
    return verdict(
        Status.FAIL,
        Reason(
            "windows.no-block-rule", (("profile", profile), ("setting", _setting_text(default)))
        ),
        flow,
        (default.evidence,) + tuple(rule_evidence(m.rule) for m in allowers[:_MAX_EVIDENCE]),
    )


def _pass_deny(
    context: _Context,
    profile: str,
    active: list[RuleMatch],
    default: Setting,
    shields_up: bool,
    settings: EffectiveProfile,
    merged_out: list[RuleMatch],
) -> Verdict:
    query = context.query
    blocking = [m for m in active if m.rule.action == "block" and m.lower.touches(query)]
    covered = Space.empty(query.dims)
    for match in blocking:
        covered = covered.union(match.lower.intersect(query))
    # Flows no block rule matches are decided by shields up or the profile's default, not by a
    # block rule that covers other ports or addresses.
    unmatched = query.subtract(covered)
    # Dropped local allow rules matter only where no block rule would have beaten them.
    ignored = [m for m in merged_out if m.rule.action != "block" and m.upper.touches(unmatched)]
    # A local allow rule AllowLocalPolicyMerge=0 leaves out: named, with the setting.
    ignored_param: tuple[tuple[str, str], ...] = ()
    merge_evidence: tuple[Evidence, ...] = ()
    if ignored:
        merge = settings.allow_local_policy_merge.evidence
        ignored_param = (
            ("local_rule_ignored", ignored[0].rule.label()),
            ("merge_setting_at", _place(merge.file, merge.line)),
        )
        merge_evidence = (merge,)
    if blocking and unmatched.is_empty():
        evidence = tuple(rule_evidence(m.rule) for m in blocking[:_MAX_EVIDENCE])
        reason = Reason(
            "windows.blocked-by-rules",
            (("profile", profile), ("rules", tuple(m.rule.label() for m in blocking)))
            + ignored_param,
        )
        return verdict(Status.PASS, reason, None, evidence + merge_evidence)
    if shields_up:
        return verdict(
            Status.PASS,
            Reason("windows.shields-up", (("profile", profile),) + ignored_param),
            None,
            (settings.shields_up.evidence,) + merge_evidence,
        )
    # Block rules still decide where an allow rule matches too (block beats allow): name those.
    allowed = Space.empty(query.dims)
    for match in active:
        if match.rule.action != "block":
            allowed = allowed.union(match.upper.intersect(query))
    overriding = [m for m in blocking if m.lower.touches(allowed)]
    reason = Reason(
        "windows.no-allow-rule-default-blocks",
        (("profile", profile), ("setting", _setting_text(default))) + ignored_param,
    )
    if overriding:
        reason = Reason(
            "windows.blocked-where-allowed",
            (
                ("profile", profile),
                ("rules", tuple(m.rule.label() for m in overriding)),
                ("setting", _setting_text(default)),
            )
            + ignored_param,
        )
    return verdict(
        Status.PASS,
        reason,
        None,
        (default.evidence,)
        + tuple(rule_evidence(m.rule) for m in overriding[:_MAX_EVIDENCE])
        + merge_evidence,
    )


def _indeterminate(
    context: _Context, profile: str, active: list[RuleMatch], point: dict[str, int], outcome: str
) -> Verdict:
    flow = _flow(context, point, profile)
    uncertain = [m for m in active if m.upper.contains(point) and not m.lower.contains(point)]
    if not uncertain:
        uncertain = [m for m in active if m.reasons and m.upper.touches(context.query)]
    reason = Reason(
        "windows.undecided",
        (
            ("profile", profile),
            ("would_be", outcome),
            ("rules", tuple(m.rule.label() for m in uncertain)),
            ("conditions", tuple("; ".join(m.reasons) or "runtime condition" for m in uncertain)),
        ),
    )
    return verdict(
        Status.INDETERMINATE,
        reason,
        flow,
        tuple(rule_evidence(m.rule) for m in uncertain[:_MAX_EVIDENCE]),
    )


def _sample(space: Space) -> dict[str, int]:
    families = space.project("family")
    preferred = dict(_PREFERRED)
    family = 4
    if not any(lo <= 4 <= hi for lo, hi in families):
        preferred.update(_PREFERRED_V6, family=6)
        family = 6
    # Addresses a host could send from: never unspecified, broadcast or multicast when avoidable.
    choose = host_chooser(family)
    point = space.restrict("family", [(family, family)]).sample(
        preferred, {"remote": choose, "local": choose}
    )
    assert point is not None  # callers sample non-empty spaces only
    return point


def _flow(
    context: _Context, point: dict[str, int], profile: str, remote_set: str | None = None
) -> Flow:
    requirement = context.requirement
    family = point["family"]
    inbound = requirement.direction == Direction.INBOUND
    extra = [f"profile {profile}"]
    program: str | None = None
    if point["program"] == 0 and requirement.program:
        # Class 0 is every program no rule names; the required program is one of them.
        program = requirement.program
        extra.append(f"program {program}")
    elif point["program"] == 0 and len(context.symbols.programs) > 1:
        extra.append("from a program that no rule names")
    elif requirement.program or len(context.symbols.programs) > 1:
        program = context.symbols.program_text(point["program"])
        extra.append(f"program {program}")
    service = context.symbols.services[point["service"]]
    if service:
        service = "(another service)" if service == "*" else service
        extra.append("service " + service)
    package = context.symbols.packages[point["package"]]
    if package:
        package = "(another package)" if package == "*" else package
        extra.append("package " + package)
    icmp, described = point["icmp"], " ".join(extra)
    # Inbound flows go from the remote end to this host, outbound ones the other way.
    ends = (
        ("remote", "local", "rport", "lport") if inbound else ("local", "remote", "lport", "rport")
    )
    src, dst, sport, dport = (point[end] for end in ends)
    flow = flow_of(
        family,
        point["proto"],
        src,
        dst,
        sport,
        dport,
        icmp=icmp,
        extra=described,
        profile=profile,
        program=program,
        service=service or None,
        package=package or None,
    )
    if remote_set is not None:
        # The remote address is a witness of a keyword set, not a concrete value: say so.
        shown = f"<an address in {remote_set}>"
        text = flow.text.replace(format_address(family, point["remote"]), shown, 1)
        flow = replace(flow, text=text, remote_set=remote_set)
    return flow
