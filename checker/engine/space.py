"""Packet-space algebra shared by every engine.

A `Space` is a set of flows over named integer dimensions (family, protocol, addresses, ports,
ICMP type, interfaces, Windows program/profile …). Non-integer dimensions (interface names,
program paths) are mapped by the engine to small integer symbol tables first.

Representation: a union of boxes, a box being one sorted, disjoint interval set per dimension.
Why boxes rather than BDDs: firewall matches are already boxes (a rule is a conjunction of ranges
per field), queries are narrow (one protocol, a few ports), so the engine's first-match walk
mostly tests "does this rule touch the query at all?", which is a per-dimension interval test
that rejects in a few comparisons. BDDs pay a bit-level encoding of 128-bit addresses and port
ranges up front, and give no cheap "lowest/nearest value" for counterexamples, which boxes do.
Boxes in a union may overlap: subtraction, intersection and emptiness stay exact, and
`compact()` merges neighbours when fragmentation grows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache

from checker.engine.interval_index import HullIndex, narrow_fields

Interval = tuple[int, int]
IntervalSet = tuple[Interval, ...]
Box = tuple[IntervalSet, ...]
# A dimension: (name, lowest value, highest value).
Dim = tuple[str, int, int]
# Picks a dimension's value from a (non-empty) interval set near a preferred value, with a
# penalty (0 = as good as it gets) so that sampling prefers boxes with better values.
Chooser = Callable[[IntervalSet, int], tuple[int, int]]


def iset(ranges: Iterable[Interval]) -> IntervalSet:
    """Normalize: sort, drop empty ranges, merge overlapping and adjacent ones."""
    if (
        type(ranges) is tuple
        and len(ranges) == 1
        and type(ranges[0]) is tuple
        and ranges[0][0] <= ranges[0][1]
    ):
        return ranges  # one range: already normal (most matches are one port, one prefix)
    ordered = sorted((lo, hi) for lo, hi in ranges if lo <= hi)
    merged: list[Interval] = []
    for lo, hi in ordered:
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _first_reaching(a: IntervalSet, value: int) -> int:
    """Index of the first interval of `a` whose end is >= value (len(a) if none)."""
    lo, hi = 0, len(a)
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid][1] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def iset_overlaps(a: IntervalSet, lo: int, hi: int) -> bool:
    """Whether any interval of `a` meets [lo, hi]: a binary search, as sets with many holes
    (a chain of /32 exceptions) are common."""
    i = _first_reaching(a, lo)
    return i < len(a) and a[i][0] <= hi


def _first_starting_after(a: IntervalSet, value: int) -> int:
    """Index of the first interval of `a` that starts after value (len(a) if none)."""
    lo, hi = 0, len(a)
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid][0] <= value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _clip(a: IntervalSet, lo: int, hi: int) -> IntervalSet:
    """a ∩ [lo, hi]: two binary searches and a slice, so a set with thousands of holes costs
    no Python loop over them."""
    i = _first_reaching(a, lo)
    j = _first_starting_after(a, hi)
    if i >= j:
        return ()
    part = a[i:j]
    first, last = part[0], part[-1]
    if first[0] < lo or (len(part) == 1 and first[1] > hi):
        part = ((lo if first[0] < lo else first[0], hi if first[1] > hi else first[1]),) + part[1:]
    if len(part) > 1 and last[1] > hi:
        part = part[:-1] + ((last[0], hi),)
    return part


def iset_intersect(a: IntervalSet, b: IntervalSet) -> IntervalSet:
    # Returning an operand itself when it is the answer keeps sets shared between boxes, so
    # later operations on them hit the `is` shortcuts (an unconstrained dimension stays the
    # one tuple through a whole walk).
    if a is b:
        return a
    if len(a) > len(b):
        a, b = b, a
    if len(a) == 1:
        lo, hi = a[0]
        if len(b) == 1:
            blo, bhi = b[0]
            if blo <= lo and hi <= bhi:
                return a
            if lo <= blo and bhi <= hi:
                return b
            first = lo if lo > blo else blo
            last = hi if hi < bhi else bhi
            return ((first, last),) if first <= last else ()
        if lo <= b[0][0] and b[-1][1] <= hi:
            return b
        return _clip(b, lo, hi)
    if len(b) <= 8:
        out: list[Interval] = []
        i = j = 0
        while i < len(a) and j < len(b):
            lo = a[i][0] if a[i][0] > b[j][0] else b[j][0]
            hi = a[i][1] if a[i][1] < b[j][1] else b[j][1]
            if lo <= hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return tuple(out)
    result: IntervalSet = ()
    for lo, hi in a:
        result += _clip(b, lo, hi)
    return result


def _iset_cut(a: IntervalSet, lo: int, hi: int) -> IntervalSet:
    """a − [lo, hi] by slicing: the untouched intervals are copied in C, not looped over."""
    i = _first_reaching(a, lo)
    j = i
    while j < len(a) and a[j][0] <= hi:
        j += 1
    if i == j:
        return a
    middle: list[Interval] = []
    if a[i][0] < lo:
        middle.append((a[i][0], lo - 1))
    if a[j - 1][1] > hi:
        middle.append((hi + 1, a[j - 1][1]))
    return a[:i] + tuple(middle) + a[j:]


def iset_subtract(a: IntervalSet, b: IntervalSet) -> IntervalSet:
    if len(b) == 1:
        return _iset_cut(a, b[0][0], b[0][1])
    out: list[Interval] = []
    j = 0
    for lo, hi in a:
        cur = lo
        while j < len(b) and b[j][1] < cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= hi:
            if b[k][0] > cur:
                out.append((cur, b[k][0] - 1))
            cur = max(cur, b[k][1] + 1)
            if cur > hi:
                break
            k += 1
        if cur <= hi:
            out.append((cur, hi))
    return tuple(out)


def iset_contains(a: IntervalSet, value: int) -> bool:
    return any(lo <= value <= hi for lo, hi in a)


def iset_size(a: IntervalSet) -> int:
    return sum(hi - lo + 1 for lo, hi in a)


def iset_nearest(a: IntervalSet, value: int) -> int:
    """The member of the (non-empty) set closest to `value` (lower one on a tie)."""
    best = a[0][0]
    best_distance: int | None = None
    for lo, hi in a:
        candidate = min(max(value, lo), hi)
        distance = abs(candidate - value)
        if best_distance is None or distance < best_distance:
            best, best_distance = candidate, distance
    return best


def box_intersect(a: Box, b: Box) -> Box | None:
    if a is b:
        return a
    out = []
    for x, y in zip(a, b, strict=True):
        # Inline: most dimensions of a rule's box hold the other's whole set (unconstrained).
        if x is y or (len(y) == 1 and y[0][0] <= x[0][0] and x[-1][1] <= y[0][1]):
            out.append(x)
            continue
        if len(x) == 1 and x[0][0] <= y[0][0] and y[-1][1] <= x[0][1]:
            out.append(y)
            continue
        both = iset_intersect(x, y)
        if not both:
            return None
        out.append(both)
    return tuple(out)


def box_touches(a: Box, b: Box, order: Sequence[int] | None = None) -> bool:
    """Whether the boxes intersect, without building the intersection. `order` tries the
    dimensions most likely to tell boxes apart (ports, protocols) first."""
    for d in order if order is not None else range(len(a)):
        x, y = a[d], b[d]
        if x is y:
            continue
        if len(y) == 1:
            if len(x) == 1:
                if x[0][1] < y[0][0] or y[0][1] < x[0][0]:
                    return False
            elif not iset_overlaps(x, y[0][0], y[0][1]):
                return False
        elif len(x) == 1:
            if not iset_overlaps(y, x[0][0], x[0][1]):
                return False
        elif not iset_intersect(x, y):
            return False
    return True


def split_order(dims: tuple[Dim, ...]) -> tuple[int, ...]:
    """Dimensions in the order box_subtract splits along: narrowest first.

    Subtracting a rule box splits the remainder along each dimension in turn; the piece cut
    off along a dimension keeps everything of the later ones. Splitting ports and protocols
    before addresses keeps a chain of `-d X/32 --dport P` rules (kube-proxy's service chains)
    from leaving one small box per rule behind: the remainder stays one box per distinct port,
    with the /32s as holes in its address set."""
    return tuple(sorted(range(len(dims)), key=lambda d: (dims[d][2] - dims[d][1], d)))


def box_subtract(a: Box, b: Box, order: Sequence[int] | None = None) -> list[Box]:
    """a − b as disjoint boxes (at most one per dimension)."""
    if not box_touches(a, b, order):
        return [a]
    out: list[Box] = []
    current = list(a)
    for d in order if order is not None else range(len(b)):
        y, x = b[d], current[d]
        if x is y or (len(y) == 1 and y[0][0] <= x[0][0] and x[-1][1] <= y[0][1]):
            continue  # b covers this dimension of a: nothing is cut off along it
        outside = iset_subtract(x, y)
        if outside:
            piece = list(current)
            piece[d] = outside
            out.append(tuple(piece))
        current[d] = iset_intersect(current[d], y)
    return out


_split_order = cache(split_order)

# From this many pairs of boxes on, `Space.intersect` tests whether they meet before intersecting.
INTERSECT_SCREENED = 8
# From this many boxes on, `Space.subtract_many` cuts them out together (box_subtract_many)
# instead of one after the other.
SUBTRACT_MANY = 8


def _covers(y: IntervalSet, x: IntervalSet) -> bool:
    """Whether interval set y holds all of x."""
    if x is y:
        return True
    if len(y) == 1:
        return y[0][0] <= x[0][0] and x[-1][1] <= y[0][1]
    return not iset_subtract(x, y)


def box_covers(outer: Box, inner: Box) -> bool:
    """Whether box `outer` holds all of box `inner`."""
    return all(_covers(y, x) for x, y in zip(inner, outer, strict=True))


def box_subtract_many(a: Box, others: Sequence[Box], order: Sequence[int]) -> list[Box]:
    """a − (the union of `others`), every one of which touches a, as disjoint boxes.

    Cutting n boxes out one after the other re-tests every piece left so far against each next
    box: quadratic, and what made a 5,000-rule kube-proxy chain slow (each service's
    `-d IP/32 --dport P` cut the remainder again). Here they are cut out together, one
    dimension at a time in `order`: along a dimension, a's values are split where the boxes'
    values start and end; the values no box covers are one piece of the result, and the values
    covered by the same boxes go on, together, to the next dimension with only those boxes. A
    dimension every box covers splits nothing. The pieces are those of the sequential
    subtraction grouped by the boxes that cover them: a kube-proxy chain leaves one box per
    distinct port, whatever the number of services."""
    out: list[Box] = []
    stack: list[tuple[Box, Sequence[Box], int]] = [(a, others, 0)]
    last = len(order)
    while stack:
        box, cutting, k = stack.pop()
        if len(cutting) == 1:
            out.extend(box_subtract(box, cutting[0], order))
            continue
        while k < last and all(_covers(b[order[k]], box[order[k]]) for b in cutting):
            k += 1
        if k == last:
            continue  # every box left covers this one: nothing of it remains
        d = order[k]
        values = box[d]
        parts = [iset_intersect(b[d], values) for b in cutting]
        covered = iset(r for part in parts for r in part)
        outside = iset_subtract(values, covered)
        if outside:
            out.append(box[:d] + (outside,) + box[d + 1 :])
        # Sweep the boxes' intervals along d: between two consecutive ends, the same boxes
        # cover every value; values covered by the same boxes go on together.
        events: list[tuple[int, int, int]] = []
        for i, part in enumerate(parts):
            for lo, hi in part:
                events.append((lo, 1, i))
                events.append((hi + 1, -1, i))
        events.sort()
        groups: dict[frozenset[int], list[Interval]] = {}
        active: set[int] = set()
        start = 0
        for position, change, i in events:
            if active and position > start:
                groups.setdefault(frozenset(active), []).append((start, position - 1))
            start = position
            if change > 0:
                active.add(i)
            else:
                active.discard(i)
        for members, intervals in groups.items():
            piece = box[:d] + (iset(intervals),) + box[d + 1 :]
            stack.append((piece, [cutting[i] for i in members], k + 1))
    return out


# Below this many boxes touching one box, box_subtract_split cuts them out one by one.
SPLIT_LEAF = 16
# Space.subtract of more than SPLIT_LEAF boxes cuts them out one by one until it has tested
# this many remainder pieces per box, then halves instead.
SEQUENTIAL_WORK = 8


def _best_split(box: Box, cutting: Sequence[Box]) -> tuple[int, int] | None:
    """(dimension, value) splitting `box` into values < value and >= value such that the
    fewest of `cutting` straddle it (ties: the most even split), or None when every split
    leaves every box on both sides (no progress). The value is the median start of the boxes
    on that dimension, taken from a sample of about 32 of them."""
    best: tuple[int, int, int, int] | None = None  # (straddling, imbalance, d, value)
    count = len(cutting)
    step = max(1, count // 32)
    for d in range(len(box)):
        low, high = box[d][0][0], box[d][-1][1]
        if low == high:
            continue
        starts = [b[d][0][0] for b in cutting]
        ends = [b[d][-1][1] for b in cutting]
        sample = sorted(starts[::step])
        value = sample[len(sample) // 2]
        if value <= low:
            # Half of the boxes start at the box's lowest value: split after the lowest end.
            value = min(ends) + 1
            if value > high:
                continue
        left = sum(1 for end in ends if end < value)
        right = sum(1 for start in starts if start >= value)
        straddling = count - left - right
        if straddling == count:
            continue
        candidate = (straddling, abs(left - right), d, value)
        if best is None or candidate < best:
            best = candidate
    return None if best is None else (best[2], best[3])


def box_subtract_split(a: Box, others: Sequence[Box], order: Sequence[int]) -> list[Box]:
    """a − (the union of `others`), every one of which touches a, as disjoint boxes.

    Cut out one after the other, thousands of small boxes (a hook's accepted packets on a
    kube-proxy file: one box per service, each a /32, a port and a few source holes) leave a
    remainder of thousands of pieces that every next box is tested against: quadratic, seconds
    for one subtraction. box_subtract_many's sweep is no better when the boxes' values differ
    on every dimension (each service's own source holes). Here `a` is halved, k-d tree
    fashion, on the dimension and value that fewest boxes straddle, and each half goes on with
    only the boxes that meet it; a half no box meets is a piece of the result as it is, and
    a few boxes are cut out one by one."""
    out: list[Box] = []
    stack: list[tuple[Box, Sequence[Box]]] = [(a, others)]
    while stack:
        box, cutting = stack.pop()
        if not cutting:
            out.append(box)
            continue
        split = _best_split(box, cutting) if len(cutting) > SPLIT_LEAF else None
        if split is None:
            pieces = [box]
            for b in cutting:
                pieces = [p for piece in pieces for p in box_subtract(piece, b, order)]
                if not pieces:
                    break
            out.extend(pieces)
            continue
        d, value = split
        low, high = box[d][0][0], box[d][-1][1]
        for part in (_clip(box[d], low, value - 1), _clip(box[d], value, high)):
            if not part:
                continue
            piece = box[:d] + (part,) + box[d + 1 :]
            first, last = part[0][0], part[-1][1]
            stack.append(
                (
                    piece,
                    [
                        b
                        for b in cutting
                        if b[d][0][0] <= last
                        and b[d][-1][1] >= first
                        and iset_intersect(b[d], part)
                    ],
                )
            )
    return out


# From this many (box, box) pairs on, _hull_lookup files the boxes in an index.
LOOKUP_PAIRS = 4096
LOOKUP_ASKING = 8


def _hull_lookup(
    dims: tuple[Dim, ...], asking: Sequence[Box], filed: Sequence[Box]
) -> Callable[[Box], Sequence[Box]] | None:
    """For each box of `asking`, the boxes of `filed` whose hulls meet its hull, in `filed`'s
    order (a superset of those it touches), or None when scanning them all is as quick.

    A hook's asked packets minus what it refuses (Space.subtract, split) met every one of
    thousands of per-service boxes for each of a hundred asked boxes: an index by the narrow
    fields (interval_index.HullIndex: a port, a /32) reads the few near each one."""
    # Filing a box costs about five tests of one against it: a few asking boxes scan.
    if len(asking) < LOOKUP_ASKING or len(asking) * len(filed) < LOOKUP_PAIRS:
        return None
    return hull_lookup(dims, filed)


def hull_lookup(
    dims: tuple[Dim, ...], filed: Sequence[Box]
) -> Callable[[Box], Sequence[Box]] | None:
    """For a box, the boxes of `filed` whose hulls meet its hull, in `filed`'s order; None
    when `dims` has no field to file them by (interval_index.KEY_FIELDS)."""
    fields = narrow_fields(dims)
    if not fields:
        return None
    index: HullIndex[Box] = HullIndex(fields)
    for box in filed:
        index.add(box_hull(box), box)

    def meeting(box: Box) -> Sequence[Box]:
        return index.meeting(box_hull(box))

    return meeting


def box_hull(box: Box) -> tuple[Interval, ...]:
    """Each field's lowest and highest value: what HullIndex files a box under."""
    return tuple((values[0][0], values[-1][1]) for values in box)


@cache
def full_box(dims: tuple[Dim, ...]) -> Box:
    """The box of every flow over `dims`, one shared tuple per dimension: spaces built from it
    keep those tuples, which the `is` shortcuts of the set operations recognise."""
    return tuple(((lo, hi),) for _, lo, hi in dims)


# Merging neighbours costs a pass over every box: worth it only once a union has grown.
COMPACT_ABOVE = 32


class Space:
    """An immutable set of flows: a union of boxes over `dims`."""

    __slots__ = ("dims", "boxes")

    SAMPLED_BOXES = 64

    def __init__(self, dims: tuple[Dim, ...], boxes: Iterable[Box] = ()) -> None:
        self.dims = dims
        self.boxes: tuple[Box, ...] = tuple(boxes)

    # Construction -----------------------------------------------------------------------------
    @classmethod
    def full(cls, dims: tuple[Dim, ...]) -> Space:
        return cls(dims, (full_box(dims),))

    @classmethod
    def empty(cls, dims: tuple[Dim, ...]) -> Space:
        return cls(dims, ())

    @classmethod
    def where(cls, dims: tuple[Dim, ...], constraints: Mapping[str, Sequence[Interval]]) -> Space:
        """The box where each named dimension lies in the given ranges (others unconstrained)."""
        box = list(full_box(dims))
        for d, (name, _, _) in enumerate(dims):
            if name in constraints:
                values = iset_intersect(iset(constraints[name]), box[d])
                if not values:
                    return cls(dims, ())
                box[d] = values
        return cls(dims, (tuple(box),))

    def index(self, name: str) -> int:
        for i, (dim_name, _, _) in enumerate(self.dims):
            if dim_name == name:
                return i
        raise KeyError(name)

    # Set operations ---------------------------------------------------------------------------
    def is_empty(self) -> bool:
        return not self.boxes

    def __bool__(self) -> bool:
        return bool(self.boxes)

    def union(self, other: Space) -> Space:
        if not other.boxes:
            return self
        if not self.boxes:
            return other
        merged = Space(self.dims, self.boxes + other.boxes)
        return merged.compact() if len(merged.boxes) > COMPACT_ABOVE else merged

    @classmethod
    def union_all(cls, dims: tuple[Dim, ...], spaces: Iterable[Space]) -> Space:
        """The union of many spaces, compacted once (a fold of `union` would compact the
        growing union again and again)."""
        boxes = [box for space in spaces for box in space.boxes]
        merged = cls(dims, boxes)
        return merged.compact() if len(boxes) > COMPACT_ABOVE else merged

    def intersect(self, other: Space) -> Space:
        out = []
        if len(self.boxes) * len(other.boxes) > INTERSECT_SCREENED:
            # Most pairs of many boxes do not meet (a port each): tell that on the narrow
            # dimensions first, before intersecting address sets with thousands of holes.
            order = _split_order(self.dims)
            meeting = _hull_lookup(self.dims, self.boxes, other.boxes)
            for a in self.boxes:
                for b in other.boxes if meeting is None else meeting(a):
                    if box_touches(a, b, order):
                        both = box_intersect(a, b)
                        if both is not None:
                            out.append(both)
            return Space(self.dims, out)
        for a in self.boxes:
            for b in other.boxes:
                both = box_intersect(a, b)
                if both is not None:
                    out.append(both)
        return Space(self.dims, out)

    def touches(self, other: Space) -> bool:
        order = _split_order(self.dims)
        meeting = _hull_lookup(self.dims, self.boxes, other.boxes)
        if meeting is not None:
            return any(box_touches(a, b, order) for a in self.boxes for b in meeting(a))
        return any(box_touches(a, b, order) for a in self.boxes for b in other.boxes)

    def subtract_many(self, other: Space) -> Space:
        """self − other like `subtract`, cutting other's boxes out together where several
        touch one box of self (box_subtract_many). Worth it for the thousands of narrow boxes
        a walk defers (netfilter/cuts.py); for a few wide boxes, `subtract` is quicker."""
        boxes: list[Box] = list(self.boxes)
        order = _split_order(self.dims)
        if len(other.boxes) >= SUBTRACT_MANY:
            pieces: list[Box] = []
            meeting = _hull_lookup(self.dims, self.boxes, other.boxes)
            for a in boxes:
                candidates = other.boxes if meeting is None else meeting(a)
                touching = [b for b in candidates if box_touches(a, b, order)]
                if not touching:
                    pieces.append(a)
                elif len(touching) == 1:
                    pieces.extend(box_subtract(a, touching[0], order))
                else:
                    pieces.extend(box_subtract_many(a, touching, order))
            result = Space(self.dims, pieces)
            return result.compact() if len(pieces) > COMPACT_ABOVE else result
        return self.subtract(other)

    def subtract(self, other: Space) -> Space:
        boxes: list[Box] = list(self.boxes)
        order = _split_order(self.dims)
        # One box after the other is quickest while the remainder stays a few pieces (narrow
        # holes in one address set). When it fragments (each of thousands of boxes leaves
        # pieces every next one is tested against: quadratic), the work done so far is
        # dropped and each box of self is halved instead (box_subtract_split).
        allowance = SEQUENTIAL_WORK * len(other.boxes) if len(other.boxes) > SPLIT_LEAF else None
        work = 0
        for b in other.boxes:
            if not boxes:
                break
            if allowance is not None:
                work += len(boxes)
                if work > allowance:
                    return self._subtract_split(other, order)
            next_boxes: list[Box] = []
            for a in boxes:
                next_boxes.extend(box_subtract(a, b, order))
            boxes = next_boxes
        result = Space(self.dims, boxes)
        return result.compact() if len(boxes) > COMPACT_ABOVE else result

    def _subtract_split(self, other: Space, order: Sequence[int]) -> Space:
        pieces: list[Box] = []
        meeting = _hull_lookup(self.dims, self.boxes, other.boxes)
        for a in self.boxes:
            candidates = other.boxes if meeting is None else meeting(a)
            touching = [b for b in candidates if box_touches(a, b, order)]
            pieces.extend(box_subtract_split(a, touching, order))
        result = Space(self.dims, pieces)
        return result.compact() if len(pieces) > COMPACT_ABOVE else result

    def complement(self) -> Space:
        return Space.full(self.dims).subtract(self)

    def is_subset(self, other: Space) -> bool:
        return self.subtract(other).is_empty()

    def contains(self, point: Mapping[str, int]) -> bool:
        values = [point[name] for name, _, _ in self.dims]
        return any(
            all(iset_contains(s, v) for s, v in zip(box, values, strict=True)) for box in self.boxes
        )

    def hull(self) -> tuple[Interval, ...]:
        """The smallest single range per dimension holding the space (empty: no ranges)."""
        if not self.boxes:
            return ()
        lows = [values[0][0] for values in self.boxes[0]]
        highs = [values[-1][1] for values in self.boxes[0]]
        for box in self.boxes[1:]:
            for d, values in enumerate(box):
                if values[0][0] < lows[d]:
                    lows[d] = values[0][0]
                if values[-1][1] > highs[d]:
                    highs[d] = values[-1][1]
        return tuple(zip(lows, highs, strict=True))

    def project(self, name: str) -> IntervalSet:
        """The values the named dimension takes anywhere in the space."""
        d = self.index(name)
        return iset(r for box in self.boxes for r in box[d])

    def translate(self, name: str, offset: int) -> Space:
        """The same flows with one dimension's values moved by `offset` (the caller keeps them
        inside the dimension's range): an echo request's ICMP type to its reply's."""
        d = self.index(name)
        return Space(
            self.dims,
            (
                box[:d] + (tuple((lo + offset, hi + offset) for lo, hi in box[d]),) + box[d + 1 :]
                for box in self.boxes
            ),
        )

    def restrict(self, name: str, ranges: Sequence[Interval]) -> Space:
        return self.intersect(Space.where(self.dims, {name: ranges}))

    def map_dims(self, order: Sequence[str]) -> Space:
        """The same boxes with dimensions taken in another order of the same dims (used to
        mirror a flow: source ↔ destination)."""
        indexes = [self.index(name) for name in order]
        return Space(self.dims, (tuple(box[i] for i in indexes) for box in self.boxes))

    # Witnesses --------------------------------------------------------------------------------
    def sample(
        self,
        preferred: Mapping[str, int] | None = None,
        choosers: Mapping[str, Chooser] | None = None,
    ) -> dict[str, int] | None:
        """A concrete flow in the space, as close to `preferred` values as the space allows
        (so counterexamples read like real traffic), or None when empty. A dimension with a
        chooser takes the chooser's value, and boxes whose chosen values carry the smallest
        total penalty win (e.g. a real host address over a broadcast one)."""
        if not self.boxes:
            return None
        preferred = preferred or {}
        choosers = choosers or {}
        names = [name for name, _, _ in self.dims]

        def matching(box: Box) -> int:
            return sum(
                1
                for name, values in zip(names, box, strict=True)
                if name in preferred and iset_contains(values, preferred[name])
            )

        # Boxes holding more preferred values first; choosers only look at the first few, so a
        # space of many boxes samples in bounded time.
        ordered = sorted(self.boxes, key=matching, reverse=True)[: self.SAMPLED_BOXES]
        best: tuple[int, int] | None = None
        best_point: dict[str, int] = {}
        for box in ordered:
            point = {}
            penalty = matched = 0
            for (name, _, _), values in zip(self.dims, box, strict=True):
                wanted = preferred.get(name, values[0][0])
                if name in choosers:
                    point[name], cost = choosers[name](values, wanted)
                    penalty += cost
                else:
                    point[name] = iset_nearest(values, wanted)
                matched += name in preferred and point[name] == preferred[name]
            score = (penalty, -matched)
            if best is None or score < best:
                best, best_point = score, point
            if penalty == 0 and (not choosers or matched == len(preferred)):
                break
        return best_point

    def compact(self) -> Space:
        """Merge boxes that differ in one dimension only, and drop duplicates."""
        boxes = list(dict.fromkeys(self.boxes))
        if len(boxes) < 2:
            return Space(self.dims, boxes)
        # A dimension on which every box holds the same values merges nothing (the boxes are
        # distinct): skipped, which on a walk's large unions is half of them (family, sport,
        # interfaces, marks). Merging along another dimension keeps it uniform.
        first = boxes[0]
        varying = [
            d
            for d in range(len(self.dims))
            if not all(box[d] is first[d] or box[d] == first[d] for box in boxes)
        ]
        changed = True
        while changed and len(boxes) > 1:
            changed = False
            for d in varying:
                groups: dict[tuple[IntervalSet, ...], list[IntervalSet]] = {}
                for box in boxes:
                    key = box[:d] + box[d + 1 :]
                    groups.setdefault(key, []).append(box[d])
                if len(groups) < len(boxes):
                    changed = True
                    boxes = [
                        key[:d] + (iset(r for s in sets for r in s),) + key[d:]
                        for key, sets in groups.items()
                    ]
        return Space(self.dims, boxes)

    def __repr__(self) -> str:
        return f"Space({len(self.boxes)} boxes)"
