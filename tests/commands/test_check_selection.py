"""Which targets `fwcheck check --config fwcheck.yaml FILE...` checks (what the pre-commit hook
runs with the staged files): an export selects its targets; a YAML file no target lists
(fwcheck.yaml, a policy, a waiver file) selects every target; a target whose listed file is gone
is always checked, and fails naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main
from checker.errors import ExitCode

POLICY = """id: web
title: Web
roles: [web]
rules:
  - {id: no-telnet, title: No Telnet, expect: deny, direction: inbound, protocol: tcp, port: 23, family: ipv4}
"""
RULES = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
CONFIG = """version: 1
policies: [policies]
targets:
  - {name: web-1, files: [web-1.iptables-save], roles: [web]}
  - {name: web-2, files: [web-2.iptables-save], roles: [web]}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "web.yaml").write_text(POLICY)
    (tmp_path / "fwcheck.yaml").write_text(CONFIG)
    (tmp_path / "waivers.yaml").write_text("waivers: []\n")
    for name in ("web-1", "web-2"):
        (tmp_path / f"{name}.iptables-save").write_text(RULES)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def checked(repo: Path, *files: str) -> tuple[int, list[str]]:
    code = main(["check", "--config", "fwcheck.yaml", "--quiet", "--json", "out.json", *files])
    report = json.loads((repo / "out.json").read_text())
    return code, sorted(target["name"] for target in report["targets"])


def test_an_export_selects_its_target(repo: Path) -> None:
    assert checked(repo, "web-1.iptables-save") == (ExitCode.OK, ["web-1"])


@pytest.mark.parametrize("changed", ["fwcheck.yaml", "policies/web.yaml", "waivers.yaml"])
def test_a_configuration_file_selects_every_target(repo: Path, changed: str) -> None:
    assert checked(repo, changed) == (ExitCode.OK, ["web-1", "web-2"])
    assert checked(repo, changed, "web-1.iptables-save") == (ExitCode.OK, ["web-1", "web-2"])


def test_a_target_whose_listed_file_is_gone_is_checked_and_named(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "web-2.iptables-save").unlink()
    code, targets = checked(repo, "web-1.iptables-save")
    assert (code, targets) == (ExitCode.TARGET_ERROR, ["web-1", "web-2"])
    assert "web-2.iptables-save" in capsys.readouterr().out
    # With no file given (a commit that only deleted it), every target, the same error.
    assert checked(repo) == (ExitCode.TARGET_ERROR, ["web-1", "web-2"])
