"""The collector JSON and the .reg export of the same host decide every requirement the same way,
and the shipped examples give the verdicts their names promise (checked against the shipped
policies through the policy loader)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from checker import resources
from checker.engine.windows.engine import check
from checker.findings import Status
from checker.parsers.windows import windows_json, windows_reg
from checker.policies.loader import load_policy_set

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples" / "windows"
DATA = Path(__file__).resolve().parent / "data"
CLIENT_JSON = DATA / "onesite-patch-client-noncompliant.windows.json"
CLIENT_REG = EXAMPLES / "onesite-patch-client-noncompliant.reg"


def rule_ids(verdict) -> list[str]:  # type: ignore[no-untyped-def]
    """The IDs of the rules cited (profile settings left out: their locations differ by format)."""
    ids = [e.text.split(" ", 1)[0] for e in verdict.evidence]
    return [i for i in ids if i not in ("domain", "private", "public")]


def policies():  # type: ignore[no-untyped-def]
    return load_policy_set([REPO / "policies"])


def test_fixture_is_valid_against_the_schema() -> None:
    schema = json.loads(resources.schema_path("windows-collect.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(json.loads(CLIENT_JSON.read_text()))


def test_json_and_reg_check_the_same() -> None:
    from_json = windows_json.parse(CLIENT_JSON.read_bytes(), str(CLIENT_JSON))
    from_reg = windows_reg.parse(CLIENT_REG.read_bytes(), str(CLIENT_REG))
    assert len(from_json.rules) == len(from_reg.rules) == 8
    requirements = policies().requirements_for(["onesite-patch-client", "baseline"])
    assert len(requirements) > 10
    statuses = set()
    for requirement in requirements:
        a, b = check(from_json, requirement), check(from_reg, requirement)
        assert (a.status, a.counterexample) == (b.status, b.counterexample), requirement.key
        assert rule_ids(a) == rule_ids(b), requirement.key
        statuses.add(a.status)
    assert Status.FAIL in statuses and Status.PASS in statuses


def test_active_profiles_from_the_collector_narrow_the_check() -> None:
    """The UDP rule is Domain-only: on a host whose only network is Domain, the client passes."""
    document = json.loads(CLIENT_JSON.read_text())
    document["active_profiles"] = ["Domain"]
    ruleset = windows_json.parse(json.dumps(document).encode(), "client.json")
    assert ruleset.active_profiles == frozenset({"domain"})
    requirement = next(
        r
        for r in policies().requirements_for(["onesite-patch-client"])
        if r.rule_id == "in-udp-34324"
    )
    assert check(ruleset, requirement).status == Status.PASS
    document["active_profiles"] = ["Public"]
    ruleset = windows_json.parse(json.dumps(document).encode(), "client.json")
    verdict = check(ruleset, requirement)
    assert verdict.status == Status.FAIL and verdict.message.startswith("public profile:")


def test_json_schema_errors_are_parse_errors() -> None:
    document = json.loads(CLIENT_JSON.read_text())
    document["rules"][0]["Direction"] = "Sideways"
    with pytest.raises(windows_json.ParseError) as caught:
        windows_json.parse(json.dumps(document).encode(), "bad.json")
    assert "/rules/0/Direction" in str(caught.value)


@pytest.mark.parametrize(
    ("example", "roles", "expected"),
    [
        ("onesite-patch-server-compliant.reg", ["onesite-patch-server"], {Status.PASS}),
        ("pads4-server-compliant.reg", ["pads4-server"], {Status.PASS}),
        (
            "onesite-patch-client-noncompliant.reg",
            ["onesite-patch-client"],
            {Status.PASS, Status.FAIL},
        ),
    ],
)
def test_examples(example: str, roles: list[str], expected: set[Status]) -> None:
    path = EXAMPLES / example
    ruleset = windows_reg.parse(path.read_bytes(), str(path))
    verdicts = {r.rule_id: check(ruleset, r) for r in policies().requirements_for(roles)}
    assert {v.status for v in verdicts.values()} == expected
    if Status.FAIL in expected:
        kernel = verdicts["in-udp-34750-system"]
        assert kernel.status == Status.FAIL
        assert (
            kernel.counterexample
            == "udp 203.0.113.7:49152 -> 192.0.2.10:34750 ipv4 profile domain program system"
        )
        blocked = verdicts["out-tcp-443"]
        assert blocked.evidence[0].text.startswith(
            '{9E6F1B2A-77C4-4D3E-A1B2-000000000010} "Block Adaptiva cloud'
        )
        assert blocked.evidence[0].line > 0
        public_only = verdicts["in-udp-34324"]
        assert public_only.status == Status.FAIL
        assert dict(public_only.details)["domain"].startswith("pass")
