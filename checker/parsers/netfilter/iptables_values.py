"""Values inside iptables options: addresses, ports, protocols, ICMP types, interface names.

Each function turns one argument into the model's integer ranges, or raises `LineError` saying
why iptables would refuse it. Parsing follows libxtables (xtables.c) as observed with iptables
1.8.9: numbers are C `strtoul(…, 0)` (so "0x16" and "026" are accepted), IPv4 addresses may be
abbreviated (`10/8` is 10.0.0.0/8), masks may be prefix lengths or dotted, and a host name is
resolved by iptables with DNS at load time — which fwcheck cannot replay, so it is an error.
"""

from __future__ import annotations

import ipaddress

from checker import numbers
from checker.parsers.netfilter.iptables_lexer import LineError
from checker.parsers.netfilter.iptables_services import service_port

Span = tuple[int, int]

V4_MAX = (1 << 32) - 1
V6_MAX = (1 << 128) - 1
PORT_MAX = 65535
ICMP_MAX = 65535
PROTO_MAX = 255
# Non-contiguous masks (`10.0.0.0/255.0.255.0`) cover 2**k separate ranges; past this many we
# report the match as unknown instead of listing them.
NETMASK_RANGE_LIMIT = 4096

# /etc/protocols numbers (IANA "Assigned Internet Protocol Numbers"), plus the aliases libxtables
# adds itself (xtables_chain_protos: icmpv6, mh, all). Names are lower-cased first, as iptables
# does with -p.
PROTOCOLS: dict[str, int] = {
    "all": 0,
    "ip": 0,
    "hopopt": 0,
    "icmp": 1,
    "igmp": 2,
    "ggp": 3,
    "ipencap": 4,
    "st": 5,
    "tcp": 6,
    "egp": 8,
    "igp": 9,
    "pup": 12,
    "udp": 17,
    "hmp": 20,
    "xns-idp": 22,
    "rdp": 27,
    "iso-tp4": 29,
    "dccp": 33,
    "xtp": 36,
    "ddp": 37,
    "idpr-cmtp": 38,
    "ipv6": 41,
    "ipv6-route": 43,
    "ipv6-frag": 44,
    "idrp": 45,
    "rsvp": 46,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "skip": 57,
    "ipv6-icmp": 58,
    "icmpv6": 58,
    "ipv6-nonxt": 59,
    "ipv6-opts": 60,
    "rspf": 73,
    "vmtp": 81,
    "eigrp": 88,
    "ospf": 89,
    "ax.25": 93,
    "ipip": 94,
    "etherip": 97,
    "encap": 98,
    "pim": 103,
    "ipcomp": 108,
    "vrrp": 112,
    "l2tp": 115,
    "isis": 124,
    "sctp": 132,
    "fc": 133,
    "mh": 135,
    "mobility-header": 135,
    "ipv6-mh": 135,
    "udplite": 136,
    "mpls-in-ip": 137,
    "manet": 138,
    "hip": 139,
    "shim6": 140,
    "wesp": 141,
    "rohc": 142,
    "ethernet": 143,
}

# ICMP (RFC 792, 1122, 1812) and ICMPv6 (RFC 4443, 4861) type names as `iptables -p icmp -h`
# and `ip6tables -p icmpv6 -h` list them: name -> (type, lowest code, highest code).
ICMP_TYPES: dict[str, tuple[int, int, int]] = {
    "echo-reply": (0, 0, 255),
    "pong": (0, 0, 255),
    "destination-unreachable": (3, 0, 255),
    "network-unreachable": (3, 0, 0),
    "host-unreachable": (3, 1, 1),
    "protocol-unreachable": (3, 2, 2),
    "port-unreachable": (3, 3, 3),
    "fragmentation-needed": (3, 4, 4),
    "source-route-failed": (3, 5, 5),
    "network-unknown": (3, 6, 6),
    "host-unknown": (3, 7, 7),
    "network-prohibited": (3, 9, 9),
    "host-prohibited": (3, 10, 10),
    "tos-network-unreachable": (3, 11, 11),
    "tos-host-unreachable": (3, 12, 12),
    "communication-prohibited": (3, 13, 13),
    "host-precedence-violation": (3, 14, 14),
    "precedence-cutoff": (3, 15, 15),
    "source-quench": (4, 0, 255),
    "redirect": (5, 0, 255),
    "network-redirect": (5, 0, 0),
    "host-redirect": (5, 1, 1),
    "tos-network-redirect": (5, 2, 2),
    "tos-host-redirect": (5, 3, 3),
    "echo-request": (8, 0, 255),
    "ping": (8, 0, 255),
    "router-advertisement": (9, 0, 255),
    "router-solicitation": (10, 0, 255),
    "time-exceeded": (11, 0, 255),
    "ttl-exceeded": (11, 0, 255),
    "ttl-zero-during-transit": (11, 0, 0),
    "ttl-zero-during-reassembly": (11, 1, 1),
    "parameter-problem": (12, 0, 255),
    "ip-header-bad": (12, 0, 0),
    "required-option-missing": (12, 1, 1),
    "timestamp-request": (13, 0, 255),
    "timestamp-reply": (14, 0, 255),
    "address-mask-request": (17, 0, 255),
    "address-mask-reply": (18, 0, 255),
}
ICMPV6_TYPES: dict[str, tuple[int, int, int]] = {
    "destination-unreachable": (1, 0, 255),
    "no-route": (1, 0, 0),
    "communication-prohibited": (1, 1, 1),
    "beyond-scope": (1, 2, 2),
    "address-unreachable": (1, 3, 3),
    "port-unreachable": (1, 4, 4),
    "failed-policy": (1, 5, 5),
    "reject-route": (1, 6, 6),
    "packet-too-big": (2, 0, 255),
    "time-exceeded": (3, 0, 255),
    "ttl-exceeded": (3, 0, 255),
    "ttl-zero-during-transit": (3, 0, 0),
    "ttl-zero-during-reassembly": (3, 1, 1),
    "parameter-problem": (4, 0, 255),
    "bad-header": (4, 0, 0),
    "unknown-header-type": (4, 1, 1),
    "unknown-option": (4, 2, 2),
    "echo-request": (128, 0, 255),
    "ping": (128, 0, 255),
    "echo-reply": (129, 0, 255),
    "pong": (129, 0, 255),
    "router-solicitation": (133, 0, 255),
    "router-advertisement": (134, 0, 255),
    "neighbour-solicitation": (135, 0, 255),
    "neighbor-solicitation": (135, 0, 255),
    "neighbour-advertisement": (136, 0, 255),
    "neighbor-advertisement": (136, 0, 255),
    "redirect": (137, 0, 255),
}

# IFNAMSIZ is 16 including the NUL (include/uapi/linux/if.h).
IFNAME_MAX = 15


def c_number(text: str) -> int | None:
    """`strtoul(text, &end, 0)` that must consume all of `text`: decimal, 0x hex, 0 octal.

    A number too long for any field is None as well: strtoul saturates with ERANGE, which
    xtables_strtoul_base() refuses."""
    try:
        if numbers.is_decimal(text):
            if len(text) > 1 and text[0] == "0":
                return numbers.to_int(text, 8) if all(c in "01234567" for c in text) else None
            return numbers.to_int(text)
        if text[:2] in ("0x", "0X") and numbers.is_hex(text[2:]):
            return numbers.to_int(text[2:], 16)
    except numbers.NumberTooLong:
        return None
    return None


MARK_MAX = 0xFFFFFFFF


def mark_value(text: str, what: str) -> tuple[int, int]:
    """`VALUE[/MASK]` of a mark (xtables_strtoui: 32 bits; the mask defaults to all ones)."""
    value_text, _, mask_text = text.partition("/")
    value = c_number(value_text)
    mask = c_number(mask_text) if mask_text else MARK_MAX
    if value is None or mask is None or value > MARK_MAX or mask > MARK_MAX:
        raise LineError(what, f"bad mark value `{text}` (VALUE[/MASK], 32 bits)")
    return value, mask


def complement(spans: tuple[Span, ...], maximum: int) -> tuple[Span, ...]:
    """The ranges of 0..maximum outside `spans` (which must be sorted and disjoint)."""
    result: list[Span] = []
    start = 0
    for low, high in spans:
        if low > start:
            result.append((start, low - 1))
        start = max(start, high + 1)
    if start <= maximum:
        result.append((start, maximum))
    return tuple(result)


def normalize(spans: list[Span]) -> tuple[Span, ...]:
    """Sorted, merged, without empty (low > high) ranges."""
    ordered = sorted(span for span in spans if span[0] <= span[1])
    merged: list[Span] = []
    for low, high in ordered:
        if merged and low <= merged[-1][1] + 1:
            if high > merged[-1][1]:
                merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    return tuple(merged)


# --- addresses ---------------------------------------------------------------------------


def _ipv4(text: str, is_mask: bool) -> int | None:
    parts = text.split(".")
    if len(parts) > 4 or (is_mask and len(parts) != 4):
        return None
    value = 0
    for part in parts:
        number = c_number(part)
        if number is None or number > 255:
            return None
        value = (value << 8) | number
    # libxtables completes a short network address with zero bytes ("10.1" is 10.1.0.0).
    return value << (8 * (4 - len(parts)))


def _ipv6(text: str) -> int | None:
    if "%" in text:
        return None
    try:
        return int(ipaddress.IPv6Address(text))
    except ValueError:
        return None


def _mask_spans(address: int, mask: int, width: int) -> tuple[Span, ...] | None:
    """The addresses x with x & mask == address & mask, as ranges (None: too many)."""
    full = (1 << width) - 1
    tail = 0
    while tail < width and not (mask >> tail) & 1:
        tail += 1
    free = [bit for bit in range(tail, width) if not (mask >> bit) & 1]
    if len(free) > 12 or (1 << len(free)) > NETMASK_RANGE_LIMIT:
        return None
    base = address & mask & full
    size = (1 << tail) - 1
    spans = []
    for combination in range(1 << len(free)):
        low = base
        for index, bit in enumerate(free):
            if (combination >> index) & 1:
                low |= 1 << bit
        spans.append((low, low | size))
    return normalize(spans)


def address_spans(text: str, family: int) -> tuple[Span, ...] | None:
    """One `-s`/`-d` item (`addr`, `addr/len`, `addr/mask`) as ranges; None if the mask is
    non-contiguous with too many holes to list."""
    width = 32 if family == 4 else 128
    address_text, slash, mask_text = text.partition("/")
    address = _ipv4(address_text, False) if family == 4 else _ipv6(address_text)
    if address is None:
        raise LineError("address", _bad_address(address_text, family))
    if not slash:
        return ((address, address),)
    length = c_number(mask_text) if numbers.is_decimal(mask_text) else None
    if length is not None:
        if length > width:
            raise LineError("address", f"invalid mask `{mask_text}` (at most /{width})")
        mask = ((1 << width) - 1) ^ ((1 << (width - length)) - 1)
    else:
        parsed = _ipv4(mask_text, True) if family == 4 else _ipv6(mask_text)
        if parsed is None:
            raise LineError("address", f"invalid mask `{mask_text}`")
        mask = parsed
    inverted = ((1 << width) - 1) ^ mask
    if inverted & (inverted + 1) == 0:
        network = address & mask
        return ((network, network | inverted),)
    return _mask_spans(address, mask, width)


def _bad_address(text: str, family: int) -> str:
    other = _ipv6(text) if family == 4 else _ipv4(text, False)
    if other is not None:
        theirs, ours = (
            ("IPv6", "iptables-save (IPv4)") if family == 4 else ("IPv4", "ip6tables-save (IPv6)")
        )
        return f"`{text}` is an {theirs} address in an {ours} ruleset"
    if text and all(c.isalnum() or c in ".-_" for c in text) and any(c.isalpha() for c in text):
        return (
            f"`{text}` is a host name: iptables resolves names with DNS when the rules are"
            " loaded, so the addresses they stood for are unknown; write addresses instead"
        )
    return f"`{text}` is not an IPv{family} address"


def address_list(text: str, family: int) -> tuple[Span, ...] | None:
    """A comma list of `-s`/`-d` items; None if one of them cannot be listed (see above)."""
    if "," not in text:
        if not text:
            raise LineError("address", "empty address")
        return address_spans(text, family)
    spans: list[Span] = []
    for item in text.split(","):
        if not item:
            raise LineError("address", f"empty address in `{text}`")
        item_spans = address_spans(item, family)
        if item_spans is None:
            return None
        spans.extend(item_spans)
    return normalize(spans)


def address_range(text: str, family: int) -> tuple[Span, ...]:
    """`-m iprange` `from[-to]`. A reversed range matches nothing (xt_iprange warns so)."""
    low_text, dash, high_text = text.partition("-")
    parse = (lambda t: _ipv4(t, True)) if family == 4 else _ipv6
    low = parse(low_text)
    high = parse(high_text) if dash else low
    if low is None or high is None:
        raise LineError("address", f"`{text}` is not an IPv{family} address range")
    return ((low, high),) if low <= high else ()


# --- ports, protocols, ICMP -----------------------------------------------------------------


def port(text: str, protocol: str) -> int:
    number = c_number(text)
    if number is None:
        found = service_port(text, protocol)
        if found is None:
            raise LineError(
                "port",
                f"invalid port/service `{text}` (not a number, not a known {protocol} service name)",
            )
        return found
    if number > PORT_MAX:
        raise LineError("port", f"port `{text}` is out of range (0-65535)")
    return number


def port_range(text: str, protocol: str) -> Span:
    """`--sport`/`--dport` of the tcp/udp/sctp/dccp matches: `p`, `a:b`, `:b`, `a:`."""
    low_text, colon, high_text = text.partition(":")
    if not colon:
        value = port(text, protocol)
        return value, value
    low = port(low_text, protocol) if low_text else 0
    high = port(high_text, protocol) if high_text else PORT_MAX
    if low > high:
        raise LineError("port", f"invalid port range `{text}` (min > max)")
    return low, high


def port_list(text: str, protocol: str) -> tuple[Span, ...]:
    """multiport `p,a:b,…`: at most 15 ports, a range counting as two (xt_multiport.h)."""
    spans: list[Span] = []
    used = 0
    for item in text.split(","):
        low_text, colon, high_text = item.partition(":")
        low = port(low_text, protocol)
        if colon:
            high = port(high_text, protocol)
            if low >= high:
                raise LineError("port", f"invalid port range `{item}` in `{text}`")
            used += 2
        else:
            high = low
            used += 1
        spans.append((low, high))
    if used > 15:
        raise LineError(
            "port", f"too many ports in `{text}` (multiport takes 15, a range counts as 2)"
        )
    return normalize(spans)


def protocol(text: str) -> int:
    lowered = text.lower()
    number = c_number(lowered)
    if number is None:
        number = PROTOCOLS.get(lowered)
    if number is None or number > PROTO_MAX:
        raise LineError("protocol", f"unknown protocol `{text}`")
    return number


def icmp_type(text: str, family: int) -> Span | None:
    """`--icmp-type`/`--icmpv6-type` as a range of type*256+code; None for `any`."""
    table = ICMP_TYPES if family == 4 else ICMPV6_TYPES
    option = "--icmp-type" if family == 4 else "--icmpv6-type"
    if numbers.is_decimal(text[:1]):
        type_text, slash, code_text = text.partition("/")
        type_number = c_number(type_text)
        code = c_number(code_text) if slash else 0
        if type_number is None or type_number > 255 or code is None or code > 255:
            raise LineError("icmp", f"invalid {option} `{text}`")
        if family == 4 and type_number == 255:
            return None  # 0xFF is xt_icmp's "any type"
        if slash:
            return type_number * 256 + code, type_number * 256 + code
        return type_number * 256, type_number * 256 + 255
    lowered = text.lower()
    if family == 4 and lowered == "any":
        return None
    entry = table.get(lowered)
    if entry is None:
        # libxt_icmp accepts an unambiguous prefix ("echo-req").
        candidates = sorted(
            {name for name in table if name.startswith(lowered)} if lowered else set()
        )
        if len(candidates) != 1:
            detail = f": `{'` or `'.join(candidates)}`?" if candidates else ""
            raise LineError("icmp", f"unknown or ambiguous {option} `{text}`{detail}")
        entry = table[candidates[0]]
    type_number, low, high = entry
    return type_number * 256 + low, type_number * 256 + high


def interface(text: str) -> str:
    if len(text) > IFNAME_MAX:
        raise LineError(
            "interface", f"interface name `{text}` is longer than {IFNAME_MAX} characters"
        )
    if not text:
        raise LineError("interface", "empty interface name")
    return text
