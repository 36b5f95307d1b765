"""Shortcuts of the chain walk (engine/netfilter/walk.py) against the walk without them: a chain
that only marks every packet (Walker.marking: kube-proxy's KUBE-MARK-MASQ) is applied without
being walked, and must leave every hook's result as its rule by rule walk does: the same pieces,
accepted spaces and unknowns, box for box.

Semantics relied on: iptables-extensions(8) MARK (--set-xmark value/mask), mark, statistic."""

from __future__ import annotations

import pytest
from iptables_helpers import HEADER4, load
from iptables_kube_proxy import kube_proxy_save

from checker.engine.netfilter import query
from checker.engine.netfilter.match import ACK_IN, NEW_IN, NEW_OUT
from checker.engine.netfilter.walk import HookResult, Walker, evaluate_hook, new_context
from checker.engine.space import Space
from checker.model.netfilter import Ruleset

# Marking chains of one and two rules, reached after an undecidable match (sure and maybe
# apart: surely none, or surely some of the packets), marks read afterwards; and chains that look alike but are not marking
# only: a MARK on some packets, a MARK then a verdict, a MARK on an undecidable match.
MARKS = """*mangle
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:MARK-ONE - [0:0]
:MARK-TWO - [0:0]
:MARK-SOME - [0:0]
:MARK-THEN-DROP - [0:0]
:MARK-MAYBE - [0:0]
:SPLIT - [0:0]
-A PREROUTING -p tcp -m tcp --dport 9000:9100 -j SPLIT
-A PREROUTING -p tcp -m tcp --dport 80 -j MARK-ONE
-A PREROUTING -m statistic --mode random --probability 0.5 -j MARK-TWO
-A PREROUTING -p udp -j MARK-SOME
-A PREROUTING -p tcp -m tcp --dport 25 -j MARK-THEN-DROP
-A PREROUTING -p tcp -m tcp --dport 8080 -j MARK-MAYBE
-A OUTPUT -p tcp -m tcp --dport 443 -j MARK-TWO
-A OUTPUT -m statistic --mode random --probability 0.5 -j MARK-ONE
-A SPLIT -p tcp -m tcp --dport 9050 -m statistic --mode random --probability 0.5 -j RETURN
-A SPLIT -j MARK-TWO
-A SPLIT -p tcp -m tcp --dport 9001 -j DROP
-A MARK-ONE -j MARK --set-xmark 0x4000/0x4000
-A MARK-TWO -j MARK --set-xmark 0x1/0x1
-A MARK-TWO -j MARK --set-xmark 0x10/0x30
-A MARK-SOME -p udp -m udp --dport 53 -j MARK --set-xmark 0x2/0x2
-A MARK-THEN-DROP -j MARK --set-xmark 0x4/0x4
-A MARK-THEN-DROP -j DROP
-A MARK-MAYBE -m statistic --mode random --probability 0.5 -j MARK --set-xmark 0x8/0x8
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m mark --mark 0x4000/0x4000 -j ACCEPT
-A INPUT -m mark --mark 0x11/0x31 -p tcp -j ACCEPT
-A INPUT -m mark --mark 0x2/0x2 -j ACCEPT
-A INPUT -m mark --mark 0x8/0x8 -j ACCEPT
-A OUTPUT -m mark --mark 0x10/0x30 -j REJECT
-A OUTPUT -m mark --mark 0x4000/0x4000 -p tcp -m tcp --dport 22 -j DROP
COMMIT
"""


def _rulesets() -> list[Ruleset]:
    return [load(HEADER4 + MARKS), load(HEADER4 + kube_proxy_save(12, 3))]


def _summary(hook: HookResult) -> object:
    return (
        hook.accept_sure.boxes,
        hook.accept_maybe.boxes,
        [(r, e, s.boxes) for r, e, s in hook.uncertain],
        [
            [(p.verdict, p.sure.boxes, p.maybe.boxes, p.evidence, p.policy) for p in c.pieces]
            for c in hook.chains
        ],
        [(t.flows.boxes, t.evidence) for t in hook.translations],
    )


def _hooks(ruleset: Ruleset) -> list[object]:
    context = new_context([ruleset])
    results = []
    for phase in (NEW_IN, NEW_OUT, ACK_IN):
        dims = query.dims_for(4, context.interfaces)
        # Packets as they enter the first hook: no mark yet (marks are followed from there).
        everything = Space.where(dims, {"family": [(4, 4)], "mark": [(0, 0)], "ctmark": [(0, 0)]})
        results.append(_summary(evaluate_hook(context, 4, phase, everything)))
    return results


@pytest.mark.parametrize("which", [0, 1])
def test_marking_chains_applied_as_their_walk_leaves_the_packets(which: int) -> None:
    ruleset = _rulesets()[which]
    shortcut = _hooks(ruleset)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(Walker, "marking", lambda self, chain: None)
        walked = _hooks(ruleset)
    assert shortcut == walked


def test_only_chains_that_mark_every_packet_and_go_on_are_marking() -> None:
    ruleset = _rulesets()[0]
    context = new_context([ruleset])
    walker = Walker(context.compiler(4, NEW_IN), context.chains_by_name)
    mangle = next(t for t in ruleset.tables if t.name == "mangle")
    found = {}
    for name in ("MARK-ONE", "MARK-TWO", "MARK-SOME", "MARK-THEN-DROP", "MARK-MAYBE"):
        chain = mangle.chain(name)
        assert chain is not None
        found[name] = walker.marking(chain)
    assert found["MARK-ONE"] is not None and len(found["MARK-ONE"]) == 1
    assert found["MARK-TWO"] is not None and len(found["MARK-TWO"]) == 2
    assert found["MARK-SOME"] is None
    assert found["MARK-THEN-DROP"] is None
    assert found["MARK-MAYBE"] is None
