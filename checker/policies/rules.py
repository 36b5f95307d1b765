"""One policy rule, from its YAML mapping to a resolved `Requirement`.

The schema (schemas/policy.schema.json) has already checked shapes and types; this module checks
what a schema cannot say and converts values: protocol names to numbers, ports and `${param}`
references to ranges, addresses to int ranges, and the families the rule asks about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from checker import numbers
from checker.errors import Location, PolicyError, Problem
from checker.findings import Severity
from checker.model.net import LOOPBACK, PORT_PROTOCOLS
from checker.policies import addresses
from checker.policies.controls import combined
from checker.policies.model import (
    PROFILES,
    Direction,
    Expect,
    IpRange,
    Policy,
    PortRange,
    Requirement,
)
from checker.policies.params import (
    ParamError,
    ParamValue,
    looks_like_ref,
    parse_ref,
    resolve_int,
    resolve_text,
)
from checker.policies.settings import SettingSpec, setting_spec
from checker.yamlfile import JsonPath, YamlDoc

PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}
ICMP_FAMILY = {1: 4, 58: 6}
FAMILIES = {"ipv4": frozenset({4}), "ipv6": frozenset({6}), "any": frozenset({4, 6})}
MAX_PORT = 65535
# Rule keys a policy declaring `version: 1` may not use.
V1_1_KEYS = frozenset({"source_port"})


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule as written: its YAML mapping and where it sits (positions live in `doc`)."""

    doc: YamlDoc
    index: int

    @property
    def path(self) -> JsonPath:
        return ("rules", self.index)

    @property
    def data(self) -> Mapping[str, Any]:
        return self.doc.data["rules"][self.index]

    @property
    def rule_id(self) -> str:
        return str(self.data["id"])

    def location(self, *keys: str | int) -> Location:
        return self.doc.location(self.path + keys)


def _port_item(item: object, values: Mapping[str, ParamValue]) -> PortRange:
    ref = parse_ref(item)
    if ref is not None:
        port = resolve_int(ref, values)
        first, last = port, port
    elif isinstance(item, int) and not isinstance(item, bool):
        first, last = item, item
    elif isinstance(item, str) and not looks_like_ref(item):
        first_text, sep, last_text = item.strip().partition("-")
        if not numbers.is_decimal(first_text) or (sep and not numbers.is_decimal(last_text)):
            raise ValueError(f'{item!r} is not a port, a range "a-b" or "${{param}}"')
        first = numbers.to_int(first_text)
        last = numbers.to_int(last_text) if sep else first
    else:
        raise ValueError(f'{item!r} is not a port, a range "a-b" or "${{param}}" / "${{param+N}}"')
    if not 0 <= first <= MAX_PORT or not 0 <= last <= MAX_PORT:
        shown = f"{first}" if first == last else f"{first}-{last}"
        raise ValueError(f"port {shown} (from {item!r}) is outside 0-{MAX_PORT}")
    if first > last:
        raise ValueError(f"port range {item!r} runs backwards (first > last)")
    return (first, last)


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return tuple(merged)


class _Resolver:
    """Collects every problem of one rule instead of stopping at the first."""

    def __init__(self, spec: RuleSpec, values: Mapping[str, ParamValue]) -> None:
        self.spec = spec
        self.values = values
        self.problems: list[Problem] = []

    def problem(self, keys: tuple[str | int, ...], code: str, message: str) -> None:
        self.problems.append(Problem.at(self.spec.location(*keys), code, message))

    def protocol(self) -> int | None:
        value = self.spec.data["protocol"]
        if value == "any":
            return None
        if isinstance(value, str):
            return PROTOCOL_NUMBERS[value]
        return int(value)

    def ports(self, protocol: int | None, key: str = "port") -> tuple[PortRange, ...] | None:
        if key not in self.spec.data:
            return None
        if key in V1_1_KEYS and self.spec.doc.data.get("version") == 1:
            self.problem((key,), "version", f"{key} is new in format v1.1: write version: 1.1")
            return None
        if protocol not in PORT_PROTOCOLS:
            name = "any" if protocol is None else str(self.spec.data["protocol"])
            self.problem(
                (key,),
                "port",
                f"protocol {name} has no ports: use tcp, udp, dccp (33), sctp (132) or"
                f" udplite (136), or drop {key}",
            )
            return None
        raw = self.spec.data[key]
        items = raw if isinstance(raw, list) else [raw]
        ranges: list[PortRange] = []
        for index, item in enumerate(items):
            keys: tuple[str | int, ...] = (key, index) if isinstance(raw, list) else (key,)
            try:
                ranges.append(_port_item(item, self.values))
            except ParamError as exc:
                self.problem(keys, "param", str(exc))
            except ValueError as exc:
                self.problem(keys, "port", str(exc))
        return _merge(ranges)

    def addresses(self, key: str) -> tuple[IpRange, ...] | None:
        raw = self.spec.data.get(key, [] if key == "except_remote" else "any")
        if raw == "any":
            if key == "except_remote":
                self.problem((key,), "address", "except_remote: any would remove every address")
                return ()
            return None
        items = raw if isinstance(raw, list) else [raw]
        if not items and key != "except_remote":
            self.problem((key,), "address", f"{key} is an empty list: write any, or list addresses")
            return None
        ranges: list[IpRange] = []
        for index, item in enumerate(items):
            keys: tuple[str | int, ...] = (key, index) if isinstance(raw, list) else (key,)
            entries: list[str] = [item]
            ref = parse_ref(item)
            try:
                if ref is not None:
                    entries = addresses.split_address_list(resolve_text(ref, self.values))
                    if not entries:
                        raise ParamError(f"param {ref.name!r} holds no address")
                elif looks_like_ref(item):
                    raise ParamError(f"{item!r} is not a reference: write ${{name}}")
            except ParamError as exc:
                self.problem(keys, "param", str(exc))
                continue
            for entry in entries:
                if entry.strip() == "any":
                    self.problem(keys, "address", f"'any' cannot be a list entry of {key}")
                    continue
                try:
                    ranges.append(addresses.parse_address(entry))
                except addresses.AddressError as exc:
                    self.problem(keys, "address", str(exc))
        return tuple(sorted(set(ranges)))

    def families(
        self,
        protocol: int | None,
        remote: tuple[IpRange, ...] | None,
        local: tuple[IpRange, ...] | None,
    ) -> frozenset[int]:
        declared = FAMILIES[self.spec.data.get("family", "any")]
        families = declared
        reasons = [f"family {self.spec.data.get('family', 'any')}"]
        for key, ranges in (("remote", remote), ("local", local)):
            if ranges is not None:
                present = frozenset(family for family, _, _ in ranges)
                families &= present
                reasons.append(f"{key} has IPv{'/IPv'.join(str(f) for f in sorted(present))}")
        if protocol in ICMP_FAMILY:
            families &= {ICMP_FAMILY[protocol]}
            reasons.append(
                f"protocol {self.spec.data['protocol']} is IPv{ICMP_FAMILY[protocol]} only"
            )
        if not families:
            key = "family" if "family" in self.spec.data else "protocol"
            self.problem((key,), "family", "no address family is left: " + ", ".join(reasons))
        return families

    def check_remote_left(
        self,
        families: frozenset[int],
        remote: tuple[IpRange, ...] | None,
        except_remote: tuple[IpRange, ...],
    ) -> None:
        if not families:
            return
        carved = False
        for family in families:
            kept = (
                [(first, last) for fam, first, last in remote if fam == family]
                if remote is not None
                else [addresses.FAMILY_SPAN[family]]
            )
            cut = [(first, last) for fam, first, last in except_remote if fam == family]
            left = addresses.subtract(kept, cut)
            carved = carved or not left
            # Loopback is never remote (out of scope): a remote of loopback only checks nothing.
            if addresses.subtract(left, list(LOOPBACK[family])):
                return
        if carved and except_remote:
            self.problem(
                ("except_remote",),
                "address",
                "except_remote removes every remote address: the rule would describe no flow",
            )
        else:
            self.problem(
                ("remote",),
                "address",
                "remote holds only loopback addresses, which are out of scope: the rule would"
                " describe no flow",
            )

    def icmp_type(self, protocol: int | None) -> int | None:
        value = self.spec.data.get("icmp_type")
        if value is not None and protocol not in ICMP_FAMILY:
            self.problem(("icmp_type",), "icmp-type", "icmp_type needs protocol icmp or icmpv6")
            return None
        return value


def resolve_rule(spec: RuleSpec, policy: Policy, values: Mapping[str, ParamValue]) -> Requirement:
    """The Requirement of one rule with these param values; PolicyError lists every problem."""
    if "setting" in spec.data or "controls" in spec.data or policy.controls:
        return resolve_controlled(spec, policy, values)
    return _resolve_flow(spec, policy, values)


def _resolve_flow(spec: RuleSpec, policy: Policy, values: Mapping[str, ParamValue]) -> Requirement:
    resolver = _Resolver(spec, values)
    data = spec.data
    protocol = resolver.protocol()
    ports = resolver.ports(protocol)
    source_ports = resolver.ports(protocol, "source_port")
    remote = resolver.addresses("remote")
    except_remote = resolver.addresses("except_remote") or ()
    local = resolver.addresses("local")
    if resolver.problems:
        # A bad address entry would make the family check report a second, derived problem.
        families = FAMILIES[data.get("family", "any")]
    else:
        families = resolver.families(protocol, remote, local)
        resolver.check_remote_left(families, remote, except_remote)
    icmp_type = resolver.icmp_type(protocol)
    if resolver.problems:
        raise PolicyError(*resolver.problems)
    return Requirement(
        policy_id=policy.id,
        rule_id=spec.rule_id,
        title=str(data["title"]),
        expect=Expect(data["expect"]),
        direction=Direction(data["direction"]),
        protocol=protocol,
        ports=ports,
        remote=remote,
        except_remote=except_remote,
        local=local,
        program=data.get("program"),
        service=data.get("service"),
        profiles=frozenset(data.get("profiles", PROFILES)),
        icmp_type=icmp_type,
        families=families,
        severity=Severity(data.get("severity", "medium")),
        origin=spec.location(),
        policy_title=policy.title,
        source=policy.source,
        source_ports=source_ports,
    )


def resolve_controlled(
    spec: RuleSpec, policy: Policy, values: Mapping[str, ParamValue]
) -> Requirement:
    """A rule with v1.1 `controls` (its own or its policy's) or a `setting`: the flow rule (or
    a placeholder flow for a setting), with those attached."""
    problems = []
    if spec.doc.data.get("version") == 1:
        for key in ("controls", "setting"):
            if key in spec.data:
                problems.append(
                    Problem.at(
                        spec.location(key),
                        "version",
                        f"{key} is new in format v1.1: write version: 1.1",
                    )
                )
    if "setting" not in spec.data:
        try:
            flow = _resolve_flow(spec, policy, values)
        except PolicyError as exc:
            problems[:0] = exc.problems
    if problems:
        raise PolicyError(*problems)
    controls = combined(policy.controls, spec.data.get("controls", ()))
    if "setting" in spec.data:
        return setting_requirement(
            setting_spec(spec.data["setting"]),
            policy_id=policy.id,
            rule_id=spec.rule_id,
            title=str(spec.data["title"]),
            severity=Severity(spec.data.get("severity", "medium")),
            origin=spec.location(),
            policy_title=policy.title,
            source=policy.source,
            controls=controls,
        )
    return replace(flow, controls=controls)


def setting_requirement(
    setting: SettingSpec,
    *,
    policy_id: str,
    rule_id: str,
    title: str,
    severity: Severity,
    origin: Location,
    policy_title: str,
    source: str | None,
    controls: tuple[str, ...],
) -> Requirement:
    """The Requirement of a settings rule: the flow fields are placeholders no engine is asked
    about (checker.engine.settings decides it)."""
    return Requirement(
        policy_id=policy_id,
        rule_id=rule_id,
        title=title,
        expect=Expect.DENY,
        direction=Direction.INBOUND,
        protocol=None,
        ports=None,
        remote=None,
        except_remote=(),
        local=None,
        program=None,
        service=None,
        profiles=frozenset({setting.scope}) if setting.kind == "windows" else PROFILES,
        icmp_type=None,
        families=frozenset(setting.families),
        severity=severity,
        origin=origin,
        policy_title=policy_title,
        source=source,
        controls=controls,
        setting=setting,
    )
