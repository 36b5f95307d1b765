"""Every row of the vendor port tables in ../shared/seeds is encoded in the shipped policies.

The seed tables are parsed (three formats: a markdown table, PADS4's run-together text, 1E's
one-cell-per-line layout) and each row's flows must be covered by the resolved requirements of
its role, includes and default params applied. The drop tests prove the check can fail.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from policy_testing import SHIPPED
from seed_tables import SeedRow, missing_rows, parse_seeds

from checker.cli import main
from checker.policies.loader import PolicySet, load_policy_set

# Rows per table as counted by hand in the seed files (20 + 13 Adaptiva; 7 + 4 + 5 + 1 PADS4;
# 13 + 5 + 6 + 5 + 12 1E), so a parser that silently skips rows fails here.
EXPECTED_ROWS = {
    "adaptiva": 33,
    "pads4": 17,
    "1e/single": 18,
    "1e/catalog": 6,
    "1e/remote-rs": 5,
    "1e/dmz": 12,
}


@pytest.fixture
def seed_rows(shared_dir: Path) -> list[SeedRow]:
    return parse_seeds(shared_dir / "seeds")


def _missing(rows: list[SeedRow], policy_set: PolicySet) -> list[SeedRow]:
    return missing_rows(rows, lambda role: policy_set.requirements_for([role]))


def test_every_seed_row_is_parsed(seed_rows: list[SeedRow]) -> None:
    assert Counter(row.table for row in seed_rows) == EXPECTED_ROWS


def test_every_seed_row_is_covered(seed_rows: list[SeedRow]) -> None:
    policy_set = load_policy_set([SHIPPED])
    missing = _missing(seed_rows, policy_set)
    assert missing == [], "\n".join(f"{row.role}: {row.text}" for row in missing)


def test_each_role_has_its_own_file() -> None:
    """One file per role, named after it (issue 2: "one file per role")."""
    policy_set = load_policy_set([SHIPPED])
    for policy in policy_set.policies.values():
        assert Path(policy.origin.file).stem == policy.id
        assert policy.roles == (policy.id,)
        assert policy.source


def _drop_rule(folder: Path, relative: str, rule_id: str) -> None:
    path = folder / relative
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    kept = [rule for rule in data["rules"] if rule["id"] != rule_id]
    assert len(kept) == len(data["rules"]) - 1, f"{rule_id} not in {relative}"
    data["rules"] = kept
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize(
    ("relative", "rule_id", "roles"),
    [
        ("pads4/pads4-server.yaml", "in-udp-3702", {"pads4-server"}),
        ("pads4/pads4-server.yaml", "local-only-tcp-5671", {"pads4-server"}),
        # The server includes the client: a dropped client rule is missing for both roles.
        (
            "adaptiva/onesite-patch-client.yaml",
            "in-udp-34750-system",
            {"onesite-patch-client", "onesite-patch-server"},
        ),
        ("adaptiva/onesite-patch-server.yaml", "out-icmp-echo", {"onesite-patch-server"}),
        ("1e/1e-dmz-server.yaml", "in-tcp-poke", {"1e-dmz-server"}),
        ("1e/1e-master-stack.yaml", "out-tcp-135-445", {"1e-master-stack"}),
    ],
)
def test_a_dropped_rule_is_reported(
    seed_rows: list[SeedRow], tmp_path: Path, relative: str, rule_id: str, roles: set[str]
) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(SHIPPED, copy)
    _drop_rule(copy, relative, rule_id)
    missing = _missing(seed_rows, load_policy_set([copy]))
    assert missing, f"dropping {rule_id} went unnoticed"
    assert {row.role for row in missing} == roles


def test_a_changed_port_or_program_is_reported(seed_rows: list[SeedRow], tmp_path: Path) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(SHIPPED, copy)
    path = copy / "adaptiva" / "onesite-patch-client.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("port: 3478", "port: 3479"), encoding="utf-8")
    assert {
        row.text.split("|")[1].strip() for row in _missing(seed_rows, load_policy_set([copy]))
    } == {"3478"}
    path.write_text(text.replace("    program: System\n", "", 1), encoding="utf-8")
    missing = _missing(seed_rows, load_policy_set([copy]))
    assert {row.text.split("|")[1].strip() for row in missing} == {"34546"}


def test_policies_command_lists_included_client_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policies", "--policies", str(SHIPPED), "--role", "onesite-patch-server"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("onesite-patch-server: ")
    assert "\nonesite-patch-client: " in out
    assert "  includes: onesite-patch-client" in out
    rule_lines = [
        line for line in out.splitlines() if line.startswith("  allow") or line.startswith("  deny")
    ]
    assert len(rule_lines) == len(
        load_policy_set([SHIPPED]).requirements_for(["onesite-patch-server"])
    )
    assert any(
        line.split()[:5] == ["allow", "inbound", "udp", "34546", "remote"]
        and "program System" in line
        for line in rule_lines
    )
    assert out.rstrip().endswith("2 policies, 25 rules")
