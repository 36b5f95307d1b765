"""What an engine answers for one requirement on one target, and how flows are written."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from checker.findings import Evidence, Status
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
