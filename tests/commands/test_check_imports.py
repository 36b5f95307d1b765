"""The pre-commit hook's run (`fwcheck check --config fwcheck.yaml --quiet FILE` on one
iptables-save export, issue 16) imports only what it uses: no collector transport (paramiko,
pywinrm), no verdict cache or history (sqlite3), no Windows engine, no other format's parse
machinery, no report writer it was not asked for, and no jsonschema when the target config is
valid (checker/quick_schema.py). Asserted on the list of modules `python -X importtime` prints,
never on time: the speed target lives in bench/pre_commit.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CONFIG = """version: 1
targets:
  - name: web-1
    files: [web-1.iptables-save]
    roles: [baseline]
  - name: db-1
    files: [db-1.iptables-save]
    roles: [baseline]
"""
RULES = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
COMMIT
"""

NOT_IMPORTED = (
    "paramiko",
    "winrm",
    "sqlite3",
    "jsonschema",
    "hypothesis",
    "checker.collectors",
    "checker.fleet",
    "checker.inventory",
    "checker.engine.windows",
    "checker.parsers.windows.windows_registry",
    "checker.parsers.windows.windows_rule_string",
    "checker.parsers.netfilter.nft_rule",
    "checker.parsers.netfilter.nft_text_rule",
    "checker.parsers.netfilter.ufw_command",
    "checker.parsers.netfilter.firewalld_xml",
    "xml.etree.ElementTree",  # the JUnit report's
)


def _imported(tmp_path: Path, *args: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "checker", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    modules = {
        line.split("|")[2].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    return modules, done


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "fwcheck.yaml").write_text(CONFIG, encoding="utf-8")
    for name in ("web-1", "db-1"):
        (tmp_path / f"{name}.iptables-save").write_text(RULES, encoding="utf-8")
    return tmp_path


def test_pre_commit_run_imports_only_what_it_uses(folder: Path) -> None:
    modules, done = _imported(
        folder, "check", "--config", "fwcheck.yaml", "--quiet", "web-1.iptables-save"
    )
    # The run did check the file (a pass or a finding), so the list is the real path's.
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert "checker.parsers.netfilter.iptables_save" in modules
    assert "checker.engine.netfilter.walk" in modules
    unexpected = sorted(
        name for name in modules if any(name == m or name.startswith(m + ".") for m in NOT_IMPORTED)
    )
    assert unexpected == []


def test_an_invalid_target_config_still_gets_jsonschema_s_problems(folder: Path) -> None:
    # The quick check only ever says "valid": anything else is jsonschema's to word.
    (folder / "fwcheck.yaml").write_text(CONFIG.replace("roles:", "rolez:", 1), encoding="utf-8")
    modules, done = _imported(
        folder, "check", "--config", "fwcheck.yaml", "--quiet", "web-1.iptables-save"
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "jsonschema" in modules
    assert "unknown key 'rolez'" in done.stderr
