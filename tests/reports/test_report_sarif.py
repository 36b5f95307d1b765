"""SARIF 2.1.0: schema-valid (../shared/schemas/sarif-2.1.0.json via jsonschema), and every rule
of issue 5 that GitHub code scanning enforces or relies on."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_samples import WEB_RULES, finding, requirement, sample_report

from checker.findings import Evidence, Severity, Status
from checker.reports import sarif
from checker.reports.data import ReportOptions, RunReport, TargetInfo

SCHEMA_FILE = Path(__file__).resolve().parents[2].parent / "shared/schemas/sarif-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    if not SCHEMA_FILE.is_file():
        pytest.skip(f"{SCHEMA_FILE} is absent (it sits beside the checkout in CI only)")
    schema = json.loads(SCHEMA_FILE.read_text())
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def _doc(
    report: RunReport, options: ReportOptions, validator: jsonschema.Draft4Validator | None = None
) -> dict[str, Any]:
    document = json.loads(sarif.render(report, options))
    if validator is not None:
        errors = sorted(validator.iter_errors(document), key=str)
        assert not errors, errors[0]
    return document


def _results(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (r["properties"]["fwcheck/target"], r["ruleId"]): r for r in document["runs"][0]["results"]
    }


def test_valid_and_driver_complete(
    options: ReportOptions, validator: jsonschema.Draft4Validator
) -> None:
    document = _doc(sample_report(), options, validator)
    assert document["version"] == "2.1.0" and document["$schema"].startswith("https://")
    driver = document["runs"][0]["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("fwcheck", "0.1.0")
    assert driver["informationUri"].startswith("https://")


def test_one_rule_per_policy_rule_with_help_and_security_severity(
    options: ReportOptions, validator: jsonschema.Draft4Validator
) -> None:
    report = sample_report()
    rules = _doc(report, options, validator)["runs"][0]["tool"]["driver"]["rules"]
    by_id = {rule["id"]: rule for rule in rules}
    assert [r["id"] for r in rules[: len(report.requirements)]] == [
        r.key for r in report.requirements
    ]
    assert len(by_id) == len(rules)  # no duplicate rule ids
    telnet = by_id["baseline/no-telnet"]
    assert telnet["shortDescription"]["text"] == "Telnet is closed"
    assert "inbound tcp to port 23" in telnet["fullDescription"]["text"]
    assert "must be denied" in telnet["help"]["text"]
    assert "CIS Debian Linux 12 Benchmark" in telnet["help"]["text"]
    assert (
        "**Required:**" in telnet["help"]["markdown"]
        and "Benchmark v1" in telnet["help"]["markdown"]
    )
    assert by_id["ssh/admin-only"]["helpUri"] == "https://example.org/ssh-standard"
    scores = {
        key: float(by_id[key]["properties"]["security-severity"])
        for key in (
            "baseline/no-telnet",
            "baseline/no-rdp",
            "baseline/no-smb",
            "baseline/icmp-echo",
            "baseline/no-x11",
        )
    }
    # GitHub's bands: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
    assert scores["baseline/no-telnet"] >= 9.0
    assert 7.0 <= scores["baseline/no-rdp"] < 9.0
    assert 4.0 <= scores["baseline/no-smb"] < 7.0
    assert 0.1 <= scores["baseline/icmp-echo"] < 4.0
    assert 0.1 <= scores["baseline/no-x11"] < scores["baseline/icmp-echo"]


def test_only_fail_indeterminate_and_waived_are_results(options: ReportOptions) -> None:
    results = _results(_doc(sample_report(), options))
    assert set(results) == {
        ("web1", "baseline/no-telnet"),
        ("web1", "baseline/no-smb"),
        ("web1", "baseline/no-x11"),
        ("web1", "ssh/admin-only"),
        ("db1", "baseline/no-rdp"),
    }
    assert results[("web1", "baseline/no-smb")]["properties"]["fwcheck/status"] == "indeterminate"
    assert results[("web1", "baseline/no-smb")]["message"]["text"].startswith("Indeterminate")
    rules = _doc(sample_report(), options)["runs"][0]["tool"]["driver"]["rules"]
    for result in results.values():
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_every_result_has_repo_relative_location_with_line(options: ReportOptions) -> None:
    for result in _doc(sample_report(), options)["runs"][0]["results"]:
        assert len(result["locations"]) >= 1
        physical = result["locations"][0]["physicalLocation"]
        uri = physical["artifactLocation"]["uri"]
        assert not uri.startswith(("/", "file:")) and ":" not in uri
        assert physical["region"]["startLine"] >= 1


def test_location_is_the_deciding_rule_when_in_a_file(options: ReportOptions) -> None:
    result = _results(_doc(sample_report(), options))[("web1", "baseline/no-telnet")]
    physical = result["locations"][0]["physicalLocation"]
    assert (physical["artifactLocation"]["uri"], physical["region"]["startLine"]) == (WEB_RULES, 12)
    related = [
        (
            r["physicalLocation"]["artifactLocation"]["uri"],
            r["physicalLocation"]["region"]["startLine"],
        )
        for r in result["relatedLocations"]
    ]
    assert related == [(WEB_RULES, 3), ("policies/baseline.yaml", 10)]
    assert [r["id"] for r in result["relatedLocations"]] == [1, 2]


def test_live_host_points_at_the_policy_rule(options: ReportOptions) -> None:
    # db1 was collected over SSH: its evidence names a host, not a file in the repository.
    result = _results(_doc(sample_report(), options))[("db1", "baseline/no-rdp")]
    physical = result["locations"][0]["physicalLocation"]
    assert (physical["artifactLocation"]["uri"], physical["region"]["startLine"]) == (
        "policies/baseline.yaml",
        20,
    )
    assert "ssh://db1.example.net:4" in result["message"]["text"]


def test_absolute_paths_become_relative(repo: Path, validator: jsonschema.Draft4Validator) -> None:
    absolute = str(repo / WEB_RULES)
    report = sample_report()
    first = report.findings[0]
    moved = replace(
        first,
        evidence=(Evidence(absolute, 12, "x"),),
        policy_file=str(repo / "policies/baseline.yaml"),
    )
    report = replace(report, findings=(moved,), targets=(TargetInfo("web1", files=(absolute,)),))
    result = _doc(report, ReportOptions(repo_root=repo), validator)["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == WEB_RULES


def test_policy_outside_repo_uses_policyroot(
    tmp_path: Path, validator: jsonschema.Draft4Validator
) -> None:
    repo = tmp_path / "repo"
    shipped = tmp_path / "site-packages/checker/_data/policies"
    repo.mkdir()
    shipped.mkdir(parents=True)
    policy_file = shipped / "base line.yaml"
    policy_file.write_text("x\n")
    only = finding(
        "live", "baseline", "no-telnet", Status.FAIL, policy_file=str(policy_file), policy_line=4
    )
    report = RunReport("0.1.0", "2024-05-01T00:00:00Z", (TargetInfo("live"),), (only,), ())
    document = _doc(report, ReportOptions(repo_root=repo, policy_root=shipped), validator)
    location = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "base%20line.yaml", "uriBaseId": "POLICYROOT"}
    assert document["runs"][0]["originalUriBaseIds"]["POLICYROOT"]["uri"].startswith("file:///")


def test_a_result_without_any_location_still_gets_one(
    tmp_path: Path, validator: jsonschema.Draft4Validator
) -> None:
    bare = finding("host", "p", "r", Status.FAIL, policy_file=None, policy_line=0)
    document = _doc(
        RunReport("0.1.0", "2024-05-01T00:00:00Z", (), (bare,), ()),
        ReportOptions(repo_root=tmp_path),
        validator,
    )
    region = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == 1


def test_fingerprints_stable_across_line_moves_and_counters(options: ReportOptions) -> None:
    report = sample_report()
    before = _results(_doc(report, options))
    telnet = report.findings[0]
    moved = replace(
        telnet,
        evidence=(
            Evidence(WEB_RULES, 40, "[999:123456]   -A INPUT -p tcp -m tcp --dport 23  -j ACCEPT"),
            Evidence(WEB_RULES, 2, ":INPUT DROP [7:8]"),
        ),
        policy_line=99,
    )
    after = _results(_doc(replace(report, findings=(moved,) + report.findings[1:]), options))
    key = ("web1", "baseline/no-telnet")
    # The chain-policy line ":INPUT DROP [0:0]" carries counters at the end: normalized too.
    assert after[key]["partialFingerprints"] == before[key]["partialFingerprints"]
    changed = replace(
        telnet, evidence=(Evidence(WEB_RULES, 12, "-A INPUT -p tcp --dport 2323 -j ACCEPT"),)
    )
    other = _results(_doc(replace(report, findings=(changed,) + report.findings[1:]), options))
    assert other[key]["partialFingerprints"] != before[key]["partialFingerprints"]
    retarget = replace(telnet, target="web2")
    third = _results(_doc(replace(report, findings=(retarget,) + report.findings[1:]), options))
    assert (
        third[("web2", "baseline/no-telnet")]["partialFingerprints"]
        != before[key]["partialFingerprints"]
    )
    fingerprints = [r["partialFingerprints"]["fwcheck/v1"] for r in before.values()]
    assert len(set(fingerprints)) == len(fingerprints)


def test_suppressions_on_every_result_once_one_is_waived(
    options: ReportOptions, validator: jsonschema.Draft4Validator
) -> None:
    results = _results(_doc(sample_report(), options, validator))
    waived = results[("web1", "baseline/no-x11")]
    assert waived["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "lab display server (owner ops, expires 2099-01-01)",
        }
    ]
    for key, result in results.items():
        assert "suppressions" in result
        if key != ("web1", "baseline/no-x11"):
            assert result["suppressions"] == []
    report = sample_report()
    no_waiver = replace(
        report, findings=tuple(f for f in report.findings if f.status is not Status.WAIVED)
    )
    assert all("suppressions" not in r for r in _doc(no_waiver, options)["runs"][0]["results"])


def test_unreadable_target_is_an_error_notification(
    options: ReportOptions, validator: jsonschema.Draft4Validator
) -> None:
    invocation = _doc(sample_report(), options, validator)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    texts = [
        n["message"]["text"]
        for n in invocation["toolExecutionNotifications"]
        if n["level"] == "error"
    ]
    assert texts == ["broken: exports/broken.rules:3: unknown option --frobnicate"]


def _many(count: int) -> RunReport:
    severities = list(Severity)
    findings = tuple(
        finding(
            f"host{i:05d}",
            "p",
            f"r{i % 7}",
            Status.FAIL,
            severity=severities[i % 5],
            evidence=(
                Evidence(
                    f"exports/h{i}.rules", i % 50 + 1, f"-A INPUT -p tcp --dport {i} -j ACCEPT"
                ),
            ),
        )
        for i in range(count)
    )
    reqs = tuple(requirement("p", f"r{k}") for k in range(7))
    return RunReport("0.1.0", "2024-05-01T00:00:00Z", (), findings, reqs)


def test_truncates_deterministically_to_max_results_and_says_so(
    tmp_path: Path, validator: jsonschema.Draft4Validator
) -> None:
    report = _many(40)
    options = ReportOptions(repo_root=tmp_path, sarif_max_results=10)
    document = _doc(report, options, validator)
    results = document["runs"][0]["results"]
    assert len(results) == 10
    # The most severe are kept: 40 findings hold 8 of each severity.
    assert {r["properties"]["fwcheck/severity"] for r in results} == {"critical", "high"}
    notes = [
        n
        for n in document["runs"][0]["invocations"][0]["toolExecutionNotifications"]
        if n.get("descriptor", {}).get("id") == "fwcheck/truncated"
    ]
    assert len(notes) == 1 and "10 of 40" in notes[0]["message"]["text"]
    shuffled = replace(report, findings=tuple(reversed(report.findings)))
    assert sarif.render(shuffled, options) == sarif.render(report, options)


def test_default_limit_is_githubs_25000(tmp_path: Path) -> None:
    document = json.loads(sarif.render(_many(25_003), ReportOptions(repo_root=tmp_path)))
    assert len(document["runs"][0]["results"]) == 25_000
    assert document["runs"][0]["properties"]["fwcheck/results-total"] == 25_003


def test_truncates_to_gzip_size_limit(
    tmp_path: Path, validator: jsonschema.Draft4Validator
) -> None:
    report = _many(200)
    full = sarif.render(report, ReportOptions(repo_root=tmp_path))
    limit = len(gzip.compress(full, mtime=0)) // 2
    data = sarif.render(report, ReportOptions(repo_root=tmp_path, sarif_max_gzip_bytes=limit))
    assert len(gzip.compress(data, compresslevel=6, mtime=0)) <= limit
    document = json.loads(data)
    assert not sorted(validator.iter_errors(document), key=str)
    written = len(document["runs"][0]["results"])
    assert 0 < written < 200
    texts = [
        n["message"]["text"]
        for n in document["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    ]
    assert any(f"{written} of 200" in t and "gzipped" in t for t in texts)


def test_write(options: ReportOptions, repo: Path, validator: jsonschema.Draft4Validator) -> None:
    out = repo / "fwcheck.sarif"
    sarif.write(sample_report(), out, options=options)
    assert not list(validator.iter_errors(json.loads(out.read_text())))


def test_related_locations_capped(
    options: ReportOptions, validator: jsonschema.Draft4Validator
) -> None:
    evidence = tuple(
        Evidence(WEB_RULES, i, f"-A INPUT -s 10.0.{i}.0/24 -j ACCEPT") for i in range(1, 300)
    )
    wide = finding("web1", "baseline", "no-telnet", Status.FAIL, evidence=evidence)
    report = replace(sample_report(), findings=(wide,))
    result = _doc(report, options, validator)["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert len(result["relatedLocations"]) == 100
    assert [
        r["physicalLocation"]["region"]["startLine"] for r in result["relatedLocations"][:3]
    ] == [2, 3, 4]


def test_requirements_shared_by_targets_give_one_rule_each(
    options: ReportOptions, validator: jsonschema.Draft4Validator
) -> None:
    report = sample_report()
    doubled = replace(report, requirements=report.requirements + report.requirements)
    rules = _doc(doubled, options, validator)["runs"][0]["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert ids == [req.key for req in report.requirements]
