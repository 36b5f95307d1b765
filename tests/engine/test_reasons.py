"""Reason codes (checker/engine/reasons.py): every message of an engine verdict is rendered from
its reason code, parameters, flow and evidence, so the JSON report v2's fields alone give the
message back; docs/reports.md lists every code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from checker.cli import main
from checker.engine.reasons import RENDERERS, render
from checker.findings import MESSAGE_ONLY, Status
from checker.reports import json_fields

REPO = Path(__file__).resolve().parents[2]


def test_docs_list_every_reason_code() -> None:
    documented = set(
        re.findall(r"`([a-z-]+(?:\.[a-z-]+)?)`", (REPO / "docs/reports.md").read_text())
    )
    codes = set(RENDERERS) | {"budget.exceeded", MESSAGE_ONLY}
    assert codes - documented == set()


@pytest.fixture(scope="module")
def example_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("examples") / "report.json"
    config = REPO / "examples" / "fwcheck.yaml"
    assert main(["check", "--config", str(config), "--json", str(out), "-q"]) == 1
    return json.loads(out.read_text())


def test_messages_come_back_from_the_json_fields_alone(example_report: dict) -> None:
    rendered = 0
    for result in example_report["results"]:
        outcome = json_fields.outcome_from_json(result["outcome"])
        if outcome is None or outcome.reason.code not in RENDERERS:
            continue
        evidence = tuple(json_fields.evidence_from_json(e) for e in result["evidence"])
        text = render(outcome.reason, outcome.flow, evidence, outcome.status)
        assert text == result["message"]
        assert (outcome.flow.text if outcome.flow else None) == result["counterexample"]
        rendered += 1
    assert rendered >= 100  # netfilter and Windows verdicts of every kind in the examples


def test_windows_flow_fields_name_the_profile_and_program(example_report: dict) -> None:
    flows = [
        r["outcome"]["flow"]
        for r in example_report["results"]
        if r["target"] == "patch-client-17" and r["status"] == Status.FAIL.value
    ]
    assert flows and all(f["profile"] in ("domain", "private", "public") for f in flows)
    adaptiva = [f for f in flows if f["program"] and "adaptiva" in f["program"]]
    assert adaptiva and all(f"program {f['program']}" in f["text"] for f in adaptiva)
    # The deciding default action names the store it comes from.
    stores = {
        e["store"]
        for r in example_report["results"]
        if r["target"] == "patch-client-17"
        for e in r["evidence"]
    }
    assert "local" in stores
