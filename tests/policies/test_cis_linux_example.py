"""examples/cis-linux runs the shipped CIS Linux pack as a user would: `fwcheck check` in that
folder finds its fwcheck.yaml, and the verdicts are the ones its comments promise - db-1 (the
CIS Ubuntu 22.04 iptables remediation) passes every rule of the pack and of its site policy,
legacy-1 fails exactly the three recommendations it breaks, each with the packet or socket and
the rule behind it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema

from checker.errors import ExitCode

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "cis-linux"


# The shared corpus sits beside the checkout (or beside the worktrees' folder).
SARIF_SCHEMA = (
    next(
        (
            path
            for path in (REPO.parent / "shared", REPO.parent.parent / "shared")
            if (path / "schemas" / "sarif-2.1.0.json").is_file()
        ),
        REPO.parent / "shared",
    )
    / "schemas"
    / "sarif-2.1.0.json"
)


def test_the_cis_example_gives_its_documented_verdicts(tmp_path: Path) -> None:
    report, sarif = tmp_path / "cis.json", tmp_path / "cis.sarif"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = ["check", "--json", str(report), "--sarif", str(sarif), "--color", "never"]
    result = subprocess.run(
        [sys.executable, "-m", "checker", *argv],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == ExitCode.VIOLATIONS, result.stdout + result.stderr
    results = json.loads(report.read_text())["results"]
    status = {(r["target"], r["policy"], r["rule"]): r for r in results}
    db = {k: r["status"] for k, r in status.items() if k[0] == "db-1"}
    pack = {rule for (_, policy, rule) in db if policy.startswith("cis-linux-firewall")}
    assert len(pack) == 11 and set(db.values()) == {"pass"}, db
    failed = {
        (policy, rule)
        for (target, policy, rule), r in status.items()
        if target == "legacy-1" and r["status"] != "pass"
    }
    assert failed == {
        ("cis-linux-firewall", "default-deny-output"),
        ("cis-linux-firewall", "spoofed-loopback"),
        ("cis-linux-firewall", "open-ports-have-rules"),
    }
    spoof = status[("legacy-1", "cis-linux-firewall", "spoofed-loopback")]
    assert "127.0.0.1" in spoof["message"] and spoof["evidence"][0]["line"] == 11
    ports = status[("legacy-1", "cis-linux-firewall", "open-ports-have-rules")]
    assert "3306" in ports["message"]
    # Every pack result carries its CIS recommendation ids.
    used: set[str] = set()
    for (_, policy, _), r in status.items():
        if policy.startswith("cis-linux-firewall"):
            assert r["controls"] and all(c.startswith("cis-ubuntu-22.04:") for c in r["controls"])
            used.update(c.split(":", 1)[1] for c in r["controls"])
    _sarif_is_valid_with_the_cis_taxonomy(json.loads(sarif.read_text()), used)


def _sarif_is_valid_with_the_cis_taxonomy(document: dict, used: set[str]) -> None:
    """SARIF 2.1.0 (the OASIS schema in ../shared/schemas), one taxonomy for the CIS
    benchmark whose taxa are the recommendations used, each rule related to its taxa, and
    GitHub's ingestion rules: every result located on a line, at most 10 tags a rule."""
    if SARIF_SCHEMA.is_file():
        jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(document)
    (run,) = document["runs"]
    (cis,) = [t for t in run["taxonomies"] if t["name"] == "cis-ubuntu-22.04"]
    assert {taxon["id"] for taxon in cis["taxa"]} == used
    index = run["taxonomies"].index(cis)
    for rule in run["tool"]["driver"]["rules"]:
        if not rule["id"].startswith("cis-linux-firewall"):
            continue
        assert len(rule["properties"]["tags"]) <= 10
        links = [
            link
            for link in rule["relationships"]
            if link["target"]["toolComponent"]["index"] == index
        ]
        assert {cis["taxa"][link["target"]["index"]]["id"] for link in links} == {
            c.split(":", 1)[1] for c in rule["properties"]["fwcheck/controls"]
        }
    for result in run["results"]:
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1
