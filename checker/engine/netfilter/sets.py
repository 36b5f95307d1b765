"""ipsets for the netfilter engine: what `-m set --match-set NAME dirs` matches, as boxes.

Semantics (ipset(8), iptables-extensions(8) "set", the kernel's xt_set.c and ip_set_core.c
ip_set_test):
- The match holds when the tuple the flags pick from the packet is an element of the set. Flag i
  ("src"/"dst") says whether dimension i takes the source or the destination: an address
  (saddr/daddr) or a port (sport/dport). For a port dimension the element's protocol must be
  the packet's too; ICMP/ICMPv6 elements hold type/code whatever the flag says; protocols
  without ports are stored with port 0 and match on the protocol alone (ip_set_getport.c).
  bitmap:port matches TCP and UDP packets only (ip_set_get_ip_port).
- A set of another family never matches (`opt->family == set->family`), nor does a rule giving
  fewer flags than the set has dimensions (`opt->dim < set->type->dimension`); extra flags are
  ignored. list:set tests its members in order with the same flags: a union.
- hash:net* `nomatch` elements are exceptions: the kernel tries the set's prefix lengths from the
  most specific down and the first element found decides, so an address matches when the most
  specific element holding it (with the same other dimensions) is not `nomatch`. Modelled for
  sets with one net dimension; with several, the set is unknown.

Exact only for a snapshot that stays true: a set is *unknown* (with the reason) when its contents
were not supplied, when it is not in the supplied `ipset save` output, when it has a type the
engine does not model (mac, iface, mark), when entries expire (`timeout`), or when a rule of the
ruleset writes it at runtime (`-j SET --add-set/--del-set`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from checker.engine.space import Interval, iset, iset_intersect, iset_subtract
from checker.model.net import IPSET_PORT_PROTOCOLS
from checker.model.netfilter import IpSet, IpSetElement, IpSets, Ruleset, SetMatch

# One disjunct of a set match: field -> allowed values (fields absent are unconstrained).
SetBox = dict[str, tuple[Interval, ...]]
ICMP_PROTOCOLS = frozenset({1, 58})
BITMAP_PORT_PROTOCOLS = ((6, 6), (17, 17))


@dataclass(frozen=True, slots=True)
class SetIndex:
    """The ipsets one target's sources describe. `supplied` is False when no `ipset save`
    output came with the target; `written` holds the sets `-j SET` rules change."""

    supplied: bool
    sets: dict[str, IpSet]
    conflicts: frozenset[str]
    written: frozenset[str]


def build_index(models: Sequence[object]) -> SetIndex:
    """Index the IpSets among a target's models, and the sets its rulesets write."""
    sets: dict[str, IpSet] = {}
    conflicts: set[str] = set()
    supplied = False
    for model in models:
        if isinstance(model, IpSets):
            supplied = True
            for ipset in model.sets:
                known = sets.get(ipset.name)
                if known is not None and _content(known) != _content(ipset):
                    conflicts.add(ipset.name)
                sets.setdefault(ipset.name, ipset)
    rulesets = [m for m in models if isinstance(m, Ruleset)]
    return SetIndex(supplied, sets, frozenset(conflicts), written_sets(rulesets))


def _content(ipset: IpSet) -> tuple[object, ...]:
    elements = frozenset((e.values, e.proto, e.nomatch, e.expires) for e in ipset.elements)
    return (ipset.kind, ipset.family, elements, ipset.members, ipset.timeout, ipset.unmodelled)


def written_sets(rulesets: Sequence[Ruleset]) -> frozenset[str]:
    """Names of the sets that rules change from the packet path (`-j SET --add-set/--del-set`)."""
    return frozenset(
        name
        for ruleset in rulesets
        for table in ruleset.tables
        for chain in table.chains
        for rule in chain.rules
        for name in rule.target.writes
    )


def resolve(index: SetIndex | None, match: SetMatch, family: int) -> list[SetBox] | str:
    """The boxes (a union) of packets whose tuple is in the set, or why that is unknown."""
    return _resolve(index, match.name, match.directions, family, ())


def _resolve(
    index: SetIndex | None,
    name: str,
    directions: tuple[str, ...],
    family: int,
    seen: tuple[str, ...],
) -> list[SetBox] | str:
    if index is None or not index.supplied:
        return f"ipset {name}: contents not supplied"
    ipset = index.sets.get(name)
    if ipset is None:
        return f"ipset {name}: not in the supplied ipset save output"
    if name in seen:
        return f"ipset {name}: list:set contains itself"
    if name in index.conflicts:
        return f"ipset {name}: the supplied ipset save outputs disagree on its contents"
    if name in index.written:
        return f"ipset {name}: rules add to or delete from it at runtime (-j SET)"
    if ipset.timeout or any(e.expires for e in ipset.elements):
        return f"ipset {name}: its entries expire (timeout), its contents change at runtime"
    if ipset.unmodelled:
        return f"ipset {name}: {ipset.unmodelled}"
    if any(dim not in ("ip", "net", "port", "set") for dim in ipset.dims):
        return f"ipset {name}: set type {ipset.kind} is not modelled"
    if ipset.family not in (0, family):
        return []
    if ipset.dims == ("set",):
        boxes: list[SetBox] = []
        for member in ipset.members:
            found = _resolve(index, member, directions, family, (*seen, name))
            if isinstance(found, str):
                return found
            boxes.extend(found)
        return boxes
    if len(directions) < len(ipset.dims):
        return []
    nets = [i for i, dim in enumerate(ipset.dims) if dim == "net"]
    spans: list[tuple[IpSetElement, Spans]]
    if any(e.nomatch for e in ipset.elements):
        if len(nets) != 1:
            return (
                f"ipset {name}: nomatch elements in a set with several net dimensions"
                " are not modelled"
            )
        spans = _carve(ipset.elements, nets[0])
    else:
        spans = [(e, tuple((v,) for v in e.values)) for e in ipset.elements]
    out = []
    for element, values in spans:
        box = _box(ipset.dims, element.proto, values, directions)
        if box is not None:
            out.append(box)
    return out


# Per dimension of a set, the values an element covers.
Spans = tuple[tuple[Interval, ...], ...]


def _carve(elements: tuple[IpSetElement, ...], net: int) -> list[tuple[IpSetElement, Spans]]:
    """Each positive element with the more specific nomatch elements of the same other
    dimensions cut out of its net dimension (the longest prefix decides, see the docstring).
    Prefixes are nested or disjoint, so "more specific" is "strictly inside"."""
    exceptions: dict[tuple[object, ...], list[Interval]] = {}
    for element in elements:
        if element.nomatch:
            exceptions.setdefault(_rest(element, net), []).append(element.values[net])
    carved = []
    for element in elements:
        if element.nomatch:
            continue
        low, high = element.values[net]
        inside = [
            (lo, hi)
            for lo, hi in exceptions.get(_rest(element, net), ())
            if low <= lo and hi <= high and (lo, hi) != (low, high)
        ]
        kept = iset_subtract(((low, high),), iset(inside))
        if kept:
            values = tuple(kept if i == net else (v,) for i, v in enumerate(element.values))
            carved.append((element, values))
    return carved


def _rest(element: IpSetElement, net: int) -> tuple[object, ...]:
    return (element.proto, element.values[:net] + element.values[net + 1 :])


def _box(
    dims: tuple[str, ...],
    proto: int | None,
    values: Spans,
    directions: tuple[str, ...],
) -> SetBox | None:
    """The packets one element matches, or None when it matches none."""
    box: SetBox = {}

    def constrain(field: str, allowed: tuple[Interval, ...]) -> bool:
        box[field] = iset_intersect(box[field], allowed) if field in box else allowed
        return bool(box[field])

    for dim, allowed, direction in zip(dims, values, directions, strict=False):
        source = direction == "src"
        if dim in ("ip", "net"):
            ok = constrain("saddr" if source else "daddr", allowed)
        elif proto is None:  # bitmap:port
            ok = constrain("proto", BITMAP_PORT_PROTOCOLS) and constrain(
                "sport" if source else "dport", allowed
            )
        elif proto in ICMP_PROTOCOLS:
            ok = constrain("proto", ((proto, proto),)) and constrain("icmp", allowed)
        elif proto in IPSET_PORT_PROTOCOLS:
            ok = constrain("proto", ((proto, proto),)) and constrain(
                "sport" if source else "dport", allowed
            )
        else:
            ok = constrain("proto", ((proto, proto),))
        if not ok:
            return None
    return box
