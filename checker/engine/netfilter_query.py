"""From a policy requirement to the packet space the netfilter engine is asked about.

Dimensions: family, proto, saddr, daddr, sport, dport, icmp (type*256+code), iif, oif (interface
symbols, see symbols.py; symbol 0 is "no interface on this side").

Inbound flows go remote -> this host; outbound this host -> remote. "remote: any" excludes
loopback (lo, 127.0.0.0/8, ::1: out of scope); "local: any" is this host's unicast addresses,
i.e. everything but loopback, multicast and the unspecified/limited-broadcast addresses. The
initiator's source port is any of 1024-65535 (tcp/udp/sctp), as the policy format says.
"""

from __future__ import annotations

from checker.engine.netfilter_match import (
    ACK_IN,
    ACK_OUT,
    NEW_IN,
    NEW_OUT,
    REPLY_IN,
    REPLY_OUT,
    Phase,
)
from checker.engine.space import Dim, Space, iset, iset_subtract
from checker.engine.symbols import InterfaceSymbols
from checker.model.netfilter import Hook
from checker.policies.model import Direction, IpRange, Requirement

ADDRESS_MAX = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
_V4 = lambda a, b, c, d: (a << 24) | (b << 16) | (c << 8) | d  # noqa: E731
LOOPBACK = {4: ((_V4(127, 0, 0, 0), _V4(127, 255, 255, 255)),), 6: ((1, 1),)}
NOT_LOCAL = {
    4: (
        (0, _V4(0, 255, 255, 255)),
        (_V4(127, 0, 0, 0), _V4(127, 255, 255, 255)),
        (_V4(224, 0, 0, 0), _V4(255, 255, 255, 255)),
    ),
    6: ((0, 1), (0xFF << 120, ADDRESS_MAX[6])),
}
PORT_PROTOCOLS = ((6, 6), (17, 17), (132, 132))
EPHEMERAL = ((1024, 65535),)

# Values a counterexample prefers, so it reads like real traffic (documentation ranges).
PREFERRED_REMOTE = {4: _V4(203, 0, 113, 7), 6: 0x20010DB8_0000_0000_0000_0000_0000_0007}
PREFERRED_LOCAL = {4: _V4(192, 0, 2, 10), 6: 0x20010DB8_0000_0000_0000_0000_0000_0010}

MIRROR = ("family", "proto", "daddr", "saddr", "dport", "sport", "icmp", "oif", "iif")


def dims_for(family: int, interfaces: InterfaceSymbols) -> tuple[Dim, ...]:
    return (
        ("family", 4, 6),
        ("proto", 0, 255),
        ("saddr", 0, ADDRESS_MAX[family]),
        ("daddr", 0, ADDRESS_MAX[family]),
        ("sport", 0, 65535),
        ("dport", 0, 65535),
        ("icmp", 0, 65535),
        ("iif", 0, interfaces.size - 1),
        ("oif", 0, interfaces.size - 1),
    )


def hooks_for(phase: Phase) -> tuple[Hook, ...]:
    if phase.inbound:
        return (Hook.INGRESS, Hook.PREROUTING, Hook.INPUT)
    return (Hook.OUTPUT, Hook.POSTROUTING)


def phases_for(inbound: bool, complete_tcp: bool) -> list[tuple[Phase, bool]]:
    """The packets that must get through, each with whether it travels mirrored (the reply)."""
    if inbound:
        phases = [(NEW_IN, False)]
        if complete_tcp:
            phases += [(REPLY_OUT, True), (ACK_IN, False)]
    else:
        phases = [(NEW_OUT, False)]
        if complete_tcp:
            phases += [(REPLY_IN, True), (ACK_OUT, False)]
    return phases


def _addresses(
    ranges: tuple[IpRange, ...] | None, family: int, default_excluded: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, int], ...]:
    if ranges is None:
        return iset_subtract(((0, ADDRESS_MAX[family]),), default_excluded)
    return iset((lo, hi) for fam, lo, hi in ranges if fam == family)


def requirement_space(requirement: Requirement, family: int, interfaces: InterfaceSymbols) -> Space:
    """The flows a requirement is about, for one family (empty if it names none of it)."""
    dims = dims_for(family, interfaces)
    remote = _addresses(requirement.remote, family, LOOPBACK[family])
    remote = iset_subtract(
        remote, iset((lo, hi) for fam, lo, hi in requirement.except_remote if fam == family)
    )
    remote = iset_subtract(remote, LOOPBACK[family])
    local = _addresses(requirement.local, family, NOT_LOCAL[family])
    inbound = requirement.direction is Direction.INBOUND
    real_interfaces = [(i, i) for i in interfaces.real() if interfaces.symbols[i] != ("lit", "lo")]
    constraints: dict[str, list[tuple[int, int]]] = {
        "family": [(family, family)],
        "saddr": list(remote if inbound else local),
        "daddr": list(local if inbound else remote),
        "iif": real_interfaces if inbound else [(0, 0)],
        "oif": [(0, 0)] if inbound else real_interfaces,
    }
    if requirement.icmp_type is not None:
        constraints["icmp"] = [(requirement.icmp_type << 8, (requirement.icmp_type << 8) | 0xFF)]
    if requirement.protocol is not None:
        protocols = [(requirement.protocol, requirement.protocol)]
    else:
        protocols = [(0, 255)]
    ports = list(requirement.ports) if requirement.ports is not None else [(0, 65535)]
    # tcp/udp/sctp flows carry ports; other protocols do not, so their port dimensions stay free.
    with_ports = iset(
        (max(lo, plo), min(hi, phi)) for lo, hi in protocols for plo, phi in PORT_PROTOCOLS
    )
    without_ports = iset_subtract(iset(protocols), with_ports)
    space = Space.empty(dims)
    if with_ports:
        space = space.union(
            Space.where(
                dims,
                {
                    **constraints,
                    "proto": list(with_ports),
                    "sport": list(EPHEMERAL),
                    "dport": ports,
                },
            )
        )
    if without_ports and requirement.ports is None:
        space = space.union(Space.where(dims, {**constraints, "proto": list(without_ports)}))
    return space


def preferred_point(requirement: Requirement, family: int) -> dict[str, int]:
    inbound = requirement.direction is Direction.INBOUND
    remote, local = PREFERRED_REMOTE[family], PREFERRED_LOCAL[family]
    preferred = {
        "saddr": remote if inbound else local,
        "daddr": local if inbound else remote,
        "sport": 40000,
        "iif": 1,
        "oif": 1,
    }
    if requirement.ports:
        preferred["dport"] = requirement.ports[0][0]
    if requirement.protocol is not None:
        preferred["proto"] = requirement.protocol
    else:
        preferred["proto"] = 6
    if requirement.icmp_type is not None:
        preferred["icmp"] = requirement.icmp_type << 8
    else:
        preferred["icmp"] = (8 << 8) if family == 4 else (128 << 8)
    return preferred
