"""The new destination of an nft header rewrite (`ip daddr set …`), when the JSON says it.

Read: a literal address, or a map lookup keyed by `numgen`/`jhash`/`symhash` … `mod N [offset O]`
whose keys cover every value the key can take (O to O+N-1): a lookup that misses would break the
rule without rewriting (nft(8) MAPS), so a map that leaves keys out is not read. The rewrite is
read only in a table of the address's own family (`ip daddr` in `table ip`), where it applies to
every packet the rule sees. Anything else: None (the rule stays an unknown rewrite).
"""

from __future__ import annotations

from collections.abc import Mapping

from checker.parsers.nft_values import BadInput, UnknownValue, normalize, scalar

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
    if protocol not in _KIND or protocol != family:
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
