"""Control ids in every report format, end to end through `fwcheck check` (docs/controls.md):
SARIF rule tags (GitHub shows at most 10 and rejects more than 20: "SARIF results exceed limits",
docs.github.com) and one run.taxonomies entry per framework with each rule's relationships
(SARIF 2.1.0 sections 3.14.8, 3.19.3, 3.49.15), JUnit suite properties, JSON, console and the
HTML control view; `--control` restricts the run and `policies --controls` lists the mapping."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from checker import resources
from checker.cli import main
from checker.errors import ExitCode

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MANY = [f"custom:c{n:02d}" for n in range(12)]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies/site.yaml").write_text(
        "id: site\nroles: [web]\ncontrols: [nist-800-53:SC-7, cis-debian-12:4.2.1]\nrules:\n"
        "  - {id: no-telnet, title: No telnet, expect: deny, direction: inbound, protocol: tcp,"
        f" port: 23, controls: [{', '.join(MANY)}]}}\n"
        "  - {id: ssh, title: SSH open, expect: allow, direction: inbound, protocol: tcp,"
        " port: 22}\n"
        "  - {id: input-deny, title: Default deny in, setting: {netfilter_hook: input,"
        " family: ipv4, default: deny}, controls: [pci-dss:1.3.1]}\n"
    )
    (tmp_path / "web.rules").write_text(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    )
    return tmp_path


def _check(*extra: str) -> int:
    return main(
        [
            "check",
            "--role",
            "web",
            "--format",
            "iptables-save",
            "web.rules",
            "--json",
            "r.json",
            "--sarif",
            "r.sarif",
            "--junit",
            "r.xml",
            "--html",
            "r.html",
            *extra,
        ]
    )


def test_sarif_carries_tags_and_taxonomies(run: Path) -> None:
    assert _check() == ExitCode.VIOLATIONS
    document = json.loads((run / "r.sarif").read_text())
    schema_file = SHARED / "schemas/sarif-2.1.0.json"
    if schema_file.is_file():
        jsonschema.Draft4Validator(json.loads(schema_file.read_text())).validate(document)
    sarif_run = document["runs"][0]
    rules = {r["id"]: r for r in sarif_run["tool"]["driver"]["rules"]}
    telnet = rules["site/no-telnet"]
    tags = telnet["properties"]["tags"]
    assert len(tags) == 10 and len(set(tags)) == 10
    assert tags[:5] == ["security", "firewall", "site", "nist-800-53:SC-7", "cis-debian-12:4.2.1"]
    # Every control stays in the rule's properties and relationships, beyond the tag limit.
    assert telnet["properties"]["fwcheck/controls"][-1] == "custom:c11"
    taxonomies = sarif_run["taxonomies"]
    assert [t["name"] for t in taxonomies] == sorted(
        ["cis-debian-12", "custom", "nist-800-53", "pci-dss"]
    )
    assert len(telnet["relationships"]) == 14
    for rule in rules.values():
        for link in rule.get("relationships", ()):
            target = link["target"]
            component = taxonomies[target["toolComponent"]["index"]]
            assert component["name"] == target["toolComponent"]["name"]
            assert component["taxa"][target["index"]]["id"] == target["id"]
    # GitHub: every result located, with a line.
    for result in sarif_run["results"]:
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1


def test_json_junit_console_and_html(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _check()
    report = json.loads((run / "r.json").read_text())
    schema = json.loads(resources.schema_path("report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(report)
    by_rule = {r["rule"]: r for r in report["results"]}
    assert by_rule["input-deny"]["controls"] == [
        "nist-800-53:SC-7",
        "cis-debian-12:4.2.1",
        "pci-dss:1.3.1",
    ]
    assert by_rule["input-deny"]["status"] == "fail"
    rules = {r["rule"]: r for r in report["rules"]}
    assert rules["input-deny"]["setting"]["description"].startswith("netfilter input hook")
    assert rules["ssh"]["setting"] is None
    junit_xsd = SHARED / "schemas/junit.xsd"
    if junit_xsd.is_file():
        xmlschema.XMLSchema(str(junit_xsd)).validate(str(run / "r.xml"))
    xml = (run / "r.xml").read_text()
    assert (
        'name="controls:input-deny" value="nist-800-53:SC-7, cis-debian-12:4.2.1, pci-dss:1.3.1"'
        in xml
    )
    out = capsys.readouterr().out
    assert "controls: nist-800-53:SC-7, cis-debian-12:4.2.1, pci-dss:1.3.1" in out
    page = (run / "r.html").read_text()
    assert '<h2 id="controls">Controls (15)</h2>' in page
    assert '<tr data-control="pci-dss:1.3.1">' in page


def test_control_restricts_the_run_and_matching_nothing_is_an_error(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _check("--control", "pci-dss:*") == ExitCode.VIOLATIONS
    report = json.loads((run / "r.json").read_text())
    assert [r["rule"] for r in report["results"]] == ["input-deny"]
    assert _check("--control", "custom:c0*") == ExitCode.VIOLATIONS
    assert [r["rule"] for r in json.loads((run / "r.json").read_text())["results"]] == ["no-telnet"]
    capsys.readouterr()
    assert _check("--control", "disa-stig:WNFWA-000004") == ExitCode.USAGE
    assert "no policy rule of these targets has a control" in capsys.readouterr().err


def test_policies_lists_each_control_with_its_rules(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policies", "--role", "web", "--controls"]) == 0
    out = capsys.readouterr().out.splitlines()
    at = out.index("pci-dss:1.3.1")
    assert out[at + 1].startswith("  site/input-deny  [medium] Default deny in")
    assert out[-1] == "15 controls; 0 of 3 rules carry no control id"


def test_explain_names_what_decides_a_setting(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["explain", "--role", "web", "--format", "iptables-save", "web.rules", "input-deny"]
    )
    out = capsys.readouterr().out
    assert code == 0 and ": FAIL" in out.splitlines()[0]
    assert "decided by: web.rules:2: ip filter INPUT: policy accept" in out
