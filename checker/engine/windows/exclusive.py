"""Exclusive policies on Windows Defender Firewall: the undeclared flows a profile allows.

The same question as checker.engine.netfilter.exclusive (docs/policy-format.md, "Exclusive policies"),
answered with the Windows semantics of checker.engine.windows.engine ("Windows Firewall rules" on
Microsoft Learn; MS-FASP 2.2.37/2.2.38): per profile the target can be in, a flow is surely
allowed when the firewall is off in the profile, or when an allow rule surely matches it and no
block rule possibly does (default Block), or when no block rule possibly matches it (default
Allow); shields up (FW_PROFILE_CONFIG_SHIELDED) ignores inbound allow rules; local rules count
only while AllowLocalPolicyMerge is not 0 (MS-GPFAS 2.2.3.13). Every flow means every family,
protocol, port, peer, program, service and package.

Declared flows are the `expect: allow` rules of the direction (any policy the target gets) in
the profiles they name, from every remote port (the Windows engine asks about every source port
for allow too). Infrastructure is exempt as on netfilter (INFRASTRUCTURE_TEXT there): DHCP
client, ICMP/ICMPv6 errors, IPv6 neighbour discovery; replies are never new flows and loopback
is out of scope.

Blocks: the surely allowed undeclared flows grouped by the first allow rule (in export order)
that surely matches them, else by the profile setting that allows them (default action Allow,
firewall off); each one box, with a sample flow and the profile. Flows only possibly allowed
(rule conditions only the live host resolves) are indeterminate blocks. What a block says and
how blocks make the verdict is shared with netfilter (checker.engine.blocks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from checker.engine.blocks import (
    DHCP,
    ERROR_TYPES,
    INFRASTRUCTURE_TEXT,
    ND_TYPES,
    UDP,
    icmp_types,
    protocols,
    ranges,
    verdict,
)
from checker.engine.space import Box, Dim, Space, iset_subtract
from checker.engine.verdict import Verdict
from checker.engine.windows.engine import _Context as WindowsContext
from checker.engine.windows.engine import _flow, _profiles_to_check, _sample, rule_evidence
from checker.engine.windows.match import (
    RuleMatch,
    Symbols,
    compile_rule,
    normalize_program,
    requirement_space,
    widen,
)
from checker.engine.windows.profiles import effective_profile
from checker.engine.windows.stores import effective_rules
from checker.findings import Evidence, Status
from checker.model import net
from checker.model.windows import PROFILE_NAMES, WindowsRuleset
from checker.policies.model import Direction, Expect, Requirement


def infrastructure(dims: tuple[Dim, ...], inbound: bool) -> Space:
    """The exempt flows in the Windows engine's dimensions (sources: checker.engine.blocks)."""
    # The initiator's port is the remote port inbound, the local one outbound.
    initiator, service = ("rport", "lport") if inbound else ("lport", "rport")
    pieces = []
    for family, (server, client) in DHCP.items():
        # DHCP: inbound the server (67/547) opens toward the client port (68/546).
        first, second = (server, client) if inbound else (client, server)
        pieces.append(
            Space.where(
                dims,
                {
                    "family": [(family,) * 2],
                    "proto": [(UDP, UDP)],
                    initiator: [(first,) * 2],
                    service: [(second,) * 2],
                },
            )
        )
    for family, (proto, types) in ERROR_TYPES.items():
        # IPv6 neighbour discovery is ICMPv6 too (the family's error protocol).
        exempt = types + (ND_TYPES if family == 6 else ())
        pieces.append(
            Space.where(
                dims,
                {"family": [(family,) * 2], "proto": [(proto,) * 2], "icmp": icmp_types(*exempt)},
            )
        )
    return Space.union_all(dims, pieces)


def _symbols(
    rules: Sequence[object], requirement: Requirement, declared: Sequence[Requirement]
) -> Symbols:
    symbols = Symbols.build(rules, requirement)  # type: ignore[arg-type]
    services = tuple(
        sorted({r.service.lower() for r in declared if r.service} - set(symbols.services))
    )
    # A declared program given by path is its own symbol (else it would stand for every
    # program no firewall rule names).
    programs = tuple(
        sorted(
            {normalize_program(r.program) for r in declared if r.program and "\\" in r.program}
            - set(symbols.programs)
        )
    )
    return replace(
        symbols, services=symbols.services + services, programs=symbols.programs + programs
    )


@dataclass(frozen=True, slots=True)
class WindowsBlock:
    profile: str
    space: Space
    description: str
    counterexample: str
    evidence: Evidence | None
    how: str
    reason: str = ""

    @property
    def sure(self) -> bool:
        return not self.reason

    def text(self) -> str:
        if self.reason:
            return f"{self.description}: cannot decide: {self.reason}"
        return f"{self.description}: allowed by {self.how}"


def describe(box: Box, universe: Space, symbols: Symbols, inbound: bool, profile: str) -> str:
    value = dict(zip((name for name, _, _ in universe.dims), box, strict=True))
    # "Every peer" of the box's own families (IPv4 and IPv6 share the address dimensions).
    same_family = universe.restrict("family", value["family"])
    full = {name: same_family.project(name) for name, _, _ in universe.dims}

    def whole(name: str) -> bool:
        return not iset_subtract(full[name], value[name])

    proto_values = value["proto"]
    text = protocols(proto_values)
    initiator, service = ("rport", "lport") if inbound else ("lport", "rport")
    if all(lo == hi and lo in net.PORT_PROTOCOLS for lo, hi in proto_values):
        sports = "any" if whole(initiator) else ranges(value[initiator])
        dports = "any" if whole(service) else ranges(value[service])
        text += f" {sports} -> {dports}"
    families = value["family"]
    text += f" {'from' if inbound else 'to'} " + ("anywhere" if whole("remote") else "some peers")
    if not whole("program"):
        names = [symbols.program_text(i) for lo, hi in value["program"] for i in range(lo, hi + 1)]
        text += f" program {', '.join(names[:3])}" + (" …" if len(names) > 3 else "")
    if families == ((4, 4),) or families == ((6, 6),):
        text += f" ipv{families[0][0]}"
    return f"{text} profile {profile}"


def _profile_blocks(
    context: WindowsContext,
    profile: str,
    rulesets: Sequence[WindowsRuleset],
    declared: Sequence[Requirement],
) -> list[WindowsBlock]:
    requirement, symbols, query = context.requirement, context.symbols, context.query
    inbound = requirement.direction is Direction.INBOUND
    dims = query.dims
    settings = effective_profile(profile, rulesets)
    covered = Space.union_all(
        dims,
        [
            # A declaration is about a program, whatever package attribute its flows carry.
            widen(requirement_space(r, symbols, dims), "package")
            for r in declared
            if profile in (r.profiles or PROFILE_NAMES)
        ],
    ).union(infrastructure(dims, inbound))
    # (how, evidence, flows): what allows which flows, surely; then what possibly does.
    sure_groups: list[tuple[str, Evidence | None, Space]] = []
    doubtful = Space.empty(dims)
    reasons: list[str] = []
    if not settings.enabled.value:
        sure_groups.append(
            (f"{profile} profile: the firewall is off", settings.enabled.evidence, query)
        )
    else:
        default = settings.default_inbound if inbound else settings.default_outbound
        shields_up = inbound and bool(settings.shields_up.value)
        active: list[RuleMatch] = []
        for match in context.matches:
            rule = match.rule
            if profile not in rule.profiles or not match.upper.touches(query):
                continue
            if shields_up and rule.action in ("allow", "bypass"):
                continue
            if rule.store == "local" and not settings.allow_local_policy_merge.value:
                continue
            active.append(match)
        block_lower = Space.union_all(
            dims, [m.lower for m in active if m.rule.action == "block"]
        ).intersect(query)
        block_upper = Space.union_all(
            dims, [m.upper for m in active if m.rule.action == "block"]
        ).intersect(query)
        if default.value == "allow":
            allowed = query.subtract(block_upper)
            sure_groups.append((default.evidence.text.split(": ", 1)[1], default.evidence, allowed))
            possibly = query.subtract(block_lower)
        else:
            for match in active:
                if match.rule.action == "allow":
                    sure_groups.append(
                        (
                            f"rule {match.rule.label()}",
                            rule_evidence(match.rule),
                            match.lower.subtract(block_upper),
                        )
                    )
            possibly = (
                Space.union_all(
                    dims, [m.upper for m in active if m.rule.action in ("allow", "bypass")]
                )
                .intersect(query)
                .subtract(block_lower)
            )
        surely = Space.union_all(dims, [g for _, _, g in sure_groups]).intersect(query)
        doubtful = possibly.subtract(surely)
        reasons = [r for m in active if m.reasons and m.upper.touches(doubtful) for r in m.reasons]
    blocks: list[WindowsBlock] = []
    assigned = covered
    for how, evidence, flows in sure_groups:
        part = flows.intersect(query).subtract(assigned).compact()
        if not part:
            continue
        assigned = assigned.union(part)
        for box in part.boxes:
            piece = Space(dims, (box,))
            blocks.append(
                WindowsBlock(
                    profile,
                    piece,
                    describe(box, query, symbols, inbound, profile),
                    _flow(context, _sample(piece), profile).text,
                    evidence,
                    how,
                )
            )
    left = doubtful.subtract(covered).compact()
    for box in left.boxes:
        piece = Space(dims, (box,))
        blocks.append(
            WindowsBlock(
                profile,
                piece,
                describe(box, query, symbols, inbound, profile),
                _flow(context, _sample(piece), profile).text,
                None,
                "",
                reason="; ".join(dict.fromkeys(reasons))
                or "rule conditions only the live host resolves",
            )
        )
    return blocks


def undeclared(
    rulesets: Sequence[WindowsRuleset],
    requirement: Requirement,
    requirements: Sequence[Requirement],
) -> tuple[list[WindowsBlock], Space]:
    """Every profile's blocks, and the universe they were drawn from."""
    direction = "in" if requirement.direction is Direction.INBOUND else "out"
    applied, _shadowed = effective_rules(list(rulesets))
    rules = [rule for rule in applied if rule.direction == direction]
    declared = [
        r
        for r in requirements
        if r.expect is Expect.ALLOW and not r.exclusive and r.direction is requirement.direction
    ]
    symbols = _symbols(rules, requirement, declared)
    dims = symbols.dims()
    query = requirement_space(requirement, symbols, dims)
    matches = tuple(compile_rule(rule, symbols, dims) for rule in rules if rule.enabled)
    context = WindowsContext(requirement, symbols, query, matches)
    blocks = [
        block
        for profile in _profiles_to_check(rulesets, requirement)
        for block in _profile_blocks(context, profile, rulesets, declared)
    ]
    return blocks, query


def check(
    rulesets: WindowsRuleset | Sequence[WindowsRuleset],
    requirement: Requirement,
    requirements: Sequence[Requirement],
) -> Verdict:
    rulesets = [rulesets] if isinstance(rulesets, WindowsRuleset) else list(rulesets)
    blocks, query = undeclared(rulesets, requirement, requirements)
    direction = requirement.direction.value
    if not query:
        return Verdict(Status.ERROR, f"no {direction} flow to check")
    found = verdict(blocks, direction, "allowed")
    if found is not None:
        return found
    return Verdict(
        Status.PASS,
        f"every new {direction} flow allowed in every profile is declared by an allow rule or"
        f" is infrastructure ({INFRASTRUCTURE_TEXT})",
    )
