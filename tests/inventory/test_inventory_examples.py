"""examples/inventory/: the fwcheck YAML, Ansible INI and Ansible YAML inventories that
docs/inventory.md describes are valid (`fwcheck validate`, the command a user runs), load to the
hosts, transports and roles the documentation says, and are scanned for real: the `runner` host
(transport local) of each, collected inside a network namespace this test creates, with a real
nft ruleset loaded there (and, for contrast, with none)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from needs_root import require_root

from checker.cli import main
from checker.errors import ExitCode
from checker.inventory import load_inventory
from checker.inventory.loader import load_role_map

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "inventory"
ROLE_MAP = EXAMPLES / "role-map.yaml"
FORMS = ["hosts.yaml", "hosts.ini", "ansible.yaml"]
DOC = REPO / "docs" / "inventory.md"

DROP_ALL = """table inet fwcheck_example {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
  }
}
"""


def role_map_for(form: str) -> list[str]:
    return [] if form == "hosts.yaml" else ["--role-map", str(ROLE_MAP)]


@pytest.mark.parametrize("form", FORMS)
def test_example_inventory_validates(form: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLES / form)]) == ExitCode.OK, capsys.readouterr().err
    assert "1 inventory file: valid" in capsys.readouterr().out


@pytest.mark.parametrize("form", FORMS)
def test_example_inventory_hosts(form: str) -> None:
    role_map = None if form == "hosts.yaml" else load_role_map(ROLE_MAP)
    hosts = {h.name: h for h in load_inventory(EXAMPLES / form, role_map=role_map).hosts}
    assert {"web1", "web2", "patch1", "runner"} <= set(hosts)
    assert hosts["web1"].address == "192.0.2.10" and hosts["web1"].transport.value == "ssh"
    assert set(hosts["web1"].roles) == {"baseline", "pads4-server"}
    assert hosts["patch1"].transport.value == "winrm"
    assert "onesite-patch-server" in hosts["patch1"].roles
    assert hosts["runner"].transport.value == "local" and hosts["runner"].roles == ("baseline",)


def test_the_documentation_shows_every_example_file() -> None:
    text = DOC.read_text(encoding="utf-8")
    for path in sorted(EXAMPLES.iterdir()):
        assert f"examples/inventory/{path.name}" in text, path.name


@pytest.fixture
def netns() -> Iterator[str]:
    require_root("a network namespace for the local collector")
    name = f"fwcinv{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


def scan_runner(netns: str, form: str, tmp_path: Path) -> tuple[int, dict, str]:
    report = tmp_path / f"{form}.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [
            "ip", "netns", "exec", netns, sys.executable, "-m", "checker", "scan",
            "--inventory", str(EXAMPLES / form), *role_map_for(form), "--host", "runner",
            "--no-history", "--no-user-known-hosts", "--json", str(report), "-q",
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    return done.returncode, json.loads(report.read_text()), done.stdout + done.stderr


@pytest.mark.parametrize("form", FORMS)
def test_example_inventory_scans(form: str, netns: str, tmp_path: Path) -> None:
    # An empty firewall: the shipped baseline's deny rules all fail, with counterexamples.
    code, report, output = scan_runner(netns, form, tmp_path)
    assert code == ExitCode.VIOLATIONS, output
    (target,) = report["targets"]
    assert target["name"] == "runner" and target.get("error") is None, target
    statuses = {r["rule"]: r["status"] for r in report["results"]}
    assert statuses["no-telnet"] == "fail", statuses
    # A dropping input chain, loaded for real in the namespace: the same rules now pass.
    subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "-f", "-"],
        input=DROP_ALL, text=True, check=True, timeout=30,
    )  # fmt: skip
    code, report, output = scan_runner(netns, form, tmp_path)
    statuses = {r["rule"]: r["status"] for r in report["results"]}
    assert statuses["no-telnet"] == "pass", (statuses, output)
    assert code == ExitCode.OK, output
