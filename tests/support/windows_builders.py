"""Builders shared by the Windows tests: requirements and rulesets from rule strings."""

from __future__ import annotations

import ipaddress

from checker.errors import Location
from checker.findings import Severity
from checker.model.windows import ProfileSettings, WindowsRuleset
from checker.parsers.windows.windows_rule_string import parse_rule_string
from checker.policies.model import PROFILES, Direction, Expect, Requirement

PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "any": None}


def cidr(text: str) -> tuple[int, int, int]:
    network = ipaddress.ip_network(text, strict=False)
    return network.version, int(network.network_address), int(network.broadcast_address)


def requirement(
    expect: str = "allow",
    direction: str = "inbound",
    protocol: str = "tcp",
    ports: list[tuple[int, int]] | None = None,
    remote: list[str] | None = None,
    except_remote: list[str] = (),  # type: ignore[assignment]
    program: str | None = None,
    service: str | None = None,
    profiles: frozenset[str] = PROFILES,
    families: frozenset[int] = frozenset({4}),
    icmp_type: int | None = None,
) -> Requirement:
    return Requirement(
        policy_id="test",
        rule_id="r1",
        title="test requirement",
        expect=Expect(expect),
        direction=Direction(direction),
        protocol=PROTOCOLS[protocol],
        ports=tuple(ports) if ports is not None else None,
        remote=tuple(cidr(r) for r in remote) if remote is not None else None,
        except_remote=tuple(cidr(r) for r in except_remote),
        local=None,
        program=program,
        service=service,
        profiles=profiles,
        icmp_type=icmp_type,
        families=families,
        severity=Severity.MEDIUM,
        origin=Location("policy.yaml", 1),
    )


def ruleset(
    *rules: str,
    store: str = "local",
    profiles: dict[str, dict[str, object]] | None = None,
    active: frozenset[str] | None = None,
    origin: str = "test.reg",
) -> WindowsRuleset:
    """Rules given as `ID=v2.30|…|` strings; each gets line number = its position + 3."""
    parsed = []
    for index, text in enumerate(rules):
        rule_id, _, rule_text = text.partition("=")
        rule, _ = parse_rule_string(rule_id, rule_text, Location(origin, index + 3), store)
        parsed.append(rule)
    settings = {
        name: ProfileSettings(profile=name, store=store, origin=Location(origin, 50), **values)  # type: ignore[arg-type]
        for name, values in (profiles or {}).items()
    }
    return WindowsRuleset(tuple(parsed), settings, active, origin, (), "test")
