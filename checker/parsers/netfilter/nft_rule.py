"""One `{"rule": {...}}` object as model rules: one rule, or one per verdict-map element.

Statements (libnftables-json(5) "STATEMENTS"), walked in order:
- `match` narrows the rule (nft_match); so do `limit`, `quota`, `ct count` and `meter`, which
  match until a rate or count is exceeded: they become `Unknown`.
- Verdicts accept/drop/reject/return/jump/goto/continue end the rule; `queue` hands the packet to
  userspace: target UNKNOWN. dnat/redirect are DNAT (with where they send the flow when the
  statement says it plainly: nft_rewrite.nat_to), snat/masquerade SNAT.
- `vmap` is a lookup whose result is the verdict: it expands into one rule per element, each
  matching its key. Keys of an nft map are disjoint (the kernel rejects overlapping interval
  elements), so the expanded rules' order does not matter and the expansion is exact.
- counter, log, `meta/ct … set`, `add @set`, dup, ct helper/timeout/expectation, secmark, flow
  offload and `last` only have side effects the engine does not read: target CONTINUE.
- `fwd to DEVICE` (netdev ingress/egress) sends the packet out of DEVICE and steals it from this
  path (kernel nft_fwd_netdev: NF_STOLEN): target FWD; header rewrites before it only change the
  stolen packet. To an ifb device it may come back (ifb re-injects): target UNKNOWN.
- notrack (later chains see ct state untracked instead of new), header rewrites (`ip daddr set`),
  tproxy, synproxy and `xt` targets change what later rules or hooks see, or steal the
  packet: target UNKNOWN with the reason, whatever verdict follows. Except the `xt` target
  REJECT (iptables-nft's compat REJECT): a reject, whatever its options.
- A nat statement naming a family (`dnat ip to …` in an inet table) acts on that family only:
  the rule carries that family (nft_nat_inet_eval; checked in tests/kernel).
- `xt` matches (iptables-nft compat blobs, unreadable in JSON) are `Unknown`.
Any other statement kind is a ParseError: it might end the rule in a way we cannot tell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from checker.errors import Location
from checker.model.netfilter import MarkOp, Match, Ranges, Rule, Target, Unknown, Verdict
from checker.parsers.netfilter import nft_marks, nft_match, nft_render, nft_rewrite
from checker.parsers.netfilter.nft_match import NamedSet, RuleMatches
from checker.parsers.netfilter.nft_values import BadInput

_VERDICTS = {
    "accept": Verdict.ACCEPT, "drop": Verdict.DROP, "continue": Verdict.CONTINUE,
    "return": Verdict.RETURN, "jump": Verdict.JUMP, "goto": Verdict.GOTO,
}  # fmt: skip
_NAT = {"dnat": Verdict.DNAT, "redirect": Verdict.DNAT, "snat": Verdict.SNAT,
        "masquerade": Verdict.SNAT}  # fmt: skip
_MATCH_LIKE = {
    "limit": "whether it matches depends on the packet rate",
    "quota": "whether it matches depends on the bytes seen so far",
    "ct count": "whether it matches depends on the number of tracked connections",
    "meter": "whether it matches depends on per-key state kept by the packet path",
}
_SIDE_EFFECTS = frozenset({
    "counter", "log", "set", "map", "dup", "ct helper", "ct timeout", "ct expectation",
    "secmark", "last", "flow", "reset",
})  # fmt: skip
_DIVERTING = {
    "notrack": "notrack: later rules see ct state untracked, not new",
    "tproxy": "tproxy: the packet goes to a local socket",
    "synproxy": "synproxy: the SYN is answered by the kernel, not passed on",
}
# Verdicts after a destination rewrite that leave the rewritten destination as it is.
_PLAIN = frozenset({*_VERDICTS.values(), Verdict.REJECT})
# Keys whose rewriting later rules cannot observe through the model's fields.
_HARMLESS_MANGLE = frozenset({"meta", "ct"})


def build(
    body: Mapping[str, object],
    family: str,
    sets: Mapping[str, NamedSet],
    chains: frozenset[str],
    origin: Location,
) -> tuple[Rule, ...]:
    exprs = body.get("expr")
    if not isinstance(exprs, list):
        raise BadInput('rule without an "expr" array')
    rule = RuleMatches(family, sets)
    texts: list[str] = []
    side_effect = ""
    diverting: list[tuple[str, str]] = []
    # `meta mark set`, `ct mark set`: the marks the rule writes (nft_marks), in order.
    mark_writes: list[MarkOp] = []
    verdict: Target | None = None
    vmap: dict[str, object] | None = None
    # Destination rewrites read (nft_rewrite), in order; None: one not read, or a match after.
    rewrites: list[tuple[tuple[int, int], ...] | None] = []
    for stmt in exprs:
        if verdict is not None and verdict.verdict is Verdict.FWD:
            break  # the packet is gone: the kernel evaluates nothing after it
        if verdict is not None or vmap is not None:
            raise BadInput("statement after the rule's verdict")
        if not isinstance(stmt, dict) or len(stmt) != 1:
            raise BadInput("statement is not an object with one key")
        ((kind, value),) = stmt.items()
        if kind == "vmap":
            if not isinstance(value, dict) or "key" not in value or "data" not in value:
                raise BadInput('vmap without "key" and "data"')
            vmap = value
            continue
        texts.append(nft_render.statement(stmt))
        if kind == "match":
            nft_match.translate(value, rule)
            if rewrites:
                rewrites.append(None)  # a match after a rewrite: it may happen without the match
        elif kind in _VERDICTS:
            verdict = verdict_target({kind: value}, chains)
        elif kind == "reject":
            verdict = Target(Verdict.REJECT, "reject", detail=texts[-1][len("reject ") :])
            # nft inserts a hidden dependency that its listing leaves out: `reject with tcp
            # reset` only applies to TCP, `with icmp …` to IPv4 and `with icmpv6 …` to IPv6
            # (checked against the kernel in tests/kernel: a UDP packet passes a tcp-reset rule).
            reject_type = value.get("type") if isinstance(value, dict) else None
            if reject_type == "tcp reset":
                rule.add(Ranges("proto", ((6, 6),)))
            elif reject_type == "icmp":
                rule.add(Ranges("family", ((4, 4),)))
            elif reject_type == "icmpv6":
                rule.add(Ranges("family", ((6, 6),)))
        elif kind in _NAT:
            _nat_lookups(value, rule)
            to = nft_rewrite.nat_to(kind, value, family)
            verdict = Target(_NAT[kind], kind, detail=texts[-1][len(kind) + 1 :], to=to)
            # `dnat ip to …` in an inet table: the kernel's nat expression acts only on
            # packets of its family (nft_nat_inet_eval); others go on to the next rule.
            nat_family = value.get("family") if isinstance(value, dict) else None
            if nat_family in ("ip", "ip6"):
                number = 4 if nat_family == "ip" else 6
                rule.add(Ranges("family", ((number, number),)))
        elif kind == "fwd":
            verdict = _fwd(value, rule, texts[-1])
        elif kind == "queue":
            verdict = Target(Verdict.UNKNOWN, "queue", detail="queue: a userspace program decides")
        elif kind in _MATCH_LIKE:
            rule.add(Unknown(f"{texts[-1]}: {_MATCH_LIKE[kind]}"))
            if rewrites:
                rewrites.append(None)
        elif kind == "xt":
            verdict = _xt(value, rule, diverting)
        elif kind == "mangle":
            key = value.get("key") if isinstance(value, dict) else None
            if not isinstance(key, dict) or len(key) != 1:
                raise BadInput('mangle without a "key" expression')
            if next(iter(key)) not in _HARMLESS_MANGLE:
                diverting.append(("mangle", f"{texts[-1]}: rewrites what later rules match"))
            payload = key.get("payload")
            if isinstance(payload, dict) and payload.get("field") == "daddr":
                rewrites.append(nft_rewrite.destination(key, value.get("value"), family))
            written = nft_marks.write(key, value.get("value"))
            if written is not None:
                mark_writes.append(written)
            side_effect = "mangle"
        elif kind in _DIVERTING:
            diverting.append((kind, _DIVERTING[kind]))
        elif kind in _SIDE_EFFECTS:
            side_effect = kind
        elif kind == "fwcheck-unread":
            # Only nft_text emits it: text it recognises but cannot translate; what the rule
            # does from there on is unknown.
            diverting.append(("unread", value if isinstance(value, str) else "not read"))
        else:
            raise BadInput(f"unknown statement {kind!r}", "unknown-statement")
    handle = body.get("handle")

    def finish(target: Target | None) -> Target:
        if target is not None and target.verdict is Verdict.FWD:
            # The packet leaves through the device: what was rewritten does not matter here.
            diverting[:] = [d for d in diverting if d[0] != "mangle"]
        if diverting:
            then = f"; then {target.name}" if target else ""
            reasons = "; ".join(reason for _, reason in diverting)
            return Target(
                Verdict.UNKNOWN, diverting[0][0], detail=reasons + then, daddr=_rewritten(target)
            )
        target = target or Target(Verdict.CONTINUE, side_effect)
        return replace(target, marks=tuple(mark_writes)) if mark_writes else target

    def _rewritten(target: Target | None) -> tuple[tuple[int, int], ...] | None:
        # Only notrack, header rewrites and a plain verdict beside it: nothing else could
        # keep the packet here (a queue may change it, a nat statement rewrites it again).
        if len(rewrites) != 1 or vmap is not None:
            return None
        if target is not None and target.verdict not in _PLAIN:
            return None
        if any(kind not in ("notrack", "mangle") for kind, _ in diverting):
            return None
        return rewrites[0]

    if vmap is None:
        text = nft_render.rule(texts, handle)
        return (Rule(tuple(rule.matches), finish(verdict), origin, text),)
    return _expand(vmap, rule, texts, handle, chains, origin, finish)


def _fwd(value: object, rule: RuleMatches, text: str) -> Target:
    """`fwd to eth1` (`{"dev": "eth1"}`), or `fwd ip to ADDR device eth1` which also names a
    family: a packet of the other family makes the kernel break the rule (nft_fwd_neigh_eval)."""
    device = value.get("dev") if isinstance(value, dict) else None
    if not isinstance(device, str):
        return Target(Verdict.UNKNOWN, "fwd", detail=f"{text}: the device is computed per packet")
    fwd_family = value.get("family") if isinstance(value, dict) else None
    if fwd_family in ("ip", "ip6"):
        number = 4 if fwd_family == "ip" else 6
        rule.add(Ranges("family", ((number, number),)))
    if device.startswith("ifb"):
        why = f"{text}: an ifb device re-injects the packet into the ingress path"
        return Target(Verdict.UNKNOWN, "fwd", detail=why)
    why = f"{text}: the packet is sent out of {device}, never delivered to this host"
    return Target(Verdict.FWD, "fwd", detail=why)


def _nat_lookups(value: object, rule: RuleMatches) -> None:
    """`dnat to tcp dport map { 1000 : 1.1.1.1 }`: a packet whose key is not in the map makes
    the lookup fail, which ends the rule without translating (nft(8) MAPS; Debian's nat.nft
    example, checked against the kernel in tests/kernel): the rule matches only the keys."""
    if not isinstance(value, dict):
        return
    for field in ("addr", "port"):
        lookup = value.get(field)
        if not isinstance(lookup, dict) or not isinstance(lookup.get("map"), dict):
            continue
        key, data = lookup["map"].get("key"), lookup["map"].get("data")
        if isinstance(data, dict) and isinstance(data.get("set"), list):
            pairs = data["set"]
            if all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
                nft_match.translate(
                    {"op": "==", "left": key, "right": {"set": [k for k, _ in pairs]}}, rule
                )


def _xt(value: object, rule: RuleMatches, diverting: list[tuple[str, str]]) -> Target | None:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise BadInput('xt without a "name"')
    kind, name = value.get("type"), value["name"]
    advice = "take this table from iptables-nft-save"
    if kind == "match":
        rule.add(Unknown(f"xt match {name}: {advice}"))
    elif kind == "target" and name in ("REJECT", "reject"):
        # iptables-nft keeps REJECT as a compat target (firewalld's direct rules, checked in
        # tests/kernel/test_firewalld_oracle.py). Its options are not in the JSON, but whatever
        # error it sends back, "otherwise it is equivalent to DROP so it is a terminating
        # TARGET" (iptables-extensions(8), REJECT); its tcp-reset needs `-p tcp` already.
        return Target(Verdict.REJECT, "reject", detail="(xt REJECT)")
    elif kind == "target":
        diverting.append(("xt", f"xt target {name}: {advice}"))
    elif kind != "watcher":  # ebtables watchers (log, nflog) only observe
        raise BadInput(f"xt type {kind!r} is not match, target or watcher")
    return None


def verdict_target(value: object, chains: frozenset[str]) -> Target:
    """A verdict object (`{"accept": null}`, `{"jump": {"target": "c"}}`) as a Target."""
    if not isinstance(value, dict) or len(value) != 1:
        raise BadInput("verdict is not an object with one key")
    ((kind, body),) = value.items()
    verdict = _VERDICTS.get(kind)
    if verdict is None:
        raise BadInput(f"{kind!r} is not a verdict")
    if verdict in (Verdict.JUMP, Verdict.GOTO):
        chain = body.get("target") if isinstance(body, dict) else None
        if not isinstance(chain, str):
            raise BadInput(f'{kind} without a "target" chain')
        if chain not in chains:
            raise BadInput(f"{kind} to unknown chain {chain!r}", "reference")
        return Target(verdict, kind, chain=chain)
    return Target(verdict, kind)


def _expand(
    vmap: dict[str, object],
    rule: RuleMatches,
    texts: list[str],
    handle: object,
    chains: frozenset[str],
    origin: Location,
    finish: Callable[[Target | None], Target],
) -> tuple[Rule, ...]:
    key_text = nft_render.expr(vmap["key"])
    side = nft_match.left(vmap["key"], rule)
    data = vmap["data"]
    if isinstance(data, str) and data.startswith("@"):
        named = rule.sets.get(data[1:])
        if named is None:
            raise BadInput(f"unknown map {data}", "reference")
        if not named.is_map or named.map_type != "verdict":
            raise BadInput(f"{data} is not a verdict map", "reference")
        elements, volatile, where = named.elements, named.volatile, f"{data} "
    elif isinstance(data, dict) and len(data) == 1 and isinstance(data.get("set"), list):
        elements, volatile, where = tuple(data["set"]), "", ""
    else:
        raise BadInput('vmap "data" is neither "@map" nor an anonymous map')
    if volatile or side.kind == "unknown":
        reason = f"{data}: {volatile}" if volatile else side.reason
        matches = (*rule.matches, *side.deps, Unknown(reason))
        text = nft_render.rule([*texts, f"{key_text} vmap {nft_render.expr(data)}"], handle)
        target = Target(Verdict.UNKNOWN, "vmap", detail=reason)
        return (Rule(tuple(dict.fromkeys(matches)), finish(target), origin, text),)
    rules: list[Rule] = []
    for element in elements:
        if not isinstance(element, list) or len(element) != 2:
            raise BadInput("verdict map element is not a [key, verdict] pair")
        key, value = nft_match.element_value(element[0]), element[1]
        target = verdict_target(value, chains)
        expanded = RuleMatches(rule.family, rule.sets, list(rule.matches))
        for dep in side.deps:
            expanded.add(dep)
        match: Match
        for match in nft_match.build(side, "==", key, expanded):
            expanded.add(match)
        shown = f"{nft_render.expr(key)} : {nft_render.expr(value)}"
        text = nft_render.rule([*texts, f"{key_text} vmap {where}{{ {shown} }}"], handle)
        rules.append(Rule(tuple(expanded.matches), finish(target), origin, text))
    return tuple(rules)
