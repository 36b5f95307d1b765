"""The matches a chain walk has passed but not yet cut out of its packets (netfilter_walk).

First match: the packets that reach rule n are those that reached rule n-1 minus its match.
Cutting each match out as the walk passes it is exact, but on a long chain of narrow rules
(kube-proxy's KUBE-SERVICES: `-d IP/32 -p tcp --dport P -j KUBE-SVC-…`, one per service) the
remainder grows a hole per rule, and each cut re-tests and re-compacts every piece of it: the
walk was quadratic in the services (5,000 services: over a minute).

So a decided rule's match (one box, no undecidable part) is kept here instead. The packets a
later rule sees are computed exactly as (packets ∩ its match) − the kept boxes that touch its
match, which for the disjoint rules of a generated chain are none; the kept boxes are cut out
all at once (Space.subtract: box_subtract_many) when the walk needs the true remainder: before
a rule it cannot defer (an undecidable match, a mark write), when a called chain returns
packets, and at the end of the chain.

Finding the kept boxes a match touches is an index lookup, not a scan: each box is filed under
the first of daddr, saddr, dport, sport on which it is one narrow interval (a /32, a port;
what generated chains key their rules on), in an IntervalIndex per field, so a lookup is a
binary search per field. Boxes narrow on none of them are kept in a short list
that is scanned; when it grows past WIDE_MAX the walk cuts everything out and starts afresh.
"""

from __future__ import annotations

from checker.engine.interval_index import IntervalIndex, narrow_fields
from checker.engine.space import Box, Dim, box_touches

# Wide boxes scanned on each lookup before the walk cuts them out.
WIDE_MAX = 32


class Cuts:
    """Boxes to cut out of a walk's packets, indexed for `touching` (module docstring)."""

    __slots__ = ("boxes", "_fields", "_limits", "_wide")

    def __init__(self, dims: tuple[Dim, ...]) -> None:
        # A walk makes one per rule it cannot defer, most of them never filled: the fields are
        # worked out once per dims, their indexes made on the first box.
        self._limits = narrow_fields(dims)
        self._fields: list[IntervalIndex[Box]] = []
        self._wide: list[Box] = []
        self.boxes: list[Box] = []

    def __bool__(self) -> bool:
        return bool(self.boxes)

    @property
    def crowded(self) -> bool:
        return len(self._wide) > WIDE_MAX

    def add(self, box: Box) -> None:
        self.boxes.append(box)
        if not self._fields:
            self._fields = [IntervalIndex() for _ in self._limits]
        for (d, limit), field in zip(self._limits, self._fields, strict=True):
            values = box[d]
            if len(values) == 1 and values[0][1] - values[0][0] <= limit:
                field.add(values[0][0], values[0][1], box)
                return
        self._wide.append(box)

    def touching(self, box: Box, order: tuple[int, ...]) -> list[Box]:
        """The kept boxes that meet `box`."""
        found: dict[int, Box] = {}
        # No index yet when no box was added (strict=False: then there is nothing to find).
        for (d, _), field in zip(self._limits, self._fields, strict=False):
            if not field:
                continue
            for lo, hi in box[d]:
                for other in field.near(lo, hi):
                    found[id(other)] = other
        for other in self._wide:
            found[id(other)] = other
        return [other for other in found.values() if box_touches(box, other, order)]
