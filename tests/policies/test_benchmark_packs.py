"""The shipped benchmark packs (policies/benchmarks/, docs/controls.md): every rule cites its
control ids and document, and every check a pack's header lists (`# checks:`) has a rule or an
`undecided:` line saying why not. The DISA STIG pack is proven on the DoD STIG GPO of the corpus:
the GPO that implements the STIG passes its own pack, from both of its exports (Registry.pol,
the registry values the STIG's check text names, and the GPMC gpreport.xml)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from checker import resources
from checker.findings import Status
from checker.pipeline import evaluate_target
from checker.policies.loader import load_policy_set

PACKS = resources.shipped_policies_dir() / "benchmarks"
STIG_GPO = (
    Path(__file__).resolve().parents[2].parent / "shared/corpus/windows/dod-firewall-stig-gpo"
)
FRAMEWORK_OF_PACK = {
    "disa-stig-windows-firewall": "disa-stig",
    "cis-linux-firewall": "cis-ubuntu-22.04",
}


def _pack_files() -> list[Path]:
    return sorted(PACKS.glob("*/*.yaml"))


def test_both_packs_ship() -> None:
    assert {p.parent.name for p in _pack_files()} == set(FRAMEWORK_OF_PACK)


@pytest.mark.parametrize("path", _pack_files(), ids=lambda p: p.parent.name)
def test_every_rule_cites_and_every_listed_check_is_covered(path: Path) -> None:
    policy_set = load_policy_set([path])
    (policy,) = policy_set.policies.values()
    assert policy.source and re.search(r"(Version|v)\s?\d", policy.source), policy.source
    requirements = policy_set.requirements_for(policy.roles)
    framework = FRAMEWORK_OF_PACK[path.parent.name]
    covered: set[str] = set()
    for requirement in requirements:
        own = [c for c in requirement.controls if c.startswith(framework + ":")]
        assert own, f"{requirement.key} has no {framework} control id"
        # STIG vulnerability ids (V-…) are aliases of the STIG ids the header lists.
        covered.update(c.split(":", 1)[1] for c in own if ":V-" not in c)
        # The title cites the recommendation, so a reader of any report sees it.
        assert any(c.split(":", 1)[1] in requirement.title for c in own), requirement.title
    header = path.read_text().split("\nversion:")[0]
    listed = {i for line in re.findall(r"^# checks:(.*)$", header, re.M) for i in line.split()}
    undecided = {
        i for line in re.findall(r"^#\s+undecided:([^(]*)", header, re.M) for i in line.split()
    }
    assert listed, "the pack header lists no checks"
    assert not (listed - covered - undecided), "listed checks with no rule and no explanation"
    assert not (covered - listed), "rules for checks the header does not list"


@pytest.mark.parametrize("export", ["registry.pol", "gpreport.xml"])
def test_the_dod_stig_gpo_passes_its_own_pack(export: str) -> None:
    path = STIG_GPO / export
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared corpus sits beside the checkout)")
    policy_set = load_policy_set([PACKS / "disa-stig-windows-firewall"])
    requirements = policy_set.requirements_for(["disa-stig-windows-firewall"])
    findings, platform, problems = evaluate_target(
        "stig-gpo", [(str(path), path.read_bytes())], requirements
    )
    assert platform == "windows" and not problems
    assert len(findings) == 20
    assert [f.rule for f in findings if f.status is not Status.PASS] == []
    for finding in findings:
        # Each pass names the Group Policy value that decides it (no Windows default).
        (evidence,) = finding.evidence
        assert "gpo store" in evidence.text and "default" not in evidence.text


def test_a_local_store_export_fails_the_logging_checks_with_named_values() -> None:
    path = STIG_GPO.parent / "firewall.wfw"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    policy_set = load_policy_set([PACKS / "disa-stig-windows-firewall"])
    requirements = policy_set.requirements_for(["disa-stig-windows-firewall"])
    findings, _, _ = evaluate_target("wfw", [(str(path), path.read_bytes())], requirements)
    status = {f.rule: f.status for f in findings}
    # LogFileSize 4096 in the export: below the STIG's 16,384 KB.
    assert status["wnfwa-000009"] is Status.FAIL
    size = next(f for f in findings if f.rule == "wnfwa-000009")
    assert "LogFileSize = 4096" in size.evidence[0].text
    # Only Group Policy can turn local merging off, and no GPO export was given.
    assert status["wnfwa-000024"] is Status.INDETERMINATE
