"""From a policy requirement to the packet space the netfilter engine is asked about.

Dimensions: family, proto, saddr, daddr, sport, dport, icmp (type*256+code), iif, oif (interface
symbols, see symbols.py; symbol 0 is "no interface on this side").

Inbound flows go remote -> this host; outbound this host -> remote. "remote: any" excludes
loopback (lo, 127.0.0.0/8, ::1: out of scope); "local: any" is this host's unicast addresses,
i.e. everything but loopback, multicast and the unspecified/limited-broadcast addresses. A
remote that is the source ("remote: any" inbound) leaves out the addresses no host sends from
(net.MARTIAN_SOURCES: the kernel drops them before INPUT).

Ports exist for the protocols of net.PORT_PROTOCOLS (tcp, udp, dccp, sctp, udplite). The
initiator's source port (docs/policy-format.md, "Source ports"): the rule's `source_port` when
given; else every port 0-65535 for `expect: deny` (a deny that a sender defeats by picking
source port 53 or 67 is no deny) and the ephemeral ports 1024-65535 for `expect: allow`.
"""

from __future__ import annotations

from checker.engine.netfilter import marks
from checker.engine.netfilter.match import (
    ACK_IN,
    ACK_OUT,
    ECHO_REPLY_IN,
    ECHO_REPLY_OUT,
    NEW_IN,
    NEW_OUT,
    REPLY_IN,
    REPLY_OUT,
    Phase,
)
from checker.engine.space import Chooser, Dim, Space, iset, iset_subtract
from checker.engine.symbols import InterfaceSymbols
from checker.model import net
from checker.model.netfilter import Hook
from checker.policies.model import Direction, Expect, IpRange, Requirement

ADDRESS_MAX = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
_V4 = lambda a, b, c, d: (a << 24) | (b << 16) | (c << 8) | d  # noqa: E731
LOOPBACK = net.LOOPBACK
NOT_LOCAL = {
    4: (
        (0, _V4(0, 255, 255, 255)),
        (_V4(127, 0, 0, 0), _V4(127, 255, 255, 255)),
        (_V4(224, 0, 0, 0), _V4(255, 255, 255, 255)),
    ),
    6: ((0, 1), (0xFF << 120, ADDRESS_MAX[6])),
}
PORT_PROTOCOLS = tuple((number, number) for number in sorted(net.PORT_PROTOCOLS))

# Values a counterexample prefers, so it reads like real traffic (documentation ranges).
PREFERRED_REMOTE = {4: _V4(203, 0, 113, 7), 6: 0x20010DB8_0000_0000_0000_0000_0000_0007}
PREFERRED_LOCAL = {4: _V4(192, 0, 2, 10), 6: 0x20010DB8_0000_0000_0000_0000_0000_0010}

DIM_NAMES = (
    "family", "proto", "saddr", "daddr", "sport", "dport", "icmp", "iif", "oif", "mark", "ctmark"
)  # fmt: skip
# A reply travels the other way: source and destination (addresses, ports, interfaces) swap.
_SWAP = {
    "saddr": "daddr",
    "daddr": "saddr",
    "sport": "dport",
    "dport": "sport",
    "iif": "oif",
    "oif": "iif",
}
MIRROR = tuple(_SWAP.get(name, name) for name in DIM_NAMES)


def dims_for(family: int, interfaces: InterfaceSymbols) -> tuple[Dim, ...]:
    bounds = {
        "family": (4, 6),
        "proto": (0, 255),
        "saddr": (0, ADDRESS_MAX[family]),
        "daddr": (0, ADDRESS_MAX[family]),
        "sport": (0, 65535),
        "dport": (0, 65535),
        "icmp": (0, 65535),
        "iif": (0, interfaces.size - 1),
        "oif": (0, interfaces.size - 1),
        # Packet and connection mark: 32 bits, or not determined by the ruleset (marks.UNKNOWN).
        "mark": (0, marks.UNKNOWN),
        "ctmark": (0, marks.UNKNOWN),
    }
    return tuple((name, *bounds[name]) for name in DIM_NAMES)


def hooks_for(phase: Phase) -> tuple[Hook, ...]:
    if phase.inbound:
        return (Hook.INGRESS, Hook.PREROUTING, Hook.INPUT)
    return (Hook.OUTPUT, Hook.POSTROUTING, Hook.EGRESS)


def phases_for(inbound: bool, complete: bool) -> list[tuple[Phase, bool]]:
    """The packets that must get through, each with whether it travels mirrored (the reply).

    With `complete`, a TCP connection also needs its SYN-ACK and final ACK, and a ping (ICMP
    echo request) its echo reply: what a strict policy without an ESTABLISHED rule breaks."""
    if inbound:
        phases = [(NEW_IN, False)]
        if complete:
            phases += [(REPLY_OUT, True), (ACK_IN, False), (ECHO_REPLY_OUT, True)]
    else:
        phases = [(NEW_OUT, False)]
        if complete:
            phases += [(REPLY_IN, True), (ACK_OUT, False), (ECHO_REPLY_IN, True)]
    return phases


ICMP_PROTOCOL = {4: 1, 6: 58}
ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}


def _is_echo(phase: Phase) -> bool:
    return phase.name.startswith("echoreply")


def concerned(space: Space, family: int, phase: Phase) -> Space:
    """The flows of `space` that a phase's packet belongs to: every flow for the first packet,
    TCP for the handshake's later packets, echo requests for the echo reply."""
    if phase.ctstate == "NEW":
        return space
    if _is_echo(phase):
        request = ECHO_REQUEST[family] << 8
        proto = ICMP_PROTOCOL[family]
        return space.restrict("proto", [(proto, proto)]).restrict(
            "icmp", [(request, request | 0xFF)]
        )
    return space.restrict("proto", [(6, 6)])


def _echo_offset(family: int) -> int:
    return (ECHO_REPLY[family] - ECHO_REQUEST[family]) << 8


def to_phase(space: Space, family: int, phase: Phase, mirrored: bool) -> Space:
    """The packets of `phase` for the flows of `space` (already `concerned`): mirrored for
    replies, and an echo request's type turned into its reply's (same code)."""
    if mirrored:
        space = space.map_dims(MIRROR)
    if _is_echo(phase):
        space = space.translate("icmp", _echo_offset(family))
    return space


def from_phase(space: Space, family: int, phase: Phase, mirrored: bool) -> Space:
    """The inverse of to_phase: back to the flows that the phase's packets belong to."""
    if _is_echo(phase):
        space = space.translate("icmp", -_echo_offset(family))
    if mirrored:
        space = space.map_dims(MIRROR)
    return space


def belongs(point: dict[str, int], family: int, phase: Phase) -> bool:
    """Whether the flow at `point` has a packet in `phase` (see `concerned`)."""
    if phase.ctstate == "NEW":
        return True
    if _is_echo(phase):
        request = ECHO_REQUEST[family] << 8
        return point["proto"] == ICMP_PROTOCOL[family] and request <= point["icmp"] <= (
            request | 0xFF
        )
    return point["proto"] == 6


def point_in_phase(
    point: dict[str, int], family: int, phase: Phase, mirrored: bool
) -> dict[str, int]:
    """A flow's packet in `phase` (to look up the rule that decided it)."""
    seen = {name: point[_SWAP.get(name, name)] for name in point} if mirrored else dict(point)
    if _is_echo(phase):
        seen["icmp"] += _echo_offset(family)
    return seen


def _addresses(
    ranges: tuple[IpRange, ...] | None, family: int, default_excluded: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, int], ...]:
    if ranges is None:
        return iset_subtract(((0, ADDRESS_MAX[family]),), default_excluded)
    return iset((lo, hi) for fam, lo, hi in ranges if fam == family)


def source_ports(requirement: Requirement) -> list[tuple[int, int]]:
    """The initiator's source ports the requirement speaks of (see the module docstring)."""
    if requirement.source_ports is not None:
        return list(requirement.source_ports)
    if requirement.expect is Expect.DENY:
        return [net.EVERY_PORT]
    return [net.EPHEMERAL_PORTS]


def requirement_space(requirement: Requirement, family: int, interfaces: InterfaceSymbols) -> Space:
    """The flows a requirement is about, for one family (empty if it names none of it)."""
    dims = dims_for(family, interfaces)
    inbound = requirement.direction is Direction.INBOUND
    remote_excluded = net.MARTIAN_SOURCES[family] if inbound else LOOPBACK[family]
    remote = _addresses(requirement.remote, family, remote_excluded)
    remote = iset_subtract(
        remote, iset((lo, hi) for fam, lo, hi in requirement.except_remote if fam == family)
    )
    remote = iset_subtract(remote, LOOPBACK[family])
    local = _addresses(requirement.local, family, NOT_LOCAL[family])
    real_interfaces = [(i, i) for i in interfaces.real() if interfaces.symbols[i] != ("lit", "lo")]
    constraints: dict[str, list[tuple[int, int]]] = {
        "family": [(family, family)],
        "saddr": list(remote if inbound else local),
        "daddr": list(local if inbound else remote),
        "iif": real_interfaces if inbound else [(0, 0)],
        "oif": [(0, 0)] if inbound else real_interfaces,
        # A new connection's packet and conntrack entry start unmarked (netfilter_marks).
        "mark": [(0, 0)],
        "ctmark": [(0, 0)],
    }
    if requirement.icmp_type is not None:
        constraints["icmp"] = [(requirement.icmp_type << 8, (requirement.icmp_type << 8) | 0xFF)]
    if requirement.protocol is not None:
        protocols = [(requirement.protocol, requirement.protocol)]
    else:
        protocols = [(0, 255)]
    ports = list(requirement.ports) if requirement.ports is not None else [(0, 65535)]
    # Flows of port protocols carry ports; others do not, so their port dimensions stay free.
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
                    "sport": source_ports(requirement),
                    "dport": ports,
                },
            )
        )
    if without_ports and requirement.ports is None and requirement.source_ports is None:
        space = space.union(Space.where(dims, {**constraints, "proto": list(without_ports)}))
    return space


def choosers(family: int) -> dict[str, Chooser]:
    """How a counterexample picks its addresses: an ordinary host address when the space holds
    one (never unspecified, broadcast, multicast or a network address when avoidable)."""
    choose = net.host_chooser(family)
    return {"saddr": choose, "daddr": choose}


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
