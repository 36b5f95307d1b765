"""Gates: `--fail-on` picks the lowest severity that fails the run (exit 1), target errors exit 3,
usage errors exit 2, and the exit codes are documented where users look (README, docs/ci.md,
--help). Runs the real CLI in-process: real parser, engine and policy loader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gates_support import REPO

from checker.cli import main
from checker.errors import ExitCode

# Lowest to highest; written out here rather than taken from checker.findings so the test does
# not inherit a wrong order from the code under test.
SEVERITIES = ["info", "low", "medium", "high", "critical"]
PORT = {"critical": 2001, "high": 2002, "medium": 2003, "low": 2004, "info": 2005}


def policy_text() -> str:
    rules = "".join(
        f"""  - id: closed-{severity}
    title: TCP {port} closed ({severity})
    expect: deny
    direction: inbound
    protocol: tcp
    port: {port}
    family: ipv4
    severity: {severity}
"""
        for severity, port in PORT.items()
    )
    return f"id: gates\ntitle: One closed port per severity\nroles: [gates]\nrules:\n{rules}"


def ruleset(open_ports: list[int]) -> str:
    accepts = "".join(f"-A INPUT -p tcp -m tcp --dport {port} -j ACCEPT\n" for port in open_ports)
    return (
        f"*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n{accepts}COMMIT\n"
    )


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "gates.yaml").write_text(policy_text(), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check(*args: str) -> int:
    return main(["check", "--policies", "policies", "--role", "gates", *args])


def export(workdir: Path, name: str, failing: list[str]) -> str:
    (workdir / name).write_text(ruleset([PORT[s] for s in failing]), encoding="utf-8")
    return name


@pytest.mark.parametrize(
    ("fail_on", "expected"),
    [
        ("critical", ExitCode.OK),
        ("high", ExitCode.OK),
        ("medium", ExitCode.VIOLATIONS),
        ("low", ExitCode.VIOLATIONS),
        ("info", ExitCode.VIOLATIONS),
    ],
)
def test_fail_on_with_medium_and_low_failures(
    workdir: Path, capsys: pytest.CaptureFixture[str], fail_on: str, expected: int
) -> None:
    host = export(workdir, "host.iptables-save", ["medium", "low"])
    assert check("--fail-on", fail_on, host) == expected
    out = capsys.readouterr().out
    # Below the threshold is still reported, marked as such, and does not fail the run.
    rank = ["info", "low", "medium", "high", "critical"].index
    for severity in ("medium", "low"):
        mark = f", below --fail-on {fail_on}" if rank(severity) < rank(fail_on) else ""
        assert f"FAIL [{severity}{mark}] gates/closed-{severity}" in out, out
    assert "3 passed, 2 failed" in out
    verdict = "pass" if expected == ExitCode.OK else "fail"
    assert f"gate --fail-on {fail_on}: {verdict}" in out.splitlines()[-1]


def test_default_fail_on_is_any_severity(workdir: Path) -> None:
    assert check(export(workdir, "host.iptables-save", ["info"])) == ExitCode.VIOLATIONS


def test_compliant_target_passes_at_every_threshold(workdir: Path) -> None:
    host = export(workdir, "host.iptables-save", [])
    for fail_on in SEVERITIES:
        assert check("--fail-on", fail_on, host) == ExitCode.OK, fail_on


@pytest.mark.parametrize("failing", SEVERITIES)
@pytest.mark.parametrize("fail_on", SEVERITIES)
def test_one_failure_against_each_threshold(workdir: Path, failing: str, fail_on: str) -> None:
    host = export(workdir, "host.iptables-save", [failing])
    at_or_above = SEVERITIES.index(failing) >= SEVERITIES.index(fail_on)
    expected = ExitCode.VIOLATIONS if at_or_above else ExitCode.OK
    assert check("--fail-on", fail_on, host) == expected


def test_indeterminate_counts_like_a_failure(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A low rule for both families, and only an IPv4 export: IPv6 cannot be judged.
    (workdir / "policies" / "gates.yaml").write_text(
        "id: gates\ntitle: t\nroles: [gates]\nrules:\n  - id: no-telnet\n    title: t\n"
        "    expect: deny\n    direction: inbound\n    protocol: tcp\n    port: 23\n"
        "    severity: low\n",
        encoding="utf-8",
    )
    host = export(workdir, "host.iptables-save", [])
    assert check("--fail-on", "low", host) == ExitCode.VIOLATIONS
    assert "INDETERMINATE [low] gates/no-telnet" in capsys.readouterr().out
    assert check("--fail-on", "medium", host) == ExitCode.OK


def test_waived_failure_does_not_fail_the_run(workdir: Path) -> None:
    host = export(workdir, "host.iptables-save", ["high"])
    (workdir / "waivers.yaml").write_text(
        "waivers:\n  - rule: gates/closed-high\n    reason: migration window\n"
        "    owner: netops\n    expires: 2999-12-31\n",
        encoding="utf-8",
    )
    assert check("--waivers", "waivers.yaml", host) == ExitCode.OK
    # An expired waiver waives nothing.
    (workdir / "waivers.yaml").write_text(
        "waivers:\n  - rule: gates/closed-high\n    reason: migration window\n"
        "    owner: netops\n    expires: 2000-01-01\n",
        encoding="utf-8",
    )
    assert check("--waivers", "waivers.yaml", host) == ExitCode.VIOLATIONS


# --- exit 3: a target that cannot be read --------------------------------------------------


def test_missing_export_is_a_target_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check("absent.iptables-save") == ExitCode.TARGET_ERROR
    out = capsys.readouterr().out
    assert "absent.iptables-save" in out and "ERROR" in out


def test_folder_given_as_export_is_a_target_error(workdir: Path) -> None:
    (workdir / "exports").mkdir()
    assert check("exports") == ExitCode.TARGET_ERROR


def test_garbled_export_is_a_target_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "host.iptables-save").write_text(
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n",
        encoding="utf-8",
    )
    assert check("host.iptables-save") == ExitCode.TARGET_ERROR
    assert "host.iptables-save:3" in capsys.readouterr().out


def test_target_error_wins_over_violations_and_the_rest_is_still_checked(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export(workdir, "good.iptables-save", ["critical"])
    (workdir / "fwcheck.yaml").write_text(
        "version: 1\npolicies: [policies]\ntargets:\n"
        "  - name: readable\n    files: [good.iptables-save]\n    roles: [gates]\n"
        "  - name: lost\n    files: [lost.iptables-save]\n    roles: [gates]\n",
        encoding="utf-8",
    )
    # A glob that matches nothing leaves `lost` without files; give it an unreadable one instead.
    (workdir / "lost.iptables-save").mkdir()
    code = main(["check", "--fail-on", "critical"])
    out = capsys.readouterr().out
    assert code == ExitCode.TARGET_ERROR, out
    assert "FAIL [critical] gates/closed-critical" in out  # the readable target was checked


# --- exit 2: usage errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["check", "--no-such-option"],
        ["check", "--fail-on", "severe", "host.iptables-save"],
        ["check", "--param", "no-equals-sign", "--role", "gates", "host.iptables-save"],
        # FILEs without roles and without a target config.
        ["check", "--policies", "policies", "host.iptables-save"],
        # No FILE and no ./fwcheck.yaml.
        ["check", "--policies", "policies"],
        ["check", "--config", "missing.yaml"],
        ["check", "--policies", "no-such-folder", "--role", "gates", "host.iptables-save"],
        ["validate", "no-such-folder"],
    ],
)
def test_usage_errors_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    export(workdir, "host.iptables-save", [])
    assert main(argv) == ExitCode.USAGE
    assert capsys.readouterr().err.strip(), "a usage error must say what is wrong"


def test_invalid_policy_exits_2_with_its_position(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "policies" / "gates.yaml").write_text(
        policy_text().replace("port: 2003", "port: 70000"), encoding="utf-8"
    )
    assert check(export(workdir, "host.iptables-save", [])) == ExitCode.USAGE
    assert re.search(r"policies/gates\.yaml:\d+:\d+:", capsys.readouterr().err)


# --- documentation ------------------------------------------------------------------------


def documented_codes(markdown: str) -> dict[int, str]:
    """The `| code | meaning |` table that follows an "Exit codes" mention."""
    start = markdown.lower().index("exit codes")
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*(.+?)\s*\|\s*$", markdown[start:], re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


# What each code's documentation must mention, so a table with the right numbers but swapped
# meanings fails too.
KEYWORDS = {
    ExitCode.OK: "passed",
    ExitCode.VIOLATIONS: "--fail-on",
    ExitCode.USAGE: "usage",
    ExitCode.TARGET_ERROR: "could not be read",
    ExitCode.INTERNAL: "internal",
}


@pytest.mark.parametrize("doc", ["README.md", "docs/ci.md"])
def test_documented_exit_codes_match_the_enum(doc: str) -> None:
    table = documented_codes((REPO / doc).read_text(encoding="utf-8"))
    assert sorted(table) == sorted(int(code) for code in ExitCode), table
    assert set(KEYWORDS) == set(ExitCode)
    for code, word in KEYWORDS.items():
        assert word in table[int(code)], (doc, code, table[int(code)])


@pytest.mark.parametrize("argv", [["--help"], ["check", "--help"], ["validate", "--help"]])
def test_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 0
    out = capsys.readouterr().out
    listed = {int(code) for code in re.findall(r"^\s+(\d)\s{2,}\S", out, re.MULTILINE)}
    assert listed == {int(code) for code in ExitCode}, out
