"""The three-valued first-match walk behind the netfilter engine (semantics: netfilter.py).

Each rule matches a (sure, maybe) pair of spaces (netfilter_match). The walk keeps, at each point
of a chain, the packets that surely reach it and those that possibly do; verdicts are collected
as pieces (verdict, surely-given, possibly-given, deciding rule), and a hook's result is what
every base chain on it accepts, surely and possibly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from checker.engine import netfilter_query as query
from checker.engine.budget import Budget
from checker.engine.netfilter_match import MatchCompiler, Phase
from checker.engine.netfilter_sets import SetIndex, build_index
from checker.engine.space import Interval, Space, hulls_overlap
from checker.engine.symbols import InterfaceSymbols
from checker.findings import Evidence
from checker.model.netfilter import (
    AnyOf,
    Chain,
    Hook,
    Iface,
    IpSets,
    NftDevices,
    Rule,
    Ruleset,
    Table,
    Verdict,
)
from checker.policies.model import Direction, Requirement

MAX_DEPTH = 64
# SNAT ends the nat chain; the packet goes on through the hook, as after ACCEPT.
ACCEPTING = (Verdict.ACCEPT, Verdict.SNAT)
# Base chains bound to a network device (netdev, and inet ingress).
DEVICE_HOOKS = (Hook.INGRESS, Hook.EGRESS)
# Possibly accepted: the verdict is decided outside the ruleset, or the packet goes elsewhere.
UNDECIDED = (Verdict.UNKNOWN, Verdict.DNAT)


@dataclass(frozen=True, slots=True)
class Piece:
    """Packets given `verdict` by `evidence`: surely (`sure`) or possibly (`maybe`)."""

    verdict: Verdict
    sure: Space
    maybe: Space
    evidence: Evidence


@dataclass(slots=True)
class ChainResult:
    chain: Chain
    table: Table
    pieces: list[Piece]
    accept_sure: Space
    accept_maybe: Space


@dataclass(slots=True)
class HookResult:
    accept_sure: Space
    accept_maybe: Space
    chains: list[ChainResult] = field(default_factory=list)
    # Why some packets' fate is unknown: (reason, rule, the packets it concerns).
    uncertain: list[tuple[str, Evidence, Space]] = field(default_factory=list)
    _uncertain_hulls: list[tuple[Interval, ...]] | None = None

    def uncertain_touching(self, flows: Space) -> Iterator[tuple[str, Evidence]]:
        """The reasons (and rules), in walk order, of the unknowns that concern `flows`. A
        kube-proxy walk leaves thousands, one per service; their hulls rule most out cheaply."""
        if self._uncertain_hulls is None:
            self._uncertain_hulls = [concerned.hull() for _, _, concerned in self.uncertain]
        wanted = flows.hull()
        for (reason, evidence, concerned), hull in zip(
            self.uncertain, self._uncertain_hulls, strict=True
        ):
            if hulls_overlap(hull, wanted) and concerned.touches(flows):
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


def _rule_evidence(rule: Rule) -> Evidence:
    return Evidence(rule.origin.file, rule.origin.line, rule.text)


def _policy_evidence(chain: Chain, table: Table) -> Evidence:
    origin = chain.policy_origin or table.origin
    policy = (chain.policy or Verdict.ACCEPT).value.upper()
    return Evidence(
        origin.file,
        origin.line,
        f"chain {chain.name} policy {policy} (table {table.family} {table.name})",
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
        self._budget = budget
        # A chain's result per (chain, depth, entering packets): the walk is exact packet by
        # packet, so the same chain entered with the same packets gives the same pieces, and a
        # DAG of jumps (each chain called twice by the one before) costs its edges, not 2^depth.
        self._memo: dict[
            tuple[int, int, tuple[object, ...], tuple[object, ...]],
            tuple[list[Piece], Space, Space, bool],
        ] = {}

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
        key = (id(chain), depth, sure.boxes, maybe.boxes)
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
        for rule in chain.rules:
            if not maybe:
                break
            (match_sure, match_maybe), reasons = self.compiler.rule(rule)
            if not match_maybe.touches(maybe):
                continue
            if self._budget is not None:
                # Cutting the packets by the match costs (and may make) the product.
                self._budget.spend(len(maybe.boxes) * len(match_maybe.boxes))
            # While nothing uncertain has been met, sure and maybe are one object: compute once.
            certain = sure is maybe and match_sure is match_maybe
            enter_maybe = maybe.intersect(match_maybe)
            enter_sure = enter_maybe if certain else sure.intersect(match_sure)
            if not enter_maybe:
                continue
            if reasons and not enter_maybe.is_subset(match_sure):
                evidence = _rule_evidence(rule)
                self.uncertain.extend((reason, evidence, enter_maybe) for reason in reasons)
            verdict = rule.target.verdict
            if verdict is Verdict.CONTINUE:
                continue
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
                        Piece(Verdict.UNKNOWN, enter_sure, enter_maybe, _rule_evidence(rule))
                    )
                    self.uncertain.append((why, _rule_evidence(rule), enter_maybe))
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
                if verdict is Verdict.DNAT:
                    reason = (
                        f"{rule.target.name} {rule.target.detail}".strip()
                        + ": the flow is translated and goes elsewhere (FORWARD or another port); not answered from INPUT alone"
                    )
                elif verdict is Verdict.UNKNOWN:
                    reason = (
                        f"target {rule.target.name} {rule.target.detail}".strip()
                        + ": its verdict is decided outside the ruleset"
                    )
                if reason:
                    self.uncertain.append((reason, _rule_evidence(rule), enter_maybe))
                pieces.append(Piece(verdict, enter_sure, enter_maybe, _rule_evidence(rule)))
            if certain:
                sure = maybe = maybe.subtract(match_maybe)
            else:
                sure, maybe = sure.subtract(match_maybe), maybe.subtract(match_sure)
            sure, maybe = _both(Space.union, sure, maybe, extra_sure, extra_maybe)
        ret_sure, ret_maybe = _both(Space.union, ret_sure, ret_maybe, sure, maybe)
        return pieces, ret_sure, ret_maybe

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

    def transparent(self, chain: Chain) -> bool:
        """Whether the chain surely lets every packet through unchanged (only non-terminating
        targets, every match decidable): kube-proxy's KUBE-MARK-MASQ, called per service."""
        known = self._transparent.get(id(chain))
        if known is None:
            known = all(
                rule.target.verdict is Verdict.CONTINUE and not self.compiler.rule(rule)[1]
                for rule in chain.rules
            )
            self._transparent[id(chain)] = known
        return known

    def base_chain(self, table: Table, chain: Chain, entry: Space) -> ChainResult:
        pieces, ret_sure, ret_maybe = self.chain(table, chain, entry, entry, 0)
        policy = chain.policy or Verdict.ACCEPT
        if ret_maybe:
            evidence = _policy_evidence(chain, table)
            pieces.append(Piece(policy, ret_sure, ret_maybe, evidence))
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
    order = {hook: i for i, hook in enumerate(hooks)}
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
            self.batch_hooks[key] = evaluate_hook(self, family, phase, asked)
        return self.batch_hooks[key]

    def compiler(self, family: int, phase: Phase) -> MatchCompiler:
        key = (family, phase.name)
        if key not in self.compilers:
            self.compilers[key] = MatchCompiler(
                query.dims_for(family, self.interfaces),
                phase,
                self.interfaces,
                family=family,
                sets=self.sets,
            )
        return self.compilers[key]

    def base_chains(self, family: int, hooks: tuple[Hook, ...]) -> list[tuple[Table, Chain]]:
        key = (family, hooks)
        if key not in self.chains:
            self.chains[key] = base_chains(self.rulesets, family, hooks)
        return self.chains[key]


def new_context(
    models: Sequence[Ruleset | IpSets | NftDevices], extra_interfaces: Sequence[str] = ()
) -> Context:
    """The context of one target: its Rulesets, the contents of its ipsets when an `ipset save`
    output (IpSets) is among the models, and the devices of netdev chains when an
    `nft list ruleset` text (NftDevices) is."""
    devices = {
        (family, table, chain): names
        for model in models
        if isinstance(model, NftDevices)
        for family, table, chain, names in model.bindings
    }
    rulesets = tuple(bind_devices(m, devices) for m in models if isinstance(m, Ruleset))
    return Context(rulesets, interface_names(rulesets, extra_interfaces), build_index(models))


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


def evaluate_hook(context: Context, family: int, phase: Phase, space: Space) -> HookResult:
    """What the hooks a packet of `phase` crosses do with every packet of `space`."""
    hooks = query.hooks_for(phase)
    interfaces = context.interfaces
    compiler = context.compiler(family, phase)
    walker = Walker(compiler, context.chains_by_name, context.budget)
    result = HookResult(accept_sure=space, accept_maybe=space)
    diverted = compiler.none
    # The SNAT/MASQUERADE pieces met so far: later chains (postrouting after srcnat, netdev
    # egress) see the source they wrote, which the walk does not know.
    snatted: list[Piece] = []
    for table, chain in context.base_chains(family, hooks):
        if chain.kind == "nat" and not phase.sees_nat:
            continue
        entry = space
        bypass = None
        if chain.hook in DEVICE_HOOKS and chain.device:
            side = "iif" if chain.hook is Hook.INGRESS else "oif"
            on_device = space.restrict(side, [(interfaces.index_of(chain.device),) * 2])
            bypass = space.subtract(on_device)
            entry = on_device
        if not entry:
            continue
        chain_result = walker.base_chain(table, chain, entry)
        if bypass is not None:
            chain_result.accept_sure = chain_result.accept_sure.union(bypass)
            chain_result.accept_maybe = chain_result.accept_maybe.union(bypass)
        elif chain.hook in DEVICE_HOOKS:
            # Bound to a device the export does not name: it may or may not see these packets,
            # so what it would drop is possibly accepted, never surely dropped.
            unseen = entry.subtract(chain_result.accept_sure)
            if unseen:
                why = (
                    f"{chain.hook.value} chain {chain.name}: the export does not name its device"
                    " (nft -j of nft 1.0.6 leaves it out; give `nft list ruleset` text too)"
                )
                walker.uncertain.append((why, _policy_evidence(chain, table), unseen))
            chain_result.accept_maybe = entry
        if snatted and walker.reads_source(table, chain):
            affected = Space.union_all(compiler.dims, (p.maybe for p in snatted)).intersect(entry)
            if affected:
                why = (
                    f"source NAT before chain {chain.name} ({table.family} {table.name})"
                    " rewrites the source address/port that chain matches on"
                )
                walker.uncertain.append((why, snatted[0].evidence, affected))
                chain_result.accept_sure = chain_result.accept_sure.subtract(affected)
                chain_result.accept_maybe = chain_result.accept_maybe.union(affected)
        snatted += [p for p in chain_result.pieces if p.verdict is Verdict.SNAT]
        result.chains.append(chain_result)
        # Translated packets leave this path (FORWARD, or INPUT on another port): what later
        # chains here say about them proves nothing either way.
        translated = Space.union_all(
            compiler.dims, (p.maybe for p in chain_result.pieces if p.verdict is Verdict.DNAT)
        )
        if translated:
            diverted = diverted.union(translated.intersect(result.accept_maybe))
        result.accept_sure = result.accept_sure.intersect(chain_result.accept_sure)
        result.accept_maybe = result.accept_maybe.intersect(chain_result.accept_maybe)
    if diverted:
        result.accept_sure = result.accept_sure.subtract(diverted)
        result.accept_maybe = result.accept_maybe.union(diverted)
    result.uncertain = walker.uncertain
    # Intersections over the base chains never merge boxes: a wide question's result stays
    # cut into hundreds of pieces (513 boxes that compact to 9 on the Shorewall corpus file),
    # and every later phase multiplies them (issue 16: 97 s, 1.6 GB).
    result.accept_sure = result.accept_sure.compact()
    result.accept_maybe = result.accept_maybe.compact()
    return result


def deciding_evidence(hook: HookResult, point: dict[str, int]) -> list[Evidence]:
    """The rule (or chain policy) that denies `point`, in the first base chain that does."""
    for chain_result in hook.chains:
        if chain_result.accept_maybe.contains(point):
            continue
        for piece in chain_result.pieces:
            if piece.verdict not in ACCEPTING and piece.maybe.contains(point):
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
    answers every requirement in it."""
    sure, maybe = space, space
    parts = []
    for phase, mirrored in query.phases_for(inbound, complete):
        flows = query.concerned(space, family, phase)
        if not flows:
            continue
        asked = query.to_phase(flows, family, phase, mirrored)
        hook = context.batch_hook(family, phase, mirrored, inbound) if batched else None
        if hook is None:
            hook = evaluate_hook(context, family, phase, asked)
        accepted_sure = query.from_phase(hook.accept_sure, family, phase, mirrored)
        accepted_maybe = query.from_phase(hook.accept_maybe, family, phase, mirrored)
        if context.budget is not None:
            # Intersections cost (and may produce) the product of their box counts.
            context.budget.spend(
                len(sure.boxes) * len(accepted_sure.boxes)
                + len(maybe.boxes) * len(accepted_maybe.boxes)
            )
        if phase.ctstate != "NEW":
            # Flows this packet does not belong to pass this phase untouched.
            other = space.subtract(flows)
            accepted_sure = accepted_sure.union(other)
            accepted_maybe = accepted_maybe.union(other)
        sure = sure.intersect(accepted_sure)
        maybe = maybe.intersect(accepted_maybe)
        parts.append((phase, mirrored, asked, hook))
    return sure, maybe, parts
