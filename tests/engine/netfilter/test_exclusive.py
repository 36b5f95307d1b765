"""Exclusive policies on netfilter (checker.engine.netfilter.exclusive, docs/policy-format.md "Exclusive
policies"): the undeclared accepted flows as blocks, each with its accepting rule."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest
from builders import req

from checker.engine.netfilter import exclusive
from checker.engine.netfilter.walk import new_context
from checker.findings import Status
from checker.parsers.netfilter import iptables_save
from checker.policies.model import Direction

V4 = """\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -s 10.0.0.0/8 --dport 22 -j ACCEPT
-A INPUT -p tcp --dport 8080 -j ACCEPT
-A INPUT -p udp -s 192.168.0.0/16 --dport 53 -j ACCEPT
{extra}COMMIT
"""
V6 = """\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
{extra}COMMIT
"""


def rulesets(v4_extra: str = "", v6_extra: str = ""):
    return [
        iptables_save.parse(V4.format(extra=v4_extra).encode(), "web.iptables-save"),
        iptables_save.parse(V6.format(extra=v6_extra).encode(), "web.ip6tables-save"),
    ]


def exclusive_req(direction: str = "inbound"):
    base = req("deny", direction, protocol=None, ports=None, families=frozenset({4, 6}))
    return replace(base, rule_id=f"exclusive-{direction}", exclusive=True)


SSH = replace(req("allow", remote=["10.0.0.0/8"]), rule_id="ssh")


# Interface symbols of these rulesets: 0 none, 1 lo, 2 every other interface.
def point(family, proto, src, dst, sport, dport, icmp=0, iif=2, oif=0):
    return {
        "family": family,
        "proto": proto,
        "saddr": int(ipaddress.ip_address(src)),
        "daddr": int(ipaddress.ip_address(dst)),
        "sport": sport,
        "dport": dport,
        "icmp": icmp,
        "iif": iif,
        "oif": oif,
        # A new packet's marks are 0 unless a rule on its path sets them (engine: marks).
        "mark": 0,
        "ctmark": 0,
    }


def blocks(models, declared, direction="inbound"):
    context = new_context(models)
    requirement = exclusive_req(direction)
    return [
        b
        for family in (4, 6)
        for b in exclusive.undeclared(context, requirement, declared, family).blocks
    ]


def test_undeclared_services_are_named_with_their_rule() -> None:
    models = rulesets()
    verdict = exclusive.check(models, exclusive_req(), [exclusive_req(), SSH])
    assert verdict.status is Status.FAIL
    assert "2 block(s)" in verdict.message
    assert "tcp any -> 8080 from anywhere ipv4: accepted by INPUT rule web.iptables-save:8" in (
        verdict.message
    )
    assert "udp any -> 53 from 192.168.0.0/16 ipv4: accepted by INPUT rule web.iptables-save:9" in (
        verdict.message
    )
    assert [e.line for e in verdict.evidence] == [8, 9]
    assert verdict.counterexample == "tcp 203.0.113.7:40000 -> 192.0.2.10:8080 ipv4"
    assert len(verdict.details) == 2


def test_blocks_are_exactly_the_undeclared_accepted_flows() -> None:
    found = blocks(rulesets(), [SSH])
    (web,) = [
        b for b in found if b.space.contains(point(4, 6, "198.51.100.1", "192.0.2.1", 1, 8080))
    ]
    assert web.sure and web.evidence is not None and web.evidence.line == 8
    inside = [
        point(4, 17, "192.168.3.4", "192.0.2.1", 53, 53),
        point(4, 6, "10.1.1.1", "192.0.2.1", 5, 8080),
        # ssh from a source port the allow rule does not speak of is still ssh from 10/8
        # (declared); from elsewhere it is dropped: in no block either way.
    ]
    outside = [
        point(4, 6, "10.1.1.1", "192.0.2.1", 80, 22),
        point(4, 6, "10.1.1.1", "192.0.2.1", 40000, 22),
        point(4, 6, "11.1.1.1", "192.0.2.1", 40000, 22),
        point(4, 17, "11.1.1.1", "192.0.2.1", 40000, 53),
        point(4, 6, "127.0.0.1", "127.0.0.1", 40000, 8080),
        point(6, 6, "2001:db8::1", "2001:db8::2", 40000, 8080),
    ]
    for flow in inside:
        assert any(b.space.contains(flow) for b in found), flow
    for flow in outside:
        assert not any(b.space.contains(flow) for b in found), flow


def test_declaring_every_service_passes() -> None:
    web = replace(req("allow", ports=((8080, 8080),)), rule_id="web")
    dns = replace(
        req("allow", protocol=17, ports=((53, 53),), remote=["192.168.0.0/16"]), rule_id="dns"
    )
    verdict = exclusive.check(rulesets(), exclusive_req(), [SSH, web, dns])
    assert verdict.status is Status.PASS, verdict.message
    # The declaration is narrower than the rule: the rest of the rule's flows are a block.
    narrow = replace(req("allow", ports=((8080, 8080),), remote=["203.0.113.0/24"]), rule_id="web")
    verdict = exclusive.check(rulesets(), exclusive_req(), [SSH, narrow, dns])
    assert verdict.status is Status.FAIL
    assert "tcp any -> 8080 from " in verdict.message


def test_an_outbound_allow_declares_nothing_inbound() -> None:
    out = replace(req("allow", "outbound", ports=((8080, 8080),)), rule_id="out")
    verdict = exclusive.check(rulesets(), exclusive_req(), [SSH, out])
    assert verdict.status is Status.FAIL and "8080" in verdict.message


INFRA_V4 = (
    "-A INPUT -p udp --sport 67 --dport 68 -j ACCEPT\n"
    "-A INPUT -p icmp --icmp-type 3 -j ACCEPT\n"
    "-A INPUT -p icmp --icmp-type 11 -j ACCEPT\n"
    "-A INPUT -p icmp --icmp-type 12 -j ACCEPT\n"
)
INFRA_V6 = (
    "".join(
        f"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type {t} -j ACCEPT\n"
        for t in (1, 2, 3, 4, 133, 134, 135, 136)
    )
    + "-A INPUT -p udp --sport 547 --dport 546 -j ACCEPT\n"
)


def test_infrastructure_is_exempt() -> None:
    web = replace(req("allow", ports=((8080, 8080),)), rule_id="web")
    dns = replace(
        req("allow", protocol=17, ports=((53, 53),), remote=["192.168.0.0/16"]), rule_id="dns"
    )
    verdict = exclusive.check(rulesets(INFRA_V4, INFRA_V6), exclusive_req(), [SSH, web, dns])
    assert verdict.status is Status.PASS, verdict.message


@pytest.mark.parametrize(
    ("v4", "v6", "expected"),
    [
        ("-A INPUT -p icmp --icmp-type 8 -j ACCEPT\n", "", "icmp type 8 from anywhere ipv4"),
        (
            "-A INPUT -p udp --sport 68 --dport 67 -j ACCEPT\n",
            "",
            "udp 68 -> 67 from anywhere ipv4",
        ),
        ("", "-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT\n", "icmpv6 type 128"),
        ("", "-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 130 -j ACCEPT\n", "icmpv6 type 130"),
    ],
)
def test_what_is_not_infrastructure_is_a_block(v4: str, v6: str, expected: str) -> None:
    web = replace(req("allow", ports=((8080, 8080),)), rule_id="web")
    dns = replace(
        req("allow", protocol=17, ports=((53, 53),), remote=["192.168.0.0/16"]), rule_id="dns"
    )
    verdict = exclusive.check(rulesets(v4, v6), exclusive_req(), [SSH, web, dns])
    assert verdict.status is Status.FAIL
    assert expected in verdict.message


def test_outbound_accept_policy_is_one_block_per_family() -> None:
    verdict = exclusive.check(rulesets(), exclusive_req("outbound"), [SSH])
    assert verdict.status is Status.FAIL
    assert "accepted by OUTPUT policy ACCEPT (web.iptables-save:4)" in verdict.message
    assert "to anywhere ipv4" in verdict.message and "to anywhere ipv6" in verdict.message
    # Declared outbound flows are carved out of it.
    https = replace(req("allow", "outbound", ports=((443, 443),)), rule_id="https")
    found = blocks(rulesets(), [https], "outbound")
    assert not any(
        b.space.contains(point(4, 6, "192.0.2.1", "198.51.100.1", 1, 443, iif=0, oif=2))
        for b in found
    )
    assert any(
        b.space.contains(point(4, 6, "192.0.2.1", "198.51.100.1", 1, 444, iif=0, oif=2))
        for b in found
    )


def test_undecidable_matches_make_it_indeterminate() -> None:
    limited = "-A INPUT -p tcp --dport 9000 -m limit --limit 5/sec -j ACCEPT\n"
    web = replace(req("allow", ports=((8080, 8080),)), rule_id="web")
    dns = replace(
        req("allow", protocol=17, ports=((53, 53),), remote=["192.168.0.0/16"]), rule_id="dns"
    )
    verdict = exclusive.check(rulesets(limited), exclusive_req(), [SSH, web, dns])
    assert verdict.status is Status.INDETERMINATE, verdict.message
    assert "9000" in verdict.message and "cannot decide" in verdict.message


def test_a_missing_family_is_not_a_pass() -> None:
    web = replace(req("allow", ports=((8080, 8080),)), rule_id="web")
    dns = replace(
        req("allow", protocol=17, ports=((53, 53),), remote=["192.168.0.0/16"]), rule_id="dns"
    )
    verdict = exclusive.check(rulesets()[:1], exclusive_req(), [SSH, web, dns])
    assert verdict.status is Status.INDETERMINATE
    assert "no IPv6 ruleset" in verdict.message


def test_direction_of_requirement() -> None:
    assert exclusive_req("outbound").direction is Direction.OUTBOUND
