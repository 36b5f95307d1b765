"""Shared report helpers: counting, the unreadable-target error, text sanitizing, the registry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from report_samples import finding, requirement, sample_report

import checker.reports as reports
from checker.findings import Severity, Status
from checker.policies.model import Direction, Expect
from checker.reports.data import (
    READ_RULE,
    TargetInfo,
    describe_requirement,
    effective_findings,
    printable,
    started_at_utc,
    tally,
)


def test_registry_covers_every_format_module() -> None:
    folder = Path(reports.__file__).parent
    helpers = {
        "__init__", "data", "atomic", "taxonomies", "html_controls", "exposure_table", "drift",
        "publish", "json_fields", "flag",
    }  # fmt: skip
    modules = {p.stem for p in folder.glob("*.py")} - helpers
    assert {m.__name__.rsplit(".", 1)[1] for m in reports.REPORTERS.values()} == modules
    for name, module in reports.REPORTERS.items():
        assert module.NAME == name and callable(module.write)


def test_unreadable_target_gets_exactly_one_error_finding() -> None:
    report = sample_report()
    extra = [f for f in effective_findings(report) if f.rule == READ_RULE]
    assert [(f.target, f.status, f.message) for f in extra] == [
        ("broken", Status.ERROR, "exports/broken.rules:3: unknown option --frobnicate")
    ]
    own_error = finding("broken", "baseline", "no-telnet", Status.ERROR, message="parse failed")
    with_own = replace(report, findings=report.findings + (own_error,))
    assert [f for f in effective_findings(with_own) if f.rule == READ_RULE] == []
    assert tally(effective_findings(with_own)).errors == 1


def test_tally() -> None:
    counts = tally(effective_findings(sample_report()))
    assert (counts.passed, counts.failed, counts.indeterminate, counts.errors, counts.waived) == (
        3,
        3,
        1,
        1,
        1,
    )
    assert counts.total == 9
    assert counts.summary() == "3 passed, 3 failed, 1 indeterminate, 1 errors, 1 waived"


def test_printable() -> None:
    assert (
        printable("a\x00b\x1b\x7f\x85\ud800\ufffe\tc\nd")
        == "a\\x00b\\x1b\\x7f\\x85\\ud800\\ufffe\tc\nd"
    )
    assert printable("  a \n\r b\t", one_line=True) == "a b"
    assert printable("ümlaut → ok") == "ümlaut → ok"


def test_started_at_utc() -> None:
    assert (
        started_at_utc(replace(sample_report(), started_at="2024-05-01T14:00:00+02:00")).hour == 12
    )
    assert started_at_utc(replace(sample_report(), started_at="2024-05-01T12:00:00Z")).hour == 12
    assert started_at_utc(replace(sample_report(), started_at="garbage")).year == 1970


def test_describe_requirement() -> None:
    req = requirement("p", "r", ports=((22, 22), (8000, 8080)), expect=Expect.ALLOW)
    req = replace(
        req,
        remote=((4, 0x0A000000, 0x0AFFFFFF), (4, 0xC0000201, 0xC0000203)),
        except_remote=((6, 1, 1),),
        direction=Direction.INBOUND,
    )
    text = describe_requirement(req)
    assert (
        text
        == "inbound tcp to ports 22, 8000-8080 from 10.0.0.0/8, 192.0.2.1-192.0.2.3 except ::1/128 over IPv4 and IPv6 must be allowed"
    )
    any_proto = replace(
        req,
        protocol=None,
        ports=None,
        remote=None,
        except_remote=(),
        direction=Direction.OUTBOUND,
        families=frozenset({6}),
        expect=Expect.DENY,
        severity=Severity.LOW,
    )
    assert (
        describe_requirement(any_proto)
        == "outbound traffic of any protocol to any address over IPv6 must be denied"
    )


def test_target_info_defaults() -> None:
    assert TargetInfo("x") == TargetInfo("x", (), (), None, None)
