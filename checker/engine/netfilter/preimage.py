"""From the packets a chain saw back to the packets asked about.

Along the walk packets change: marks are written (netfilter_marks) and a DNAT rewrites the
destination (or, on a reply, the source). A Preimage maps a space of changed packets back to
the asked packets that may have become one of them: the fields the walk rewrote are freed, and
the result is kept within the asked packets that went that way (`known`). Freeing is the
existential image, exact for the "possibly" spaces the engine maps back (a packet is possibly
refused if any packet it may have become is).

A translated stream carries many translations at once (one per kube-proxy endpoint); boxes are
matched to the translations whose rewritten header they hold by an index on those values.
"""

from __future__ import annotations

from collections.abc import Sequence

from checker.engine.netfilter import marks
from checker.engine.space import Box, IntervalSet, Space


def _free_box(box: Box, freed: Sequence[int], full: Box) -> Box:
    out = list(box)
    for d in freed:
        out[d] = full[d]
    return tuple(out)


def _matches(box: Box, point: Sequence[int], skip: frozenset[int]) -> bool:
    return all(
        d in skip or any(lo <= point[d] <= hi for lo, hi in values) for d, values in enumerate(box)
    )


class Preimage:
    """Packets with marks written: the asked packets `known` whose fields but the marks agree."""

    def __init__(self, known: Space, *, marked: bool = True) -> None:
        self.known = known
        self.freed = tuple(known.index(name) for name in marks.FIELDS)
        # Whether the ruleset writes marks at all: if not, packets keep their own.
        self.marked = marked

    def __call__(self, image: Space) -> Space:
        if not self.marked:
            return image.intersect(self.known)
        return marks.forget(image).intersect(self.known)

    def holds(self, image: Space, point: dict[str, int]) -> bool:
        """Whether the asked packet `point` may have become one of `image`'s packets."""
        if not self.marked:
            return image.contains(point)
        values = [point[name] for name, _, _ in image.dims]
        skip = frozenset(self.freed)
        return any(_matches(box, values, skip) for box in image.boxes)


Rewrite = tuple[tuple[int, IntervalSet], ...]


class Translated(Preimage):
    """Packets rewritten by translations: per translation, the fields it rewrote (dimension
    index -> values) and the asked packets it caught. A box holding no translation's values
    is in the asked packets' terms already (before the translation, or after a reply's source
    was written back): only its marks are freed."""

    def __init__(self, known: Space, items: Sequence[tuple[Rewrite, Space]]) -> None:
        super().__init__(known)
        self.full = Space.full(known.dims).boxes[0]
        self.items = [(rewrite, marks.forget(part)) for rewrite, part in items]
        self.index: dict[tuple[int, ...], dict[tuple[IntervalSet, ...], list[int]]] = {}
        for position, (rewrite, _) in enumerate(self.items):
            dims = tuple(d for d, _ in rewrite)
            values = tuple(v for _, v in rewrite)
            self.index.setdefault(dims, {}).setdefault(values, []).append(position)
        self._point: tuple[int, ...] | None = None
        self._caught: list[tuple[Rewrite, frozenset[int]]] = []
        # By the first rewritten field's values (the new address), for boxes narrowed since.
        self.first: dict[tuple[int, IntervalSet], list[int]] = {}
        for position, (rewrite, _) in enumerate(self.items):
            if rewrite:
                self.first.setdefault(rewrite[0], []).append(position)

    def _matching(self, box: Box) -> list[int]:
        """The translations `box` may hold packets of: the walk may have narrowed a rewritten
        field (`-o docker0` of "any interface"), so any overlap counts."""
        found: list[int] = []
        for dims, by_values in self.index.items():
            found += by_values.get(tuple(box[d] for d in dims), [])
        if found:
            return found
        candidates: list[int] | None = None
        for (d, values), positions in self.first.items():
            if box[d] == values:
                candidates = (candidates or []) + positions
        if candidates is None:
            candidates = list(range(len(self.items)))
        return [
            position
            for position in candidates
            if all(
                any(lo <= v_hi and v_lo <= hi for lo, hi in box[d] for v_lo, v_hi in values)
                for d, values in self.items[position][0]
            )
        ]

    def __call__(self, image: Space) -> Space:
        out: list[Space] = []
        for box in image.boxes:
            # A box may also be in the asked packets' terms (not translated yet, or written
            # back): counting it both ways over-approximates, which is sound here.
            out.append(super().__call__(Space(image.dims, (box,))))
            for position in self._matching(box):
                rewrite, known = self.items[position]
                freed = (*self.freed, *(d for d, _ in rewrite))
                out.append(Space(image.dims, (_free_box(box, freed, self.full),)).intersect(known))
        return Space.union_all(image.dims, out)

    def holds(self, image: Space, point: dict[str, int]) -> bool:
        values = [point[name] for name, _, _ in image.dims]
        if any(_matches(box, values, frozenset(self.freed)) for box in image.boxes):
            return True
        # The translations that caught `point` (found once per point: evidence asks about one
        # point for many chains), then the boxes that may hold its rewritten packet.
        key = tuple(values)
        if self._point != key:
            self._point = key
            self._caught = [
                (rewrite, frozenset((*self.freed, *(d for d, _ in rewrite))))
                for rewrite, known in self.items
                if known.contains(point)
            ]
        for box in image.boxes:
            for rewrite, skip in self._caught:
                if _matches(box, values, skip) and all(
                    any(lo <= v_hi and v_lo <= hi for lo, hi in box[d] for v_lo, v_hi in vals)
                    for d, vals in rewrite
                ):
                    return True
        return False
