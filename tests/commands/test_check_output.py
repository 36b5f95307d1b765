"""`fwcheck check` output flags and messages (issue 13): `-` as stdout, the --fail-on gate in
the summary, --target with fwcheck.yaml, --color / NO_COLOR on a real terminal, the upward
fwcheck.yaml search, --config messages, evidence run folders, plain-English verdicts."""

from __future__ import annotations

import io
import json
import os
import pty
from pathlib import Path

import pytest

from checker.cli import main
from checker.collectors.evidence import write_evidence
from checker.collectors.result import CollectResult, Output
from checker.errors import ExitCode
from checker.reports.publish import use_color

OPEN_TELNET = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 23 -j ACCEPT
COMMIT
"""

POLICY = """id: lab
title: Lab
roles: [lab]
rules:
  - id: no-telnet
    title: No telnet
    expect: deny
    direction: inbound
    protocol: tcp
    port: 23
    family: ipv4
    severity: medium
  - id: no-ssh
    title: No ssh
    expect: deny
    direction: inbound
    protocol: tcp
    port: 22
    family: ipv4
    severity: high
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A firewall-config repository: .git, policies, two exports and a fwcheck.yaml."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies/lab.yaml").write_text(POLICY)
    (tmp_path / "hosts").mkdir()
    (tmp_path / "hosts/a.rules").write_text(OPEN_TELNET)
    (tmp_path / "hosts/b.rules").write_text(OPEN_TELNET.replace("23", "2323"))
    (tmp_path / "fwcheck.yaml").write_text(
        "version: 1\npolicies: [policies]\ntargets:\n"
        "  - {name: a, files: [hosts/a.rules], roles: [lab]}\n"
        "  - {name: b, files: [hosts/b.rules], roles: [lab]}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_dash_writes_to_stdout_and_the_summary_to_stderr(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["check", "--json", "-"], capsys)
    assert code == ExitCode.VIOLATIONS
    document = json.loads(out)  # stdout is the JSON report alone
    assert document["gate"] == {"fail_on": "info", "verdict": "fail"}
    assert "gate --fail-on info: fail" in err
    assert not (repo / "-").exists()
    code, out, err = _run(["check", "--json", "-", "--sarif", "-"], capsys)
    assert code == ExitCode.USAGE and "only one report" in err


def test_fail_on_gate_is_printed_and_below_threshold_marked(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(["check", "--fail-on", "high"], capsys)
    assert code == ExitCode.OK
    assert "FAIL [medium, below --fail-on high] lab/no-telnet" in out
    assert out.splitlines()[-1].endswith("gate --fail-on high: pass (1 result below the threshold)")


def test_target_filters_the_config_and_an_unknown_name_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(["check", "--target", "b"], capsys)
    assert code == ExitCode.OK, out
    assert out.startswith("b (") and "\na (" not in out
    code, _, err = _run(["check", "--target", "nope"], capsys)
    assert code == ExitCode.USAGE
    assert "no target named 'nope' (targets: a, b)" in err


def test_config_is_found_upward_to_the_repository_root(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo / "hosts")
    code, out, _ = _run(["check", "a.rules"], capsys)
    assert code == ExitCode.VIOLATIONS
    assert out.startswith("a (")
    assert "note: target config: ../fwcheck.yaml" in out


def test_config_search_stops_at_the_repository_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fwcheck.yaml").write_text("version: 1\ntargets: []\n")
    inner = tmp_path / "other-repo"
    (inner / ".git").mkdir(parents=True)
    monkeypatch.chdir(inner)
    code, _, err = _run(["check"], capsys)
    assert code == ExitCode.USAGE and "target config not found" in err


def test_config_not_found_and_config_folder_say_so(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["check", "--config", "nope.yaml"], capsys)
    assert code == ExitCode.USAGE
    assert "nope.yaml: [no-config] target config not found" in err
    code, _, err = _run(["check", "--config", "hosts"], capsys)
    assert code == ExitCode.USAGE
    assert "hosts: [no-config] is a folder, not a target config" in err


def test_color_auto_never_always_and_no_color_on_a_real_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    main_fd, terminal_fd = pty.openpty()
    try:
        with os.fdopen(terminal_fd, "w", closefd=False) as terminal:
            assert terminal.isatty()
            assert use_color("auto", terminal) is True
            monkeypatch.setenv("NO_COLOR", "1")
            assert use_color("auto", terminal) is False
            assert use_color("always", terminal) is True
            monkeypatch.setenv("NO_COLOR", "")  # no-color.org: an empty value does not count
            assert use_color("auto", terminal) is True
            assert use_color("never", terminal) is False
    finally:
        os.close(main_fd)
        os.close(terminal_fd)
    assert use_color("auto", io.StringIO()) is False
    assert use_color("always", io.StringIO()) is True


def test_color_flag_reaches_the_console(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(["check", "--color", "always"], capsys)
    assert "\x1b[1;31mFAIL\x1b[0m" in out
    _, out, _ = _run(["check", "--color", "never"], capsys)
    assert "\x1b" not in out


def test_check_on_an_evidence_run_folder_reads_its_manifest(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = CollectResult(
        "web7",
        (Output("iptables-save", "iptables-save", 0, OPEN_TELNET.encode(), "t", 0.1),),
        None,
        transport="ssh",
        address="192.0.2.7:22",
    )
    run_dir = write_evidence(repo / "evidence", result, "run-1")
    code, out, err = _run(
        ["check", "--policies", "policies", "--role", "lab", f"{run_dir}/"], capsys
    )
    assert code == ExitCode.VIOLATIONS, err
    assert out.startswith("web7 (") and "lab/no-telnet" in out
    # Evidence changed after collection is an error of that target, never silently checked.
    source = run_dir / "iptables-save.txt"
    assert source.is_file(), sorted(p.name for p in run_dir.iterdir())
    source.write_text(OPEN_TELNET.replace("--dport 23 -j ACCEPT", "--dport 23 -j DROP"))
    code, out, _ = _run(["check", "--policies", "policies", "--role", "lab", str(run_dir)], capsys)
    assert code == ExitCode.TARGET_ERROR
    assert "does not match the SHA-256 its manifest.json records" in out
    code, out, _ = _run(["check", "--policies", "policies", "--role", "lab", "hosts"], capsys)
    assert code == ExitCode.TARGET_ERROR
    assert (
        "hosts: [unreadable] is a folder: give the export files in it, a configuration tree" in out
    )
    assert "or an evidence run folder" in out
    assert "Is a directory" not in out


def test_no_base_chain_reads_as_plain_english(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies/lab.yaml").write_text(POLICY)
    export = tmp_path / "empty.nft.json"
    export.write_text(
        '{"nftables":[{"metainfo":{"version":"1.0.6","release_name":"x","json_schema_version":1}},'
        '{"table":{"family":"inet","name":"t","handle":1}}]}'
    )
    code, out, _ = _run(
        ["check", "--policies", str(tmp_path / "policies"), "--role", "lab", str(export)], capsys
    )
    assert code == ExitCode.VIOLATIONS
    assert "no chain filters this hook, and netfilter accepts by default" in out
    assert "no base chain on the hook" not in out
