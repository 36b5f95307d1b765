"""firewalld definitions -> the rules its nftables backend loads (firewalld 1.x), as
libnftables-JSON objects read by nft_json's own reader, so every match means what it means in an
`nft -j` export. Each rule points at the XML element that made it (`<service name="ssh"/>` at
zones/public.xml:7) and its text names the zone or policy that decided.

The layout, as the real daemon loads it (checked by tests/kernel/test_firewalld_oracle.py, which
compares verdicts from a tree with verdicts from the daemon's own `nft -j list ruleset`):
table inet firewalld; filter_INPUT (hook input, priority filter + 10): ct state
established,related accept; ct status dnat accept; iifname lo accept; ct state invalid drop; jump
filter_INPUT_ZONES (goto the zone of the source address, else of the input interface, else the
default zone); reject with icmpx admin-prohibited. A zone chain jumps the policies ordered before
zones, its _pre (rich rules with priority < 0), _log, _deny (icmp-blocks, drop/reject rich rules),
_allow (services, ports, protocols, source-ports, accept rich rules), _post (priority > 0)
chains, the policies ordered after zones, then its target: default = icmp accept then reject;
%%REJECT%% reject; DROP drop; ACCEPT accept. filter_OUTPUT (priority filter + 10, policy accept)
has established/lo accept, RFC3964_IPv4 rejects, and the HOST-ingress policies. IPv6_rpfilter
adds a `fib` drop in filter_PREROUTING; forward-ports become redirect/dnat in nat_PREROUTING.
The zone dispatch order, filter_FORWARD (zones' forward chains, policies between zones) and
nat_POSTROUTING (masquerade) are firewalld_forward's.

Logging (LogDenied, rich-rule log/audit) decides nothing and is left out. Unknown (indeterminate,
with the reason), never guessed: ICMP code-level types, MAC sources, ipset types other than
hash:ip/hash:net, icmp-block-inversion with a non-default target, rich-rule mark actions,
policies' forward-ports (firewalld_forward) and direct.xml passthroughs (its rules are iptables
rules: firewalld_direct).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

from checker.errors import Location, ParseError, Problem
from checker.model.netfilter import Rule, Ruleset, Unknown
from checker.parsers.netfilter import firewalld_direct, firewalld_forward, nft_json, nft_scan
from checker.parsers.netfilter.firewalld_xml import Node

if TYPE_CHECKING:
    # Type only: firewalld_tree calls compile_tree, so a runtime import would be a cycle.
    from checker.parsers.netfilter.firewalld_tree import Tree

T = "firewalld"
REJECT: dict[str, object] = {"reject": {"type": "icmpx", "expr": "admin-prohibited"}}
# firewalld icmptype name -> (nft `icmp type`, nft `icmpv6 type`); None where the type does not
# exist in that family (firewalld's icmptypes/*.xml <destination>).
ICMP = {
    "echo-request": ("echo-request", "echo-request"),
    "echo-reply": ("echo-reply", "echo-reply"),
    "destination-unreachable": ("destination-unreachable", "destination-unreachable"),
    "time-exceeded": ("time-exceeded", "time-exceeded"),
    "parameter-problem": ("parameter-problem", "parameter-problem"),
    "redirect": ("redirect", "nd-redirect"),
    "router-advertisement": ("router-advertisement", "nd-router-advert"),
    "router-solicitation": ("router-solicitation", "nd-router-solicit"),
    "neighbour-advertisement": (None, "nd-neighbor-advert"),
    "neighbour-solicitation": (None, "nd-neighbor-solicit"),
    "packet-too-big": (None, "packet-too-big"),
    "source-quench": ("source-quench", None),
    "timestamp-request": ("timestamp-request", None),
    "timestamp-reply": ("timestamp-reply", None),
}
RFC3964 = ["::/96", "::ffff:0.0.0.0/96", "2002::/24", "2002:a00::/24", "2002:7f00::/24",
           "2002:a9fe::/32", "2002:ac10::/28", "2002:c0a8::/32", "2002:e000::/19"]  # fmt: skip
SUBCHAINS = ("pre", "log", "deny", "allow", "post")


def _m(left: object, right: object, op: str = "==") -> dict[str, object]:
    return {"match": {"op": op, "left": left, "right": right}}


def _payload(protocol: str, field: str) -> dict[str, object]:
    return {"payload": {"protocol": protocol, "field": field}}


def _meta(key: str) -> dict[str, object]:
    return {"meta": {"key": key}}


def _addr(value: str) -> object:
    address, _, length = value.partition("/")
    return {"prefix": {"addr": address, "len": int(length)}} if length else address


def _port(value: str, where: Location) -> object:
    low, _, high = value.partition("-")
    try:
        numbers = [int(low)] + ([int(high)] if high else [])
    except ValueError:
        raise ParseError(Problem.at(where, T, f"port {value!r} is not a number or range")) from None
    if any(n < 0 or n > 65535 for n in numbers):
        raise ParseError(Problem.at(where, T, f"port {value!r} is out of range"))
    return {"range": numbers} if high else numbers[0]


@dataclasses.dataclass
class _Out:
    items: list[nft_scan.Element] = dataclasses.field(default_factory=list)
    notes: dict[str, list[tuple[str, str]]] = dataclasses.field(default_factory=dict)

    def chain(
        self, name: str, where: Location, hook: str = "", prio: int = 0, kind: str = "filter"
    ) -> None:
        body: dict[str, object] = {"family": "inet", "table": T, "name": name}
        if hook:
            body.update({"type": kind, "hook": hook, "prio": prio, "policy": "accept"})
        self.items.append(nft_scan.Element({"chain": body}, where))
        self.notes[name] = []

    def rule(
        self,
        chain: str,
        expr: list[dict[str, object]],
        where: Location,
        note: str,
        unknown: str = "",
    ) -> None:
        self.items.append(
            nft_scan.Element(
                {"rule": {"family": "inet", "table": T, "chain": chain, "expr": expr}}, where
            )
        )
        self.notes[chain].append((note, unknown))


class _Compiler:
    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.out = _Out()
        self.conf_loc = Location(tree.conf_file)

    def setting(self, key: str, default: str) -> tuple[str, Location]:
        return self.tree.conf.get(key, (default, self.conf_loc))

    def run(self) -> Ruleset:
        out, conf = self.out, self.conf_loc
        out.items.append(nft_scan.Element({"table": {"family": "inet", "name": T}}, conf))
        default, default_loc = self.setting("DefaultZone", "public")
        if default not in self.tree.zones:
            raise ParseError(
                Problem.at(default_loc, T, f"DefaultZone {default!r} is defined nowhere")
            )
        self._ipsets()
        self._prerouting()
        self._policies()
        zones = sorted(self.tree.zones.items())
        for name, zone in zones:
            self._zone(name, zone)
        out.chain("filter_INPUT", conf, "input", 10)
        base = [
            ([_m({"ct": {"key": "state"}}, {"set": ["established", "related"]})], "accept"),
            ([_m({"ct": {"key": "status"}}, "dnat", "in")], "accept"),
            ([_m(_meta("iifname"), "lo")], "accept"),
            ([_m({"ct": {"key": "state"}}, "invalid", "in")], "drop"),
        ]
        for matches, verdict in base:
            out.rule("filter_INPUT", [*matches, {verdict: None}], conf, "firewalld base rule")
        self._dispatch(zones, default, default_loc)
        firewalld_forward.unmodelled_dnat(self, "filter_INPUT")
        out.rule(
            "filter_INPUT",
            [{"jump": {"target": "filter_INPUT_ZONES"}}],
            conf,
            "firewalld base rule",
        )
        out.rule("filter_INPUT", [REJECT], conf, "firewalld final reject")
        out.chain("nat_PREROUTING", conf, "prerouting", -90, "nat")
        out.rule(
            "nat_PREROUTING",
            [{"jump": {"target": "nat_PREROUTING_ZONES"}}],
            conf,
            "firewalld base rule",
        )
        self._output()
        firewalld_forward.compile_forward(self, zones, default, default_loc)
        self._direct()
        return self._finish()

    def _dispatch(self, zones: list[tuple[str, Node]], default: str, default_loc: Location) -> None:
        """The zone of a packet: its source address, else its input interface, else the default
        zone (filter_INPUT_ZONES, nat_PREROUTING_ZONES, filter_FORWARD_ZONES: the ingress zone)."""
        chains = (("filter_INPUT_ZONES", "filter_IN_"), ("nat_PREROUTING_ZONES", "nat_PRE_"),
                  ("filter_FORWARD_ZONES", "filter_FWD_"))  # fmt: skip
        for chain, _prefix in chains:
            self.out.chain(chain, self.conf_loc)
        for name, where, match, unknown, what in firewalld_forward.bindings(self, zones, "in"):
            for chain, prefix in chains:
                self.out.rule(chain, [*match, {"goto": {"target": prefix + name}}], where,
                              f"zone {name}: {what}", unknown)  # fmt: skip
        for chain, prefix in chains:
            self.out.rule(chain, [{"goto": {"target": prefix + default}}], default_loc,
                          f"default zone {default}")  # fmt: skip

    # --- pieces ---------------------------------------------------------------------------

    def _ipsets(self) -> None:
        names = {s.get("ipset") for z in (*self.tree.zones.values(), *self.tree.policies.values())
                 for n in _walk(z) for s in [n] if n.tag in ("source", "destination") and s.get("ipset")}  # fmt: skip
        self.ipset_family: dict[str, str] = {}
        for name in sorted(names):
            node = self.tree.definition("ipsets", name, self.conf_loc)
            kind = node.get("type")
            family = next(
                (o.get("value") for o in node.all("option") if o.get("name") == "family"), "inet"
            )
            self.ipset_family[name] = "ip6" if family == "inet6" else "ip"
            if kind not in ("hash:ip", "hash:net"):
                self.ipset_family[name] = ""
                continue
            body: dict[str, object] = {
                "family": "inet", "table": T, "name": name, "flags": ["interval"],
                "type": "ipv6_addr" if family == "inet6" else "ipv4_addr",
                "elem": [_addr(_text(e)) for e in node.all("entry")],
            }  # fmt: skip
            if any(o.get("name") == "timeout" for o in node.all("option")):
                body["timeout"] = 1
            self.out.items.append(nft_scan.Element({"set": body}, node.location))

    def _source(self, node: Node, field: str) -> tuple[list[dict[str, object]], str]:
        op = "!=" if node.get("invert").lower() in ("true", "yes", "1") else "=="
        if node.get("address"):
            address = node.get("address")
            return [_m(_payload("ip6" if ":" in address else "ip", field), _addr(address), op)], ""
        if node.get("ipset"):
            name = node.get("ipset")
            family = self.ipset_family.get(name, "")
            if not family:
                return [], f"ipset {name!r}: only hash:ip and hash:net ipsets are modelled"
            return [_m(_payload(family, field), "@" + name, op)], ""
        if node.get("mac"):
            return [], f"{node.show()}: MAC address matches are not modelled"
        raise ParseError(Problem.at(node.location, T, f"{node.tag} without address, mac or ipset"))

    def _prerouting(self) -> None:
        value, where = self.setting("IPv6_rpfilter", "yes")
        self.out.chain("filter_PREROUTING", where, "prerouting", 10)
        if value.lower() in ("no", "false"):
            return
        self.out.rule(
            "filter_PREROUTING",
            [
                _m(
                    _payload("icmpv6", "type"), {"set": ["nd-router-advert", "nd-neighbor-solicit"]}
                ),
                {"accept": None},
            ],
            where,
            f"IPv6_rpfilter={value}",
        )
        unknown = (
            ""
            if value.lower() in ("yes", "true", "strict")
            else f"IPv6_rpfilter={value} is not modelled"
        )
        fib = {"fib": {"result": "oif", "flags": ["saddr", "mark", "iif"]}}
        self.out.rule(
            "filter_PREROUTING",
            [_m(_meta("nfproto"), "ipv6"), _m(fib, False), {"drop": None}],
            where,
            f"IPv6_rpfilter={value}",
            unknown,
        )

    def _output(self) -> None:
        out, conf = self.out, self.conf_loc
        out.chain("filter_OUTPUT", conf, "output", 10)
        out.rule(
            "filter_OUTPUT",
            [_m({"ct": {"key": "state"}}, {"set": ["established", "related"]}), {"accept": None}],
            conf,
            "firewalld base rule",
        )
        out.rule(
            "filter_OUTPUT",
            [_m(_meta("oifname"), "lo"), {"accept": None}],
            conf,
            "firewalld base rule",
        )
        rfc3964 = self.rfc3964_reject()
        if rfc3964 is not None:
            out.rule("filter_OUTPUT", rfc3964[0], rfc3964[1], "RFC3964_IPv4=yes")
        out.rule(
            "filter_OUTPUT",
            [{"jump": {"target": "filter_OUTPUT_POLICIES_pre"}}],
            conf,
            "firewalld base rule",
        )
        out.rule(
            "filter_OUTPUT",
            [{"jump": {"target": "filter_OUTPUT_POLICIES_post"}}],
            conf,
            "firewalld base rule",
        )

    def rfc3964_reject(self) -> tuple[list[dict[str, object]], Location] | None:
        """RFC3964_IPv4's reject of IPv6 packets to IPv4-embedding prefixes (OUTPUT, FORWARD)."""
        value, where = self.setting("RFC3964_IPv4", "yes")
        if value.lower() not in ("yes", "true"):
            return None
        return [_m(_payload("ip6", "daddr"), {"set": [_addr(a) for a in RFC3964]}),
                {"reject": {"type": "icmpv6", "expr": "addr-unreachable"}}], where  # fmt: skip

    def _direct(self) -> None:
        """Passthroughs are raw iptables commands: Unknown, either way (accept or drop)."""
        direct = self.tree.direct
        entries = [] if direct is None else direct.all("passthrough")
        if direct is None or not entries:
            return
        for hook, chain in (("input", "direct_INPUT"), ("output", "direct_OUTPUT")):
            self.out.chain(chain, direct.location, hook, 0)
            for entry in entries:
                reason = f"direct.xml {entry.show()} {_text(entry)[:80]!r}: passthroughs are not modelled"
                ipv = entry.get("ipv")
                family = [_m(_meta("nfproto"), ipv)] if ipv in ("ipv4", "ipv6") else []
                for verdict in ("accept", "drop"):
                    self.out.rule(
                        chain,
                        [*family, {verdict: None}],
                        entry.location,
                        f"direct.xml {entry.tag}",
                        reason,
                    )

    # --- zones and policies ----------------------------------------------------------------

    def _policies(self) -> None:
        self.policy_jumps: dict[str, list[tuple[int, str, list[dict[str, object]], Location, str]]] = {
            f"{k}_{when}": [] for k in ("filter_INPUT_POLICIES", "filter_OUTPUT_POLICIES", "filter_FORWARD_POLICIES",
                                        "nat_POSTROUTING_POLICIES") for when in ("pre", "post")}  # fmt: skip
        # Masquerade rules by the nat_POST_ chain of their zone or policy (firewalld_forward).
        self.masquerade: dict[str, list[tuple[list[dict[str, object]], Location, str, str]]] = {}
        # DNATs not modelled (policies' forward-ports): Unknown accepts in INPUT and FORWARD.
        self.unmodelled: list[tuple[list[dict[str, object]], Location, str, str]] = []
        for name, policy in sorted(self.tree.policies.items()):
            ingress = [n.get("name") for n in policy.all("ingress-zone")]
            egress = [n.get("name") for n in policy.all("egress-zone")]
            try:
                priority = int(policy.get("priority", "-1"))
            except ValueError:
                raise ParseError(
                    Problem.at(policy.location, T, "policy priority is not a number")
                ) from None
            when = "pre" if priority < 0 else "post"
            if "HOST" in egress:
                chain, direction, zones = f"filter_IN_policy_{name}", "INPUT", ingress
            elif "HOST" in ingress:
                chain, direction, zones = f"filter_OUT_policy_{name}", "OUTPUT", egress
            else:
                firewalld_forward.policy(self, name, policy, priority, ingress, egress)
                continue
            self._body(chain, policy, f"policy {name}", policy.get("target", "CONTINUE"))
            dispatch = f"filter_{direction}_POLICIES_{when}"
            field, iface = ("saddr", "iifname") if direction == "INPUT" else ("daddr", "oifname")
            for zone_name in zones:
                if zone_name == "ANY":
                    self.policy_jumps[dispatch].append((priority, chain, [], policy.location, ""))
                    continue
                zone = self.tree.zones.get(zone_name)
                if zone is None:
                    raise ParseError(
                        Problem.at(
                            policy.location,
                            T,
                            f"policy {name}: zone {zone_name!r} is defined nowhere",
                        )
                    )
                for source in zone.all("source"):
                    match, unknown = self._source(source, field)
                    self.policy_jumps[dispatch].append(
                        (priority, chain, match, source.location, unknown)
                    )
                for interface in zone.all("interface"):
                    match = [_m(_meta(iface), interface.get("name").replace("+", "*"))]
                    self.policy_jumps[dispatch].append(
                        (priority, chain, match, interface.location, "")
                    )
        for dispatch, jumps in self.policy_jumps.items():
            self.out.chain(dispatch, self.conf_loc)
            for _priority, chain, match, where, unknown in sorted(jumps, key=lambda j: j[0]):
                self.out.rule(
                    dispatch,
                    [*match, {"jump": {"target": chain}}],
                    where,
                    f"dispatch to {chain}",
                    unknown,
                )

    def _zone(self, name: str, zone: Node) -> None:
        target = zone.get("target", "default")
        if target in ("%%REJECT%%", "REJECT"):
            target = "REJECT"
        chain = f"nat_PRE_{name}"
        self.out.chain(chain, zone.location)  # before the body: rich forward-ports land here
        self._body(f"filter_IN_{name}", zone, f"zone {name}", target, zone=True)
        for node in zone.all("forward-port"):
            self._forward_port(chain, node, [], f"zone {name}")
        for node in zone.all("masquerade"):
            ipv4 = [_m(_meta("nfproto"), "ipv4")]
            self.masquerade.setdefault(f"nat_POST_{name}", []).append(
                (ipv4, node.location, f"zone {name}: {node.show()}", "")
            )

    def _body(self, chain: str, node: Node, who: str, target: str, zone: bool = False) -> None:
        out = self.out
        out.chain(chain, node.location)
        for sub in SUBCHAINS:
            out.chain(f"{chain}_{sub}", node.location)
        jumps = [f"{chain}_{sub}" for sub in SUBCHAINS]
        if zone:
            jumps = ["filter_INPUT_POLICIES_pre", *jumps, "filter_INPUT_POLICIES_post"]
        for jump in jumps:
            out.rule(chain, [{"jump": {"target": jump}}], node.location, who)
        inversion = node.first("icmp-block-inversion") is not None
        allow, deny = f"{chain}_allow", f"{chain}_deny"
        for service in node.all("service"):
            self._service(allow, service, [], {"accept": None}, f"{who}: {service.show()}")
        for port in node.all("port"):
            self._port_rule(allow, port, [], "dport", {"accept": None}, f"{who}: {port.show()}")
        for source_port in node.all("source-port"):
            self._port_rule(
                allow, source_port, [], "sport", {"accept": None}, f"{who}: {source_port.show()}"
            )
        for protocol in node.all("protocol"):
            out.rule(
                allow,
                [_m(_meta("l4proto"), protocol.get("value")), {"accept": None}],
                protocol.location,
                f"{who}: {protocol.show()}",
            )
        for block in node.all("icmp-block"):
            verdict: dict[str, object] = {"accept": None} if inversion else REJECT
            self._icmp(allow if inversion else deny, block, [], verdict, f"{who}: {block.show()}")
        rules = sorted(node.all("rule"), key=lambda r: _priority(r))
        for rich in rules:
            self._rich(chain, rich, who)
        icmp = _m(_meta("l4proto"), {"set": ["icmp", "ipv6-icmp"]})
        where = node.location
        note = f"{who} target {target}"
        if target == "default":
            out.rule(
                chain,
                [icmp, REJECT if inversion else {"accept": None}],
                where,
                note + (" (icmp-block-inversion)" if inversion else ""),
            )
            out.rule(chain, [REJECT], where, note)
        elif target in ("ACCEPT", "DROP", "REJECT"):
            if inversion:
                out.rule(
                    chain,
                    [icmp, REJECT],
                    where,
                    note,
                    "icmp-block-inversion with a non-default target is not modelled",
                )
            out.rule(chain, [REJECT if target == "REJECT" else {target.lower(): None}], where, note)
        elif target != "CONTINUE" or zone:
            raise ParseError(Problem.at(where, T, f"{who}: unknown target {target!r}"))

    def _service(
        self,
        chain: str,
        node: Node,
        match: list[dict[str, object]],
        verdict: dict[str, object],
        note: str,
        unknown: str = "",
        depth: int = 0,
    ) -> None:
        name = node.get("name")
        service = self.tree.definition("services", name, node.location)
        if depth > 8:
            raise ParseError(Problem.at(service.location, T, f"service {name!r} includes itself"))
        destination = service.first("destination")
        families: list[tuple[str, list[dict[str, object]]]] = [("", [])]
        if destination is not None:
            families = [(f, [_m(_payload(p, "daddr"), _addr(destination.get(f)))])
                        for f, p in (("ipv4", "ip"), ("ipv6", "ip6")) if destination.get(f)]  # fmt: skip
        for _family, dest in families:
            for port in service.all("port"):
                self._port_rule(
                    chain,
                    port,
                    [*match, *dest],
                    "dport",
                    verdict,
                    f"{note} via {port.show()} at {port.location}",
                    unknown,
                    node.location,
                )
            for port in service.all("source-port"):
                self._port_rule(
                    chain,
                    port,
                    [*match, *dest],
                    "sport",
                    verdict,
                    f"{note} via {port.show()} at {port.location}",
                    unknown,
                    node.location,
                )
            for protocol in service.all("protocol"):
                self.out.rule(
                    chain,
                    [*match, *dest, _m(_meta("l4proto"), protocol.get("value")), verdict],
                    node.location,
                    f"{note} via {protocol.show()}",
                    unknown,
                )
        for include in service.all("include"):
            self._service(
                chain,
                Node("service", {"name": include.get("service")}, node.location),
                match,
                verdict,
                note,
                unknown,
                depth + 1,
            )

    def _port_rule(
        self,
        chain: str,
        node: Node,
        match: list[dict[str, object]],
        field: str,
        verdict: dict[str, object],
        note: str,
        unknown: str = "",
        where: Location | None = None,
    ) -> None:
        protocol, value = node.get("protocol"), node.get("port")
        if protocol not in ("tcp", "udp", "sctp", "dccp"):
            raise ParseError(
                Problem.at(
                    node.location, T, f"port protocol {protocol!r} is not tcp, udp, sctp or dccp"
                )
            )
        port = (
            [_m(_payload(protocol, field), _port(value, node.location))]
            if value
            else [_m(_meta("l4proto"), protocol)]
        )
        self.out.rule(chain, [*match, *port, verdict], where or node.location, note, unknown)

    def _icmp(
        self,
        chain: str,
        node: Node,
        match: list[dict[str, object]],
        verdict: dict[str, object],
        note: str,
        family: str = "",
        unknown: str = "",
    ) -> None:
        name = node.get("name")
        types = ICMP.get(name)
        if types is None:
            self.tree.definition("icmptypes", name, node.location)
            types = (name, name)
            unknown = unknown or f"icmptype {name!r} (an ICMP code or custom type) is not modelled"
        for proto, nft_type in (("icmp", types[0]), ("icmpv6", types[1])):
            if nft_type is None or (family and family != ("ipv4" if proto == "icmp" else "ipv6")):
                continue
            if unknown:
                self.out.rule(
                    chain,
                    [
                        *match,
                        _m(_meta("l4proto"), proto if proto == "icmp" else "ipv6-icmp"),
                        verdict,
                    ],
                    node.location,
                    note,
                    unknown,
                )
            else:
                self.out.rule(
                    chain,
                    [*match, _m(_payload(proto, "type"), nft_type), verdict],
                    node.location,
                    note,
                )

    def _forward_port(
        self, chain: str, node: Node, match: list[dict[str, object]], who: str, unknown: str = ""
    ) -> None:
        protocol, port = node.get("protocol"), node.get("port")
        to_port, to_addr = node.get("to-port"), node.get("to-addr")
        if protocol not in ("tcp", "udp", "sctp", "dccp"):
            raise ParseError(
                Problem.at(
                    node.location,
                    T,
                    f"forward-port protocol {protocol!r} is not tcp, udp, sctp or dccp",
                )
            )
        base = [*match, _m(_payload(protocol, "dport"), _port(port, node.location))]
        if not to_addr:
            to = _port(to_port or port, node.location)
            stmt: dict[str, object] = {"redirect": {"port": to}}
            self.out.rule(
                chain,
                [_m(_meta("nfproto"), "ipv4"), *base, stmt],
                node.location,
                f"{who}: {node.show()}",
                unknown,
            )
            return
        family = "ip6" if ":" in to_addr else "ip"
        nat: dict[str, object] = {"family": family, "addr": to_addr}
        if to_port:
            nat["port"] = _port(to_port, node.location)
        nfproto = "ipv6" if family == "ip6" else "ipv4"
        self.out.rule(
            chain,
            [_m(_meta("nfproto"), nfproto), *base, {"dnat": nat}],
            node.location,
            f"{who}: {node.show()}",
            unknown,
        )

    def _rich(self, chain: str, rule: Node, who: str) -> None:
        priority = _priority(rule)
        family = rule.get("family")
        match: list[dict[str, object]] = []
        unknown = ""
        if family in ("ipv4", "ipv6"):
            match.append(_m(_meta("nfproto"), family))
        elif family:
            raise ParseError(
                Problem.at(
                    rule.location, T, f"rich rule family {family!r} is neither ipv4 nor ipv6"
                )
            )
        for tag, field in (("source", "saddr"), ("destination", "daddr")):
            node = rule.first(tag)
            if node is not None:
                got, reason = self._source(node, field)
                match.extend(got)
                unknown = unknown or reason
        action = next(
            (n for n in rule.children if n.tag in ("accept", "reject", "drop", "mark")), None
        )
        note = f"{who}: rich rule at {rule.location}"
        element = next(
            (
                n
                for n in rule.children
                if n.tag
                in (
                    "service",
                    "port",
                    "protocol",
                    "icmp-block",
                    "icmp-type",
                    "source-port",
                    "forward-port",
                    "masquerade",
                )
            ),
            None,
        )
        # icmp-block and forward-port are their own action (firewalld.richlanguage(5)).
        if element is not None and element.tag == "icmp-block":
            sub = "deny" if priority == 0 else "pre" if priority < 0 else "post"
            self._icmp(f"{chain}_{sub}", element, match, REJECT, note, family, unknown)
            return
        if element is not None and element.tag == "forward-port":
            if chain.startswith("filter_IN_") and not chain.startswith("filter_IN_policy_"):
                self._forward_port(
                    f"nat_PRE_{chain.removeprefix('filter_IN_')}", element, match, who, unknown
                )
            return
        if element is not None and element.tag == "masquerade":
            # Source NAT where the packet leaves through the zone (or the policy's egress).
            zone = chain.startswith("filter_IN_") and not chain.startswith("filter_IN_policy_")
            if zone or chain.startswith("filter_FWD_policy_"):
                owner = chain.removeprefix("filter_IN_").removeprefix("filter_FWD_")
                self.masquerade.setdefault(f"nat_POST_{owner}", []).append(
                    (match, rule.location, note, unknown)
                )
            return
        if action is None:
            return  # log/audit only: decides nothing
        limit = action.first("limit")
        if limit is not None:
            unknown = unknown or f"limit {limit.get('value')}: rate limits are not modelled"
        if action.tag == "mark":
            return  # sets a mark in mangle PREROUTING; decides nothing here
        verdict: dict[str, object] = (
            {"accept": None}
            if action.tag == "accept"
            else {"drop": None}
            if action.tag == "drop"
            else {"reject": None}
        )
        sub = (
            "pre"
            if priority < 0
            else "post"
            if priority > 0
            else ("allow" if action.tag == "accept" else "deny")
        )
        target = f"{chain}_{sub}"
        if element is None:
            self.out.rule(target, [*match, verdict], rule.location, note, unknown)
        elif element.tag == "service":
            self._service(target, element, match, verdict, note, unknown)
        elif element.tag in ("port", "source-port"):
            self._port_rule(
                target,
                element,
                match,
                "dport" if element.tag == "port" else "sport",
                verdict,
                note,
                unknown,
                rule.location,
            )
        elif element.tag == "protocol":
            self.out.rule(
                target,
                [*match, _m(_meta("l4proto"), element.get("value")), verdict],
                rule.location,
                note,
                unknown,
            )
        elif element.tag == "icmp-type":
            self._icmp(target, element, match, verdict, note, family, unknown)

    def _finish(self) -> Ruleset:
        ruleset = nft_json._Reader(self.tree.origin).read(self.out.items)
        tables = []
        for table in ruleset.tables:
            chains = []
            for chain in table.chains:
                notes = self.out.notes.get(chain.name, [])
                rules = tuple(
                    _annotate(rule, note) for rule, note in zip(chain.rules, notes, strict=True)
                )
                chains.append(dataclasses.replace(chain, rules=rules))
            tables.append(dataclasses.replace(table, chains=tuple(chains)))
        return dataclasses.replace(
            ruleset, tables=tuple(tables), warnings=(*ruleset.warnings, *self.tree.warnings)
        )


def _annotate(rule: Rule, note: tuple[str, str]) -> Rule:
    text, unknown = note
    matches = (Unknown(unknown), *rule.matches) if unknown else rule.matches
    return dataclasses.replace(rule, matches=matches, text=f"{text} -> {rule.text}")


def _priority(rule: Node) -> int:
    try:
        return int(rule.get("priority", "0"))
    except ValueError:
        raise ParseError(
            Problem.at(rule.location, T, "rich rule priority is not a number")
        ) from None


def _text(node: Node) -> str:
    return node.attrs.get("#text", "").strip()


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def compile_tree(tree: Tree) -> tuple[Ruleset, ...]:
    """The inet firewalld table, then the iptables tables of direct.xml's rules, if any."""
    try:
        return (_Compiler(tree).run(), *firewalld_direct.rulesets(tree.direct))
    except (ValueError, TypeError, KeyError) as error:
        raise ParseError(
            Problem(tree.origin, 0, 0, T, f"cannot compile the firewalld tree: {error}")
        ) from None
