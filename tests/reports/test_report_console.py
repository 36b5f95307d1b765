"""Console report: grouping, one line per problem, summary, colour, --quiet, hostile text."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from report_samples import finding, sample_report

from checker.findings import Evidence, Status
from checker.reports import console
from checker.reports.data import ReportOptions, RunReport

SUMMARY = "3 passed, 3 failed, 1 indeterminate, 1 errors, 1 waived; gate --fail-on info: error"


def test_grouped_by_target_with_one_line_per_problem() -> None:
    lines = console.render(sample_report(), color=False, quiet=False).splitlines()
    headers = [
        i
        for i, line in enumerate(lines)
        if not line.startswith(("  ", "note:")) and line != SUMMARY
    ]
    assert [lines[i].split(" ")[0].rstrip(":") for i in headers] == ["web1", "db1", "broken"]
    assert (
        lines[headers[0]]
        == "web1 (exports/web1.rules): 2 passed, 2 failed, 1 indeterminate, 0 errors, 1 waived"
    )
    web_block = lines[headers[0] + 1 : headers[1]]
    assert [line.split()[0] for line in web_block] == ["FAIL", "INDETERMINATE", "FAIL", "WAIVED"]
    telnet = web_block[0]
    assert "baseline/no-telnet" in telnet
    assert "counterexample: tcp 203.0.113.7:40000 -> :23 ipv4" in telnet
    assert "deciding rule: exports/web1.rules:12: [5:300] -A INPUT" in telnet
    assert lines[-1] == SUMMARY
    assert "PASS" not in "\n".join(lines)  # passes are counted, not listed


def test_quiet_prints_only_problems_and_summary() -> None:
    lines = console.render(sample_report(), color=False, quiet=True).splitlines()
    assert lines[-1] == SUMMARY
    assert [line.split(": ")[0] for line in lines[:-1]] == ["web1", "web1", "web1", "db1", "broken"]
    assert all(" WAIVED " not in line and "note:" not in line for line in lines)
    assert (
        "ERROR [high] fwcheck/read-target: exports/broken.rules:3: unknown option --frobnicate"
        in lines[-2]
    )


def test_colour_only_when_asked() -> None:
    plain = console.render(sample_report(), color=False, quiet=False)
    coloured = console.render(sample_report(), color=True, quiet=False)
    assert "\x1b" not in plain
    assert "\x1b[1;31mFAIL\x1b[0m" in coloured
    assert coloured.splitlines()[-1] == f"\x1b[1;31m{SUMMARY}\x1b[0m"


def test_all_pass_summary() -> None:
    report = sample_report()
    passing = replace(
        report,
        findings=tuple(f for f in report.findings if f.status is Status.PASS),
        targets=report.targets[:2],
    )
    text = console.render(passing, color=True, quiet=True)
    assert text == (
        "\x1b[32m3 passed, 0 failed, 0 indeterminate, 0 errors, 0 waived;"
        " gate --fail-on info: pass\x1b[0m\n"
    )


def test_hostile_text_cannot_forge_lines_or_escape_sequences() -> None:
    evil = "x\x1b[2J\x1b]0;owned\x07\nFAKE: 0 failed\r\x9b31m"
    bad = finding(
        "t",
        "p",
        "r",
        Status.FAIL,
        message=evil,
        counterexample=evil,
        evidence=(Evidence("f", 1, evil),),
    )
    text = console.render(
        RunReport("1", "2024-01-01T00:00:00Z", (), (bad,), ()), color=False, quiet=True
    )
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "\r" not in text
    assert text.count("\n") == 2  # one problem line, one summary line
    assert "\\x1b[2J" in text


def test_write_is_plain(tmp_path: Path) -> None:
    out = tmp_path / "console.txt"
    console.write(sample_report(), out, options=ReportOptions(repo_root=tmp_path))
    assert out.read_text() == console.render(sample_report(), color=False, quiet=False)
