"""Mark writes against the formulas of iptables-extensions(8), on random values (hypothesis):
MARK --set-mark V/M: mark = (mark & ~M) | V; --set-xmark V/M: (mark & ~M) ^ V; --and-mark B,
--or-mark B, --xor-mark B; CONNMARK --save-mark: ctmark = (ctmark & ~ctmask) ^ (nfmark &
nfmask); --restore-mark: nfmark = (nfmark & ~nfmask) ^ (ctmark & ctmask)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from checker.engine.netfilter import marks
from checker.parsers.netfilter.iptables_targets import TargetUse, mark_ops

u32 = st.integers(0, 0xFFFFFFFF)
ALL = 0xFFFFFFFF


def run(name: str, options: list[tuple[str, list[str]]], mark: int, ctmark: int) -> tuple[int, int]:
    state = {"mark": mark, "ctmark": ctmark}
    for op in mark_ops(TargetUse(name, False, options, [])):
        state[op.dst] = marks.apply_one(op, state[op.dst], state[op.src])
    return state["mark"], state["ctmark"]


@given(u32, u32, u32, u32)
def test_mark_target_formulas(mark: int, ctmark: int, value: int, mask: int) -> None:
    vm = [f"{value:#x}/{mask:#x}"]
    assert run("MARK", [("--set-mark", vm)], mark, ctmark) == ((mark & ~mask & ALL) | value, ctmark)
    assert run("MARK", [("--set-xmark", vm)], mark, ctmark) == (
        (mark & ~mask & ALL) ^ value,
        ctmark,
    )
    bits = [f"{value:#x}"]
    assert run("MARK", [("--and-mark", bits)], mark, ctmark) == (mark & value, ctmark)
    assert run("MARK", [("--or-mark", bits)], mark, ctmark) == (mark | value, ctmark)
    assert run("MARK", [("--xor-mark", bits)], mark, ctmark) == (mark ^ value, ctmark)
    assert run("CONNMARK", [("--set-mark", vm)], mark, ctmark) == (
        mark,
        (ctmark & ~mask & ALL) | value,
    )


@given(u32, u32, u32, u32)
def test_connmark_save_and_restore_formulas(
    mark: int, ctmark: int, nfmask: int, ctmask: int
) -> None:
    masks = [("--nfmask", [f"{nfmask:#x}"]), ("--ctmask", [f"{ctmask:#x}"])]
    saved = run("CONNMARK", [("--save-mark", []), *masks], mark, ctmark)
    assert saved == (mark, (ctmark & ~ctmask & ALL) ^ (mark & nfmask))
    restored = run("CONNMARK", [("--restore-mark", []), *masks], mark, ctmark)
    assert restored == ((mark & ~nfmask & ALL) ^ (ctmark & ctmask), ctmark)


@given(st.lists(u32, min_size=1, max_size=4), u32)
def test_reachable_values_are_closed_under_the_writes(values: list[int], start: int) -> None:
    ops = tuple(
        op
        for v in values
        for op in mark_ops(TargetUse("MARK", False, [("--xor-mark", [f"{v:#x}"])], []))
    )
    found = marks.reachable(ops, {"mark": frozenset({start}), "ctmark": frozenset({0})})
    assert found is not None and start in found["mark"]
    for op in ops:
        assert all(marks.apply_one(op, m, 0) in found["mark"] for m in found["mark"])
