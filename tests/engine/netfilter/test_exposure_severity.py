"""Exposure severity per role (docs/policy-format.md, "Exposure severity per role"): a policy's
`exposure_severity` sets the severity of the exposure results of the targets its roles give it;
the highest of the target's policies wins, high when none sets it. Run as a user would:
`fwcheck check --role … --fail-on …` on an iptables-save and an `ss -tulpn` output, with the
policies in a folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_exposure import SS, V4, V6

from checker.cli import main
from checker.errors import PolicyError
from checker.findings import Severity
from checker.policies.loader import load_policy_set


def role_policy(role: str, severity: str) -> str:
    """A v1.1 policy for `role` that declares SSH from the management network (which the
    export allows, so the policy's own result passes) and sets the role's exposure severity."""
    return f"""\
version: 1.1
id: {role}
title: {role} machines
roles: [{role}]
exposure_severity: {severity}
rules:
  - {{id: ssh, title: SSH, expect: allow, direction: inbound, protocol: tcp, port: 22,
     remote: 10.0.0.0/8}}
"""


LAB = role_policy("lab", "low")
DB = role_policy("db", "critical")
PLAIN = """\
version: 1
id: plain
title: No exposure severity
roles: [plain]
rules:
  - {id: ssh, title: SSH, expect: allow, direction: inbound, protocol: tcp, port: 22}
"""


def _write(folder: Path) -> Path:
    policies = folder / "policies"
    policies.mkdir()
    for name, text in (("lab", LAB), ("db", DB), ("plain", PLAIN)):
        (policies / f"{name}.yaml").write_text(text, encoding="utf-8")
    for name, data in (("h.iptables-save", V4), ("h.ip6tables-save", V6), ("ss.txt", SS)):
        (folder / name).write_bytes(data)
    return policies


def _check(folder: Path, roles: list[str], fail_on: str = "info") -> tuple[int, dict]:
    policies = _write(folder) if not (folder / "policies").exists() else folder / "policies"
    report = folder / f"{'-'.join(roles)}-{fail_on}.json"
    code = main(
        [
            "check",
            "--no-builtin-policies",
            "--policies",
            str(policies),
            *(a for role in roles for a in ("--role", role)),
            "--fail-on",
            fail_on,
            "--json",
            str(report),
            "--quiet",
            *(str(folder / n) for n in ("h.iptables-save", "h.ip6tables-save", "ss.txt")),
        ]
    )
    results = json.loads(report.read_text())["results"]
    return code, {r["rule"]: r for r in results if r["policy"] == "exposure"}


@pytest.mark.parametrize(
    ("roles", "severity"),
    [(["plain"], "high"), (["lab"], "low"), (["db"], "critical"), (["lab", "db"], "critical")],
)
def test_the_roles_policies_set_the_severity(
    tmp_path: Path, roles: list[str], severity: str
) -> None:
    _code, found = _check(tmp_path, roles)
    # java on 8080 is reachable from anywhere and declared by no policy: a fail.
    web = found["tcp-8080"]
    assert web["status"] == "fail" and web["severity"] == severity
    # "allowed but unused" stays info whatever the role says.
    assert all(r["severity"] == "info" for k, r in found.items() if k.startswith("unused-"))


def test_fail_on_gates_by_the_role_severity(tmp_path: Path) -> None:
    """A lab machine's exposure (low) does not fail a `--fail-on medium` gate; the same host as
    a database server (critical) does. The policies' own results all pass or are below."""
    lab_code, lab = _check(tmp_path, ["lab"], "medium")
    db_code, db = _check(tmp_path, ["db"], "medium")
    assert lab["tcp-8080"]["status"] == db["tcp-8080"]["status"] == "fail"
    assert (lab_code, db_code) == (0, 1)


def test_a_v1_policy_may_not_set_it(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PLAIN + "exposure_severity: low\n", encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy_set([path])
    (problem,) = caught.value.problems
    assert problem.code == "version" and problem.line == 7
    assert "exposure_severity is new in format v1.1" in problem.message


def test_bad_value_is_a_schema_problem(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(LAB.replace("exposure_severity: low", "exposure_severity: huge"))
    with pytest.raises(PolicyError) as caught:
        load_policy_set([path])
    assert any("exposure_severity" in p.message for p in caught.value.problems)


def test_included_policies_keep_their_own(tmp_path: Path) -> None:
    """Requirements carry their own policy's setting: an including policy does not pass its
    severity to what it includes (the highest over the target's policies is taken anyway)."""
    (tmp_path / "lab.yaml").write_text(LAB.replace("rules:", "include: [db]\nrules:"))
    (tmp_path / "db.yaml").write_text(DB)
    requirements = load_policy_set([tmp_path]).requirements_for(["lab"])
    by_policy = {r.policy_id: r.exposure_severity for r in requirements}
    assert by_policy == {"lab": Severity.LOW, "db": Severity.CRITICAL}
