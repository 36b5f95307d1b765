"""Netfilter semantics, one rule of iptables(8)/nft(8) per test, on hand-built models.

Each test asserts the verdict, the counterexample and the deciding rule's line.
"""

from __future__ import annotations

from builders import FILE, base, req, rule, ruleset, tcp_dport, user

from checker.engine.netfilter.engine import check, classify_flow
from checker.errors import Location
from checker.findings import Status
from checker.model.netfilter import (
    Chain,
    CtState,
    Hook,
    NftDevices,
    Ranges,
    Rule,
    Ruleset,
    Table,
    Target,
    Unknown,
    Verdict,
)

ESTABLISHED = CtState(frozenset({"ESTABLISHED", "RELATED"}))


def test_first_match_wins_and_counterexample_names_deciding_rule() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.ACCEPT,
            rule(*tcp_dport(22), verdict=Verdict.DROP, line=5),
            rule(*tcp_dport(22), line=6),
        )
    )
    verdict = check([rs], req())
    assert verdict.status is Status.FAIL
    assert verdict.counterexample == "tcp 203.0.113.7:40000 -> 192.0.2.10:22 ipv4"
    assert [e.line for e in verdict.evidence] == [5]


def test_policy_drop_is_the_deciding_evidence_when_nothing_matches() -> None:
    rs = ruleset(base("INPUT", Hook.INPUT, Verdict.DROP, rule(*tcp_dport(80))))
    verdict = check([rs], req())
    assert verdict.status is Status.FAIL
    assert "policy DROP" in verdict.evidence[0].text


def test_accept_passes_with_accepting_rule_as_evidence() -> None:
    rs = ruleset(base("INPUT", Hook.INPUT, Verdict.DROP, rule(*tcp_dport(22), line=9)))
    verdict = check([rs], req())
    assert verdict.status is Status.PASS, verdict.message
    assert [e.line for e in verdict.evidence] == [9]


def test_user_chain_return_resumes_in_caller() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(verdict=Verdict.JUMP, chain="SUB"),
            rule(*tcp_dport(22), line=20),
        ),
        user(
            "SUB", rule(*tcp_dport(22), verdict=Verdict.RETURN), rule(verdict=Verdict.DROP, line=31)
        ),
    )
    assert check([rs], req()).status is Status.PASS
    other = check([rs], req(ports=((23, 23),)))
    assert other.status is Status.FAIL and other.evidence[0].line == 31


def test_goto_does_not_return_to_the_chain_it_left() -> None:
    # INPUT -j A; A -g B; B falls off its end: resumes in INPUT after the jump to A, skipping
    # the rest of A (which would accept).
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(verdict=Verdict.JUMP, chain="A"),
            rule(*tcp_dport(23), line=12),
        ),
        user("A", rule(verdict=Verdict.GOTO, chain="B"), rule(*tcp_dport(22), line=22)),
        user("B", rule(*tcp_dport(80))),
    )
    assert check([rs], req(ports=((22, 22),))).status is Status.FAIL
    assert check([rs], req(ports=((23, 23),))).status is Status.PASS


def test_any_drop_in_another_base_chain_wins_over_accept() -> None:
    early = base("in_a", Hook.INPUT, Verdict.ACCEPT, rule(*tcp_dport(22)), priority=-10)
    late = base(
        "in_b",
        Hook.INPUT,
        Verdict.ACCEPT,
        rule(*tcp_dport(22), verdict=Verdict.DROP, line=44),
        priority=10,
    )
    rs = ruleset(early, late, family="inet", name="t", families=frozenset({4, 6}))
    verdict = check([rs], req(families=frozenset({4, 6})))
    assert verdict.status is Status.FAIL
    assert verdict.evidence[0].line == 44


def test_strict_output_without_established_rule_fails_tcp_allow() -> None:
    rs = ruleset(
        base("INPUT", Hook.INPUT, Verdict.DROP, rule(*tcp_dport(22))),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP),
    )
    verdict = check([rs], req())
    assert verdict.status is Status.FAIL
    assert "SYN-ACK" in verdict.message
    fixed = ruleset(
        base("INPUT", Hook.INPUT, Verdict.DROP, rule(*tcp_dport(22))),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP, rule(ESTABLISHED)),
    )
    assert check([fixed], req()).status is Status.PASS
    # For deny, the first packet getting in is enough: the SYN is accepted, so deny fails.
    assert check([rs], req(expect="deny")).status is Status.FAIL


def test_established_rule_does_not_make_a_port_reachable() -> None:
    rs = ruleset(base("INPUT", Hook.INPUT, Verdict.DROP, rule(ESTABLISHED)))
    assert check([rs], req()).status is Status.FAIL
    assert check([rs], req(expect="deny")).status is Status.PASS


def test_unknown_match_is_indeterminate_never_pass() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(Unknown("-m recent: state not known"), *tcp_dport(22), line=7),
        )
    )
    allow = check([rs], req())
    deny = check([rs], req(expect="deny"))
    assert allow.status is Status.INDETERMINATE and "recent" in allow.message
    assert deny.status is Status.INDETERMINATE
    assert allow.evidence[0].line == 7


def test_unknown_match_behind_a_certain_drop_is_irrelevant() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.ACCEPT,
            rule(*tcp_dport(22), verdict=Verdict.DROP),
            rule(Unknown("-m limit"), *tcp_dport(22)),
        )
    )
    assert check([rs], req(expect="deny")).status is Status.PASS


def test_missing_ipv6_ruleset_is_indeterminate() -> None:
    rs = ruleset(base("INPUT", Hook.INPUT, Verdict.DROP))
    verdict = check([rs], req(expect="deny", families=frozenset({4, 6})))
    assert verdict.status is Status.INDETERMINATE
    assert "IPv6" in verdict.message


def test_dnat_catching_the_flow_is_indeterminate() -> None:
    nat = base(
        "PREROUTING",
        Hook.PREROUTING,
        Verdict.ACCEPT,
        rule(*tcp_dport(22), verdict=Verdict.DNAT),
        priority=-100,
        kind="nat",
    )
    flt = base("INPUT", Hook.INPUT, Verdict.DROP)
    rs = ruleset(nat, flt)
    verdict = check([rs], req(expect="deny"))
    assert verdict.status is Status.INDETERMINATE
    assert "DNAT" in verdict.message or "translated" in verdict.message


def test_except_remote_carves_out_and_counterexample_respects_it() -> None:
    admin = Ranges("saddr", ((0x0A000000, 0x0AFFFFFF),))
    rs = ruleset(base("INPUT", Hook.INPUT, Verdict.DROP, rule(admin, *tcp_dport(3389))))
    assert (
        check([rs], req(expect="deny", ports=((3389, 3389),), except_remote=["10.0.0.0/8"])).status
        is Status.PASS
    )
    open_rs = ruleset(base("INPUT", Hook.INPUT, Verdict.DROP, rule(*tcp_dport(3389))))
    verdict = check(
        [open_rs], req(expect="deny", ports=((3389, 3389),), except_remote=["10.0.0.0/8"])
    )
    assert verdict.status is Status.FAIL
    assert not verdict.counterexample.startswith("tcp 10.")


def test_partial_acceptance_fails_allow_with_a_flow_outside() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(Ranges("saddr", ((0x0A000000, 0x0AFFFFFF),)), *tcp_dport(22)),
        )
    )
    verdict = check([rs], req())
    assert verdict.status is Status.FAIL
    assert verdict.counterexample.startswith("tcp 203.0.113.7:")


def test_classify_flow_point_queries() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(*tcp_dport(22)),
            rule(Ranges("proto", ((17, 17),)), Ranges("dport", ((53, 53),))),
        ),
    )
    args = dict(family=4, src="198.51.100.2", dst="198.51.100.1", sport=40000, direction="inbound")
    assert classify_flow([rs], proto=6, dport=22, **args) == "accept"
    assert classify_flow([rs], proto=6, dport=23, **args) == "drop"
    assert classify_flow([rs], proto=17, dport=53, **args) == "accept"


ICMP_ECHO = (Ranges("proto", ((1, 1),)), Ranges("icmp", ((8 << 8, (8 << 8) | 0xFF),)))
ICMP_ECHO_REPLY = (Ranges("proto", ((1, 1),)), Ranges("icmp", ((0, 0xFF),)))


def test_ping_allow_needs_the_echo_reply_to_get_back() -> None:
    """A strict INPUT policy with no ESTABLISHED rule drops the echo reply (conntrack tracks ICMP
    echo as a connection), so an outbound ping never completes."""
    ping = dict(direction="outbound", protocol=1, ports=None, icmp_type=8)
    strict = ruleset(
        base("INPUT", Hook.INPUT, Verdict.DROP),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP, rule(*ICMP_ECHO, line=7)),
    )
    verdict = check([strict], req(**ping))
    assert verdict.status is Status.FAIL
    assert "echo reply" in verdict.message
    assert verdict.counterexample.startswith("icmp 192.0.2.10 -> 203.0.113.7 type 8")
    assert "policy DROP" in verdict.evidence[0].text
    with_established = ruleset(
        base("INPUT", Hook.INPUT, Verdict.DROP, rule(ESTABLISHED)),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP, rule(*ICMP_ECHO)),
    )
    assert check([with_established], req(**ping)).status is Status.PASS
    # An explicit echo-reply rule is as good as the ESTABLISHED one.
    with_reply_rule = ruleset(
        base("INPUT", Hook.INPUT, Verdict.DROP, rule(*ICMP_ECHO_REPLY)),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP, rule(*ICMP_ECHO)),
    )
    assert check([with_reply_rule], req(**ping)).status is Status.PASS
    # For deny, the request getting out is enough to fail.
    assert check([strict], req(expect="deny", **ping)).status is Status.FAIL


def test_echo_completion_does_not_touch_other_protocols() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(Ranges("proto", ((17, 17),)), Ranges("dport", ((53, 53),))),
        ),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP),
    )
    assert check([rs], req(protocol=17, ports=((53, 53),))).status is Status.PASS


def test_undecidable_echo_reply_names_its_reason() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(Unknown("-m limit: rate not known"), *ICMP_ECHO_REPLY, line=4),
        ),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP, rule(*ICMP_ECHO)),
    )
    verdict = check([rs], req(direction="outbound", protocol=1, ports=None, icmp_type=8))
    assert verdict.status is Status.INDETERMINATE
    assert "limit" in verdict.message and [e.line for e in verdict.evidence] == [4]


def _netdev(chain: Chain) -> Ruleset:
    table = Table("netdev", "edge", (chain,), Location(FILE, 1))
    return Ruleset((table,), frozenset({4, 6}), FILE)


def _on_device(name: str, hook: Hook, device: str | None, *rules: Rule) -> Chain:
    return Chain(name, tuple(rules), hook, 0, Verdict.ACCEPT, Location(FILE, 1), "filter", device)


def test_egress_drop_stops_outbound_first_packets_and_inbound_replies() -> None:
    """netdev egress runs after postrouting on the way to the device: a drop there stops an
    outbound connection's first packet, and the SYN-ACK of an inbound one."""
    edge = _netdev(_egress_drops("eth0"))
    filter_ = ruleset(families=frozenset({4, 6}))
    out53 = check([edge, filter_], req(direction="outbound", protocol=17, ports=((53, 53),)))
    assert out53.status is Status.FAIL
    assert out53.counterexample == "udp 192.0.2.10:40000 -> 203.0.113.7:53 ipv4 out eth0"
    assert [e.line for e in out53.evidence] == [71]
    in80 = check([edge, filter_], req(ports=((80, 80),)))
    assert in80.status is Status.FAIL
    assert "SYN-ACK" in in80.message and [e.line for e in in80.evidence] == [72]
    # Not the first packet of an inbound flow: deny is judged on it, and it gets in.
    assert check([edge, filter_], req(expect="deny", ports=((80, 80),))).status is Status.FAIL
    # Traffic the egress chain does not match is untouched.
    assert check([edge, filter_], req(ports=((22, 22),))).status is Status.PASS


def _egress_drops(device: str | None) -> Chain:
    udp53 = (Ranges("proto", ((17, 17),)), Ranges("dport", ((53, 53),)))
    tcp_reply_from_80 = (Ranges("proto", ((6, 6),)), Ranges("sport", ((80, 80),)))
    return _on_device(
        "eg",
        Hook.EGRESS,
        device,
        rule(*udp53, verdict=Verdict.DROP, line=71),
        rule(*tcp_reply_from_80, verdict=Verdict.DROP, line=72),
    )


def test_a_device_chain_whose_device_is_unknown_is_indeterminate_until_the_text_names_it() -> None:
    """nft 1.0.6's `nft -j` leaves a netdev chain's device out: what the chain drops may or may
    not be this traffic's, so it is indeterminate (never a pass, never a fail), with the reason;
    the `nft list ruleset` text (NftDevices) names the device and makes the verdict exact."""
    unbound = _netdev(_egress_drops(None))
    filter_ = ruleset(families=frozenset({4, 6}))
    outbound53 = req(direction="outbound", protocol=17, ports=((53, 53),))
    verdict = check([unbound, filter_], outbound53)
    assert verdict.status is Status.INDETERMINATE
    assert "egress chain eg: the export does not name its device" in verdict.message
    deny = req(expect="deny", direction="outbound", protocol=17, ports=((53, 53),))
    assert check([unbound, filter_], deny).status is Status.INDETERMINATE
    # Nothing it drops concerns TCP 22: still decided.
    assert check([unbound, filter_], req(ports=((22, 22),))).status is Status.PASS
    named = NftDevices((("netdev", "edge", "eg", ("eth0",)),), "nft-list.txt")
    assert check([unbound, filter_, named], outbound53).status is Status.FAIL
    elsewhere = NftDevices((("netdev", "edge", "eg", ("eth9",)),), "nft-list.txt")
    # Bound to another device, it still drops what leaves through that one.
    assert check([unbound, filter_, elsewhere], outbound53).counterexample.endswith("out eth9")


def test_device_bound_chains_only_see_their_device() -> None:
    """An egress chain bound to eth1 drops what leaves through eth1, an ingress chain bound to
    eth1 what comes in through it; other interfaces are untouched (counterexamples name eth1)."""
    drop_all = rule(verdict=Verdict.DROP, line=81)
    filter_ = ruleset(families=frozenset({4}))
    for hook, direction, side in (
        (Hook.EGRESS, "outbound", "out"),
        (Hook.INGRESS, "inbound", "in"),
    ):
        edge = _netdev(_on_device("c", hook, "eth1", drop_all))
        verdict = check([edge, filter_], req(direction=direction))
        assert verdict.status is Status.FAIL, hook
        assert verdict.counterexample.endswith(f"{side} eth1"), verdict.counterexample
        assert [e.line for e in verdict.evidence] == [81]
        point = {"family": 4, "proto": 6, "sport": 40000, "dport": 22, "direction": direction}
        hosts = {"src": "203.0.113.7", "dst": "192.0.2.10"}
        if direction == "outbound":
            hosts = {"src": "192.0.2.10", "dst": "203.0.113.7"}
        assert classify_flow([edge, filter_], **point, **hosts, iface="eth0") == "accept"
        assert classify_flow([edge, filter_], **point, **hosts, iface="eth1") == "drop"


def test_unknown_chain_policy_is_indeterminate_and_names_the_chain() -> None:
    """A built-in chain whose policy the export does not give (iptables-restore input without a
    `:OUTPUT` line) may drop what reaches its end: indeterminate, with the chain as reason."""
    rs = ruleset(
        base("INPUT", Hook.INPUT, Verdict.DROP, rule(*tcp_dport(22))),
        base("OUTPUT", Hook.OUTPUT, Verdict.UNKNOWN),
    )
    verdict = check([rs], req())
    assert verdict.status is Status.INDETERMINATE
    assert "chain OUTPUT policy unknown" in verdict.message
    assert verdict.counterexample == "tcp 203.0.113.7:40000 -> 192.0.2.10:22 ipv4"
    # Deny is judged on the first packet, which INPUT surely accepts.
    assert check([rs], req(expect="deny")).status is Status.FAIL


def test_chains_after_source_nat_cannot_judge_the_source_they_see() -> None:
    """Egress (and postrouting after srcnat) sees the packet after SNAT/MASQUERADE rewrote its
    source: a match on the old source would decide the wrong packet, so it is indeterminate;
    a chain that never looks at the source still decides exactly."""
    snat = Rule(
        (Ranges("saddr", ((0xC000020A, 0xC000020A),)),),  # -s 192.0.2.10
        Target(Verdict.SNAT, "SNAT", None, "--to-source 198.51.100.1"),
        Location(FILE, 31),
        "-A POSTROUTING -s 192.0.2.10/32 -j SNAT --to-source 198.51.100.1",
    )
    nat = Ruleset(
        (
            Table(
                "ip",
                "nat",
                (
                    base(
                        "POSTROUTING",
                        Hook.POSTROUTING,
                        Verdict.ACCEPT,
                        snat,
                        priority=100,
                        kind="nat",
                    ),
                ),
                Location(FILE, 1),
            ),
        ),
        frozenset({4}),
        FILE,
    )
    flow = {
        "family": 4,
        "proto": 17,
        "src": "192.0.2.10",
        "dst": "203.0.113.7",
        "sport": 40000,
        "dport": 53,
        "direction": "outbound",
        "iface": "eth0",
    }
    outbound53 = req(direction="outbound", protocol=17, ports=((53, 53),))
    for address, status in (("192.0.2.10", Status.INDETERMINATE), ("198.51.100.1", Status.FAIL)):
        number = int.from_bytes(bytes(int(x) for x in address.split(".")), "big")
        by_source = rule(Ranges("saddr", ((number, number),)), verdict=Verdict.DROP)
        egress = _netdev(_on_device("eg", Hook.EGRESS, "eth0", by_source))
        assert classify_flow([nat, egress], **flow) == "indeterminate", address
        verdict = check([nat, egress], outbound53)
        assert verdict.status is status, address
        if status is Status.INDETERMINATE:
            assert "source NAT before chain eg" in verdict.message
        else:
            # Traffic the SNAT rule does not rewrite still has this source: surely dropped.
            assert verdict.counterexample.startswith("udp 198.51.100.1:40000 ")
    by_port = rule(Ranges("proto", ((17, 17),)), Ranges("dport", ((53, 53),)), verdict=Verdict.DROP)
    egress = _netdev(_on_device("eg", Hook.EGRESS, "eth0", by_port))
    assert classify_flow([nat, egress], **flow) == "drop"
    # Without the SNAT, the source match decides.
    alone = _netdev(
        _on_device(
            "eg",
            Hook.EGRESS,
            "eth0",
            rule(Ranges("saddr", ((0xC000020A,) * 2,)), verdict=Verdict.DROP),
        )
    )
    assert classify_flow([alone], **flow) == "drop"


def test_firewalld_icmpv6_rule_does_not_fail_an_ipv4_deny() -> None:
    """firewalld's inet table accepts `icmpv6 type nd-neighbor-solicit`; nft makes the rule
    depend on `meta nfproto ipv6`, which `nft -j` leaves out. A requirement denying every
    inbound IPv4 packet holds (the kernel oracle shows IPv4 protocol-58 packets dropped)."""
    import json

    from checker.parsers.netfilter import nft_json

    document = {
        "nftables": [
            {"table": {"family": "inet", "name": "firewalld"}},
            {"chain": {"family": "inet", "table": "firewalld", "name": "filter_INPUT",
                       "type": "filter", "hook": "input", "prio": 10, "policy": "drop"}},
            {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_INPUT", "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "icmpv6", "field": "type"}},
                           "right": "nd-neighbor-solicit"}},
                {"accept": None}]}},
        ]
    }  # fmt: skip
    ruleset = nft_json.parse(json.dumps(document).encode(), "firewalld.json")
    deny_v4 = req("deny", protocol=None, ports=None, families=frozenset({4}))
    assert check([ruleset], deny_v4).status is Status.PASS
    allow_v6 = req("allow", protocol=58, ports=None, families=frozenset({6}), icmp_type=135)
    assert check([ruleset], allow_v6).status is Status.PASS


def test_stock_ufw_routing_header_drop_leaves_ipv6_allows_decided() -> None:
    """ufw's before6.rules drop `-m rt --rt-type 0` first; requirements are about ordinary
    packets (no extension headers), on which that rule matches nothing."""
    from checker.parsers.netfilter import iptables_save

    text = (
        "# Generated by ip6tables-save v1.8.9 (nf_tables)\n*filter\n:INPUT DROP [0:0]\n"
        ":FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:ufw6-before-input - [0:0]\n"
        "-A INPUT -j ufw6-before-input\n"
        "-A ufw6-before-input -m rt --rt-type 0 -j DROP\n"
        "-A ufw6-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
        "-A ufw6-before-input -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    )
    ruleset = iptables_save.parse(text.encode(), "ip6tables-save.txt")
    v6 = frozenset({6})
    assert check([ruleset], req("allow", families=v6)).status is Status.PASS
    assert check([ruleset], req("deny", ports=((80, 80),), families=v6)).status is Status.PASS


def test_accepting_evidence_starts_with_the_deciding_rule_nat_last() -> None:
    """Issue 11 defect 7: on a host with a nat table the nat PREROUTING policy (walked first)
    decided nothing; the filter INPUT rule that let the flow in comes first, nat last."""
    nat = base("PREROUTING", Hook.PREROUTING, Verdict.ACCEPT, priority=-100, kind="nat")
    nat_in = base("INPUT", Hook.INPUT, Verdict.ACCEPT, priority=100, kind="nat")
    flt = base("INPUT", Hook.INPUT, Verdict.DROP, rule(*tcp_dport(22), line=12))
    verdict = check([ruleset(nat, nat_in, flt)], req())
    assert verdict.status is Status.PASS, verdict.message
    assert verdict.evidence[0].line == 12
    assert [e.text.split(" (")[0] for e in verdict.evidence[1:]] == [
        "chain PREROUTING policy ACCEPT",
        "chain INPUT policy ACCEPT",
    ]
    open_input = base("INPUT", Hook.INPUT, Verdict.ACCEPT, priority=0)
    verdict = check([ruleset(nat, open_input)], req(expect="deny"))
    assert verdict.status is Status.FAIL
    assert verdict.evidence[0].text == "chain INPUT policy ACCEPT (table ip filter)"


def _fwd(line: int) -> Rule:
    why = "fwd to eth9: the packet is sent out of eth9, never delivered to this host"
    return Rule(
        (*tcp_dport(22),), Target(Verdict.FWD, "fwd", detail=why), Location(FILE, line), "fwd"
    )


def test_fwd_at_ingress_is_never_delivered_here() -> None:
    """nft(8) FWD STATEMENT: `fwd to DEVICE` in a netdev ingress chain sends the packet out of
    DEVICE (the kernel's nft_fwd_netdev returns NF_STOLEN, whichever device it is, the one it
    came in on included): it never reaches this host's sockets. An allow fails there with the
    fwd rule as evidence; a deny holds; other interfaces are untouched."""
    edge = _netdev(_on_device("c", Hook.INGRESS, "eth1", _fwd(91)))
    filter_ = ruleset(families=frozenset({4}))
    verdict = check([edge, filter_], req())
    assert verdict.status is Status.FAIL, verdict.message
    assert verdict.counterexample.endswith("in eth1"), verdict.counterexample
    assert [e.line for e in verdict.evidence] == [91]
    # A deny fails, but only through the other interfaces.
    deny = check([edge, filter_], req(expect="deny"))
    assert deny.status is Status.FAIL, deny.message
    assert not deny.counterexample.endswith("in eth1"), deny.counterexample
    point = {"family": 4, "proto": 6, "sport": 40000, "dport": 22, "direction": "inbound"}
    hosts = {"src": "203.0.113.7", "dst": "192.0.2.10"}
    assert classify_flow([edge, filter_], **point, **hosts, iface="eth1") == "drop"
    assert classify_flow([edge, filter_], **point, **hosts, iface="eth0") == "accept"


def test_fwd_at_egress_still_leaves_the_host() -> None:
    """At egress the packet leaves through another device instead: it still leaves the host,
    where to is not followed, so an outbound flow is indeterminate, not denied."""
    edge = _netdev(_on_device("c", Hook.EGRESS, "eth1", _fwd(92)))
    filter_ = ruleset(families=frozenset({4}))
    verdict = check([edge, filter_], req(direction="outbound"))
    assert verdict.status is Status.INDETERMINATE, verdict.message
    assert "sent out of eth9" in verdict.message and "not followed" in verdict.message
    point = {"family": 4, "proto": 6, "sport": 40000, "dport": 22, "direction": "outbound"}
    hosts = {"src": "192.0.2.10", "dst": "203.0.113.7"}
    assert classify_flow([edge, filter_], **point, **hosts, iface="eth1") != "drop"


def test_udplite_ct_state_is_undecided_on_arriving_packets() -> None:
    """Measured in a namespace pair (docs/linux.md): UDP-Lite datagrams with a valid RFC 3828
    checksum reach INPUT as ct state INVALID under the default nf_conntrack_checksum=1 (NEW with
    it 0). A ct state match decides TCP/UDP exactly, and UDP-Lite only where INVALID would get
    the same answer."""
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(CtState(frozenset({"INVALID"})), verdict=Verdict.DROP, line=3),
            rule(CtState(frozenset({"NEW"})), Ranges("dport", ((53, 53),)), line=4),
        )
    )
    lite = check([rs], req(protocol=136, ports=((53, 53),)))
    assert lite.status is Status.INDETERMINATE, lite.message
    assert "UDP-Lite" in lite.message and "nf_conntrack_checksum" in lite.message
    udp = check([rs], req(protocol=17, ports=((53, 53),)))
    assert udp.status is Status.PASS, udp.message
    # Outbound, the first packet is sent from here: not checked, NEW as usual.
    out = ruleset(
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP, rule(CtState(frozenset({"NEW"})), line=7)),
    )
    assert check([out], req(direction="outbound", protocol=136, ports=((53, 53),))).status is (
        Status.PASS
    )
