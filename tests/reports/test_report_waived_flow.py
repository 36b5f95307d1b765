"""Waivers through every report: waived results are skipped/suppressed, an expired waiver is its
own result pointing at the waiver's line."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date
from pathlib import Path

import jsonschema
from report_samples import sample_report

from checker.findings import Status
from checker.reports import console, junit, sarif
from checker.reports.data import ReportOptions
from checker.waivers import apply_waivers, load_waivers

WAIVERS = """\
waivers:
  - rule: baseline/no-telnet
    target: web*
    reason: replacement ordered
    owner: netops
    expires: 2030-01-01
  - rule: ssh/*
    reason: old exception
    owner: alice
    expires: 2020-01-01
"""


def test_waivers_in_sarif_junit_and_console(
    repo: Path, options: ReportOptions, shared_dir: Path
) -> None:
    (repo / "waivers.yaml").write_text(WAIVERS)
    report = sample_report()
    findings, reported = apply_waivers(
        report.findings, load_waivers("waivers.yaml"), date(2025, 1, 1)
    )
    report = replace(report, findings=tuple(findings) + tuple(reported))

    document = json.loads(sarif.render(report, options))
    schema = json.loads((shared_dir / "schemas/sarif-2.1.0.json").read_text())
    assert not list(jsonschema.Draft4Validator(schema).iter_errors(document))
    results = {
        (r["properties"]["fwcheck/target"], r["ruleId"]): r for r in document["runs"][0]["results"]
    }
    telnet = results[("web1", "baseline/no-telnet")]
    assert telnet["suppressions"][0]["justification"].startswith("replacement ordered")
    assert results[("web1", "ssh/admin-only")]["suppressions"] == []  # expired: not waived
    expired = results[("waivers.yaml", "fwcheck-waivers/expired-waiver")]
    location = expired["locations"][0]["physicalLocation"]
    assert (location["artifactLocation"]["uri"], location["region"]["startLine"]) == (
        "waivers.yaml",
        7,
    )
    assert expired["level"] == "note"

    root = ET.fromstring(junit.render(report, options))
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    skipped = cases[("web1.baseline", "no-telnet")].find("skipped")
    assert skipped is not None and skipped.get("message", "").startswith(
        "waived: replacement ordered"
    )
    assert cases[("web1.ssh", "admin-only")].find("failure") is not None
    failure = cases[("waivers.yaml.fwcheck-waivers", "expired-waiver - expired waiver")].find(
        "failure"
    )
    assert failure is not None and failure.get("type") == "low"

    text = console.render(report, color=False, quiet=True)
    # A waiver problem at the waiver's file:line, not a failed target named waivers.yaml.
    assert "waivers.yaml: WAIVER PROBLEM waivers.yaml:" in text
    assert "FAIL [low] fwcheck-waivers" not in text
    assert text.splitlines()[-1] == (
        "3 passed, 3 failed, 1 indeterminate, 1 errors, 2 waived; gate --fail-on info: error"
    )
    assert sum(f.status is Status.WAIVED for f in report.findings) == 2
