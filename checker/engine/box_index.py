"""A space's boxes filed by their hulls (interval_index.HullIndex), for intersecting many small
questions with one large space without scanning every box each time."""

from __future__ import annotations

from checker.engine.interval_index import HullIndex, narrow_fields
from checker.engine.space import Box, Space, box_intersect


class BoxIndex:
    """A space's boxes filed by their hulls, for intersecting many small questions with one
    large space (a batched hook's accepted packets: thousands of per-service boxes, met by a
    hundred narrow requirements) without scanning every box each time."""

    __slots__ = ("space", "_index")

    def __init__(self, space: Space) -> None:
        self.space = space
        self._index: HullIndex[Box] = HullIndex(narrow_fields(space.dims))
        for box in space.boxes:
            self._index.add(tuple((values[0][0], values[-1][1]) for values in box), box)

    def intersect(self, other: Space) -> Space:
        """self.space ∩ other, as Space.intersect gives it."""
        out: list[Box] = []
        for a in other.boxes:
            hull = tuple((values[0][0], values[-1][1]) for values in a)
            for b in self._index.meeting(hull):
                both = box_intersect(a, b)
                if both is not None:
                    out.append(both)
        return Space(other.dims, out)
