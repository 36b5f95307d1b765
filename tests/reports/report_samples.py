"""Hand-written findings and requirements: the engines are written in parallel, and reports must
not depend on them. `sample_report()` holds every status, a target that could not be read, and a live
host whose evidence names no file."""

from __future__ import annotations

from checker.errors import Location
from checker.findings import Evidence, Finding, Severity, Status
from checker.policies.model import Direction, Expect, Requirement
from checker.reports.data import RunReport, TargetInfo


def requirement(
    policy: str,
    rule: str,
    *,
    title: str = "",
    severity: Severity = Severity.HIGH,
    file: str = "policies/baseline.yaml",
    line: int = 10,
    source: str | None = "CIS Debian Linux 12 Benchmark v1.0.0, 4.2.1",
    expect: Expect = Expect.DENY,
    ports: tuple[tuple[int, int], ...] | None = ((23, 23),),
) -> Requirement:
    return Requirement(
        policy_id=policy,
        rule_id=rule,
        title=title or f"{rule} title",
        expect=expect,
        direction=Direction.INBOUND,
        protocol=6,
        ports=ports,
        remote=None,
        except_remote=(),
        local=None,
        program=None,
        service=None,
        profiles=frozenset(),
        icmp_type=None,
        families=frozenset({4, 6}),
        severity=severity,
        origin=Location(file, line, 5),
        policy_title=f"{policy} policy",
        source=source,
    )


def finding(
    target: str,
    policy: str,
    rule: str,
    status: Status,
    *,
    severity: Severity = Severity.HIGH,
    message: str = "",
    counterexample: str | None = None,
    evidence: tuple[Evidence, ...] = (),
    policy_file: str | None = "policies/baseline.yaml",
    policy_line: int = 10,
    waiver_reason: str | None = None,
    title: str = "",
) -> Finding:
    return Finding(
        target=target,
        policy=policy,
        rule=rule,
        status=status,
        severity=severity,
        message=message or f"{rule} is {status.value} on {target}",
        title=title,
        counterexample=counterexample,
        evidence=evidence,
        policy_file=policy_file,
        policy_line=policy_line,
        waiver_reason=waiver_reason,
    )


WEB_RULES = "exports/web1.rules"
DB_RULES = "exports/db1.nft.json"


def sample_report() -> RunReport:
    """web1: 2 pass, 1 fail, 1 indeterminate, 1 waived (baseline) + 1 fail (ssh policy);
    db1: 1 pass, 1 fail (live host: evidence is not a file); broken: could not be read."""
    reqs = (
        requirement(
            "baseline", "no-telnet", title="Telnet is closed", severity=Severity.CRITICAL, line=10
        ),
        requirement("baseline", "no-rdp", title="RDP is closed", severity=Severity.HIGH, line=20),
        requirement("baseline", "no-smb", title="SMB is closed", severity=Severity.MEDIUM, line=30),
        requirement(
            "baseline",
            "icmp-echo",
            title="Ping answers",
            severity=Severity.LOW,
            line=40,
            expect=Expect.ALLOW,
        ),
        requirement("baseline", "no-x11", title="X11 is closed", severity=Severity.INFO, line=50),
        requirement(
            "ssh",
            "admin-only",
            title="SSH only from admins",
            file="policies/ssh.yaml",
            line=7,
            source="https://example.org/ssh-standard",
        ),
    )
    telnet = Evidence(WEB_RULES, 12, "[5:300] -A INPUT -p tcp -m tcp --dport 23 -j ACCEPT")
    findings = (
        finding(
            "web1",
            "baseline",
            "no-telnet",
            Status.FAIL,
            severity=Severity.CRITICAL,
            counterexample="tcp 203.0.113.7:40000 -> :23 ipv4",
            evidence=(telnet, Evidence(WEB_RULES, 3, ":INPUT DROP [0:0]")),
            policy_line=10,
        ),
        finding(
            "web1",
            "baseline",
            "no-rdp",
            Status.PASS,
            evidence=(Evidence(WEB_RULES, 3, ":INPUT DROP [0:0]"),),
            policy_line=20,
        ),
        finding(
            "web1",
            "baseline",
            "no-smb",
            Status.INDETERMINATE,
            severity=Severity.MEDIUM,
            message="ipset 'blocked' contents not supplied",
            counterexample="tcp 198.51.100.1:1024 -> :445 ipv4",
            evidence=(Evidence(WEB_RULES, 14, "-A INPUT -m set --match-set blocked src -j DROP"),),
            policy_line=30,
        ),
        finding(
            "web1", "baseline", "icmp-echo", Status.PASS, severity=Severity.LOW, policy_line=40
        ),
        finding(
            "web1",
            "baseline",
            "no-x11",
            Status.WAIVED,
            severity=Severity.INFO,
            counterexample="tcp 10.0.0.1:1024 -> :6000 ipv4",
            evidence=(Evidence(WEB_RULES, 15, "-A INPUT -p tcp --dport 6000 -j ACCEPT"),),
            policy_line=50,
            waiver_reason="lab display server (owner ops, expires 2099-01-01)",
        ),
        finding(
            "web1",
            "ssh",
            "admin-only",
            Status.FAIL,
            counterexample="tcp 192.0.2.9:1024 -> :22 ipv6",
            evidence=(Evidence(WEB_RULES, 16, "-A INPUT -p tcp --dport 22 -j ACCEPT"),),
            policy_file="policies/ssh.yaml",
            policy_line=7,
        ),
        finding(
            "db1", "baseline", "no-telnet", Status.PASS, severity=Severity.CRITICAL, policy_line=10
        ),
        finding(
            "db1",
            "baseline",
            "no-rdp",
            Status.FAIL,
            counterexample="tcp 203.0.113.7:40000 -> :3389 ipv4",
            evidence=(Evidence("ssh://db1.example.net", 4, "chain input { policy accept }"),),
            policy_line=20,
        ),
    )
    targets = (
        TargetInfo("web1", files=(WEB_RULES,), roles=("web",), platform="netfilter"),
        TargetInfo("db1", files=(), roles=("db",), platform="netfilter"),
        TargetInfo(
            "broken",
            files=("exports/broken.rules",),
            roles=("web",),
            platform=None,
            error="exports/broken.rules:3: unknown option --frobnicate",
        ),
    )
    return RunReport(
        tool_version="0.1.0",
        started_at="2024-05-01T12:34:56Z",
        targets=targets,
        findings=findings,
        requirements=reqs,
        notes=("policies from ./policies",),
    )
