"""The new destination of an nft header rewrite (`ip daddr set …`) or nat statement (`dnat`,
`redirect`: nat_to), when the JSON says it.

Read: a literal address, or a map lookup keyed by `numgen`/`jhash`/`symhash` … `mod N [offset O]`
whose keys cover every value the key can take (O to O+N-1): a lookup that misses would break the
rule without rewriting (nft(8) MAPS), so a map that leaves keys out is not read. The rewrite is
read only in a table of the address's own family (`ip daddr` in `table ip`), where it applies to
every packet the rule sees. Anything else: None (the rule stays an unknown rewrite).
"""

from __future__ import annotations

from collections.abc import Mapping

from checker.model.netfilter import NatTo
from checker.parsers.netfilter.nft_values import BadInput, UnknownValue, normalize, scalar

Interval = tuple[int, int]
_KIND = {"ip": "addr4", "ip6": "addr6"}
_HASHES = ("numgen", "jhash", "symhash")


def destination(
    key: Mapping[str, object], value: object, family: str
) -> tuple[Interval, ...] | None:
    """The addresses `mangle {"key": key, "value": value}` may write as the destination."""
    payload = key.get("payload")
    if not isinstance(payload, dict) or payload.get("field") != "daddr":
        return None
    protocol = payload.get("protocol")
    if not isinstance(protocol, str) or protocol not in _KIND or protocol != family:
        return None
    kind = _KIND[protocol]
    try:
        if isinstance(value, str):
            address = scalar(value, kind)
            return ((address, address),)
        lookup = value.get("map") if isinstance(value, dict) else None
        if not isinstance(lookup, dict):
            return None
        return _lookup(lookup.get("key"), lookup.get("data"), kind)
    except (BadInput, UnknownValue):
        return None


def _lookup(key: object, data: object, kind: str) -> tuple[Interval, ...] | None:
    if not isinstance(key, dict) or len(key) != 1:
        return None
    ((name, body),) = key.items()
    if name not in _HASHES or not isinstance(body, dict):
        return None
    modulus, offset = body.get("mod"), body.get("offset", 0)
    if not (isinstance(modulus, int) and isinstance(offset, int)) or modulus < 1:
        return None
    pairs = data.get("set") if isinstance(data, dict) else None
    if not isinstance(pairs, list):
        return None
    keys: list[Interval] = []
    addresses: list[Interval] = []
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2:
            return None
        element, address = pair
        span = element.get("range") if isinstance(element, dict) else None
        if isinstance(span, list) and len(span) == 2:
            low, high = span
        else:
            low = high = element
        if not (isinstance(low, int) and isinstance(high, int)):
            return None
        keys.append((low, high))
        if not isinstance(address, str):
            return None
        number = scalar(address, kind)
        addresses.append((number, number))
    if not _covers(keys, offset, modulus):
        return None
    return normalize(addresses)


def _covers(keys: list[Interval], offset: int, modulus: int) -> bool:
    low, high = offset, offset + modulus - 1
    for start, end in normalize(keys):
        if start <= low <= end:
            low = end + 1
    return low > high


def nat_to(kind: str, value: object, family: str) -> NatTo | None:
    """Where `dnat to ADDR[-ADDR][:PORT[-PORT]]` or `redirect [to :PORT[-PORT]]` sends the flow
    (nft(8) NAT STATEMENTS), for the engine to follow like iptables' DNAT/REDIRECT. None for
    what it does not follow: an address from a map or a prefix, netmap, no address for dnat,
    an address not of the table's (or the statement's) family."""
    body = value if isinstance(value, dict) else {}
    if value is not None and not isinstance(value, dict):
        return None
    if "netmap" in _flags(body.get("flags")):
        return None
    try:
        ports = _ports(body.get("port"))
        if kind == "redirect":
            return NatTo(None, ports) if "addr" not in body else None
        nat_family = body.get("family", family)
        if kind != "dnat" or nat_family not in _KIND:
            return None
        addresses = _addresses(body.get("addr"), _KIND[nat_family])
    except (BadInput, UnknownValue, _NotRead):
        return None
    return NatTo(addresses, ports) if addresses is not None else None


class _NotRead(Exception):
    pass


def _flags(value: object) -> set[str]:
    if isinstance(value, str):
        return {value}
    return {flag for flag in value if isinstance(flag, str)} if isinstance(value, list) else set()


def _ports(value: object) -> tuple[Interval, ...] | None:
    if value is None:
        return None
    span = value.get("range") if isinstance(value, dict) else [value, value]
    if not isinstance(span, list) or len(span) != 2:
        raise _NotRead
    low, high = (scalar(end, "port") for end in span)
    if low > high:
        raise _NotRead
    return ((low, high),)


def _addresses(value: object, kind: str) -> tuple[Interval, ...] | None:
    if value is None:
        return None
    span = value.get("range") if isinstance(value, dict) else [value, value]
    if not isinstance(span, list) or len(span) != 2:
        raise _NotRead
    if not all(isinstance(end, str) for end in span):
        raise _NotRead  # a map lookup, a concatenation …
    low, high = (scalar(end, kind) for end in span)
    if low > high:
        raise _NotRead
    return ((low, high),)
