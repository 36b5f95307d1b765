"""The walk of one concrete packet through netfilter, hop by hop (`fwcheck explain`).

The engine (netfilter.py) decides whole spaces of flows at once; to show a user *why* it decided,
this module takes the one flow a verdict names (its counterexample, or a sample flow of a pass)
and walks each of that connection's packets (the SYN, and for `expect: allow` the SYN-ACK and
the final ACK) through the base chains of the hooks it crosses, in priority order, with the same
compiled matches the engine uses (netfilter_match). It records every rule the packet matched
(a jump, a LOG, the verdict that ended the chain) and each chain's policy when the packet fell
off its end: a traceroute through the firewall. Rules the packet did not match are counted,
not listed.

Same semantics as the engine (netfilter.py): first match per chain, `-j` returns, `-g` does
not push a frame, every base chain on the hook must accept, nat chains only see the first packet,
device-bound chains only their device's packets. A match the engine cannot decide (an ipset
whose contents were not given, a target decided in userspace) is shown as "may match".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from checker.engine.netfilter import query
from checker.engine.netfilter.engine import _flow_text
from checker.engine.netfilter.match import Phase
from checker.engine.netfilter.walk import (
    ACCEPTING,
    DEVICE_HOOKS,
    MAX_DEPTH,
    Context,
    Walker,
    connection_accepted,
    new_context,
)
from checker.engine.space import Space
from checker.model.netfilter import Chain, Hook, IpSets, NftDevices, Rule, Ruleset, Table, Verdict
from checker.policies.model import Direction, Expect, Requirement


@dataclass(frozen=True, slots=True)
class Hop:
    """One step of the walk: a rule the packet matched, or a chain's policy it fell to."""

    depth: int
    file: str
    line: int
    text: str
    # What happened: "matches: ACCEPT", "jumps to CHAIN", "may match (...)", "policy DROP" …
    action: str


@dataclass(slots=True)
class ChainWalk:
    table: str
    chain: str
    hook: str
    hops: list[Hop] = field(default_factory=list)
    # Rules tried that did not match the packet.
    skipped: int = 0
    # "accept", "drop", "reject", "unknown", "dnat" …; what this base chain did with the packet.
    outcome: str = ""


@dataclass(slots=True)
class PacketWalk:
    """One packet of the connection (e.g. "the SYN") through the hooks of its phase."""

    label: str
    packet: str
    chains: list[ChainWalk] = field(default_factory=list)
    outcome: str = ""


@dataclass(slots=True)
class Trace:
    family: int
    flow: str
    packets: list[PacketWalk] = field(default_factory=list)


_LABELS = {"syn": "the SYN", "synack": "the SYN-ACK reply", "ack": "the final ACK"}


def _label(phase: Phase, point: dict[str, int]) -> str:
    head = phase.name.split("-")[0]
    if head == "syn" and point.get("proto") != 6:
        return "the packet"
    if head == "echoreply":
        return "the echo reply"
    return _LABELS.get(head, "the packet")


class _PointWalker:
    """First-match walk of one packet (a point of the phase's space)."""

    def __init__(self, context: Context, family: int, phase: Phase, point: dict[str, int]) -> None:
        self.compiler = context.compiler(family, phase)
        self.lookup = Walker(self.compiler, context.chains_by_name).lookup
        self.point = point

    def chain(
        self, table: Table, chain: Chain, walk: ChainWalk, depth: int
    ) -> tuple[Verdict, Rule | None] | None:
        """The verdict the chain (and chains it calls) gives the packet, or None if it returns."""
        for rule in chain.rules:
            (sure, maybe), reasons = self.compiler.rule(rule)
            if not maybe.contains(self.point):
                walk.skipped += 1
                continue
            certain = sure.contains(self.point)
            verdict = rule.target.verdict

            def hop(action: str, rule: Rule = rule) -> Hop:
                return Hop(depth, rule.origin.file, rule.origin.line, rule.text, action)

            if not certain:
                why = "; ".join(reasons) or "a match fwcheck cannot decide"
                walk.hops.append(hop(f"may match ({why}): the walk stops here, undecided"))
                return Verdict.UNKNOWN, rule
            if verdict is Verdict.CONTINUE:
                walk.hops.append(hop(f"matches: {rule.target.name} (evaluation continues)"))
                continue
            if verdict is Verdict.RETURN:
                walk.hops.append(hop("matches: RETURN to the calling chain"))
                return None
            if verdict in (Verdict.JUMP, Verdict.GOTO):
                called = self.lookup(table, rule.target.chain or "")
                kind = "jumps to" if verdict is Verdict.JUMP else "goes to"
                if called is None or depth >= MAX_DEPTH:
                    walk.hops.append(hop(f"{kind} {rule.target.chain}, which is missing"))
                    return Verdict.UNKNOWN, rule
                walk.hops.append(hop(f"matches: {kind} chain {called.name}"))
                result = self.chain(table, called, walk, depth + 1)
                if result is not None or verdict is Verdict.GOTO:
                    # A goto's chain returning ends this chain too (no frame was pushed).
                    return result
                continue
            name = rule.target.name.upper() if rule.target.name else verdict.value.upper()
            ends = "ends this chain" if verdict in ACCEPTING else "final"
            detail = f" {rule.target.detail}" if rule.target.detail else ""
            walk.hops.append(hop(f"matches: {name}{detail} ({ends})"))
            return verdict, rule
        return None

    def base_chain(self, table: Table, chain: Chain) -> ChainWalk:
        walk = ChainWalk(
            f"{table.family} {table.name}", chain.name, chain.hook.value if chain.hook else ""
        )
        result = self.chain(table, chain, walk, 1)
        if result is None:
            policy = chain.policy or Verdict.ACCEPT
            origin = chain.policy_origin or table.origin
            walk.hops.append(
                Hop(
                    0,
                    origin.file,
                    origin.line,
                    f"chain {chain.name} policy {policy.value.upper()}",
                    f"falls off the end: policy {policy.value.upper()}",
                )
            )
            walk.outcome = policy.value
        else:
            walk.outcome = result[0].value
        return walk


def walk_packet(
    context: Context, family: int, phase: Phase, point: dict[str, int]
) -> list[ChainWalk]:
    """Every base chain the packet `point` (in phase coordinates) crosses, in hook order."""
    walker = _PointWalker(context, family, phase, point)
    walks = []
    for table, chain in context.base_chains(family, query.hooks_for(phase)):
        if chain.kind == "nat" and not phase.sees_nat:
            continue
        if chain.hook in DEVICE_HOOKS and chain.device:
            side = "iif" if chain.hook is Hook.INGRESS else "oif"
            if point.get(side) != context.interfaces.index_of(chain.device):
                continue
        walk = walker.base_chain(table, chain)
        if walk.outcome == "fwd" and not (chain.hook is Hook.INGRESS and phase.inbound):
            walk.outcome = "unknown"  # it still leaves the host: where to is not followed
        walks.append(walk)
        if walk.outcome not in ("accept", "snat"):
            break  # dropped, rejected, translated or undecided: later chains never see it
    return walks


_OUTCOMES = {
    "drop": "dropped",
    "reject": "rejected",
    "unknown": "undecided (see the last hop)",
    "fwd": "sent out of another device (fwd): never delivered to this host",
    "dnat": "translated (DNAT/REDIRECT): it goes elsewhere, so INPUT alone does not answer",
}


def _outcome(walks: Sequence[ChainWalk]) -> str:
    if not walks:
        return "accepted (no chain filters these hooks: netfilter accepts by default)"
    last = walks[-1].outcome
    if last in ("accept", "snat"):
        return "accepted by every chain on its hooks"
    return _OUTCOMES.get(last, last)


def trace_point(
    context: Context, requirement: Requirement, family: int, point: dict[str, int]
) -> Trace:
    """The walk of the connection at `point` (requirement coordinates)."""
    inbound = requirement.direction is Direction.INBOUND
    complete = requirement.expect is Expect.ALLOW
    trace = Trace(family, _flow_text(point, family, context.interfaces, inbound))
    for phase, mirrored in query.phases_for(inbound, complete):
        if not query.belongs(point, family, phase):
            continue
        seen = query.point_in_phase(point, family, phase, mirrored)
        walks = walk_packet(context, family, phase, seen)
        packet = PacketWalk(
            _label(phase, point),
            _flow_text(seen, family, context.interfaces, phase.inbound)
            + f" ({phase.ctstate.lower()}, {'in' if phase.inbound else 'out'})",
            walks,
            _outcome(walks),
        )
        trace.packets.append(packet)
        if not packet.outcome.startswith("accepted"):
            break  # the connection stops at this packet
    return trace


def trace(models: Sequence[Ruleset | IpSets | NftDevices], requirement: Requirement) -> list[Trace]:
    """One trace per family of the requirement the target has rules for: the flow the engine's
    verdict names (a counterexample, or an undecided flow), else a sample flow of the
    requirement, walked hop by hop."""
    context = new_context(models)
    covered = frozenset().union(*(r.families for r in context.rulesets))
    inbound = requirement.direction is Direction.INBOUND
    allow = requirement.expect is Expect.ALLOW
    traces = []
    for family in sorted(requirement.families & covered):
        space = query.requirement_space(requirement, family, context.interfaces)
        if not space:
            continue
        sure, maybe, _parts = connection_accepted(context, family, space, inbound, allow)
        if allow:
            bad, doubtful = space.subtract(maybe), space.subtract(sure)
        else:
            bad, doubtful = space.intersect(sure), space.intersect(maybe)
        chosen: Space = bad or doubtful or space
        point = chosen.sample(query.preferred_point(requirement, family))
        if point is not None:
            traces.append(trace_point(context, requirement, family, point))
    return traces


def render(traces: Sequence[Trace]) -> list[str]:
    lines: list[str] = []
    for one in traces:
        lines.append(f"flow: {one.flow}")
        for packet in one.packets:
            lines.append(f"  {packet.label}: {packet.packet}")
            if not packet.chains:
                lines.append("    (no base chain on these hooks)")
            for number, walk in enumerate(packet.chains, start=1):
                lines.append(
                    f"    {number}. {walk.hook} chain {walk.chain} (table {walk.table})"
                    f" -> {walk.outcome.upper()}"
                )
                for hop in walk.hops:
                    indent = "  " * max(hop.depth, 1)
                    where = f"{hop.file}:{hop.line}" if hop.line > 0 else hop.file
                    lines.append(f"      {indent}{where}: {hop.text}")
                    lines.append(f"      {indent}  -> {hop.action}")
                if walk.skipped:
                    lines.append(f"        ({walk.skipped} rule(s) tried did not match)")
            lines.append(f"    => {packet.label} is {packet.outcome}")
    return lines
