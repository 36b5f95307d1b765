"""Exposure (checker.engine.netfilter.exposure) through the whole pipeline: a firewall export plus an
`ss -tulpn` output give one result per reachable listening socket and "allowed but unused"
for declared ports nobody listens on."""

from __future__ import annotations

from dataclasses import replace

from builders import req

from checker.findings import Severity, Status
from checker.pipeline import evaluate_target

V4 = b"""*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -s 10.0.0.0/8 --dport 22 -j ACCEPT
-A INPUT -p tcp --dport 8080 -j ACCEPT
-A INPUT -p udp -s 192.168.0.0/16 --dport 53 -j ACCEPT
-A INPUT -p tcp --dport 631 -j ACCEPT
-A INPUT -p tcp --dport 9000 -m limit --limit 5/sec -j ACCEPT
COMMIT
"""
V6 = b"""*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
"""
SS = b"""\
udp UNCONN 0 0    192.0.2.5:53   0.0.0.0:* users:(("dnsmasq",pid=5,fd=8))
tcp LISTEN 0 128  127.0.0.1:631  0.0.0.0:* users:(("cupsd",pid=6,fd=6))
tcp LISTEN 0 128    0.0.0.0:8080 0.0.0.0:* users:(("java",pid=7,fd=3))
tcp LISTEN 0 128          *:22         *:* users:(("sshd",pid=8,fd=4))
tcp LISTEN 0 128          *:3306       *:* users:(("mysqld",pid=9,fd=4))
tcp LISTEN 0 128    0.0.0.0:9000 0.0.0.0:* users:(("app",pid=10,fd=4))
"""
SSH = replace(req("allow", remote=["10.0.0.0/8"]), rule_id="ssh")
HTTPS = replace(req("allow", ports=((443, 443),)), rule_id="https")


def results(requirements=(SSH, HTTPS)):
    sources = [("h.iptables-save", V4), ("h.ip6tables-save", V6), ("ss.txt", SS)]
    findings, platform, problems = evaluate_target("h", sources, list(requirements))
    assert platform == "netfilter" and not problems
    return {f.rule: f for f in findings if f.policy == "exposure"}


def test_exposed_declared_and_unreachable_sockets() -> None:
    found = results()
    # Reachable from anywhere, no allow rule: exposed.
    web = found["tcp-8080"]
    assert web.status is Status.FAIL and web.severity is Severity.HIGH
    assert "tcp 0.0.0.0:8080 (java) is exposed and no allow rule declares it" in web.message
    assert [(e.file, e.line) for e in web.evidence] == [("h.iptables-save", 7), ("ss.txt", 3)]
    assert dict(web.details)["reachable from"] == "anywhere (ipv4)"
    dns = found["udp-53"]
    assert (
        dns.status is Status.FAIL and dict(dns.details)["reachable from"] == "192.168.0.0/16 (ipv4)"
    )
    # Declared: a pass naming the rule.
    ssh = found["tcp-22"]
    assert ssh.status is Status.PASS and dict(ssh.details)["declared by"] == "p/ssh"
    # An undecidable match: indeterminate, with the reason.
    assert found["tcp-9000"].status is Status.INDETERMINATE
    assert "limit" in found["tcp-9000"].message
    # Loopback-only (cupsd, though the firewall accepts 631) and refused (mysqld): no result.
    assert "tcp-631" not in found and "tcp-3306" not in found
    # Declared but nothing listens on 443: info, never a gate failure.
    unused = found["unused-p-https"]
    assert unused.status is Status.PASS and unused.severity is Severity.INFO
    assert unused.message.startswith("allowed but unused: p/https allows tcp 443 inbound")


def test_declaring_the_service_passes() -> None:
    web = replace(req("allow", ports=((8080, 8080),)), rule_id="web")
    found = results((SSH, web))
    assert found["tcp-8080"].status is Status.PASS
    assert "unused-p-web" not in found


def test_listening_sockets_alone_are_no_target() -> None:
    findings, platform, problems = evaluate_target("h", [("ss.txt", SS)], [SSH])
    assert not findings and platform is None
    (problem,) = problems
    assert problem.code == "no-ruleset" and "only listening sockets" in problem.message
