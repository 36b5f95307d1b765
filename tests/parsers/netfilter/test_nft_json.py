"""nft_json on real `nft -j list ruleset` output: the committed fixtures of data/nft/, produced by
data/nft/generate.py from the .nft/.rules scripts beside them (test_nft_live.py checks they are
still what nft prints). Every rule of every chain is asserted exactly."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import pytest

from checker.errors import Location
from checker.model.netfilter import (
    AddrType,
    AnyOf,
    CtState,
    Hook,
    Iface,
    MarkMatch,
    MarkOp,
    Match,
    NatTo,
    Ranges,
    Rule,
    Ruleset,
    Target,
    TcpFlags,
    Unknown,
    Verdict,
)
from checker.parsers.netfilter import nft_json

DATA = Path(__file__).parent / "data" / "nft"
V4 = Ranges("family", ((4, 4),))
V6 = Ranges("family", ((6, 6),))
TCP, UDP, ICMP, ICMP6 = (Ranges("proto", ((n, n),)) for n in (6, 17, 1, 58))
SYN_MASK = frozenset({"FIN", "SYN", "RST", "ACK"})
ALL_FLAGS = frozenset({"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"})


def parse(name: str) -> Ruleset:
    return nft_json.parse((DATA / name).read_bytes(), name)


def net(text: str) -> tuple[int, int]:
    network = ipaddress.ip_network(text)
    return (int(network.network_address), int(network.broadcast_address))


def addr(field: str, *texts: str) -> Ranges:
    return Ranges(
        field, tuple(net(t) if "/" in t else (int(ipaddress.ip_address(t)),) * 2 for t in texts)
    )


def ports(field: str, *items: int | tuple[int, int]) -> Ranges:
    return Ranges(field, tuple(i if isinstance(i, tuple) else (i, i) for i in items))


def icmp_type(*types: int) -> Ranges:
    return Ranges("icmp", tuple((t * 256, t * 256 + 255) for t in types))


def icmp_code(code: int) -> Ranges:
    return Ranges("icmp", tuple((t * 256 + code,) * 2 for t in range(256)))


def go(
    verdict: Verdict, name: str | None = None, chain: str | None = None, detail: str = ""
) -> Target:
    return Target(verdict, name or verdict.value, chain, detail)


ACCEPT, DROP, RETURN = go(Verdict.ACCEPT), go(Verdict.DROP), go(Verdict.RETURN)


def rules(
    ruleset: Ruleset, family: str, table: str, chain: str
) -> list[tuple[str, tuple[Match, ...], Target]]:
    """(text without the handle, matches, target) of each rule; checks the handle suffix."""
    (found,) = [t for t in ruleset.tables if (t.family, t.name) == (family, table)]
    body = found.chain(chain)
    assert body is not None
    out = []
    for rule in body.rules:
        text, handle = rule.text.rsplit(" # handle ", 1)
        assert handle.isdigit()
        out.append((text, rule.matches, rule.target))
    return out


def test_inet_chains_and_hooks() -> None:
    ruleset = parse("inet.json")
    assert ruleset.families == frozenset({4, 6})
    assert ruleset.warnings == ()
    (table,) = ruleset.tables
    assert (table.family, table.name) == ("inet", "filter")
    summary = [(c.name, c.hook, c.priority, c.policy, c.kind) for c in table.chains]
    assert summary == [
        ("early", Hook.INPUT, -155, Verdict.ACCEPT, "filter"),  # mangle - 5
        ("input", Hook.INPUT, 10, Verdict.DROP, "filter"),  # filter + 10
        ("helper", None, 0, None, "filter"),
        ("deeper", None, 0, None, "filter"),
        ("late", Hook.INPUT, 50, Verdict.ACCEPT, "filter"),  # security
        ("out", Hook.OUTPUT, 0, Verdict.DROP, "filter"),
        ("forward0", Hook.FORWARD, 0, Verdict.DROP, "filter"),
    ]


def test_inet_early() -> None:
    assert rules(parse("inet.json"), "inet", "filter", "early") == [
        ("ip saddr @blocklist drop", (V4, Unknown("@blocklist: elements are added or expire at run time (dynamic/timeout set)")), DROP),
        ("ip6 saddr @learned drop", (V6, Unknown("@learned: rules add elements to it from the packet path")), DROP),
        ("ct state invalid drop", (CtState(frozenset({"INVALID"})),), DROP),
        ("limit rate over 100/second drop", (Unknown("limit rate over 100/second: whether it matches depends on the packet rate"),), DROP),
    ]  # fmt: skip


def test_inet_input() -> None:
    allowed4 = Ranges(
        "saddr",
        (
            net("10.0.0.0/8"),
            net("172.16.0.1/32"),
            (net("192.168.1.1/32")[0], net("192.168.1.20/32")[0]),
        ),
    )
    portmap_text = "tcp dport vmap @portmap"
    anon = "tcp dport vmap"
    assert rules(parse("inet.json"), "inet", "filter", "input") == [
        ("ct state established,related accept", (CtState(frozenset({"ESTABLISHED", "RELATED"})),), ACCEPT),
        # The kernel compares the whole state word with 0x0e: never equal, so this always drops.
        ("ct state != established | related | new drop", (CtState(frozenset(), negated=True),), DROP),
        ("meta iifname lo accept", (Iface("iif", ("lo",)),), ACCEPT),
        ("meta iifname eth* tcp dport { 22, 80-90 } accept", (Iface("iif", ("eth+",)), TCP, ports("dport", 22, (80, 90))), ACCEPT),
        ("meta iifname @uplinks udp dport 51820 accept", (Iface("iif", ("wg0", "eth0")), UDP, ports("dport", 51820)), ACCEPT),
        ("meta iifname != { br-*, veth1 } meta l4proto icmp accept", (Iface("iif", ("br-+", "veth1"), negated=True), ICMP), ACCEPT),
        ("ip saddr @allowed4 tcp dport 443 accept", (V4, allowed4, TCP, ports("dport", 443)), ACCEPT),
        ("ip6 saddr fe80::/10 udp dport 546 accept", (V6, addr("saddr", "fe80::/10"), UDP, ports("dport", 546)), ACCEPT),
        ("tcp flags & (fin|syn|rst|ack) == syn tcp dport 8080 accept", (TCP, TcpFlags(SYN_MASK, frozenset({"SYN"})), ports("dport", 8080)), ACCEPT),
        ("tcp flags syn tcp dport 8081 drop", (TCP, TcpFlags(frozenset({"SYN"}), frozenset(), negated=True), ports("dport", 8081)), DROP),
        ("tcp dport != 25 ip daddr != 10.0.0.0/8 counter drop", (TCP, ports("dport", (0, 24), (26, 65535)), V4, Ranges("daddr", ((0, net("10.0.0.0/8")[0] - 1), (net("10.0.0.0/8")[1] + 1, 2**32 - 1)))), DROP),
        ("tcp dport 3000-3005 accept", (TCP, ports("dport", (3000, 3005))), ACCEPT),
        ("meta l4proto { tcp, udp } th dport 53 accept", (Ranges("proto", ((6, 6), (17, 17))), ports("dport", 53)), ACCEPT),
        ("icmp type echo-request limit rate 5/second accept", (V4, ICMP, icmp_type(8), Unknown("limit rate 5/second: whether it matches depends on the packet rate")), ACCEPT),
        # In an inet table nft makes icmp/icmpv6 depend on the family too (meta nfproto).
        ("icmpv6 type { echo-request, nd-neighbor-solicit } accept", (V6, ICMP6, icmp_type(128, 135)), ACCEPT),
        ("ip saddr . tcp dport @svc accept", (V4, TCP, AnyOf(((addr("saddr", "10.0.0.1"), ports("dport", 22)), (addr("saddr", "10.0.0.2"), ports("dport", 80))))), ACCEPT),
        ("ip saddr . tcp dport != @ranged drop", (V4, TCP, AnyOf(((addr("saddr", "10.0.0.0/8"), ports("dport", (22, 25))), (addr("saddr", "192.168.0.1"), ports("dport", 80))), negated=True)), DROP),
        ("ip saddr . tcp dport { 10.9.0.0/16 . 1-100, 10.8.0.1 . 443 } accept", (V4, TCP, AnyOf(((addr("saddr", "10.9.0.0/16"), ports("dport", (1, 100))), (addr("saddr", "10.8.0.1"), ports("dport", 443))))), ACCEPT),
        (f"{portmap_text} {{ 22 : accept }}", (TCP, ports("dport", 22)), ACCEPT),
        (f"{portmap_text} {{ 23 : drop }}", (TCP, ports("dport", 23)), DROP),
        (f"{anon} {{ 8000 : jump helper }}", (TCP, ports("dport", 8000)), go(Verdict.JUMP, chain="helper")),
        (f"{anon} {{ 8001 : goto helper }}", (TCP, ports("dport", 8001)), go(Verdict.GOTO, chain="helper")),
        (f"{anon} {{ 8002 : return }}", (TCP, ports("dport", 8002)), RETURN),
        ("ip saddr vmap @srcmap { 10.1.0.0/16 : drop }", (V4, addr("saddr", "10.1.0.0/16")), DROP),
        ("ip saddr vmap @srcmap { 10.2.0.0/24 : jump helper }", (V4, addr("saddr", "10.2.0.0/24")), go(Verdict.JUMP, chain="helper")),
        ("fib daddr type != local drop", (AddrType("dst", frozenset({"LOCAL"}), negated=True),), DROP),
        ("fib saddr . iif oif missing drop", (Unknown("fib saddr . iif oif lookup is not modelled"),), DROP),
        # A concatenated lookup with one element is a plain conjunction.
        ("ip6 saddr . ip6 daddr . udp dport { ::1 . ::1 . 53 } accept", (V6, UDP, addr("saddr", "::1"), addr("daddr", "::1"), ports("dport", 53)), ACCEPT),
        ("update @learned { ip6 saddr }", (), go(Verdict.CONTINUE, "set")),
        ("meta mark 16 meta mark set 32", (MarkMatch("mark", 16),),
         Target(Verdict.CONTINUE, "mangle", marks=(MarkOp("mark", 0, xor=32),))),
        ("udp sport 1-1023 udp dport >= 1024 accept", (UDP, ports("sport", (1, 1023)), ports("dport", (1024, 65535))), ACCEPT),
        # Loaded as `tcp dport < 1024 tcp dport > 999`; nft 1.0.6 lists it as `!= 1024-999`.
        ("tcp dport != 1024-999 accept", (TCP, ports("dport", (1000, 1023))), ACCEPT),
        ("ip6 daddr != ::1 jump helper", (V6, Ranges("daddr", ((0, 0), (2, 2**128 - 1)))), go(Verdict.JUMP, chain="helper")),
        ("meta skuid 1000 drop", (Unknown("meta skuid is not modelled"),), DROP),
        ("tcp dport 1234 reject with tcp reset", (TCP, ports("dport", 1234)), go(Verdict.REJECT, detail="with tcp reset")),
        ('log prefix "input drop " reject with icmpx admin-prohibited', (), go(Verdict.REJECT, detail="with icmpx admin-prohibited")),
    ]  # fmt: skip


def test_inet_user_chains_and_others() -> None:
    ruleset = parse("inet.json")
    assert rules(ruleset, "inet", "filter", "helper") == [
        ("ip saddr 192.0.2.0/24 return", (V4, addr("saddr", "192.0.2.0/24")), RETURN),
        ("tcp dport 22 accept", (TCP, ports("dport", 22)), ACCEPT),
        ("goto deeper", (), go(Verdict.GOTO, chain="deeper")),
    ]
    assert rules(ruleset, "inet", "filter", "deeper") == [
        ("sctp dport 9999 accept", (Ranges("proto", ((132, 132),)), ports("dport", 9999)), ACCEPT),
        ("udp dport 5353 continue", (UDP, ports("dport", 5353)), go(Verdict.CONTINUE)),
        ("quota over 100 mbytes drop", (Unknown("quota over 100 mbytes: whether it matches depends on the bytes seen so far"),), DROP),
        ("ct count over 10 drop", (Unknown("ct count over 10: whether it matches depends on the number of tracked connections"),), DROP),
    ]  # fmt: skip
    assert rules(ruleset, "inet", "filter", "late") == [
        ("ip ttl 1 drop", (V4, Unknown("ip ttl is not modelled")), DROP),
        ("ip protocol udp accept", (V4, UDP), ACCEPT),
        ("ip6 nexthdr tcp accept", (V6, TCP), ACCEPT),
        ("ct status dnat accept", (CtState(frozenset({"DNAT"})),), ACCEPT),
        ("ct direction original accept", (Unknown("ct direction is not modelled"),), ACCEPT),
        ("meta pkttype broadcast drop", (Unknown("meta pkttype is not modelled"),), DROP),
        (
            "icmp type echo-request icmp code net-unreachable accept",
            (V4, ICMP, icmp_type(8), icmp_code(0)),
            ACCEPT,
        ),
    ]
    assert rules(ruleset, "inet", "filter", "out") == [
        ("meta oifname lo accept", (Iface("oif", ("lo",)),), ACCEPT),
        ("meta oif lo accept", (Iface("oif", ("lo",)),), ACCEPT),
        ("ct state established accept", (CtState(frozenset({"ESTABLISHED"})),), ACCEPT),
        # A verdict map on ct state: one rule per element, in nft's (hash) order.
        ("ct state vmap { invalid : drop }", (CtState(frozenset({"INVALID"})),), DROP),
        ("ct state vmap { established : accept }", (CtState(frozenset({"ESTABLISHED"})),), ACCEPT),
        ("ct state vmap { related : accept }", (CtState(frozenset({"RELATED"})),), ACCEPT),
        ("meta l4proto vmap { udp : jump helper }", (UDP,), go(Verdict.JUMP, chain="helper")),
    ]
    assert rules(ruleset, "inet", "filter", "forward0") == []


def test_families() -> None:
    ruleset = parse("families.json")
    assert [(t.family, t.name) for t in ruleset.tables] == [
        ("netdev", "edge"), ("ip", "nat"), ("ip", "filter4"), ("ip6", "raw6"), ("bridge", "br"), ("arp", "arpt"),
    ]  # fmt: skip
    chains = {(t.name, c.name): c for t in ruleset.tables for c in t.chains}
    ingress = chains[("edge", "ingress0")]
    assert (ingress.hook, ingress.priority, ingress.policy, ingress.device) == (
        Hook.INGRESS,
        -10,
        Verdict.ACCEPT,
        None,
    )
    # nft 1.0.6 prints no "dev" for netdev chains: said, not hidden.
    (warning,) = ruleset.warnings
    assert "chain netdev edge ingress0: no device in the JSON" in warning
    assert (chains[("nat", "pre")].kind, chains[("nat", "pre")].priority) == ("nat", -100)
    assert (chains[("nat", "post")].hook, chains[("nat", "post")].priority) == (
        Hook.POSTROUTING,
        100,
    )
    assert (chains[("raw6", "pre")].hook, chains[("raw6", "pre")].priority) == (
        Hook.PREROUTING,
        -300,
    )
    assert chains[("br", "forward0")].priority == -200  # bridge "filter"
    assert rules(ruleset, "netdev", "edge", "ingress0") == [
        ("ip saddr 192.0.2.0/24 drop", (V4, addr("saddr", "192.0.2.0/24")), DROP),
        ("ip6 saddr 2001:db8::/32 drop", (V6, addr("saddr", "2001:db8::/32")), DROP),
        # ARP is no IP flow: the family match can never hold.
        (
            "meta iif v0 meta protocol arp accept",
            (Iface("iif", ("v0",)), Ranges("family", ())),
            ACCEPT,
        ),
    ]
    assert rules(ruleset, "ip", "nat", "pre") == [
        ("tcp dport 8080 dnat to 10.0.0.5:80", (TCP, ports("dport", 8080)), Target(Verdict.DNAT, "dnat", detail="to 10.0.0.5:80",
                                                                                     to=NatTo(((0x0A000005, 0x0A000005),), ((80, 80),)))),
        ("tcp dport 2222 redirect to :22", (TCP, ports("dport", 2222)), Target(Verdict.DNAT, "redirect", detail="to :22", to=NatTo(None, ((22, 22),)))),
    ]  # fmt: skip
    assert rules(ruleset, "ip", "nat", "post") == [
        ("meta oifname eth0 masquerade", (Iface("oif", ("eth0",)),), go(Verdict.SNAT, "masquerade")),
        ("ip saddr 10.0.0.0/8 snat to 192.0.2.1", (addr("saddr", "10.0.0.0/8"),), go(Verdict.SNAT, "snat", detail="to 192.0.2.1")),
    ]  # fmt: skip
    # An ip table serves IPv4 only: no family match is added.
    assert rules(ruleset, "ip", "filter4", "input") == [
        ("ip saddr 198.51.100.7 tcp dport 22 accept", (addr("saddr", "198.51.100.7"), TCP, ports("dport", 22)), ACCEPT),
        ("udp dport 123 accept", (UDP, ports("dport", 123)), ACCEPT),
        ("ip daddr set 1.2.3.4", (), Target(Verdict.UNKNOWN, "mangle", detail="ip daddr set 1.2.3.4: rewrites what later rules match",
                                            daddr=((0x01020304, 0x01020304),))),
        ("icmp type { destination-unreachable, echo-request } accept", (ICMP, icmp_type(3, 8)), ACCEPT),
    ]  # fmt: skip
    assert rules(ruleset, "ip6", "raw6", "pre") == [
        ("udp dport 53 notrack", (UDP, ports("dport", 53)), go(Verdict.UNKNOWN, "notrack", detail="notrack: later rules see ct state untracked, not new")),
        ("meta mark set ct mark", (),
         Target(Verdict.CONTINUE, "mangle", marks=(MarkOp("mark", 0, "ctmark", 0xFFFFFFFF),))),
    ]  # fmt: skip
    assert rules(ruleset, "ip6", "raw6", "input6") == [
        ("icmpv6 code admin-prohibited accept", (ICMP6, icmp_code(1)), ACCEPT),
        (
            "ip6 saddr ::/0 tcp dport 80 accept",
            (addr("saddr", "::/0"), TCP, ports("dport", 80)),
            ACCEPT,
        ),
    ]
    assert rules(ruleset, "bridge", "br", "forward0") == [
        ("ether type arp accept", (Unknown("ether type is not modelled"),), ACCEPT),
    ]


def test_iptables_nft_xt_blobs() -> None:
    ruleset = parse("xt.json")
    advice = "take this table from iptables-nft-save"
    assert rules(ruleset, "ip", "filter", "INPUT") == [
        ("meta l4proto tcp xt match multiport xt match string counter accept",
         (TCP, Unknown(f"xt match multiport: {advice}"), Unknown(f"xt match string: {advice}")), ACCEPT),
        ("xt match recent counter drop", (Unknown(f"xt match recent: {advice}"),), DROP),
        ("ip saddr 1.2.3.4 tcp dport 22 counter accept", (addr("saddr", "1.2.3.4"), TCP, ports("dport", 22)), ACCEPT),
    ]  # fmt: skip
    (table,) = ruleset.tables
    assert [(c.name, c.policy) for c in table.chains] == [
        ("INPUT", Verdict.DROP), ("FORWARD", Verdict.ACCEPT), ("OUTPUT", Verdict.ACCEPT),
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["inet.json", "families.json", "xt.json"])
def test_origins_point_at_rule_objects_one_line(name: str) -> None:
    raw = (DATA / name).read_text()
    assert raw.count("\n") == 1  # nft -j prints one line
    ruleset = parse(name)
    for table in ruleset.tables:
        assert raw[table.origin.col - 1 :].startswith('{"table": {')
        for chain in table.chains:
            for rule in chain.rules:
                assert rule.origin.line == 1
                assert raw[rule.origin.col - 1 :].startswith('{"rule": {')
            if chain.policy_origin is not None:
                assert raw[chain.policy_origin.col - 1 :].startswith('{"chain": {')


@pytest.mark.parametrize("name", ["inet.json", "families.json", "xt.json"])
def test_origins_in_pretty_printed_json(name: str) -> None:
    """`nft -j list ruleset | jq .` keeps every rule on its own line: origins follow it."""
    pretty = json.dumps(json.loads((DATA / name).read_bytes()), indent=2)
    lines = pretty.splitlines()
    ruleset = nft_json.parse(pretty.encode(), "pretty.json")
    handles = [int(m) for m in re.findall(r'"handle": (\d+),\s+"expr"', pretty)]
    seen: list[int] = []
    for table in ruleset.tables:
        for chain in table.chains:
            if chain.policy_origin is not None:
                assert lines[chain.policy_origin.line].strip() == '"chain": {'
            for rule in chain.rules:
                assert rule.origin.file == "pretty.json"
                assert lines[rule.origin.line - 1].strip() == "{"
                assert lines[rule.origin.line].strip() == '"rule": {'
                assert rule.origin.col == 5
                handle = int(rule.text.rsplit("# handle ", 1)[1])
                # The rule object starting there is the one with this handle.
                following = "\n".join(lines[rule.origin.line : rule.origin.line + 6])
                assert f'"handle": {handle},' in following
                if not seen or seen[-1] != handle:
                    seen.append(handle)
    assert sorted(seen) == sorted(handles)


def test_rule_is_the_model_type() -> None:
    rule = parse("xt.json").tables[0].chains[0].rules[2]
    assert isinstance(rule, Rule)
    assert rule.origin == Location("xt.json", 1, rule.origin.col)


def test_ordinary_fixture_dependencies_and_headers() -> None:
    """ordinary.nft as nft lists it: the icmpv6 rule of the inet table carries IPv6 (the
    listing leaves `meta nfproto ipv6` out), the one of the ip table only protocol 58; the
    header and fragment rules are decided on ordinary packets."""
    from checker.engine.netfilter.engine import classify_flow

    ruleset = parse("ordinary.json")
    inet = {text: matches for text, matches, _ in rules(ruleset, "inet", "filter", "input")}
    icmpv6 = next(matches for text, matches in inet.items() if text.startswith("icmpv6"))
    assert icmpv6[:2] == (V6, ICMP6)
    ((_, legacy, _),) = rules(ruleset, "ip", "legacy", "input")
    assert legacy[0] == ICMP6 and V6 not in legacy

    def verdict(family: int, proto: int, dport: int = 0, icmp: int = 0) -> str:
        src, dst = ("192.0.2.1", "192.0.2.2") if family == 4 else ("2001:db8::1", "2001:db8::2")
        return classify_flow(
            [ruleset], family=family, proto=proto, src=src, dst=dst, sport=40000, dport=dport,
            direction="inbound", icmp=icmp,
        )  # fmt: skip

    assert verdict(6, 6, 22) == "accept"
    assert verdict(4, 6, 22) == "drop"
    assert verdict(6, 58, icmp=135 << 8) == "accept"
    assert verdict(4, 58, icmp=135 << 8) == "drop"
