"""Compile netfilter matches into three-valued packet spaces.

A match compiles to (sure, maybe): the packets that surely match and those that possibly match
(sure ⊆ maybe). Decidable matches have sure == maybe; an `Unknown` match is (∅, everything).
Conjunction intersects both bounds, disjunction unites them, negation swaps and complements
them: Kleene's three-valued logic over sets.

An ipset match (`SetMatch`) is exact when the target's `ipset save` output describes the set
(netfilter_sets): the union of its elements' boxes; otherwise it is unknown with the reason.

Conntrack state and TCP flags are not dimensions: the engine asks about one packet of a
connection at a time (the SYN of a new connection, the SYN-ACK reply, the final ACK), so they are
constants of the `Phase`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from checker.engine.netfilter import marks
from checker.engine.netfilter.route import MISSING
from checker.engine.netfilter.sets import SetIndex, resolve
from checker.engine.space import Dim, IntervalSet, Space, iset, iset_intersect, iset_subtract
from checker.engine.symbols import InterfaceSymbols
from checker.model.net import UDPLITE
from checker.model.netfilter import (
    AddrType,
    AnyOf,
    CtState,
    Iface,
    MarkMatch,
    Match,
    Ranges,
    Rule,
    SetMatch,
    TcpFlags,
    Unknown,
)

# Measured in a namespace pair (Linux 6.18, docs/linux.md): UDP-Lite datagrams with a valid RFC
# 3828 checksum, full or partial coverage, reach the ruleset as ct state INVALID with the
# default net.netfilter.nf_conntrack_checksum=1, and NEW with it 0; the export does not give it.
UDPLITE_CT = (
    "ct state of an arriving UDP-Lite packet: INVALID on kernels whose conntrack refuses UDP-Lite"
    " checksums (net.netfilter.nf_conntrack_checksum=1, the default), NEW/ESTABLISHED with it"
    " 0; the export does not say which"
)


@dataclass(frozen=True, slots=True)
class Phase:
    """One packet of a connection, as the hooks see it."""

    name: str
    ctstate: str  # NEW or ESTABLISHED
    tcp_flags: frozenset[str]
    # Whether the packet enters this host (ingress/prerouting/input) or leaves it (output/postrouting).
    inbound: bool
    # nat chains see only the first packet of a connection.
    sees_nat: bool
    # A packet a DNAT sent through FORWARD: neither address is surely this host's, so address
    # types come from the host's addresses (netfilter_route).
    forwarded: bool = False
    # A packet whose both addresses are this host's: loopback traffic (on `lo`), or a
    # loopback-source packet arriving on another device (checker.engine.netfilter.loopback).
    # `-m addrtype` then finds the source LOCAL too (127.0.0.0/8 and ::1 are local routes).
    both_local: bool = False


NEW_IN = Phase("syn-in", "NEW", frozenset({"SYN"}), True, True)
NEW_OUT = Phase("syn-out", "NEW", frozenset({"SYN"}), False, True)
REPLY_IN = Phase("synack-in", "ESTABLISHED", frozenset({"SYN", "ACK"}), True, False)
REPLY_OUT = Phase("synack-out", "ESTABLISHED", frozenset({"SYN", "ACK"}), False, False)
ACK_IN = Phase("ack-in", "ESTABLISHED", frozenset({"ACK"}), True, False)
ACK_OUT = Phase("ack-out", "ESTABLISHED", frozenset({"ACK"}), False, False)
# The echo reply of a ping (conntrack tracks ICMP echo as a connection: the reply is ESTABLISHED).
ECHO_REPLY_IN = Phase("echoreply-in", "ESTABLISHED", frozenset(), True, False)
ECHO_REPLY_OUT = Phase("echoreply-out", "ESTABLISHED", frozenset(), False, False)

# Address types of the packets the engine asks about: unicast flows between this host and a
# remote peer (broadcast and multicast are out of scope of the policy format).
_LOCAL_TYPES = frozenset({"LOCAL", "UNICAST"})
_REMOTE_TYPES = frozenset({"UNICAST"})

Bounds = tuple[Space, Space]


# Matches that compile alike in every phase of a family: header ranges, and matches the engine
# cannot decide (nothing sure, everything possible, whatever the phase).
_PHASE_FREE = (Ranges, Unknown)


class MatchCompiler:
    """Compiles rules for one family and phase; results are cached per rule."""

    def __init__(
        self,
        dims: tuple[Dim, ...],
        phase: Phase,
        interfaces: InterfaceSymbols,
        *,
        family: int = 4,
        sets: SetIndex | None = None,
        mark_values: marks.Values | None = None,
        local_addresses: IntervalSet | None = None,
        shared: dict[int, tuple[Bounds, tuple[str, ...]]] | None = None,
    ) -> None:
        # This host's addresses (netfilter_route), for address types of forwarded packets.
        self.local_addresses = local_addresses
        # Rules of header ranges and undecidable matches only (_PHASE_FREE) compile alike in
        # every phase of the family: one compilation for all of them (a kube-proxy file's
        # 55,000 rules, its 10,000 `-m statistic` ones among them, in each phase walked).
        self._shared = {} if shared is None else shared
        self.dims = dims
        # The values each mark can take in this phase (netfilter_marks.reachable); None when
        # there are too many to follow.
        self.mark_values = mark_values
        self.family = family
        self.sets = sets
        self._set_spaces: dict[tuple[str, tuple[str, ...]], Space | str] = {}
        self.phase = phase
        self.interfaces = interfaces
        self.full = Space.full(dims)
        self.none = Space.empty(dims)
        self._cache: dict[int, tuple[Bounds, tuple[str, ...]]] = {}
        self._full_box = self.full.boxes[0]
        self._index = {name: i for i, (name, _, _) in enumerate(dims)}

    def rule(self, rule: Rule) -> tuple[Bounds, tuple[str, ...]]:
        """(sure, maybe) for the rule's matches, and the reasons it is uncertain."""
        key = id(rule)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._shared.get(key)
            if cached is None:
                reasons: list[str] = []
                cached = (self.conjunction(rule.matches, reasons), tuple(reasons))
                if all(type(match) in _PHASE_FREE for match in rule.matches):
                    self._shared[key] = cached
            self._cache[key] = cached
        return cached

    def conjunction(self, matches: tuple[Match, ...], reasons: list[str]) -> Bounds:
        # Most matches constrain one dimension each, so their conjunction is one box built
        # dimension by dimension; only disjunctions and unknowns need the general set algebra.
        box = list(self._full_box)
        general: list[Match] = []
        for match in matches:
            constraint = self._simple(match)
            if constraint is None:
                general.append(match)
                continue
            if constraint is False:
                return self.none, self.none
            for d, values in constraint:
                box[d] = iset_intersect(box[d], values)
                if not box[d]:
                    return self.none, self.none
        sure = maybe = Space(self.dims, (tuple(box),))
        for match in general:
            match_sure, match_maybe = self.match(match, reasons)
            sure = sure.intersect(match_sure)
            maybe = maybe.intersect(match_maybe)
            if not maybe:
                return self.none, self.none
        return sure, maybe

    def _simple(self, match: Match) -> list[tuple[int, IntervalSet]] | Literal[False] | None:
        """Per-dimension constraints of a one-dimension match, False if it never holds, or
        None when it needs the general algebra."""
        if isinstance(match, Ranges):
            d = self._index[match.field]
            values = iset_intersect(iset(match.ranges), self._full_box[d])
            if match.negated:
                values = iset_subtract(self._full_box[d], values)
            return [(d, values)] if values else False
        if isinstance(match, Iface):
            return self._iface_constraint(match) or False
        if isinstance(match, AddrType) and self.phase.forwarded and match.which != "pkttype":
            return None
        if isinstance(match, CtState) and self._udplite_differs(match):
            return None
        if isinstance(match, CtState | AddrType):
            sure, _ = self.match(match, [])
            return [] if sure else False
        if isinstance(match, TcpFlags):
            holds = (self.phase.tcp_flags & match.mask) == match.comp
            return [(self._index["proto"], ((6, 6),))] if holds != match.negated else False
        if (
            isinstance(match, MarkMatch)
            and self.mark_values is not None
            and marks.UNKNOWN not in self.mark_values[match.field]
        ):
            values = marks.holding(match, self.mark_values)
            return [(self._index[match.field], values)] if values else False
        return None

    def _udplite_ct(self) -> bool:
        return self.phase.inbound or self.phase.forwarded

    def _udplite_differs(self, match: CtState) -> bool:
        """Whether a UDP-Lite packet that arrived here (conntrack checks checksums only in
        PREROUTING) would get another answer from `match` if its state were INVALID."""
        if not self._udplite_ct():
            return False
        usual = bool({self.phase.ctstate} & match.states)
        return usual != ("INVALID" in match.states)

    def _const(self, value: bool) -> Bounds:
        return (self.full, self.full) if value else (self.none, self.none)

    def _negate(self, bounds: Bounds, negated: bool) -> Bounds:
        if not negated:
            return bounds
        sure, maybe = bounds
        return self.full.subtract(maybe), self.full.subtract(sure)

    def match(self, match: Match, reasons: list[str]) -> Bounds:
        if isinstance(match, Ranges):
            space = Space.where(self.dims, {match.field: match.ranges})
            return self._negate((space, space), match.negated)
        if isinstance(match, Iface):
            return self._iface(match)
        if isinstance(match, CtState):
            state = {self.phase.ctstate}
            bounds = self._negate(self._const(bool(state & match.states)), match.negated)
            if self._udplite_differs(match):
                # UDP-Lite packets may be INVALID instead: the match is undecided on them.
                reasons.append(UDPLITE_CT)
                lite = Space.where(self.dims, {"proto": [(UDPLITE, UDPLITE)]})
                sure, maybe = bounds
                return sure.subtract(lite), maybe.union(lite)
            return bounds
        if isinstance(match, TcpFlags):
            holds = (self.phase.tcp_flags & match.mask) == match.comp
            if holds != match.negated:
                tcp = Space.where(self.dims, {"proto": [(6, 6)]})
                return tcp, tcp
            return self.none, self.none
        if isinstance(match, AddrType) and self.phase.forwarded and match.which != "pkttype":
            return self._forwarded_type(match, reasons)
        if isinstance(match, AddrType):
            source_is_local = not self.phase.inbound
            local = source_is_local if match.which == "src" else not source_is_local
            if self.phase.both_local and match.which in ("src", "dst"):
                local = True
            types = _LOCAL_TYPES if local else _REMOTE_TYPES
            return self._negate(self._const(bool(types & match.types)), match.negated)
        if isinstance(match, AnyOf):
            sure, maybe = self.none, self.none
            for option in match.options:
                option_sure, option_maybe = self.conjunction(option, reasons)
                sure = sure.union(option_sure)
                maybe = maybe.union(option_maybe)
            return self._negate((sure, maybe), match.negated)
        if isinstance(match, SetMatch):
            found = self._set_space(match)
            if isinstance(found, str):
                # Unknown either way: negation keeps (nothing sure, everything possible).
                reasons.append(found)
                return self.none, self.full
            return self._negate((found, found), match.negated)
        if isinstance(match, MarkMatch):
            return self._mark(match, reasons)
        if isinstance(match, Unknown):
            reasons.append(match.reason)
            return self.none, self.full
        raise TypeError(f"unknown match type {type(match).__name__}")

    def _forwarded_type(self, match: AddrType, reasons: list[str]) -> Bounds:
        """`-m addrtype` on a translated packet: LOCAL for this host's addresses, UNICAST for
        the others (broadcast and multicast flows are out of scope)."""
        if self.local_addresses is None:
            reasons.append(f"-m addrtype --{match.which}-type on a forwarded packet: {MISSING}")
            return self.none, self.full
        name = "saddr" if match.which == "src" else "daddr"
        local = Space.where(self.dims, {name: self.local_addresses})
        sure = self.none
        if "LOCAL" in match.types:
            sure = sure.union(local)
        if "UNICAST" in match.types:
            sure = sure.union(self.full.subtract(local))
        return self._negate((sure, sure), match.negated)

    def _mark(self, match: MarkMatch, reasons: list[str]) -> Bounds:
        """Exact on the values the ruleset gives the mark; a value it does not determine (the
        ctmark of a reply when rules write ctmarks) possibly matches."""
        what = "packet mark" if match.field == "mark" else "connection mark"
        if self.mark_values is None:
            reasons.append(f"{what}: the ruleset writes more than {marks.MAX_VALUES} mark values")
            return self.none, self.full
        sure = Space.where(self.dims, {match.field: marks.holding(match, self.mark_values)})
        if marks.UNKNOWN not in self.mark_values[match.field]:
            return sure, sure
        reasons.append(
            f"{what}: not determined by the ruleset here (on a reply, the connection mark the"
            " rules saved on the first packet, which is not followed; or a write fwcheck does"
            " not model)"
        )
        return sure, sure.union(Space.where(self.dims, {match.field: [(marks.UNKNOWN,) * 2]}))

    def _iface_constraint(self, match: Iface) -> list[tuple[int, IntervalSet]]:
        d = self._index["iif" if match.field == "iif" else "oif"]
        positive = self.interfaces.matching(match.names)
        if match.negated:
            chosen = sorted(set(self.interfaces.real()) - set(positive))
        else:
            chosen = positive
        values = iset((i, i) for i in chosen)
        return [(d, values)] if values else []

    def _iface(self, match: Iface) -> Bounds:
        constraint = self._iface_constraint(match)
        if not constraint:
            return self.none, self.none
        box = list(self._full_box)
        box[constraint[0][0]] = constraint[0][1]
        space = Space(self.dims, (tuple(box),))
        return space, space

    def _set_space(self, match: SetMatch) -> Space | str:
        """The packets whose tuple is in the set (cached per set and flags), or why unknown."""
        key = (match.name, match.directions)
        cached = self._set_spaces.get(key)
        if cached is None:
            found = resolve(self.sets, match, self.family)
            if isinstance(found, str):
                cached = found
            else:
                boxes = []
                for constraints in found:
                    box = list(self._full_box)
                    for name, values in constraints.items():
                        d = self._index[name]
                        box[d] = iset_intersect(box[d], values)
                    if all(box):
                        boxes.append(tuple(box))
                cached = Space(self.dims, boxes).compact()
            self._set_spaces[key] = cached
        return cached
