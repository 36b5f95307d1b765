"""Read a requirement back from the sentence a version 1 JSON report describes it with.

Only for version 1 input: a version 2 report carries each rule's requirement as fields
(checker.reports.json_fields), which `fwcheck merge` reads without parsing any text. A version 1
shard's JSON report keeps each rule's `description` (checker.reports.data.describe_requirement:
"inbound tcp to port 23 from any address over IPv4 and IPv6 must be denied"), not the resolved
`Requirement`. `fwcheck merge` needs the Requirement for SARIF and HTML, whose texts are built
from it. The sentence is regular, so it is parsed here; the parse is accepted only when
describing the parsed requirement gives the very same sentence back, so a merged report can
never describe a rule differently from the shard that checked it. Anything else gives None and
the merged reports fall back to what the findings themselves carry.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from checker.errors import Location
from checker.findings import Severity
from checker.policies import settings
from checker.policies.model import Direction, Expect, IpRange, PortRange, Requirement
from checker.policies.rules import setting_requirement
from checker.reports.data import describe_requirement

_PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58}
_RANGE = r"[0-9A-Fa-f:./-]+"
_RANGES = rf"{_RANGE}(?:, {_RANGE})*"
_SENTENCE = re.compile(
    r"^(?P<direction>inbound|outbound)"
    r" (?P<protocol>traffic of any protocol|icmpv6|icmp|tcp|udp|protocol \d+)"
    r"(?: to ports? (?P<ports>\(none\)|\d+(?:-\d+)?(?:, \d+(?:-\d+)?)*))?"
    r"(?: from source ports? (?P<sports>\(none\)|\d+(?:-\d+)?(?:, \d+(?:-\d+)?)*))?"
    r"(?: \(ICMP type (?P<icmp>\d+)\))?"
    rf" (?:from|to) (?P<remote>any address|{_RANGES})"
    rf"(?: except (?P<except>{_RANGES}))?"
    rf"(?: on local (?P<local>{_RANGES}))?"
    r"(?: for program (?P<program>.+?))?"
    r"(?: for service (?P<service>.+?))?"
    r"(?: in profile\(s\) (?P<profiles>[a-z]+(?:, [a-z]+)*))?"
    r"(?: over (?P<families>IPv4 and IPv6|IPv4|IPv6))?"
    r" must be (?P<verb>allowed|denied)$",
    re.S,
)


def _ranges(text: str) -> tuple[IpRange, ...]:
    ranges: list[IpRange] = []
    for token in text.split(", "):
        if "-" in token:
            first_text, last_text = token.split("-", 1)
            first = ipaddress.ip_address(first_text)
            last = ipaddress.ip_address(last_text)
            ranges.append((first.version, int(first), int(last)))
        else:
            network = ipaddress.ip_network(token, strict=False)
            ranges.append(
                (network.version, int(network.network_address), int(network.broadcast_address))
            )
    return tuple(ranges)


def _ports(text: str) -> tuple[PortRange, ...]:
    if text == "(none)":
        return ()
    ports: list[PortRange] = []
    for token in text.split(", "):
        first, _, last = token.partition("-")
        ports.append((int(first), int(last or first)))
    return tuple(ports)


def requirement_from_rule(rule: dict[str, Any]) -> Requirement | None:
    """The Requirement a JSON report's rule entry describes, or None when it cannot be exact."""
    description = rule.get("description")
    if not isinstance(description, str):
        return None
    if rule.get("setting") is not None:
        return _setting_rule(rule, description)
    match = _SENTENCE.match(description)
    if match is None:
        return None
    try:
        protocol_text = match["protocol"]
        if protocol_text == "traffic of any protocol":
            protocol = None
        elif protocol_text.startswith("protocol "):
            protocol = int(protocol_text.split()[1])
        else:
            protocol = _PROTOCOLS[protocol_text]
        families_text = match["families"] or ""
        requirement = Requirement(
            policy_id=str(rule["policy"]),
            rule_id=str(rule["rule"]),
            title=str(rule.get("title", "")),
            expect=Expect.ALLOW if match["verb"] == "allowed" else Expect.DENY,
            direction=Direction(match["direction"]),
            protocol=protocol,
            ports=_ports(match["ports"]) if match["ports"] is not None else None,
            remote=None if match["remote"] == "any address" else _ranges(match["remote"]),
            except_remote=_ranges(match["except"]) if match["except"] else (),
            local=_ranges(match["local"]) if match["local"] else None,
            program=match["program"],
            service=match["service"],
            profiles=frozenset(match["profiles"].split(", ")) if match["profiles"] else frozenset(),
            icmp_type=int(match["icmp"]) if match["icmp"] is not None else None,
            families=frozenset(int(f) for f in re.findall(r"IPv(\d)", families_text)),
            severity=Severity(rule["severity"]),
            origin=Location(str(rule["file"]), int(rule["line"])),
            policy_title=str(rule.get("policy_title", "")),
            source=rule.get("source"),
            source_ports=_ports(match["sports"]) if match["sports"] is not None else None,
            controls=tuple(str(control) for control in rule.get("controls", ())),
        )
    except (KeyError, ValueError, TypeError):
        return None
    return requirement if describe_requirement(requirement) == description else None


def _setting_rule(rule: dict[str, Any], description: str) -> Requirement | None:
    """A settings rule, read back from its structured `setting` entry."""
    try:
        requirement = setting_requirement(
            settings.from_json(rule["setting"]),
            policy_id=str(rule["policy"]),
            rule_id=str(rule["rule"]),
            title=str(rule.get("title", "")),
            severity=Severity(rule["severity"]),
            origin=Location(str(rule["file"]), int(rule["line"])),
            policy_title=str(rule.get("policy_title", "")),
            source=rule.get("source"),
            controls=tuple(str(control) for control in rule.get("controls", ())),
        )
    except (KeyError, ValueError, TypeError):
        return None
    return requirement if describe_requirement(requirement) == description else None
