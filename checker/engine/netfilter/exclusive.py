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
What a block says and how blocks make the verdict is shared with Windows (checker.engine.blocks).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace

from checker.engine.blocks import (
    DHCP,
    ERROR_TYPES,
    ICMP,
    ICMPV6,
    INFRASTRUCTURE_TEXT,
    MAX_BLOCKS,
    ND_TYPES,
    UDP,
    icmp_types,
    protocols,
    ranges,
    verdict,
)
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
from checker.engine.verdict import Verdict
from checker.findings import Evidence, Status
from checker.model import net
from checker.model.netfilter import IpSets, Ruleset
from checker.policies.model import Direction, Expect, Requirement


def infrastructure(dims: tuple[Dim, ...], family: int, inbound: bool) -> Space:
    """The exempt flows of checker.engine.blocks in this family's dimensions: inbound the
    DHCP server's port opens toward the client's, outbound the other way round."""
    server, client = DHCP[family]
    sport, dport = (server, client) if inbound else (client, server)
    proto, types = ERROR_TYPES[family]
    errors = icmp_types(*types)
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
            Space.where(
                dims, {"family": [(6, 6)], "proto": [(ICMPV6,) * 2], "icmp": icmp_types(*ND_TYPES)}
            )
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


def _addresses(family: int, values: IntervalSet, limit: int = 4) -> str:
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    networks: list[str] = []
    for lo, hi in values:
        networks += [str(n) for n in ipaddress.summarize_address_range(cls(lo), cls(hi))]
        if len(networks) > limit:
            break
    shown = ",".join(networks[:limit])
    return shown + (", …" if len(networks) > limit else "")


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

    proto_values = value["proto"]
    text = protocols(proto_values)
    if all(
        lo in net.PORT_PROTOCOLS and hi in net.PORT_PROTOCOLS and lo == hi
        for lo, hi in proto_values
    ):
        sports = "any" if whole("sport") else ranges(value["sport"])
        dports = "any" if whole("dport") else ranges(value["dport"])
        text += f" {sports} -> {dports}"
    elif all(p in (ICMP, ICMPV6) for lo, hi in proto_values for p in (lo, hi)) and not whole(
        "icmp"
    ):
        text += f" type {ranges(iset((lo >> 8, hi >> 8) for lo, hi in value['icmp']))}"
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
    found = verdict(blocks, direction, "accepted")
    if found is not None:
        return found
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
