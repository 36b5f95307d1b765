"""Deferred cuts of a chain walk (engine/netfilter/cuts.py): the index finds exactly the kept
boxes a match touches, and a walk that defers its cuts decides every flow as first match does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from iptables_helpers import HEADER4, load

from checker.engine.netfilter.cuts import Cuts
from checker.engine.netfilter.match import NEW_IN
from checker.engine.netfilter.walk import Walker, new_context
from checker.engine.space import Space, box_touches, iset, split_order
from checker.model.netfilter import Verdict

DIMS = (("proto", 0, 255), ("daddr", 0, 65535), ("saddr", 0, 65535), ("dport", 0, 65535))


def _interval(hi: int) -> st.SearchStrategy[tuple[int, int]]:
    # Mostly narrow (a /32, a port), some wide, so both the index and the wide list are used.
    return st.one_of(
        st.integers(0, hi).map(lambda v: (v, v)),
        st.tuples(st.integers(0, hi), st.integers(0, 300)).map(
            lambda t: (t[0], min(hi, t[0] + t[1]))
        ),
        st.tuples(st.integers(0, hi), st.integers(0, hi)).map(lambda t: (min(t), max(t))),
    )


boxes = st.tuples(*(st.lists(_interval(hi), min_size=1, max_size=2) for _, _, hi in DIMS)).map(
    lambda parts: tuple(tuple(sorted(set(p))) for p in parts)
)


def _normal(
    box: tuple[tuple[tuple[int, int], ...], ...],
) -> tuple[tuple[tuple[int, int], ...], ...]:
    return tuple(iset(values) for values in box)


@settings(max_examples=200, deadline=None)
@given(st.lists(boxes, max_size=60), st.lists(boxes, min_size=1, max_size=5))
def test_touching_finds_exactly_the_kept_boxes_that_meet(kept: list, asked: list) -> None:
    order = split_order(DIMS)
    cuts = Cuts(DIMS)
    kept = [_normal(b) for b in kept]
    for box in kept:
        cuts.add(box)
    for box in (_normal(b) for b in asked):
        found = {id(b) for b in cuts.touching(box, order)}
        assert found == {id(b) for b in kept if box_touches(box, b, order)}


def test_a_later_rule_overlapping_a_deferred_one_sees_only_what_is_left() -> None:
    """Forty disjoint service rules are deferred; the DROPs after them overlap two of them.
    Walking every packet at once, each DROP gets exactly the packets no earlier rule took."""
    services = "".join(
        f"-A INPUT -d 10.96.0.{i}/32 -p tcp -m tcp --dport {80 if i == 1 else 1000 + i} -j ACCEPT\n"
        for i in range(1, 41)
    )
    text = HEADER4 + "*filter\n:INPUT ACCEPT [0:0]\n" + services
    text += "-A INPUT -p tcp -m tcp --dport 80 -j DROP\n"
    text += "-A INPUT -p tcp -m tcp --dport 1005 -j DROP\nCOMMIT\n"
    ruleset = load(text)
    context = new_context([ruleset])
    compiler = context.compiler(4, NEW_IN)
    walker = Walker(compiler, context.chains_by_name)
    table = ruleset.tables[0]
    chain = table.chain("INPUT")
    assert chain is not None
    everything = Space.where(compiler.dims, {"family": [(4, 4)]})
    result = walker.base_chain(table, chain, everything, everything)
    dropped = Space.union_all(
        compiler.dims, (p.maybe for p in result.pieces if p.verdict is Verdict.DROP)
    )
    accepted = result.accept_maybe
    point = {name: lo for name, lo, _ in compiler.dims} | {"family": 4, "proto": 6}
    for address, port, verdict in (
        (0x0A600001, 80, "accept"),
        (0x0A600002, 80, "drop"),
        (0x0A600005, 1005, "accept"),
        (0x0A600006, 1005, "drop"),
        (0x0A600006, 1006, "accept"),
    ):
        flow = point | {"daddr": address, "dport": port}
        assert dropped.contains(flow) == (verdict == "drop"), flow
        assert accepted.contains(flow) == (verdict == "accept"), flow
    assert not dropped.touches(accepted)
