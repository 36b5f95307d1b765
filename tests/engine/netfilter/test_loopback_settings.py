"""The loopback and open-ports settings (checker.engine.netfilter.loopback, .open_ports;
docs/controls.md) on real parser output. tests/kernel/test_oracle_loopback.py checks the
loopback verdicts against the kernel; this file pins the cases one by one.

Kernel facts the verdicts rest on: ip6_rcv_core drops IPv6 packets with source ::1 arriving on
a non-loopback device before netfilter (RFC 4291 2.5.3); ip_route_input_slow drops 127.0.0.0/8
sources on such a device as martians unless net.ipv4.conf.<dev>.route_localnet=1, which no
export shows - so IPv4 is decided by the rules alone."""

from __future__ import annotations

import pytest

from checker import parsers
from checker.engine import settings
from checker.errors import Location
from checker.findings import Severity, Status
from checker.policies.rules import setting_requirement
from checker.policies.settings import setting_spec


def _models(**files: str) -> list[object]:
    models: list[object] = []
    for name, text in files.items():
        origin = name.replace("_", ".")
        models.append(parsers.detect(text.encode(), origin).parse(text.encode(), origin))
    return models


def _check(models: list[object], **setting: str):  # type: ignore[no-untyped-def]
    requirement = setting_requirement(
        setting_spec(setting),
        policy_id="p",
        rule_id="r",
        title="t",
        severity=Severity.MEDIUM,
        origin=Location("p.yaml", 1),
        policy_title="",
        source=None,
        controls=(),
    )
    return settings.check(models, requirement)


def _v4(rules: str, output: str = "ACCEPT") -> str:
    return (
        f"*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT {output} [0:0]\n{rules}COMMIT\n"
    )


CIS = (
    "-A INPUT -i lo -j ACCEPT\n-A INPUT -s 127.0.0.0/8 -j DROP\n"
    "-A INPUT -m state --state ESTABLISHED -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\n"
)
SPOOF = {"netfilter_hook": "input", "spoofed_loopback": "drop", "family": "ipv4"}


def test_cis_order_drops_spoofed_loopback_and_names_the_drop() -> None:
    verdict = _check(_models(v4_rules=_v4(CIS)), **SPOOF)
    assert verdict.status is Status.PASS, verdict.message
    assert any("127.0.0.0/8 -j DROP" in e.text for e in verdict.evidence)


def test_established_before_the_drop_lets_spoofed_replies_in() -> None:
    rules = "-A INPUT -m state --state ESTABLISHED -j ACCEPT\n" + CIS
    verdict = _check(_models(v4_rules=_v4(rules)), **SPOOF)
    assert verdict.status is Status.FAIL
    assert "(ESTABLISHED) is accepted" in verdict.message and "route_localnet" in verdict.message
    assert verdict.counterexample is not None and "127.0.0.1" in verdict.counterexample


def test_a_port_accepted_before_the_drop_fails_on_new_connections() -> None:
    rules = "-A INPUT -p tcp --dport 22 -j ACCEPT\n" + CIS
    verdict = _check(_models(v4_rules=_v4(rules)), **SPOOF)
    assert verdict.status is Status.FAIL
    assert "first packet" in verdict.message and ":22 " in verdict.message


def test_addrtype_sees_a_loopback_source_as_local() -> None:
    # `--src-type LOCAL` matches 127.0.0.0/8 (a local route): the spoofed packet is dropped.
    rules = "-A INPUT -i lo -j ACCEPT\n-A INPUT -m addrtype --src-type LOCAL -j DROP\n-A INPUT -j ACCEPT\n"
    verdict = _check(_models(v4_rules=_v4(rules)), **SPOOF)
    assert verdict.status is Status.PASS, verdict.message


def test_ipv6_passes_on_the_kernels_own_drop_even_with_an_open_ruleset() -> None:
    six = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    models = _models(v6_ip6tables=six.replace("*filter", "# ip6tables-save\n*filter"))
    verdict = _check(models, netfilter_hook="input", spoofed_loopback="drop", family="ipv6")
    assert verdict.status is Status.PASS
    assert "ip6_rcv_core" in verdict.evidence[0].text


def test_a_family_no_export_describes_is_indeterminate() -> None:
    verdict = _check(_models(v4_rules=_v4(CIS)), netfilter_hook="input", loopback="accept")
    assert verdict.status is Status.INDETERMINATE and "IPv6" in verdict.message


def test_loopback_accepted_needs_both_hooks() -> None:
    models = _models(v4_rules=_v4(CIS, output="DROP"))
    inbound = _check(models, netfilter_hook="input", loopback="accept", family="ipv4")
    outbound = _check(models, netfilter_hook="output", loopback="accept", family="ipv4")
    assert inbound.status is Status.PASS
    assert outbound.status is Status.FAIL and "out lo" in outbound.message


def test_flow_rules_still_leave_loopback_out() -> None:
    # The loopback settings change nothing for flow rules: "deny from anywhere" on a host that
    # accepts lo traffic still passes (loopback is out of scope for `remote`).
    from checker.engine.netfilter import engine
    from checker.policies.model import PROFILES, Direction, Expect, Requirement

    requirement = Requirement(
        policy_id="p", rule_id="r", title="t", expect=Expect.DENY,
        direction=Direction.INBOUND, protocol=6, ports=((3306, 3306),), remote=None,
        except_remote=(), local=None, program=None, service=None, profiles=PROFILES,
        icmp_type=None, families=frozenset({4}), severity=Severity.HIGH,
        origin=Location("p.yaml", 1),
    )  # fmt: skip
    models = _models(v4_rules=_v4(CIS))
    assert engine.check(models, requirement).status is Status.PASS  # type: ignore[arg-type]


SS = "Netid State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n"


def _ss(*lines: str) -> str:
    return SS + "".join(
        f'tcp   LISTEN 0      128 {where}:{port} 0.0.0.0:*    users:(("{name}",pid=1,fd=3))\n'
        for where, port, name in (line.split() for line in lines)
    )


OPEN = {"netfilter_hook": "input", "open_ports": "accepted_by_rule", "family": "ipv4"}


def test_every_open_port_accepted_by_a_rule_passes() -> None:
    models = _models(v4_rules=_v4(CIS), ss_txt=_ss("0.0.0.0 22 sshd", "127.0.0.1 6379 redis"))
    verdict = _check(models, **OPEN)
    assert verdict.status is Status.PASS, verdict.message
    assert any("--dport 22" in e.text for e in verdict.evidence)


def test_an_open_port_no_rule_accepts_fails() -> None:
    models = _models(v4_rules=_v4(CIS), ss_txt=_ss("0.0.0.0 22 sshd", "0.0.0.0 3306 mysqld"))
    verdict = _check(models, **OPEN)
    assert verdict.status is Status.FAIL
    assert "3306" in verdict.message and "drops every one" in verdict.message


def test_a_port_open_only_by_the_default_policy_has_no_rule() -> None:
    rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    models = _models(v4_rules=rules, ss_txt=_ss("0.0.0.0 8080 app"))
    verdict = _check(models, **OPEN)
    assert verdict.status is Status.FAIL and "only by the default policy" in verdict.message


@pytest.mark.parametrize(
    ("listening", "expected"),
    [(None, Status.INDETERMINATE), ("127.0.0.1 6379 redis", Status.PASS)],
)
def test_open_ports_need_the_listening_sockets(listening: str | None, expected: Status) -> None:
    files = {"v4_rules": _v4(CIS)}
    if listening:
        files["ss_txt"] = _ss(listening)
    assert _check(_models(**files), **OPEN).status is expected


def test_icmp_errors_are_never_new_but_are_asked_as_related_and_invalid() -> None:
    # Conntrack takes an ICMP error as RELATED (to a connection it tracks) or INVALID, never
    # NEW (nf_conntrack_proto_icmp): a stateless accept of type 3 before the drop lets it in.
    rules = "-A INPUT -i lo -j ACCEPT\n-A INPUT -p icmp --icmp-type 3 -j ACCEPT\n" + CIS
    verdict = _check(_models(v4_rules=_v4(rules)), **SPOOF)
    assert verdict.status is Status.FAIL
    assert "(RELATED) is accepted" in verdict.message and "type 3" in verdict.message
    # Dropping RELATED and INVALID first closes it; an echo request (type 8) is NEW, still asked.
    invalid = "-A INPUT -m conntrack --ctstate INVALID,RELATED -j DROP\n"
    assert _check(_models(v4_rules=_v4(invalid + rules)), **SPOOF).status is Status.PASS
    echo = "-A INPUT -m conntrack --ctstate INVALID -j DROP\n-A INPUT -p icmp --icmp-type 8 -j ACCEPT\n"
    verdict = _check(_models(v4_rules=_v4(echo + CIS)), **SPOOF)
    assert verdict.status is Status.FAIL and "type 8" in verdict.message
