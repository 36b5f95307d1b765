"""The block rendering both exclusive engines share (checker.engine.blocks): what a verdict
lists, counts, details and gives as evidence, whatever platform made the blocks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from checker.engine import blocks
from checker.engine.netfilter import exclusive as netfilter_exclusive
from checker.engine.windows import exclusive as windows_exclusive
from checker.findings import Evidence, Status


@dataclass(frozen=True, slots=True)
class FakeBlock:
    description: str
    counterexample: str
    evidence: Evidence | None
    reason: str = ""

    def text(self) -> str:
        return f"{self.description}: {self.reason or 'accepted'}"


def sure(index: int, line: int | None = None) -> FakeBlock:
    evidence = Evidence("rules", line if line is not None else index, f"rule {index}")
    return FakeBlock(f"tcp any -> {index}", f"flow {index}", evidence)


def unsure(index: int) -> FakeBlock:
    return FakeBlock(f"udp any -> {index}", f"flow u{index}", None, reason="limit")


def test_no_block_is_no_verdict() -> None:
    assert blocks.verdict([], "inbound", "accepted") is None


def test_fail_lists_the_first_sure_blocks_and_counts_the_rest() -> None:
    found = [unsure(1), *(sure(i) for i in range(1, 8))]
    verdict = blocks.verdict(found, "inbound", "accepted")
    assert verdict is not None and verdict.status is Status.FAIL
    assert verdict.message.startswith(
        "7 block(s) of new inbound flows are accepted that no allow rule declares"
        " (1 more undecidable): tcp any -> 1: accepted;"
    )
    assert verdict.message.endswith("tcp any -> 5: accepted; and 2 more block(s)")
    # The sure blocks first, then the undecidable; every block a detail with its sample flow.
    assert verdict.counterexample == "flow 1"
    assert verdict.details[0] == ("block 1", "tcp any -> 1: accepted (e.g. flow 1)")
    assert verdict.details[-1] == ("block 8", "udp any -> 1: limit (e.g. flow u1)")
    # One evidence item per block with a rule, named with the block (SARIF: a location each).
    assert [e.text for e in verdict.evidence][:2] == [
        "block tcp any -> 1: rule 1",
        "block tcp any -> 2: rule 2",
    ]
    assert len(verdict.evidence) == 7


def test_only_undecidable_blocks_are_indeterminate() -> None:
    verdict = blocks.verdict([unsure(1), unsure(2)], "outbound", "allowed")
    assert verdict is not None and verdict.status is Status.INDETERMINATE
    assert verdict.message == (
        "cannot decide whether 2 block(s) of undeclared new outbound flows are allowed:"
        " udp any -> 1: limit; udp any -> 2: limit"
    )
    assert verdict.evidence == ()


def test_past_max_blocks_the_rest_is_counted() -> None:
    many = [sure(i, line=1) for i in range(blocks.MAX_BLOCKS + 3)]
    verdict = blocks.verdict(many, "inbound", "accepted")
    assert verdict is not None
    assert len(verdict.details) == blocks.MAX_BLOCKS + 1
    assert verdict.details[-1] == ("blocks not listed", "3")
    assert len(verdict.evidence) == blocks.MAX_BLOCKS


@pytest.mark.parametrize(
    ("values", "text"),
    [(((0, 255),), "any protocol"), (((6, 6), (17, 17)), "tcp,udp"), (((1, 5),), "protocols 1-5")],
)
def test_protocols(values, text) -> None:
    assert blocks.protocols(values) == text


def test_both_platforms_use_the_shared_module() -> None:
    """One rendering: neither engine keeps its own copy of the verdict or the describers."""
    for module in (netfilter_exclusive, windows_exclusive):
        assert module.verdict is blocks.verdict
        assert module.protocols is blocks.protocols and module.ranges is blocks.ranges
