"""Policy format v1.1 `exclusive:` (docs/policy-format.md, "Exclusive policies"): one
`exclusive-<direction>` requirement per direction, "both" for the two, v1 policies refused."""

from __future__ import annotations

import pytest

from checker.errors import PolicyError
from checker.policies.loader import load_policy_set
from checker.policies.model import Direction, Expect

RULE = """\
rules:
  - id: ssh
    title: ssh
    expect: allow
    direction: inbound
    protocol: tcp
    port: 22
"""


def requirements(write_policy, text: str):
    return load_policy_set([write_policy(text)]).requirements_for(["r"], {})


@pytest.mark.parametrize(
    ("written", "ids"),
    [
        ("[inbound]", ["exclusive-inbound"]),
        ("[outbound]", ["exclusive-outbound"]),
        ("[both]", ["exclusive-inbound", "exclusive-outbound"]),
        ("[outbound, inbound]", ["exclusive-inbound", "exclusive-outbound"]),
    ],
)
def test_one_requirement_per_direction(write_policy, written: str, ids: list[str]) -> None:
    found = requirements(write_policy, f"exclusive: {written}\n" + RULE)
    assert [r.rule_id for r in found] == ["ssh", *ids]
    exclusive = [r for r in found if r.exclusive]
    assert [r.key for r in exclusive] == [f"p/{i}" for i in ids]
    for r in exclusive:
        # The space of "every new flow": any protocol, port, source port, peer, family.
        assert r.expect is Expect.DENY and r.protocol is None and r.ports is None
        assert r.remote is None and r.local is None and r.source_ports is None
        assert r.families == frozenset({4, 6})
    assert {r.direction for r in exclusive} == {Direction(i.split("-")[1]) for i in ids}


def test_without_exclusive_nothing_is_added(write_policy) -> None:
    assert [r.rule_id for r in requirements(write_policy, RULE)] == ["ssh"]


def test_an_exclusive_policy_needs_no_rules(write_policy) -> None:
    (found,) = requirements(write_policy, "exclusive: [inbound]\n")
    assert found.rule_id == "exclusive-inbound"


@pytest.mark.parametrize("bad", ["[sideways]", "inbound", "[]"])
def test_bad_values_are_schema_problems(write_policy, bad: str) -> None:
    with pytest.raises(PolicyError) as caught:
        requirements(write_policy, f"exclusive: {bad}\n" + RULE)
    assert any("exclusive" in p.message for p in caught.value.problems)


def test_version_1_may_not_use_it(write_policy) -> None:
    with pytest.raises(PolicyError) as caught:
        requirements(write_policy, "version: 1\nexclusive: [inbound]\n" + RULE)
    (problem,) = caught.value.problems
    assert problem.code == "version" and "exclusive is new in format v1.1" in problem.message
    assert problem.line == 5


def test_listed_and_described_as_exclusive(write_policy) -> None:
    from checker.commands.policies import format_requirement
    from checker.reports.data import describe_requirement

    (found,) = requirements(write_policy, "exclusive: [outbound]\n")
    assert format_requirement(found).startswith("exclusive outbound: every new flow accepted")
    assert describe_requirement(found).startswith("every new outbound flow accepted must be")
