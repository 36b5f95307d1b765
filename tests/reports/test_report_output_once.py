"""Issue 13, "output that says one thing once", and issue 11 defect 9 (report side): a host-level
cause is reported once per format, the --fail-on gate is recorded everywhere, the console states
the flow once, bidi controls are neutralised, long text is capped (the JSON keeps it whole), and
a report set is published together."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_samples import finding, requirement

from checker import resources
from checker.findings import Evidence, Severity, Status
from checker.reports import console, html, json_report, junit, publish, sarif
from checker.reports.data import ReportOptions, RunReport, TargetInfo

DEAD = "target could not be read: db9: ssh: connect to host db9 port 22: No route to host"
RULES = [f"rule-{i:02}" for i in range(14)]


def _dead_host_report() -> RunReport:
    """A host that could not be collected: scan gives each of its 14 rules the same error."""
    reqs = tuple(requirement("baseline", r) for r in RULES)
    findings = tuple(finding("db9", "baseline", r, Status.ERROR, message=DEAD) for r in RULES)
    targets = (TargetInfo("db9", (), ("baseline",), None, DEAD),)
    return RunReport("0.1.0", "2024-05-01T00:00:00Z", targets, findings, reqs)


def test_console_says_a_dead_host_once() -> None:
    text = console.render(_dead_host_report(), color=False, quiet=False)
    problem_lines = [line for line in text.splitlines() if "ERROR" in line]
    assert len(problem_lines) == 1, text
    assert "14 rules" in problem_lines[0] and "No route to host" in problem_lines[0]
    assert "baseline/rule-00, baseline/rule-01, baseline/rule-02 and 11 more" in problem_lines[0]
    quiet = console.render(_dead_host_report(), color=False, quiet=True).splitlines()
    assert len(quiet) == 2 and quiet[0].startswith("db9: ERROR")


def test_junit_one_errored_testcase_per_host_and_skipped_rules() -> None:
    root = ET.fromstring(junit.render(_dead_host_report(), ReportOptions()))
    cases = list(root.iter("testcase"))
    errors = [c for c in cases if c.find("error") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(errors) == 1 and errors[0].get("name", "").startswith("target-error")
    assert "No route to host" in errors[0].find("error").get("message", "")  # type: ignore[union-attr]
    assert len(skipped) == 14
    assert all(
        "see fwcheck/target-error" in c.find("skipped").get("message", "")  # type: ignore[union-attr]
        for c in skipped
    )
    assert sum(int(s.get("errors", "0")) for s in root.iter("testsuite")) == 1


def test_sarif_one_notification_per_host(tmp_path: Path) -> None:
    document = json.loads(sarif.render(_dead_host_report(), ReportOptions(repo_root=tmp_path)))
    notes = document["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    errors = [n for n in notes if n["level"] == "error"]
    assert len(errors) == 1 and "14 rules not checked" in errors[0]["message"]["text"]


def test_html_one_card_per_host() -> None:
    markup = html.render(_dead_host_report())
    assert markup.count('class="finding cause error-f') == 1
    assert markup.count("No route to host") == 1


def test_console_groups_a_shared_indeterminate_cause_but_not_flows() -> None:
    why = "no IPv6 ruleset was supplied for this target, so IPv6 flows cannot be judged"
    findings = tuple(
        finding("bastion", "baseline", r, Status.INDETERMINATE, message=why) for r in RULES[:12]
    ) + (
        finding("bastion", "baseline", "no-telnet", Status.FAIL, counterexample="tcp a -> b:23"),
        finding("bastion", "baseline", "no-ssh", Status.FAIL, counterexample="tcp a -> b:22"),
    )
    report = RunReport("1", "2024-01-01T00:00:00Z", (TargetInfo("bastion"),), findings, ())
    text = console.render(report, color=False, quiet=True)
    assert text.count("no IPv6 ruleset") == 1
    assert "INDETERMINATE [up to high] 12 rules" in text
    assert text.count("FAIL") == 2  # results with a flow of their own stay one line each


def test_console_states_the_flow_once() -> None:
    flow = "tcp 203.0.113.7:40000 -> 192.0.2.10:23 ipv4"
    bad = finding(
        "bastion",
        "baseline",
        "no-telnet",
        Status.FAIL,
        message=f"{flow} is accepted (bastion.rules:14)",
        counterexample=flow,
        evidence=(Evidence("bastion.rules", 14, "-A INPUT -p tcp --dport 23 -j ACCEPT"),),
    )
    report = RunReport("1", "2024-01-01T00:00:00Z", (), (bad,), ())
    line = console.render(report, color=False, quiet=True).splitlines()[0]
    assert line.count(flow) == 1 and "counterexample:" not in line
    other = finding("b", "p", "r", Status.FAIL, message="accepted", counterexample=flow)
    line = console.render(
        RunReport("1", "2024-01-01T00:00:00Z", (), (other,), ()), color=False, quiet=True
    ).splitlines()[0]
    assert f"counterexample: {flow}" in line  # a message without the flow keeps it


def _medium_fail_report() -> RunReport:
    medium = finding("web1", "baseline", "no-smb", Status.FAIL, severity=Severity.MEDIUM)
    ok = finding("web1", "baseline", "no-telnet", Status.PASS)
    return RunReport(
        "0.1.0",
        "2024-05-01T00:00:00Z",
        (TargetInfo("web1", ("web1.rules",)),),
        (medium, ok),
        (requirement("baseline", "no-smb"), requirement("baseline", "no-telnet")),
    )


def test_fail_on_threshold_and_verdict_in_every_format(tmp_path: Path) -> None:
    report = _medium_fail_report()
    options = ReportOptions(repo_root=tmp_path, fail_on=Severity.HIGH)

    text = console.render(report, color=False, quiet=False, fail_on=Severity.HIGH)
    assert "FAIL [medium, below --fail-on high] baseline/no-smb" in text
    assert text.splitlines()[-1].endswith(
        "gate --fail-on high: pass (1 result below the threshold)"
    )

    document = json.loads(json_report.render(report, options))
    schema = json.loads(resources.schema_path("report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["gate"] == {"fail_on": "high", "verdict": "pass"}
    below = {r["rule"]: r["below_threshold"] for r in document["results"]}
    assert below == {"no-smb": True, "no-telnet": False}

    root = ET.fromstring(junit.render(report, options))
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["fail-on"] == "high" and props["verdict"] == "pass"
    failure = next(root.iter("failure"))
    assert "below --fail-on high" in failure.get("message", "")

    run = json.loads(sarif.render(report, options))["runs"][0]
    assert run["invocations"][0]["properties"] == {
        "fwcheck/fail-on": "high",
        "fwcheck/verdict": "pass",
    }
    assert run["results"][0]["properties"]["fwcheck/below-threshold"] is True

    markup = html.render(report, None, options)
    assert 'data-fail-on="high" data-verdict="pass"' in markup


BIDI = "allow\u202e lanimret\u2066x\u2069"


def test_bidi_controls_never_reach_console_html_junit_or_sarif(tmp_path: Path) -> None:
    evil = finding(
        "web1",
        "baseline",
        "no-telnet",
        Status.FAIL,
        message=BIDI,
        counterexample=BIDI,
        evidence=(Evidence("web1.rules", 3, BIDI),),
        title=BIDI,
    )
    report = RunReport("1", "2024-01-01T00:00:00Z", (TargetInfo("web1"),), (evil,), ())
    options = ReportOptions(repo_root=tmp_path)
    outputs = {
        "console": console.render(report, color=False, quiet=False),
        "html": html.render(report),
        "junit": junit.render(report, options).decode("utf-8"),
        "sarif": json.loads(sarif.render(report, options))["runs"][0]["results"][0]["message"][
            "text"
        ],
    }
    for name, text in outputs.items():
        assert not any(c in text for c in "\u202e\u2066\u2069"), name
        assert "\\u202e" in text, name
    # The JSON report keeps the text exactly.
    assert json.loads(json_report.render(report))["results"][0]["message"] == BIDI


def test_huge_rule_text_is_capped_except_in_json(tmp_path: Path) -> None:
    name = "R" * 1_000_000
    huge = finding(
        "win1",
        "baseline",
        "no-smb",
        Status.FAIL,
        message=f"blocked by rule {name}",
        evidence=(Evidence("win1.reg", 2, name),),
    )
    report = RunReport("1", "2024-01-01T00:00:00Z", (TargetInfo("win1"),), (huge,), ())
    options = ReportOptions(repo_root=tmp_path)
    assert len(sarif.render(report, options)) < 50_000
    assert len(junit.render(report, options)) < 50_000
    assert len(html.render(report)) < 50_000
    assert len(console.render(report, color=False, quiet=True)) < 10_000
    assert "more characters: see the JSON report" in html.render(report)
    assert json.loads(json_report.render(report))["results"][0]["evidence"][0]["text"] == name


def test_report_set_is_published_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTML writer dies (as a kill would) after the JSON and JUnit are rendered: every
    previous report stays, never new JSON beside old SARIF and HTML."""
    paths = {name: str(tmp_path / f"report.{name}") for name in ("json", "junit", "sarif", "html")}
    for path in paths.values():
        Path(path).write_text("previous run")
    report = _medium_fail_report()

    def killed(*args: object, **kwargs: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(html, "render", killed)
    with pytest.raises(KeyboardInterrupt):
        publish.write_reports(report, paths, ReportOptions(repo_root=tmp_path), baseline=None)
    assert all(Path(p).read_text() == "previous run" for p in paths.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        Path(p).name for p in paths.values()
    )
    monkeypatch.undo()
    publish.write_reports(report, paths, ReportOptions(repo_root=tmp_path), baseline=None)
    assert all(Path(p).read_text() != "previous run" for p in paths.values())


def test_expired_waiver_is_a_waiver_problem_not_a_target(tmp_path: Path) -> None:
    from datetime import date

    from checker.waivers import apply_waivers, load_waivers

    (tmp_path / "waivers.yaml").write_text(
        "waivers:\n  - rule: baseline/no-smb\n    reason: old exception\n"
        "    owner: alice\n    expires: 2020-01-01\n"
    )
    report = _medium_fail_report()
    _, reported = apply_waivers([], load_waivers(tmp_path / "waivers.yaml"), date(2025, 1, 1))
    report = RunReport(
        report.tool_version,
        report.started_at,
        report.targets,
        report.findings + tuple(reported),
        report.requirements,
    )
    text = console.render(report, color=False, quiet=False)
    assert f"waiver problems in {tmp_path / 'waivers.yaml'}: 1" in text
    assert (
        f"  WAIVER PROBLEM {tmp_path / 'waivers.yaml'}:2: waiver for rule baseline/no-smb" in text
    )
    assert "expired on 2020-01-01" in text
    assert "FAIL [low]" not in text


_DANGEROUS = set(map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]))
_DANGEROUS |= set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(
        alphabet=st.one_of(st.sampled_from(sorted(_DANGEROUS)), st.characters(codec="utf-8")),
        max_size=300,
    )
)
def test_no_control_or_bidi_character_reaches_a_reader(text: str, tmp_path: Path) -> None:
    """Any text in a result (hypothesis: arbitrary Unicode, bidi and C0/C1 controls included)
    reaches the console, HTML, JUnit and SARIF messages only as visible escapes."""
    bad = finding(
        "t",
        "p",
        "r",
        Status.FAIL,
        message=text,
        counterexample=text,
        evidence=(Evidence("f", 1, text),),
        title=text,
    )
    report = RunReport("1", "2024-01-01T00:00:00Z", (TargetInfo("t"),), (bad,), ())
    options = ReportOptions(repo_root=tmp_path)
    console_text = console.render(report, color=False, quiet=True)
    result = json.loads(sarif.render(report, options))["runs"][0]["results"][0]
    shown = {
        "console": console_text.replace("\n", ""),
        "html": html.render(report).replace("\n", ""),
        "junit": junit.render(report, options).decode("utf-8").replace("\n", ""),
        "sarif": result["message"]["text"].replace("\n", "")
        + result["properties"].get("fwcheck/counterexample", ""),
    }
    for name, output in shown.items():
        assert not _DANGEROUS & set(output), (name, sorted(_DANGEROUS & set(output)))
    assert console_text.count("\n") == 2  # one result line and the summary: no forged lines
