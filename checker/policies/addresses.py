"""Address entries of a policy rule (`remote`, `except_remote`, `local`) as inclusive int ranges.

An entry is an IP address, a CIDR network or a range ``first-last`` of one family. Networks are
strict: ``10.0.0.1/8`` has host bits set and is an error rather than silently meaning
``10.0.0.0/8``, because a typo in a policy must not quietly change the space it checks.
"""

from __future__ import annotations

import ipaddress

from checker.policies.model import IpRange

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressError(ValueError):
    """One address entry is malformed; the message says what was expected."""


def _address(text: str) -> IpAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise AddressError(f"{text!r} is not an IPv4 or IPv6 address") from None


def parse_address(text: str) -> IpRange:
    """One entry (IP, CIDR or "a-b") as (family, first, last)."""
    entry = text.strip()
    if not entry:
        raise AddressError("empty address entry")
    if "-" in entry:
        first_text, _, last_text = entry.partition("-")
        first, last = _address(first_text.strip()), _address(last_text.strip())
        if first.version != last.version:
            raise AddressError(f"range {entry!r} mixes IPv4 and IPv6")
        if int(first) > int(last):
            raise AddressError(f"range {entry!r} runs backwards (first > last)")
        return (first.version, int(first), int(last))
    if "/" in entry:
        try:
            network = ipaddress.ip_network(entry, strict=True)
        except ValueError as exc:
            if "host bits set" in str(exc):
                loose = ipaddress.ip_network(entry, strict=False)
                raise AddressError(
                    f"{entry!r} has host bits set: write the network {str(loose)!r} "
                    "(or the single address without /len)"
                ) from None
            raise AddressError(f"{entry!r} is not a CIDR network ({exc})") from None
        return (
            network.version,
            int(network.network_address),
            int(network.broadcast_address),
        )
    address = _address(entry)
    return (address.version, int(address), int(address))


def split_address_list(text: str) -> list[str]:
    """A param value holding several entries, separated by commas and/or whitespace."""
    return [part for part in text.replace(",", " ").split() if part]


def format_range(ip_range: IpRange) -> str:
    """The shortest readable form: an address, a CIDR network or "first-last"."""
    family, first, last = ip_range
    make = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    if first == last:
        return str(make(first))
    networks = list(ipaddress.summarize_address_range(make(first), make(last)))
    if len(networks) == 1:
        return str(networks[0])
    return f"{make(first)}-{make(last)}"


def subtract(ranges: list[tuple[int, int]], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges minus cut (both lists of inclusive (first, last) of one family)."""
    result = sorted(ranges)
    for cut_first, cut_last in cut:
        kept: list[tuple[int, int]] = []
        for first, last in result:
            if cut_last < first or cut_first > last:
                kept.append((first, last))
                continue
            if first < cut_first:
                kept.append((first, cut_first - 1))
            if last > cut_last:
                kept.append((cut_last + 1, last))
        result = kept
    return result


FAMILY_SPAN = {4: (0, 2**32 - 1), 6: (0, 2**128 - 1)}
