"""The per-target work budget on the Windows engine (issue 16): a wide question over many
address-scoped rules ends as "too complex to decide within N steps" instead of running for
minutes (1,000 such rules under "every inbound tcp port" took over 120 s), and a small ruleset
is decided as before. Work is counted in steps, not seconds: nothing here is timed."""

from __future__ import annotations

import random

from windows_builders import requirement, ruleset

from checker.engine.budget import DEFAULT_BUDGET, Budget
from checker.engine.windows import engine as windows
from checker.findings import Status


def scoped_rules(count: int) -> list[str]:
    pick = random.Random(3)
    return [
        f"R{i}=v2.30|Action={'Allow' if i % 3 else 'Block'}|Active=TRUE|Dir=In|Protocol=6"
        f"|LPort={pick.randrange(1, 65535)}|RA4=10.{i % 256}.{pick.randrange(256)}.0/24"
        f"|App=C:\\\\p{i % 50}.exe|Name=r{i}|"
        for i in range(count)
    ]


def test_a_wide_question_over_many_rules_stops_at_the_budget() -> None:
    rules = ruleset(*scoped_rules(1000))
    budget = Budget(DEFAULT_BUDGET)
    verdict = windows.check(rules, requirement(ports=None), budget=budget)
    assert verdict.status is Status.INDETERMINATE
    assert f"too complex to decide within {DEFAULT_BUDGET} steps" in verdict.message
    assert ("budget", str(DEFAULT_BUDGET)) in verdict.details
    # The budget is the target's: the next requirement on it is cut at once, never passed.
    again = windows.check(rules, requirement(ports=[(1, 1024)]), budget=budget)
    assert again.status is Status.INDETERMINATE


def test_a_small_ruleset_is_decided_within_the_budget() -> None:
    rules = ruleset(*scoped_rules(30))
    bounded = windows.check(rules, requirement(ports=None), budget=Budget(DEFAULT_BUDGET))
    unbounded = windows.check(rules, requirement(ports=None))
    assert bounded == unbounded
    assert bounded.status is Status.FAIL
