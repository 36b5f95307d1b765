"""Why Windows Defender Firewall treats one concrete flow as it does (`fwcheck explain`).

Windows is not first-match (Microsoft Learn, "Windows Firewall rules": "authenticated bypass >
block > allow > default"; MS-FASP 2.2.37/2.2.38 for the profile settings), so the walk is not a
path through chains: per profile it shows the profile's state (firewall on/off, shields up, the
default action), then each precedence tier in order with every enabled rule of that profile and
direction that matches the flow (file:line), and which tier decided. The flow is the one the
engine's verdict is about: one it would let through for `expect: deny`, one it would not surely
let through for `expect: allow`, else a sample flow of the requirement. The rule bounds come from
the engine's own compilation (windows_match), so "may match" means the same as in its verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence

from checker.engine.space import Space
from checker.engine.windows.engine import _Context, _flow, _profiles_to_check, _sample
from checker.engine.windows.match import RuleMatch, Symbols, compile_rule, requirement_space
from checker.engine.windows.profiles import EffectiveProfile, effective_profile
from checker.model.windows import WindowsRuleset
from checker.policies.model import Direction, Expect, Requirement

_TIERS = (
    ("bypass", "authenticated-bypass allow rules (only for IPsec-authenticated peers)"),
    ("block", "block rules"),
    ("allow", "allow rules"),
)


def _active(context: _Context, settings: EffectiveProfile, inbound: bool) -> list[RuleMatch]:
    """The rules that count in this profile (the engine's own filter, windows._decide)."""
    shields_up = inbound and bool(settings.shields_up.value)
    return [
        m
        for m in context.matches
        if settings.profile in m.rule.profiles
        and not (m.rule.store == "local" and not settings.allow_local_policy_merge.value)
        and not (shields_up and m.rule.action in ("allow", "bypass"))
        and m.upper.touches(context.query)
    ]


def _point(context: _Context, active: list[RuleMatch], default_allows: bool) -> dict[str, int]:
    query = context.query
    empty = Space.empty(query.dims)
    block_upper = empty
    allow_lower = empty
    for match in active:
        if match.rule.action == "block":
            block_upper = block_upper.union(match.upper.intersect(query))
        elif match.rule.action == "allow":
            allow_lower = allow_lower.union(match.lower.intersect(query))
    surely = query.subtract(block_upper) if default_allows else allow_lower.subtract(block_upper)
    if context.requirement.expect is Expect.ALLOW:
        chosen = query.subtract(surely)
    else:
        chosen = query.intersect(surely)
    return _sample(chosen if not chosen.is_empty() else query)


def explain(rulesets: Sequence[WindowsRuleset], requirement: Requirement) -> list[str]:
    rulesets = list(rulesets)
    inbound = requirement.direction is Direction.INBOUND
    direction = "in" if inbound else "out"
    rules = [rule for rs in rulesets for rule in rs.rules if rule.direction == direction]
    symbols = Symbols.build(rules, requirement)
    dims = symbols.dims()
    query = requirement_space(requirement, symbols, dims)
    if query.is_empty():
        return ["(the requirement describes no flow)"]
    matches = tuple(compile_rule(rule, symbols, dims) for rule in rules if rule.enabled)
    context = _Context(requirement, symbols, query, matches)
    lines: list[str] = []
    for profile in _profiles_to_check(rulesets, requirement):
        settings = effective_profile(profile, rulesets)
        default = settings.default_inbound if inbound else settings.default_outbound
        lines.append(f"profile {profile}:")
        lines.append(f"  {settings.enabled.evidence.text} ({_where(settings.enabled.evidence)})")
        if not settings.enabled.value:
            lines.append("  => the firewall is off in this profile: every flow is allowed")
            continue
        if inbound and settings.shields_up.value:
            lines.append(
                f"  {settings.shields_up.evidence.text}: inbound allow rules are ignored"
                f" ({_where(settings.shields_up.evidence)})"
            )
        active = _active(context, settings, inbound)
        point = _point(context, active, default.value == "allow")
        lines.append(f"  flow: {_flow(context, point, profile).text}")
        decided = ""
        for number, (action, title) in enumerate(_TIERS, start=1):
            sure = [m for m in active if m.rule.action == action and m.lower.contains(point)]
            maybe = [
                m
                for m in active
                if m.rule.action == action
                and m.upper.contains(point)
                and not m.lower.contains(point)
            ]
            lines.append(f"  {number}. {title}: {len(sure)} match, {len(maybe)} may match")
            for match in sure:
                lines.append(f"       matches {_rule(match)}")
            for match in maybe:
                why = "; ".join(match.reasons) or "depends on the live host"
                lines.append(f"       may match ({why}): {_rule(match)}")
            if not decided and sure and action != "bypass":
                decided = (
                    f"{'blocked' if action == 'block' else 'allowed'} by {sure[0].rule.label()}"
                )
            elif not decided and maybe:
                decided = "undecided: a rule may match (see above)"
        lines.append(f"  4. {default.evidence.text} ({_where(default.evidence)})")
        lines.append(
            f"  => {decided or 'no rule matches: the default action ' + str(default.value).capitalize() + ' applies'}"
        )
    return lines


def _rule(match: RuleMatch) -> str:
    rule = match.rule
    return f"{rule.label()} ({rule.origin.file}:{rule.origin.line})"


def _where(evidence: object) -> str:
    file = getattr(evidence, "file", "")
    line = getattr(evidence, "line", 0)
    return f"{file}:{line}" if line else str(file)
