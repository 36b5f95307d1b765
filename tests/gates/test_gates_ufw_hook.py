"""The `fwcheck` pre-commit hook on a repository that keeps a ufw tree (etc/ufw with
etc/default/ufw), for real: a commit that changes the tree is checked on the whole tree, and one
that opens a port the policy forbids is blocked with the user.rules line and its ufw command."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from gates_support import HookRepo, commit, head, hooked_repo

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ufw" / "etc"

POLICY = """id: web
title: Web server exposure
roles: [web]
rules:
  - id: no-telnet
    title: No inbound Telnet
    expect: deny
    direction: inbound
    protocol: tcp
    port: 23
    severity: critical
  - id: https-open
    title: HTTPS is reachable
    expect: allow
    direction: inbound
    protocol: tcp
    port: 443
    severity: high
"""

TARGET_CONFIG = """version: 1
policies: [policies]
targets:
  - name: gw
    files: [etc/ufw]
    roles: [web]
"""

TELNET = """
### tuple ### allow tcp 23 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 23 -j ACCEPT
"""


@pytest.fixture
def ufw_repo(tmp_path: Path, hook_repo: HookRepo) -> Path:
    repo = tmp_path / "firewalls"
    shutil.copytree(EXAMPLE, repo / "etc")
    files = {"fwcheck.yaml": TARGET_CONFIG, "policies/web.yaml": POLICY}
    first = hooked_repo(repo, hook_repo, files)
    assert first.returncode == 0, first.output
    return repo


def test_opening_telnet_in_user_rules_is_blocked(ufw_repo: Path, hook_repo: HookRepo) -> None:
    before = head(ufw_repo, hook_repo.env)
    user = ufw_repo / "etc" / "ufw" / "user.rules"
    text = user.read_text()
    user.write_text(text.replace("\n### END RULES ###", TELNET + "\n### END RULES ###"))
    line = user.read_text().split("\n").index("-A ufw-user-input -p tcp --dport 23 -j ACCEPT") + 1
    result = commit(ufw_repo, hook_repo, "open telnet", "etc/ufw/user.rules")
    assert result.returncode != 0 and head(ufw_repo, hook_repo.env) == before, result.output
    assert f"deciding rule: etc/ufw/user.rules:{line}: ufw allow 23/tcp" in result.output


def test_default_policy_change_is_checked(ufw_repo: Path, hook_repo: HookRepo) -> None:
    defaults = ufw_repo / "etc" / "default" / "ufw"
    defaults.write_text(
        defaults.read_text().replace('INPUT_POLICY="DROP"', 'INPUT_POLICY="ACCEPT"')
    )
    result = commit(ufw_repo, hook_repo, "accept all", "etc/default/ufw")
    assert result.returncode != 0, result.output
    assert re.search(r"gw: FAIL \[critical\] web/no-telnet", result.output), result.output


def test_a_harmless_change_passes(ufw_repo: Path, hook_repo: HookRepo) -> None:
    before = ufw_repo / "etc" / "ufw" / "before.rules"
    before.write_text(before.read_text().replace("# rules ufw loads", "# the rules ufw loads"))
    result = commit(ufw_repo, hook_repo, "comment", "etc/ufw/before.rules")
    assert result.returncode == 0, result.output
    assert re.search(r"fwcheck \(firewall exports against policies\)\.+Passed", result.output)
