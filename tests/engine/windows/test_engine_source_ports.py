"""Source ports and empty requirements in the Windows engine (docs/policy-format.md, "Source
ports", "Empty rules").

Port semantics: MS-FASP 2.2.37 FW_RULE (LocalPorts, RemotePorts: for an inbound rule the remote
port is the sender's source port; for an outbound rule the local port is this host's source
port) and MS-GPFAS 2.2.2.19 (`RPort`/`LPort` in the rule string).
"""

from __future__ import annotations

from dataclasses import replace

from windows_builders import requirement, ruleset

from checker.engine.windows.engine import check
from checker.findings import Status

FROM_67 = "DHCP=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=17|LPort=68|RPort=67|Name=DHCP|"
BLOCK_DEFAULT = {"domain": {"enabled": True, "default_inbound": "block"}}


def test_deny_fails_for_a_rule_that_allows_one_source_port() -> None:
    verdict = check(
        ruleset(FROM_67, profiles=BLOCK_DEFAULT),
        requirement("deny", protocol="udp", ports=[(68, 68)], profiles=frozenset({"domain"})),
    )
    assert verdict.status is Status.FAIL, verdict.message
    assert verdict.counterexample is not None and ":67 -> " in verdict.counterexample


def test_source_port_narrows_the_requirement() -> None:
    allow = requirement("allow", protocol="udp", ports=[(68, 68)], profiles=frozenset({"domain"}))
    rules = ruleset(FROM_67, profiles=BLOCK_DEFAULT)
    assert check(rules, allow).status is Status.FAIL
    assert check(rules, replace(allow, source_ports=((67, 67),))).status is Status.PASS


def test_a_requirement_with_no_flow_is_an_error_never_a_pass() -> None:
    """Was a pass: an IPv4 question whose remote holds only IPv6 addresses checks nothing."""
    empty = requirement("deny", protocol="tcp", ports=[(22, 22)], remote=["2001:db8::/32"])
    verdict = check(ruleset(FROM_67), empty)
    assert verdict.status is Status.ERROR
    assert "describes no flow" in verdict.message


def test_counterexample_remote_is_a_host_address() -> None:
    """Issue 11 defect 8: a rule for 10.1.2.0/24 let the counterexample name 10.1.2.255, the
    subnet's broadcast address, as the sender."""
    subnet = "NET=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=22|RA4=10.1.2.0/24|Name=SSH from net|"
    verdict = check(
        ruleset(subnet, profiles=BLOCK_DEFAULT),
        requirement("deny", protocol="tcp", ports=[(22, 22)], profiles=frozenset({"domain"})),
    )
    assert verdict.status is Status.FAIL, verdict.message
    assert verdict.counterexample is not None
    assert verdict.counterexample.startswith("tcp 10.1.2.254:"), verdict.counterexample
