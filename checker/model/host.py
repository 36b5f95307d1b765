"""This host's own addresses, from `ip -j addr` (iproute2): what `-m addrtype --dst-type LOCAL`
and the routing of a DNAT-translated flow (delivered here, or forwarded) depend on.

Each address's prefix also gives the connected route the kernel adds for it (a packet to an
address inside 172.17.0.1/16 on docker0 leaves through docker0). Like `ipset save` output, it
travels with the target's netfilter Rulesets; alone it describes no firewall.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HostAddress:
    interface: str
    family: int
    address: int
    prefix: int


@dataclass(frozen=True, slots=True)
class HostAddresses:
    addresses: tuple[HostAddress, ...]
    origin: str
