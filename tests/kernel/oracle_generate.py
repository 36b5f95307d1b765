"""Random rulesets and probes for the kernel oracle, reproducible from a seed string.

Rules draw their ports and prefixes from the same small pools the probes use, so most rules
touch some probe. iptables rulesets get a filter table (and sometimes a mangle table: a second
base chain on the hook at priority -150) per family; nft rulesets get one to three ip/ip6/inet
tables with several base chains per hook at distinct priorities, named sets and verdict maps,
and sometimes a netdev table with ingress/egress chains on the host's device.
A few rulesets carry an undecidable match (`-m limit` / nft `limit`) on purpose.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from oracle_ruleset import (
    ICMP,
    TCP,
    UDP,
    UDPLITE,
    Action,
    Chain,
    Cond,
    NamedSet,
    Packet,
    Rule,
    Spec,
    Table,
    flow_packets,
)
from oracle_topology import (
    HOST_IFACE,
    SERVICE_PORTS,
    V4_NET,
    V4_WIDE,
    host_addresses,
    peer_addresses,
    prefix,
)

# Port items a rule may list: services, ranges over them, and client-port bands (the replies of
# outbound flows carry the host's client port as destination port).
SERVICE_ITEMS = (
    (22, 22),
    (25, 25),
    (53, 53),
    (80, 80),
    (443, 443),
    (1000, 1002),
    (1001, 1001),
    (3306, 3306),
    (3000, 3999),
    (5432, 5432),
    (5000, 9000),
    (8080, 8080),
    (8443, 8443),
    (20, 25),
)
CLIENT_ITEMS = (
    (20000, 29999),
    (40000, 40100),
    (33333, 33333),
    (1024, 65535),
    (30000, 65535),
    (67, 68),
    (0, 1023),
)
# Client ports the probes bind: inside and outside the bands above, privileged ones included (a
# deny must hold for them: docs/policy-format.md "Source ports").
CLIENT_BANDS = (
    (20000, 29999),
    (40000, 40100),
    (33333, 33333),
    (50000, 60000),
    (1024, 19999),
    (67, 68),
    (1, 1023),
)

# (IPv4 network, length) as offsets in the plan of oracle_topology.
PEER_SIDE = ((0, 25), (128, 25), (64, 26), (2, 32), (66, 32), (200, 32), (192, 27), (0, 24))
HOST_SIDE = ((1, 32), (129, 32), (0, 25), (128, 25), (0, 24))
FOREIGN = ((int.from_bytes(bytes((203, 0, 113, 0)), "big"), 24), (V4_WIDE, 16))

STATES = (("NEW",), ("ESTABLISHED", "RELATED"), ("ESTABLISHED",), ("NEW", "ESTABLISHED"))


@dataclass(frozen=True, slots=True)
class Probe:
    family: int
    proto: int
    src: str
    dst: str
    sport: int
    dport: int
    direction: str  # "inbound" (peer -> host) | "outbound" (host -> peer)
    # A ping (proto ICMP[family]) uses `sport` as its echo identifier and has no ports.

    def label(self) -> str:
        if self.proto == ICMP[self.family]:
            return f"{self.direction} ping {self.src} -> {self.dst} (echo id {self.sport})"
        name = {TCP: "tcp", UDP: "udp", UDPLITE: "udplite"}[self.proto]
        return f"{self.direction} {name} {self.src}:{self.sport} -> {self.dst}:{self.dport}"

    def packets(self) -> tuple[Packet, ...]:
        """The packets of this probe's connection, as the reference walk (predict) takes them."""
        src, dst = int(ipaddress.ip_address(self.src)), int(ipaddress.ip_address(self.dst))
        return flow_packets(
            self.family, self.proto, src, dst, self.sport, self.dport, self.direction
        )  # fmt: skip


class _Builder:
    """State of one ruleset being generated (sets collected per table, the unknown quota)."""

    def __init__(self, rng: random.Random, dialect: str, unknowns: int) -> None:
        self.rng = rng
        self.dialect = dialect
        self.unknowns_left = unknowns
        # Marks in some rulesets; connection marks only where nothing is undecidable (the
        # reference walk carries the ctmark from packet to packet of one decided flow).
        self.marks = rng.random() < 0.4
        self.ctmarks = self.marks and not unknowns and rng.random() < 0.6
        self.sets: list[NamedSet] = []

    def pick_ports(self, hook: str, field: str) -> tuple[tuple[int, int], ...]:
        rng = self.rng
        # The service side of a flow is dport on the way in and sport on the way back.
        service_side = (hook == "input") == (field == "dport")
        pool = SERVICE_ITEMS if service_side or rng.random() < 0.3 else CLIENT_ITEMS
        chosen: list[tuple[int, int]] = []
        for item in rng.sample(pool, k=min(len(pool), rng.choice((1, 1, 2, 3, 4)))):
            if all(item[1] < lo or item[0] > hi for lo, hi in chosen):
                chosen.append(item)
        return tuple(sorted(chosen))

    def pick_prefixes(self, family: int, side: str, many: bool) -> tuple[tuple[int, int], ...]:
        rng = self.rng
        pool = PEER_SIDE if side == "peer" else HOST_SIDE
        pool = tuple((V4_NET + net, ln) for net, ln in pool) + FOREIGN
        count = rng.choice((1, 2)) if many else 1
        chosen: list[tuple[int, int]] = []
        for net, ln in rng.sample(pool, k=count):
            lo, hi = net, net + (1 << (32 - ln)) - 1
            if all(hi < a or lo > b for a, b in ((n, n + (1 << (32 - m)) - 1) for n, m in chosen)):
                chosen.append((net, ln))
        return tuple(prefix(family, net, ln) for net, ln in sorted(chosen))

    def maybe_named(self, cond: Cond, table_prefix: str) -> Cond:
        if self.dialect != "nft" or self.rng.random() > 0.3:
            return cond
        name = f"{table_prefix}s{len(self.sets)}"
        if cond.kind in ("sport", "dport"):
            self.sets.append(NamedSet(name, "ports", ranges=cond.ranges))
        else:
            kind = "addr4" if cond.family == 4 else "addr6"
            self.sets.append(NamedSet(name, kind, prefixes=cond.prefixes))
        return Cond(
            cond.kind, cond.ranges, cond.prefixes, cond.names, cond.family, cond.negated, name
        )

    def conds(
        self, hook: str, families: tuple[int, ...], table_prefix: str, stateless: bool = False
    ) -> list[Cond]:
        rng = self.rng
        nft = self.dialect == "nft"
        out: list[Cond] = []
        protos: tuple[int, ...] = ()
        roll = rng.random()
        if roll < 0.05:
            out.append(Cond("l4proto", ranges=((TCP, TCP),), negated=True))
        elif roll < 0.8:
            protos = (TCP, UDP) if nft and rng.random() < 0.15 else (rng.choice((TCP, UDP)),)
            out.append(Cond("l4proto", ranges=tuple((p, p) for p in protos)))
        if protos:
            for field, chance in (("dport", 0.65), ("sport", 0.25)):
                if rng.random() < chance:
                    cond = Cond(
                        field, ranges=self.pick_ports(hook, field), negated=rng.random() < 0.2
                    )
                    out.append(self.maybe_named(cond, table_prefix))
            if protos == (TCP,) and rng.random() < 0.1:
                out.append(Cond("syn"))
        family = rng.choice(families)  # one rule cannot match both `ip` and `ip6` headers
        for field, chance in (("saddr", 0.3), ("daddr", 0.15)):
            if rng.random() < chance:
                side = "peer" if (field == "saddr") == (hook == "input") else "host"
                cond = Cond(
                    field,
                    prefixes=self.pick_prefixes(family, side, many=nft),
                    family=family,
                    negated=rng.random() < 0.3,
                )
                if len(cond.prefixes) > 1 and not nft:
                    continue
                out.append(self.maybe_named(cond, table_prefix))
        if not stateless and rng.random() < 0.3:
            braces = nft and rng.random() < 0.5
            negated = rng.random() < 0.25
            out.append(Cond("ctstate", names=rng.choice(STATES), negated=negated, braces=braces))
        if rng.random() < 0.12:
            names = rng.choice(("fwc0", "fwc+", "lo", "eth+"))
            kind = "iif" if hook == "input" else "oif"
            out.append(Cond(kind, names=(names,), negated=rng.random() < 0.3))
        if not stateless and rng.random() < 0.06:
            out.append(Cond("exthdr", family=family, negated=rng.random() < 0.5))
        if self.marks and rng.random() < 0.2:
            # Packet marks also in netdev chains: one set at ingress is still there at input.
            kind = "ctmark" if self.ctmarks and not stateless and rng.random() < 0.4 else "mark"
            value, mask = rng.choice(((1, 1), (0, 1), (2, 2), (0, 2), (3, 3), (1, 0xFFFFFFFF)))
            out.append(Cond(kind, ranges=((value, mask),), negated=rng.random() < 0.3))
        if self.unknowns_left and rng.random() < 0.25:
            self.unknowns_left -= 1
            if rng.random() < 0.6:  # broad, so that many probes hinge on it
                out = [cond for cond in out if cond.kind in ("l4proto", "dport")]
            out.append(Cond("limit"))
        return out

    def action(
        self,
        conds: list[Cond],
        callees: tuple[str, ...],
        user: bool,
        rejects: bool,
        table_prefix: str,
        stateless: bool = False,
    ) -> Action:
        rng = self.rng
        choices = ["accept"] * 30 + ["drop"] * 20 + ["log"] * 6 + ["none"] * 4
        choices += ["return"] * (10 if user else 3)
        if rejects:
            choices += ["reject"] * 12
        if callees:
            choices += ["jump"] * 14 + ["goto"] * 7
        protos = [c for c in conds if c.kind == "l4proto" and not c.negated]
        if self.dialect == "nft" and protos and not any(c.kind == "dport" for c in conds):
            choices += ["vmap"] * 8
        if self.marks:
            choices += ["mark"] * 12
        kind = rng.choice(choices)
        is_tcp = bool(protos) and protos[0].ranges == ((TCP, TCP),)
        if kind == "reject":
            return Action("reject", tcp_reset=is_tcp and rng.random() < 0.5)
        if kind == "mark":
            writes = [("mark", "set", v) for v in (1, 2, 3, 0)] + [("mark", "or", 2)]
            if self.ctmarks and not stateless:
                writes += [("ctmark", "set", 1), ("ctmark", "or", 2), ("ctmark", "save", 0)]
                writes += [("mark", "restore", 0)] * 2
            return Action("mark", mark=rng.choice(writes))
        if kind in ("jump", "goto"):
            return Action(kind, chain=rng.choice(callees))
        if kind == "vmap":
            items = self.pick_ports("input", "dport") or ((22, 22),)
            verdicts = ["accept", "drop", "return"] + (["jump", "goto"] if callees else [])
            elements = []
            for item in items:
                verdict = rng.choice(verdicts)
                chain = rng.choice(callees) if verdict in ("jump", "goto") else ""
                elements.append((item, Action(verdict, chain=chain)))
            if all(not a.chain for _, a in elements) and rng.random() < 0.4:
                # A named map is declared before the chains, so it holds no jumps.
                name = f"{table_prefix}m{len(self.sets)}"
                verdicts = tuple(a.kind for _, a in elements)
                self.sets.append(NamedSet(name, "vmap", ranges=items, verdicts=verdicts))
                return Action("vmap", vmap=tuple(elements), named_map=name)
            return Action("vmap", vmap=tuple(elements))
        return Action(kind)

    def rules(
        self,
        hook: str,
        families: tuple[int, ...],
        callees: tuple[str, ...],
        count: int,
        *,
        user: bool,
        rejects: bool = True,
        table_prefix: str = "",
        stateless: bool = False,
    ) -> list[Rule]:
        out = []
        for _ in range(count):
            conds = self.conds(hook, families, table_prefix, stateless)
            action = self.action(conds, callees, user, rejects, table_prefix, stateless)
            out.append(Rule(tuple(conds), action))
        return out


ESTABLISHED = Rule((Cond("ctstate", names=("ESTABLISHED", "RELATED")),), Action("accept"))


def _policy_and_head(rng: random.Random, hook: str) -> tuple[str, list[Rule]]:
    """Input: default-deny with or without an ESTABLISHED rule; output: mostly accept, sometimes
    strict (policy drop) with or without the ESTABLISHED rule that lets replies out."""
    if hook == "input":
        policy = rng.choice(("accept", "drop", "drop"))
        with_established = policy == "drop" and rng.random() < 0.75
    else:
        policy = rng.choice(("accept", "accept", "drop"))
        with_established = policy == "drop" and rng.random() < 0.6
    return policy, [ESTABLISHED] if with_established else []


def _user_chains(
    builder: _Builder,
    hook: str,
    families: tuple[int, ...],
    names: tuple[str, ...],
    table_prefix: str = "",
) -> list[Chain]:
    chains = []
    for index, name in enumerate(names):
        callees = names[index + 1 :]  # jumps only go forward: no loops (the kernel rejects them)
        count = builder.rng.randint(1, 5)
        rules = builder.rules(hook, families, callees, count, user=True, table_prefix=table_prefix)
        chains.append(Chain(name, tuple(rules)))
    return chains


def _iptables_table(builder: _Builder, family: int) -> list[Table]:
    rng = builder.rng
    tfam = "ip" if family == 4 else "ip6"
    chains: list[Chain] = []
    for hook, base, prefix_ in (("input", "INPUT", "IN"), ("output", "OUTPUT", "OUT")):
        names = tuple(f"{prefix_}_{chr(65 + i)}" for i in range(rng.randint(0, 3)))
        policy, head = _policy_and_head(rng, hook)
        count = rng.randint(2, 8)
        body = builder.rules(hook, (family,), names, count, user=False)
        chains.append(Chain(base, tuple(head + body), hook, 0, policy))
        chains.extend(_user_chains(builder, hook, (family,), names))
    tables = [Table(tfam, "filter", tuple(chains))]
    if rng.random() < 0.3:
        mangle = []
        for hook, base in (("input", "INPUT"), ("output", "OUTPUT")):
            count = rng.randint(0, 3)
            # REJECT is only valid in the filter table's INPUT, FORWARD and OUTPUT chains.
            rules = builder.rules(hook, (family,), (), count, user=False, rejects=False)
            mangle.append(Chain(base, tuple(rules), hook, -150, "accept"))
        tables.insert(0, Table(tfam, "mangle", tuple(mangle)))
    return tables


def _nft_tables(builder: _Builder) -> list[Table]:
    rng = builder.rng
    tables = []
    priorities = {"input": [-150, -50, -10, 0, 10, 50, 100], "output": [-150, -10, 0, 10, 100]}
    for hook_list in priorities.values():
        rng.shuffle(hook_list)
    for index in range(rng.randint(1, 3)):
        tfam = rng.choice(("ip", "ip6", "inet", "inet"))
        families = {"ip": (4,), "ip6": (6,), "inet": (4, 6)}[tfam]
        tname = f"t{index}"
        builder.sets = []
        chains: list[Chain] = []
        for hook, count in (("input", rng.choice((1, 1, 2))), ("output", rng.choice((0, 1, 1)))):
            for _ in range(count):
                prio = priorities[hook].pop()
                short = "in" if hook == "input" else "out"
                sign = "m" if prio < 0 else "p"
                names = tuple(f"{short}{sign}{abs(prio)}_{k}" for k in range(rng.randint(0, 2)))
                policy, head = _policy_and_head(rng, hook)
                rules = builder.rules(
                    hook, families, names, rng.randint(2, 7), user=False, table_prefix=tname
                )
                base = Chain(
                    f"{short}_{'m' if prio < 0 else 'p'}{abs(prio)}", (), hook, prio, policy
                )
                chains.append(Chain(base.name, tuple(head + rules), hook, prio, policy))
                chains.extend(_user_chains(builder, hook, families, names, table_prefix=tname))
        tables.append(Table(tfam, tname, tuple(chains), tuple(builder.sets)))
    if rng.random() < 0.35:
        tables.append(_netdev_table(builder))
    return tables


def _netdev_table(builder: _Builder) -> Table:
    """Ingress and/or egress chains on the host's device or on lo. The kernel refuses `ct` in
    the netdev family (conntrack has not run at ingress), so their rules are stateless."""
    rng = builder.rng
    builder.sets = []
    chains = []
    for device_hook, hook in rng.choice(
        (
            (("ingress", "input"),),
            (("egress", "output"),),
            (("ingress", "input"), ("egress", "output")),
        )
    ):
        # The kernel rejects only at ingress in the netdev family (nft_reject_netdev).
        rules = builder.rules(
            hook,
            (4, 6),
            (),
            rng.randint(1, 4),
            user=False,
            rejects=device_hook == "ingress",
            table_prefix="nd",
            stateless=True,
        )
        policy = "accept" if rng.random() < 0.85 else "drop"
        prio = rng.choice((-100, 0, 100))
        # Sometimes on another device (lo): the chain must then touch no probe at all.
        device = rng.choice((HOST_IFACE, HOST_IFACE, "lo"))
        chains.append(Chain(device_hook[:3], tuple(rules), device_hook, prio, policy, device))
    return Table("netdev", "edge", tuple(chains), tuple(builder.sets))


def generate(seed: str, dialect: str) -> Spec:
    rng = random.Random(f"ruleset:{seed}")
    unknowns = rng.choice((0, 0, 1, 2))
    builder = _Builder(rng, dialect, unknowns)
    if dialect == "iptables":
        tables = _iptables_table(builder, 4) + _iptables_table(builder, 6)
    else:
        tables = _nft_tables(builder)
    return Spec(dialect, tuple(tables))


def probes(seed: str, count: int) -> tuple[Probe, ...]:
    """`count` distinct probes; no two share a (family, proto, source address, source port), so
    every connection has its own tuple and a listener's record names exactly one probe."""
    rng = random.Random(f"probes:{seed}")
    out: list[Probe] = []
    used: set[tuple[int, int, str, int]] = set()
    while len(out) < count:
        family = rng.choice((4, 6))
        # No UDP-Lite here: its conntrack state is kernel-dependent (test_udplite_ports).
        proto = rng.choice((TCP, TCP, UDP, UDP, ICMP[family]))
        direction = rng.choice(("inbound", "inbound", "inbound", "outbound", "outbound"))
        if direction == "inbound":
            src = rng.choice(peer_addresses(family))
            dst = rng.choice(host_addresses(family))
        else:
            src = rng.choice(host_addresses(family))
            dst = rng.choice(peer_addresses(family))
        lo, hi = rng.choice(CLIENT_BANDS)
        sport = rng.randint(lo, hi)
        # A source port a listener holds (both namespaces listen on every service port)
        # cannot be bound.
        if (family, proto, src, sport) in used or sport in SERVICE_PORTS:
            continue
        used.add((family, proto, src, sport))
        dport = 0 if proto == ICMP[family] else rng.choice(SERVICE_PORTS)
        out.append(Probe(family, proto, src, dst, sport, dport, direction))
    return tuple(out)
