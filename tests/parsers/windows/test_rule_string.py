"""The MS-GPFAS 2.2.2.19 rule-string grammar, field by field."""

from __future__ import annotations

import pytest

from checker.errors import Location, ParseError
from checker.model.windows import ALL_PROFILES
from checker.parsers.windows.windows_rule_string import parse_rule_string

HERE = Location("rules.reg", 7)


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_rule_string("R", text, HERE, "local")


def test_case_insensitive_keys_and_values() -> None:
    rule, warnings = parse(
        "V2.30|action=ALLOW|ACTIVE=true|dir=in|protocol=TCP|lport=80|profile=PUBLIC|"
    )
    assert (rule.action, rule.enabled, rule.direction, rule.protocol) == ("allow", True, "in", 6)
    assert rule.profiles == frozenset({"public"}) and rule.local_ports == ("80",) and warnings == ()


def test_repeated_keys_and_comma_lists_merge() -> None:
    rule, _ = parse(
        "v2.10|Action=Allow|Active=TRUE|Dir=In|Protocol=17|LPort=53,5353|LPort=67-68|LPort2_10=8000-8010|Profile=Domain|Profile=Private|"
    )
    assert rule.local_ports == ("53", "5353", "67-68", "8000-8010")
    assert rule.profiles == frozenset({"domain", "private"})


def test_defaults_missing_profile_protocol_active() -> None:
    rule, _ = parse("v2.30|Action=Block|Dir=Out|Name=x|")
    assert rule.enabled is False and rule.profiles == ALL_PROFILES and rule.protocol is None
    assert rule.local_ports == rule.remote_ports == rule.remote_addresses == ()


def test_addresses_and_keywords_normalized() -> None:
    rule, _ = parse(
        "v2.30|Action=Allow|Active=TRUE|Dir=In|RA4=LocalSubnet|RA4=10.1.0.0/255.255.0.0|RA4=192.0.2.1-192.0.2.9|"
        "RA6=fe80::/64|RA42=IntErnet|RA62=Ply2Renders|LA4=192.0.2.10|"
    )
    assert rule.remote_addresses == (
        "LocalSubnet4",
        "10.1.0.0/16",
        "192.0.2.1-192.0.2.9",
        "fe80::/64",
        "Internet4",
        "PlayToDevice6",
    )
    assert rule.local_addresses == ("192.0.2.10",)


def test_port_keywords_icmp_security_edge() -> None:
    rule, _ = parse(
        "v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=RPC-EPMap|LPort2_10=IPTLSIn|LPort2_20=Ply2Disc|"
        "Security=AuthenticateEncrypt|Edge=TRUE|Defer=User|IFType=Wireless|"
    )
    assert rule.local_ports == ("RPC-EPMap", "IPHTTPSIn", "PlayToDiscovery")
    assert rule.security == ("encrypt",) and rule.edge_traversal == "defer-user"
    assert rule.interface_types == ("wireless",)
    icmp, _ = parse("v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=1|ICMP4=8:*|ICMP4=3:4|")
    assert icmp.icmp_types == ("8:*", "3:4")


def test_unknown_keys_kept_and_reported() -> None:
    rule, warnings = parse("v2.31|Action=Allow|Active=TRUE|Dir=In|FutureKey=1|Name=n|")
    assert rule.unknown == (("FutureKey", "1"),)
    assert [w.code for w in warnings] == ["windows-unknown-key"]
    assert (warnings[0].file, warnings[0].line) == ("rules.reg", 7)


@pytest.mark.parametrize(
    "text",
    [
        "2.30|Action=Allow|Dir=In|",
        "v2.30|Dir=In|",
        "v2.30|Action=Allow|",
        "v2.30|Action=Maybe|Dir=In|",
        "v2.30|Action=Allow|Dir=Up|",
        "v2.30|Action=Allow|Dir=In|Protocol=300|",
        "v2.30|Action=Allow|Dir=In|LPort=70000|",
        "v2.30|Action=Allow|Dir=In|RA4=fe80::1|",
        "v2.30|Action=Allow|Dir=In|Profile=Home|",
        "v2.30|Action=Allow|Dir=In|NoEquals|",
        "v2.30|Action=Allow|Action=Block|Dir=In|",
    ],
)
def test_garbled_rules_raise_with_location(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(text)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line, problem.code) == ("rules.reg", 7, "windows-rule")
