"""Ports of every port protocol, source ports, and requirements that describe no flow, on real
iptables-save and `nft -j` output (docs/policy-format.md, "Ports and protocols", "Source ports",
"Empty rules").

The iptables-save texts are what iptables-save v1.8.9 (nf_tables) printed for the rules loaded
with `iptables -A` in a scratch namespace; the nft ruleset is tests/parsers/netfilter/data/nft/ports.json
(test_nft_live.py checks it is still what nft prints for ports.nft).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from builders import req

from checker.engine.netfilter.engine import check
from checker.findings import Status
from checker.parsers.netfilter import iptables_save, nft_json

NFT_PORTS = Path(__file__).parents[2] / "parsers" / "netfilter" / "data" / "nft" / "ports.json"
DCCP, SCTP, UDPLITE = 33, 132, 136


def ipt(policy: str, *rules: str, chains: str = ""):
    text = "\n".join(
        [
            "*filter",
            f":INPUT {policy} [0:0]",
            ":FORWARD ACCEPT [0:0]",
            ":OUTPUT ACCEPT [0:0]",
            *(f":{name} - [0:0]" for name in chains.split()),
            *rules,
            "COMMIT",
            "",
        ]
    )
    return iptables_save.parse(text.encode(), "iptables-save.v4")


DROP_ALL = ipt("DROP")
ACCEPT_ALL = ipt("ACCEPT")
# iptables-save of: iptables -A INPUT -p dccp --dport 56 -j ACCEPT; -p sctp --dport 57;
# -p udplite -m multiport --dports 58,59 (iptables has no udplite module: `-p udplite --dport`
# is refused with `unknown option "--dport"`, multiport takes udplite).
PORT_RULES = ipt(
    "DROP",
    "-A INPUT -p dccp -m dccp --dport 56 -j ACCEPT",
    "-A INPUT -p sctp -m sctp --dport 57 -j ACCEPT",
    "-A INPUT -p udplite -m multiport --dports 58,59 -j ACCEPT",
)
# Stock ufw (before.rules) lets DHCP replies in by source port.
UFW_DHCP = ipt(
    "DROP",
    "-A INPUT -j ufw-before-input",
    "-A ufw-before-input -p udp -m udp --sport 67 --dport 68 -j ACCEPT",
    chains="ufw-before-input",
)


@pytest.mark.parametrize("protocol", [DCCP, UDPLITE, SCTP])
def test_allow_of_a_port_protocol_fails_against_input_drop(protocol: int) -> None:
    """Was a vacuous pass: the engine built no flow for dccp/udplite with a port."""
    verdict = check([DROP_ALL], req("allow", protocol=protocol, ports=((5004, 5004),)))
    assert verdict.status is Status.FAIL, verdict.message
    name = {DCCP: "dccp", UDPLITE: "udplite", SCTP: "sctp"}[protocol]
    assert verdict.counterexample == f"{name} 203.0.113.7:40000 -> 192.0.2.10:5004 ipv4"


@pytest.mark.parametrize("protocol", [DCCP, UDPLITE, SCTP])
def test_deny_of_a_port_protocol_fails_against_accept_all(protocol: int) -> None:
    verdict = check([ACCEPT_ALL], req("deny", protocol=protocol, ports=((5004, 5004),)))
    assert verdict.status is Status.FAIL, verdict.message


@pytest.mark.parametrize(
    ("protocol", "port", "status"),
    [
        (DCCP, 56, Status.PASS),
        (DCCP, 57, Status.FAIL),
        (SCTP, 57, Status.PASS),
        (SCTP, 56, Status.FAIL),
        (UDPLITE, 58, Status.PASS),
        (UDPLITE, 59, Status.PASS),
        (UDPLITE, 56, Status.FAIL),
    ],
)
def test_iptables_port_matches_of_dccp_sctp_udplite(protocol: int, port: int, status) -> None:
    verdict = check([PORT_RULES], req("allow", protocol=protocol, ports=((port, port),)))
    assert verdict.status is status, verdict.message


@pytest.mark.parametrize(
    ("protocol", "port", "status"),
    [
        (UDPLITE, 53, Status.PASS),
        (UDPLITE, 54, Status.FAIL),
        (DCCP, 54, Status.PASS),
        (SCTP, 55, Status.PASS),
        (DCCP, 56, Status.PASS),  # meta l4proto { dccp, udplite } th dport 56
        (UDPLITE, 56, Status.PASS),
        (SCTP, 56, Status.FAIL),
        (17, 56, Status.FAIL),
    ],
)
def test_nft_port_matches_of_dccp_sctp_udplite(protocol: int, port: int, status) -> None:
    ruleset = nft_json.parse(NFT_PORTS.read_bytes(), "ports.json")
    verdict = check([ruleset], req("allow", protocol=protocol, ports=((port, port),)))
    assert verdict.status is status, verdict.message


def test_nft_deny_shows_the_source_port_that_gets_through() -> None:
    """`dccp sport 58 accept`: every DCCP port is reachable from source port 58."""
    ruleset = nft_json.parse(NFT_PORTS.read_bytes(), "ports.json")
    verdict = check([ruleset], req("deny", protocol=DCCP, ports=((9999, 9999),)))
    assert verdict.status is Status.FAIL
    assert verdict.counterexample == "dccp 203.0.113.7:58 -> 192.0.2.10:9999 ipv4"


def test_deny_holds_for_every_source_port_ufw_dhcp() -> None:
    """Was a false pass: the engine fixed source ports to 1024-65535."""
    verdict = check([UFW_DHCP], req("deny", protocol=17, ports=((68, 68),)))
    assert verdict.status is Status.FAIL, verdict.message
    assert verdict.counterexample == "udp 203.0.113.7:67 -> 192.0.2.10:68 ipv4"
    assert [e.line for e in verdict.evidence] == [7]


def test_allow_keeps_ephemeral_source_ports_unless_source_port_is_given() -> None:
    allow = req("allow", protocol=17, ports=((68, 68),))
    assert check([UFW_DHCP], allow).status is Status.FAIL
    assert check([UFW_DHCP], replace(allow, source_ports=((67, 67),))).status is Status.PASS
    # From 1024-65535 only: an allow passes, a deny from every source port does not.
    ephemeral = ipt("DROP", "-A INPUT -p tcp -m tcp --sport 1024:65535 --dport 22 -j ACCEPT")
    assert check([ephemeral], req("allow")).status is Status.PASS
    denied = check([ephemeral], req("deny"))
    assert denied.status is Status.FAIL and denied.counterexample is not None
    assert ":40000 -> " in denied.counterexample


def test_deny_with_source_port_asks_only_about_it() -> None:
    deny_67 = replace(req("deny", protocol=17, ports=((68, 68),)), source_ports=((53, 53),))
    assert check([UFW_DHCP], deny_67).status is Status.PASS
    deny_67 = replace(deny_67, source_ports=((60, 70),))
    assert check([UFW_DHCP], deny_67).status is Status.FAIL


@pytest.mark.parametrize(
    "changes",
    [
        {"remote": ((4, 0x7F000001, 0x7F000001),)},  # loopback only: out of scope
        {"remote": ((6, 1, 1),)},  # no IPv4 remote in an IPv4 question
        {"ports": ()},  # no port at all
        {"protocol": DCCP, "ports": ((5004, 5004),), "remote": ((4, 0x7F000001, 0x7F000002),)},
    ],
)
@pytest.mark.parametrize("expect", ["allow", "deny"])
@pytest.mark.parametrize("ruleset", [DROP_ALL, ACCEPT_ALL], ids=["drop", "accept"])
def test_a_requirement_with_no_flow_is_an_error_never_a_pass(changes, expect, ruleset) -> None:
    requirement = replace(req(expect), **changes)
    verdict = check([ruleset], requirement)
    assert verdict.status is Status.ERROR
    assert "describes no IPv4 flow" in verdict.message


def test_remote_any_leaves_out_addresses_no_host_sends_from() -> None:
    """A rule accepting only 0.0.0.0/8 and multicast sources lets no real packet in."""
    martians = ipt(
        "DROP",
        "-A INPUT -s 0.0.0.0/8 -j ACCEPT",
        "-A INPUT -s 224.0.0.0/4 -j ACCEPT",
        "-A INPUT -s 255.255.255.255/32 -j ACCEPT",
    )
    assert check([martians], req("deny")).status is Status.PASS
    assert (
        check([ipt("DROP", "-A INPUT -s 0.0.0.0/7 -j ACCEPT")], req("deny")).status is Status.FAIL
    )


def test_ipv6_unspecified_source_stays_in_scope_of_a_deny() -> None:
    """Linux drops IPv6 multicast sources (RFC 4291 2.7) but not ::, so a firewall accepting
    only :: fails a deny; one accepting only ff00::/8 passes it."""
    text = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{}\nCOMMIT\n"
    deny = req("deny", families=frozenset({6}))
    unspecified = iptables_save.parse(
        text.format("-A INPUT -s ::/128 -j ACCEPT").encode(), "rules.v6"
    )
    verdict = check([unspecified], deny)
    assert verdict.status is Status.FAIL and verdict.counterexample is not None
    assert verdict.counterexample.startswith("tcp [::]:")
    multicast = iptables_save.parse(
        text.format("-A INPUT -s ff00::/8 -j ACCEPT").encode(), "rules.v6"
    )
    assert check([multicast], deny).status is Status.PASS
