"""The resolved policy model: what the engines are asked to decide.

A `Requirement` is one policy rule after includes and params are resolved: every field is a plain
value, so engines never see YAML or `${param}` strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from checker.errors import Location
from checker.findings import Severity
from checker.policies.settings import SettingSpec


class Expect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


# An inclusive range of addresses of one family: (4 or 6, first as int, last as int).
IpRange = tuple[int, int, int]
# An inclusive range of ports.
PortRange = tuple[int, int]

PROFILES = frozenset({"domain", "private", "public"})


@dataclass(frozen=True, slots=True)
class Requirement:
    policy_id: str
    rule_id: str
    title: str
    expect: Expect
    direction: Direction
    # IP protocol number; None means any protocol. "icmp" is 1, "icmpv6" 58, tcp 6, udp 17.
    protocol: int | None
    # Destination (service) ports; None means every port.
    ports: tuple[PortRange, ...] | None
    # Peer addresses; None means any. except_remote is carved out of remote.
    remote: tuple[IpRange, ...] | None
    except_remote: tuple[IpRange, ...]
    # This host's addresses; None means any.
    local: tuple[IpRange, ...] | None
    program: str | None
    service: str | None
    profiles: frozenset[str]
    icmp_type: int | None
    # Families asked about: {4}, {6} or {4, 6}.
    families: frozenset[int]
    severity: Severity
    origin: Location
    policy_title: str = ""
    source: str | None = None
    # The initiator's source ports (format v1.1 `source_port`); None means the default of
    # docs/policy-format.md "Source ports": every port for deny, 1024-65535 for allow.
    source_ports: tuple[PortRange, ...] | None = None
    # v1.1 `controls`: FRAMEWORK:ID entries, the policy's then the rule's (docs/controls.md).
    controls: tuple[str, ...] = ()
    # v1.1 `setting`: a settings requirement; the flow fields above then hold placeholders
    # and engines are not asked (checker.engine.settings decides it).
    setting: SettingSpec | None = None
    # The `exclusive-<direction>` result of a policy's `exclusive:` (format v1.1): the flows of
    # the direction the target accepts must all be declared (checker.engine.netfilter.exclusive).
    exclusive: bool = False
    # v1.1 `exposure_severity` of the rule's policy (None: unset): the severity of the target's
    # exposure results (checker.engine.netfilter.exposure.severity_of).
    exposure_severity: Severity | None = None

    @property
    def key(self) -> str:
        return f"{self.policy_id}/{self.rule_id}"


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    title: str
    roles: tuple[str, ...]
    include: tuple[str, ...]
    source: str | None
    params: tuple[tuple[str, int | str], ...]
    origin: Location
    controls: tuple[str, ...] = ()
    # Format v1.1 `exclusive:` directions ("both" expanded).
    exclusive: tuple[Direction, ...] = ()
    # Format v1.1 `exposure_severity:` for the targets of its roles (None: unset).
    exposure_severity: Severity | None = None
