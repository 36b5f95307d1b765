"""JSON report: validated against schemas/report.schema.json (JSON Schema 2020-12)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_samples import finding, sample_report

from checker.findings import Status
from checker.reports import json_report
from checker.reports.data import ReportOptions, RunReport
from checker.resources import schema_path


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_path("report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_sample_validates_and_has_the_issue_3_shape(
    validator: jsonschema.Draft202012Validator,
) -> None:
    document = json.loads(json_report.render(sample_report()))
    validator.validate(document)
    assert document["version"] == 2
    assert document["tool"]["name"] == "fwcheck" and document["tool"]["version"] == "0.1.0"
    for result in document["results"]:
        assert {
            "target",
            "policy",
            "rule",
            "status",
            "severity",
            "message",
            "counterexample",
            "evidence",
        } <= set(result)
    telnet = document["results"][0]
    assert (
        telnet["status"] == "fail"
        and telnet["counterexample"] == "tcp 203.0.113.7:40000 -> :23 ipv4"
    )
    assert telnet["evidence"][0] == {
        "file": "exports/web1.rules",
        "line": 12,
        "text": "[5:300] -A INPUT -p tcp -m tcp --dport 23 -j ACCEPT",
        "chain": None,
        "table": None,
        "store": None,
    }
    assert document["summary"] == {
        "pass": 3,
        "fail": 3,
        "indeterminate": 1,
        "error": 1,
        "waived": 1,
    }
    assert [t["name"] for t in document["targets"]] == ["web1", "db1", "broken"]
    assert document["targets"][2]["error"].startswith("exports/broken.rules:3")
    assert [r["id"] for r in document["rules"]][:2] == ["baseline/no-telnet", "baseline/no-rdp"]


def test_summary_counts_every_result(validator: jsonschema.Draft202012Validator) -> None:
    document = json.loads(json_report.render(sample_report()))
    statuses = [r["status"] for r in document["results"]]
    assert {k: statuses.count(k) for k in document["summary"]} == document["summary"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("results"),
        lambda d: d.__setitem__("version", 1),
        lambda d: d["results"][0].__setitem__("status", "passed"),
        lambda d: d["results"][0].__setitem__("severity", "urgent"),
        lambda d: d["results"][0]["evidence"][0].pop("line"),
        lambda d: d["results"][4].__setitem__("waiver_reason", None),  # waived needs a reason
        lambda d: d["summary"].__setitem__("fail", -1),
    ],
)
def test_schema_rejects_broken_documents(
    validator: jsonschema.Draft202012Validator, mutate: Any
) -> None:
    document = json.loads(json_report.render(sample_report()))
    assert document["results"][4]["status"] == "waived"
    mutate(document)
    assert list(validator.iter_errors(document))


def test_hostile_text_round_trips_exactly(validator: jsonschema.Draft202012Validator) -> None:
    hostile = 'quote" back\\slash \x00 \x1b[31m \ud800 \u2028 </script>'
    report = RunReport(
        "0.1.0",
        "2024-05-01T00:00:00Z",
        (),
        (finding(hostile, "p", "r", Status.FAIL, message=hostile),),
        (),
    )
    text = json_report.render(report)
    assert text.isascii()
    document = json.loads(text)
    validator.validate(document)
    assert document["results"][0]["message"] == hostile
    assert document["results"][0]["target"] == hostile


def test_write_replaces_atomically(
    tmp_path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    out = tmp_path / "report.json"
    out.write_text("old")
    json_report.write(sample_report(), out, options=ReportOptions(repo_root=tmp_path))
    validator.validate(json.loads(out.read_text()))
    empty = replace(sample_report(), findings=(), targets=(), requirements=())
    json_report.write(empty, out, options=ReportOptions(repo_root=tmp_path))
    assert json.loads(out.read_text())["results"] == []
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_shared_requirements_listed_once(validator: jsonschema.Draft202012Validator) -> None:
    report = sample_report()
    doubled = replace(report, requirements=report.requirements + report.requirements)
    document = json.loads(json_report.render(doubled))
    validator.validate(document)
    assert [r["id"] for r in document["rules"]] == [r.key for r in report.requirements]
