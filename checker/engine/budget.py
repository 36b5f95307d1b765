"""A per-target work budget: wide questions answered in bounded time and memory (issue 16).

The engines' work grows with the number of boxes their spaces fragment into, not with the number
of rules: a wide question ("every inbound flow") on a ruleset that carves addresses and
interfaces finely can split into millions of boxes. The walk spends one unit per box of the
packets reaching a rule times the boxes of that rule's match, which tracks both time and
memory; when a target's budget is spent, what is left of it is answered "indeterminate: too
complex to decide within N steps" instead of running without bound. The count is deterministic
(the same input always gives the same answer, so such results may be cached).

A Budget may also carry a deadline (`fwcheck scan`'s --host-timeout / --scan-timeout bound
evaluation as well as collection): checked at the same points, it stops the walk once the
clock passes it. Such results depend on the clock and are never cached. One Budget per target,
passed in (no global state).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final, Literal

# Measured with bench/wide.py on a 2-core machine under load: about 25,000 units a second, so
# about 4 s there (2 s unloaded). The corpus files under every shipped policy spend at most
# 12,000.
DEFAULT_BUDGET = 100_000
# The default budget grows with the target's rules: a large ruleset walked once per question
# costs work in proportion to its size however narrow the questions are (a kube-proxy file of
# 55,000 rules spends about 20 units a rule under every shipped policy, 1.1 million in all), and
# a fixed budget turned such linear work into "too complex" findings. What the budget guards
# against, a question whose boxes multiply, still hits a bound linear in the input.
PER_RULE = 50
AUTO: Final = "auto"
# What a command asks for: a fixed number of units, AUTO (DEFAULT_BUDGET + PER_RULE per rule
# of the target), or None (unbounded: tests and benches).
BudgetSetting = int | Literal["auto"] | None


def limit_for(setting: BudgetSetting, rules: int) -> int | None:
    """The units one target with `rules` rules may spend under `setting`."""
    if setting == AUTO:
        return DEFAULT_BUDGET + PER_RULE * rules
    assert not isinstance(setting, str)
    return setting


# The detail a finding cut short by a deadline carries (verdict caches skip such findings).
DEADLINE_DETAIL = "deadline_s"


class BudgetExceeded(Exception):
    """The target's work budget is spent, or its deadline passed: `message` says which, and
    `details` is what the finding records (the budget, or the deadline in seconds)."""

    def __init__(self, message: str, details: tuple[tuple[str, str], ...]) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass(slots=True)
class Budget:
    """`limit` work units (None: unbounded); `deadline` a time.monotonic() value (None: none),
    `deadline_s` the seconds it stands for, for the message."""

    limit: int | None
    spent: int = 0
    deadline: float | None = None
    deadline_s: float = 0.0

    def spend(self, units: int) -> None:
        self.spent += units
        if self.limit is not None and self.spent > self.limit:
            raise BudgetExceeded(reason(self.limit), (("budget", str(self.limit)),))
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise BudgetExceeded(
                f"not decided within the host's deadline of {self.deadline_s:g} s (collection"
                " and evaluation; --host-timeout, --scan-timeout, the inventory's timeout_s)",
                ((DEADLINE_DETAIL, f"{self.deadline_s:g}"),),
            )


def reason(limit: int) -> str:
    """The indeterminate message of a requirement the budget cut short."""
    return (
        f"too complex to decide within {limit} steps (the per-target work budget; raise it with"
        " --budget, or narrow the requirement)"
    )
