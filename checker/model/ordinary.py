"""Ordinary packets: the packets requirements are about, and what header matches mean on them.

A requirement describes *ordinary* packets (docs/policy-format.md "Ordinary packets"): IPv4
without IP options, IPv6 without extension headers, never a fragment. The model's "proto" of
such a packet is the protocol of the header right after the IP header, and for IPv6 that is the
IPv6 header's Next Header field.

On that space, matches on extension headers are decided, not unknown:
- a match that needs a header (ip6tables `-m rt`/`-m frag`/`-m hbh`/`-m dst`, whose kernel
  functions return false when `ipv6_find_hdr()` finds no such header, and nft `exthdr`
  fields, whose load ends the rule with NFT_BREAK when the header is missing) matches only a
  packet whose proto is itself that header, or another extension header in front of it;
- nft `exthdr NAME exists` is true only there, `exthdr NAME missing` everywhere else.

A flow whose proto number names an extension header (hop-by-hop 0, routing 43, fragment 44,
AH 51, destination options 60: the headers the kernel's `ipv6_ext_hdr()` lets
`ipv6_find_hdr()` walk past) is no ordinary packet: what follows that header is unknown, so such
matches stay unknown for those protocols only, instead of for every flow.
"""

from __future__ import annotations

from checker.model.netfilter import AnyOf, Match, Ranges, Unknown

# Next Header values ipv6_find_hdr() steps over (include/net/ipv6.h ipv6_ext_hdr(); NONE, 59,
# ends the walk and is no header a match can look into).
IPV6_EXTENSION_HEADERS = frozenset({0, 43, 44, 51, 60})


def _spans(numbers: frozenset[int]) -> tuple[tuple[int, int], ...]:
    return tuple((n, n) for n in sorted(numbers))


def _others(header: int) -> frozenset[int]:
    return IPV6_EXTENSION_HEADERS - {header}


def _unknown(header: int, what: str) -> Unknown:
    return Unknown(
        f"{what}: the flow's protocol is an IPv6 extension header, so it is no ordinary packet"
        f" and whether header {header} follows is unknown"
    )


def ipv6_header_present(header: int, what: str) -> Match:
    """True when the packet has IPv6 extension header `header` (a Next Header value)."""
    return AnyOf(
        (
            (Ranges("proto", ((header, header),)),),
            (Ranges("proto", _spans(_others(header))), _unknown(header, what)),
        )
    )


def ipv6_header_absent(header: int, what: str) -> Match:
    """True when the packet has no IPv6 extension header `header`."""
    options = ipv6_header_present(header, what)
    assert isinstance(options, AnyOf)
    return AnyOf(options.options, negated=True)


def ipv6_header_field(header: int, what: str) -> tuple[Ranges, Unknown]:
    """A test of a field of header `header`: false without the header, unknown with it (a
    packet that has it is no ordinary packet). A conjunction."""
    return (
        Ranges("proto", _spans(IPV6_EXTENSION_HEADERS | {header})),
        Unknown(f"{what}: looks into IPv6 extension header {header}, which ordinary packets lack"),
    )


# An IPv4 option test on an ordinary packet (no options): presence is false, a field test
# never matches (nft: NFT_BREAK when ipv4_find_option() fails).
NEVER = Ranges("proto", ())
