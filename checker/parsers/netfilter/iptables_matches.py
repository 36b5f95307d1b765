"""iptables match extensions (`-m NAME --option …`) as model matches.

The modules the engine can decide exactly (tcp, udp, sctp, dccp ports; icmp, icmp6; multiport;
conntrack/state; iprange; addrtype; pkttype; comment) become `Ranges`, `CtState`, `TcpFlags`,
`AddrType` or `AnyOf`, following the extension man pages (iptables-extensions(8)) and the
kernel's xt_* match functions. Everything else — and any option of a known module we do not
model — becomes `Unknown` naming the module and options as written, so the flows it touches are
indeterminate, never silently allowed or denied.

Choices worth knowing:
- Negated integer matches are folded into the complement ranges (`! --dport 22` is 0-21,
  23-65535), as the model asks. A match that can never hold is `Ranges(field, ())`.
- `--ctproto` compares the connection's protocol; for the tracked flows the engine queries
  (NEW, ESTABLISHED) that is the packet's protocol, so it is `Ranges("proto", …)`. The
  original/reply tuple options (`--ctorigdst` …), `--ctstatus`, `--ctexpire`, `--ctdir` are
  unknown: for a reply or a NATed packet they differ from the packet's own header.
- `-m pkttype` looks at the link-layer packet type, not an address type, so it is
  `AddrType("pkttype", {"UNICAST"|"BROADCAST"|"MULTICAST"|"OTHERHOST"})`; `host` is the
  kernel's PACKET_HOST, which iptables prints as `unicast`.
- `-m addrtype` with `--limit-iface-in/out` restricts the route lookup to one interface, which
  the model cannot express: the whole match is unknown.
- `-m set --match-set NAME src,dst` is a `SetMatch`; the engine decides it from the target's
  `ipset save` output (unknown without it). `--return-nomatch` (inverts the meaning of
  nomatch elements) and the counter matches `--packets-*`/`--bytes-*` make the whole match
  unknown. `! --update-counters` / `! --update-subcounters` only stop the counters from being
  updated (iptables-extensions(8)); what matches is unchanged, so they are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from checker.model.net import PORT_PROTOCOL_NAMES, PORT_PROTOCOLS
from checker.model.netfilter import (
    AddrType,
    AnyOf,
    CtState,
    MarkMatch,
    Match,
    Ranges,
    SetMatch,
    TcpFlags,
    Unknown,
)
from checker.parsers.netfilter import iptables_exthdr as exthdr
from checker.parsers.netfilter import iptables_values as values
from checker.parsers.netfilter.iptables_lexer import LineError


@dataclass(slots=True)
class OptionUse:
    name: str
    negated: bool
    args: list[str]


@dataclass(slots=True)
class ModuleUse:
    """One `-m NAME` (or the protocol's implicit module) with the options given to it."""

    name: str
    implicit: bool = False
    options: list[OptionUse] = field(default_factory=list)
    # Options the module does not have (known modules) — reported as unknown.
    strange: list[OptionUse] = field(default_factory=list)
    # The module's option table (name -> number of arguments); None for modules we do not know.
    spec: dict[str, int] | None = None

    def render(self, uses: list[OptionUse] | None = None) -> str:
        words = [] if self.implicit else ["-m", self.name]
        for use in self.options if uses is None else uses:
            words.extend(["!", use.name] if use.negated else [use.name])
            words.extend(use.args)
        return " ".join(words)


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a module's conversion needs to know about the rest of the rule."""

    family: int
    proto: int | None
    proto_negated: bool


Converter = Callable[[ModuleUse, RuleContext], list[Match]]

NEVER = Ranges("proto", ())
TCP_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")
# libxt_tcp: ALL is the six classic flags (ECE and CWR must be named), NONE is no flag.
TCP_ALL = frozenset(TCP_FLAGS[:6])
SYN_MASK = frozenset({"FIN", "SYN", "RST", "ACK"})
CT_STATES = frozenset({"INVALID", "ESTABLISHED", "NEW", "RELATED", "UNTRACKED", "SNAT", "DNAT"})
STATE_STATES = frozenset({"INVALID", "ESTABLISHED", "NEW", "RELATED", "UNTRACKED"})
ADDR_TYPES = frozenset(
    "UNSPEC UNICAST LOCAL BROADCAST ANYCAST MULTICAST BLACKHOLE UNREACHABLE PROHIBIT THROW NAT XRESOLVE".split()
)
PKT_TYPES = {
    "unicast": "UNICAST",
    "host": "UNICAST",
    "broadcast": "BROADCAST",
    "multicast": "MULTICAST",
    "otherhost": "OTHERHOST",
}

# Why the engine cannot decide a module it does not model (named in the Unknown reason).
UNDECIDABLE: dict[str, str] = {
    "limit": "rate limit: depends on traffic history",
    "hashlimit": "rate limit: depends on traffic history",
    "recent": "depends on the recent list's contents",
    "string": "matches packet payload",
    "u32": "matches raw packet bytes",
    "bpf": "runs a BPF program",
    "owner": "depends on the local socket's owner",
    "statistic": "random or every-nth sampling",
    "physdev": "depends on the bridge port",
    "mac": "depends on the source MAC address",
    "length": "depends on the packet length",
    "socket": "depends on local sockets",
    "rpfilter": "depends on a reverse-path route lookup",
    "helper": "depends on the conntrack helper",
    "ttl": "depends on the TTL",
    "hl": "depends on the hop limit",
    "tos": "depends on the TOS byte",
    "dscp": "depends on the DSCP field",
    "ecn": "depends on ECN bits",
    "time": "depends on the time of day",
    "geoip": "needs the GeoIP database",
    "cgroup": "depends on the sending process's cgroup",
    "policy": "depends on IPsec policy",
    "devgroup": "depends on the device group",
    "realm": "depends on the routing realm",
    "connlimit": "depends on the number of connections",
    "connbytes": "depends on connection byte counts",
    "connlabel": "depends on connection labels",
    "quota": "depends on a byte quota",
    "nfacct": "depends on an accounting object",
    "cluster": "depends on cluster node hashing",
    "cpu": "depends on the CPU handling the packet",
    "ipvs": "depends on IPVS state",
    "osf": "passive OS fingerprinting",
    "esp": "matches the ESP SPI",
    "ah": "matches the AH SPI",
    "mh": "matches the mobility header type",
    "tcpmss": "depends on the TCP MSS option",
    "condition": "depends on a condition variable",
}


def _one(use: OptionUse) -> str:
    return use.args[0]


def _port_ranges(use: OptionUse, ctx: RuleContext, field_name: str) -> Ranges:
    span = values.port_range(_one(use), PORT_PROTOCOL_NAMES.get(ctx.proto or 0, "tcp"))
    spans: tuple[tuple[int, int], ...] = (span,)
    if use.negated:
        spans = values.complement(spans, values.PORT_MAX)
    return Ranges(field_name, spans)


def _tcp_flag_set(text: str) -> frozenset[str]:
    flags: set[str] = set()
    for name in text.upper().split(","):
        if name == "ALL":
            flags |= TCP_ALL
        elif name == "NONE":
            continue
        elif name in TCP_FLAGS:
            flags.add(name)
        else:
            raise LineError("tcp-flags", f"unknown TCP flag `{name}` in `{text}`")
    return frozenset(flags)


def _flags(mask: frozenset[str], comp: frozenset[str], negated: bool) -> list[Match]:
    if not comp <= mask:
        # (flags & mask) == comp cannot hold when comp has a bit outside mask (xt_tcpudp.c).
        return [] if negated else [NEVER]
    return [TcpFlags(mask, comp, negated)]


def _unknown(use: ModuleUse, options: list[OptionUse], why: str) -> Unknown:
    return Unknown(f"{use.render(options)}: {why}")


def _need_proto(use: ModuleUse, ctx: RuleContext, wanted: tuple[int, ...], label: str) -> None:
    if ctx.proto not in wanted or ctx.proto_negated:
        raise LineError("module", f"-m {use.name} needs {label} (the kernel refuses it otherwise)")


def _ports_module(use: ModuleUse, ctx: RuleContext, number: int) -> list[Match]:
    _need_proto(use, ctx, (number,), f"-p {use.name}")
    matches: list[Match] = []
    for option in use.options:
        name = option.name
        if name in ("--sport", "--source-port"):
            matches.append(_port_ranges(option, ctx, "sport"))
        elif name in ("--dport", "--destination-port"):
            matches.append(_port_ranges(option, ctx, "dport"))
        elif name == "--tcp-flags":
            matches.extend(
                _flags(_tcp_flag_set(option.args[0]), _tcp_flag_set(option.args[1]), option.negated)
            )
        elif name == "--syn":
            matches.extend(_flags(SYN_MASK, frozenset({"SYN"}), option.negated))
        else:
            matches.append(_unknown(use, [option], "option not modelled"))
    return matches


def _tcp(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    return _ports_module(use, ctx, 6)


def _udp(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    return _ports_module(use, ctx, 17)


def _sctp(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    return _ports_module(use, ctx, 132)


def _dccp(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    return _ports_module(use, ctx, 33)


def _icmp_match(use: ModuleUse, ctx: RuleContext, family: int, number: int) -> list[Match]:
    if ctx.family != family:
        return [
            _unknown(
                use,
                use.options,
                f"-m {use.name} exists only for IPv{family}; iptables would refuse it",
            )
        ]
    _need_proto(use, ctx, (number,), "-p icmp" if family == 4 else "-p icmpv6")
    matches: list[Match] = []
    for option in use.options:
        span = values.icmp_type(_one(option), family)
        spans: tuple[tuple[int, int], ...] = () if span is None else (span,)
        if span is None and not option.negated:
            continue  # "any"
        if span is None or option.negated:
            spans = () if span is None else values.complement(spans, values.ICMP_MAX)
        matches.append(Ranges("icmp", spans))
    return matches


def _icmp(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    return _icmp_match(use, ctx, 4, 1)


def _icmp6(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    return _icmp_match(use, ctx, 6, 58)


def _multiport(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    _need_proto(use, ctx, tuple(sorted(PORT_PROTOCOLS)), "-p tcp, udp, udplite, sctp or dccp")
    if len(use.options) > 1:
        raise LineError("module", "-m multiport takes one of --sports, --dports, --ports")
    matches: list[Match] = []
    for option in use.options:
        spans = values.port_list(_one(option), PORT_PROTOCOL_NAMES[ctx.proto or 6])
        outside = values.complement(spans, values.PORT_MAX)
        if option.name in ("--sports", "--source-ports"):
            matches.append(Ranges("sport", outside if option.negated else spans))
        elif option.name in ("--dports", "--destination-ports"):
            matches.append(Ranges("dport", outside if option.negated else spans))
        elif option.negated:
            # xt_multiport: (sport in P or dport in P) ^ invert.
            matches.extend((Ranges("sport", outside), Ranges("dport", outside)))
        else:
            matches.append(AnyOf(((Ranges("sport", spans),), (Ranges("dport", spans),))))
    return matches


def _states(text: str, allowed: frozenset[str], option: str) -> frozenset[str]:
    states = frozenset(text.upper().split(","))
    bad = sorted(states - allowed)
    if bad:
        raise LineError(
            "state", f"unknown {option} state `{bad[0]}` (known: {', '.join(sorted(allowed))})"
        )
    return states


def _conntrack(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    matches: list[Match] = []
    for option in use.options:
        if option.name == "--ctstate":
            matches.append(CtState(_states(_one(option), CT_STATES, "--ctstate"), option.negated))
        elif option.name == "--ctproto":
            number = values.protocol(_one(option))
            spans = ((number, number),)
            matches.append(
                Ranges(
                    "proto", values.complement(spans, values.PROTO_MAX) if option.negated else spans
                )
            )
        else:
            matches.append(
                _unknown(use, [option], "conntrack tuple, status, expiry or direction not modelled")
            )
    return matches


def _state(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    return [
        CtState(_states(_one(option), STATE_STATES, "--state"), option.negated)
        for option in use.options
    ]


def _iprange(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    matches: list[Match] = []
    maximum = values.V4_MAX if ctx.family == 4 else values.V6_MAX
    for option in use.options:
        spans = values.address_range(_one(option), ctx.family)
        if option.negated:
            spans = values.complement(spans, maximum)
        matches.append(Ranges("saddr" if option.name == "--src-range" else "daddr", spans))
    return matches


def _addrtype(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    if any(option.name.startswith("--limit-iface") for option in use.options):
        return [_unknown(use, use.options, "address type on one interface only is not modelled")]
    matches: list[Match] = []
    for option in use.options:
        types = frozenset(_one(option).upper().split(","))
        bad = sorted(types - ADDR_TYPES)
        if bad:
            raise LineError("addrtype", f"unknown address type `{bad[0]}`")
        matches.append(
            AddrType("src" if option.name == "--src-type" else "dst", types, option.negated)
        )
    return matches


def _pkttype(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    matches: list[Match] = []
    for option in use.options:
        kind = PKT_TYPES.get(_one(option).lower())
        if kind is None:
            raise LineError(
                "pkttype",
                f"unknown packet type `{_one(option)}` (unicast, broadcast, multicast, otherhost)",
            )
        matches.append(AddrType("pkttype", frozenset({kind}), option.negated))
    return matches


def _mark(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    """-m mark / -m connmark --mark VALUE[/MASK]: (mark & MASK) == VALUE (xt_mark.c)."""
    field_name = "mark" if use.name == "mark" else "ctmark"
    matches: list[Match] = []
    for option in use.options:
        value, mask = values.mark_value(_one(option), use.name)
        matches.append(MarkMatch(field_name, value, mask, option.negated))
    return matches


def _comment(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    return []


SET_DIRECTIONS = ("src", "dst")
# IPSET_DIM_MAX (include/uapi/linux/netfilter/ipset/ip_set.h): at most six direction flags.
SET_DIM_MAX = 6
SET_IGNORED = ("--update-counters", "--update-subcounters")


def _set(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    named = [o for o in use.options if o.name in ("--match-set", "--set")]
    if len(named) != 1:
        raise LineError("module", "-m set takes one --match-set NAME FLAGS")
    (option,) = named
    name, flags = option.args
    directions = tuple(flags.split(","))
    if not name or any(d not in SET_DIRECTIONS for d in directions):
        raise LineError("set", f"--match-set {name} {flags}: flags are src or dst, comma-separated")
    if len(directions) > SET_DIM_MAX:
        raise LineError("set", f"--match-set {name} {flags}: at most {SET_DIM_MAX} flags")
    others = [o for o in use.options if o is not option]
    counters = [o for o in others if not (o.name in SET_IGNORED and o.negated)]
    if counters:
        return [_unknown(use, use.options, "set counters or return-nomatch are not modelled")]
    return [SetMatch(name, directions, option.negated)]


@dataclass(frozen=True, slots=True)
class ModuleSpec:
    # option name -> number of arguments
    options: dict[str, int]
    convert: Converter
    # options that must appear (the module is meaningless without them)
    required: tuple[str, ...] = ()


_PORTS = {"--sport": 1, "--source-port": 1, "--dport": 1, "--destination-port": 1}
MODULES: dict[str, ModuleSpec] = {
    "tcp": ModuleSpec({**_PORTS, "--tcp-flags": 2, "--syn": 0, "--tcp-option": 1}, _tcp),
    "udp": ModuleSpec(dict(_PORTS), _udp),
    "sctp": ModuleSpec({**_PORTS, "--chunk-types": 2}, _sctp),
    "dccp": ModuleSpec({**_PORTS, "--dccp-types": 1, "--dccp-option": 1}, _dccp),
    "icmp": ModuleSpec({"--icmp-type": 1}, _icmp),
    "icmp6": ModuleSpec({"--icmpv6-type": 1}, _icmp6),
    "multiport": ModuleSpec(
        {"--sports": 1, "--source-ports": 1, "--dports": 1, "--destination-ports": 1, "--ports": 1},
        _multiport,
    ),
    "conntrack": ModuleSpec(
        {
            "--ctstate": 1,
            "--ctproto": 1,
            "--ctorigsrc": 1,
            "--ctorigdst": 1,
            "--ctreplsrc": 1,
            "--ctrepldst": 1,
            "--ctorigsrcport": 1,
            "--ctorigdstport": 1,
            "--ctreplsrcport": 1,
            "--ctrepldstport": 1,
            "--ctstatus": 1,
            "--ctexpire": 1,
            "--ctdir": 1,
        },
        _conntrack,
    ),
    "state": ModuleSpec({"--state": 1}, _state, ("--state",)),
    "iprange": ModuleSpec({"--src-range": 1, "--dst-range": 1}, _iprange),
    "addrtype": ModuleSpec(
        {"--src-type": 1, "--dst-type": 1, "--limit-iface-in": 0, "--limit-iface-out": 0}, _addrtype
    ),
    "pkttype": ModuleSpec({"--pkt-type": 1}, _pkttype, ("--pkt-type",)),
    "comment": ModuleSpec({"--comment": 1}, _comment, ("--comment",)),
    "mark": ModuleSpec({"--mark": 1}, _mark, ("--mark",)),
    "connmark": ModuleSpec({"--mark": 1}, _mark, ("--mark",)),
    "set": ModuleSpec(
        {
            "--match-set": 2,
            "--set": 2,
            "--return-nomatch": 0,
            "--update-counters": 0,
            "--update-subcounters": 0,
            "--packets-eq": 1,
            "--packets-lt": 1,
            "--packets-gt": 1,
            "--bytes-eq": 1,
            "--bytes-lt": 1,
            "--bytes-gt": 1,
        },
        _set,
    ),
    # IPv6 extension headers, decided on ordinary packets (iptables_exthdr).
    **{name: ModuleSpec(exthdr.OPTIONS[name], exthdr.header) for name in exthdr.HEADERS},
    "ipv6header": ModuleSpec(exthdr.OPTIONS["ipv6header"], exthdr.ipv6header, ("--header",)),
}
# ip6tables accepts -m icmpv6 / ipv6-icmp as names of the icmp6 module.
MODULE_ALIASES = {"icmpv6": "icmp6", "ipv6-icmp": "icmp6", "ipv6icmp": "icmp6"}
# The module iptables loads on its own for `-p NAME --option` (xtables "implicit" match).
IMPLICIT = {6: "tcp", 17: "udp", 132: "sctp", 33: "dccp", 1: "icmp", 58: "icmp6"}


def convert(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    """The matches of one module use (see the module docstring)."""
    spec = MODULES.get(use.name)
    if spec is None:
        why = UNDECIDABLE.get(use.name, "match extension not modelled")
        return [Unknown(f"{use.render()}: {why}")]
    given = {option.name for option in use.options}
    for required in spec.required:
        if required not in given:
            raise LineError("module", f"-m {use.name} needs {required}")
    matches = spec.convert(use, ctx)
    if use.strange:
        matches.append(Unknown(f"{use.render(use.strange)}: unknown option of -m {use.name}"))
    return matches
