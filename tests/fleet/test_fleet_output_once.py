"""A real scan (issue 13): a host that cannot be collected (its sshd's key is not known) is one
console line, one JUnit error testcase with its rules skipped and one SARIF notification, not one
identical error per rule; the JSON report still has a result per rule."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sshlab
from fleet_support import results, write_inventory, write_policy

from checker.cli import main


def test_a_dead_host_is_reported_once(
    fleet_lab: sshlab.SshLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = write_policy(tmp_path)
    inventory = write_inventory(tmp_path, fleet_lab, ["web1"], strangers=("gone1",))
    reports = {name: tmp_path / f"r.{name}" for name in ("json", "junit", "sarif")}
    code = main(
        [
            "scan", "--inventory", str(inventory), "--policies", str(policy),
            "--no-user-known-hosts", "--no-history", "--color", "never",
            *(arg for name, path in reports.items() for arg in (f"--{name}", str(path))),
        ]
    )  # fmt: skip
    assert code == 3
    out = capsys.readouterr().out
    gone = [line for line in out.splitlines() if "ERROR" in line]
    assert len(gone) == 1 and "5 rules" in gone[0], out
    assert out.splitlines()[-1].endswith("gate --fail-on info: error")

    statuses = {s for (t, _, _), (s, _) in results(reports["json"]).items() if t == "gone1"}
    every = json.loads(reports["json"].read_text())["results"]
    # One result per policy rule and host; the scan adds web1's exposure results (its sshd).
    assert statuses == {"error"} and len([r for r in every if r["policy"] != "exposure"]) == 10

    root = ET.parse(reports["junit"]).getroot()
    cases = [c for c in root.iter("testcase") if c.get("classname", "").startswith("gone1.")]
    assert sum(c.find("error") is not None for c in cases) == 1
    assert sum(c.find("skipped") is not None for c in cases) == 5

    run = json.loads(reports["sarif"].read_text())["runs"][0]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    errors = [n for n in notes if n["level"] == "error"]
    assert len(errors) == 1 and errors[0]["message"]["text"].startswith("gone1: ")
    assert run["invocations"][0]["properties"]["fwcheck/verdict"] == "error"
