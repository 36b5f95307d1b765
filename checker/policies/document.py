"""One policy file: schema check, per-file checks, and the `Policy` it declares.

Set-level checks (duplicate policy ids, includes, cycles) live in checker.policies.includes and
checker.policies.loader; rule values are converted in checker.policies.rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from checker.errors import Problem
from checker.findings import Severity
from checker.policies.exclusive import directions
from checker.policies.model import Policy
from checker.policies.rules import RuleSpec
from checker.yamlfile import YamlDoc, schema_problems

SCHEMA = "policy.schema.json"

# jsonschema says "is not valid under any of the given schemas" for anyOf; say what was expected.
_EXPECTED = {
    "protocol": "tcp, udp, icmp, icmpv6, any, or an IP protocol number 0-255",
    "port": 'a port 0-65535, a range "a-b", "${param}" or "${param+N}", or a list of those',
    "remote": 'any, an address entry, or a list of IPs, CIDRs, ranges "a-b" or "${param}"',
    "except_remote": 'an address entry, or a list of IPs, CIDRs, ranges "a-b" or "${param}"',
    "local": 'any, an address entry, or a list of IPs, CIDRs, ranges "a-b" or "${param}"',
    "controls": "FRAMEWORK:ID with a framework of docs/controls.md (cis, cis-<benchmark>, "
    "disa-stig, nist-800-53, pci-dss, custom) and an id of its form",
    "setting": "{windows_profile: PROFILE, ONE-SETTING: VALUE} or "
    "{netfilter_hook: input|forward|output, default: deny} (docs/controls.md)",
}
_ANY_OF = re.compile(
    r"^(?P<path>[^:]*): (?P<value>.*) is not valid under any of the given schemas$"
)


@dataclass(frozen=True, slots=True)
class PolicyDoc:
    policy: Policy
    rules: tuple[RuleSpec, ...]
    doc: YamlDoc


def _friendly(problem: Problem) -> Problem:
    match = _ANY_OF.match(problem.message)
    if match is None:
        return problem
    keys = [part for part in match["path"].split("/") if not part.isdigit()]
    expected = _EXPECTED.get(keys[-1]) if keys else None
    if expected is None:
        return problem
    message = f"{match['path']}: {match['value']} is not valid: expected {expected}"
    return Problem(problem.file, problem.line, problem.col, problem.code, message)


def declared_id(doc: YamlDoc) -> str | None:
    """The policy id a file declares, even when the rest of the file is broken."""
    if isinstance(doc.data, dict) and isinstance(doc.data.get("id"), str):
        return doc.data["id"]
    return None


def read_policy(doc: YamlDoc, *, schema: bool = True) -> tuple[PolicyDoc | None, list[Problem]]:
    """The policy of one parsed file and its per-file problems. None when the file breaks the
    schema (nothing else can be trusted then); otherwise the policy, even with problems, so that
    its rules are still checked and every problem is reported at once. `schema=False` skips the
    JSON Schema check, for files known to pass it (see loader.load_policy_set)."""
    problems = [_friendly(problem) for problem in schema_problems(doc, SCHEMA)] if schema else []
    if problems:
        return None, problems
    data = doc.data
    rules = tuple(RuleSpec(doc, index) for index in range(len(data.get("rules", []))))
    first_seen: dict[str, RuleSpec] = {}
    for spec in rules:
        if spec.rule_id in first_seen:
            first = first_seen[spec.rule_id].location()
            problems.append(
                Problem.at(
                    spec.location("id"),
                    "duplicate-rule",
                    f"duplicate rule id {spec.rule_id!r} (first defined at line {first.line})",
                )
            )
        else:
            first_seen[spec.rule_id] = spec
    if data.get("version") == 1 and "controls" in data:
        problems.append(
            Problem.at(
                doc.location(("controls",)),
                "version",
                "controls is new in format v1.1: write version: 1.1",
            )
        )
    for key in ("exclusive", "exposure_severity"):
        if key in data and data.get("version") == 1:
            problems.append(
                Problem.at(
                    doc.location((key,)),
                    "version",
                    f"{key} is new in format v1.1: write version: 1.1",
                )
            )
    if not rules and not data.get("include") and not data.get("exclusive"):
        problems.append(
            Problem.at(
                doc.location(("id",)),
                "empty-policy",
                "the policy has no rules and includes nothing, so it would check nothing",
            )
        )
    policy = Policy(
        id=data["id"],
        title=data.get("title") or data["id"],
        roles=tuple(data["roles"]),
        include=tuple(data.get("include", ())),
        source=data.get("source"),
        params=tuple(data.get("params", {}).items()),
        origin=doc.location(("id",)),
        controls=tuple(data.get("controls", ())),
        exclusive=directions(data.get("exclusive")),
        exposure_severity=Severity(data["exposure_severity"])
        if "exposure_severity" in data
        else None,
    )
    return PolicyDoc(policy, rules, doc), problems
