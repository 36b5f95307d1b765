"""`fwcheck check` end to end: real parsers, engine, policies and report writers."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from checker.cli import main
from checker.errors import ExitCode

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

GOOD = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
"""

OPEN_RDP = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j DROP
COMMIT
"""

POLICY = """id: admin
title: Admin access
roles: [admin]
rules:
  - id: no-rdp
    title: No RDP from outside 10/8
    expect: deny
    direction: inbound
    protocol: tcp
    port: 3389
    except_remote: [10.0.0.0/8]
    family: ipv4
    severity: high
  - id: ssh-from-mgmt
    title: SSH from the management network
    expect: allow
    direction: inbound
    protocol: tcp
    port: 22
    remote: [10.0.0.0/8]
    severity: low
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "admin.yaml").write_text(POLICY)
    return folder


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_compliant_target_passes(
    tmp_path: Path, policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "good.iptables-save"
    rules.write_text(GOOD)
    code, out, _ = run(
        ["check", "--policies", str(policy_dir), "--role", "admin", str(rules)], capsys
    )
    assert code == ExitCode.OK, out
    assert "2 passed" in out


def test_violation_has_counterexample_and_deciding_rule(
    tmp_path: Path, policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "open.iptables-save"
    rules.write_text(OPEN_RDP)
    report = tmp_path / "report.json"
    code, out, _ = run(
        [
            "check",
            "--policies",
            str(policy_dir),
            "--role",
            "admin",
            str(rules),
            "--json",
            str(report),
        ],
        capsys,
    )
    assert code == ExitCode.VIOLATIONS
    data = json.loads(report.read_text())
    schema = json.loads((REPO / "schemas" / "report.schema.json").read_text())
    jsonschema.validate(data, schema)
    by_rule = {r["rule"]: r for r in data["results"]}
    rdp = by_rule["no-rdp"]
    assert rdp["status"] == "fail"
    assert rdp["counterexample"].startswith("tcp ") and ":3389" in rdp["counterexample"]
    assert not rdp["counterexample"].startswith("tcp 10.")
    assert rdp["evidence"][0]["line"] == 2 and "policy ACCEPT" in rdp["evidence"][0]["text"]
    ssh = by_rule["ssh-from-mgmt"]
    assert ssh["status"] == "fail"
    assert ssh["evidence"][0]["line"] == 5
    assert ":3389" in out


def test_fail_on_threshold(
    tmp_path: Path, policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "good-but-ssh-closed.iptables-save"
    rules.write_text(
        GOOD.replace("-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j ACCEPT\n", "")
    )
    args = ["check", "--policies", str(policy_dir), "--role", "admin", str(rules)]
    # Only the low-severity ssh rule fails: --fail-on high lets the run pass.
    assert run(args, capsys)[0] == ExitCode.VIOLATIONS
    assert run(args + ["--fail-on", "high"], capsys)[0] == ExitCode.OK


def test_garbled_target_is_exit_3_and_other_targets_still_checked(
    tmp_path: Path, policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "good.rules").write_text(GOOD)
    (tmp_path / "bad.rules").write_text(
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport notaport -j ACCEPT\nCOMMIT\n"
    )
    (tmp_path / "fwcheck.yaml").write_text(
        "targets:\n"
        "  - {name: good, files: [good.rules], roles: [admin]}\n"
        "  - {name: bad, files: [bad.rules], roles: [admin]}\n"
        "  - {name: missing, files: [missing.rules, good.rules], roles: [admin]}\n"
    )
    report = tmp_path / "r.json"
    code, out, _ = run(
        [
            "check",
            "--policies",
            str(policy_dir),
            "--config",
            str(tmp_path / "fwcheck.yaml"),
            "--json",
            str(report),
        ],
        capsys,
    )
    assert code == ExitCode.TARGET_ERROR
    results = json.loads(report.read_text())["results"]
    statuses = {(r["target"], r["rule"]): r["status"] for r in results}
    assert statuses[("good", "no-rdp")] == "pass"
    # One error result per unreadable target, naming file:line, not one per policy rule.
    bad = [r for r in results if r["target"] == "bad"]
    assert [(r["rule"], r["status"]) for r in bad] == [("read-target", "error")]
    assert "bad.rules:3:" in bad[0]["message"]
    assert statuses[("missing", "read-target")] == "error"
    assert out.count("bad.rules:3:") == 1


def test_file_matching_no_target_is_reported(
    tmp_path: Path, policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "good.rules").write_text(GOOD)
    (tmp_path / "stray.rules").write_text(GOOD)
    (tmp_path / "fwcheck.yaml").write_text(
        "targets:\n  - {name: good, files: [good.rules], roles: [admin]}\n"
    )
    code, out, _ = run(
        [
            "check",
            "--policies",
            str(policy_dir),
            "--config",
            str(tmp_path / "fwcheck.yaml"),
            str(tmp_path / "stray.rules"),
        ],
        capsys,
    )
    assert code == ExitCode.TARGET_ERROR
    assert "belongs to no target" in out


def test_policy_error_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "x.yaml").write_text(POLICY.replace("expect: deny", "expect: maybe", 1))
    rules = tmp_path / "r.rules"
    rules.write_text(GOOD)
    code, _, err = run(["check", "--policies", str(folder), "--role", "admin", str(rules)], capsys)
    assert code == ExitCode.USAGE
    assert "x.yaml:" in err


def test_missing_role_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "r.rules"
    rules.write_text(GOOD)
    assert run(["check", str(rules)], capsys)[0] == ExitCode.USAGE


def test_bundled_examples_give_the_documented_verdicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's quick-start command, run from the repository root."""
    monkeypatch.chdir(REPO)
    report = tmp_path / "examples.json"
    code, out, _ = run(
        ["check", "--config", "examples/fwcheck.yaml", "--json", str(report)], capsys
    )
    assert code == ExitCode.VIOLATIONS, out
    results = json.loads(report.read_text())["results"]
    status = {(r["target"], r["policy"], r["rule"]): r["status"] for r in results}
    web = [s for (t, _, r), s in status.items() if t == "web-1" and r != "exclusive-inbound"]
    assert web and all(s == "pass" for s in web), [
        k for k, s in status.items() if k[0] == "web-1" and s != "pass"
    ]
    # web-1's ip6tables-save accepts every ICMPv6 type: the exclusive web-server policy names
    # the undeclared ones as a block, with the rule.
    (exclusive,) = [r for r in results if r["rule"] == "exclusive-inbound"]
    assert exclusive["status"] == "fail"
    assert (
        "icmpv6 type 0,5-127,129-132,137-255 from anywhere ipv6: accepted by INPUT rule"
        in (exclusive["message"])
    )
    assert exclusive["evidence"][0]["line"] == 8
    assert status[("bastion", "baseline", "no-telnet")] == "fail"
    # Exposure (the targets' `ss -tulpn` outputs): web-1's nginx and sshd are reachable and
    # declared by web-server; the bastion's sshd and telnetd are reachable and undeclared;
    # sockets the firewall refuses (9100, 8080) or on loopback (631, 323, 25) give no result.
    exposure = {(t, r): s for (t, p, r), s in status.items() if p == "exposure"}
    assert exposure == {
        ("web-1", "tcp-80"): "pass",
        ("web-1", "tcp-443"): "pass",
        ("web-1", "tcp-22"): "pass",
        ("bastion", "tcp-22"): "fail",
        ("bastion", "tcp-23"): "fail",
    }
    (telnet,) = [r for r in results if r["target"] == "bastion" and r["rule"] == "tcp-23"]
    assert "in.telnetd" in telnet["message"] and "no allow rule declares it" in telnet["message"]
    details = {d["name"]: d["value"] for d in telnet["details"]}
    assert details["reachable from"] == "anywhere (ipv4)" and details["declared by"] == "-"
    # No ip6tables-save for the bastion: the IPv6 half of an SSH rule cannot pass.
    assert status[("bastion", "baseline", "no-ssh-outside-mgmt")] == "fail"
    assert status[("bastion", "baseline", "no-vnc")] == "indeterminate"
    # app-1's strict INPUT policy has no ESTABLISHED rule: outbound TCP 443 never completes.
    assert status[("app-1", "1e-client", "out-tcp-443")] == "fail"
    assert status[("app-1", "baseline", "no-telnet")] == "pass"
    for compliant in ("patch-server-01", "signage-01"):
        verdicts = {s for (t, _, _), s in status.items() if t == compliant}
        assert verdicts == {"pass"}, (compliant, verdicts)
    assert status[("patch-client-17", "onesite-patch-client", "in-udp-34324")] == "fail"
    assert status[("patch-client-17", "onesite-patch-client", "out-tcp-443")] == "fail"
    # The ufw tree (a folder target): SSH only from the management networks, telnet closed.
    ufw = {rule: s for (t, _, rule), s in status.items() if t == "ufw-gw"}
    assert ufw and set(ufw.values()) == {"pass"}, ufw
    # The shipped benchmark packs (docs/controls.md): app-1 has no forward base chain at all.
    assert status[("app-1", "cis-linux-firewall", "default-deny-input")] == "pass"
    assert status[("app-1", "cis-linux-firewall", "default-deny-forward")] == "fail"
    stig = {s for (t, p, _), s in status.items() if t == "stig-workstation"}
    assert stig == {"pass"} and sum(t == "stig-workstation" for t, _, _ in status) == 20


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("fwcheck ")
    assert main(["check", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "exit codes" in help_text and "--fail-on" in help_text


def test_examples_folder_is_self_contained() -> None:
    config = (EXAMPLES / "fwcheck.yaml").read_text()
    for line in config.splitlines():
        if "files:" in line:
            for name in line.split("[", 1)[1].rstrip("]").split(","):
                # A folder is a configuration tree (examples/ufw/etc/ufw).
                path = EXAMPLES / name.strip()
                assert path.is_file() or (path / "user.rules").is_file(), name


def test_unknown_role_is_a_usage_error(
    tmp_path: Path, policy_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "r.rules"
    rules.write_text(GOOD)
    code, _, err = run(
        ["check", "--policies", str(policy_dir), "--role", "admn", str(rules)], capsys
    )
    assert code == ExitCode.USAGE
    assert "'admn'" in err and "admin" in err
