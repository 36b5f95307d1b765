"""Render an oracle `Spec` as iptables-restore input (one text per family) or an `nft -f` script.

Syntax: iptables(8), iptables-extensions(8) (multiport, conntrack, state, limit, LOG, REJECT),
nft(8) (sets, maps, verdict maps, `th`, `ct state`, `limit`, `reject with tcp reset`).
"""

from __future__ import annotations

from oracle_ruleset import ICMP, TCP, UDP, UDPLITE, Action, Chain, Cond, NamedSet, Rule, Spec, Table
from oracle_topology import prefix_text

LIMIT_IPT = "-m limit --limit 10000/sec --limit-burst 10000"
LIMIT_NFT = "limit rate 10000/second burst 10000 packets"


def _ipt_ports(ranges: tuple[tuple[int, int], ...]) -> str:
    return ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in ranges)


def _ipt_rule(chain: str, rule: Rule, family: int) -> str:
    parts = ["-A", chain]
    by_kind = {cond.kind: cond for cond in rule.conds}
    for kind, flag in (("saddr", "-s"), ("daddr", "-d")):
        cond = by_kind.get(kind)
        if cond:
            bang = "! " if cond.negated else ""
            parts.append(f"{bang}{flag} {prefix_text(family, *cond.prefixes[0])}")
    for kind, flag in (("iif", "-i"), ("oif", "-o")):
        cond = by_kind.get(kind)
        if cond:
            bang = "! " if cond.negated else ""
            parts.append(f"{bang}{flag} {cond.names[0]}")
    proto = by_kind.get("l4proto")
    if proto:
        name = {TCP: "tcp", UDP: "udp", UDPLITE: "udplite", ICMP[4]: "icmp", ICMP[6]: "ipv6-icmp"}[
            proto.ranges[0][0]
        ]
        parts.append(f"{'! ' if proto.negated else ''}-p {name}")
        for kind in ("sport", "dport"):
            cond = by_kind.get(kind)
            if not cond:
                continue
            bang = "! " if cond.negated else ""
            # iptables has no udplite module (`-p udplite --dport` is refused); multiport has it.
            if len(cond.ranges) == 1 and name != "udplite":
                parts.append(f"-m {name} {bang}--{kind} {_ipt_ports(cond.ranges)}")
            else:
                parts.append(f"-m multiport {bang}--{kind}s {_ipt_ports(cond.ranges)}")
        if "syn" in by_kind:
            parts.append("--syn")
    state = by_kind.get("ctstate")
    if state:
        bang = "! " if state.negated else ""
        # Both spellings reach the same conntrack lookup; iptables-save keeps each as written.
        if len(state.names) == 1:
            parts.append(f"-m state {bang}--state {state.names[0]}")
        else:
            parts.append(f"-m conntrack {bang}--ctstate {','.join(state.names)}")
    frag = by_kind.get("exthdr")
    if frag:
        bang = "! " if frag.negated else ""
        parts.append(f"{bang}-f" if family == 4 else f"-m ipv6header {bang}--header frag --soft")
    for kind, module in (("mark", "mark"), ("ctmark", "connmark")):
        cond = by_kind.get(kind)
        if cond:
            bang = "! " if cond.negated else ""
            ((value, mask),) = cond.ranges
            parts.append(f"-m {module} {bang}--mark {value:#x}/{mask:#x}")
    if "limit" in by_kind:
        parts.append(LIMIT_IPT)
    parts.extend(_ipt_target(rule.action, family))
    return " ".join(parts)


def _ipt_target(action: Action, family: int) -> list[str]:
    if action.kind == "none":
        return []
    if action.kind == "mark":
        what, op, value = action.mark
        if op in ("save", "restore"):
            return [f"-j CONNMARK --{op}-mark"]
        return [f"-j {'MARK' if what == 'mark' else 'CONNMARK'} --{op}-mark {value:#x}"]
    if action.kind == "log":
        return ["-j LOG --log-prefix", '"fwc "']
    if action.kind == "reject":
        if action.tcp_reset:
            return ["-j REJECT --reject-with tcp-reset"]
        return ["-j REJECT"]
    if action.kind in ("jump", "goto"):
        return [f"-{action.kind[0]} {action.chain}"]
    return [f"-j {action.kind.upper()}"]


def iptables_text(spec: Spec, family: int) -> str:
    """iptables-restore input for `family` (4: the "ip" tables, 6: the "ip6" ones)."""
    lines = []
    wanted = "ip" if family == 4 else "ip6"
    for table in spec.tables:
        if table.family != wanted:
            continue
        lines.append(f"*{table.name}")
        for chain in table.chains:
            policy = chain.policy.upper() if chain.hook else "-"
            lines.append(f":{chain.name} {policy} [0:0]")
        for chain in table.chains:
            lines.extend(_ipt_rule(chain.name, rule, family) for rule in chain.rules)
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _nft_values(cond: Cond) -> str:
    if cond.named_set:
        return f"@{cond.named_set}"
    if cond.kind in ("saddr", "daddr"):
        items = [prefix_text(cond.family, net, ln) for net, ln in cond.prefixes]
    else:
        items = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in cond.ranges]
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _nft_cond(cond: Cond, l4: str) -> str:
    op = "!= " if cond.negated else ""
    if cond.kind == "l4proto":
        names = [
            {TCP: "tcp", UDP: "udp", UDPLITE: "udplite", ICMP[4]: "icmp", ICMP[6]: "icmpv6"}[lo]
            for lo, _ in cond.ranges
        ]
        value = names[0] if len(names) == 1 else "{ " + ", ".join(names) + " }"
        return f"meta l4proto {op}{value}"
    if cond.kind in ("sport", "dport"):
        return f"{l4} {cond.kind} {op}{_nft_values(cond)}"
    if cond.kind in ("saddr", "daddr"):
        proto = "ip" if cond.family == 4 else "ip6"
        return f"{proto} {cond.kind} {op}{_nft_values(cond)}"
    if cond.kind == "ctstate":
        names = [name.lower() for name in cond.names]
        if cond.braces:
            return f"ct state {op}{{ {', '.join(names)} }}"
        return f"ct state {op}{','.join(names)}"
    if cond.kind in ("iif", "oif"):
        name = cond.names[0]
        name = name[:-1] + "*" if name.endswith("+") else name
        return f'{cond.kind}name {op}"{name}"'
    if cond.kind == "syn":
        return "tcp flags & (fin | syn | rst | ack) == syn"
    if cond.kind == "exthdr" and cond.family == 4:
        return f"ip frag-off & 0x1fff {'==' if cond.negated else '!='} 0"
    if cond.kind == "exthdr":
        return f"exthdr frag {'missing' if cond.negated else 'exists'}"
    if cond.kind in ("mark", "ctmark"):
        ((value, mask),) = cond.ranges
        key = "meta mark" if cond.kind == "mark" else "ct mark"
        return f"{key} & {mask:#x} {'!=' if cond.negated else '=='} {value:#x}"
    if cond.kind == "limit":
        return LIMIT_NFT
    raise ValueError(cond.kind)


def _nft_verdict(action: Action) -> str:
    if action.kind in ("jump", "goto"):
        return f"{action.kind} {action.chain}"
    if action.kind == "reject":
        return "reject with tcp reset" if action.tcp_reset else "reject"
    if action.kind == "log":
        return 'log prefix "fwc "'
    if action.kind == "none":
        return "counter"
    if action.kind == "mark":
        what, op, value = action.mark
        if op == "save":
            return "ct mark set meta mark"
        if op == "restore":
            return "meta mark set ct mark"
        key = "meta mark" if what == "mark" else "ct mark"
        return f"{key} set {value:#x}" if op == "set" else f"{key} set {key} | {value:#x}"
    return action.kind


def _nft_rule(rule: Rule) -> str:
    protos = [c for c in rule.conds if c.kind == "l4proto" and not c.negated]
    l4 = "th"
    if protos and len(protos[0].ranges) == 1 and protos[0].ranges[0][0] in (TCP, UDP, UDPLITE):
        l4 = {TCP: "tcp", UDP: "udp", UDPLITE: "udplite"}[protos[0].ranges[0][0]]
    parts = [_nft_cond(cond, l4) for cond in rule.conds]
    action = rule.action
    if action.kind == "vmap" and action.named_map:
        parts.append(f"{l4} dport vmap @{action.named_map}")
    elif action.kind == "vmap":
        elements = ", ".join(
            f"{lo if lo == hi else f'{lo}-{hi}'} : {_nft_verdict(a)}" for (lo, hi), a in action.vmap
        )
        parts.append(f"{l4} dport vmap {{ {elements} }}")
    else:
        parts.append(_nft_verdict(action))
    return " ".join(parts)


def _nft_set(named: NamedSet) -> str:
    if named.kind == "vmap":
        elements = ", ".join(
            f"{lo if lo == hi else f'{lo}-{hi}'} : {verdict}"
            for (lo, hi), verdict in zip(named.ranges, named.verdicts, strict=True)
        )
        return (
            f"\tmap {named.name} {{\n\t\ttype inet_service : verdict\n\t\tflags interval\n"
            f"\t\telements = {{ {elements} }}\n\t}}"
        )
    kind = {"ports": "inet_service", "addr4": "ipv4_addr", "addr6": "ipv6_addr"}[named.kind]
    if named.kind == "ports":
        items = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in named.ranges]
    else:
        family = 4 if named.kind == "addr4" else 6
        items = [prefix_text(family, net, ln) for net, ln in named.prefixes]
    return (
        f"\tset {named.name} {{\n\t\ttype {kind}\n\t\tflags interval\n"
        f"\t\telements = {{ {', '.join(items)} }}\n\t}}"
    )


def _nft_chain(chain: Chain) -> str:
    lines = [f"\tchain {chain.name} {{"]
    if chain.hook:
        device = f' device "{chain.device}"' if chain.device else ""
        lines.append(
            f"\t\ttype filter hook {chain.hook}{device} priority {chain.priority};"
            f" policy {chain.policy};"
        )
    lines.extend(f"\t\t{_nft_rule(rule)}" for rule in chain.rules)
    lines.append("\t}")
    return "\n".join(lines)


def _nft_table(table: Table) -> str:
    lines = [f"table {table.family} {table.name} {{"]
    lines.extend(_nft_set(named) for named in table.sets)
    # Jump targets first: a rule may only name a chain that already exists.
    users = [chain for chain in table.chains if not chain.hook]
    lines.extend(_nft_chain(chain) for chain in reversed(users))
    lines.extend(_nft_chain(chain) for chain in table.chains if chain.hook)
    lines.append("}")
    return "\n".join(lines)


def nft_text(spec: Spec) -> str:
    return "\n".join(_nft_table(table) for table in spec.tables) + "\n"
