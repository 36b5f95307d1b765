"""The three-valued first-match walk behind the netfilter engine (semantics: netfilter.py).

Each rule matches a (sure, maybe) pair of spaces (netfilter_match). The walk keeps, at each point
of a chain, the packets that surely reach it and those that possibly do; verdicts are collected
as pieces (verdict, surely-given, possibly-given, deciding rule), and a hook's result is what
every base chain on it accepts, surely and possibly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from checker.engine.box_index import BoxIndex
from checker.engine.budget import Budget
from checker.engine.interval_index import HullIndex, narrow_fields
from checker.engine.netfilter import marks, query, route
from checker.engine.netfilter.cuts import Cuts
from checker.engine.netfilter.match import MatchCompiler, Phase
from checker.engine.netfilter.preimage import Preimage, Rewrite, Translated
from checker.engine.netfilter.route import HostView
from checker.engine.netfilter.sets import SetIndex, build_index
from checker.engine.space import (
    Box,
    IntervalSet,
    Space,
    box_covers,
    box_intersect,
    box_touches,
    hull_lookup,
    iset_subtract,
    split_order,
)
from checker.engine.symbols import InterfaceSymbols
from checker.findings import Evidence
from checker.model.netfilter import (
    AnyOf,
    Chain,
    Hook,
    Iface,
    IpSets,
    MarkOp,
    NatTo,
    NftDevices,
    Rule,
    Ruleset,
    Table,
    Verdict,
)
from checker.policies.model import Direction, Requirement

MAX_DEPTH = 64
# From this many boxes on, a chain's packets are filed by their hulls for its rules' lookups.
PROBED = 32
# SNAT ends the nat chain; the packet goes on through the hook, as after ACCEPT.
ACCEPTING = (Verdict.ACCEPT, Verdict.SNAT)
# Base chains bound to a network device (netdev, and inet ingress).
DEVICE_HOOKS = (Hook.INGRESS, Hook.EGRESS)
# Possibly accepted: the verdict is decided outside the ruleset.
UNDECIDED = (Verdict.UNKNOWN,)


@dataclass(frozen=True, slots=True)
class Piece:
    """Packets given `verdict` by `evidence`: surely (`sure`) or possibly (`maybe`)."""

    verdict: Verdict
    sure: Space
    maybe: Space
    evidence: Evidence
    # Given by the base chain's policy (no rule matched), not by a rule.
    policy: bool = False
    # For a DNAT/REDIRECT piece: where the rule sends the flow (None: not read).
    to: NatTo | None = None


@dataclass(slots=True)
class ChainResult:
    chain: Chain
    table: Table
    pieces: list[Piece]
    accept_sure: Space
    accept_maybe: Space
    # Maps the packets this chain saw (marks written, destination translated) back to the
    # packets asked about, as they entered the hook (None: the asked packets themselves).
    preimage: Preimage | None = None

    def holds(self, space: Space, point: dict[str, int]) -> bool:
        """Whether the asked-about packet `point` may be among `space`'s (this chain's)."""
        if self.preimage is None:
            return space.contains(point)
        return self.preimage.holds(space, point)


@dataclass(frozen=True, slots=True)
class Translation:
    """Flows a DNAT/REDIRECT sent elsewhere on their first packet: the connection's later
    packets take the same way (conntrack applies the translation to each of them)."""

    flows: Space
    evidence: Evidence
    to: NatTo
    # Delivered to this host (INPUT), forwarded (FORWARD), or either (routing not known).
    local: tuple[bool, ...]
    # The interfaces the forwarded packets leave through (interface symbols).
    oif: tuple[tuple[int, int], ...]
    # Translated in nat OUTPUT (this host's own connection), not on the way in.
    outbound: bool = False


@dataclass(slots=True)
class HookResult:
    accept_sure: Space
    accept_maybe: Space
    chains: list[ChainResult] = field(default_factory=list)
    # Why some packets' fate is unknown: (reason, rule, the packets it concerns).
    uncertain: list[tuple[str, Evidence, Space]] = field(default_factory=list)
    _uncertain_index: HullIndex[tuple[str, Evidence, Space]] | None = None
    # DNAT/REDIRECT rules followed on the first packet (inbound NEW phase).
    translations: list[Translation] = field(default_factory=list)
    # The asked packets that possibly went on untranslated past a followed DNAT's chain.
    untranslated: list[Space] = field(default_factory=list)
    # The asked packets a translation not followed sent elsewhere: their connections' later
    # packets are translated the same way, so what this walk says of them proves nothing.
    diverted: list[tuple[Space, Preimage]] = field(default_factory=list)
    # Unknowns met by translated packets: (reason, rule, their packets, back to the asked).
    translated_uncertain: list[tuple[str, Evidence, Space, Preimage]] = field(default_factory=list)
    # The accepted spaces in flow terms, indexed (accepted_views).
    _views: dict[tuple[int, str, bool], tuple[BoxIndex, BoxIndex]] = field(default_factory=dict)
    _diverted: dict[tuple[int, str], BoxIndex] = field(default_factory=dict)

    def accepted_views(
        self, family: int, phase: Phase, mirrored: bool
    ) -> tuple[BoxIndex, BoxIndex]:
        """(surely, possibly) accepted, as flows (query.from_phase), indexed: a batched hook is
        intersected with every requirement of its batch, and its accepted spaces hold a box per
        service on a kube-proxy file."""
        key = (family, phase.name, mirrored)
        if key not in self._views:
            self._views[key] = (
                BoxIndex(query.from_phase(self.accept_sure, family, phase, mirrored)),
                BoxIndex(query.from_phase(self.accept_maybe, family, phase, mirrored)),
            )
        return self._views[key]

    def diverted_view(self, family: int, phase: Phase) -> BoxIndex | None:
        """The diverted packets of a first packet's hook as flows, indexed, once per hook (a
        batched hook's serve every requirement of its batch); None when there are none."""
        if not self.diverted:
            return None
        key = (family, phase.name)
        if key not in self._diverted:
            # Mapped back only when asked: on a kube-proxy file most requirements never need it.
            dims = self.accept_maybe.dims
            union = Space.union_all(dims, (back(packets) for packets, back in self.diverted))
            self._diverted[key] = BoxIndex(query.from_phase(union, family, phase, False))
        return self._diverted[key]

    def uncertain_touching(self, flows: Space) -> Iterator[tuple[str, Evidence]]:
        """The reasons (and rules), in walk order, of the unknowns that concern `flows`. A
        kube-proxy walk leaves thousands, one per service, each narrow on a /32 and a port:
        an index of their hulls finds the few a requirement's flows meet (a scan of 25,000
        hulls per requirement was most of a narrow requirement's time)."""
        # The walk writes marks: the flows' packets, whatever marks they carry by then.
        flows = marks.forget(flows)
        if not flows:
            return
        if self._uncertain_index is None:
            self._uncertain_index = HullIndex(narrow_fields(flows.dims))
            for entry in self.uncertain:
                if entry[2]:
                    self._uncertain_index.add(entry[2].hull(), entry)
        for reason, evidence, concerned in self._uncertain_index.meeting_lazily(flows.hull()):
            if concerned.touches(flows):
                yield reason, evidence
        for reason, evidence, concerned, preimage in self.translated_uncertain:
            if preimage(concerned).touches(flows):
                yield reason, evidence


def _both(
    operation: Callable[[Space, Space], Space],
    sure: Space,
    maybe: Space,
    other_sure: Space,
    other_maybe: Space,
) -> tuple[Space, Space]:
    """(operation(sure, other_sure), operation(maybe, other_maybe)), computed once while each
    pair is one object (no uncertain match met yet), so that it stays one object."""
    if sure is maybe and other_sure is other_maybe:
        both = operation(maybe, other_maybe)
        return both, both
    return operation(sure, other_sure), operation(maybe, other_maybe)


def _rule_evidence(rule: Rule, chain: Chain, table: Table) -> Evidence:
    where = f"{table.family} {table.name}"
    return Evidence(rule.origin.file, rule.origin.line, rule.text, chain.name, where)


def _policy_evidence(chain: Chain, table: Table) -> Evidence:
    origin = chain.policy_origin or table.origin
    policy = (chain.policy or Verdict.ACCEPT).value.upper()
    return Evidence(
        origin.file,
        origin.line,
        f"chain {chain.name} policy {policy} (table {table.family} {table.name})",
        chain.name,
        f"{table.family} {table.name}",
    )


class Walker:
    """First-match walk of one family and phase over a set of tables."""

    def __init__(
        self,
        compiler: MatchCompiler,
        chains_by_name: dict[int, dict[str, Chain]],
        budget: Budget | None = None,
    ) -> None:
        self.compiler = compiler
        self.uncertain: list[tuple[str, Evidence, Space]] = []
        self._chains_by_name = chains_by_name
        self._transparent: dict[int, bool] = {}
        self._marking: dict[int, tuple[tuple[MarkOp, ...], ...] | None] = {}
        self._budget = budget
        # A chain's result per (chain, depth, entering packets): the walk is exact packet by
        # packet, so the same chain entered with the same packets gives the same pieces, and a
        # DAG of jumps (each chain called twice by the one before) costs its edges, not 2^depth.
        self._memo: dict[
            tuple[int, int, Hook | None, tuple[object, ...], tuple[object, ...]],
            tuple[list[Piece], Space, Space, bool],
        ] = {}
        # The hook of the base chain being walked.
        self.hook: Hook | None = None
        self._order = split_order(compiler.dims)
        # Rules whose destination rewrite surely sends a packet elsewhere (Context.rerouted).
        self.rerouted: frozenset[int] = frozenset()

    def lookup(self, table: Table, name: str) -> Chain | None:
        by_name = self._chains_by_name.get(id(table))
        if by_name is None:
            by_name = self._chains_by_name[id(table)] = {
                chain.name: chain for chain in table.chains
            }
        return by_name.get(name)

    def chain(
        self, table: Table, chain: Chain, sure: Space, maybe: Space, depth: int
    ) -> tuple[list[Piece], Space, Space]:
        """Pieces decided in `chain` (and chains it calls), and the packets that return."""
        # The hook is part of the key: what a rule does can depend on it (an ingress `fwd`, a
        # destination rewrite before routing).
        writes = self.marking(chain)
        if writes is not None:
            return [], *self._mark(sure, maybe, writes)
        key = (id(chain), depth, self.hook, sure.boxes, maybe.boxes)
        known = self._memo.get(key)
        if known is not None:
            pieces, ret_sure, ret_maybe, unchanged = known
            return (pieces, sure, maybe) if unchanged else (pieces, ret_sure, ret_maybe)
        pieces, ret_sure, ret_maybe = self._walk_chain(table, chain, sure, maybe, depth)
        unchanged = ret_sure is sure and ret_maybe is maybe
        self._memo[key] = (pieces, ret_sure, ret_maybe, unchanged)
        return pieces, ret_sure, ret_maybe

    def _walk_chain(
        self, table: Table, chain: Chain, sure: Space, maybe: Space, depth: int
    ) -> tuple[list[Piece], Space, Space]:
        pieces: list[Piece] = []
        # Pieces from called chains, once each: a memoised chain hands back the same pieces.
        taken: set[int] = set()
        if self.transparent(chain):
            return pieces, sure, maybe
        ret_sure, ret_maybe = self.compiler.none, self.compiler.none
        # Decided matches passed but not yet cut out of sure and maybe (cuts.py): the packets
        # that reach a rule are (sure, maybe) minus these, computed for its match only.
        cuts = Cuts(self.compiler.dims)
        order = self._order
        dims = self.compiler.dims
        # maybe's boxes filed by their hulls while it stays one object over many rules: a
        # kube-proxy KUBE-SERVICES chain entered with a hundred asked boxes tested each of
        # them against each service rule, twice (touches, then intersect).
        filed: Space | None = None
        near: Callable[[Box], Sequence[Box]] | None = None
        for rule in chain.rules:
            if not maybe:
                break
            (match_sure, match_maybe), reasons = self.compiler.rule(rule)
            probed = len(maybe.boxes) >= PROBED and len(match_maybe.boxes) == 1
            if probed:
                if filed is not maybe:
                    filed, near = maybe, hull_lookup(dims, maybe.boxes)
                box = match_maybe.boxes[0]
                candidates = maybe.boxes if near is None else near(box)
                if not any(box_touches(box, a, order) for a in candidates):
                    continue
            elif not match_maybe.touches(maybe):
                continue
            verdict = rule.target.verdict
            deferred = (
                match_sure is match_maybe
                and not reasons
                and len(match_maybe.boxes) == 1
                and not rule.target.marks
            )
            if deferred and verdict is Verdict.CONTINUE:
                continue  # a decided match, no mark written: the rule changes nothing
            if cuts and not deferred:
                sure, maybe = self._cut(sure, maybe, cuts)
                cuts = Cuts(self.compiler.dims)
                if not match_maybe.touches(maybe):
                    continue
            if self._budget is not None:
                # Cutting the packets by the match costs (and may make) the product.
                self._budget.spend(len(maybe.boxes) * len(match_maybe.boxes))
            # While nothing uncertain has been met, sure and maybe are one object: compute once.
            certain = sure is maybe and match_sure is match_maybe
            if probed and filed is maybe and near is not None:
                # maybe.intersect(match_maybe), over the boxes near the match only.
                box = match_maybe.boxes[0]
                inside = (box_intersect(a, box) for a in near(box) if box_touches(a, box, order))
                enter_maybe = Space(dims, [both for both in inside if both is not None])
            else:
                enter_maybe = maybe.intersect(match_maybe)
            enter_sure = enter_maybe if certain else sure.intersect(match_sure)
            if cuts and enter_maybe:
                passed = cuts.touching(match_maybe.boxes[0], order)
                if passed:
                    earlier = Space(self.compiler.dims, passed)
                    enter_maybe = enter_maybe.subtract(earlier)
                    enter_sure = enter_maybe if certain else enter_sure.subtract(earlier)
            if not enter_maybe:
                continue
            # The packets it is undecided on (a ct state match only on UDP-Lite ones).
            doubt = enter_maybe.subtract(match_sure) if reasons else None
            if doubt:
                evidence = _rule_evidence(rule, chain, table)
                self.uncertain.extend((reason, evidence, doubt) for reason in reasons)
            if verdict is Verdict.CONTINUE:
                ops = rule.target.marks
                if ops:
                    # Marked packets go on with their new marks, the others unchanged.
                    if certain:
                        sure = maybe = maybe.subtract(match_maybe).union(
                            marks.apply(enter_maybe, ops)
                        )
                    else:
                        sure = sure.subtract(match_maybe).union(marks.apply(enter_sure, ops))
                        maybe = maybe.subtract(match_sure).union(marks.apply(enter_maybe, ops))
                continue
            if rule.target.marks:
                # nft `meta mark set 1 accept`: the packet leaves the rule marked.
                moved = marks.apply(enter_maybe, rule.target.marks)
                enter_sure = (
                    moved
                    if enter_sure is enter_maybe
                    else marks.apply(enter_sure, rule.target.marks)
                )
                enter_maybe = moved
            extra_sure, extra_maybe = self.compiler.none, self.compiler.none
            if verdict is Verdict.RETURN:
                ret_sure, ret_maybe = _both(
                    Space.union, ret_sure, ret_maybe, enter_sure, enter_maybe
                )
            elif verdict in (Verdict.JUMP, Verdict.GOTO):
                called = self.lookup(table, rule.target.chain or "")
                if called is None or depth >= MAX_DEPTH:
                    why = (
                        "jump depth exceeded" if called else f"chain {rule.target.chain} not found"
                    )
                    pieces.append(
                        Piece(
                            Verdict.UNKNOWN,
                            enter_sure,
                            enter_maybe,
                            _rule_evidence(rule, chain, table),
                        )
                    )
                    self.uncertain.append((why, _rule_evidence(rule, chain, table), enter_maybe))
                else:
                    sub_pieces, sub_sure, sub_maybe = self.chain(
                        table, called, enter_sure, enter_maybe, depth + 1
                    )
                    for sub_piece in sub_pieces:
                        if id(sub_piece) not in taken:
                            taken.add(id(sub_piece))
                            pieces.append(sub_piece)
                    if verdict is Verdict.JUMP:
                        if sub_sure is enter_sure and sub_maybe is enter_maybe:
                            # Everything came back (a transparent chain): as if no rule
                            # matched, and cutting it out and back in would only fragment.
                            continue
                        extra_sure, extra_maybe = sub_sure, sub_maybe
                    else:
                        ret_sure, ret_maybe = _both(
                            Space.union, ret_sure, ret_maybe, sub_sure, sub_maybe
                        )
            else:
                reason = ""
                if verdict is Verdict.FWD and not self.steals_local():
                    verdict = Verdict.UNKNOWN
                    reason = f"{rule.target.detail} (where it goes next is not followed)"
                elif verdict is Verdict.UNKNOWN and self.rerouting(rule):
                    # Before routing, to addresses not this host's: routed on, or dropped.
                    verdict = Verdict.DROP
                elif verdict is Verdict.UNKNOWN:
                    reason = (
                        f"target {rule.target.name} {rule.target.detail}".strip()
                        + ": its verdict is decided outside the ruleset"
                    )
                    if rule.target.daddr is not None and self.compiler.local_addresses is None:
                        reason += f"; whether its new destination is this host's: {route.MISSING}"
                if reason:
                    self.uncertain.append((reason, _rule_evidence(rule, chain, table), enter_maybe))
                evidence = _rule_evidence(rule, chain, table)
                pieces.append(Piece(verdict, enter_sure, enter_maybe, evidence, to=rule.target.to))
            if deferred:
                box = match_maybe.boxes[0]
                # Cut now when packets come back from a called chain (they go on from the next
                # rule, not through the passed ones) or when the index would be scanned rather
                # than searched.
                if (
                    not extra_maybe
                    and len(maybe.boxes) <= 8
                    and all(box_covers(box, a) for a in maybe.boxes)
                ):
                    # The match takes every packet still here (sure lies within maybe):
                    # nothing goes on, whatever the other kept cuts would remove.
                    sure = maybe = self.compiler.none
                    cuts = Cuts(self.compiler.dims)
                    continue
                if extra_maybe:
                    # Cut at once, without filing the box in the index first (a kube-proxy
                    # endpoint chain's `-s POD/32 -j KUBE-MARK-MASQ`, once per endpoint).
                    sure, maybe = self._cut_boxes(sure, maybe, [*cuts.boxes, box])
                    cuts = Cuts(self.compiler.dims)
                else:
                    cuts.add(box)
                    if cuts.crowded:
                        sure, maybe = self._cut(sure, maybe, cuts)
                        cuts = Cuts(self.compiler.dims)
            elif certain:
                sure = maybe = maybe.subtract(match_maybe)
            else:
                sure, maybe = sure.subtract(match_maybe), maybe.subtract(match_sure)
            sure, maybe = _both(Space.union, sure, maybe, extra_sure, extra_maybe)
        if cuts:
            sure, maybe = self._cut(sure, maybe, cuts)
        ret_sure, ret_maybe = _both(Space.union, ret_sure, ret_maybe, sure, maybe)
        return pieces, ret_sure, ret_maybe

    def _cut(self, sure: Space, maybe: Space, cuts: Cuts) -> tuple[Space, Space]:
        """(sure, maybe) with every kept box cut out, at once."""
        return self._cut_boxes(sure, maybe, cuts.boxes)

    def _cut_boxes(self, sure: Space, maybe: Space, boxes: list[Box]) -> tuple[Space, Space]:
        if self._budget is not None:
            self._budget.spend(len(maybe.boxes) * len(boxes))
        passed = Space(self.compiler.dims, boxes)
        if sure is maybe:
            sure = maybe = maybe.subtract_many(passed)
            return sure, maybe
        return sure.subtract_many(passed), maybe.subtract_many(passed)

    def reads_source(self, table: Table, chain: Chain) -> bool:
        """Whether any rule the chain can reach (through jumps) may look at the packet's source
        address or port: a constraint on them, or a match the engine cannot decide."""
        dims = self.compiler.dims
        source = [d for d, (name, _, _) in enumerate(dims) if name in ("saddr", "sport")]
        full = self.compiler.full.boxes[0]
        seen: set[int] = set()
        pending = [chain]
        while pending:
            current = pending.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            for rule in current.rules:
                (_, maybe), reasons = self.compiler.rule(rule)
                if reasons or any(box[d] != full[d] for box in maybe.boxes for d in source):
                    return True
                if rule.target.chain:
                    called = self.lookup(table, rule.target.chain)
                    if called is not None:
                        pending.append(called)
        return False

    def marking(self, chain: Chain) -> tuple[tuple[MarkOp, ...], ...] | None:
        """The mark writes of a chain whose every rule writes marks on every packet and goes
        on (kube-proxy's KUBE-MARK-MASQ: `-j MARK --set-xmark 0x4000/0x4000`, called for
        every service and endpoint), in order; None for any other chain. Such a chain decides
        nothing and returns every packet marked: `_mark` gives what its walk would, without
        the walk (a third of a kube-proxy walk's chain calls)."""
        if id(chain) in self._marking:
            return self._marking[id(chain)]
        full = self.compiler.full.boxes[0]
        found: list[tuple[MarkOp, ...]] = []
        for rule in chain.rules:
            if rule.target.verdict is not Verdict.CONTINUE or not rule.target.marks:
                found = []
                break
            (match_sure, match_maybe), reasons = self.compiler.rule(rule)
            if reasons or match_sure is not match_maybe or match_maybe.boxes != (full,):
                found = []
                break
            found.append(rule.target.marks)
        writes = tuple(found) or None
        self._marking[id(chain)] = writes
        return writes

    def _mark(
        self, sure: Space, maybe: Space, writes: tuple[tuple[MarkOp, ...], ...]
    ) -> tuple[Space, Space]:
        """(sure, maybe) after a chain of `marking`'s, as its rule by rule walk leaves them:
        each rule's match (every packet) intersected with them leaves equal boxes, its writes
        apply to them all, and nothing is left unmarked (maybe is never empty here)."""
        for ops in writes:
            if self._budget is not None:
                self._budget.spend(len(maybe.boxes))
            if sure is maybe:
                sure = maybe = marks.apply(maybe, ops)
            else:
                sure, maybe = marks.apply(sure, ops), marks.apply(maybe, ops)
        # The walk hands back an empty sure as the compiler's empty space.
        return (sure if sure else self.compiler.none), maybe

    def transparent(self, chain: Chain) -> bool:
        """Whether the chain surely lets every packet through unchanged (only non-terminating
        targets, every match decidable): kube-proxy's KUBE-MARK-MASQ, called per service."""
        known = self._transparent.get(id(chain))
        if known is None:
            known = all(
                rule.target.verdict is Verdict.CONTINUE
                and not rule.target.marks
                and not self.compiler.rule(rule)[1]
                for rule in chain.rules
            )
            self._transparent[id(chain)] = known
        return known

    def steals_local(self) -> bool:
        """Whether `fwd` here takes the packet off its way to this host: at ingress, on a packet
        headed for a local socket. Elsewhere (egress, forwarded) it still leaves the host."""
        return (
            self.hook is Hook.INGRESS
            and self.compiler.phase.inbound
            and not self.compiler.phase.forwarded
        )

    def rerouting(self, rule: Rule) -> bool:
        """Whether the rule's destination rewrite (read, to addresses not this host's, with no
        other rewrite on the way: Context.rerouted) takes a packet headed here off its way."""
        phase = self.compiler.phase
        return (
            id(rule) in self.rerouted
            and self.hook in (Hook.INGRESS, Hook.PREROUTING)
            and phase.inbound
            and not phase.forwarded
        )

    def base_chain(self, table: Table, chain: Chain, sure: Space, maybe: Space) -> ChainResult:
        self.hook = chain.hook
        pieces, ret_sure, ret_maybe = self.chain(table, chain, sure, maybe, 0)
        policy = chain.policy or Verdict.ACCEPT
        if ret_maybe:
            evidence = _policy_evidence(chain, table)
            pieces.append(Piece(policy, ret_sure, ret_maybe, evidence, True))
            if policy is Verdict.UNKNOWN:
                why = f"chain {chain.name} policy unknown (the export does not give it)"
                self.uncertain.append((why, evidence, ret_maybe))
        dims = self.compiler.dims
        accept_sure = Space.union_all(dims, (p.sure for p in pieces if p.verdict in ACCEPTING))
        accept_maybe = Space.union_all(
            dims, (p.maybe for p in pieces if p.verdict in ACCEPTING or p.verdict in UNDECIDED)
        )
        return ChainResult(chain, table, pieces, accept_sure, accept_maybe)


def _serves(table: Table, family: int) -> bool:
    if table.family in ("inet", "netdev"):
        return True
    return (table.family == "ip" and family == 4) or (table.family == "ip6" and family == 6)


def base_chains(
    rulesets: Sequence[Ruleset], family: int, hooks: Sequence[Hook]
) -> list[tuple[Table, Chain]]:
    found = []
    for ruleset in rulesets:
        for table in ruleset.tables:
            if not _serves(table, family):
                continue
            for chain in table.chains:
                if chain.hook in hooks:
                    found.append((table, chain))
    order: dict[Hook | None, int] = {hook: i for i, hook in enumerate(hooks)}
    found.sort(key=lambda tc: (order[tc[1].hook], tc[1].priority))
    return found


def interface_names(rulesets: Sequence[Ruleset], extra: Sequence[str] = ()) -> InterfaceSymbols:
    names: set[str] = set(extra)

    def visit(matches: Sequence[object]) -> None:
        for match in matches:
            if isinstance(match, Iface):
                names.update(match.names)
            elif isinstance(match, AnyOf):
                for option in match.options:
                    visit(option)

    for ruleset in rulesets:
        for table in ruleset.tables:
            for chain in table.chains:
                if chain.device:
                    names.add(chain.device)
                for rule in chain.rules:
                    visit(rule.matches)
    return InterfaceSymbols.build(names)


@dataclass(slots=True)
class Context:
    """What every requirement on one target shares: the interface symbols, the compiled rules
    per (family, phase), the base chains per (family, hooks) and the target's ipsets. Built
    once per target by `new_context` and passed in; nothing is cached at module level."""

    rulesets: tuple[Ruleset, ...]
    interfaces: InterfaceSymbols
    sets: SetIndex | None = None
    compilers: dict[tuple[int, str], MatchCompiler] = field(default_factory=dict)
    chains: dict[tuple[int, tuple[Hook, ...]], list[tuple[Table, Chain]]] = field(
        default_factory=dict
    )
    chains_by_name: dict[int, dict[str, Chain]] = field(default_factory=dict)
    marks: dict[int, tuple[MarkOp, ...]] = field(default_factory=dict)
    host: HostView | None = None
    reroutes: dict[int, frozenset[int]] = field(default_factory=dict)

    # Per family: the compiled rules every phase shares (MatchCompiler, header ranges only).
    phase_free: dict[int, dict[int, tuple[tuple[Space, Space], tuple[str, ...]]]] = field(
        default_factory=dict
    )
    batches: dict[tuple[int, bool], Space] = field(default_factory=dict)
    batch_hooks: dict[tuple[int, str, bool], HookResult] = field(default_factory=dict)
    # The target's work budget (budget.py); None: unbounded.
    budget: Budget | None = None

    def prepare(self, requirements: Sequence[Requirement]) -> None:
        """Collect the flows of every requirement so each hook is walked once for all of them."""
        for requirement in requirements:
            inbound = requirement.direction is Direction.INBOUND
            for family in requirement.families:
                space = query.requirement_space(requirement, family, self.interfaces)
                key = (family, inbound)
                self.batches[key] = self.batches[key].union(space) if key in self.batches else space
        for key, space in self.batches.items():
            self.batches[key] = space.compact()

    def batch_hook(
        self, family: int, phase: Phase, mirrored: bool, inbound: bool
    ) -> HookResult | None:
        batch = self.batches.get((family, inbound))
        if batch is None:
            return None
        key = (family, phase.name, inbound)
        if key not in self.batch_hooks:
            asked = query.to_phase(query.concerned(batch, family, phase), family, phase, mirrored)
            self.batch_hooks[key] = evaluate_hook(self, family, phase, asked, mirrored=mirrored)
        return self.batch_hooks[key]

    def mark_ops(self, family: int) -> tuple[MarkOp, ...]:
        if family not in self.marks:
            self.marks[family] = marks.mark_ops(self.rulesets, family)
        return self.marks[family]

    def compiler(self, family: int, phase: Phase) -> MatchCompiler:
        key = (family, phase.name)
        if key not in self.compilers:
            ops = self.mark_ops(family)
            start = marks.start_values(ops, phase.ctstate == "NEW")
            self.compilers[key] = MatchCompiler(
                query.dims_for(family, self.interfaces),
                phase,
                self.interfaces,
                family=family,
                sets=self.sets,
                mark_values=marks.reachable(ops, start),
                local_addresses=self.host.local[family] if self.host else None,
                shared=self.phase_free.setdefault(family, {}),
            )
        return self.compilers[key]

    def rerouted(self, family: int) -> frozenset[int]:
        """The rules (ids) whose destination rewrite (nft `ip daddr set`, read) surely sends a
        packet elsewhere: every new address is not this host's, and no rule of a table on the
        way in (ingress/prerouting) rewrites anything else or hands the packet on (DNAT, queue,
        tproxy, a rewrite not read), so nothing brings it back. None without host addresses."""
        if family not in self.reroutes:
            self.reroutes[family] = _rerouted(self.rulesets, family, self.host)
        return self.reroutes[family]

    def base_chains(self, family: int, hooks: tuple[Hook, ...]) -> list[tuple[Table, Chain]]:
        key = (family, hooks)
        if key not in self.chains:
            self.chains[key] = base_chains(self.rulesets, family, hooks)
        return self.chains[key]


def _rerouted(rulesets: Sequence[Ruleset], family: int, host: HostView | None) -> frozenset[int]:
    if host is None:
        return frozenset()
    found: set[int] = set()
    for ruleset in rulesets:
        for table in ruleset.tables:
            early = any(c.hook in (Hook.INGRESS, Hook.PREROUTING) for c in table.chains)
            if not _serves(table, family) or not early:
                continue
            for chain in table.chains:
                for rule in chain.rules:
                    target = rule.target
                    if target.verdict is Verdict.DNAT:
                        return frozenset()
                    if target.verdict is not Verdict.UNKNOWN:
                        continue
                    if target.daddr is None or route.is_local(host, family, target.daddr) != (
                        False,
                    ):
                        return frozenset()
                    found.add(id(rule))
    return frozenset(found)


def new_context(
    models: Sequence[Ruleset | IpSets | NftDevices], extra_interfaces: Sequence[str] = ()
) -> Context:
    """The context of one target: its Rulesets, the contents of its ipsets when an `ipset save`
    output (IpSets) is among the models, the devices of netdev chains when an
    `nft list ruleset` text (NftDevices) is, and the host's addresses when an `ip -j addr`
    output (HostAddresses) is."""
    devices = {
        (family, table, chain): names
        for model in models
        if isinstance(model, NftDevices)
        for family, table, chain, names in model.bindings
    }
    rulesets = tuple(bind_devices(m, devices) for m in models if isinstance(m, Ruleset))
    host = route.host_view(models)
    names = [*extra_interfaces, *route.interface_names(host)]
    return Context(rulesets, interface_names(rulesets, names), build_index(models), host=host)


def bind_devices(ruleset: Ruleset, devices: dict[tuple[str, str, str], tuple[str, ...]]) -> Ruleset:
    """The ruleset with each device-bound chain whose device it does not name (nft -j of nft
    1.0.6) bound to the devices `devices` gives for it: one chain per device."""
    if not devices:
        return ruleset
    tables = []
    for table in ruleset.tables:
        chains: list[Chain] = []
        for chain in table.chains:
            names = devices.get((table.family, table.name, chain.name))
            if chain.hook in DEVICE_HOOKS and chain.device is None and names:
                chains.extend(replace(chain, device=name) for name in names)
            else:
                chains.append(chain)
        tables.append(replace(table, chains=tuple(chains)))
    return replace(ruleset, tables=tuple(tables))


# NF_IP_PRI_NAT_DST / NF_IP_PRI_NAT_SRC: where conntrack applies a connection's translation to
# its later packets (destination in prerouting, the reply's source in postrouting).
DSTNAT = -100
SRCNAT = 100
# Followed translations per nat chain: more (a kube-proxy ClusterIP per service, when the asked
# flows are to any address) are not followed, so a walk stays near-linear in the ruleset.
MAX_FOLLOWED = 64
_FORWARD_PATH = (Hook.FORWARD, Hook.POSTROUTING, Hook.EGRESS)
# A step of a path: a base chain, or a rewrite of the packets' headers.
Step = tuple[Table, Chain] | Callable[[Space], Space]


def _forwarded(phase: Phase) -> Phase:
    return replace(phase, name=phase.name + "-fwd", forwarded=True)


def _set_dims(space: Space, values: dict[str, IntervalSet]) -> Space:
    """The packets of `space` with some header fields rewritten to `values`."""
    if not space or not values:
        return space
    index = [(space.index(name), value) for name, value in values.items()]
    boxes = []
    for box in space.boxes:
        out = list(box)
        for d, value in index:
            out[d] = value
        boxes.append(tuple(out))
    return Space(space.dims, boxes).compact()


def _free(space: Space, names: Sequence[str]) -> Space:
    """`space` with the named fields unconstrained."""
    if not space:
        return space
    return _set_dims(space, {name: ((lo, hi),) for name, lo, hi in space.dims if name in names})


@dataclass(slots=True)
class _Outcome:
    """What a hook does with the asked packets, in their terms: those possibly accepted and
    those possibly not (dropped, rejected, decided elsewhere, or not known)."""

    good: list[Space] = field(default_factory=list)
    bad: list[Space] = field(default_factory=list)


def evaluate_hook(
    context: Context,
    family: int,
    phase: Phase,
    space: Space,
    *,
    mirrored: bool = False,
    translations: Sequence[Translation] = (),
    untranslated: Space | None = None,
) -> HookResult:
    """What the hooks a packet of `phase` crosses do with every packet of `space`.

    Base chains are walked in hook and priority order, each on the packets the previous ones
    let through (so a mark written in mangle is seen by filter). A packet is surely accepted
    when no chain possibly refuses it, and possibly accepted when it possibly gets through
    them all. A DNAT/REDIRECT on the first inbound packet is followed: the translated packets
    go on through the rest of PREROUTING, then INPUT (delivered here) or FORWARD and
    POSTROUTING (netfilter_route); the connection's later packets (`translations`) take the
    same way."""
    result = HookResult(accept_sure=space, accept_maybe=space)
    ops = context.mark_ops(family)
    start = space
    if phase.ctstate != "NEW" and marks.writes_ctmark(ops):
        start = marks.reset(space, marks.start_values(ops, False))
    outcome = _Outcome()
    main = start
    parts: list[tuple[Translation, Space]] = []
    for translation in translations:
        flows = query.concerned(translation.flows, family, phase)
        part = query.to_phase(flows, family, phase, mirrored).intersect(start)
        if part:
            parts.append((translation, part))
    if parts:
        # Later packets of connections surely translated take only the translated way.
        surely = Space.union_all(space.dims, (part for _, part in parts))
        if untranslated is not None:
            others = query.concerned(untranslated, family, phase)
            surely = surely.subtract(query.to_phase(others, family, phase, mirrored))
        main = main.subtract(surely)
        _follow_later(context, family, phase, mirrored, parts, space, result, outcome)
    chains: list[Step] = list(context.base_chains(family, query.hooks_for(phase)))
    if main:
        preimage = Preimage(space)
        _walk(context, family, phase, chains, main, preimage, result, outcome, follow=True)
    dims = space.dims
    # Compacted: the pieces of many base chains never merge by themselves, and a wide question's
    # result stayed cut into hundreds of boxes that every later phase multiplied (issue 16: the
    # Shorewall corpus file's 513 boxes compact to 9; 97 s and 1.6 GB before).
    result.accept_maybe = Space.union_all(dims, outcome.good).intersect(space).compact()
    result.accept_sure = space.subtract(Space.union_all(dims, outcome.bad)).compact()
    return result


def _walk(
    context: Context,
    family: int,
    phase: Phase,
    steps: Sequence[Step],
    entry: Space,
    preimage: Preimage,
    result: HookResult,
    outcome: _Outcome,
    *,
    follow: bool = False,
) -> None:
    """Walk `entry` through `steps`; add what gets through to `outcome.good` and what may not
    to `outcome.bad` (both through `preimage`, in the asked packets' terms)."""
    interfaces = context.interfaces
    compiler = context.compiler(family, phase)
    walker = Walker(compiler, context.chains_by_name, context.budget)
    walker.rerouted = context.rerouted(family)
    dims = compiler.dims
    sure, maybe = entry, entry
    bad: list[Space] = []
    # The SNAT/MASQUERADE pieces met so far: later chains (postrouting after srcnat, netdev
    # egress) see the source they wrote, which the walk does not know.
    snatted: list[Piece] = []
    # Packets translated in a way not followed: possibly accepted wherever they went.
    diverted: list[Space] = []
    # Unknowns said before the rules' own: what the user can add to decide them.
    first_reasons: list[tuple[str, Evidence, Space]] = []
    for position, step in enumerate(steps):
        if not maybe:
            break
        if callable(step):
            sure, maybe = step(sure), step(maybe)
            continue
        table, chain = step
        if chain.kind == "nat" and not phase.sees_nat:
            continue
        enter_sure, enter_maybe = sure, maybe
        bypass: tuple[Space, Space] | None = None
        if chain.hook in DEVICE_HOOKS and chain.device:
            side = "iif" if chain.hook is Hook.INGRESS else "oif"
            index = interfaces.index_of(chain.device)
            on_device = Space.where(dims, {side: [(index, index)]})
            enter_sure, enter_maybe = sure.intersect(on_device), maybe.intersect(on_device)
            bypass = sure.subtract(on_device), maybe.subtract(on_device)
        if not enter_maybe:
            continue
        chain_result = walker.base_chain(table, chain, enter_sure, enter_maybe)
        chain_result.preimage = preimage
        out_sure, out_maybe = chain_result.accept_sure, chain_result.accept_maybe
        refused = [
            p.maybe
            for p in chain_result.pieces
            if p.verdict not in ACCEPTING and p.verdict is not Verdict.DNAT
        ]
        if bypass is not None:
            out_sure, out_maybe = out_sure.union(bypass[0]), out_maybe.union(bypass[1])
        elif chain.hook in DEVICE_HOOKS:
            # Bound to a device the export does not name: it may or may not see these packets,
            # so what it would drop is possibly accepted, never surely dropped.
            unseen = enter_maybe.subtract(out_sure)
            if unseen:
                why = (
                    f"{chain.hook.value} chain {chain.name}: the export does not name its device"
                    " (nft -j of nft 1.0.6 leaves it out; give `nft list ruleset` text too)"
                )
                walker.uncertain.append((why, _policy_evidence(chain, table), unseen))
            out_maybe = out_maybe.union(enter_maybe)
        if snatted and walker.reads_source(table, chain):
            affected = Space.union_all(dims, (p.maybe for p in snatted)).intersect(enter_maybe)
            if affected:
                why = (
                    f"source NAT before chain {chain.name} ({table.family} {table.name})"
                    " rewrites the source address/port that chain matches on"
                )
                walker.uncertain.append((why, snatted[0].evidence, affected))
                refused.append(affected)
                out_sure, out_maybe = out_sure.subtract(affected), out_maybe.union(affected)
        snatted += [p for p in chain_result.pieces if p.verdict is Verdict.SNAT]
        translating = [p for p in chain_result.pieces if p.verdict is Verdict.DNAT]
        followed: list[Piece] = []
        if follow and phase.sees_nat and phase.inbound and chain.hook is Hook.PREROUTING:
            followed = [p for p in translating if p.to is not None]
        elif follow and phase.sees_nat and not phase.inbound and chain.hook is Hook.OUTPUT:
            followed = [p for p in translating if _leaves_host(context, family, p.to)]
        if len(followed) > MAX_FOLLOWED:
            followed = []
        for piece in translating:
            if any(piece is f for f in followed):
                continue
            # Translated packets leave this path (FORWARD, or INPUT on another port) in a way
            # the walk does not follow: what later chains here say proves nothing either way.
            rule = piece.evidence.text.split(" -j ")[-1]
            outbound_unknown = (
                chain.hook is Hook.OUTPUT
                and context.host is None
                and piece.to is not None
                and piece.to.addresses is not None
            )
            if outbound_unknown:
                # The one thing that would let it be followed: said first, before the rules'.
                why = f"{rule}: whether the new destination is this host's is not known: {route.MISSING}"
                first_reasons.append((why, piece.evidence, piece.maybe))
            else:
                why = (
                    f"{rule}: the flow is translated and goes elsewhere, which is not followed"
                    " here (only DNAT/REDIRECT in PREROUTING, and DNAT in OUTPUT to addresses"
                    " known not to be this host's, with a destination read from the rule, for at"
                    f" most {MAX_FOLLOWED} translations of the asked flows)"
                )
                walker.uncertain.append((why, piece.evidence, piece.maybe))
            refused.append(piece.maybe)
            diverted.append(piece.maybe)
        if followed:
            rest = [s for s in steps[position + 1 :] if not callable(s)]
            _follow_first(context, family, phase, followed, rest, preimage, result, outcome)
            result.untranslated.append(preimage(Space.union_all(dims, [out_maybe, *refused])))
        if refused:
            bad.append(Space.union_all(dims, refused))
        result.chains.append(chain_result)
        sure, maybe = out_sure, out_maybe
    outcome.good.append(preimage(Space.union_all(dims, [maybe, *diverted])))
    if diverted:
        result.diverted.append((Space.union_all(dims, diverted), preimage))
    if bad:
        outcome.bad.append(preimage(Space.union_all(dims, bad)))
    if isinstance(preimage, Translated):
        result.translated_uncertain.extend(
            (r, e, c, preimage) for r, e, c in [*first_reasons, *walker.uncertain]
        )
    else:
        result.uncertain.extend([*first_reasons, *walker.uncertain])


def _destination(context: Context, family: int, to: NatTo) -> IntervalSet:
    if to.addresses is not None:
        return to.addresses
    # REDIRECT: the primary address of the incoming interface, one of this host's own.
    if context.host is not None:
        return context.host.local[family]
    return iset_subtract(((0, query.ADDRESS_MAX[family]),), query.NOT_LOCAL[family])


def _rewrite(space: Space, header: dict[str, IntervalSet]) -> Rewrite:
    return tuple((space.index(name), values) for name, values in header.items())


def _follow_first(
    context: Context,
    family: int,
    phase: Phase,
    pieces: Sequence[Piece],
    rest: Sequence[Step],
    preimage: Preimage,
    result: HookResult,
    outcome: _Outcome,
) -> None:
    """Follow the first packets DNAT/REDIRECT pieces translated: through the rest of
    PREROUTING, then INPUT or FORWARD/POSTROUTING; one walk per way for all of them. In
    OUTPUT (this host's own connections): _follow_output."""
    if not phase.inbound:
        _follow_output(context, family, phase, pieces, rest, preimage, result, outcome)
        return
    tail = [s for s in rest if not callable(s) and s[1].hook is Hook.PREROUTING]
    ways: dict[bool, list[tuple[Space, Rewrite, Space]]] = {}
    for piece in pieces:
        assert piece.to is not None
        to = piece.to
        destination = _destination(context, family, to)
        local = (
            (True,) if to.addresses is None else route.is_local(context.host, family, destination)
        )
        oif = route.out_interfaces(context.host, family, destination, context.interfaces)
        flows = preimage(piece.maybe)
        result.translations.append(Translation(flows, piece.evidence, to, local, oif))
        if len(local) > 1:
            where = f"{piece.evidence.text.split(' -j ')[-1]}: whether the new destination is"
            why = f"{where} this host's is not known: {route.MISSING}"
            result.uncertain.append((why, piece.evidence, flows))
        for delivered in local:
            header = {"daddr": destination} | ({"dport": to.ports} if to.ports else {})
            if not delivered:
                header["oif"] = oif
            rewritten = _set_dims(piece.maybe, header)
            ways.setdefault(delivered, []).append((rewritten, _rewrite(flows, header), flows))
    for delivered, found in ways.items():
        back = Translated(preimage.known, [(rewrite, flows) for _, rewrite, flows in found])
        hooks = (Hook.INPUT,) if delivered else _FORWARD_PATH
        steps = [*tail, *context.base_chains(family, hooks)]
        walked = phase if delivered else _forwarded(phase)
        entry = Space.union_all(preimage.known.dims, (rewritten for rewritten, _, _ in found))
        _walk(context, family, walked, steps, entry, back, result, outcome)


def _leaves_host(context: Context, family: int, to: NatTo | None) -> bool:
    """Whether a DNAT in OUTPUT surely sends this host's packet away: a REDIRECT, or an address
    that may be this host's, comes back in through loopback, a way not followed."""
    if to is None or to.addresses is None:
        return False
    return route.is_local(context.host, family, to.addresses) == (False,)


def _any_value(space: Space, name: str) -> IntervalSet:
    for dim, low, high in space.dims:
        if dim == name:
            return ((low, high),)
    raise KeyError(name)


def _reroute_step(
    destinations: Sequence[tuple[IntervalSet, IntervalSet]],
) -> Callable[[Space], Space]:
    """The step where translated packets take the device of the route to their new destination
    (`destinations`: new address -> output interfaces)."""

    def reroute(packets: Space) -> Space:
        return Space.union_all(
            packets.dims,
            (
                _set_dims(packets.restrict("daddr", address), {"oif": oif})
                for address, oif in destinations
            ),
        )

    return reroute


def _output_path(
    context: Context,
    family: int,
    destinations: Sequence[tuple[IntervalSet, IntervalSet]],
    *,
    translate: Callable[[Space], Space] | None = None,
) -> list[Step]:
    """OUTPUT, POSTROUTING and egress for packets a DNAT in OUTPUT translates. The hooks of
    OUTPUT are called with the device the packet was first routed to, and nf_nat reroutes it
    after the translation: the rest of OUTPUT sees the new destination with the old device,
    POSTROUTING the new device. `translate`: later packets, translated at NF_IP_PRI_NAT_DST."""
    steps: list[Step] = []
    for step in context.base_chains(family, (Hook.OUTPUT,)):
        if translate is not None and step[1].priority >= DSTNAT:
            steps.append(translate)
            translate = None
        steps.append(step)
    if translate is not None:
        steps.append(translate)
    steps.append(_reroute_step(destinations))
    steps += context.base_chains(family, (Hook.POSTROUTING, Hook.EGRESS))
    return steps


def _follow_output(
    context: Context,
    family: int,
    phase: Phase,
    pieces: Sequence[Piece],
    rest: Sequence[Step],
    preimage: Preimage,
    result: HookResult,
    outcome: _Outcome,
) -> None:
    """The first packets a DNAT in nat OUTPUT sent away from this host: through the rest of
    OUTPUT (new destination, the device first routed to), then POSTROUTING and egress out of
    the device of the route to the new destination."""
    found: list[tuple[Space, Rewrite, Space]] = []
    destinations: list[tuple[IntervalSet, IntervalSet]] = []
    for piece in pieces:
        to = piece.to
        assert to is not None and to.addresses is not None
        destination = to.addresses
        oif = route.out_interfaces(context.host, family, destination, context.interfaces)
        flows = preimage(piece.maybe)
        result.translations.append(
            Translation(flows, piece.evidence, to, (False,), oif, outbound=True)
        )
        header = {"daddr": destination} | ({"dport": to.ports} if to.ports else {})
        rewrite = _rewrite(flows, header | {"oif": _any_value(flows, "oif")})
        found.append((_set_dims(piece.maybe, header), rewrite, flows))
        destinations.append((destination, oif))
    tail = [s for s in rest if not callable(s) and s[1].hook is Hook.OUTPUT]
    steps: list[Step] = [
        *tail,
        _reroute_step(destinations),
        *context.base_chains(family, (Hook.POSTROUTING, Hook.EGRESS)),
    ]
    back = Translated(preimage.known, [(rewrite, flows) for _, rewrite, flows in found])
    entry = Space.union_all(preimage.known.dims, (rewritten for rewritten, _, _ in found))
    _walk(context, family, phase, steps, entry, back, result, outcome)


def _follow_later(
    context: Context,
    family: int,
    phase: Phase,
    mirrored: bool,
    parts: Sequence[tuple[Translation, Space]],
    known: Space,
    result: HookResult,
    outcome: _Outcome,
) -> None:
    """A translated connection's later packets (`parts`, in the phase's terms): an inbound one
    is translated at the dstnat priority of PREROUTING like the first; a reply comes from the
    new destination and gets its source written back at the srcnat priority of POSTROUTING.
    Connections translated in OUTPUT: _follow_later_output."""
    outbound = [(t, part) for t, part in parts if t.outbound]
    if outbound:
        _follow_later_output(context, family, phase, mirrored, outbound, known, result, outcome)
    ways: dict[bool, list[tuple[Space, dict[str, IntervalSet]]]] = {}
    for translation, part in parts:
        if translation.outbound:
            continue
        to = translation.to
        destination = _destination(context, family, to)
        for delivered in translation.local:
            if mirrored:
                header = {"saddr": destination} | ({"sport": to.ports} if to.ports else {})
                if not delivered:
                    header["iif"] = translation.oif
            else:
                header = {"daddr": destination} | ({"dport": to.ports} if to.ports else {})
                if not delivered:
                    header["oif"] = translation.oif
            ways.setdefault(delivered, []).append((part, header))
    for delivered, rewrites in ways.items():
        back = Translated(known, [(_rewrite(known, header), part) for part, header in rewrites])

        def translate(
            packets: Space, rewrites: list[tuple[Space, dict[str, IntervalSet]]] = rewrites
        ) -> Space:
            return Space.union_all(
                packets.dims,
                (
                    _set_dims(packets.intersect(marks.forget(part)), header)
                    for part, header in rewrites
                ),
            )

        def written_back(packets: Space, back: Translated = back) -> Space:
            # The reply's source is the asked one again (its marks freed: not followed further).
            return back(packets)

        walked = phase if delivered else _forwarded(phase)
        rewritten = Space.union_all(
            known.dims, (_set_dims(part, header) for part, header in rewrites)
        )
        if mirrored:
            hooks = (
                (Hook.OUTPUT, Hook.POSTROUTING, Hook.EGRESS)
                if delivered
                else (Hook.INGRESS, Hook.PREROUTING, *_FORWARD_PATH)
            )
            chains = context.base_chains(family, hooks)
            late = [
                c for c in chains
                if c[1].hook is Hook.EGRESS
                or (c[1].hook is Hook.POSTROUTING and c[1].priority >= SRCNAT)
            ]  # fmt: skip
            early = [c for c in chains if c not in late]
            steps: list[Step] = [*early, written_back, *late]
            entry = rewritten
        else:
            hooks = (
                Hook.INGRESS,
                Hook.PREROUTING,
                *((Hook.INPUT,) if delivered else _FORWARD_PATH),
            )
            chains = context.base_chains(family, hooks)
            early = [
                c for c in chains
                if c[1].hook is Hook.INGRESS
                or (c[1].hook is Hook.PREROUTING and c[1].priority < DSTNAT)
            ]  # fmt: skip
            late = [c for c in chains if c not in early]
            if early:
                steps = [*early, translate, *late]
                entry = Space.union_all(known.dims, (part for part, _ in rewrites))
            else:
                steps, entry = list(late), rewritten
        _walk(context, family, walked, steps, entry, back, result, outcome)


def _follow_later_output(
    context: Context,
    family: int,
    phase: Phase,
    mirrored: bool,
    parts: Sequence[tuple[Translation, Space]],
    known: Space,
    result: HookResult,
    outcome: _Outcome,
) -> None:
    """Later packets of this host's connections a DNAT in OUTPUT translated. Outgoing: the
    destination rewritten at NF_IP_PRI_NAT_DST of OUTPUT, the device at the reroute. A reply:
    from the new destination on the device the request left by, its source written back at
    NF_IP_PRI_NAT_SRC of INPUT (after the filter table)."""
    headers: list[tuple[Space, dict[str, IntervalSet]]] = []
    destinations: list[tuple[IntervalSet, IntervalSet]] = []
    for translation, part in parts:
        to = translation.to
        assert to.addresses is not None
        if mirrored:
            header = {"saddr": to.addresses} | ({"sport": to.ports} if to.ports else {})
            header["iif"] = translation.oif
        else:
            header = {"daddr": to.addresses} | ({"dport": to.ports} if to.ports else {})
            destinations.append((to.addresses, translation.oif))
        headers.append((part, header))
    any_oif = {"oif": _any_value(known, "oif")}
    back = Translated(
        known,
        [
            (_rewrite(known, header if mirrored else header | any_oif), part)
            for part, header in headers
        ],
    )
    if mirrored:

        def written_back(packets: Space, back: Translated = back) -> Space:
            return back(packets)

        chains = context.base_chains(family, (Hook.INGRESS, Hook.PREROUTING, Hook.INPUT))
        late = [c for c in chains if c[1].hook is Hook.INPUT and c[1].priority >= SRCNAT]
        early = [c for c in chains if c not in late]
        steps: list[Step] = [*early, written_back, *late]
        entry = Space.union_all(known.dims, (_set_dims(part, h) for part, h in headers))
    else:

        def translate(packets: Space) -> Space:
            return Space.union_all(
                packets.dims,
                (_set_dims(packets.intersect(marks.forget(part)), h) for part, h in headers),
            )

        steps = _output_path(context, family, destinations, translate=translate)
        entry = Space.union_all(known.dims, (part for part, _ in headers))
    _walk(context, family, phase, steps, entry, back, result, outcome)


def deciding_evidence(hook: HookResult, point: dict[str, int]) -> list[Evidence]:
    """The rule (or chain policy) that denies `point`, in the first base chain that does."""
    for chain_result in hook.chains:
        if chain_result.holds(chain_result.accept_maybe, point):
            continue
        for piece in chain_result.pieces:
            if (
                piece.verdict not in ACCEPTING
                and piece.verdict is not Verdict.DNAT
                and chain_result.holds(piece.maybe, point)
            ):
                return [piece.evidence]
    return []


def connection_accepted(
    context: Context,
    family: int,
    space: Space,
    inbound: bool,
    complete: bool,
    batched: bool = False,
) -> tuple[Space, Space, list[tuple[Phase, bool, Space, HookResult]]]:
    """(surely accepted, possibly accepted, per-phase results) for the connections of `space`.

    With `complete`, a TCP connection counts only if its SYN-ACK gets out (mirrored) and its
    final ACK gets in too, and a ping only if its echo reply gets back; other flows are judged
    on their first packet. With `batched`, `space` lies in the context's prepared batch, whose
    hook results are reused: the walk is exact packet by packet, so one walk over the union
    answers every requirement in it. A connection a DNAT sent elsewhere has its later packets
    walked the way the first went."""
    sure, maybe = space, space
    parts = []
    translations: list[Translation] = []
    untranslated: Space | None = None
    # The asked flows a translation not followed sent elsewhere on their first packet: their
    # later packets take that way too, so they stay possibly accepted whatever later walks say
    # (before, a later packet judged untranslated could turn an accepted connection "dropped").
    diverted: BoxIndex | None = None
    first_maybe = space
    put_back: Space | None = None
    for phase, mirrored in query.phases_for(inbound, complete):
        flows = query.concerned(space, family, phase)
        if not flows:
            continue
        asked = query.to_phase(flows, family, phase, mirrored)
        hook = None
        if batched and (phase.ctstate == "NEW" or not translations):
            hook = context.batch_hook(family, phase, mirrored, inbound)
        views = None if hook is None else hook.accepted_views(family, phase, mirrored)
        if hook is None:
            hook = evaluate_hook(
                context,
                family,
                phase,
                asked,
                mirrored=mirrored,
                translations=translations,
                untranslated=untranslated,
            )
        if phase.ctstate == "NEW":
            translations = hook.translations
            untranslated = Space.union_all(asked.dims, hook.untranslated)
        if views is not None:
            accepted_sure, accepted_maybe = views[0].space, views[1].space
        else:
            accepted_sure = query.from_phase(hook.accept_sure, family, phase, mirrored)
            accepted_maybe = query.from_phase(hook.accept_maybe, family, phase, mirrored)
        if context.budget is not None:
            # Intersections cost (and may produce) the product of their box counts.
            context.budget.spend(
                len(sure.boxes) * len(accepted_sure.boxes)
                + len(maybe.boxes) * len(accepted_maybe.boxes)
            )
        before = maybe
        # Flows this packet does not belong to pass this phase untouched.
        other = space.subtract(flows) if phase.ctstate != "NEW" else None
        if views is not None:
            # sure ∩ (accepted ∪ other), with the accepted boxes looked up in the index.
            kept_sure, kept_maybe = views[0].intersect(sure), views[1].intersect(maybe)
            if other:
                kept_sure = kept_sure.union(sure.intersect(other))
                kept_maybe = kept_maybe.union(maybe.intersect(other))
            sure, maybe = kept_sure, kept_maybe
        else:
            if other is not None:
                accepted_sure = accepted_sure.union(other)
                accepted_maybe = accepted_maybe.union(other)
            sure = sure.intersect(accepted_sure)
            maybe = maybe.intersect(accepted_maybe)
        if phase.ctstate == "NEW":
            diverted, first_maybe = hook.diverted_view(family, phase), maybe
        elif diverted is not None and maybe.boxes != before.boxes:
            # Something was lost (an unchanged space keeps its boxes): put back what of it
            # was diverted, looked up once.
            if put_back is None:
                put_back = diverted.intersect(first_maybe)
            maybe = maybe.union(put_back)
        parts.append((phase, mirrored, asked, hook))
    return sure, maybe, parts
