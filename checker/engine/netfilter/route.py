"""Where a translated flow goes: this host's addresses and the connected routes they imply.

After a DNAT in PREROUTING the kernel routes the packet again (ip_route_input): to INPUT when
the new destination is one of this host's addresses (or loopback), to FORWARD otherwise, out of
the interface whose connected prefix holds it (the route the kernel adds for each address,
`proto kernel scope link`). The host's addresses come from `ip -j addr` (HostAddresses); without
them, both ways stay possible and forwarded packets may leave through any interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from checker.engine.space import IntervalSet, iset, iset_intersect, iset_subtract
from checker.engine.symbols import InterfaceSymbols
from checker.model.host import HostAddresses

_WIDTH = {4: 32, 6: 128}
LOOPBACK = {4: ((0x7F000000, 0x7FFFFFFF),), 6: ((1, 1),)}
MISSING = (
    "this host's addresses are not known (add the `ip -j addr` output to the target's files;"
    " `fwcheck scan` collects it)"
)


@dataclass(frozen=True, slots=True)
class HostView:
    # family -> this host's addresses (loopback included)
    local: dict[int, IntervalSet]
    # family -> (network range, prefix length, interface name) of each connected route
    routes: dict[int, tuple[tuple[tuple[int, int], int, str], ...]]


def host_view(models: Sequence[object]) -> HostView | None:
    found = [model for model in models if isinstance(model, HostAddresses)]
    if not found:
        return None
    local: dict[int, list[tuple[int, int]]] = {4: list(LOOPBACK[4]), 6: list(LOOPBACK[6])}
    routes: dict[int, list[tuple[tuple[int, int], int, str]]] = {4: [], 6: []}
    for model in found:
        for address in model.addresses:
            local[address.family].append((address.address, address.address))
            host_bits = _WIDTH[address.family] - address.prefix
            network = address.address >> host_bits << host_bits
            span = (network, network | ((1 << host_bits) - 1))
            routes[address.family].append((span, address.prefix, address.interface))
    return HostView(
        {family: iset(spans) for family, spans in local.items()},
        {family: tuple(entries) for family, entries in routes.items()},
    )


def interface_names(view: HostView | None) -> list[str]:
    if view is None:
        return []
    return sorted({name for entries in view.routes.values() for _, _, name in entries})


def is_local(view: HostView | None, family: int, addresses: IntervalSet) -> tuple[bool, ...]:
    """Whether packets to `addresses` are delivered here (True), forwarded (False), or the
    possible answers when that is not known."""
    if not iset_subtract(addresses, LOOPBACK[family]):
        return (True,)
    if view is None:
        return (True, False)
    inside = iset_intersect(addresses, view.local[family])
    if inside == addresses:
        return (True,)
    return (False,) if not inside else (True, False)


def out_interfaces(
    view: HostView | None, family: int, addresses: IntervalSet, interfaces: InterfaceSymbols
) -> IntervalSet:
    """The interfaces a packet to `addresses` may leave through: the connected route holding
    them all (longest prefix), else any interface (a gateway route the host list does not
    give)."""
    every = iset((i, i) for i in interfaces.real())
    if view is None:
        return every
    best: tuple[int, str] | None = None
    for (low, high), prefix, name in view.routes[family]:
        if all(low <= lo and hi <= high for lo, hi in addresses):
            if best is None or prefix > best[0]:
                best = (prefix, name)
    if best is None:
        return every
    index = interfaces.index_of(best[1])
    return ((index, index),)
