"""netsh advfirewall `show rule name=all verbose` text. The fixture was written from the format
documented in "Netsh AdvFirewall Firewall Commands" (Microsoft Learn) and netsh's own /? help
(label column of 38 characters, ICMP `Type Code` table, trailing `Ok.`): no Windows host here."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.engine.windows.engine import check
from checker.errors import ParseError
from checker.findings import Status
from checker.parsers.windows import netsh_text, windows_reg
from checker.policies.loader import load_policy_set

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[3]


def parsed():  # type: ignore[no-untyped-def]
    return netsh_text.parse((DATA / "pads4-server.netsh.txt").read_bytes(), "pads4.netsh.txt")


def test_every_rule_read_and_lossy_warning() -> None:
    ruleset = parsed()
    assert netsh_text.sniff((DATA / "pads4-server.netsh.txt").read_bytes())
    assert len(ruleset.rules) == 10
    assert [w.code for w in ruleset.warnings] == ["netsh-lossy"]
    assert ruleset.profiles == {}
    by_name = {rule.name: rule for rule in ruleset.rules}
    rabbit = by_name["RabbitMQ (local only)"]
    assert rabbit.local_ports == ("5671-5672", "15671-15672")
    assert rabbit.remote_addresses == ("127.0.0.1", "::1")
    icmp = by_name["Core Networking - Neighbor Discovery Advertisement (ICMPv6-In)"]
    assert (icmp.protocol, icmp.icmp_types, icmp.program) == (58, ("136:*",), "System")
    smb = by_name["File and Printer Sharing (SMB-In)"]
    assert (smb.enabled, smb.profiles, smb.remote_addresses) == (
        False,
        frozenset({"private", "public"}),
        ("LocalSubnet",),
    )
    dhcp = by_name["Core Networking - Dynamic Host Configuration Protocol (DHCP-In)"]
    assert (dhcp.service, dhcp.remote_ports, dhcp.origin.line) == ("dhcp", ("67",), 104)
    assert "\n" not in dhcp.text and "Service: dhcp" in dhcp.text


def test_netsh_and_reg_agree_on_pads4() -> None:
    reg_path = REPO / "examples" / "windows" / "pads4-server-compliant.reg"
    from_reg = windows_reg.parse(reg_path.read_bytes(), str(reg_path))
    from_text = parsed()
    requirements = load_policy_set([REPO / "policies"]).requirements_for(
        ["pads4-server", "baseline"]
    )
    for requirement in requirements:
        a, b = check(from_text, requirement), check(from_reg, requirement)
        assert (a.status, a.counterexample) == (b.status, b.counterexample), requirement.key
    assert check(from_text, requirements[0]).status == Status.PASS


def test_garbled_lines_are_parse_errors() -> None:
    text = (
        (DATA / "pads4-server.netsh.txt")
        .read_text()
        .replace(
            "Direction:                            In",
            "Direction:                            Sideways",
            1,
        )
    )
    with pytest.raises(ParseError) as caught:
        netsh_text.parse(text.encode(), "bad.txt")
    assert caught.value.problems[0].line == 2
