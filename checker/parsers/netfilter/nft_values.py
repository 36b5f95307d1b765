"""Literal values of `nft -j` output: symbol tables and conversion to integer intervals.

Symbol values are those `nft describe` prints (nftables 1.0.6): `nft describe icmp type`,
`icmpv6 type`, `icmp code`, `icmpv6 code`, `ct state`, `ct status`, `tcp flags`; protocol numbers
are IANA's (/etc/protocols names as nft prints them); fib address types are the kernel's RTN_*
values (include/uapi/linux/rtnetlink.h).

Two kinds of trouble are kept apart:
- `BadInput`: the JSON is not what libnftables-json(5) describes (wrong type, malformed address).
  The parser turns it into a ParseError at the object's line.
- `UnknownValue`: a well-formed symbol we do not know (a service or ICMP name missing from our
  tables). The match becomes `Unknown`, never a guess.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from checker import numbers

Interval = tuple[int, int]


class BadInput(Exception):
    """The JSON breaks libnftables-json(5); `code` is the Problem code."""

    def __init__(self, message: str, code: str = "structure") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UnknownValue(Exception):
    """A well-formed value we cannot translate; the match becomes Unknown(reason)."""


PROTOCOLS = {
    "hopopt": 0, "icmp": 1, "igmp": 2, "ggp": 3, "ipencap": 4, "st": 5, "tcp": 6, "egp": 8,
    "igp": 9, "pup": 12, "udp": 17, "hmp": 20, "xns-idp": 22, "rdp": 27, "iso-tp4": 29,
    "dccp": 33, "xtp": 36, "ddp": 37, "idpr-cmtp": 38, "ipv6": 41, "ipv6-route": 43,
    "ipv6-frag": 44, "idrp": 45, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "skip": 57,
    "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "rspf": 73, "vmtp": 81,
    "eigrp": 88, "ospf": 89, "ax.25": 93, "ipip": 94, "etherip": 97, "encap": 98, "pim": 103,
    "ipcomp": 108, "comp": 108, "vrrp": 112, "l2tp": 115, "isis": 124, "sctp": 132, "fc": 133,
    "mobility-header": 135, "udplite": 136, "mpls-in-ip": 137, "manet": 138, "hip": 139,
    "shim6": 140, "wesp": 141, "rohc": 142, "ethernet": 143,
}  # fmt: skip

ICMP_TYPES = {
    "echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5,
    "echo-request": 8, "router-advertisement": 9, "router-solicitation": 10,
    "time-exceeded": 11, "parameter-problem": 12, "timestamp-request": 13,
    "timestamp-reply": 14, "info-request": 15, "info-reply": 16, "address-mask-request": 17,
    "address-mask-reply": 18,
}  # fmt: skip

ICMPV6_TYPES = {
    "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3,
    "parameter-problem": 4, "echo-request": 128, "echo-reply": 129, "mld-listener-query": 130,
    "mld-listener-report": 131, "mld-listener-done": 132, "mld-listener-reduction": 132,
    "nd-router-solicit": 133, "nd-router-advert": 134, "nd-neighbor-solicit": 135,
    "nd-neighbor-advert": 136, "nd-redirect": 137, "router-renumbering": 138,
    "ind-neighbor-solicit": 141, "ind-neighbor-advert": 142, "mld2-listener-report": 143,
}  # fmt: skip

ICMP_CODES = {
    "net-unreachable": 0, "host-unreachable": 1, "prot-unreachable": 2, "port-unreachable": 3,
    "frag-needed": 4, "net-prohibited": 9, "host-prohibited": 10, "admin-prohibited": 13,
}  # fmt: skip

ICMPV6_CODES = {
    "no-route": 0, "admin-prohibited": 1, "addr-unreachable": 3, "port-unreachable": 4,
    "policy-fail": 5, "reject-route": 6,
}  # fmt: skip

# Well-known services as nft resolves them through getservbyname(3) (IANA names).
SERVICES = {
    "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "bootps": 67,
    "bootpc": 68, "tftp": 69, "http": 80, "kerberos": 88, "pop3": 110, "sunrpc": 111,
    "ntp": 123, "netbios-ns": 137, "netbios-dgm": 138, "netbios-ssn": 139, "imap2": 143,
    "snmp": 161, "snmp-trap": 162, "ldap": 389, "https": 443, "microsoft-ds": 445,
    "isakmp": 500, "syslog": 514, "submission": 587, "ldaps": 636, "rsync": 873,
    "imaps": 993, "pop3s": 995, "openvpn": 1194, "ms-sql-s": 1433, "nfs": 2049,
    "mysql": 3306, "ms-wbt-server": 3389, "postgresql": 5432, "http-alt": 8080,
}  # fmt: skip

# ct state bits (nft describe ct state); a packet has exactly one of them.
CT_STATES = {
    "invalid": "INVALID", "established": "ESTABLISHED", "related": "RELATED",
    "new": "NEW", "untracked": "UNTRACKED",
}  # fmt: skip
CT_STATE_BITS = {1: "invalid", 2: "established", 4: "related", 8: "new", 64: "untracked"}
CT_STATUS_BITS = {
    "expected": 0x1, "seen-reply": 0x2, "assured": 0x4, "confirmed": 0x8, "snat": 0x10,
    "dnat": 0x20, "dying": 0x200,
}  # fmt: skip

# tcp flags bits (nft describe tcp flags); nft calls 0x40 "ecn", the model "ECE".
TCP_FLAG_BITS = {
    "fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10, "urg": 0x20, "ecn": 0x40,
    "cwr": 0x80,
}  # fmt: skip
TCP_FLAG_NAMES = {
    "fin": "FIN", "syn": "SYN", "rst": "RST", "psh": "PSH", "ack": "ACK", "urg": "URG",
    "ecn": "ECE", "cwr": "CWR",
}  # fmt: skip
ALL_TCP_FLAGS = frozenset(TCP_FLAG_NAMES.values())

FIB_TYPES = {
    "unspec", "unicast", "local", "broadcast", "anycast", "multicast", "blackhole",
    "unreachable", "prohibit", "throw", "nat", "xresolve",
}  # fmt: skip

# Named chain priorities, nft(8) "CHAIN PRIORITIES" table; the bridge family has its own.
PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50,
              "srcnat": 100}  # fmt: skip
BRIDGE_PRIORITIES = {"dstnat": -300, "filter": -200, "out": 100, "srcnat": 300}

# Largest value of each scalar kind a match can compare.
SCALAR_MAX = {
    "addr4": (1 << 32) - 1, "addr6": (1 << 128) - 1, "port": 65535, "proto": 255,
    "icmp_type": 255, "icmpv6_type": 255, "icmp_code": 255, "icmpv6_code": 255,
    "nfproto": 255, "ethertype": 65535,
}  # fmt: skip

# NFPROTO_IPV4 = 2, NFPROTO_IPV6 = 10 (include/uapi/linux/netfilter.h); ETH_P_IP, ETH_P_IPV6.
_NFPROTO = {"ipv4": 2, "ipv6": 10}
_ETHERTYPES = {"ip": 0x0800, "ip6": 0x86DD, "arp": 0x0806, "vlan": 0x8100, "8021ad": 0x88A8}
FAMILY_OF_NFPROTO = {2: 4, 10: 6}
FAMILY_OF_ETHERTYPE = {0x0800: 4, 0x86DD: 6}

_SYMBOLS: dict[str, dict[str, int]] = {
    "port": SERVICES,
    "proto": PROTOCOLS,
    "icmp_type": ICMP_TYPES,
    "icmpv6_type": ICMPV6_TYPES,
    "icmp_code": ICMP_CODES,
    "icmpv6_code": ICMPV6_CODES,
    "nfproto": _NFPROTO,
    "ethertype": _ETHERTYPES,
}


def normalize(ranges: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sort, drop empty ranges, merge overlapping and adjacent ones."""
    merged: list[Interval] = []
    for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def complement(ranges: tuple[Interval, ...], top: int) -> tuple[Interval, ...]:
    out: list[Interval] = []
    cur = 0
    for lo, hi in normalize(ranges):
        if lo > cur:
            out.append((cur, lo - 1))
        cur = max(cur, hi + 1)
    if cur <= top:
        out.append((cur, top))
    return tuple(out)


def scalar(value: object, kind: str) -> int:
    """One literal of `kind` (see SCALAR_MAX) as an integer."""
    if isinstance(value, bool):
        raise BadInput(f"expected a {kind} value, got {value!r}")
    if kind in ("addr4", "addr6"):
        return _address(value, kind)
    top = SCALAR_MAX[kind]
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        literal = _number_text(value)
        if literal is not None:
            number = literal
        else:
            symbol = _SYMBOLS[kind].get(value)
            if symbol is None:
                raise UnknownValue(f"unknown {kind.replace('_', ' ')} name {value!r}")
            number = symbol
    else:
        raise BadInput(f"expected a {kind} value, got {type(value).__name__}")
    if not 0 <= number <= top:
        raise BadInput(f"{kind} value {number} is out of range 0-{top}")
    return number


def _number_text(text: str) -> int | None:
    """A decimal or 0x-hex literal in a string (ASCII digits only), or None for a name."""
    try:
        if numbers.is_decimal(text):
            return numbers.to_int(text)
        if text.startswith("0x") and numbers.is_hex(text[2:]):
            return numbers.to_int(text[2:], 16)
    except numbers.NumberTooLong as error:
        raise BadInput(str(error), "number") from None
    return None


def _address(value: object, kind: str) -> int:
    version = 4 if kind == "addr4" else 6
    if isinstance(value, int):
        if not 0 <= value <= SCALAR_MAX[kind]:
            raise BadInput(f"address {value} is out of range")
        return value
    if not isinstance(value, str):
        raise BadInput(f"expected an IPv{version} address, got {type(value).__name__}")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise BadInput(f"{value!r} is not an IPv{version} address", "value") from None
    if address.version != version:
        raise BadInput(f"{value!r} is not an IPv{version} address", "value")
    return int(address)


def prefix_interval(addr: object, length: object, kind: str) -> Interval:
    """`{"prefix": {"addr": A, "len": N}}` as the range of addresses it covers."""
    base = scalar(addr, kind)
    bits = 32 if kind == "addr4" else 128
    if kind not in ("addr4", "addr6"):
        # nft allows prefixes on integer types too (e.g. a port bitmask); rare enough to
        # refuse rather than guess the width.
        raise UnknownValue(f"prefix on a {kind} value")
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= bits:
        raise BadInput(f"prefix length {length!r} is not 0-{bits}")
    host_bits = bits - length
    low = base >> host_bits << host_bits
    return (low, low | ((1 << host_bits) - 1))


def flag_bits(value: object, table: dict[str, int], what: str) -> int:
    """A bitmask value: a name, a number, a list of them, or an `{"|": [a, b]}`."""
    if isinstance(value, bool):
        raise BadInput(f"expected {what}, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        literal = _number_text(value)
        if literal is not None:
            return literal
        bit = table.get(value)
        if bit is None:
            raise UnknownValue(f"unknown {what} {value!r}")
        return bit
    if isinstance(value, list):
        bits = 0
        for item in value:
            bits |= flag_bits(item, table, what)
        return bits
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("|"), list):
        return flag_bits(value["|"], table, what)
    raise BadInput(f"expected {what}, got {type(value).__name__}")


def tcp_flag_names(bits: int) -> frozenset[str]:
    if bits >> 8:
        raise UnknownValue(f"tcp flags value {bits:#x} has bits beyond the 8 flags")
    return frozenset(TCP_FLAG_NAMES[name] for name, bit in TCP_FLAG_BITS.items() if bits & bit)


def ct_state_names(bits: int) -> frozenset[str]:
    known = 0
    for bit in CT_STATE_BITS:
        known |= bit
    if bits & ~known:
        raise UnknownValue(f"ct state value {bits:#x} has unknown bits")
    return frozenset(CT_STATES[name] for bit, name in CT_STATE_BITS.items() if bits & bit)


def priority(value: object, family: str) -> int:
    """A chain priority: a number, or (for hand-written input) "filter", "filter + 10"."""
    if isinstance(value, bool):
        raise BadInput(f"chain prio {value!r} is not a number")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise BadInput(f"chain prio {value!r} is not a number")
    names = BRIDGE_PRIORITIES if family == "bridge" else PRIORITIES
    parts = value.split()
    try:
        if len(parts) == 1:
            number = parts[0][1:] if parts[0].startswith("-") else parts[0]
            if numbers.is_decimal(number):
                return -numbers.to_int(number) if number != parts[0] else numbers.to_int(number)
            return names[parts[0]]
        if len(parts) == 3 and parts[1] in ("+", "-") and numbers.is_decimal(parts[2]):
            offset = numbers.to_int(parts[2])
            return names[parts[0]] + (offset if parts[1] == "+" else -offset)
    except KeyError:
        pass
    except numbers.NumberTooLong as error:
        raise BadInput(f"chain prio: {error}", "number") from None
    raise BadInput(f"chain prio {value!r} is neither a number nor a named priority")
