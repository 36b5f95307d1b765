"""Small builders for engine tests: requirements and hand-made netfilter models."""

from __future__ import annotations

import ipaddress

from checker.errors import Location
from checker.findings import Severity
from checker.model.netfilter import (
    Chain,
    Hook,
    Match,
    Ranges,
    Rule,
    Ruleset,
    Table,
    Target,
    Verdict,
)
from checker.policies.model import Direction, Expect, Requirement

FILE = "host.rules"


def req(
    expect: str = "allow",
    direction: str = "inbound",
    protocol: int | None = 6,
    ports: tuple[tuple[int, int], ...] | None = ((22, 22),),
    remote: list[str] | None = None,
    except_remote: list[str] = (),
    families: frozenset[int] = frozenset({4}),
    icmp_type: int | None = None,
) -> Requirement:
    def ranges(nets):
        out = []
        for net in nets:
            n = ipaddress.ip_network(net)
            out.append((n.version, int(n.network_address), int(n.broadcast_address)))
        return tuple(out)

    return Requirement(
        policy_id="p",
        rule_id="r",
        title="t",
        expect=Expect(expect),
        direction=Direction(direction),
        protocol=protocol,
        ports=ports,
        remote=ranges(remote) if remote is not None else None,
        except_remote=ranges(except_remote),
        local=None,
        program=None,
        service=None,
        profiles=frozenset({"domain", "private", "public"}),
        icmp_type=icmp_type,
        families=families,
        severity=Severity.MEDIUM,
        origin=Location("policy.yaml", 3, 5),
    )


_line = [0]


def rule(
    *matches: Match, verdict: Verdict = Verdict.ACCEPT, chain: str | None = None, line: int = 0
) -> Rule:
    _line[0] += 1
    name = chain or verdict.value.upper()
    return Rule(
        tuple(matches),
        Target(verdict, name, chain),
        Location(FILE, line or _line[0]),
        f"rule -> {name}",
    )


def tcp_dport(port: int) -> tuple[Match, Match]:
    return Ranges("proto", ((6, 6),)), Ranges("dport", ((port, port),))


def base(
    name: str, hook: Hook, policy: Verdict, *rules: Rule, priority: int = 0, kind: str = "filter"
) -> Chain:
    return Chain(name, tuple(rules), hook, priority, policy, Location(FILE, 1), kind)


def user(name: str, *rules: Rule) -> Chain:
    return Chain(name, tuple(rules))


def ruleset(
    *chains: Chain, family: str = "ip", name: str = "filter", families=frozenset({4})
) -> Ruleset:
    return Ruleset((Table(family, name, tuple(chains), Location(FILE, 1)),), families, FILE)
