"""`fwcheck merge` reads requirements back from the JSON report's descriptions, exactly or not
at all: every shipped policy rule round-trips, and so do random requirements."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from checker import resources
from checker.errors import Location
from checker.findings import Severity
from checker.fleet.requirement_text import requirement_from_rule
from checker.policies.loader import load_policy_set
from checker.policies.model import Direction, Expect, Requirement
from checker.reports import RunReport
from checker.reports.json_report import to_dict


def rule_entry(requirement: Requirement) -> dict:
    report = RunReport("t", "2024-01-01T00:00:00Z", (), (), (requirement,))
    (entry,) = to_dict(report)["rules"]
    return entry


def test_every_shipped_rule_round_trips() -> None:
    policy_set = load_policy_set([resources.shipped_policies_dir()])
    roles = {role for policy in policy_set.policies.values() for role in policy.roles}
    checked = 0
    for role in sorted(roles):
        for requirement in policy_set.requirements_for([role]):
            # The JSON report keeps the policy rule's file and line, not its column.
            origin = Location(requirement.origin.file, requirement.origin.line)
            expected = dataclasses.replace(requirement, origin=origin)
            assert requirement_from_rule(rule_entry(requirement)) == expected
            checked += 1
    assert checked >= 80


def _ranges(family: int) -> st.SearchStrategy:
    top = 2**32 - 1 if family == 4 else 2**128 - 1
    return st.tuples(st.just(family), st.integers(0, top), st.integers(0, top)).map(
        lambda r: (r[0], min(r[1], r[2]), max(r[1], r[2]))
    )


_RANGE_LISTS = st.lists(st.one_of(_ranges(4), _ranges(6)), min_size=1, max_size=3).map(tuple)


@settings(max_examples=300, deadline=None)
@given(
    direction=st.sampled_from(Direction),
    expect=st.sampled_from(Expect),
    protocol=st.one_of(st.none(), st.sampled_from([1, 6, 17, 58, 47, 132])),
    ports=st.one_of(
        st.none(),
        st.lists(
            st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(lambda p: (min(p), max(p))),
            max_size=4,
        ).map(tuple),
    ),
    remote=st.one_of(st.none(), _RANGE_LISTS),
    except_remote=st.one_of(st.just(()), _RANGE_LISTS),
    local=st.one_of(st.none(), _RANGE_LISTS),
    program=st.one_of(
        st.none(), st.sampled_from([r"C:\Program Files\App\app.exe", "%SystemRoot%\\x.exe"])
    ),
    service=st.one_of(st.none(), st.sampled_from(["RpcSs", "Dnscache"])),
    profiles=st.frozensets(st.sampled_from(["domain", "private", "public"])),
    icmp_type=st.one_of(st.none(), st.integers(0, 255)),
    families=st.sampled_from([frozenset({4}), frozenset({6}), frozenset({4, 6})]),
)
def test_random_requirements_round_trip(**fields: object) -> None:
    requirement = Requirement(
        policy_id="p",
        rule_id="r",
        title="t",
        severity=Severity.HIGH,
        origin=Location("policies/p.yaml", 3),
        **fields,  # type: ignore[arg-type]
    )
    parsed = requirement_from_rule(rule_entry(requirement))
    assert parsed is not None
    assert rule_entry(parsed) == rule_entry(requirement)
    assert parsed == requirement
