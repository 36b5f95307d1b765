"""HullIndex and IntervalIndex answer exactly what a scan answers, in insertion order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.engine.interval_index import HullIndex, IntervalIndex, hulls_overlap

_RANGE = st.tuples(st.integers(0, 1000), st.integers(0, 60)).map(lambda p: (p[0], p[0] + p[1]))
_WIDE_OR_NARROW = st.one_of(_RANGE, st.just((0, 1023)))
_HULL = st.tuples(_WIDE_OR_NARROW, _WIDE_OR_NARROW, _WIDE_OR_NARROW)


@settings(max_examples=200, deadline=None)
@given(st.lists(_HULL, max_size=40), _HULL)
def test_hull_index_finds_what_a_scan_finds(hulls: list, asked: tuple) -> None:
    # Two indexed fields (positions 0 and 2) narrow up to 63 wide; position 1 is not indexed.
    index: HullIndex[int] = HullIndex([(0, 63), (2, 63)])
    half = len(hulls) // 2
    for number, hull in enumerate(hulls[:half]):
        index.add(hull, number)
    # Items added after a lookup are filed at the next one.
    assert index.meeting(asked) == [
        n for n, hull in enumerate(hulls[:half]) if hulls_overlap(hull, asked)
    ]
    for number, hull in enumerate(hulls[half:], start=half):
        index.add(hull, number)
    expected = [n for n, hull in enumerate(hulls) if hulls_overlap(hull, asked)]
    assert index.meeting(asked) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(_RANGE, max_size=40), _RANGE)
def test_interval_index_finds_what_a_scan_finds(ranges: list, asked: tuple) -> None:
    index: IntervalIndex[int] = IntervalIndex()
    half = len(ranges) // 2
    for number, (lo, hi) in enumerate(ranges[:half]):
        index.add(lo, hi, number)
    index.add_many([(lo, hi, n) for n, (lo, hi) in enumerate(ranges[half:], start=half)])
    lo, hi = asked
    expected = {n for n, (a, b) in enumerate(ranges) if a <= hi and lo <= b}
    assert set(index.near(lo, hi)) == expected


def test_no_indexed_field_scans_every_item() -> None:
    index: HullIndex[str] = HullIndex([])
    index.add(((0, 1),), "x")
    index.add(((5, 9),), "y")
    assert index.meeting(((0, 1),)) == ["x"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_WIDE_OR_NARROW, _WIDE_OR_NARROW), max_size=30),
    st.tuples(_WIDE_OR_NARROW, _WIDE_OR_NARROW),
)
def test_box_index_intersects_as_space_does(raw: list, asked: tuple) -> None:
    """BoxIndex.intersect gives the boxes Space.intersect gives, in the same order."""
    from checker.engine.box_index import BoxIndex
    from checker.engine.space import Space

    dims = (("daddr", 0, 2**16), ("dport", 0, 2**16))
    big = Space(dims, [((a,), (b,)) for a, b in raw])
    question = Space(dims, [((asked[0],), (asked[1],))])
    assert BoxIndex(big).intersect(question).boxes == question.intersect(big).boxes
