"""Netfilter semantics: does this host's netfilter accept a space of flows?

Semantics (iptables(8), iptables-extensions(8), nft(8), and the kernel's nf_hook_slow):
- Within a chain, rules are tried in order; the first terminating verdict wins. Non-terminating
  targets (LOG, MARK, COUNTER, …) let evaluation continue.
- `-j CHAIN` calls a user chain; RETURN (or falling off its end) resumes in the caller.
  `-g CHAIN` does not push a frame: a return from the chain gone to resumes in the chain that
  called the current one. RETURN in, or the end of, a base chain applies the chain's policy;
  user chains have no policy.
- ACCEPT ends only its own base chain: every base chain registered on the hook (iptables tables
  and nft chains of every table of the family) is walked in priority order, and the packet
  survives only if every one accepts, so any DROP/REJECT wins. A hook with no base chain accepts.
- IPv4 and IPv6 are separate: "ip" tables see IPv4, "ip6" tables IPv6, "inet" and "netdev" both.
- netdev chains see only their device's packets: ingress before prerouting, egress after
  postrouting (so an egress drop stops outbound first packets and the replies of inbound flows).
- Base chains are walked one after another, each on the packets the earlier ones let through:
  marks written by MARK/CONNMARK are seen by later rules and chains (netfilter_marks: a new
  connection starts with mark 0 and ctmark 0; a reply's ctmark is not followed when rules
  write ctmarks; tc/eBPF/SO_MARK marks are assumed absent).
- nat chains see only the first packet of a connection. A DNAT/REDIRECT in PREROUTING catching
  an inbound flow is followed (netfilter_walk, netfilter_route): the translated packet goes on
  through PREROUTING, then INPUT (the host's address) or FORWARD and POSTROUTING, and the
  connection's later packets take the same way. Whether the new destination is the host's
  comes from its `ip -j addr` output (HostAddresses); without it both ways are walked. A DNAT
  in nat OUTPUT sending this host's own connection to an address surely not its own is
  followed too: the rest of OUTPUT sees the new destination with the device the packet was
  first routed to (the hook's `out` is fixed when it is called; nf_nat reroutes afterwards),
  POSTROUTING the new device, and a reply has its source written back at NF_IP_PRI_NAT_SRC of
  INPUT, after the filter table (all measured in tests/kernel/test_oracle_dnat_output.py).
  Other translations (REDIRECT or a local address in OUTPUT, NETMAP, more than 64 at once) are
  indeterminate, for the connection's later packets too.
- `-m set` matches are decided from the target's `ipset save` output when it is among the
  sources, and are indeterminate without it (netfilter_sets).
- Questions are about new connections: the SYN (ctstate NEW). For `expect: allow` over TCP the
  connection must complete: the SYN-ACK (ESTABLISHED) must get out the other way and the final
  ACK in, so a strict OUTPUT policy without an ESTABLISHED rule fails the check. For
  `expect: deny`, the first packet getting in already counts as reachable.

Three-valued: each rule matches a (sure, maybe) pair of spaces (netfilter_match). The walk keeps,
at each point of a chain, the packets that surely reach it and those that possibly do; verdicts
are collected as pieces (verdict, surely-given, possibly-given, deciding rule). A flow is surely
accepted when no piece possibly refuses it (so a random choice between accepting paths, such
as kube-proxy's `-m statistic`, is accepted), possibly accepted when it possibly gets through.
A requirement `allow` passes only if the whole space is surely accepted, `deny` only if nothing
possibly is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from checker.engine.budget import BudgetExceeded
from checker.engine.netfilter import query
from checker.engine.netfilter.match import Phase
from checker.engine.netfilter.walk import (
    ACCEPTING,
    ChainResult,
    Context,
    HookResult,
    Piece,
    connection_accepted,
    deciding_evidence,
    new_context,
)
from checker.engine.reasons import budget_verdict, verdict
from checker.engine.space import Space
from checker.engine.symbols import InterfaceSymbols
from checker.engine.verdict import Verdict as Verdict_
from checker.engine.verdict import flow_of
from checker.findings import Evidence, Flow, Reason, Status
from checker.model.netfilter import Hook, IpSets, Ruleset, Verdict
from checker.policies.model import Direction, Expect, Requirement

__all__ = ["Context", "check", "classify_flow", "new_context"]


def classify_flow(
    rulesets: Sequence[Ruleset | IpSets],
    *,
    family: int,
    proto: int,
    src: str,
    dst: str,
    sport: int,
    dport: int,
    direction: str,
    iface: str = "eth0",
    icmp: int = 0,
) -> str:
    """ "accept", "drop" or "indeterminate" for one concrete connection (used by the kernel
    oracle tests): for TCP, whether the handshake completes (SYN, SYN-ACK, ACK); for an ICMP
    echo request (`icmp` = type * 256 + code), whether its echo reply gets back; otherwise
    whether the first packet is accepted."""
    context = new_context(rulesets, [iface])
    interfaces = context.interfaces
    dims = query.dims_for(family, interfaces)
    inbound = direction == "inbound"
    values = {
        "family": family,
        "proto": proto,
        "saddr": int(ipaddress.ip_address(src)),
        "daddr": int(ipaddress.ip_address(dst)),
        "sport": sport,
        "dport": dport,
        "icmp": icmp,
        "iif": interfaces.index_of(iface) if inbound else 0,
        "oif": 0 if inbound else interfaces.index_of(iface),
        "mark": 0,
        "ctmark": 0,
    }
    point = Space.where(dims, {name: [(value, value)] for name, value in values.items()})
    sure, maybe, _ = connection_accepted(context, family, point, inbound, True)
    if sure.contains(values):
        return "accept"
    if maybe.contains(values):
        return "indeterminate"
    return "drop"


def _flow_text(
    point: dict[str, int], family: int, interfaces: InterfaceSymbols, inbound: bool
) -> str:
    return _flow(point, family, interfaces, inbound).text


def _flow(point: dict[str, int], family: int, interfaces: InterfaceSymbols, inbound: bool) -> Flow:
    extra = ""
    interface = None
    if len(interfaces.symbols) > 3:
        side = "iif" if inbound else "oif"
        interface = interfaces.describe(point[side])
        extra = f"{'in' if inbound else 'out'} {interface}"
    return flow_of(
        family,
        point["proto"],
        point["saddr"],
        point["daddr"],
        point["sport"],
        point["dport"],
        point["icmp"],
        extra,
        interface=interface,
    )


_LABELS = {
    "synack": "the SYN-ACK reply",
    "ack": "the handshake's final ACK",
    "echoreply": "the echo reply",
}


def _denial(
    parts: list[tuple[Phase, bool, Space, HookResult]], point: dict[str, int], family: int
) -> tuple[str, list[Evidence]]:
    """Which packet of the flow at `point` is dropped, and the rule (or policy) that drops it."""
    for phase, mirrored, _asked, hook in parts:
        if not query.belongs(point, family, phase):
            continue
        seen = query.point_in_phase(point, family, phase, mirrored)
        if not hook.accept_maybe.contains(seen):
            if phase.ctstate == "NEW":
                label = "the SYN" if point["proto"] == 6 else "the packet"
            else:
                label = _LABELS.get(phase.name.split("-")[0], "the packet")
            return label, deciding_evidence(hook, seen)
    return "the packet", []


# Hooks whose base chains decide a flow's fate (filter, not the passing prerouting/postrouting).
_DECIDING_HOOKS = (Hook.INPUT, Hook.FORWARD, Hook.OUTPUT)


def _evidence_rank(chain_result: ChainResult, piece: Piece) -> int:
    """What decided first: an accepting rule of a filtering chain, then the translation that
    sent the flow there, then a deciding hook's policy, other policies, nat chains last."""
    if chain_result.chain.kind == "nat" and piece.verdict is not Verdict.DNAT:
        return 4
    if piece.verdict is Verdict.DNAT:
        return 1
    if not piece.policy:
        return 0
    return 2 if chain_result.chain.hook in _DECIDING_HOOKS else 3


def _accepting(
    parts: list[tuple[Phase, bool, Space, HookResult]], point: dict[str, int]
) -> list[Evidence]:
    _phase, _mirrored, _asked, hook = parts[0]
    found: list[tuple[int, int, Evidence]] = []
    # The translations followed (a DNAT not followed decided nothing).
    followed = {translation.evidence for translation in hook.translations}
    for order, chain_result in enumerate(hook.chains):
        for piece in chain_result.pieces:
            if piece.verdict is Verdict.DNAT:
                holds = piece.evidence in followed and chain_result.holds(piece.maybe, point)
            else:
                holds = piece.verdict in ACCEPTING and chain_result.holds(piece.sure, point)
            if holds:
                found.append((_evidence_rank(chain_result, piece), order, piece.evidence))
                break
    return [evidence for _, _, evidence in sorted(found, key=lambda f: f[:2])]


MAX_REASONS = 10


def _uncertainty(
    parts: list[tuple[Phase, bool, Space, HookResult]], doubtful: Space, family: int
) -> list[tuple[str, Evidence]]:
    """The first reasons (and rules) that make some of the doubtful flows undecidable."""
    found: dict[tuple[str, Evidence], None] = {}
    for phase, mirrored, _asked, hook in parts:
        # The doubtful flows as this phase's packets (mirrored replies, echo reply types).
        concerned_flows = query.to_phase(
            query.concerned(doubtful, family, phase), family, phase, mirrored
        )
        for reason, evidence in hook.uncertain_touching(concerned_flows):
            if (reason, evidence) not in found:
                found[(reason, evidence)] = None
                if len(found) >= MAX_REASONS:
                    return list(found)
    return list(found)


def empty_requirement(requirement: Requirement, families: Sequence[int]) -> Verdict_:
    """The verdict for a requirement that describes no flow: an error, never a pass."""
    return verdict(
        Status.ERROR,
        Reason("netfilter.empty-requirement", (("families", tuple(map(str, families))),)),
    )


def check(
    rulesets: Sequence[Ruleset | IpSets],
    requirement: Requirement,
    *,
    context: Context | None = None,
) -> Verdict_:
    """Decide one requirement on one target's netfilter rules (several files combine; an
    `ipset save` output among them gives the contents of the sets `-m set` matches use).
    Pass the target's `new_context(rulesets)` when checking many requirements."""
    context = context or new_context(rulesets)
    interfaces = context.interfaces
    covered = frozenset().union(*(r.families for r in context.rulesets))
    inbound = requirement.direction is Direction.INBOUND
    allow = requirement.expect is Expect.ALLOW
    failures: list[Verdict_] = []
    unsure: list[Verdict_] = []
    passes: list[Evidence] = []
    empty: list[int] = []
    for family in sorted(requirement.families):
        if family not in covered:
            unsure.append(
                verdict(
                    Status.INDETERMINATE,
                    Reason("netfilter.no-ruleset-for-family", (("family", family),)),
                )
            )
            continue
        space = query.requirement_space(requirement, family, interfaces)
        if not space:
            # Nothing to check is no evidence of anything: an empty space never passes.
            empty.append(family)
            continue
        batched = context.batches.get((family, inbound)) is not None and space.is_subset(
            context.batches[(family, inbound)]
        )
        try:
            sure, maybe, parts = connection_accepted(
                context, family, space, inbound, allow, batched
            )
        except BudgetExceeded as exc:
            unsure.append(budget_verdict(exc))
            continue
        preferred = query.preferred_point(requirement, family)
        choosers = query.choosers(family)
        if allow:
            bad, doubtful = space.subtract(maybe), space.subtract(sure)
        else:
            bad, doubtful = space.intersect(sure), space.intersect(maybe)
        if bad:
            point = bad.sample(preferred, choosers) or {}
            flow = _flow(point, family, interfaces, inbound)
            if allow:
                label, evidence = _denial(parts, point, family)
                reason = Reason("netfilter.not-accepted", (("packet", label),))
            else:
                evidence = _accepting(parts, point)
                reason = Reason("netfilter.accepted")
            failures.append(verdict(Status.FAIL, reason, flow, evidence))
            continue
        if doubtful:
            point = doubtful.sample(preferred, choosers) or {}
            flow = _flow(point, family, interfaces, inbound)
            reasons = _uncertainty(parts, doubtful, family)
            conditions = (
                ("conditions", tuple(r for r, _ in reasons)),
                ("condition_at", tuple(f"{e.file}:{e.line}" for _, e in reasons)),
            )
            unsure.append(
                verdict(
                    Status.INDETERMINATE,
                    Reason("netfilter.undecided", conditions),
                    flow,
                    tuple(dict.fromkeys(e for _, e in reasons)),
                )
            )
            continue
        sample = space.sample(preferred, choosers) or {}
        if allow:
            passes.extend(e for e in _accepting(parts, sample) if e not in passes)
        else:
            label, evidence = _denial(parts, sample, family)
            passes.extend(e for e in evidence if e not in passes)
    if failures:
        return failures[0]
    if empty:
        return empty_requirement(requirement, empty)
    if unsure:
        return unsure[0]
    code = "netfilter.all-accepted" if allow else "netfilter.all-refused"
    return verdict(Status.PASS, Reason(code), None, passes[:5])
