"""Listening sockets of one host (`ss -tulpn`, /proc, or the Windows collector): what a remote
peer could reach if the firewall lets it.

A socket listens on one protocol (tcp 6, udp 17), a port, and an address per family it serves:
`families` holds 4, 6 or both (an IPv6 wildcard socket without IPV6_V6ONLY also takes IPv4,
ss shows it as `*`); `address` None is the wildcard of those families. `device` is the
interface a socket is bound to (SO_BINDTODEVICE, ss `%dev`), which only that interface's
packets reach.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from checker.errors import Location
from checker.model.net import LOOPBACK


@dataclass(frozen=True, slots=True)
class ListeningSocket:
    protocol: int
    families: frozenset[int]
    # One address (as int) of the single family in `families`, or None: the wildcard.
    address: int | None
    port: int
    program: str | None
    origin: Location
    device: str | None = None
    pid: int | None = None
    service: str | None = None

    @property
    def loopback_only(self) -> bool:
        """Bound to a loopback address or to the loopback device: no remote peer reaches it."""
        if self.device == "lo":
            return True
        if self.address is None:
            return False
        (family,) = self.families
        return any(lo <= self.address <= hi for lo, hi in LOOPBACK[family])

    def address_text(self) -> str:
        if self.address is None:
            return "*" if len(self.families) == 2 else ("0.0.0.0" if 4 in self.families else "[::]")
        (family,) = self.families
        if family == 6:
            return f"[{ipaddress.IPv6Address(self.address)}]"
        return str(ipaddress.IPv4Address(self.address))

    def label(self) -> str:
        name = {6: "tcp", 17: "udp"}.get(self.protocol, str(self.protocol))
        where = self.address_text() + (f"%{self.device}" if self.device else "")
        program = f" ({self.program})" if self.program else ""
        return f"{name} {where}:{self.port}{program}"


@dataclass(frozen=True, slots=True)
class ListeningSockets:
    """The listening sockets of one host, from one source. It travels with the target's
    firewall export; alone it describes no firewall."""

    sockets: tuple[ListeningSocket, ...]
    origin: str
