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

from checker.errors import ExitCode

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "cis-linux"


def test_the_cis_example_gives_its_documented_verdicts(tmp_path: Path) -> None:
    report = tmp_path / "cis.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "checker", "check", "--json", str(report), "--color", "never"],
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
    for (_, policy, _), r in status.items():
        if policy.startswith("cis-linux-firewall"):
            assert r["controls"] and all(c.startswith("cis-ubuntu-22.04:") for c in r["controls"])
