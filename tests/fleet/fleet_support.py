"""Helpers for the fleet tests: inventories of many host names on the one real sshd lab."""

from __future__ import annotations

import json
from pathlib import Path

import sshlab

POLICY = """\
id: lab
title: Lab policy
roles: [lab]
rules:
  - {id: no-telnet, title: No telnet, expect: deny, direction: inbound, protocol: tcp, port: 23, severity: high}
  - {id: no-smtp, title: No SMTP, expect: deny, direction: inbound, protocol: tcp, port: 25, severity: high}
  - {id: no-9090, title: No 9090, expect: deny, direction: inbound, protocol: tcp, port: 9090, severity: high}
  - {id: web-8080, title: Web on 8080, expect: allow, direction: inbound, protocol: tcp, port: 8080, severity: medium}
  - {id: no-8081, title: No 8081, expect: deny, direction: inbound, protocol: tcp, port: 8081, severity: medium, remote: [203.0.113.0/24]}
"""


def write_policy(folder: Path) -> Path:
    path = folder / "lab.yaml"
    path.write_text(POLICY)
    return path


def write_inventory(
    folder: Path, lab: sshlab.SshLab, names: list[str], *, strangers: tuple[str, ...] = ()
) -> Path:
    """Every name is a host on the lab's sshd (port 2222, key known); strangers are on port
    2223, whose key is not in known_hosts (an error result)."""
    lines = [
        "version: 1",
        f"known_hosts: {lab.known_hosts}",
        "defaults:",
        "  timeout_s: 15",
        "  roles: [lab]",
        f"  ssh: {{user: root, key_file: {lab.client_key}, use_agent: false}}",
        "hosts:",
    ]
    lines += [f"  {name}: {{address: {lab.address}, port: 2222}}" for name in names]
    lines += [f"  {name}: {{address: {lab.address}, port: 2223}}" for name in strangers]
    path = folder / "inventory.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def results(report: Path) -> dict[tuple[str, str, str], tuple[str, str | None]]:
    data = json.loads(report.read_text())
    return {
        (r["target"], r["policy"], r["rule"]): (r["status"], r["counterexample"])
        for r in data["results"]
    }
