"""Raw payload matches (`@th,0,32 0x3e90016`) as the header fields they cover.

nft merges adjacent payload matches of one rule into one load when it builds the kernel's
bytecode (`th dport 22 th sport 1001` becomes one 32-bit compare at transport offset 0), and
lists the merged load back as a raw payload when it has no header template to split it with:
`th` has none, so a ruleset loaded with `th sport … th dport …` is listed, in text and in
`nft -j`, as `@th,0,32 VALUE` (nftables 1.0.6, tests/kernel/test_oracle_nft_text.py). The bytes
such a load reads are fixed by the header layouts (RFC 768/793 ports at transport offsets 0
and 16 bits; IPv4 addresses at network offsets 96 and 128, IPv6 at 64 and 192), so a raw
match whose bits line up with whole fields is exactly a concatenation of those fields.

What does not line up with whole fields and a raw network-header load whose IP family the rule
leaves open stay unknown; a transport load in a rule open to other protocols than those with
ports is those ports for port protocols and unknown for the others (as `th` is, nft_match).
"""

from __future__ import annotations

import ipaddress

# base -> (IP family or None, (bit offset, bit length, payload protocol, field name)).
_LAYOUTS: dict[tuple[str, int | None], tuple[tuple[int, int, str, str], ...]] = {
    ("th", None): ((0, 16, "th", "sport"), (16, 16, "th", "dport")),
    ("nh", 4): ((96, 32, "ip", "saddr"), (128, 32, "ip", "daddr")),
    ("nh", 6): ((64, 128, "ip6", "saddr"), (192, 128, "ip6", "daddr")),
}
_TABLE_FAMILY = {"ip": 4, "ip6": 6}


class NotSplit(Exception):
    """A raw payload match that is not a whole number of known header fields."""


def fields(body: dict[str, object], family: int | None) -> tuple[tuple[int, str, str], ...]:
    """The (bit length, payload protocol, field) the raw load `body` reads, in order."""
    base, offset, length = body.get("base"), body.get("offset"), body.get("len")
    if not (isinstance(base, str) and type(offset) is int and type(length) is int):
        raise NotSplit("raw payload without base, offset and len")
    if base == "th":
        # Ports under a port protocol's header; under others nft_match keeps the bytes unknown.
        layout = _LAYOUTS[("th", None)]
    elif base == "nh" and family is not None:
        layout = _LAYOUTS[("nh", family)]
    elif base == "nh":
        raise NotSplit(f"@nh,{offset},{length} in a rule open to both IP families")
    else:
        raise NotSplit(f"raw payload @{base},{offset},{length} is not modelled")
    covered: list[tuple[int, str, str]] = []
    at = offset
    for start, size, protocol, name in layout:
        if start == at and at < offset + length:
            covered.append((size, protocol, name))
            at += size
    if at != offset + length or not covered:
        raise NotSplit(f"@{base},{offset},{length} does not cover whole header fields")
    return tuple(covered)


def family_of(table_family: str, rule_families: frozenset[int] | None) -> int | None:
    """The one IP family a rule's packets can have, if the table or its matches fix it."""
    if table_family in _TABLE_FAMILY:
        return _TABLE_FAMILY[table_family]
    if rule_families is not None and len(rule_families) == 1:
        return next(iter(rule_families))
    return None


def value(number: object, layout: tuple[tuple[int, str, str], ...]) -> object:
    """A raw value as the `{"concat": [...]}` element of the fields it covers (one field:
    its plain value); ports as integers, addresses as text."""
    width = sum(size for size, _, _ in layout)
    if type(number) is not int or not 0 <= number < 1 << width:
        raise NotSplit(f"raw payload value {number!r} is not a {width}-bit number")
    parts: list[object] = []
    shift = width
    for size, protocol, _ in layout:
        shift -= size
        part = (number >> shift) & ((1 << size) - 1)
        if protocol == "ip":
            parts.append(str(ipaddress.IPv4Address(part)))
        elif protocol == "ip6":
            parts.append(str(ipaddress.IPv6Address(part)))
        else:
            parts.append(part)
    return parts[0] if len(parts) == 1 else {"concat": parts}
