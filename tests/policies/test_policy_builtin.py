"""Local policy folders add to the shipped policies (issue 13): a firewall-config repo with its
own ./policies still gets `baseline` and the vendor policies, `--no-builtin-policies` leaves them
out, a local policy reusing a shipped id is an error naming both files, and `fwcheck policies`
says where each policy comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.cli import main
from checker.errors import ExitCode
from checker.resources import shipped_policies_dir

LOCAL = """id: web
title: Web server exposure
roles: [web]
rules:
  - id: https-open
    title: HTTPS is reachable
    expect: allow
    direction: inbound
    protocol: tcp
    port: 443
    family: ipv4
"""

# Accepts HTTPS only: passes `web`, and fails the shipped baseline on nothing it needs here;
# the point is that both roles resolve.
RULES = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
COMMIT
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "web.yaml").write_text(LOCAL, encoding="utf-8")
    (tmp_path / "web-1.iptables-save").write_text(RULES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_local_policies_add_to_the_shipped_ones(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "--role", "web", "--role", "baseline", "web-1.iptables-save"])
    out, err = capsys.readouterr()
    assert "unknown-role" not in err, err
    assert code in (ExitCode.OK, ExitCode.VIOLATIONS), err
    assert "web/https-open" in out or "1 passed" in out or "passed" in out
    # The shipped baseline's rules were checked too.
    assert "baseline" in out, out


def test_no_builtin_policies_leaves_them_out(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "check",
            "--no-builtin-policies",
            "--role",
            "web",
            "--role",
            "baseline",
            "web-1.iptables-save",
        ]
    )
    assert code == ExitCode.USAGE
    assert "no policy has the role 'baseline'" in capsys.readouterr().err
    assert main(["check", "--no-builtin-policies", "--role", "web", "web-1.iptables-save"]) == 0


def test_local_policy_with_a_shipped_id_names_both_files(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shadow = repo / "policies" / "baseline.yaml"
    shadow.write_text(LOCAL.replace("id: web", "id: baseline"), encoding="utf-8")
    assert main(["check", "--role", "web", "web-1.iptables-save"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    shipped = shipped_policies_dir() / "baseline" / "baseline.yaml"
    (line,) = [text for text in err.splitlines() if "duplicate-policy" in text]
    assert line.startswith("policies/baseline.yaml:1:1: [duplicate-policy]"), line
    assert str(shipped) in line and "--no-builtin-policies" in line, line
    # Without the shipped policies the local one is simply the baseline.
    assert main(["policies", "--no-builtin-policies", "--role", "web"]) == 0
    assert "baseline: " in capsys.readouterr().out


def test_policies_lists_where_each_policy_comes_from(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policies"]) == 0
    out = capsys.readouterr().out
    assert "  file: policies/web.yaml (local)" in out
    shipped = shipped_policies_dir() / "baseline" / "baseline.yaml"
    assert f"  file: {shipped} (shipped with fwcheck)" in out


def test_an_identical_copy_of_a_shipped_policy_is_the_same_policy(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An installed fwcheck run in a checkout of its own repository reads the shipped policies
    twice (site-packages and ./policies): the same policy, not a clash."""
    shipped = shipped_policies_dir() / "baseline" / "baseline.yaml"
    (repo / "policies" / "baseline.yaml").write_bytes(shipped.read_bytes())
    code = main(["check", "--role", "web", "--role", "baseline", "web-1.iptables-save"])
    assert "duplicate-policy" not in capsys.readouterr().err
    assert code in (ExitCode.OK, ExitCode.VIOLATIONS)
