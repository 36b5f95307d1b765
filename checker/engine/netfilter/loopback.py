"""Loopback settings on netfilter: `{netfilter_hook: input|output, loopback: accept}` and
`{netfilter_hook: input, spoofed_loopback: drop}` (docs/controls.md, the CIS loopback
recommendations). Flow rules keep loopback out of scope (checker.engine.netfilter.query); these
two ask about it alone, so nothing about flow rules changes.

`loopback: accept` holds for a family when every packet on `lo` is surely accepted: at input,
arriving on lo (ingress, prerouting and input base chains); at output, leaving through lo
(output, postrouting, egress). Both ends of lo traffic are this host: any source and destination
that is not multicast, broadcast or "this network" (0.0.0.0/8, ::), every protocol and port, the
first packet of a connection (ct state NEW) and its later ones (ESTABLISHED).

`spoofed_loopback: drop` holds for a family when no packet with a loopback source (127.0.0.0/8,
::1) arriving on any interface but lo is possibly accepted at the input hook: any destination
this host may own (its unicast addresses and loopback, reachable from outside with
net.ipv4.conf.*.route_localnet=1), every protocol and port, in each conntrack state a spoofed
packet can have: NEW (ICMP only for the types conntrack takes as new: echo, timestamp,
information, address mask requests), ESTABLISHED (a spoofed packet that matches a loopback
connection conntrack tracks, let in by an "established accept" placed before the spoofing drop;
ICMP only the tracked requests and replies), RELATED (an ICMP error about such a connection)
and INVALID (an ICMP error no connection explains; a TCP one is asked with ACK set).
UNTRACKED (a raw-table notrack rule) is not asked about. `-m
addrtype` finds such a source LOCAL, as the kernel's route lookup does.

What the kernel drops by itself is part of the answer only where no setting turns it off:
- IPv6: ip6_rcv_core drops every packet with source or destination ::1 arriving on a device
  that is not loopback, before any netfilter hook but netdev ingress (RFC 4291 2.5.3: "packets
  received on an interface with a loopback source address must be dropped"). No sysctl changes
  that, so IPv6 always holds, with that as its evidence.
- IPv4: ip_route_input_slow drops a 127.0.0.0/8 source on a non-loopback device as a martian
  after prerouting and before input, but not with net.ipv4.conf.<dev>.route_localnet=1
  (kube-proxy sets it on nodes), and an export does not say which. So IPv4 is decided by the
  rules alone: a fail says the firewall accepts such packets and only the kernel's martian check
  (when route_localnet is 0) stops them. tests/kernel/test_oracle_loopback.py measures both.
"""

from __future__ import annotations

from dataclasses import replace

from checker.engine.budget import BudgetExceeded
from checker.engine.netfilter import query
from checker.engine.netfilter.match import ACK_IN, ACK_OUT, NEW_IN, NEW_OUT
from checker.engine.netfilter.walk import Context, HookResult, deciding_evidence, evaluate_hook
from checker.engine.space import Space, iset_subtract
from checker.engine.verdict import Verdict, format_flow
from checker.findings import Evidence, Status
from checker.model import net
from checker.policies.settings import SettingSpec

# The loopback packets as the hooks see them: both addresses this host's (match.Phase).
_INPUT = (
    replace(NEW_IN, name="lo-new-in", both_local=True),
    replace(ACK_IN, name="lo-est-in", both_local=True),
)
# A packet on lo was made here: its connection's nat was decided in OUTPUT, and the nat chains
# of PREROUTING do not see it when it comes back in through lo (nat sees a connection once).
_LO_INPUT = (replace(_INPUT[0], name="lo-local-new-in", sees_nat=False), _INPUT[1])
# A spoofed packet conntrack finds INVALID: an ICMP error or reply no connection of this host
# explains, a TCP segment out of any window. nat chains do not see it (no conntrack entry); a
# TCP one is asked with ACK set (its flags are the sender's choice).
_INVALID_IN = replace(
    ACK_IN, name="lo-invalid-in", ctstate="INVALID", sees_nat=False, both_local=True
)
# An ICMP error about a connection conntrack tracks (or a helper's expected connection).
_RELATED_IN = replace(ACK_IN, name="lo-related-in", ctstate="RELATED", both_local=True)
# ICMP types conntrack tracks as connections (nf_conntrack_proto_icmp, _icmpv6): the requests
# that open one (echo, timestamp, information, address mask; ICMPv6 echo, node information
# query) and, ESTABLISHED, their replies. Any other ICMP message is RELATED or INVALID.
_ICMP_TRACKED = {
    "NEW": {4: (1, (8, 13, 15, 17)), 6: (58, (128, 139))},
    "ESTABLISHED": {4: (1, (0, 8, 13, 14, 15, 16, 17, 18)), 6: (58, (128, 129, 139, 140))},
}
_OUTPUT = (
    replace(NEW_OUT, name="lo-new-out", both_local=True),
    replace(ACK_OUT, name="lo-est-out", both_local=True),
)
# Addresses a packet on lo (or to this host) may carry: all but multicast, broadcast, 0.0.0.0/8
# and :: (query.NOT_LOCAL without loopback).
_HOST_SIDE = {
    family: iset_subtract(((0, query.ADDRESS_MAX[family]),), query.NOT_LOCAL[family])
    + net.LOOPBACK[family]
    for family in (4, 6)
}
IPV6_KERNEL_DROP = (
    "the kernel drops every IPv6 packet with source ::1 that arrives on a device other than lo"
    " before netfilter (ip6_rcv_core; RFC 4291 2.5.3), whatever the rules and sysctls say"
)
IPV4_MARTIAN_NOTE = (
    "; only the kernel's martian-source check stops it, and not where"
    " net.ipv4.conf.<device>.route_localnet=1"
)


def _in_state(space: Space, family: int, state: str) -> Space:
    """`space` without the ICMP messages conntrack never gives `state` (NEW, ESTABLISHED)."""
    if state not in _ICMP_TRACKED:
        return space
    proto, types = _ICMP_TRACKED[state][family]
    icmp = space.restrict("proto", [(proto, proto)])
    allowed = icmp.restrict("icmp", [(t << 8, (t << 8) | 0xFF) for t in types])
    return space.subtract(icmp).union(allowed)


def _space(context: Context, family: int, spoofed: bool, inbound: bool) -> Space:
    interfaces = context.interfaces
    dims = query.dims_for(family, interfaces)
    lo = interfaces.index_of("lo")
    others = [(i, i) for i in interfaces.real() if i != lo]
    hosts = sorted(_HOST_SIDE[family])
    device = others if spoofed else [(lo, lo)]
    return Space.where(
        dims,
        {
            "family": [(family, family)],
            "saddr": list(net.LOOPBACK[family]) if spoofed else hosts,
            "daddr": hosts,
            "iif": device if inbound else [(0, 0)],
            "oif": [(0, 0)] if inbound else device,
            "mark": [(0, 0)],
            "ctmark": [(0, 0)],
        },
    )


def _flow(point: dict[str, int], family: int, context: Context, inbound: bool) -> str:
    device = context.interfaces.describe(point["iif" if inbound else "oif"])
    return format_flow(
        family,
        point["proto"],
        point["saddr"],
        point["daddr"],
        point["sport"],
        point["dport"],
        point["icmp"],
        f"{'in' if inbound else 'out'} {device}",
    )


def _accepting(hook: HookResult, point: dict[str, int]) -> list[Evidence]:
    """The rules (or policies) that accept `point` in each base chain."""
    found = []
    for chain_result in hook.chains:
        for piece in chain_result.pieces:
            if piece.verdict.value in ("accept", "snat") and chain_result.holds(piece.sure, point):
                found.append(piece.evidence)
                break
    return found


def _uncertain(hook: HookResult, doubtful: Space) -> list[tuple[str, Evidence]]:
    """The first three distinct reasons, read no further (a kube-proxy file has thousands)."""
    found: dict[tuple[str, Evidence], None] = {}
    for reason in hook.uncertain_touching(doubtful):
        found[reason] = None
        if len(found) == 3:
            break
    return list(found)


def check(context: Context, spec: SettingSpec, covered: frozenset[int]) -> Verdict:
    """Decide a `loopback` or `spoofed_loopback` setting on one target's rules."""
    spoofed = spec.name == "spoofed_loopback"
    inbound = spec.scope == "input"
    phases = (_INPUT if spoofed else _LO_INPUT) if inbound else _OUTPUT
    passes: list[Evidence] = []
    unknown: list[int] = []
    unsure: list[Verdict] = []
    for family in spec.families:
        if spoofed and family == 6:
            passes.append(Evidence("(kernel)", 0, IPV6_KERNEL_DROP))
            continue
        if family not in covered:
            unknown.append(family)
            continue
        whole = _space(context, family, spoofed, inbound)
        for phase in (*phases, _RELATED_IN, _INVALID_IN) if spoofed else phases:
            state = {"NEW": "a new connection's first packet"}.get(phase.ctstate, phase.ctstate)
            space = _in_state(whole, family, phase.ctstate)
            try:
                hook = evaluate_hook(context, family, phase, space)
            except BudgetExceeded as exc:
                unsure.append(Verdict(Status.INDETERMINATE, exc.message, None, (), exc.details))
                break
            if spoofed:
                bad, doubtful = space.intersect(hook.accept_sure), hook.accept_maybe
            else:
                bad, doubtful = space.subtract(hook.accept_maybe), space.subtract(hook.accept_sure)
            preferred = {
                # A spoofed counterexample reads best as UDP (no handshake to forge).
                "proto": 17 if spoofed else 6,
                "sport": 40000,
                "dport": 22,
                "saddr": net.LOOPBACK[family][0][0] + 1,
                "daddr": query.PREFERRED_LOCAL[family]
                if spoofed
                else net.LOOPBACK[family][0][0] + 1,
            }
            # A loopback source is never an ordinary host address: no chooser steers it away.
            choose = (
                {"daddr": query.choosers(family)["daddr"]} if spoofed else query.choosers(family)
            )
            if bad:
                point = bad.sample(preferred, choose) or {}
                flow = _flow(point, family, context, inbound)
                if spoofed:
                    evidence = _accepting(hook, point)
                    where = ", ".join(f"{e.file}:{e.line}" for e in evidence) or "no chain drops it"
                    note = IPV4_MARTIAN_NOTE if family == 4 else ""
                    message = f"{flow} ({state}) is accepted ({where}){note}"
                else:
                    evidence = deciding_evidence(hook, point)
                    where = ", ".join(f"{e.file}:{e.line}" for e in evidence) or "not accepted"
                    message = f"{flow} ({state}) is dropped ({where})"
                return Verdict(
                    Status.FAIL,
                    f"{spec.describe()}: does not hold: {message}",
                    flow,
                    tuple(evidence),
                )
            if doubtful:
                point = doubtful.sample(preferred, choose) or {}
                flow = _flow(point, family, context, inbound)
                reasons = _uncertain(hook, doubtful)
                why = "; ".join(f"{e.file}:{e.line}: {r}" for r, e in reasons) or "undecidable"
                unsure.append(
                    Verdict(
                        Status.INDETERMINATE,
                        f"{spec.describe()}: cannot decide whether {flow} ({state}) is"
                        f" accepted: {why}",
                        flow,
                        tuple(e for _, e in reasons),
                    )
                )
                break
            sample = space.sample(preferred, choose) or {}
            found = deciding_evidence(hook, sample) if spoofed else _accepting(hook, sample)
            passes.extend(e for e in found if e not in passes)
    if unsure:
        return unsure[0]
    if unknown:
        names = ", ".join(f"IPv{f}" for f in unknown)
        return Verdict(
            Status.INDETERMINATE,
            f"{spec.describe()}: no export describes {names}",
            evidence=tuple(passes[:5]),
        )
    return Verdict(Status.PASS, f"{spec.describe()}: holds", evidence=tuple(passes[:5]))


def families_covered(context: Context) -> frozenset[int]:
    return frozenset().union(*(r.families for r in context.rulesets))
