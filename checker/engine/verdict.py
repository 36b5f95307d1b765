"""What an engine answers for one requirement on one target, and how flows are written."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from checker.findings import MESSAGE_ONLY, Evidence, Flow, Outcome, Reason, Status
from checker.model.net import PORT_PROTOCOL_NAMES, PORT_PROTOCOLS

PROTOCOL_NAMES = {
    1: "icmp",
    6: "tcp",
    17: "udp",
    58: "icmpv6",
    47: "gre",
    50: "esp",
    51: "ah",
    **PORT_PROTOCOL_NAMES,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status  # PASS, FAIL or INDETERMINATE
    message: str
    counterexample: str | None = None
    evidence: tuple[Evidence, ...] = ()
    details: tuple[tuple[str, str], ...] = ()
    # Structured: why (a reason code and its parameters; None: the message alone says it) and
    # the counterexample as fields (checker.findings.Outcome).
    reason: Reason | None = None
    flow: Flow | None = None

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.status, self.reason or Reason(MESSAGE_ONLY), self.flow)


def format_address(family: int, value: int) -> str:
    if family == 6:
        return f"[{ipaddress.IPv6Address(value)}]"
    return str(ipaddress.IPv4Address(value))


def format_flow(
    family: int,
    proto: int,
    src: int,
    dst: int,
    sport: int | None = None,
    dport: int | None = None,
    icmp: int | None = None,
    extra: str = "",
) -> str:
    """`tcp 203.0.113.7:40000 -> 192.0.2.10:3389 ipv4`, `icmp 198.51.100.1 -> 192.0.2.10 type 8 ipv4`."""
    name = PROTOCOL_NAMES.get(proto, f"proto-{proto}")
    source = format_address(family, src)
    destination = format_address(family, dst)
    if proto in PORT_PROTOCOLS and sport is not None and dport is not None:
        source += f":{sport}"
        destination += f":{dport}"
    text = f"{name} {source} -> {destination}"
    if proto in (1, 58) and icmp is not None:
        text += f" type {icmp >> 8} code {icmp & 0xFF}"
    text += f" ipv{family}"
    if extra:
        text += f" {extra}"
    return text


def flow_of(
    family: int,
    proto: int,
    src: int,
    dst: int,
    sport: int | None = None,
    dport: int | None = None,
    icmp: int | None = None,
    extra: str = "",
    *,
    interface: str | None = None,
    profile: str | None = None,
    program: str | None = None,
    service: str | None = None,
    package: str | None = None,
) -> Flow:
    """The flow as fields, its `text` written by format_flow (the same arguments)."""
    ports = proto in PORT_PROTOCOLS and sport is not None and dport is not None
    icmp_shown = proto in (1, 58) and icmp is not None
    return Flow(
        family=family,
        protocol=proto,
        source=str(ipaddress.IPv6Address(src) if family == 6 else ipaddress.IPv4Address(src)),
        destination=str(ipaddress.IPv6Address(dst) if family == 6 else ipaddress.IPv4Address(dst)),
        source_port=sport if ports else None,
        destination_port=dport if ports else None,
        icmp_type=icmp >> 8 if icmp_shown and icmp is not None else None,
        icmp_code=icmp & 0xFF if icmp_shown and icmp is not None else None,
        interface=interface,
        profile=profile,
        program=program,
        service=service,
        package=package,
        text=format_flow(family, proto, src, dst, sport, dport, icmp, extra),
    )
