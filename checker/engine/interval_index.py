"""Items filed by one interval each, for "which items meet [lo, hi]?" by binary search.

Generated rulesets key their rules on one narrow field (kube-proxy: a /32 and a port per
service), so the walk's deferred cuts (netfilter/cuts.py) and a hook's thousands of unknowns
(walk.HookResult.uncertain_touching) are looked up here instead of scanned. Items are kept in a
list sorted by their interval's start; a lookup bisects to the first start that can still reach
`lo` (the widest interval filed bounds how far back that is) and stops after the last start
<= `hi`. A hash map on exact values would miss ranges and prefixes; an interval tree is more
code for the same answer on these intervals, which are short.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Generic, TypeVar

# space.py files boxes here (space.hull_lookup): only its type names come back, for annotations.
if TYPE_CHECKING:
    from checker.engine.space import Dim, Interval

Item = TypeVar("Item")


def hulls_overlap(a: Sequence[Interval], b: Sequence[Interval]) -> bool:
    """Whether two hulls (Space.hull) meet: a cheap necessary condition for spaces to touch."""
    if not a or not b:
        return False
    for (x_lo, x_hi), (y_lo, y_hi) in zip(a, b, strict=True):
        if x_lo > y_hi or y_lo > x_hi:
            return False
    return True


# Fields generated chains key their rules on (a /32, a port), in the order boxes are filed
# under them; an interval is narrow on a field when it spans at most 1/2**NARROW_SHIFT of it.
KEY_FIELDS = ("daddr", "saddr", "dport", "sport")
NARROW_SHIFT = 8


@cache
def narrow_fields(dims: tuple[Dim, ...]) -> tuple[tuple[int, int], ...]:
    """(position, widest narrow interval) of each of KEY_FIELDS among `dims`, in that order."""
    positions = {name: d for d, (name, _, _) in enumerate(dims)}
    return tuple(
        (positions[name], (dims[positions[name]][2] - dims[positions[name]][1]) >> NARROW_SHIFT)
        for name in KEY_FIELDS
        if name in positions
    )


class _Sorted(Generic[Item]):
    """Intervals of one width class, sorted by start."""

    __slots__ = ("starts", "entries", "widest")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.entries: list[tuple[int, Item]] = []
        self.widest = 0


class IntervalIndex(Generic[Item]):
    """Items, each filed under one interval [lo, hi].

    Intervals are kept apart by width class (the bit length of hi - lo): a lookup bisects each
    class to the first start that can still reach `lo`, which the class's widest interval
    bounds. With one list for all widths, a single /16 among thousands of /32s made every
    lookup read back over all of them (quadratic on a kube-proxy chain)."""

    __slots__ = ("_classes",)

    def __init__(self) -> None:
        self._classes: dict[int, _Sorted[Item]] = {}

    def add(self, lo: int, hi: int, item: Item) -> None:
        kind = self._classes.setdefault((hi - lo).bit_length(), _Sorted())
        at = bisect_right(kind.starts, lo)
        kind.starts.insert(at, lo)
        kind.entries.insert(at, (hi, item))
        if hi - lo > kind.widest:
            kind.widest = hi - lo

    def add_many(self, items: Sequence[tuple[int, int, Item]]) -> None:
        """add() for each (lo, hi, item), sorted once: inserting thousands one by one into the
        sorted lists moved them whole each time (quadratic in a hook's unknowns)."""
        grouped: dict[int, list[tuple[int, int, Item]]] = {}
        for lo, hi, item in items:
            grouped.setdefault((hi - lo).bit_length(), []).append((lo, hi, item))
        for width, added in grouped.items():
            kind = self._classes.setdefault(width, _Sorted())
            rows = [
                (lo, end, item) for lo, (end, item) in zip(kind.starts, kind.entries, strict=True)
            ]
            rows.extend(added)
            rows.sort(key=lambda row: row[0])
            kind.starts = [row[0] for row in rows]
            kind.entries = [(row[1], row[2]) for row in rows]
            kind.widest = max(end - lo for lo, end, _ in rows)

    def __bool__(self) -> bool:
        """Whether any item is filed."""
        return bool(self._classes)

    def count_near(self, lo: int, hi: int) -> int:
        """How many items `near` reads for [lo, hi] (at least as many as it returns)."""
        count = 0
        for kind in self._classes.values():
            count += bisect_right(kind.starts, hi) - bisect_left(kind.starts, lo - kind.widest)
        return count

    def near(self, lo: int, hi: int) -> list[Item]:
        """The items whose interval meets [lo, hi] (in no particular order)."""
        found: list[Item] = []
        for kind in self._classes.values():
            first = bisect_left(kind.starts, lo - kind.widest)
            last = bisect_right(kind.starts, hi)
            found.extend(item for end, item in kind.entries[first:last] if end >= lo)
        return found


Hull = tuple[tuple[int, int], ...]


class HullIndex(Generic[Item]):
    """Items with a hull (one range per dimension, Space.hull), for "which items' hulls meet
    this hull?", answered in the order the items were added. Each item is filed, for each of
    `fields` (dimension position, widest interval filed), in that field's index when its hull is
    narrow there and in the field's wide list otherwise; a lookup uses the one field on which the
    asked hull is narrowest (a port, when the question is to any address), so it reads the items
    near that value and the items wide on it, not all of them."""

    __slots__ = ("_fields", "_indexes", "_wide", "_count", "_unindexed", "_pending")

    def __init__(self, fields: Sequence[tuple[int, int]]) -> None:
        self._fields = fields
        self._indexes: list[IntervalIndex[tuple[int, Hull, Item]]] = [
            IntervalIndex() for _ in fields
        ]
        self._wide: list[list[tuple[int, Hull, Item]]] = [[] for _ in fields]
        self._count = 0
        # With no field to file under, every item is scanned.
        self._unindexed: list[tuple[int, Hull, Item]] = []
        # Items added since the last lookup, per field: filed all at once (add_many).
        self._pending: list[list[tuple[int, int, tuple[int, Hull, Item]]]] = [[] for _ in fields]

    def add(self, hull: Hull, item: Item) -> None:
        entry = (self._count, hull, item)
        self._count += 1
        if not self._fields:
            self._unindexed.append(entry)
        for (d, limit), pending, wide in zip(self._fields, self._pending, self._wide, strict=True):
            lo, hi = hull[d]
            if hi - lo <= limit:
                pending.append((lo, hi, entry))
            else:
                wide.append(entry)

    def meeting(self, hull: Hull) -> list[Item]:
        """The items whose hull meets `hull`, in the order they were added."""
        return list(self.meeting_lazily(hull))

    def meeting_lazily(self, hull: Hull) -> Iterator[Item]:
        """`meeting`, each item tested when it is asked for: a reader that stops after the
        first few (engine.netfilter.walk.HookResult.uncertain_touching, 10 reasons) leaves the
        hulls of the thousands after them untested."""
        if not self._fields:
            return (item for _, other, item in self._unindexed if hulls_overlap(other, hull))
        for index, pending in zip(self._indexes, self._pending, strict=True):
            if pending:
                index.add_many(pending)
                pending.clear()

        # Among the fields the asked hull is narrow on, the one whose lookup reads the fewest
        # items: those filed near the asked values (counted by binary search) and those wide
        # on it. The narrowest is not always it (a /32 and a port asked of boxes to any
        # address on a few ports: the port). Otherwise the narrowest asked field. Any field
        # finds every item whose hull meets: the same items, in the same order.
        def ratio(i: int) -> float:
            d, limit = self._fields[i]
            return (hull[d][1] - hull[d][0]) / (limit + 1)

        def cost(i: int) -> int:
            lo, hi = hull[self._fields[i][0]]
            return self._indexes[i].count_near(lo, hi) + len(self._wide[i])

        narrow = [i for i in range(len(self._fields)) if ratio(i) < 1]
        if len(narrow) > 1:
            best = min(narrow, key=cost)
        else:
            best = min(range(len(self._fields)), key=ratio)
        lo, hi = hull[self._fields[best][0]]
        found = self._indexes[best].near(lo, hi) + self._wide[best]
        found.sort(key=lambda entry: entry[0])
        return (item for _, other, item in found if hulls_overlap(other, hull))
