"""The packet-space algebra against a brute-force model: sets of points in a small grid."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.engine.space import Space, iset, iset_intersect, iset_overlaps, iset_subtract

DIMS = (("a", 0, 7), ("b", 0, 5), ("c", 0, 3))
POINTS = [
    dict(zip(("a", "b", "c"), p, strict=True))
    for p in itertools.product(range(8), range(6), range(4))
]

intervals = st.lists(
    st.tuples(st.integers(0, 7), st.integers(0, 7)).map(sorted).map(tuple), min_size=1, max_size=3
)
boxes = st.fixed_dictionaries({"a": intervals, "b": intervals, "c": intervals})
spaces = st.lists(boxes, max_size=4).map(
    lambda bs: Space(DIMS, [b for box in bs for b in Space.where(DIMS, box).boxes])
)


def members(space: Space) -> set[tuple[int, int, int]]:
    return {(p["a"], p["b"], p["c"]) for p in POINTS if space.contains(p)}


@settings(max_examples=300, deadline=None)
@given(spaces, spaces)
def test_set_operations_match_brute_force(x: Space, y: Space) -> None:
    assert members(x.intersect(y)) == members(x) & members(y)
    assert members(x.subtract(y)) == members(x) - members(y)
    assert members(x.union(y)) == members(x) | members(y)
    assert members(x.compact()) == members(x)
    assert x.touches(y) == bool(members(x) & members(y))
    assert x.is_subset(y) == (members(x) <= members(y))
    assert members(x.complement()) == {(p["a"], p["b"], p["c"]) for p in POINTS} - members(x)


@settings(max_examples=300, deadline=None)
@given(
    spaces,
    st.fixed_dictionaries({"a": st.integers(0, 7), "b": st.integers(0, 5), "c": st.integers(0, 3)}),
)
def test_sample_is_a_member_and_prefers_the_given_point(
    x: Space, preferred: dict[str, int]
) -> None:
    point = x.sample(preferred)
    if not members(x):
        assert point is None
        return
    assert point is not None and x.contains(point)
    if x.contains(preferred):
        assert point == preferred


@settings(max_examples=500, deadline=None)
@given(intervals, intervals)
def test_interval_sets(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    x, y = iset(a), iset(b)
    xs = {v for lo, hi in x for v in range(lo, hi + 1)}
    ys = {v for lo, hi in y for v in range(lo, hi + 1)}
    assert {v for lo, hi in iset_intersect(x, y) for v in range(lo, hi + 1)} == xs & ys
    assert {v for lo, hi in iset_subtract(x, y) for v in range(lo, hi + 1)} == xs - ys
    for lo, hi in y:
        assert iset_overlaps(x, lo, hi) == bool(xs & set(range(lo, hi + 1)))


many_spaces = st.lists(boxes, min_size=8, max_size=30).map(
    lambda bs: Space(DIMS, [b for box in bs for b in Space.where(DIMS, box).boxes])
)


@settings(max_examples=300, deadline=None)
@given(spaces, many_spaces)
def test_subtracting_many_boxes_at_once_is_exact(x: Space, y: Space) -> None:
    """Space.subtract_many cuts 8 or more boxes out together (box_subtract_many), sweeping one
    dimension at a time: the same set as cutting them out one by one."""
    result = x.subtract_many(y)
    assert members(result) == members(x) - members(y)
    one_by_one = x
    for box in y.boxes:
        one_by_one = one_by_one.subtract(Space(DIMS, (box,)))
    assert members(result) == members(one_by_one)


crowded_spaces = st.lists(boxes, min_size=17, max_size=40).map(
    lambda bs: Space(DIMS, [b for box in bs for b in Space.where(DIMS, box).boxes])
)


@settings(max_examples=200, deadline=None)
@given(spaces, crowded_spaces, st.sampled_from([1, 2, 16]))
def test_subtracting_a_crowded_space_by_halving_is_exact(x: Space, y: Space, leaf: int) -> None:
    """Space.subtract halves each box k-d fashion when more than SPLIT_LEAF boxes are cut out
    (box_subtract_split): the same set as cutting them out one by one, for any leaf size."""
    import checker.engine.space as space_module

    saved = space_module.SPLIT_LEAF, space_module.SEQUENTIAL_WORK
    # No allowance for the one-by-one cut: the halving path every time.
    space_module.SPLIT_LEAF, space_module.SEQUENTIAL_WORK = leaf, 0
    try:
        result = x.subtract(y)
    finally:
        space_module.SPLIT_LEAF, space_module.SEQUENTIAL_WORK = saved
    assert members(result) == members(x) - members(y)


@settings(max_examples=100, deadline=None)
@given(st.lists(boxes, min_size=33, max_size=60))
def test_compacting_many_boxes_keeps_the_set(raw: list) -> None:
    """Above COMPACT_ABOVE boxes, compact groups boxes by numbered interval sets."""
    many = Space(DIMS, [b for box in raw for b in Space.where(DIMS, box).boxes])
    compacted = many.compact()
    assert members(compacted) == members(many)
    assert len(compacted.boxes) <= len(set(many.boxes))
