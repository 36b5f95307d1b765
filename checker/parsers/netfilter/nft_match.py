"""nft `match` statements (and vmap keys) as model matches.

A match's left side names a packet property; `left()` says which model field it is, how its
literals read, and which *implicit dependencies* it carries. `nft list` and `nft -j list` hide
the dependencies nft added when the rule was loaded, so they are put back here from
`_HEADER_DEPS` (each entry checked with `nft --debug=netlink`, nftables 1.0.6, in
tests/parsers/netfilter/test_nft_deps_live.py):
- the network family: `ip`, `icmp`, `igmp`, `ip option` need IPv4; `ip6`, `icmpv6` and
  `exthdr` (hbh, rt, frag, dst, mh, srh) need IPv6. nft tests it with `meta nfproto` in inet
  tables, `meta protocol` in netdev tables and `ether type` in bridge tables (all the model's
  "family"); an ip or ip6 table adds no test, the table is the family, so `icmpv6 type` in an
  `ip` table matches IPv4 packets of protocol 58;
- the transport protocol: `tcp`, `udp`, `udplite`, `sctp`, `dccp`, `icmp`, `icmpv6`, `igmp`,
  `ah`, `esp`, `comp` add `meta l4proto` in every family; `th` adds nothing.
So `icmpv6 type nd-neighbor-solicit` in an inet table is `meta nfproto ipv6 meta l4proto 58
icmpv6 type 135`: an IPv4 packet of protocol 58 does not match it. `nft -j list ruleset` shows
none of these tests, except `meta nfproto ipv4` in front of `igmp` in inet tables, which it
lists as an ordinary match (adding the same dependency again changes nothing).

IPv6 extension headers and IPv4 options are decided on ordinary packets (checker/model/
ordinary.py): `exthdr NAME exists` and field tests need the header, `missing` holds without it,
an `ip option` is never present, and `ip frag-off` under a mask without the DF and reserved
bits (iptables-nft's `-f` is `ip frag-off & 8191 != 0`) is 0.

The unary `!` of libnftables (`tcp flags ! fin,syn`, what iptables-nft's `--tcp-flags MASK
NONE` lists as) is `(value & right) == 0`, the opposite of the implicit `in` (`nft
--debug=netlink`: bitwise and, cmp eq 0).

`meta mark` and `ct mark` are MarkMatch (nft_marks). What the model cannot hold becomes
`Unknown(reason)`: meta skuid/pkttype/…, ct direction/status bits other than snat/dnat, ip ttl and other header fields,
raw payloads that are not whole known header fields (nft_raw),
bitwise tests other than tcp flags and ct state, fib lookups other than a plain `fib saddr|daddr
type`, lookups in sets the packet path updates (dynamic/timeout flags, `add @set` statements),
and symbols missing from our tables. `th` ports in a rule open to protocols without ports (no
protocol test, `meta l4proto != tcp`) are the ports under tcp/udp/udplite/sctp/dccp and
unknown under other headers, whose bytes at those offsets the model does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from checker.model.net import PORT_PROTOCOL_NAMES, PORT_PROTOCOLS
from checker.model.netfilter import (
    AddrType,
    AnyOf,
    CtState,
    Iface,
    Match,
    Ranges,
    TcpFlags,
    Unknown,
)
from checker.model.ordinary import NEVER as NO_OPTION
from checker.model.ordinary import ipv6_header_absent, ipv6_header_field, ipv6_header_present
from checker.parsers.netfilter import nft_marks, nft_raw
from checker.parsers.netfilter import nft_values as values
from checker.parsers.netfilter.nft_values import BadInput, Interval, UnknownValue

_PORT_HEADERS = {name: number for number, name in PORT_PROTOCOL_NAMES.items()}
_FAMILY_TABLES = {"ip": 4, "ip6": 6}
_OPS = frozenset({"==", "!=", "<", ">", "<=", ">=", "in", "!"})
# (family, transport protocol) nft makes a payload expression depend on; None: no test.
_HEADER_DEPS: dict[str, tuple[int | None, int | None]] = {
    "ip": (4, None), "ip6": (6, None), "exthdr": (6, None), "ip option": (4, None),
    "icmp": (4, 1), "igmp": (4, 2), "icmpv6": (6, 58),
    "tcp": (None, 6), "udp": (None, 17), "udplite": (None, 136), "sctp": (None, 132),
    "dccp": (None, 33), "ah": (None, 51), "esp": (None, 50), "comp": (None, 108),
}  # fmt: skip
# Headers the network-layer expressions read: in a table of the other IP family nft refuses
# them, so a family test that can never hold is kept for hand-written input.
_NETWORK = frozenset({"ip", "ip6", "exthdr", "ip option"})
# IPv4 fragment offset (13 bits) and MF; DF (0x4000) and the reserved bit are left out.
_FRAG_BITS = 0x3FFF
# nft exthdr names and the IPv6 Next Header value of the header each reads.
_EXTHDRS = {"hbh": 0, "rt": 43, "rt0": 43, "rt2": 43, "rt4": 43, "srh": 43, "frag": 44,
            "dst": 60, "mh": 135}  # fmt: skip
# A family match that can never hold: `meta protocol arp` in a rule about IP flows.
NEVER = Ranges("family", ())


@dataclass(frozen=True, slots=True)
class NamedSet:
    name: str
    is_map: bool
    # For maps: what the keys map to ("verdict" for verdict maps), as written.
    map_type: object
    elements: tuple[object, ...]
    # Why the packet path may change its contents ("" if it cannot).
    volatile: str


@dataclass(frozen=True, slots=True)
class Left:
    """What a match's left side is. `kind`: "range" (a model Ranges field, literals read as
    `scalar`), "iface", "ctstate", "ctstatus", "tcpflags", "addrtype", "concat" or "unknown"."""

    kind: str
    field: str = ""
    scalar: str = ""
    deps: tuple[Match, ...] = ()
    reason: str = ""
    # tcp flags / ct state under `&`: the mask bits.
    mask: int | None = None
    parts: tuple[Left, ...] = ()
    # kind "exthdr": the IPv6 Next Header value of the header whose presence is tested.
    header: int = 0
    # kind "range" on `th` ports the rule's protocols do not restrict to port protocols: why
    # the same bytes are unknown under other transport headers.
    elsewhere: str = ""


@dataclass
class RuleMatches:
    """The matches of one rule so far (a conjunction), built in statement order."""

    family: str
    sets: Mapping[str, NamedSet]
    matches: list[Match] = field(default_factory=list)

    def add(self, match: Match) -> None:
        if isinstance(match, Ranges) and match.field == "family" and self.family in _FAMILY_TABLES:
            if any(lo <= _FAMILY_TABLES[self.family] <= hi for lo, hi in match.ranges):
                return  # `meta nfproto ipv4` in an ip table: always true
        if match not in self.matches:
            self.matches.append(match)

    def protocols(self) -> frozenset[int] | None:
        """The protocols a packet can still have, if a proto match narrowed them."""
        return self._narrowed("proto")

    def families(self) -> frozenset[int] | None:
        """The IP families a packet can still have, if a family match narrowed them."""
        return self._narrowed("family")

    def _narrowed(self, name: str) -> frozenset[int] | None:
        known: frozenset[int] | None = None
        for match in self.matches:
            if isinstance(match, Ranges) and match.field == name:
                here = frozenset(p for lo, hi in match.ranges for p in range(lo, hi + 1))
                known = here if known is None else known & here
        return known


def _deps(protocol: str, table_family: str) -> tuple[Match, ...]:
    """The tests nft adds in front of a `protocol` expression in a `table_family` table."""
    family, transport = _HEADER_DEPS.get(protocol, (None, None))
    deps: list[Match] = []
    if family is not None and _FAMILY_TABLES.get(table_family) != family:
        if table_family not in _FAMILY_TABLES or protocol in _NETWORK:
            deps.append(Ranges("family", ((family, family),)))
    if transport is not None:
        deps.append(_proto(transport))
    return tuple(deps)


def _proto(number: int) -> Ranges:
    return Ranges("proto", ((number, number),))


def left(expr: object, rule: RuleMatches) -> Left:
    if not isinstance(expr, dict) or len(expr) != 1:
        raise BadInput("a match's left side is not an expression object")
    ((kind, body),) = expr.items()
    if kind == "payload":
        return _payload(body, rule)
    if kind == "meta":
        return _meta(body)
    if kind == "ct":
        return _ct(body)
    if kind == "fib":
        return _fib(body)
    if kind == "&":
        return _bitwise(body, rule)
    if kind == "exthdr":
        return _exthdr(body, rule)
    if kind == "ip option":
        return _ip_option(body, rule)
    if kind == "concat":
        if not isinstance(body, list) or not body:
            raise BadInput("concat is not a non-empty array")
        parts = tuple(left(part, rule) for part in body)
        deps = tuple(dep for part in parts for dep in part.deps)
        return Left("concat", deps=deps, parts=parts)
    # tcp option, sctp chunk, rt, socket, osf, ipsec, numgen, hashes, map lookups and
    # expressions newer than us only narrow the rule: unknown, not an error.
    return Left("unknown", reason=f"nft {kind} expression is not modelled")


def _key(body: object, name: str) -> str:
    if not isinstance(body, dict) or not isinstance(body.get(name), str):
        raise BadInput(f'expression without a string "{name}"')
    return body[name]


def _payload(body: object, rule: RuleMatches) -> Left:
    if isinstance(body, dict) and "base" in body:
        return Left("unknown", reason="raw payload match is not modelled")
    protocol, name = _key(body, "protocol"), _key(body, "field")
    deps = _deps(protocol, rule.family)
    if protocol in ("ip", "ip6"):
        scalar = "addr4" if protocol == "ip" else "addr6"
        if name in ("saddr", "daddr"):
            return Left("range", name, scalar, deps)
        if (protocol, name) == ("ip", "frag-off"):
            return Left("fragoff", deps=deps, reason="ip frag-off")
        if (protocol, name) in (("ip", "protocol"), ("ip6", "nexthdr")):
            # ip6 nexthdr is the first header after IPv6; the model's flows carry no
            # extension headers, so it is the transport protocol.
            return Left("range", "proto", "proto", deps)
        return Left("unknown", deps=deps, reason=f"{protocol} {name} is not modelled")
    if protocol in _PORT_HEADERS or protocol == "th":
        if protocol == "tcp" and name == "flags":
            return Left("tcpflags", deps=deps)
        if name in ("sport", "dport"):
            if protocol == "th":
                known = rule.protocols()
                if known is None or not known <= PORT_PROTOCOLS:
                    why = f"th {name} without a port protocol match"
                    return Left("range", name, "port", deps, elsewhere=why)
            return Left("range", name, "port", deps)
        return Left("unknown", deps=deps, reason=f"{protocol} {name} is not modelled")
    if protocol in ("icmp", "icmpv6") and name in ("type", "code"):
        return Left("range", "icmp", f"{protocol}_{name}", deps)
    return Left("unknown", deps=deps, reason=f"{protocol} {name} is not modelled")


def _exthdr(body: object, rule: RuleMatches) -> Left:
    name = _key(body, "name")
    field = body.get("field") if isinstance(body, dict) else None
    header = _EXTHDRS.get(name)
    if header is None:
        return Left("unknown", reason=f"exthdr {name} is not modelled")
    deps = _deps("exthdr", rule.family)
    what = f"exthdr {name} {field}" if field else f"exthdr {name}"
    if field is None:
        return Left("exthdr", scalar=what, deps=deps, header=header)
    needs, unknown = ipv6_header_field(header, what)
    return Left("unknown", deps=(*deps, needs), reason=unknown.reason)


def _ip_option(body: object, rule: RuleMatches) -> Left:
    name = _key(body, "name")
    field = body.get("field") if isinstance(body, dict) else None
    # An ordinary packet has no IPv4 option: presence is false, a field test never matches.
    deps = _deps("ip option", rule.family)
    # `field` is non-empty for a field test, empty for a presence test.
    return Left("ipoption", "field" if field else "", f"ip option {name}", deps)


def _meta(body: object) -> Left:
    key = _key(body, "key")
    if key == "l4proto":
        return Left("range", "proto", "proto")
    if key == "nfproto":
        return Left("range", "family", "nfproto")
    if key == "protocol":
        return Left("range", "family", "ethertype")
    if key in ("iifname", "iif"):
        return Left("iface", "iif", key)
    if key in ("oifname", "oif"):
        return Left("iface", "oif", key)
    if key == "mark":
        return Left("mark", "mark")
    return Left("unknown", reason=f"meta {key} is not modelled")


def _ct(body: object) -> Left:
    key = _key(body, "key")
    if isinstance(body, dict) and "dir" in body:
        return Left("unknown", reason=f"ct {body['dir']} {key} is not modelled")
    if key == "state":
        return Left("ctstate")
    if key == "status":
        return Left("ctstatus")
    if key == "mark":
        return Left("mark", "ctmark")
    return Left("unknown", reason=f"ct {key} is not modelled")


def _fib(body: object) -> Left:
    result = _key(body, "result")
    flags = body.get("flags") if isinstance(body, dict) else None
    flags = [flags] if isinstance(flags, str) else flags
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise BadInput('fib without "flags"')
    if result == "type" and flags in (["saddr"], ["daddr"]):
        return Left("addrtype", "src" if flags == ["saddr"] else "dst")
    return Left("unknown", reason=f"fib {' . '.join(flags)} {result} lookup is not modelled")


def _bitwise(body: object, rule: RuleMatches) -> Left:
    if not isinstance(body, list) or len(body) != 2:
        raise BadInput('"&" needs an array of two expressions')
    inner = left(body[0], rule)
    if inner.kind == "fragoff" and inner.mask is None:
        mask = body[1]
        if isinstance(mask, int) and not isinstance(mask, bool) and 0 <= mask <= _FRAG_BITS:
            # Offset and more-fragments bits: 0 on a packet that is no fragment.
            return Left("fragoff", deps=inner.deps, reason=inner.reason, mask=mask)
        return Left("unknown", deps=inner.deps, reason="ip frag-off under a mask with DF")
    try:
        if inner.kind == "tcpflags" and inner.mask is None:
            mask = values.flag_bits(body[1], values.TCP_FLAG_BITS, "tcp flag")
            return Left("tcpflags", deps=inner.deps, mask=mask)
        if inner.kind == "ctstate" and inner.mask is None:
            state_bits = {name: bit for bit, name in values.CT_STATE_BITS.items()}
            mask = values.flag_bits(body[1], state_bits, "ct state")
            return Left("ctstate", deps=inner.deps, mask=mask)
        if inner.kind == "mark" and inner.mask is None and type(body[1]) is int:
            return Left("mark", inner.field, mask=body[1] & nft_marks.ALL)
    except UnknownValue as unknown:
        return Left("unknown", deps=inner.deps, reason=str(unknown))
    return Left("unknown", deps=inner.deps, reason="bitwise match is not modelled")


def elements(right: object, rule: RuleMatches) -> tuple[tuple[object, ...], str]:
    """The values a right side stands for, and why they cannot be trusted ("" if they can)."""
    if isinstance(right, str) and right.startswith("@"):
        named = rule.sets.get(right[1:])
        if named is None:
            raise BadInput(f"unknown set {right}", "reference")
        if named.is_map:
            raise BadInput(f"{right} is a map, not a set", "reference")
        return named.elements, named.volatile
    if isinstance(right, dict) and len(right) == 1 and "set" in right:
        content = right["set"]
        return (tuple(content) if isinstance(content, list) else (content,)), ""
    return (right,), ""


def element_value(element: object) -> object:
    """A set element without its `{"elem": {"val": …, "timeout": …}}` wrapper."""
    if isinstance(element, dict) and len(element) == 1 and "elem" in element:
        body = element["elem"]
        if not isinstance(body, dict) or "val" not in body:
            raise BadInput('"elem" without "val"')
        return body["val"]
    return element


def translate(stmt: object, rule: RuleMatches) -> None:
    """Add what one `{"match": {...}}` body requires to `rule`."""
    if not isinstance(stmt, dict):
        raise BadInput("match statement is not an object")
    op = stmt.get("op")
    if not isinstance(op, str) or op not in _OPS:
        raise BadInput(f"match operator {op!r} is not one of {', '.join(sorted(_OPS))}")
    if "left" not in stmt or "right" not in stmt:
        raise BadInput('match without "left" and "right"')
    expr, right = stmt["left"], stmt["right"]
    if _is_raw(expr):
        try:
            expr, right = _split_raw(expr, op, right, rule)
        except nft_raw.NotSplit as why:
            rule.add(Unknown(str(why)))
            return
    side = left(expr, rule)
    for dep in side.deps:
        rule.add(dep)
    for match in build(side, op, right, rule):
        rule.add(match)


def _is_raw(expr: object) -> bool:
    return (
        isinstance(expr, dict)
        and isinstance(expr.get("payload"), dict)
        and ("base" in expr["payload"])
    )


def _split_raw(expr: dict[str, dict[str, object]], op: str, right: object,
               rule: RuleMatches) -> tuple[object, object]:  # fmt: skip
    """A raw payload match as the match of the header fields it covers (nft_raw)."""
    if op not in ("==", "!=", "in"):
        raise nft_raw.NotSplit(f"raw payload compared with {op}")
    family = nft_raw.family_of(rule.family, rule.families())
    layout = nft_raw.fields(expr["payload"], family)
    if isinstance(right, dict) and set(right) == {"set"} and isinstance(right["set"], list):
        right = {"set": [nft_raw.value(item, layout) for item in right["set"]]}
    else:
        right = nft_raw.value(right, layout)
    parts = [{"payload": {"protocol": protocol, "field": name}} for _, protocol, name in layout]
    return (parts[0] if len(parts) == 1 else {"concat": parts}), right


def build(side: Left, op: str, right: object, rule: RuleMatches) -> tuple[Match, ...]:
    if side.kind == "unknown":
        return (Unknown(side.reason),)
    if side.kind in ("exthdr", "ipoption"):
        return _presence(side, op, right)
    if side.kind == "fragoff":
        items, _ = elements(right, rule)
        return _fragment_offset(side, op, tuple(element_value(item) for item in items))
    if op == "!" and side.kind not in ("tcpflags", "ctstate", "ctstatus"):
        return (Unknown(f"operator ! (no bit set) on {side.kind} is not modelled"),)
    items, volatile = elements(right, rule)
    items = tuple(element_value(item) for item in items)
    if volatile:
        return (Unknown(f"{_set_name(right)}: {volatile}"),)
    try:
        if side.kind == "range" and side.elsewhere:
            return (_th_ports((_ranges(side, op, items),), side.elsewhere),)
        if side.kind == "range":
            return (_ranges(side, op, items),)
        open_th = next((part.elsewhere for part in side.parts if part.elsewhere), "")
        if side.kind == "concat" and open_th:
            return (_th_ports(_concat(side, op, items, rule.family), open_th),)
        if side.kind == "concat":
            return _concat(side, op, items, rule.family)
        return (_single(side, op, items),)
    except UnknownValue as unknown:
        return (Unknown(str(unknown)),)


def _th_ports(ports: tuple[Match, ...], reason: str) -> AnyOf:
    """`th sport|dport` in a rule open to other transport protocols: nft adds no protocol test
    (nft(8) RAW PAYLOAD EXPRESSION: `th` is the transport header, whatever it is), so the match
    is the ports under a port protocol's header, where the RFC 768/793 layouts put them, and
    unknown bytes under any other header."""
    spans = values.normalize((p, p) for p in PORT_PROTOCOLS)
    others = values.complement(spans, values.SCALAR_MAX["proto"])
    return AnyOf(((Ranges("proto", spans), *ports), (Ranges("proto", others), Unknown(reason))))


def _fragment_offset(side: Left, op: str, items: tuple[object, ...]) -> tuple[Match, ...]:
    """`ip frag-off & MASK` (MASK without DF/reserved bits) is 0 on ordinary packets."""
    if side.mask is None:
        return (Unknown("ip frag-off without a mask: whether DF is set is not modelled"),)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        return (Unknown(f"ip frag-off compared with {items!r} is not modelled"),)
    numbers = [i for i in items if isinstance(i, int)]
    tests = {"==": 0 in numbers, "in": 0 in numbers, "!=": 0 not in numbers}
    if op not in tests:
        return (Unknown(f"ip frag-off compared with {op} is not modelled"),)
    return () if tests[op] else (NEVER,)


def _presence(side: Left, op: str, right: object) -> tuple[Match, ...]:
    """`exthdr NAME exists|missing` and `ip option NAME …` on ordinary packets."""
    if side.kind == "ipoption" and side.field:
        return (NO_OPTION,)
    # nft -j writes true/false; hand-written input may use the keywords of `nft list`.
    wanted: bool | None = right if isinstance(right, bool) else None
    if isinstance(right, str):
        wanted = {"exists": True, "missing": False}.get(right)
    if wanted is None or op not in ("==", "!="):
        return (Unknown(f"{side.scalar} {op} {right!r} is not modelled"),)
    present = wanted == (op == "==")
    if side.kind == "ipoption":
        return (NO_OPTION,) if present else ()
    test = ipv6_header_present if present else ipv6_header_absent
    return (test(side.header, side.scalar),)


def _set_name(right: object) -> str:
    return right if isinstance(right, str) else "set"


def _ranges(side: Left, op: str, items: tuple[object, ...]) -> Match:
    top = values.SCALAR_MAX[side.scalar]
    if op in ("<", ">", "<=", ">="):
        if len(items) != 1 or isinstance(items[0], dict | list):
            raise BadInput(f"operator {op} needs one plain value")
        number = values.scalar(items[0], side.scalar)
        bounds = {"<": (0, number - 1), "<=": (0, number), ">": (number + 1, top),
                  ">=": (number, top)}  # fmt: skip
        scalars: tuple[Interval, ...] = values.normalize([bounds[op]])
    elif op == "!=" and len(items) == 1 and _reversed_range(items[0], side.scalar):
        # nft 1.0.6 lists `tcp dport < 1024 tcp dport > 999` (kernel: cmp lt, cmp gt) as
        # `!= 1024-999`; a range whose bounds are reversed can only come from that, and means
        # the ports strictly between them (checked with `nft --debug=netlink`).
        low, high = _intervals(items[0], side.scalar)
        scalars = values.normalize([(high + 1, low - 1)])
    else:
        scalars = values.normalize(_intervals(item, side.scalar) for item in items)
        if op == "!=":
            scalars = values.complement(scalars, top)
    return Ranges(side.field, values.normalize(_to_field(side.scalar, scalars)))


def _reversed_range(item: object, scalar: str) -> bool:
    if not (isinstance(item, dict) and isinstance(item.get("range"), list)):
        return False
    low, high = _intervals(item, scalar)
    return low > high


def _intervals(item: object, scalar: str) -> Interval:
    if isinstance(item, dict) and len(item) == 1:
        ((kind, body),) = item.items()
        if kind == "prefix":
            if not isinstance(body, dict) or "addr" not in body or "len" not in body:
                raise BadInput('prefix without "addr" and "len"')
            return values.prefix_interval(body["addr"], body["len"], scalar)
        if kind == "range":
            if not isinstance(body, list) or len(body) != 2:
                raise BadInput("range is not an array of two values")
            return (values.scalar(body[0], scalar), values.scalar(body[1], scalar))
    if isinstance(item, dict | list):
        raise BadInput(f"expected a {scalar} value, prefix or range")
    number = values.scalar(item, scalar)
    return (number, number)


def _to_field(scalar: str, scalars: tuple[Interval, ...]) -> list[Interval]:
    """Scalar intervals as intervals of the model field."""
    if scalar in ("icmp_type", "icmpv6_type"):
        return [(lo * 256, hi * 256 + 255) for lo, hi in scalars]
    if scalar in ("icmp_code", "icmpv6_code"):
        # The model's "icmp" is type * 256 + code: a code alone is one range per type.
        return [(t * 256 + lo, t * 256 + hi) for t in range(256) for lo, hi in scalars]
    if scalar in ("nfproto", "ethertype"):
        families = values.FAMILY_OF_NFPROTO if scalar == "nfproto" else values.FAMILY_OF_ETHERTYPE
        return [
            (f, f)
            for number, f in families.items()
            if any(lo <= number <= hi for lo, hi in scalars)
        ]
    return list(scalars)


def _concat(side: Left, op: str, items: tuple[object, ...], family: str) -> tuple[Match, ...]:
    if op not in ("==", "!=", "in"):
        raise BadInput(f"operator {op} on a concatenation")
    options: list[tuple[Match, ...]] = []
    for item in items:
        if not (isinstance(item, dict) and len(item) == 1 and isinstance(item.get("concat"), list)):
            raise BadInput("element of a concatenated lookup is not a concat")
        parts = item["concat"]
        if len(parts) != len(side.parts):
            raise BadInput(f"concat element has {len(parts)} parts, the key {len(side.parts)}")
        option: list[Match] = []
        for part, value in zip(side.parts, parts, strict=True):
            if part.kind == "unknown":
                return (Unknown(part.reason),)
            if part.kind == "concat":
                raise BadInput("nested concatenation")
            if part.kind == "range":
                option.append(_ranges(part, "==", (value,)))
            else:
                # A concat element holds plain values, never set references.
                option.extend(build(part, "==", value, RuleMatches(family, {})))
        options.append(tuple(option))
    if op != "!=" and len(options) == 1:
        return options[0]
    return (AnyOf(tuple(options), negated=op == "!="),)


def _single(side: Left, op: str, items: tuple[object, ...]) -> Match:
    negated = op == "!="
    if side.kind == "iface":
        if op not in ("==", "!=", "in"):
            return Unknown(f"interface compared with {op}")
        return Iface(side.field, tuple(_iface(item, side.scalar) for item in items), negated)
    if side.kind == "addrtype":
        if op not in ("==", "!=", "in"):
            return Unknown(f"fib type compared with {op}")
        types = set()
        for item in items:
            if not isinstance(item, str):
                raise BadInput("fib type value is not a string")
            if item not in values.FIB_TYPES:
                raise UnknownValue(f"unknown fib address type {item!r}")
            types.add(item.upper())
        return AddrType(side.field, frozenset(types), negated)
    if side.kind == "mark":
        return nft_marks.match(side.field, side.mask, op, items)
    if side.kind == "tcpflags":
        return _tcp_flags(side, op, items)
    if side.kind == "ctstate":
        return _ct_state(side, op, items)
    if side.kind == "ctstatus":
        bits = [values.flag_bits(item, values.CT_STATUS_BITS, "ct status") for item in items]
        nat = {0x10: "SNAT", 0x20: "DNAT"}
        if op in ("in", "!") and all(b and not b & ~0x30 for b in bits):
            states = frozenset(nat[bit] for b in bits for bit in nat if b & bit)
            return CtState(states, negated=op == "!")
        return Unknown("ct status test other than snat/dnat is not modelled")
    raise BadInput(f"left side kind {side.kind} cannot be matched")


def _iface(item: object, key: str) -> str:
    if isinstance(item, int) and not isinstance(item, bool):
        raise UnknownValue(f"meta {key} {item}: interface index without a name")
    if not isinstance(item, str):
        raise BadInput("interface name is not a string")
    if item.endswith("\\*"):
        return item[:-2] + "*"
    # nft wildcards a trailing "*" (nft(8) "meta iifname"); the model writes it "+".
    return item[:-1] + "+" if item.endswith("*") else item


def _tcp_flags(side: Left, op: str, items: tuple[object, ...]) -> Match:
    mask = side.mask if side.mask is not None else 0xFF
    flags = [values.flag_bits(item, values.TCP_FLAG_BITS, "tcp flag") for item in items]
    if op in ("in", "!"):
        # libnftables-json(5): "in" on a bitmask is LHS & RHS != 0, i.e. not all clear; "!"
        # is LHS & RHS == 0, all clear.
        bits = mask & _union(flags)
        return TcpFlags(values.tcp_flag_names(bits), frozenset(), negated=op == "in")
    if op not in ("==", "!="):
        return Unknown(f"tcp flags compared with {op}")
    options = [
        (TcpFlags(values.tcp_flag_names(mask), values.tcp_flag_names(bits)),)
        for bits in flags
        if not bits & ~mask
    ]
    if len(options) == 1:
        (only,) = options[0]
        return TcpFlags(only.mask, only.comp, negated=op == "!=")
    if not options:
        return NEVER if op == "==" else Ranges("family", ((4, 4), (6, 6)))
    return AnyOf(tuple(options), negated=op == "!=")


def _union(bits: list[int]) -> int:
    total = 0
    for b in bits:
        total |= b
    return total


def _ct_state(side: Left, op: str, items: tuple[object, ...]) -> Match:
    state_bits = {name: bit for bit, name in values.CT_STATE_BITS.items()}
    bits = [values.flag_bits(item, state_bits, "ct state") for item in items]
    if side.mask is not None:
        # ct state & MASK != 0 / == 0: the packet's one state bit lies in MASK or not.
        if len(bits) == 1 and bits[0] == 0 and op in ("==", "!="):
            return CtState(values.ct_state_names(side.mask), negated=op == "==")
        return Unknown("ct state bitwise test is not modelled")
    if op in ("in", "!"):
        return CtState(values.ct_state_names(_union(bits)), negated=op == "!")
    if op not in ("==", "!="):
        return Unknown(f"ct state compared with {op}")
    # A packet has exactly one state bit, so only single-bit values can be equal to it.
    single = [b for b in bits if b and not b & (b - 1)]
    return CtState(values.ct_state_names(_union(single)), negated=op == "!=")
