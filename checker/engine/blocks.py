"""Blocks of undeclared flows, as both platforms' exclusive checks report them.

An `exclusive-<direction>` result (docs/policy-format.md, "Exclusive policies") names the
accepted-but-undeclared flows as a short list of maximal blocks. Which flows form a block is
platform semantics (checker.engine.netfilter.exclusive, checker.engine.windows.exclusive);
what a block says, how many are listed, which evidence each gives and how they make a verdict
is the same on both, and lives here. So do the exempt infrastructure flows' numbers, which
each platform turns into its own dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from checker.engine.space import IntervalSet
from checker.engine.verdict import PROTOCOL_NAMES, Verdict
from checker.findings import Evidence, Status

# The blocks a message lists; every block goes to the details and the evidence.
LISTED = 5
# Past this many blocks the rest is counted, not listed (a report stays readable).
MAX_BLOCKS = 50

UDP, ICMP, ICMPV6 = 17, 1, 58

# The exempt infrastructure. DHCP client: RFC 2131 section 4.1 (server 67 -> client 68),
# DHCPv6: RFC 8415 section 7.2 (server 547 -> client 546). ICMP errors: RFC 792 (3 destination
# unreachable, 11 time exceeded, 12 parameter problem), ICMPv6 errors: RFC 4443 section 2.1
# (types 1-4). Neighbour discovery: RFC 4861 section 4 (133 router solicitation, 134
# advertisement, 135 neighbour solicitation, 136 advertisement).
DHCP = {4: (67, 68), 6: (547, 546)}  # family -> (server port, client port)
ERROR_TYPES = {4: (ICMP, (3, 11, 12)), 6: (ICMPV6, (1, 2, 3, 4))}
ND_TYPES = (133, 134, 135, 136)
INFRASTRUCTURE_TEXT = (
    "replies and related packets (not new flows), the DHCP client (udp 67->68, DHCPv6 547->546),"
    " ICMP errors (types 3, 11, 12; ICMPv6 1-4), IPv6 neighbour discovery (ICMPv6 133-136)"
    " and loopback"
)


def icmp_types(*types: int) -> list[tuple[int, int]]:
    """The `icmp` dimension's ranges (type*256+code) of these types, every code."""
    return [(t << 8, (t << 8) | 0xFF) for t in types]


class Block(Protocol):
    """What a platform's block gives a report: a one-line description, a sample flow, the
    rule or setting that accepts it (None: none to point at), and for a block only possibly
    accepted, the reason."""

    @property
    def description(self) -> str: ...
    @property
    def counterexample(self) -> str: ...
    @property
    def evidence(self) -> Evidence | None: ...
    @property
    def reason(self) -> str: ...
    def text(self) -> str: ...


# --- describing a box ------------------------------------------------------------------------


def ranges(values: IntervalSet, limit: int = 6) -> str:
    parts = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in values[:limit]]
    if len(values) > limit:
        parts.append(f"… ({len(values) - limit} more)")
    return ",".join(parts)


def protocols(values: IntervalSet) -> str:
    if values == ((0, 255),):
        return "any protocol"
    if len(values) <= 4 and all(lo == hi for lo, hi in values):
        return ",".join(PROTOCOL_NAMES.get(lo, f"proto-{lo}") for lo, _ in values)
    return f"protocols {ranges(values)}"


# --- the verdict -----------------------------------------------------------------------------


def block_evidence(blocks: Sequence[Block]) -> tuple[Evidence, ...]:
    """One item per listed block: its accepting rule, named with the block, so that SARIF
    gives each block its own location."""
    return tuple(
        dict.fromkeys(
            Evidence(b.evidence.file, b.evidence.line, f"block {b.description}: {b.evidence.text}")
            for b in blocks[:MAX_BLOCKS]
            if b.evidence is not None
        )
    )


def verdict(blocks: Sequence[Block], direction: str, verb: str) -> Verdict | None:
    """Fail with the surely accepted blocks (`verb`: "accepted", "allowed"), indeterminate
    when only undecidable ones remain; None when there is no block (the platform says why it
    passes, or why it cannot)."""
    sure = [b for b in blocks if not b.reason]
    unsure = [b for b in blocks if b.reason]
    ordered = sure + unsure
    details = tuple(
        (f"block {i}", f"{b.text()} (e.g. {b.counterexample})")
        for i, b in enumerate(ordered[:MAX_BLOCKS], 1)
    )
    if len(ordered) > MAX_BLOCKS:
        details += (("blocks not listed", str(len(ordered) - MAX_BLOCKS)),)
    evidence = block_evidence(ordered)
    if sure:
        listed = "; ".join(b.text() for b in sure[:LISTED])
        more = f"; and {len(sure) - LISTED} more block(s)" if len(sure) > LISTED else ""
        also = f" ({len(unsure)} more undecidable)" if unsure else ""
        return Verdict(
            Status.FAIL,
            f"{len(sure)} block(s) of new {direction} flows are {verb} that no allow rule"
            f" declares{also}: {listed}{more}",
            sure[0].counterexample,
            evidence,
            details,
        )
    if unsure:
        listed = "; ".join(b.text() for b in unsure[:LISTED])
        return Verdict(
            Status.INDETERMINATE,
            f"cannot decide whether {len(unsure)} block(s) of undeclared new {direction} flows"
            f" are {verb}: {listed}",
            unsure[0].counterexample,
            evidence,
            details,
        )
    return None
