"""firewalld's zone dispatch, forward path and source NAT, as its nftables backend loads them
(firewalld 1.x; each fact below was read from the real daemon's `nft -j list ruleset` and is
held to it by tests/kernel/test_firewalld_oracle.py).

Zone dispatch (filter_INPUT_ZONES, nat_PREROUTING_ZONES, filter_FORWARD_ZONES by the packet's
source and input interface; nat_POSTROUTING_ZONES by its destination and output interface):
source bindings first, zones in name order and each zone's sources in file order, so of two
zones whose sources overlap the one whose name sorts first takes the packet (firewalld 1.3.3;
firewalld issue #192 tells how earlier versions left this to load order); then interface
bindings; then the default zone. The daemon orders the interface bindings of different zones by
its load order, not by name: an interface pattern (`eth+`) that overlaps another zone's is
Unknown. Zone `ingress-priority`/`egress-priority` (firewalld >= 2.0, not run here) reorder the
dispatch: every binding is then Unknown.

Forwarded packets (filter_FORWARD, hook forward, priority filter + 10): established/related
and DNAT-ed connections accepted, `lo` accepted, invalid dropped, the RFC3964_IPv4 rejects,
then the chain of the ingress zone: the policies ordered before zones, `<forward/>` (intra-zone
forwarding: accepted when the packet leaves through an interface or towards a source of the
same zone), the policies ordered after zones, then the zone's target (default and %%REJECT%%
reject, DROP drops, ACCEPT accepts). A zone's services, ports and rich rules concern only the
host's own input. Policies between zones (ingress and egress zones, ANY) are jumped for every
pair of an ingress binding (interface, else source) and an egress binding, in priority then
name order; a policy whose zones have no bindings is not active.

Source NAT (nat_POSTROUTING, priority srcnat + 10): the egress zone's `<masquerade/>` (IPv4,
not to `lo`), its rich-rule masquerades, and a policy's masquerade. Masquerade rewrites the
source on the way out and decides nothing about acceptance. A policy's `<forward-port>` (DNAT
in the policy's nat chain) is Unknown: not modelled.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from checker.errors import Location, ParseError, Problem
from checker.parsers.netfilter.firewalld_xml import Node

if TYPE_CHECKING:
    # Type only: firewalld_compile imports this module.
    from checker.parsers.netfilter.firewalld_compile import _Compiler

T = "firewalld"
PRIORITIES = ("priority", "ingress-priority", "egress-priority")
Match = list[dict[str, object]]
Binding = tuple[str, Location, Match, str, str]


def _m(left: object, right: object, op: str = "==") -> dict[str, object]:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> dict[str, object]:
    return {"meta": {"key": key}}


def _overlap(one: str, other: str) -> bool:
    """Whether two firewalld interface names (`+` = any suffix) can name the same interface."""
    if one == other:
        return True
    if one.endswith("+") and other.startswith(one[:-1]):
        return True
    return other.endswith("+") and one.startswith(other[:-1])


def bindings(compiler: _Compiler, zones: Sequence[tuple[str, Node]], side: str) -> list[Binding]:
    """(zone, where, match, unknown reason, element) of each source then interface binding, in
    the daemon's dispatch order; `side` "in" matches the packet's source and input interface,
    "out" its destination and output interface."""
    field, iface = ("saddr", "iifname") if side == "in" else ("daddr", "oifname")
    ranked = [name for name, zone in zones if any(zone.get(a) for a in PRIORITIES)]
    ranked_why = (
        f"zone {ranked[0]} sets a dispatch priority (firewalld >= 2.0 ingress/egress-priority):"
        " the order of zone bindings is not modelled"
        if ranked
        else ""
    )
    found: list[Binding] = []
    for name, zone in zones:
        for source in zone.all("source"):
            match, unknown = compiler._source(source, field)
            found.append((name, source.location, match, unknown or ranked_why, source.show()))
    patterns = [(name, node.get("name")) for name, zone in zones for node in zone.all("interface")]
    for name, zone in zones:
        for node in zone.all("interface"):
            pattern = node.get("name")
            clash = next(
                (f"{p!r} of zone {z}" for z, p in patterns if z != name and _overlap(pattern, p)),
                "",
            )
            unknown = ranked_why or (
                f"interface {pattern!r} of zone {name} overlaps {clash}: firewalld orders the"
                " interface bindings of different zones by its load order, not by name"
                if clash
                else ""
            )
            match = [_m(_meta(iface), pattern.replace("+", "*"))]
            found.append((name, node.location, match, unknown, node.show()))
    return found


def _side(
    compiler: _Compiler, policy: str, zones: Sequence[str], side: str, where: Location
) -> list[tuple[Match, Location, str]]:
    """A policy's ingress (side "in") or egress matches: interfaces, then sources, of each zone;
    ANY matches everything."""
    if "ANY" in zones:
        return [([], where, "")]
    field, iface = ("saddr", "iifname") if side == "in" else ("daddr", "oifname")
    found: list[tuple[Match, Location, str]] = []
    for name in zones:
        zone = compiler.tree.zones.get(name)
        if zone is None:
            raise ParseError(
                Problem.at(where, T, f"policy {policy}: zone {name!r} is defined nowhere")
            )
        for node in zone.all("interface"):
            found.append(
                ([_m(_meta(iface), node.get("name").replace("+", "*"))], node.location, "")
            )
        for node in zone.all("source"):
            match, unknown = compiler._source(node, field)
            found.append((match, node.location, unknown))
    return found


def policy(
    compiler: _Compiler,
    name: str,
    node: Node,
    priority: int,
    ingress: Sequence[str],
    egress: Sequence[str],
) -> None:
    """A policy between zones: its filter_FWD_policy_ chain, its dispatch, its masquerade."""
    chain, nat = f"filter_FWD_policy_{name}", f"nat_POST_policy_{name}"
    compiler._body(chain, node, f"policy {name}", node.get("target", "CONTINUE"))
    compiler.out.chain(nat, node.location)
    when = "pre" if priority < 0 else "post"
    ins = _side(compiler, name, ingress, "in", node.location)
    outs = _side(compiler, name, egress, "out", node.location)
    for (into, in_at, in_why), (onto, out_at, out_why) in itertools.product(ins, outs):
        where = in_at if into else out_at
        for dispatch, target in (
            (f"filter_FORWARD_POLICIES_{when}", chain),
            (f"nat_POSTROUTING_POLICIES_{when}", nat),
        ):
            compiler.policy_jumps[dispatch].append(
                (priority, target, [*into, *onto], where, in_why or out_why)
            )
    for masquerade in node.all("masquerade"):
        compiler.masquerade.setdefault(nat, []).append(
            ([_m(_meta("nfproto"), "ipv4")], masquerade.location, f"policy {name}: {masquerade.show()}", "")
        )  # fmt: skip
    ports = [
        *node.all("forward-port"),
        *(p for r in node.all("rule") for p in r.all("forward-port")),
    ]
    for port in ports:
        _unmodelled(compiler, port, f"policy {name}: {port.show()}")


def unmodelled_dnat(compiler: _Compiler, chain: str) -> None:
    """Where the filter base chain would pass a translated packet on (ct status dnat), an
    Unknown accept of what an unmodelled DNAT concerns: possibly accepted, never surely."""
    for expr, where, note, reason in compiler.unmodelled:
        compiler.out.rule(chain, expr, where, note, reason)


def _unmodelled(compiler: _Compiler, node: Node, note: str) -> None:
    """A DNAT not modelled: the packets it concerns may be sent anywhere."""
    protocol = node.get("protocol")
    if protocol not in ("tcp", "udp", "sctp", "dccp"):
        raise ParseError(
            Problem.at(node.location, T, f"forward-port protocol {protocol!r} is not tcp, udp, sctp or dccp")
        )  # fmt: skip
    low, _, high = node.get("port").partition("-")
    try:
        numbers = [int(low)] + ([int(high)] if high else [])
    except ValueError:
        numbers = [-1]
    if any(n < 0 or n > 65535 for n in numbers):
        raise ParseError(
            Problem.at(
                node.location, T, f"forward-port port {node.get('port')!r} is not a port or range"
            )
        )
    port: object = {"range": numbers} if high else numbers[0]
    match = _m({"payload": {"protocol": protocol, "field": "dport"}}, port)
    reason = f"{note}: a policy's forward-port (DNAT) is not modelled"
    compiler.unmodelled.append(([match, {"accept": None}], node.location, note, reason))


def compile_forward(
    compiler: _Compiler, zones: Sequence[tuple[str, Node]], default: str, default_loc: Location
) -> None:
    """filter_FORWARD and the zones' forward chains; nat_POSTROUTING and their masquerades."""
    out, conf = compiler.out, compiler.conf_loc
    for name, zone in zones:
        chain = f"filter_FWD_{name}"
        out.chain(chain, zone.location)
        who = f"zone {name}"
        out.rule(chain, [{"jump": {"target": "filter_FORWARD_POLICIES_pre"}}], zone.location, who)
        for forward in zone.all("forward"):
            for node in zone.all("interface"):
                match = [_m(_meta("oifname"), node.get("name").replace("+", "*"))]
                out.rule(chain, [*match, {"accept": None}], forward.location,
                         f"{who}: {forward.show()} to {node.show()}")  # fmt: skip
            for node in zone.all("source"):
                match, unknown = compiler._source(node, "daddr")
                out.rule(chain, [*match, {"accept": None}], forward.location,
                         f"{who}: {forward.show()} to {node.show()}", unknown)  # fmt: skip
        out.rule(chain, [{"jump": {"target": "filter_FORWARD_POLICIES_post"}}], zone.location, who)
        target = zone.get("target", "default")
        verdict: dict[str, object] = (
            {"accept": None}
            if target == "ACCEPT"
            else {"drop": None}
            if target == "DROP"
            else {"reject": {"type": "icmpx", "expr": "admin-prohibited"}}
        )
        out.rule(chain, [verdict], zone.location, f"{who} target {target} (forwarded)")
    _base_forward(compiler)
    out.chain("nat_POSTROUTING", conf, "postrouting", 110, "nat")
    out.rule("nat_POSTROUTING", [{"jump": {"target": "nat_POSTROUTING_ZONES"}}], conf,
             "firewalld base rule")  # fmt: skip
    out.chain("nat_POSTROUTING_ZONES", conf)
    for name, where, match, unknown, what in bindings(compiler, zones, "out"):
        out.rule("nat_POSTROUTING_ZONES", [*match, {"goto": {"target": f"nat_POST_{name}"}}],
                 where, f"egress zone {name}: {what}", unknown)  # fmt: skip
    out.rule("nat_POSTROUTING_ZONES", [{"goto": {"target": f"nat_POST_{default}"}}], default_loc,
             f"default zone {default}")  # fmt: skip
    for name, zone in zones:
        chain = f"nat_POST_{name}"
        out.chain(chain, zone.location)
        out.rule(chain, [{"jump": {"target": "nat_POSTROUTING_POLICIES_pre"}}], zone.location,
                 f"zone {name}")  # fmt: skip
        _masquerades(compiler, chain)
        out.rule(chain, [{"jump": {"target": "nat_POSTROUTING_POLICIES_post"}}], zone.location,
                 f"zone {name}")  # fmt: skip
    for chain in sorted(compiler.masquerade):
        if chain.startswith("nat_POST_policy_"):
            _masquerades(compiler, chain)


def _masquerades(compiler: _Compiler, chain: str) -> None:
    not_lo = _m(_meta("oifname"), "lo", "!=")
    for match, where, note, unknown in compiler.masquerade.get(chain, []):
        compiler.out.rule(chain, [*match, not_lo, {"masquerade": None}], where, note, unknown)


def _base_forward(compiler: _Compiler) -> None:
    out, conf = compiler.out, compiler.conf_loc
    out.chain("filter_FORWARD", conf, "forward", 10)
    base: list[Match] = [
        [_m({"ct": {"key": "state"}}, {"set": ["established", "related"]}), {"accept": None}],
        [_m({"ct": {"key": "status"}}, "dnat", "in"), {"accept": None}],
        [_m(_meta("iifname"), "lo"), {"accept": None}],
        [_m({"ct": {"key": "state"}}, "invalid", "in"), {"drop": None}],
    ]
    for expr in base:
        out.rule("filter_FORWARD", expr, conf, "firewalld base rule")
    rfc3964 = compiler.rfc3964_reject()
    if rfc3964 is not None:
        expr, where = rfc3964
        out.rule("filter_FORWARD", expr, where, "RFC3964_IPv4=yes")
    unmodelled_dnat(compiler, "filter_FORWARD")
    out.rule("filter_FORWARD", [{"jump": {"target": "filter_FORWARD_ZONES"}}], conf,
             "firewalld base rule")  # fmt: skip
    out.rule("filter_FORWARD", [{"reject": {"type": "icmpx", "expr": "admin-prohibited"}}], conf,
             "firewalld final reject")  # fmt: skip
