"""Exclusive policies on netfilter: which new flows does the host accept that nobody declared?

For one direction (docs/policy-format.md, "Exclusive policies"):

    undeclared = accepted(every new flow of the direction) − declared − infrastructure

- every new flow: the space of the `exclusive-<direction>` requirement (checker.policies.
  exclusive): every family, protocol, source and destination port, ICMP type, peer, local
  address and non-loopback interface. Loopback is out of scope as for every rule.
- accepted: the first packet of the flow gets through every base chain of its hooks (ingress,
  prerouting, input; or output, postrouting, egress), as for `expect: deny`: a flow whose first
  packet gets in has reached the host, whatever happens to the reply.
- declared: the flows of every `expect: allow` rule of the direction, of any policy the target
  gets, with every source port unless the rule names `source_port` (a declaration says which
  service is open, not which client ports may use it).
- infrastructure (INFRASTRUCTURE below): replies and related packets are not new flows and are
  never in the space; besides, the DHCP client's exchange, ICMP/ICMPv6 errors and IPv6
  neighbour discovery are exempt.

The rest is grouped into blocks: the surely accepted flows by the accepting rule of the
deciding chain (the last base chain of the hook to accept by a rule, normally the filter
table's INPUT/OUTPUT), each block one box of the compacted remainder, with a sample flow. Flows
only possibly accepted (an undecidable match) become indeterminate blocks with the reason.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace

from checker.engine.netfilter import query
from checker.engine.netfilter.engine import _flow_text
from checker.engine.netfilter.walk import (
    ACCEPTING,
    ChainResult,
    Context,
    HookResult,
    connection_accepted,
    new_context,
)
from checker.engine.space import Box, Dim, IntervalSet, Space, iset, iset_subtract
from checker.engine.symbols import InterfaceSymbols
from checker.engine.verdict import PROTOCOL_NAMES, Verdict
from checker.findings import Evidence, Status
from checker.model import net
from checker.model.netfilter import IpSets, Ruleset
from checker.policies.model import Direction, Expect, Requirement

# The blocks a message lists; every block goes to the details and the evidence.
LISTED = 5
# Past this many blocks the rest is counted, not listed (a report stays readable).
MAX_BLOCKS = 50

UDP, ICMP, ICMPV6 = 17, 1, 58


def _icmp(*types: int) -> list[tuple[int, int]]:
    return [(t << 8, (t << 8) | 0xFF) for t in types]


# (family, inbound) -> the exempt flows, each as dimension constraints. Sources:
# DHCP client: RFC 2131 section 4.1 (server 67 -> client 68), DHCPv6: RFC 8415 section 7.2
# (server 547 -> client 546). ICMP errors: RFC 792 (3 destination unreachable, 11 time
# exceeded, 12 parameter problem), ICMPv6 errors: RFC 4443 section 2.1 (types 1-4). Neighbour
# discovery: RFC 4861 section 4 (133 router solicitation, 134 advertisement, 135 neighbour
# solicitation, 136 advertisement).
_ERRORS = {4: (ICMP, _icmp(3, 11, 12)), 6: (ICMPV6, _icmp(1, 2, 3, 4))}
_ND = _icmp(133, 134, 135, 136)
_DHCP = {
    (4, True): (67, 68),
    (4, False): (68, 67),
    (6, True): (547, 546),
    (6, False): (546, 547),
}
INFRASTRUCTURE_TEXT = (
    "replies and related packets (not new flows), the DHCP client (udp 67->68, DHCPv6 547->546),"
    " ICMP errors (types 3, 11, 12; ICMPv6 1-4), IPv6 neighbour discovery (ICMPv6 133-136)"
    " and loopback"
)


def infrastructure(dims: tuple[Dim, ...], family: int, inbound: bool) -> Space:
    sport, dport = _DHCP[(family, inbound)]
    proto, errors = _ERRORS[family]
    pieces = [
        Space.where(
            dims,
            {
                "family": [(family,) * 2],
                "proto": [(UDP, UDP)],
                "sport": [(sport,) * 2],
                "dport": [(dport,) * 2],
            },
        ),
        Space.where(dims, {"family": [(family,) * 2], "proto": [(proto,) * 2], "icmp": errors}),
    ]
    if family == 6:
        pieces.append(
            Space.where(dims, {"family": [(6, 6)], "proto": [(ICMPV6,) * 2], "icmp": _ND})
        )
    return Space.union_all(dims, pieces)


def declared_space(
    requirements: Sequence[Requirement], family: int, inbound: bool, interfaces: InterfaceSymbols
) -> Space:
    """The flows the `expect: allow` rules of this direction describe, from any source port
    unless a rule names its source ports (the deny space has exactly that default)."""
    direction = Direction.INBOUND if inbound else Direction.OUTBOUND
    dims = query.dims_for(family, interfaces)
    spaces = [
        query.requirement_space(replace(r, expect=Expect.DENY), family, interfaces)
        for r in requirements
        if r.expect is Expect.ALLOW
        and not r.exclusive
        and r.direction is direction
        and family in r.families
    ]
    return Space.union_all(dims, spaces)


@dataclass(frozen=True, slots=True)
class Block:
    """Undeclared flows of one family accepted by one rule: surely, or possibly (`reason`)."""

    family: int
    space: Space
    description: str
    counterexample: str
    evidence: Evidence | None
    chain: str = ""
    reason: str = ""

    @property
    def sure(self) -> bool:
        return not self.reason

    def text(self) -> str:
        if self.reason:
            return f"{self.description}: cannot decide: {self.reason}"
        if self.evidence is None:
            return f"{self.description}: accepted (no chain filters this hook)"
        where = f"{self.evidence.file}:{self.evidence.line}"
        if "policy" in self.evidence.text and self.evidence.text.startswith("chain "):
            return f"{self.description}: accepted by {self.chain} policy ACCEPT ({where})"
        return f"{self.description}: accepted by {self.chain} rule {where}"


# --- describing a box ------------------------------------------------------------------------


def _ranges(values: IntervalSet, limit: int = 6) -> str:
    parts = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in values[:limit]]
    if len(values) > limit:
        parts.append(f"… ({len(values) - limit} more)")
    return ",".join(parts)


def _addresses(family: int, values: IntervalSet, limit: int = 4) -> str:
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    networks: list[str] = []
    for lo, hi in values:
        networks += [str(n) for n in ipaddress.summarize_address_range(cls(lo), cls(hi))]
        if len(networks) > limit:
            break
    shown = ",".join(networks[:limit])
    return shown + (", …" if len(networks) > limit else "")


def _protocols(values: IntervalSet) -> str:
    if values == ((0, 255),):
        return "any protocol"
    if len(values) <= 4 and all(lo == hi for lo, hi in values):
        return ",".join(PROTOCOL_NAMES.get(lo, f"proto-{lo}") for lo, _ in values)
    return f"protocols {_ranges(values)}"


def describe(
    box: Box, universe: Space, family: int, inbound: bool, interfaces: InterfaceSymbols
) -> str:
    """`tcp any -> 8080 from anywhere ipv4`: protocol, source ports -> destination ports (for
    port protocols), ICMP types, the peer ("anywhere" when the box holds every peer the
    direction has), this host's addresses and the interface when they are narrowed."""
    value = dict(zip((name for name, _, _ in universe.dims), box, strict=True))
    full = {name: universe.project(name) for name, _, _ in universe.dims}

    def whole(name: str) -> bool:
        return not iset_subtract(full[name], value[name])

    protocols = value["proto"]
    text = _protocols(protocols)
    if all(
        lo in net.PORT_PROTOCOLS and hi in net.PORT_PROTOCOLS and lo == hi for lo, hi in protocols
    ):
        sports = "any" if whole("sport") else _ranges(value["sport"])
        dports = "any" if whole("dport") else _ranges(value["dport"])
        text += f" {sports} -> {dports}"
    elif all(p in (ICMP, ICMPV6) for lo, hi in protocols for p in (lo, hi)) and not whole("icmp"):
        text += f" type {_ranges(iset((lo >> 8, hi >> 8) for lo, hi in value['icmp']))}"
    remote, local = ("saddr", "daddr") if inbound else ("daddr", "saddr")
    peer = "anywhere" if whole(remote) else _addresses(family, value[remote])
    text += f" {'from' if inbound else 'to'} {peer}"
    if not whole(local):
        text += f" {'to' if inbound else 'from'} local {_addresses(family, value[local])}"
    side = "iif" if inbound else "oif"
    if not whole(side):
        names = ",".join(
            interfaces.describe(i) for lo, hi in value[side] for i in range(lo, hi + 1)
        )
        text += f" {'in' if inbound else 'out'} {names}"
    return f"{text} ipv{family}"


# --- the blocks ------------------------------------------------------------------------------


def _deciding_chain(hook: HookResult, left: Space) -> ChainResult | None:
    """The last base chain that accepts some of `left` by a rule (not its policy)."""
    chosen = None
    for chain_result in hook.chains:
        for piece in chain_result.pieces:
            if piece.verdict in ACCEPTING and not piece.evidence.text.startswith("chain "):
                if piece.sure.touches(left):
                    chosen = chain_result
                    break
    if chosen is None and hook.chains:
        chosen = hook.chains[-1]
    return chosen


def _by_rule(hook: HookResult, left: Space) -> list[tuple[str, Evidence | None, Space]]:
    chain_result = _deciding_chain(hook, left)
    groups: list[tuple[str, Evidence | None, Space]] = []
    if chain_result is not None:
        for piece in chain_result.pieces:
            if not left:
                break
            if piece.verdict in ACCEPTING:
                part = left.intersect(piece.sure)
                if part:
                    groups.append((chain_result.chain.name, piece.evidence, part))
                    left = left.subtract(part)
    if left:
        groups.append(("", None, left))
    return groups


@dataclass(frozen=True, slots=True)
class FamilyResult:
    family: int
    blocks: tuple[Block, ...]
    universe: Space
    # Whether the direction has no flow at all for this family (never a pass).
    empty: bool = False


def undeclared(
    context: Context,
    requirement: Requirement,
    requirements: Sequence[Requirement],
    family: int,
) -> FamilyResult:
    """The blocks of undeclared accepted flows of one family (see the module docstring)."""
    interfaces = context.interfaces
    inbound = requirement.direction is Direction.INBOUND
    universe = query.requirement_space(requirement, family, interfaces)
    if not universe:
        return FamilyResult(family, (), universe, empty=True)
    batched = context.batches.get((family, inbound)) is not None and universe.is_subset(
        context.batches[(family, inbound)]
    )
    sure, maybe, parts = connection_accepted(context, family, universe, inbound, False, batched)
    covered = declared_space(requirements, family, inbound, interfaces).union(
        infrastructure(universe.dims, family, inbound)
    )
    sure_left = sure.subtract(covered).compact()
    doubtful = maybe.subtract(sure).subtract(covered).compact()
    preferred = _preferred(family, inbound)
    choosers = query.choosers(family)
    blocks: list[Block] = []
    hook = parts[0][3] if parts else None
    if sure_left and hook is not None:
        for chain, evidence, part in _by_rule(hook, sure_left):
            for box in part.compact().boxes:
                piece = Space(universe.dims, (box,))
                point = piece.sample(preferred, choosers) or {}
                blocks.append(
                    Block(
                        family,
                        piece,
                        describe(box, universe, family, inbound, interfaces),
                        _flow_text(point, family, interfaces, inbound),
                        evidence,
                        chain,
                    )
                )
    if doubtful and hook is not None:
        for index, box in enumerate(doubtful.boxes):
            piece = Space(universe.dims, (box,))
            point = piece.sample(preferred, choosers) or {}
            # Finding a reason scans the walk's unknowns (thousands on kube-proxy): only for
            # the blocks a report lists.
            found = next(iter(hook.uncertain_touching(piece)), None) if index < MAX_BLOCKS else None
            reason, evidence = found or ("undecidable matches", None)
            where = f" ({evidence.file}:{evidence.line})" if evidence is not None else ""
            blocks.append(
                Block(
                    family,
                    piece,
                    describe(box, universe, family, inbound, interfaces),
                    _flow_text(point, family, interfaces, inbound),
                    evidence,
                    reason=reason + where,
                )
            )
    return FamilyResult(family, tuple(blocks), universe)


def _preferred(family: int, inbound: bool) -> dict[str, int]:
    remote, local = query.PREFERRED_REMOTE[family], query.PREFERRED_LOCAL[family]
    return {
        "saddr": remote if inbound else local,
        "daddr": local if inbound else remote,
        "sport": 40000,
        "proto": 6,
        "iif": 1,
        "oif": 1,
    }


def block_evidence(blocks: Sequence[Block]) -> tuple[Evidence, ...]:
    """One item per listed block: its accepting rule, named with the block, so that SARIF
    gives each block its own location."""
    return tuple(
        dict.fromkeys(
            Evidence(b.evidence.file, b.evidence.line, f"block {b.description}: {b.evidence.text}")
            for b in blocks[:MAX_BLOCKS]
            if b.evidence is not None
        )
    )


def check(
    rulesets: Sequence[Ruleset | IpSets],
    requirement: Requirement,
    requirements: Sequence[Requirement],
    *,
    context: Context | None = None,
) -> Verdict:
    """The verdict of an `exclusive-<direction>` requirement: fail with the surely accepted
    undeclared blocks, indeterminate when only undecidable ones remain, pass when none."""
    context = context or new_context(rulesets)
    covered = frozenset().union(*(r.families for r in context.rulesets))
    direction = requirement.direction.value
    missing = [f for f in (4, 6) if f not in covered]
    results = [undeclared(context, requirement, requirements, f) for f in (4, 6) if f in covered]
    blocks = [b for r in results for b in r.blocks]
    sure = [b for b in blocks if b.sure]
    unsure = [b for b in blocks if not b.sure]
    details = tuple(
        (f"block {i}", b.text() + f" (e.g. {b.counterexample})")
        for i, b in enumerate((sure + unsure)[:MAX_BLOCKS], 1)
    )
    if len(blocks) > MAX_BLOCKS:
        details += (("blocks not listed", str(len(blocks) - MAX_BLOCKS)),)
    evidence = block_evidence(sure + unsure)
    if sure:
        listed = "; ".join(b.text() for b in sure[:LISTED])
        more = f"; and {len(sure) - LISTED} more block(s)" if len(sure) > LISTED else ""
        also = f" ({len(unsure)} more undecidable)" if unsure else ""
        return Verdict(
            Status.FAIL,
            f"{len(sure)} block(s) of new {direction} flows are accepted that no allow rule"
            f" declares{also}: {listed}{more}",
            sure[0].counterexample,
            evidence,
            details,
        )
    if unsure:
        listed = "; ".join(b.text() for b in unsure[:LISTED])
        return Verdict(
            Status.INDETERMINATE,
            f"cannot decide whether {len(unsure)} block(s) of undeclared new {direction} flows"
            f" are accepted: {listed}",
            unsure[0].counterexample,
            evidence,
            details,
        )
    if missing:
        names = " and ".join(f"IPv{f}" for f in missing)
        return Verdict(
            Status.INDETERMINATE,
            f"no {names} ruleset was supplied for this target, so its {direction} {names}"
            " flows cannot be judged (give the ip6tables-save/iptables-save output or nft -j"
            " too)",
        )
    if all(r.empty for r in results):
        return Verdict(Status.ERROR, f"no {direction} flow to check (no interface?)")
    return Verdict(
        Status.PASS,
        f"every new {direction} flow accepted is declared by an allow rule or is"
        f" infrastructure ({INFRASTRUCTURE_TEXT})",
    )
