"""Waivers: loading (schema errors with file:line:col), matching, expiry, fail-closed dates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from checker.errors import PolicyError, format_problem
from checker.findings import Finding, Severity, Status
from checker.waivers import EXPIRED_RULE, MALFORMED_RULE, WAIVER_POLICY, apply_waivers, load_waivers

TODAY = date(2025, 3, 1)


def _finding(
    target: str, key: str, status: Status = Status.FAIL, severity: Severity = Severity.HIGH
) -> Finding:
    policy, rule = key.split("/")
    return Finding(
        target=target,
        policy=policy,
        rule=rule,
        status=status,
        severity=severity,
        message=f"{key} {status.value}",
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    return path


VALID = """\
waivers:
  - rule: baseline/no-telnet
    target: "legacy-*"
    reason: vendor appliance, replacement ordered (CHG-1234)
    owner: netops@example.com
    expires: 2025-06-30
  - rule: "cis-*/ssh-*"
    reason: jump hosts
    owner: secops
    expires: "2025-03-01"
  - rule: baseline/no-rdp
    reason: old exception
    owner: alice
    expires: 2025-02-28
  - rule: baseline/no-smb
    reason: someday
    owner: bob
    expires: soon
"""


def test_load_valid_file(tmp_path: Path) -> None:
    waivers = load_waivers(_write(tmp_path, VALID))
    first, second, third, fourth = waivers.waivers
    assert (first.rule, first.target, first.expires, first.origin.line) == (
        "baseline/no-telnet",
        "legacy-*",
        date(2025, 6, 30),
        2,
    )
    assert (second.target, second.expires, second.origin.line) == (None, date(2025, 3, 1), 7)
    assert third.problem is None and third.expires == date(2025, 2, 28)
    assert fourth.expires is None and fourth.problem is not None and "soon" in fourth.problem


def test_matching_unexpired_waiver_turns_fail_and_indeterminate_into_waived(tmp_path: Path) -> None:
    waivers = load_waivers(_write(tmp_path, VALID))
    findings = [
        _finding("legacy-fw1", "baseline/no-telnet"),
        _finding("legacy-fw2", "baseline/no-telnet", Status.INDETERMINATE, Severity.CRITICAL),
        _finding("web1", "baseline/no-telnet"),  # target glob does not match
        _finding("legacy-fw1", "baseline/no-telnetx"),  # rule does not match
        _finding("LEGACY-fw1", "baseline/no-telnet"),  # globs are case-sensitive
        _finding("jump1", "cis-linux/ssh-admin"),  # expires today: still valid
    ]
    result, reported = apply_waivers(findings, waivers, TODAY)
    assert [f.status for f in result] == [
        Status.WAIVED,
        Status.WAIVED,
        Status.FAIL,
        Status.FAIL,
        Status.FAIL,
        Status.WAIVED,
    ]
    assert (
        result[0].waiver_reason
        == "vendor appliance, replacement ordered (CHG-1234) (owner netops@example.com, expires 2025-06-30)"
    )
    assert result[1].severity is Severity.CRITICAL  # severity is kept
    assert result[2] == findings[2] and result[2].waiver_reason is None
    assert len(reported) == 2  # the expired and the malformed waiver, always reported


def test_pass_and_error_are_never_waived(tmp_path: Path) -> None:
    waivers = load_waivers(_write(tmp_path, VALID))
    findings = [
        _finding("legacy-a", "baseline/no-telnet", Status.PASS),
        _finding("legacy-a", "baseline/no-telnet", Status.ERROR),
    ]
    result, _ = apply_waivers(findings, waivers, TODAY)
    assert result == findings


def test_expired_waiver_does_not_apply_and_is_reported(tmp_path: Path) -> None:
    waivers = load_waivers(_write(tmp_path, VALID))
    result, reported = apply_waivers([_finding("db1", "baseline/no-rdp")], waivers, TODAY)
    assert result[0].status is Status.FAIL
    expired = [f for f in reported if f.rule == EXPIRED_RULE]
    assert len(expired) == 1
    report = expired[0]
    assert (report.policy, report.status, report.severity) == (
        WAIVER_POLICY,
        Status.FAIL,
        Severity.LOW,
    )
    assert report.target == str(tmp_path / "waivers.yaml")
    assert "baseline/no-rdp" in report.message and "expired on 2025-02-28" in report.message
    assert (report.policy_file, report.policy_line) == (str(tmp_path / "waivers.yaml"), 11)
    assert report.evidence[0].line == 11
    # The day after expiry it is expired; on the expiry day it is not.
    _, on_the_day = apply_waivers([], waivers, date(2025, 2, 28))
    assert [f.rule for f in on_the_day] == [MALFORMED_RULE]


def test_malformed_date_fails_closed_and_is_reported(tmp_path: Path) -> None:
    waivers = load_waivers(_write(tmp_path, VALID))
    result, reported = apply_waivers([_finding("x", "baseline/no-smb")], waivers, date(2000, 1, 1))
    assert result[0].status is Status.FAIL
    malformed = [f for f in reported if f.rule == MALFORMED_RULE]
    assert (
        len(malformed) == 1 and "'soon'" in malformed[0].message and malformed[0].policy_line == 15
    )


@pytest.mark.parametrize(
    "expires",
    [
        '"2025-13-01"',
        '"2025-02-30"',
        "2025-06-30T10:00:00Z",
        "20250630",
        '"30/06/2025"',
        "true",
        "[2025, 6, 30]",
    ],
)
def test_every_malformed_date_fails_closed(tmp_path: Path, expires: str) -> None:
    text = f"waivers:\n  - rule: a/b\n    reason: r\n    owner: o\n    expires: {expires}\n"
    waivers = load_waivers(_write(tmp_path, text))
    result, reported = apply_waivers([_finding("t", "a/b")], waivers, date(2000, 1, 1))
    assert result[0].status is Status.FAIL
    assert [f.rule for f in reported] == [MALFORMED_RULE]


def test_unquoted_impossible_date_is_a_policy_error_with_position(tmp_path: Path) -> None:
    text = "waivers:\n  - rule: a/b\n    reason: r\n    owner: o\n    expires: 2025-02-30\n"
    with pytest.raises(PolicyError) as caught:
        load_waivers(_write(tmp_path, text))
    line = format_problem(caught.value.problems[0])
    # The YAML loader refuses the impossible date itself, at its position, naming the value.
    assert line.startswith(f"{tmp_path / 'waivers.yaml'}:5:14: ")
    assert "'2025-02-30'" in line and "out of range" in line


def test_first_active_waiver_wins(tmp_path: Path) -> None:
    text = (
        "waivers:\n"
        "  - {rule: a/b, reason: expired one, owner: o, expires: 2020-01-01}\n"
        "  - {rule: a/*, reason: broad, owner: o, expires: 2030-01-01}\n"
        "  - {rule: a/b, reason: exact, owner: o, expires: 2030-01-01}\n"
    )
    result, reported = apply_waivers(
        [_finding("t", "a/b")], load_waivers(_write(tmp_path, text)), TODAY
    )
    assert result[0].waiver_reason is not None and result[0].waiver_reason.startswith("broad ")
    assert [f.rule for f in reported] == [EXPIRED_RULE]


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        (
            "waivers:\n  - rule: a/b\n    owner: o\n    expires: 2030-01-01\n",
            ":2:5:",
            "'reason' is required",
        ),
        (
            "waivers:\n  - rule: a/b\n    reason: r\n    owner: o\n",
            ":2:5:",
            "'expires' is required",
        ),
        (
            "waivers:\n  - rule: justarule\n    reason: r\n    owner: o\n    expires: 2030-01-01\n",
            ":2:5:",
            "does not match",
        ),
        (
            "waivers:\n  - rule: a/b\n    reason: r\n    owner: o\n    expires: 2030-01-01\n    expiry: 2031-01-01\n",
            ":6:5:",
            "unknown key 'expiry'",
        ),
        (
            "waivers:\n  - rule: a/b\n    reason: '  '\n    owner: o\n    expires: 2030-01-01\n",
            ":3:5:",
            "reason",
        ),
        ("- rule: a/b\n", ":1:1:", "object"),
        ("waivers: [\n", ":", "YAML syntax error"),
    ],
)
def test_invalid_files_are_policy_errors_with_positions(
    tmp_path: Path, text: str, where: str, fragment: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        load_waivers(_write(tmp_path, text))
    line = format_problem(caught.value.problems[0])
    assert line.startswith(str(tmp_path / "waivers.yaml") + where), line
    assert fragment in line, line
