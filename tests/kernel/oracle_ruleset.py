"""The oracle's own description of a generated ruleset, and a reference walk over it.

The generator builds this small model, the renderers turn it into iptables-restore or nft text,
and the kernel runs that text. The reference walk here is not the oracle (the kernel is): it
tells the test which probes reach an undecidable match (`-m limit`), so that fwcheck can be
required to answer "indeterminate" for exactly those whose verdict depends on it, and it checks
the harness itself (a kernel verdict the walk cannot explain means the harness is wrong).

Semantics walked (iptables(8) "TARGETS", nft(8) "VERDICT STATEMENT"): first matching terminal
verdict in a chain; non-terminal rules (LOG, counter, no target) continue; jump pushes a return
point, goto does not; RETURN or the end of a user chain resumes after the caller's jump, and in a
base chain (or with an empty stack) applies the base chain's policy. Every base chain on a hook
runs in priority order: accept ends only that chain, drop/reject ends the packet.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from oracle_topology import HOST_IFACE, prefix_contains

TCP = 6
UDP = 17
# UDP-Lite (RFC 3828): ports like UDP's; iptables matches them only with -m multiport.
UDPLITE = 136
# ICMP / ICMPv6: a probe of this protocol is a ping (echo request; the kernel answers it).
ICMP = {4: 1, 6: 58}


@dataclass(frozen=True, slots=True)
class Cond:
    """One match. kind: l4proto | saddr | daddr | sport | dport | ctstate | iif | oif | syn |
    mark | ctmark | exthdr | limit (exthdr: a non-first IPv4 fragment, an IPv6 fragment header;
    negated: not one, without one). `ranges` holds protocols or ports (for mark/ctmark one (value, mask):
    `(mark & mask) == value`), `prefixes` (network, length) pairs of `family`,
    `names` conntrack states or interface names (a trailing "+" is a prefix wildcard)."""

    kind: str
    ranges: tuple[tuple[int, int], ...] = ()
    prefixes: tuple[tuple[int, int], ...] = ()
    names: tuple[str, ...] = ()
    family: int = 0
    negated: bool = False
    # nft only: render as a lookup in the table's named set of this name.
    named_set: str = ""
    # nft only: write conntrack states as an anonymous set `{ a, b }` instead of `a,b`, which
    # nft compiles to a bitmask: `ct state != a,b` is `state != (a|b)`, true for every packet
    # (a packet has exactly one state bit; `nft --debug=netlink` shows `cmp neq reg 1 0x0a`).
    braces: bool = False


@dataclass(frozen=True, slots=True)
class Action:
    """kind: accept | drop | reject | log | none | return | jump | goto | vmap | mark."""

    kind: str
    chain: str = ""
    tcp_reset: bool = False
    # vmap: the destination port decides the verdict; no element matching = the rule does not.
    vmap: tuple[tuple[tuple[int, int], Action], ...] = ()
    # nft only: render the verdict map as the table's named map of this name.
    named_map: str = ""
    # mark: a non-terminal write (what, op, value): ("mark" | "ctmark", "set" | "or", value),
    # ("ctmark", "save", 0) (ctmark := mark) or ("mark", "restore", 0) (mark := ctmark).
    mark: tuple[str, str, int] = ("mark", "set", 0)


@dataclass(frozen=True, slots=True)
class Rule:
    conds: tuple[Cond, ...]
    action: Action


@dataclass(frozen=True, slots=True)
class Chain:
    name: str
    rules: tuple[Rule, ...]
    hook: str = ""  # "input" | "output", or netdev "ingress" | "egress", for base chains
    priority: int = 0
    policy: str = "accept"
    # netdev chains: the device they are bound to.
    device: str = ""


@dataclass(frozen=True, slots=True)
class NamedSet:
    name: str
    kind: str  # "ports" | "addr4" | "addr6" | "vmap" (port ranges to `verdicts`)
    ranges: tuple[tuple[int, int], ...] = ()
    verdicts: tuple[str, ...] = ()
    prefixes: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Table:
    family: str  # "ip" | "ip6" | "inet" | "netdev"
    name: str
    chains: tuple[Chain, ...]
    sets: tuple[NamedSet, ...] = ()

    def chain(self, name: str) -> Chain:
        for chain in self.chains:
            if chain.name == name:
                return chain
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class Spec:
    dialect: str  # "iptables" | "nft"
    tables: tuple[Table, ...]

    def unknown_ids(self) -> tuple[tuple[str, str, int], ...]:
        found = []
        for table in self.tables:
            for chain in table.chains:
                for index, rule in enumerate(chain.rules):
                    if any(cond.kind == "limit" for cond in rule.conds):
                        found.append((f"{table.family}/{table.name}", chain.name, index))
        return tuple(found)

    def writes_ctmark(self) -> bool:
        return any(
            rule.action.kind == "mark" and rule.action.mark[0] == "ctmark"
            for table in self.tables
            for chain in table.chains
            for rule in chain.rules
        )


@dataclass(frozen=True, slots=True)
class Packet:
    family: int
    proto: int
    saddr: int
    daddr: int
    sport: int
    dport: int
    hook: str
    ctstate: str
    tcp_flags: frozenset[str]


@dataclass(frozen=True, slots=True)
class Prediction:
    # "accept" | "drop" when no undecidable match can change it, else "depends".
    outcome: str
    # Whether some packet of the flow reached an undecidable match (its other matches matched).
    touched: bool
    # What the kernel does: the limits the generator writes (10000/s, burst 10000) always match.
    kernel: str


def _serves(table_family: str, family: int) -> bool:
    if table_family in ("inet", "netdev"):
        return True
    return (table_family == "ip") == (family == 4)


# The probes' packets cross the host's device: inbound ones its ingress hook (before input),
# outbound ones its egress hook (after output and postrouting).
_DEVICE_HOOKS = {"ingress": "input", "egress": "output"}


def _on_hook(chain: Chain, hook: str) -> bool:
    if chain.hook in _DEVICE_HOOKS:
        return _DEVICE_HOOKS[chain.hook] == hook and chain.device in ("", HOST_IFACE)
    return chain.hook == hook


def _cond_matches(cond: Cond, packet: Packet, dialect: str, marks: dict[str, int]) -> bool:
    if cond.kind in ("mark", "ctmark"):
        ((value, mask),) = cond.ranges
        hit = marks[cond.kind] & mask == value
    elif cond.kind == "exthdr":
        if cond.family != packet.family:
            return False  # nft's `ip frag-off`/`exthdr` carry an implicit `meta nfproto`
        hit = False  # the probes are ordinary packets: no extension header, not a fragment
    elif cond.kind == "l4proto":
        hit = any(lo <= packet.proto <= hi for lo, hi in cond.ranges)
    elif cond.kind in ("saddr", "daddr"):
        if cond.family != packet.family:
            # nft `ip saddr != X` in an inet table carries an implicit `meta nfproto ipv4`.
            return False
        addr = packet.saddr if cond.kind == "saddr" else packet.daddr
        hit = any(prefix_contains(cond.family, net, ln, addr) for net, ln in cond.prefixes)
    elif cond.kind in ("sport", "dport"):
        if packet.proto not in (TCP, UDP, UDPLITE):
            return False
        port = packet.sport if cond.kind == "sport" else packet.dport
        hit = any(lo <= port <= hi for lo, hi in cond.ranges)
    elif cond.kind == "ctstate":
        if dialect == "nft" and cond.negated and len(cond.names) > 1 and not cond.braces:
            return True
        hit = packet.ctstate in cond.names
    elif cond.kind in ("iif", "oif"):
        wanted = "input" if cond.kind == "iif" else "output"
        name = HOST_IFACE if packet.hook == wanted else ""
        hit = any(
            name.startswith(pattern[:-1]) if pattern.endswith("+") else name == pattern
            for pattern in cond.names
        )
    elif cond.kind == "syn":
        if packet.proto != TCP:
            return False
        hit = packet.tcp_flags & {"FIN", "SYN", "RST", "ACK"} == {"SYN"}
    else:
        raise ValueError(f"no reference semantics for {cond.kind}")
    return hit != cond.negated


def _rule_matches(
    rule: Rule,
    packet: Packet,
    rule_id: tuple[str, str, int],
    assume: dict,
    seen: set,
    dialect: str,
    marks: dict[str, int],
) -> bool:
    decided = [cond for cond in rule.conds if cond.kind != "limit"]
    if marks.get("reply") and _reads_ctmark(rule):
        # fwcheck does not follow a connection's mark from packet to packet: a reply's ctmark
        # is any value the ruleset writes (netfilter_marks), so its answer may rightly be
        # indeterminate where a reply reaches a mark match or a restore.
        others = [cond for cond in decided if cond.kind not in ("mark", "ctmark")]
        if all(_cond_matches(cond, packet, dialect, marks) for cond in others):
            seen.add(("ctmark", "", -1))
    if not all(_cond_matches(cond, packet, dialect, marks) for cond in decided):
        return False
    if len(decided) == len(rule.conds):
        return True
    seen.add(rule_id)
    return assume[rule_id]


def _reads_ctmark(rule: Rule) -> bool:
    restores = rule.action.kind == "mark" and rule.action.mark[1] == "restore"
    return restores or any(cond.kind in ("mark", "ctmark") for cond in rule.conds)


def _write_mark(action: Action, marks: dict[str, int]) -> None:
    what, op, value = action.mark
    if op == "set":
        marks[what] = value
    elif op == "or":
        marks[what] |= value
    elif op == "save":
        marks["ctmark"] = marks["mark"]
    else:  # restore
        marks["mark"] = marks["ctmark"]


def _walk_base(
    table: Table,
    base: Chain,
    packet: Packet,
    assume: dict,
    seen: set,
    dialect: str,
    marks: dict[str, int],
) -> str:
    table_id = f"{table.family}/{table.name}"
    stack: list[tuple[Chain, int]] = []
    chain, index = base, 0
    for _ in range(100_000):  # generated chains are acyclic; this only bounds a generator bug
        if index >= len(chain.rules):
            if not stack:
                return base.policy
            chain, index = stack.pop()
            continue
        rule = chain.rules[index]
        rule_id = (table_id, chain.name, index)
        index += 1
        if not _rule_matches(rule, packet, rule_id, assume, seen, dialect, marks):
            continue
        action = rule.action
        if action.kind == "mark":
            _write_mark(action, marks)
            continue
        if action.kind == "vmap":
            chosen = [a for (lo, hi), a in action.vmap if lo <= packet.dport <= hi]
            if not chosen:
                continue
            action = chosen[0]
        if action.kind in ("accept", "drop"):
            return action.kind
        if action.kind == "reject":
            return "drop"
        if action.kind == "return":
            if not stack:
                return base.policy
            chain, index = stack.pop()
        elif action.kind == "jump":
            stack.append((chain, index))
            chain, index = table.chain(action.chain), 0
        elif action.kind == "goto":
            chain, index = table.chain(action.chain), 0
    raise RuntimeError("reference walk did not terminate")


def packet_verdict(
    spec: Spec, packet: Packet, assume: dict, seen: set, ct: dict[str, int] | None = None
) -> str:
    """`ct` holds the connection's mark ("ctmark"), carried from packet to packet of a flow; a
    packet's own mark starts at 0 (a new skb)."""
    marks = {"mark": 0, "ctmark": 0 if ct is None else ct["ctmark"]}
    if ct is not None and packet.ctstate != "NEW":
        marks["reply"] = 1
    verdict = _packet_verdict(spec, packet, assume, seen, marks)
    if ct is not None:
        ct["ctmark"] = marks["ctmark"]
    return verdict


def _packet_verdict(
    spec: Spec, packet: Packet, assume: dict, seen: set, marks: dict[str, int]
) -> str:
    bases = [
        (chain.priority, order, table, chain)
        for order, table in enumerate(spec.tables)
        if _serves(table.family, packet.family)
        for chain in table.chains
        if _on_hook(chain, packet.hook)
    ]

    # Ingress runs before input, egress after output, whatever the priorities (marks carry).
    def stage(chain: Chain) -> int:
        return int(chain.hook == "egress") - int(chain.hook == "ingress")

    ordered = sorted(bases, key=lambda item: (stage(item[3]), item[0], item[1]))
    for _, _, table, chain in ordered:
        if _walk_base(table, chain, packet, assume, seen, spec.dialect, marks) == "drop":
            return "drop"
    return "accept"


def flow_packets(
    family: int, proto: int, src: int, dst: int, sport: int, dport: int, direction: str
) -> tuple[Packet, ...]:
    """The packets that must all pass for the flow to be seen: a UDP (UDP-Lite) datagram, the TCP
    handshake (SYN, SYN-ACK, ACK) or a ping (echo request, echo reply) as the host's hooks see
    them (conntrack tracks the echo: its reply is ESTABLISHED)."""
    there, back = ("input", "output") if direction == "inbound" else ("output", "input")
    if proto == ICMP[family]:
        request = Packet(family, proto, src, dst, sport, dport, there, "NEW", frozenset())
        reply = Packet(family, proto, dst, src, dport, sport, back, "ESTABLISHED", frozenset())
        return request, reply
    first = Packet(family, proto, src, dst, sport, dport, there, "NEW", frozenset({"SYN"}))
    if proto in (UDP, UDPLITE):
        return (first,)
    reply = Packet(
        family, proto, dst, src, dport, sport, back, "ESTABLISHED", frozenset({"SYN", "ACK"})
    )
    ack = Packet(family, proto, src, dst, sport, dport, there, "ESTABLISHED", frozenset({"ACK"}))
    return first, reply, ack


def predict(spec: Spec, packets: tuple[Packet, ...]) -> Prediction:
    unknowns = spec.unknown_ids()
    if spec.writes_ctmark():
        # The connection's mark runs from packet to packet: walked in order, which the generator
        # keeps decidable (no undecidable match beside a ctmark write).
        assert not unknowns, "a ctmark write beside an undecidable match"
        ct = {"ctmark": 0}
        kernel = "accept"
        seen: set = set()
        for packet in packets:
            if packet_verdict(spec, packet, {}, seen, ct) == "drop":
                kernel = "drop"
                break
        return Prediction(kernel, bool(seen), kernel)
    touched = False
    surely_dropped = False
    surely_passed = True
    kernel = "accept"
    for packet in packets:
        verdicts = set()
        for values in itertools.product((True, False), repeat=len(unknowns)):
            seen: set = set()
            verdict = packet_verdict(spec, packet, dict(zip(unknowns, values, strict=True)), seen)
            verdicts.add(verdict)
            touched = touched or bool(seen)
            if all(values) and verdict == "drop":
                kernel = "drop"
        if verdicts == {"drop"}:
            surely_dropped = True
        if verdicts != {"accept"}:
            surely_passed = False
    if surely_dropped:
        outcome = "drop"
    elif surely_passed:
        outcome = "accept"
    else:
        outcome = "depends"
    return Prediction(outcome, touched, kernel)
