"""The netfilter model: tables, chains and rules from iptables-save, ip6tables-save or nft -j.

Every rule keeps its origin (file, line, text). A rule's matches are a conjunction; negation is
folded in by the parser where it can be (`! --dport 22` becomes the port ranges outside 22), or
kept as a flag the engine applies. A match the engine cannot decide is an `Unknown` carrying the
reason; it makes the flows it touches indeterminate, never silently allowed or denied.

Base-chain priorities for iptables tables (the kernel's NF_IP_PRI_* values, include/uapi/linux/
netfilter_ipv4.h): raw -300, mangle -150, nat PREROUTING/OUTPUT -100 (dstnat), filter 0,
security 50, nat INPUT/POSTROUTING 100 (srcnat). nft named priorities map to the same numbers.

Conventions shared by every parser:
- Addresses are integers of the family's width. A rule whose table serves one family (iptables
  tables are family "ip", ip6tables "ip6") needs no family match; a rule in an nft "inet" table
  that matches `ip saddr` carries `Ranges("family", ((4, 4),))` as well.
- ICMP type and code are one field, "icmp" = type * 256 + code; "any code of type 8" is
  (2048, 2303).
- Fields: "family" (4 or 6), "proto" (IP protocol number, IPv6: the transport header),
  "saddr", "daddr", "sport", "dport", "icmp".

ipsets (`-m set --match-set NAME src,dst`) are a `SetMatch` naming the set; the set's contents
come from another source, the target's `ipset save` output, parsed into `IpSets`. The engine
decides a `SetMatch` exactly when that output is supplied and the set is static and of a type it
models, and treats it as unknown otherwise (see checker/engine/netfilter/sets.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from checker.errors import Location

FIELDS = ("family", "proto", "saddr", "daddr", "sport", "dport", "icmp")


@dataclass(frozen=True, slots=True)
class Ranges:
    """`field` lies in one of the inclusive integer ranges (or, if negated, in none of them)."""

    field: str
    ranges: tuple[tuple[int, int], ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Iface:
    """Input ("iif") or output ("oif") interface; a name ending in "+" is a prefix wildcard."""

    field: str
    names: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class CtState:
    """Conntrack state: any of NEW ESTABLISHED RELATED INVALID UNTRACKED (and SNAT DNAT)."""

    states: frozenset[str]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class TcpFlags:
    """TCP flags: of the flags in `mask`, exactly those in `comp` are set. `--syn` is
    mask {SYN,RST,ACK,FIN}, comp {SYN}. Flag names: FIN SYN RST PSH ACK URG ECE CWR."""

    mask: frozenset[str]
    comp: frozenset[str]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class AddrType:
    """`-m addrtype` / nft `fib … type`: which address ("src"/"dst") is of these types
    (UNICAST LOCAL BROADCAST ANYCAST MULTICAST BLACKHOLE UNREACHABLE PROHIBIT …)."""

    which: str
    types: frozenset[str]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class AnyOf:
    """A disjunction of conjunctions: an nft concatenated-set lookup such as
    `ip saddr . tcp dport { 10.0.0.1 . 22, 10.0.0.2 . 80 }`."""

    options: tuple[tuple[Match, ...], ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Unknown:
    """A match the engine cannot decide (ipset contents, -m recent, -m string, xt blobs …)."""

    reason: str


@dataclass(frozen=True, slots=True)
class SetMatch:
    """`-m set [!] --match-set NAME dir[,dir…]`: the packet's values along the set's dimensions
    (`directions[i]` is "src" or "dst" for dimension i) are an element of ipset NAME."""

    name: str
    directions: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class MarkMatch:
    """`-m mark --mark VALUE/MASK` / nft `meta mark` (field "mark": the packet's nfmark) or
    `-m connmark --mark VALUE/MASK` / nft `ct mark` (field "ctmark": its connection's mark):
    `(field & mask) == value` (iptables-extensions(8) mark, connmark)."""

    field: str
    value: int
    mask: int = 0xFFFFFFFF
    negated: bool = False


Match = Ranges | Iface | CtState | TcpFlags | AddrType | AnyOf | SetMatch | MarkMatch | Unknown


@dataclass(frozen=True, slots=True)
class MarkOp:
    """One write of a mark ("mark": the packet's nfmark, "ctmark": its connection's):
    `dst = (dst & keep) ^ (src & take) ^ xor`. MARK --set-xmark V/M is keep=~M, xor=V;
    CONNMARK --save-mark is dst="ctmark", keep=~ctmask, src="mark", take=nfmask
    (iptables-extensions(8) MARK, CONNMARK). `opaque`: a write the model cannot follow (nft
    shifts): the mark becomes unknown."""

    dst: str
    keep: int
    src: str = "mark"
    take: int = 0
    xor: int = 0
    opaque: bool = False


class Verdict(StrEnum):
    ACCEPT = "accept"
    DROP = "drop"
    REJECT = "reject"
    RETURN = "return"
    JUMP = "jump"
    GOTO = "goto"
    # Non-terminating: LOG, MARK, COUNTER, comment-only rules, … evaluation continues.
    CONTINUE = "continue"
    # Address translation (nat chains): DNAT/REDIRECT change where the flow goes.
    DNAT = "dnat"
    SNAT = "snat"
    # nft `fwd to DEVICE` (netdev ingress/egress): the packet is sent out of that device and
    # stolen from this path (nft(8) FWD STATEMENT; kernel nft_fwd_netdev: NF_STOLEN).
    FWD = "fwd"
    # QUEUE/NFQUEUE and targets we do not know: userspace or an extension decides.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class NatTo:
    """Where a DNAT/REDIRECT sends a flow: the new destination addresses (None: this host's
    own address, REDIRECT) and ports (None: unchanged), as inclusive ranges."""

    addresses: tuple[tuple[int, int], ...] | None
    ports: tuple[tuple[int, int], ...] | None


@dataclass(frozen=True, slots=True)
class Target:
    verdict: Verdict
    # Name as written (ACCEPT, LOG, KUBE-SVC-X, "accept", "queue" …).
    name: str
    # Chain jumped or gone to.
    chain: str | None = None
    # For DNAT/REDIRECT: where to, as written; for UNKNOWN: why.
    detail: str = ""
    # The ipsets the target changes from the packet path (ipset's SET --add-set/--del-set):
    # their saved contents say nothing sure about later packets.
    writes: tuple[str, ...] = ()
    # MARK/CONNMARK (nft `meta mark set`, `ct mark set`): the marks it writes, in order.
    marks: tuple[MarkOp, ...] = ()
    # For DNAT/REDIRECT whose destination the parser read: where the flow goes.
    to: NatTo | None = None
    # For an UNKNOWN target that rewrites the destination address (nft `ip daddr set …`) to
    # addresses the parser read, with nothing else in the rule that could keep the packet here.
    daddr: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    matches: tuple[Match, ...]
    target: Target
    origin: Location
    text: str


class Hook(StrEnum):
    # netdev "ingress" chains see inbound packets before prerouting (both families).
    INGRESS = "ingress"
    PREROUTING = "prerouting"
    INPUT = "input"
    FORWARD = "forward"
    OUTPUT = "output"
    POSTROUTING = "postrouting"
    # netdev "egress" chains see outbound packets after postrouting, on their way to the device.
    EGRESS = "egress"


@dataclass(frozen=True, slots=True)
class Chain:
    name: str
    rules: tuple[Rule, ...]
    # Base chains have a hook, a priority and a policy; user chains have none of them.
    hook: Hook | None = None
    priority: int = 0
    policy: Verdict | None = None
    policy_origin: Location | None = None
    # nft chain type: "filter", "nat" or "route" (iptables: nat table chains are "nat").
    kind: str = "filter"
    # For netdev ingress/egress chains: the device they are bound to (None = every device).
    device: str | None = None


@dataclass(frozen=True, slots=True)
class Table:
    # "ip", "ip6", "inet" (both), or "arp"/"bridge"/"netdev" (not on the IP hooks: ignored).
    family: str
    name: str
    chains: tuple[Chain, ...]
    origin: Location

    def chain(self, name: str) -> Chain | None:
        for chain in self.chains:
            if chain.name == name:
                return chain
        return None


@dataclass(frozen=True, slots=True)
class Ruleset:
    """One source file's rules. `families` says which IP families the file fully describes
    (an iptables-save file describes IPv4, an ip6tables-save IPv6, `nft -j` both): a family no
    source describes is indeterminate, never assumed open."""

    tables: tuple[Table, ...]
    families: frozenset[int]
    origin: str
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class IpSetElement:
    """One `add` line of `ipset save`: per dimension of its set, an inclusive range of values
    (addresses as integers of the set's family, ports as numbers; for a port dimension whose
    protocol is ICMP or ICMPv6, the "icmp" value type*256+code). `proto` is the protocol of the
    set's port dimension (None when the set has none). `nomatch` marks a hash:net* exception."""

    values: tuple[tuple[int, int], ...]
    line: int
    proto: int | None = None
    nomatch: bool = False
    # The element carries its own `timeout N` (N > 0): it expires at runtime.
    expires: bool = False


@dataclass(frozen=True, slots=True)
class IpSet:
    """One set of `ipset save`: `kind` is the type as written ("hash:ip,port"); `dims` the
    kinds of its dimensions ("ip", "net", "port", or "set" for list:set; "other" for a
    dimension the engine cannot model, e.g. mac, iface, mark); `family` 4, 6, or 0 for sets
    serving both (bitmap:port, list:set). `members` lists the set names of a list:set."""

    name: str
    kind: str
    family: int
    dims: tuple[str, ...]
    elements: tuple[IpSetElement, ...]
    origin: Location
    members: tuple[str, ...] = ()
    # Some entry (or list:set member) expires at runtime: a non-zero `timeout` of its own, or
    # none in a set whose default `timeout` is non-zero (`timeout 0` is permanent, ipset(8)).
    timeout: bool = False
    # Why the engine cannot model this set although its dimensions are known ("" if it can),
    # e.g. a `bitmask` that is not a prefix.
    unmodelled: str = ""


@dataclass(frozen=True, slots=True)
class NftDevices:
    """The devices netdev/inet ingress and egress base chains are bound to, read from
    `nft list ruleset` text: nft 1.0.6 leaves them out of `nft -j`. It travels with the
    target's Rulesets; alone it describes no firewall."""

    # (table family, table name, chain name, devices)
    bindings: tuple[tuple[str, str, str, tuple[str, ...]], ...]
    origin: str


@dataclass(frozen=True, slots=True)
class IpSets:
    """The contents of every ipset of one `ipset save` output. It travels with the target's
    Rulesets to the netfilter engine; alone it describes no firewall."""

    sets: tuple[IpSet, ...]
    origin: str
