"""A per-target work budget: wide questions answered in bounded time and memory (issue 16).

The engines' work grows with the number of boxes their spaces fragment into, not with the number
of rules: a wide question ("every inbound flow") on a ruleset that carves addresses and
interfaces finely can split into millions of boxes. The walk spends one unit per rule it visits
plus one per box of the packets reaching that rule, which tracks both time and memory; when a
target's budget is spent, what is left of it is answered "indeterminate: too complex to decide
within N steps" instead of running without bound. One Budget per target, passed in (no global
state); `None` means unbounded.
"""

from __future__ import annotations

from dataclasses import dataclass

# Measured with bench/wide.py on a 2-core machine under load: about 25,000 units a second, so
# about 4 s there (2 s unloaded). A kube-proxy ruleset of 55,000 rules under every shipped
# policy spends about 45,000; the corpus files under every shipped policy at most 12,000.
DEFAULT_BUDGET = 100_000


class BudgetExceeded(Exception):
    """The target's work budget is spent; `limit` is the budget."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"too complex to decide within {limit} steps")
        self.limit = limit


@dataclass(slots=True)
class Budget:
    limit: int
    spent: int = 0

    def spend(self, units: int) -> None:
        self.spent += units
        if self.spent > self.limit:
            raise BudgetExceeded(self.limit)

    @property
    def exhausted(self) -> bool:
        return self.spent > self.limit


def reason(limit: int) -> str:
    """The indeterminate message of a requirement the budget cut short."""
    return (
        f"too complex to decide within {limit} steps (the per-target work budget; raise it with"
        " --budget, or narrow the requirement)"
    )
