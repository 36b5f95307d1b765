"""Space operations on many boxes by many look partners up in a hull index (space._hull_lookup):
the same boxes, in the same order, as testing every pair (the index only skips pairs whose hulls
do not meet, which cannot touch)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import checker.engine.space as space_module
from checker.engine.space import Space, iset

# Named like packet fields, so that the index files boxes by their narrow ones.
DIMS = (("proto", 0, 255), ("daddr", 0, 65535), ("dport", 0, 65535), ("saddr", 0, 65535))


def _interval(hi: int) -> st.SearchStrategy[tuple[int, int]]:
    # Mostly narrow (a /32, a port), some wide, so both the index and its wide lists are used.
    return st.one_of(
        st.integers(0, min(hi, 40)).map(lambda v: (v, v)),
        st.tuples(st.integers(0, hi), st.integers(0, 300)).map(
            lambda t: (t[0], min(hi, t[0] + t[1]))
        ),
        st.tuples(st.integers(0, hi), st.integers(0, hi)).map(lambda t: (min(t), max(t))),
    )


boxes = st.tuples(*(st.lists(_interval(hi), min_size=1, max_size=2) for _, _, hi in DIMS)).map(
    lambda parts: tuple(iset(p) for p in parts)
)
spaces = st.lists(boxes, min_size=0, max_size=40).map(lambda bs: Space(DIMS, bs))


def _both_ways(operation: Callable[[], object], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(space_module, "LOOKUP_PAIRS", 10**9)
    scanned = operation()
    monkeypatch.setattr(space_module, "LOOKUP_PAIRS", 0)
    monkeypatch.setattr(space_module, "LOOKUP_ASKING", 0)
    looked_up = operation()
    assert looked_up == scanned


def _boxes(space: object) -> object:
    return space.boxes if isinstance(space, Space) else space


@settings(max_examples=300, deadline=None)
@given(spaces, spaces)
def test_indexed_operations_give_the_scanned_boxes(x: Space, y: Space) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _both_ways(lambda: _boxes(x.intersect(y)), monkeypatch)
        _both_ways(lambda: x.touches(y), monkeypatch)
        _both_ways(
            lambda: _boxes(x._subtract_split(y, space_module._split_order(DIMS))), monkeypatch
        )
        _both_ways(lambda: _boxes(x.subtract(y)), monkeypatch)


def test_no_index_without_packet_fields() -> None:
    """Dimensions no generated ruleset keys on (interval_index.KEY_FIELDS): nothing to index."""
    dims = (("a", 0, 7), ("b", 0, 7))
    many = [(((i, i),), ((0, 7),)) for i in range(8)]
    assert space_module._hull_lookup(dims, many * 100, many * 100) is None
    assert (
        space_module._hull_lookup(DIMS, [(((0, 255),), ((1, 1),), ((2, 2),), ((3, 3),))], [])
        is None
    )
