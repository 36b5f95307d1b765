"""The network vocabulary that policies, parsers and engines share.

Which IP protocols carry ports is defined here once. Netfilter matches source and destination
ports for tcp, udp, udplite, sctp and dccp: the `tcp`, `udp`, `sctp` and `dccp` matches and
`-m multiport` (which takes udplite too) in iptables-extensions(8), and nft's `tcp`/`udp`/
`udplite`/`sctp`/`dccp` `sport|dport` and `th sport|dport` (nft(8), "transport header"). Each
of these headers starts with the 16-bit source port and the 16-bit destination port.

ipset is narrower: its `proto:port` elements take ports for tcp, udp, sctp and udplite only, and
DCCP only with the pseudo port 0 (ipset(8); `ipset add s 10.0.0.1,dccp:80` is refused with
"Protocol dccp can be used with pseudo port value 0 only"), so it has its own subset.

The address helpers say which addresses a host can put in the source field of a unicast packet,
so that counterexamples are packets a real host could send.
"""

from __future__ import annotations

from collections.abc import Callable

TCP, UDP, DCCP, SCTP, UDPLITE = 6, 17, 33, 132, 136
ICMP, ICMPV6 = 1, 58

PORT_PROTOCOL_NAMES = {TCP: "tcp", UDP: "udp", DCCP: "dccp", SCTP: "sctp", UDPLITE: "udplite"}
PORT_PROTOCOLS = frozenset(PORT_PROTOCOL_NAMES)
IPSET_PORT_PROTOCOLS = PORT_PROTOCOLS - {DCCP}

PORT_MAX = 65535
# The ports an initiator's stack picks its source port from, as far as `expect: allow` assumes
# (docs/policy-format.md, "Source ports").
EPHEMERAL_PORTS = (1024, PORT_MAX)
EVERY_PORT = (0, PORT_MAX)

ADDRESS_MAX = {4: (1 << 32) - 1, 6: (1 << 128) - 1}


def _v4(a: int, b: int, c: int, d: int) -> int:
    return (a << 24) | (b << 16) | (c << 8) | d


# Loopback: never remote, so out of scope for a policy's `remote`.
LOOPBACK: dict[int, tuple[tuple[int, int], ...]] = {
    4: ((_v4(127, 0, 0, 0), _v4(127, 255, 255, 255)),),
    6: ((1, 1),),
}
# Sources Linux drops before the INPUT hook on a non-loopback device: IPv4 "this network"
# 0.0.0.0/8 (except to the limited broadcast), loopback, multicast and 255.255.255.255 are
# martians (ip_route_input_slow); IPv6 multicast (RFC 4291 2.7) and ::1 (ip6_rcv_core).
MARTIAN_SOURCES: dict[int, tuple[tuple[int, int], ...]] = {
    4: (
        (0, _v4(0, 255, 255, 255)),
        LOOPBACK[4][0],
        (_v4(224, 0, 0, 0), _v4(239, 255, 255, 255)),
        (ADDRESS_MAX[4], ADDRESS_MAX[4]),
    ),
    6: ((1, 1), (0xFF << 120, ADDRESS_MAX[6])),
}
# Never the source of a unicast packet a host sends: the martians, and the IPv6 unspecified
# address :: (RFC 4291 2.5.2: only while a node has no address yet; Linux does not drop it, so
# it stays in the flows a deny is about, but a counterexample avoids it).
NOT_A_SOURCE: dict[int, tuple[tuple[int, int], ...]] = {
    4: MARTIAN_SOURCES[4],
    6: ((0, 1), MARTIAN_SOURCES[6][1]),
}
# Reserved space a real host does not use as its address (240.0.0.0/4, RFC 1112 4).
_RESERVED_V4 = ((_v4(240, 0, 0, 0), ADDRESS_MAX[4]),)


def _inside(value: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= value <= hi for lo, hi in ranges)


def source_rank(family: int, value: int) -> int:
    """How plausible `value` is as the source of a unicast packet: 0 an ordinary host address;
    1 an address a host may hold but that reads like a network or broadcast address (x.x.x.0 or
    x.x.x.255, an IPv6 subnet-router anycast address ending in 64 zero bits) or reserved space;
    2 never a unicast source (NOT_A_SOURCE)."""
    if _inside(value, NOT_A_SOURCE[family]):
        return 2
    if family == 4:
        if _inside(value, _RESERVED_V4) or (value & 0xFF) in (0, 0xFF):
            return 1
        return 0
    return 1 if value & ((1 << 64) - 1) == 0 else 0


def host_address(family: int, ranges: tuple[tuple[int, int], ...], preferred: int) -> int:
    """The address of `ranges` (sorted, disjoint, non-empty) nearest to `preferred` among those
    with the best `source_rank`: an ordinary host address whenever the ranges hold one."""
    best: tuple[int, int, int] | None = None

    def distance(span: tuple[int, int]) -> int:
        return max(span[0] - preferred, preferred - span[1], 0)

    for lo, hi in sorted(ranges, key=distance):
        if best is not None and best[0] == 0 and distance((lo, hi)) > best[1]:
            break  # nothing farther can beat an ordinary host address this near
        for candidate in _candidates(family, lo, hi, preferred):
            key = (source_rank(family, candidate), abs(candidate - preferred), candidate)
            if best is None or key < best:
                best = key
    if best is None:
        raise ValueError("host_address needs at least one range")
    return best[2]


def host_chooser(family: int) -> Callable[[tuple[tuple[int, int], ...], int], tuple[int, int]]:
    """For sampling a space (checker.engine.space.Chooser): the `host_address` of a dimension's
    ranges, with its `source_rank` as the penalty."""

    def choose(ranges: tuple[tuple[int, int], ...], preferred: int) -> tuple[int, int]:
        address = host_address(family, ranges, preferred)
        return address, source_rank(family, address)

    return choose


def _candidates(family: int, lo: int, hi: int, preferred: int) -> list[int]:
    """A few addresses of [lo, hi] near `preferred` that include the nearest of each rank."""
    seeds = {min(max(preferred, lo), hi), lo, hi}
    # The edges of the blocks to avoid, so the nearest address outside each is a candidate.
    for block_lo, block_hi in NOT_A_SOURCE[family] + (_RESERVED_V4 if family == 4 else ()):
        seeds.update((block_lo - 1, block_hi + 1))
    found: set[int] = set()
    for seed in seeds:
        if not lo <= seed <= hi:
            continue
        found.add(seed)
        # One step off a network/broadcast-looking address: x.x.x.0 -> .1, x.x.x.255 -> .254,
        # and an IPv6 address ending in 64 zero bits -> ...::1.
        for step in (1, -1, 2, -2):
            if lo <= seed + step <= hi:
                found.add(seed + step)
    return sorted(found)
