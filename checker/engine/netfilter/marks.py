"""Packet and connection marks along the netfilter walk.

The packet mark (nfmark, skb->mark) and the connection mark (ctmark) are two dimensions of the
packet space, "mark" and "ctmark", each holding one 32-bit value or UNKNOWN (2**32): a value the
ruleset does not determine. Where they start:
- A new connection's first packet has mark 0: a received packet's skb starts with mark 0, and a
  locally sent one carries its socket's SO_MARK, which ordinary programs leave 0 (socket(7)
  SO_MARK needs CAP_NET_ADMIN). Its conntrack entry is new, so its ctmark is 0 too.
- A reply (SYN-ACK, final ACK, echo reply) is a new skb with mark 0 (for a SYN-ACK: the listening
  socket's mark, with net.ipv4.tcp_fwmark_accept=0, the default); its ctmark is whatever the
  rules saved on the connection. When no rule of the ruleset writes a ctmark (CONNMARK
  --set-*/--save-mark, nft `ct mark set`), that is 0; otherwise it is UNKNOWN here.
Assumed absent, because no ruleset shows them: tc filters and eBPF programs that set skb->mark
(tc skbedit, Cilium), programs that set SO_MARK (wg-quick, VPN clients) and conntrack marks
written through ctnetlink (conntrack -U). Routing rules (`ip rule fwmark`) read marks only.

Writes (MarkOp, from MARK/CONNMARK targets and nft `meta mark set`/`ct mark set`) map each value
to one value, so a space's boxes keep a handful of mark values; the values a ruleset can produce
from the start values are enumerated once per phase (`reachable`), and a mark match is the set
of those values it holds for (iptables-extensions(8) mark: `(mark & mask) == value`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

from checker.engine.space import Box, Dim, Space, iset
from checker.model.netfilter import AnyOf, MarkMatch, MarkOp, Match, Ruleset

MARK_MAX = 0xFFFFFFFF
UNKNOWN = MARK_MAX + 1
FIELDS = ("mark", "ctmark")
# More distinct values than this and the marks are not followed (their matches are unknown).
MAX_VALUES = 4096

Values = dict[str, frozenset[int]]


def mark_ops(rulesets: Sequence[Ruleset], family: int) -> tuple[MarkOp, ...]:
    """Every mark write of the rulesets' tables serving `family`."""
    found: dict[MarkOp, None] = {}
    for ruleset in rulesets:
        for table in ruleset.tables:
            if table.family not in ("inet", "netdev", "ip" if family == 4 else "ip6"):
                continue
            for chain in table.chains:
                for rule in chain.rules:
                    found.update(dict.fromkeys(rule.target.marks))
    return tuple(found)


def writes_ctmark(ops: Iterable[MarkOp]) -> bool:
    return any(op.dst == "ctmark" for op in ops)


def start_values(ops: Sequence[MarkOp], new: bool) -> Values:
    """The marks a phase's packets start with (see the module docstring)."""
    ctmark = UNKNOWN if not new and writes_ctmark(ops) else 0
    return {"mark": frozenset({0}), "ctmark": frozenset({ctmark})}


def apply_one(op: MarkOp, dst: int, src: int) -> int:
    if op.opaque:
        return UNKNOWN
    if (op.keep and dst == UNKNOWN) or (op.take and src == UNKNOWN):
        return UNKNOWN
    keep = dst & op.keep if op.keep else 0
    take = src & op.take if op.take else 0
    return (keep ^ take ^ op.xor) & MARK_MAX


def reachable(ops: Sequence[MarkOp], start: Values) -> Values | None:
    """Every value each mark can take from `start` under any sequence of `ops` (None: more
    than MAX_VALUES)."""
    values = {name: set(start[name]) for name in FIELDS}
    changed = True
    while changed:
        changed = False
        for op in ops:
            new = {apply_one(op, d, s) for d in tuple(values[op.dst]) for s in values[op.src]}
            if not new <= values[op.dst]:
                values[op.dst] |= new
                changed = True
                if len(values[op.dst]) > MAX_VALUES:
                    return None
    return {name: frozenset(found) for name, found in values.items()}


def holding(match: MarkMatch, values: Values) -> tuple[tuple[int, int], ...]:
    """The known values of the match's field (among `values`) the match holds for."""
    return iset(
        (v, v)
        for v in values[match.field]
        if v != UNKNOWN and ((v & match.mask) == match.value) != match.negated
    )


def uses_marks(matches: Sequence[Match]) -> bool:
    for match in matches:
        if isinstance(match, MarkMatch):
            return True
        if isinstance(match, AnyOf) and any(uses_marks(option) for option in match.options):
            return True
    return False


def _points(intervals: tuple[tuple[int, int], ...]) -> list[int] | None:
    count = sum(hi - lo + 1 for lo, hi in intervals)
    if count > MAX_VALUES:
        return None
    return [v for lo, hi in intervals for v in range(lo, hi + 1)]


def apply(space: Space, ops: Sequence[MarkOp]) -> Space:
    """The packets of `space` after the writes `ops` (in order)."""
    if not ops or not space:
        return space
    index = _positions(space.dims)
    boxes: list[Box] = []
    for box in space.boxes:
        marks = _points(box[index["mark"]])
        ctmarks = _points(box[index["ctmark"]])
        if marks is None or ctmarks is None:
            # Not a handful of values (a space that was never given marks): every value.
            out = list(box)
            for op in ops:
                out[index[op.dst]] = ((0, UNKNOWN),)
            boxes.append(tuple(out))
            continue
        images: dict[tuple[int, int], None] = {}
        for m in marks:
            for c in ctmarks:
                state = {"mark": m, "ctmark": c}
                for op in ops:
                    state[op.dst] = apply_one(op, state[op.dst], state[op.src])
                images[(state["mark"], state["ctmark"])] = None
        for m, c in images:
            out = list(box)
            out[index["mark"]] = ((m, m),)
            out[index["ctmark"]] = ((c, c),)
            boxes.append(tuple(out))
    if len(boxes) == 1:
        return Space(space.dims, boxes)
    return Space(space.dims, boxes).compact()


@cache
def _positions(dims: tuple[Dim, ...]) -> dict[str, int]:
    """Where the mark fields are among `dims` (apply runs once per mark-writing rule met)."""
    return {name: d for d, (name, _, _) in enumerate(dims) if name in FIELDS}


def forget(space: Space) -> Space:
    """The space with any marks: the flows, whatever marks their packets carry by now."""
    if not space:
        return space
    full = {name: ((0, UNKNOWN),) for name in FIELDS}
    index = [(space.index(name), value) for name, value in full.items()]
    boxes = []
    for box in space.boxes:
        out = list(box)
        for d, value in index:
            out[d] = value
        boxes.append(tuple(out))
    return Space(space.dims, boxes)


def reset(space: Space, values: Values) -> Space:
    """The space with its marks replaced by the start `values` (one value each)."""
    index = {name: space.index(name) for name in FIELDS}
    boxes = []
    for box in space.boxes:
        out = list(box)
        for name in FIELDS:
            out[index[name]] = iset((v, v) for v in values[name])
        boxes.append(tuple(out))
    return Space(space.dims, boxes)
