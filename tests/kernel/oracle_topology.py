"""The address plan of the oracle's two namespaces, shared by the generator, the probes and the
namespace fixture.

Everything lives inside namespaces the tests create: documentation ranges only (RFC 5737
198.51.100.0/24, RFC 3849 2001:db8::/32). IPv6 addresses mirror the IPv4 ones: the last octet n
of 198.51.100.n is the last 8 bits of 2001:db8:1::n, and an IPv4 prefix length L >= 24 inside
198.51.100.0/24 is the IPv6 prefix length 96 + L, so one generated rule means the same in both
families.
"""

from __future__ import annotations

import ipaddress

HOST_IFACE = "fwc0"
PEER_IFACE = "fwp0"
# Locally administered MACs: the neighbours are static (no ARP/NDP), so a generated ruleset that
# drops ICMPv6 cannot break neighbour discovery and turn every IPv6 probe into a false "drop".
HOST_MAC = "02:00:00:00:fc:01"
PEER_MAC = "02:00:00:00:fc:02"

HOST_OCTETS = (1, 129)
PEER_OCTETS = (2, 66, 200)

V4_NET = int(ipaddress.IPv4Address("198.51.100.0"))
V6_NET = int(ipaddress.IPv6Address("2001:db8:1::"))
# Prefixes outside the link: they match nothing the probes send (or everything, for /16).
V4_FOREIGN = {
    int(ipaddress.IPv4Address("203.0.113.0")): int(ipaddress.IPv6Address("2001:db8:2::")),
    int(ipaddress.IPv4Address("192.0.2.0")): int(ipaddress.IPv6Address("2001:db8:3::")),
}
V4_WIDE = int(ipaddress.IPv4Address("198.51.0.0"))
# /47: holds 2001:db8:1::/64 like 198.51.0.0/16 holds the link, and not the "foreign" /64s.
V6_WIDE = int(ipaddress.IPv6Address("2001:db8::"))

# TCP and UDP ports every listener serves (both families, both namespaces).
SERVICE_PORTS = (22, 25, 53, 80, 443, 1000, 1001, 1002, 3306, 5432, 8080, 8443)


def address(family: int, octet: int) -> str:
    if family == 4:
        return str(ipaddress.IPv4Address(V4_NET + octet))
    return str(ipaddress.IPv6Address(V6_NET + octet))


def host_addresses(family: int) -> tuple[str, ...]:
    return tuple(address(family, octet) for octet in HOST_OCTETS)


def peer_addresses(family: int) -> tuple[str, ...]:
    return tuple(address(family, octet) for octet in PEER_OCTETS)


def prefix(family: int, v4_net: int, v4_len: int) -> tuple[int, int]:
    """The (network, length) of a prefix given in IPv4 terms, for `family`."""
    if family == 4:
        return v4_net, v4_len
    if v4_net in V4_FOREIGN:
        return V4_FOREIGN[v4_net], 64
    if v4_net == V4_WIDE and v4_len == 16:
        return V6_WIDE, 47
    return V6_NET + (v4_net - V4_NET), 96 + v4_len


def prefix_text(family: int, net: int, length: int) -> str:
    if family == 4:
        return f"{ipaddress.IPv4Address(net)}/{length}"
    return f"{ipaddress.IPv6Address(net)}/{length}"


def prefix_contains(family: int, net: int, length: int, addr: int) -> bool:
    width = 32 if family == 4 else 128
    shift = width - length
    return (addr >> shift) == (net >> shift)
