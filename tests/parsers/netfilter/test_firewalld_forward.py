"""etc/firewalld trees: forwarded traffic (zones' <forward/> and targets, policies between zones),
masquerade, and the order of zone dispatch when bindings overlap.

Each fact was read from the real firewalld 1.3.3 daemon's `nft -j list ruleset`; the firewalld
oracle (tests/kernel/test_firewalld_oracle.py) holds the compiled trees to the daemon's export
for forwarded flows too. These tests pin the same facts without a daemon.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from netfilter_forward import forward_verdicts
from test_firewalld_tree import defaults, rule_at, verdict, write

from checker.engine import settings
from checker.errors import Location, ParseError
from checker.findings import Severity, Status
from checker.model.netfilter import Ruleset
from checker.parsers.netfilter import firewalld_tree
from checker.policies.model import PROFILES, Direction, Expect, Requirement
from checker.policies.settings import SettingSpec

IFACES = ("eth0", "veth1", "veth2")
X = '<?xml version="1.0" encoding="utf-8"?>\n'


def load(tmp_path: Path, zones: dict[str, str], policies: dict[str, str] | None = None) -> Ruleset:
    etc = tmp_path / "repo" / "etc" / "firewalld"
    write(etc, "firewalld.conf", "DefaultZone=public\nIPv6_rpfilter=no\n")
    for name, body in zones.items():
        write(etc, f"zones/{name}.xml", X + body)
    for name, body in (policies or {}).items():
        write(etc, f"policies/{name}.xml", X + body)
    (ruleset,) = firewalld_tree.parse_tree(
        str(tmp_path / "repo"), str(defaults(tmp_path)), system=None
    )
    return ruleset


def forwarded(
    ruleset: Ruleset, iif: str, oif: str, port: int = 80, src: str = "203.0.113.9",
    dst: str = "10.9.0.5", family: int = 4,
) -> str:  # fmt: skip
    (found,) = forward_verdicts([ruleset], [(family, 6, src, dst, port, iif, oif)], IFACES)
    return found


PUBLIC = '<zone>\n  <service name="ssh"/>\n  <interface name="eth0"/>\n</zone>\n'


def test_intra_zone_forwarding_and_the_forward_target(tmp_path: Path) -> None:
    lan = (
        '<zone>\n  <interface name="veth1"/>\n  <interface name="veth2"/>\n  <forward/>\n</zone>\n'
    )
    ruleset = load(tmp_path, {"public": PUBLIC, "lan": lan})
    assert forwarded(ruleset, "veth1", "veth2") == "accept"
    assert forwarded(ruleset, "veth1", "eth0") == "drop"  # another zone: the target rejects
    assert forwarded(ruleset, "eth0", "veth1") == "drop"  # public has no <forward/>
    texts = [text for _, text in rule_at(ruleset, "filter_FWD_lan")]
    assert any('zone lan: <forward/> to <interface name="veth2"/>' in t for t in texts)


def test_zone_targets_on_the_forward_path(tmp_path: Path) -> None:
    """ACCEPT forwards everything it takes in; DROP and %%REJECT%% refuse; the default target
    accepts no forwarded ICMP (unlike on input)."""
    for target, expected in (("ACCEPT", "accept"), ("DROP", "drop"), ("%%REJECT%%", "drop")):
        zone = f'<zone target="{target}">\n  <interface name="veth1"/>\n</zone>\n'
        ruleset = load(tmp_path / target.strip("%"), {"public": PUBLIC, "lan": zone})
        assert forwarded(ruleset, "veth1", "eth0") == expected, target


def test_policies_between_zones(tmp_path: Path) -> None:
    lan = '<zone>\n  <interface name="veth1"/>\n  <source address="10.9.0.0/16"/>\n</zone>\n'
    web = (
        '<policy priority="-5">\n  <ingress-zone name="public"/>\n  <egress-zone name="lan"/>\n'
        '  <service name="http"/>\n</policy>\n'
    )
    deny = (
        '<policy target="DROP" priority="100">\n  <ingress-zone name="ANY"/>\n'
        '  <egress-zone name="ANY"/>\n  <port protocol="tcp" port="8080"/>\n</policy>\n'
    )
    lets = (
        '<policy target="ACCEPT" priority="10">\n  <ingress-zone name="lan"/>\n'
        '  <egress-zone name="ANY"/>\n  <masquerade/>\n</policy>\n'
    )
    ruleset = load(
        tmp_path, {"public": PUBLIC, "lan": lan}, {"web": web, "deny": deny, "lets": lets}
    )
    assert forwarded(ruleset, "eth0", "veth1", 80) == "accept"  # egress by interface
    assert forwarded(ruleset, "eth0", "veth2", 80, dst="10.9.1.1") == "accept"  # by source
    assert forwarded(ruleset, "eth0", "veth1", 22) == "drop"  # zone public's target
    # The ANY -> ANY policy: its port is accepted, the rest dropped by its target.
    assert forwarded(ruleset, "eth0", "veth1", 8080) == "accept"
    # priority 10 (lets, ACCEPT) comes before 100 (deny): lan's traffic is accepted first.
    assert forwarded(ruleset, "veth1", "eth0", 9999) == "accept"
    dispatch = rule_at(ruleset, "filter_FORWARD_POLICIES_pre")
    assert [text.split(" -> ")[0] for _, text in dispatch] == [
        "dispatch to filter_FWD_policy_web",
        "dispatch to filter_FWD_policy_web",
    ]
    assert any("masquerade" in text for _, text in rule_at(ruleset, "nat_POST_policy_lets"))
    # The host's own traffic is not a policy's between zones.
    assert verdict(ruleset, 80, iface="eth0") == "drop"
    assert verdict(ruleset, 22, iface="eth0") == "accept"


def test_masquerade_decides_nothing_for_the_host(tmp_path: Path) -> None:
    public = PUBLIC.replace("</zone>", "  <masquerade/>\n</zone>")
    ruleset = load(tmp_path, {"public": public})
    (rule,) = rule_at(ruleset, "nat_POST_public")[1:2]
    assert "zone public: <masquerade/>" in rule[1] and "masquerade" in rule[1].split(" -> ")[1]
    assert verdict(ruleset, 443, direction="outbound", iface="eth0") == "accept"
    assert verdict(ruleset, 22, iface="eth0") == "accept"


def test_overlapping_sources_go_to_the_zone_whose_name_sorts_first(tmp_path: Path) -> None:
    """firewalld 1.3.3 dispatches source bindings zone by zone in name order (checked against
    the daemon by the oracle's overlapping-sources configurations), not by prefix length."""
    wide = '<zone target="DROP">\n  <source address="198.51.100.0/24"/>\n</zone>\n'
    narrow = '<zone>\n  <source address="198.51.100.64/26"/>\n  <port protocol="tcp" port="3306"/>\n</zone>\n'
    first = load(tmp_path / "a", {"public": PUBLIC, "anarrow": narrow, "zwide": wide})
    assert verdict(first, 3306, src="198.51.100.66") == "accept"
    assert verdict(first, 3306, src="198.51.100.2") == "drop"
    second = load(tmp_path / "b", {"public": PUBLIC, "anarrow": wide, "znarrow": narrow})
    assert verdict(second, 3306, src="198.51.100.66") == "drop"


def test_overlapping_interface_patterns_and_zone_priorities_are_unknown(tmp_path: Path) -> None:
    """The daemon orders interface bindings of different zones by its load order, and zone
    priorities (firewalld >= 2.0) are not modelled: where the order decides, indeterminate."""
    wild = '<zone target="DROP">\n  <interface name="veth+"/>\n</zone>\n'
    one = '<zone target="ACCEPT">\n  <interface name="veth1"/>\n</zone>\n'
    ruleset = load(tmp_path / "a", {"public": PUBLIC, "wild": wild, "one": one})
    assert verdict(ruleset, 9999, iface="veth1") == "indeterminate"
    assert verdict(ruleset, 22, iface="eth0") == "accept"
    ranked = '<zone ingress-priority="-10" target="DROP">\n  <source address="198.51.100.0/24"/>\n</zone>\n'
    ruleset = load(tmp_path / "b", {"public": PUBLIC, "ranked": ranked})
    assert verdict(ruleset, 22, src="198.51.100.2") == "indeterminate"


def test_policy_forward_port_is_unknown(tmp_path: Path) -> None:
    policy = (
        '<policy>\n  <ingress-zone name="public"/>\n  <egress-zone name="ANY"/>\n'
        '  <forward-port port="2222" protocol="tcp" to-port="22" to-addr="10.9.0.5"/>\n</policy>\n'
    )
    ruleset = load(tmp_path, {"public": PUBLIC}, {"fp": policy})
    assert verdict(ruleset, 2222, iface="eth0") == "indeterminate"
    assert verdict(ruleset, 2223, iface="eth0") == "drop"


def test_default_deny_forward_holds_for_a_firewalld_tree(tmp_path: Path) -> None:
    """filter_FORWARD ends with a reject, as the daemon's does: the CIS "default deny" for the
    forward hook holds (it failed while the tree had no forward chain)."""
    ruleset = load(tmp_path, {"public": PUBLIC})
    spec = SettingSpec("netfilter", "forward", "default", "deny", (4, 6))
    requirement = Requirement(
        policy_id="p", rule_id="r", title="t", expect=Expect.DENY, direction=Direction.INBOUND,
        protocol=None, ports=None, remote=None, except_remote=(), local=None, program=None,
        service=None, profiles=PROFILES, icmp_type=None, families=frozenset(spec.families),
        severity=Severity.MEDIUM, origin=Location("p.yaml", 1), setting=spec,
    )  # fmt: skip
    found = settings.check([ruleset], requirement)
    assert found.status is Status.PASS, found.message
    assert "firewalld final reject" in found.evidence[0].text


def test_bad_policy_forward_port_is_a_located_error(tmp_path: Path) -> None:
    policy = (
        '<policy>\n  <ingress-zone name="public"/>\n  <egress-zone name="ANY"/>\n'
        '  <forward-port port="70000" protocol="tcp" to-port="22"/>\n</policy>\n'
    )
    with pytest.raises(ParseError) as caught:
        load(tmp_path, {"public": PUBLIC}, {"fp": policy})
    (problem,) = caught.value.problems
    assert problem.file.endswith("policies/fp.xml") and problem.line == 5
    assert "70000" in problem.message
