"""The JSON report's structured fields (version 2), written and read back by the same code.

`fwcheck merge` rebuilds each shard's requirements and outcomes from these fields, so a merged
report equals the unsharded run without reading any sentence back (version 1 reports are read
by checker.fleet.requirement_text). Every reader raises ValueError, KeyError or TypeError on
a malformed field; the caller names the file.

Address sets are lists of texts, one network ("10.0.0.0/8") or range ("10.0.0.5-10.0.0.9")
each, as the policy format writes them: exact (a range is written as a network only when it is
one) and readable, where 128-bit integers would not survive JSON readers that use doubles.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from checker.errors import Location
from checker.findings import Evidence, Flow, Outcome, ParamValue, Reason, Severity, Status
from checker.policies import settings
from checker.policies.model import Direction, Expect, IpRange, PortRange, Requirement
from checker.policies.rules import setting_requirement


def _range_text(family: int, first: int, last: int) -> str:
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    start, end = cls(first), cls(last)
    nets = list(ipaddress.summarize_address_range(start, end))
    return str(nets[0]) if len(nets) == 1 else f"{start}-{end}"


def _range(text: str) -> IpRange:
    if "-" in text:
        first_text, last_text = text.split("-", 1)
        first = ipaddress.ip_address(first_text)
        last = ipaddress.ip_address(last_text)
        if first.version != last.version or int(first) > int(last):
            raise ValueError(f"not an address range: {text!r}")
        return (first.version, int(first), int(last))
    network = ipaddress.ip_network(text)
    return (network.version, int(network.network_address), int(network.broadcast_address))


def _ranges(value: Any) -> tuple[IpRange, ...]:
    if not isinstance(value, list):
        raise TypeError("an address set is a list")
    return tuple(_range(str(item)) for item in value)


def _ports_json(ports: tuple[PortRange, ...] | None) -> list[list[int]] | None:
    return None if ports is None else [[a, b] for a, b in ports]


def _ports(value: Any) -> tuple[PortRange, ...] | None:
    if value is None:
        return None
    ports: list[PortRange] = []
    for first, last in value:
        if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last <= 65535):
            raise ValueError(f"not a port range: {[first, last]!r}")
        ports.append((first, last))
    return tuple(ports)


def requirement_to_json(req: Requirement) -> dict[str, Any] | None:
    """The flow fields of a requirement; None for a settings requirement (its `setting` entry
    says what is checked)."""
    if req.setting is not None:
        return None
    return {
        "direction": req.direction.value,
        "expect": req.expect.value,
        "protocol": req.protocol,
        "ports": _ports_json(req.ports),
        "source_ports": _ports_json(req.source_ports),
        "remote": None if req.remote is None else [_range_text(*r) for r in req.remote],
        "except_remote": [_range_text(*r) for r in req.except_remote],
        "local": None if req.local is None else [_range_text(*r) for r in req.local],
        "program": req.program,
        "service": req.service,
        "profiles": sorted(req.profiles),
        "icmp_type": req.icmp_type,
        "families": sorted(req.families),
        "exclusive": req.exclusive,
    }


def requirement_from_rule(rule: dict[str, Any]) -> Requirement:
    """The Requirement a version 2 rule entry holds."""
    common: dict[str, Any] = {
        "policy_id": str(rule["policy"]),
        "rule_id": str(rule["rule"]),
        "title": str(rule.get("title", "")),
        "severity": Severity(rule["severity"]),
        "origin": Location(str(rule["file"]), int(rule["line"])),
        "policy_title": str(rule.get("policy_title", "")),
        "source": rule.get("source"),
        "controls": tuple(str(control) for control in rule.get("controls", ())),
    }
    if rule.get("setting") is not None:
        return setting_requirement(settings.from_json(rule["setting"]), **common)
    flow = rule["requirement"]
    protocol = flow["protocol"]
    if protocol is not None and not (isinstance(protocol, int) and 0 <= protocol <= 255):
        raise ValueError(f"not a protocol number: {protocol!r}")
    icmp_type = flow["icmp_type"]
    if icmp_type is not None and not (isinstance(icmp_type, int) and 0 <= icmp_type <= 255):
        raise ValueError(f"not an ICMP type: {icmp_type!r}")
    families = frozenset(int(f) for f in flow["families"])
    if not families <= {4, 6}:
        raise ValueError(f"not address families: {sorted(families)!r}")
    return Requirement(
        expect=Expect(flow["expect"]),
        direction=Direction(flow["direction"]),
        protocol=protocol,
        ports=_ports(flow["ports"]),
        remote=None if flow["remote"] is None else _ranges(flow["remote"]),
        except_remote=_ranges(flow["except_remote"]),
        local=None if flow["local"] is None else _ranges(flow["local"]),
        program=flow["program"],
        service=flow["service"],
        profiles=frozenset(str(p) for p in flow["profiles"]),
        icmp_type=icmp_type,
        families=families,
        source_ports=_ports(flow["source_ports"]),
        exclusive=bool(flow["exclusive"]),
        **common,
    )


def evidence_to_json(item: Evidence) -> dict[str, Any]:
    return {
        "file": item.file,
        "line": item.line,
        "text": item.text,
        "chain": item.chain,
        "table": item.table,
        "store": item.store,
    }


def evidence_from_json(item: dict[str, Any]) -> Evidence:
    return Evidence(
        str(item["file"]),
        int(item["line"]),
        str(item["text"]),
        chain=item.get("chain"),
        table=item.get("table"),
        store=item.get("store"),
    )


_FLOW_FIELDS = (
    "family",
    "protocol",
    "source",
    "destination",
    "source_port",
    "destination_port",
    "icmp_type",
    "icmp_code",
    "interface",
    "profile",
    "program",
    "service",
    "package",
    "remote_set",
    "text",
)


def _param_json(value: ParamValue) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _param(value: Any) -> ParamValue:
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    if value is None or isinstance(value, str | int):
        return value
    raise TypeError(f"not a reason parameter: {value!r}")


def outcome_to_json(outcome: Outcome | None) -> dict[str, Any] | None:
    if outcome is None:
        return None
    flow = outcome.flow
    return {
        "status": outcome.status.value,
        "reason": {
            "code": outcome.reason.code,
            "params": {name: _param_json(value) for name, value in outcome.reason.params},
        },
        "flow": None if flow is None else {name: getattr(flow, name) for name in _FLOW_FIELDS},
    }


def outcome_from_json(value: dict[str, Any] | None) -> Outcome | None:
    if value is None:
        return None
    reason = value["reason"]
    params = tuple((str(name), _param(v)) for name, v in reason["params"].items())
    flow = value["flow"]
    return Outcome(
        Status(value["status"]),
        Reason(str(reason["code"]), params),
        None if flow is None else Flow(**{name: flow[name] for name in _FLOW_FIELDS}),
    )
