"""JUnit XML: every rule of issue 5, validated with xmlschema against ../shared/schemas/junit.xsd."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_samples import finding, sample_report

from checker.findings import Evidence, Status
from checker.reports import junit
from checker.reports.data import ReportOptions, RunReport, TargetInfo


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    path = Path(__file__).resolve().parents[2].parent / "shared/schemas/junit.xsd"
    if not path.is_file():
        pytest.skip(f"{path} is absent (it sits beside the checkout in CI only)")
    return xmlschema.XMLSchema(str(path))


def _render(report: RunReport, **kwargs: object) -> bytes:
    return junit.render(report, ReportOptions(**kwargs))  # type: ignore[arg-type]


def _cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}  # type: ignore[misc]


def test_sample_is_valid_and_one_suite_per_target_and_policy(schema: xmlschema.XMLSchema) -> None:
    data = _render(sample_report())
    schema.validate(data.decode("utf-8"))
    root = ET.fromstring(data)
    suites = [
        (
            s.find("properties/property[@name='target']").get("value"),
            s.find("properties/property[@name='policy']").get("value"),
        )
        for s in root.findall("testsuite")
    ]  # type: ignore[union-attr]
    assert suites == [
        ("web1", "baseline"),
        ("web1", "ssh"),
        ("db1", "baseline"),
        ("broken", "fwcheck"),
    ]
    assert len(root.findall("testsuite/testcase")) == 9  # 8 findings + 1 for the unreadable target


def test_suite_counts_match_children(schema: xmlschema.XMLSchema) -> None:
    root = ET.fromstring(_render(sample_report()))
    by_name = {s.get("name"): s for s in root.findall("testsuite")}
    web = by_name["web1 / baseline"]
    assert (web.get("tests"), web.get("failures"), web.get("errors"), web.get("skipped")) == (
        "5",
        "2",
        "0",
        "1",
    )
    broken = by_name["broken / fwcheck"]
    assert (broken.get("tests"), broken.get("failures"), broken.get("errors")) == ("1", "0", "1")
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(cases)
        assert int(suite.get("failures", "-1")) == sum(c.find("failure") is not None for c in cases)
        assert int(suite.get("errors", "-1")) == sum(c.find("error") is not None for c in cases)
        assert int(suite.get("skipped", "-1")) == sum(c.find("skipped") is not None for c in cases)


def test_failure_carries_severity_counterexample_and_deciding_rule() -> None:
    cases = _cases(ET.fromstring(_render(sample_report())))
    failure = cases[("web1.baseline", "no-telnet")].find("failure")
    assert failure is not None
    assert failure.get("type") == "critical"
    assert "tcp 203.0.113.7:40000 -> :23 ipv4" in (failure.text or "")
    assert "exports/web1.rules:12: [5:300] -A INPUT -p tcp -m tcp --dport 23 -j ACCEPT" in (
        failure.text or ""
    )
    assert "policies/baseline.yaml:10" in (failure.text or "")


def test_pass_has_no_child() -> None:
    cases = _cases(ET.fromstring(_render(sample_report())))
    assert list(cases[("web1.baseline", "no-rdp")]) == []


def test_indeterminate_is_failure_by_default_and_skipped_on_request(
    schema: xmlschema.XMLSchema,
) -> None:
    default = _cases(ET.fromstring(_render(sample_report())))[("web1.baseline", "no-smb")]
    assert default.find("failure") is not None and default.find("skipped") is None
    assert default.find("failure").get("message", "").startswith("indeterminate: ")  # type: ignore[union-attr]
    data = _render(sample_report(), indeterminate_as="skip")
    schema.validate(data.decode())
    skipped = _cases(ET.fromstring(data))[("web1.baseline", "no-smb")]
    assert skipped.find("failure") is None
    assert skipped.find("skipped").get("message", "").startswith("indeterminate: ")  # type: ignore[union-attr]
    suite = ET.fromstring(data).find("testsuite")
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "2")  # type: ignore[union-attr]


def test_waived_is_skipped_with_reason_never_passed() -> None:
    case = _cases(ET.fromstring(_render(sample_report())))[("web1.baseline", "no-x11")]
    skipped = case.find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "waived: lab display server (owner ops, expires 2099-01-01)"


def test_unreadable_target_is_error() -> None:
    case = _cases(ET.fromstring(_render(sample_report())))[
        ("broken.fwcheck", "read-target - target could not be read")
    ]
    error = case.find("error")
    assert error is not None and "unknown option --frobnicate" in error.get("message", "")


def test_classname_and_name_unique_even_when_joined_names_collide(
    schema: xmlschema.XMLSchema,
) -> None:
    # "a.b" + "c" and "a" + "b.c" both give classname "a.b.c"; whitespace variants collapse to
    # the same xs:token; the same rule twice for one target happens with per-family findings.
    findings = (
        finding("a.b", "c", "r", Status.FAIL),
        finding("a", "b.c", "r", Status.FAIL),
        finding("t", "p", "x  y", Status.PASS),
        finding("t", "p", "x y", Status.PASS),
        finding("t", "p", "x\ty", Status.PASS),
        finding("t", "p", "dup", Status.FAIL),
        finding("t", "p", "dup", Status.INDETERMINATE),
    )
    report = RunReport("0.1.0", "2024-05-01T00:00:00Z", (), findings, ())
    data = _render(report)
    schema.validate(data.decode())
    # Compare after the xs:token normalization a consumer applies.
    keys = [
        (" ".join(c.get("classname", "").split()), " ".join(c.get("name", "").split()))
        for c in ET.fromstring(data).iter("testcase")
    ]
    assert len(keys) == 7
    assert len(set(keys)) == 7


HOSTILE = "a<b & c]]> d\x00e\x1bf\x0bg\ufffeh\ud800i\x7f \"quoted\" 'single' \n\tnext"


def test_hostile_text_cannot_break_the_xml(schema: xmlschema.XMLSchema) -> None:
    bad = finding(
        HOSTILE,
        "pol<&]]>",
        "rule]]><x/>",
        Status.FAIL,
        message=HOSTILE,
        counterexample=HOSTILE,
        evidence=(Evidence("f<&>.rules", 3, HOSTILE),),
        title=HOSTILE,
    )
    waived = replace(bad, rule="other", status=Status.WAIVED, waiver_reason=HOSTILE)
    report = RunReport(
        "0.1.0",
        "2024-05-01T00:00:00Z",
        (TargetInfo(HOSTILE, files=(HOSTILE,), platform=HOSTILE),),
        (bad, waived),
        (),
    )
    data = _render(report)
    schema.validate(data.decode())
    root = ET.fromstring(data)
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    text = failure.text or ""
    # Markup characters survive as text, exactly.
    assert "a<b & c]]> d" in text
    # Characters XML cannot carry are shown, not dropped silently or written raw.
    assert "\\x00e\\x1bf\\x0bg\\ufffeh\\ud800i\\x7f" in text
    assert all(ch not in data.decode() for ch in "\x00\x1b\x0b\x7f")
    assert (
        root.find("testsuite/testcase/skipped").get("message", "").startswith("waived: a<b & c]]>")
    )  # type: ignore[union-attr]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(st.text(min_size=0, max_size=30), min_size=4, max_size=4))
def test_any_text_gives_valid_junit(schema: xmlschema.XMLSchema, texts: list[str]) -> None:
    target, rule, message, evidence = texts
    findings = (
        finding(
            target,
            "p",
            rule or "r",
            Status.FAIL,
            message=message,
            evidence=(Evidence("f", 1, evidence),),
        ),
        finding(target, "p", rule or "r", Status.WAIVED, waiver_reason=message),
    )
    data = _render(RunReport("0.1.0", "2024-05-01T00:00:00Z", (), findings, ()))
    schema.validate(data.decode())
    keys = [(c.get("classname"), c.get("name")) for c in ET.fromstring(data).iter("testcase")]
    assert len(set(keys)) == len(keys) == 2


def test_timestamp_has_no_zone_and_is_utc() -> None:
    report = replace(sample_report(), started_at="2024-05-01T14:34:56+02:00")
    suite = ET.fromstring(_render(report)).find("testsuite")
    assert suite is not None and suite.get("timestamp") == "2024-05-01T12:34:56"


def test_also_valid_against_jenkins_xunit_schema(shared_dir: Path) -> None:
    jenkins = xmlschema.XMLSchema(str(shared_dir / "schemas/junit-jenkins-xunit-10.xsd"))
    jenkins.validate(_render(sample_report()).decode())


def test_write_is_a_file_that_parses(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    out = tmp_path / "junit.xml"
    junit.write(sample_report(), out, options=ReportOptions(repo_root=tmp_path))
    schema.validate(str(out))
    assert out.read_bytes().startswith(b"<?xml")
